"""The command line as a user meets it: exit codes, messages, never a traceback."""

from __future__ import annotations

import csv
import os
import pty
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from sitegen import svg
from sitegen.cli import main
from sitegen.svg import ChartError
from tests.conftest import HEADER


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    assert "Traceback" not in (result.stderr or "")
    return result


# KPIs missed in the mini project (test_model works them) with no note or action: a warning
MINI_MISSES = [
    "Missed, with neither a note nor an action in actions.csv (a warning):",
    "  East Family Clinic (east-clinic), 2025-09: Days to new-patient appointment",
    "  North General Hospital (north-hosp), 2025-09: Total cost of care PMPM; Operating margin",
]


def test_validate_clean_project_exits_0(mini: Path) -> None:
    result = run("validate", "--project", str(mini))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Reference data: 3 partners, 5 KPIs, 2 partner commitments",
        "Metrics: 2 files, 6 rows read: 6 accepted, 0 rejected",
        *MINI_MISSES,
    ]


def test_validate_reports_rejected_rows_and_exits_1(mini: Path) -> None:
    (mini / "data" / "metrics" / "bad.csv").write_text(
        HEADER
        + "ghost,readmit_30d,2025-08,1.0,1,100\n"
        + "north-hosp,readmit_30d,2025-08,N/A,1,100\n"
        + "north-hosp,readmit_30d,2025-07,12.5%,125,1000\n",
        encoding="utf-8",
    )
    result = run("validate", "--project", str(mini))
    assert result.exit_code == 1
    label = f"{mini}/data/metrics/bad.csv"
    assert result.stdout.splitlines() == [
        "Reference data: 3 partners, 5 KPIs, 2 partner commitments",
        "Metrics: 3 files, 9 rows read: 7 accepted, 2 rejected",
        "  1 row accepted after normalising (%, thousands separators)",
        "Rejected rows by reason:",
        "  value not a number: 1",
        f"    {label}:3: value 'N/A' is not a number",
        "  unknown partner_id: 1",
        f"    {label}:2: unknown partner_id 'ghost'",
        *MINI_MISSES,
    ]


def test_validate_reports_rejected_parquet_rows_by_row_number(mini: Path) -> None:
    metrics = mini / "data" / "metrics"
    with duckdb.connect() as con:
        con.execute(
            "COPY (SELECT * FROM (VALUES ('north-hosp', '2025-08', 14.0, 140, 1000), "
            "('ghost', '2025-08', 1.0, 1, 100), ('north-hosp', '2025-07', 12.5, 125, 1000)) "
            "AS t(partner_id, period, value, numerator, denominator), "
            f"(SELECT 'readmit_30d' AS kpi_id)) TO '{metrics / 'bad.parquet'}' (FORMAT parquet)"
        )
    (metrics / "broken.parquet").write_bytes(b"PAR1 not really")
    result = run("validate", "--project", str(mini))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "Reference data: 3 partners, 5 KPIs, 2 partner commitments",
        "Metrics: 4 files, 9 rows read: 8 accepted, 1 rejected",
        "Files not usable:",
        f"  {mini}/data/metrics/broken.parquet: could not be read as Parquet: No magic bytes "
        "found at end of file (0 rows rejected)",
        "Rejected rows by reason:",
        "  unknown partner_id: 1",
        f"    {mini}/data/metrics/bad.parquet:2: unknown partner_id 'ghost'",
        *MINI_MISSES,
    ]


def test_validate_lists_quarantined_action_rows_and_exits_1(mini: Path) -> None:
    (mini / "data" / "actions.csv").write_text(
        "partner_id,kpi_id,period,owner,action,due,status,note\n"
        "north-hosp,readmit_30d,2025-09,Director of Quality,Call every patient,2025-12-31,open,\n"
        "north-hosp,readmit_3,2025-09,,,,,Late data\n"
        "east-clinic,appt_lead_days,2025-09,Clinic Manager,Open more sessions,2025-10-31,later,\n",
        encoding="utf-8",
    )
    result = run("validate", "--project", str(mini))
    assert result.exit_code == 1
    label = f"{mini}/data/actions.csv"
    assert result.stdout.splitlines() == [
        "Reference data: 3 partners, 5 KPIs, 2 partner commitments",
        "Metrics: 2 files, 6 rows read: 6 accepted, 0 rejected",
        "Actions and notes: 3 rows read: 1 accepted, 2 quarantined",
        "Quarantined action rows:",
        f"  {label}:3:kpi_id: unknown kpi_id 'readmit_3'",
        f"  {label}:4:status: status 'later' is not one of open, done",
        *MINI_MISSES,
    ]


def test_validate_counts_good_action_rows_and_exits_0(mini: Path) -> None:
    (mini / "data" / "actions.csv").write_text(
        "partner_id,kpi_id,period,note\nsouth-snf,readmit_30d,2025-09,Late data\n",
        encoding="utf-8",
    )
    result = run("validate", "--project", str(mini))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[2:] == [
        "Actions and notes: 1 row read: 1 accepted, 0 quarantined",
        *MINI_MISSES,
    ]


def test_validate_reports_unusable_files(mini: Path) -> None:
    (mini / "data" / "metrics" / "x.csv").write_bytes(b"\xff\xfeg\x00a\x00r\x00b\x00")
    result = run("validate", "--project", str(mini))
    assert result.exit_code == 1  # no row could be read: the file is not used, so say so
    assert result.stdout.splitlines()[2:] == [
        "Files not usable:",
        f"  {mini}/data/metrics/x.csv: file is UTF-16 encoded (byte offset 0); save it as UTF-8 "
        "(0 rows rejected)",
        *MINI_MISSES,
    ]


def test_reference_error_is_one_line_and_exit_2(mini: Path) -> None:
    partners = mini / "data" / "partners.csv"
    partners.write_text(
        partners.read_text(encoding="utf-8") + "bad id,X,hospital,N,2020-01-01,\n",
        encoding="utf-8",
    )
    result = run("validate", "--project", str(mini))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {mini}/data/partners.csv:5:1: partner_id 'bad id' may contain only letters, "
        "digits, '-' and '_'\n"
    )


def test_config_errors_exit_2_one_line_each(mini: Path) -> None:
    (mini / "sitegen.toml").write_text('[site]\ngrain = "week"\ncolour = 1\n', encoding="utf-8")
    result = run("validate", "--project", str(mini))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: {mini}/sitegen.toml: [site] grain: must be one of month, quarter, year "
        "(got 'week')",
        f"Error: {mini}/sitegen.toml: [site] colour: unknown key",
    ]


def test_missing_project_exits_2(tmp_path: Path) -> None:
    result = run("validate", "--project", str(tmp_path / "nowhere"))
    assert result.exit_code == 2
    assert "sitegen.toml: not found" in result.stderr


def test_init_creates_a_project_that_validates(tmp_path: Path) -> None:
    target = tmp_path / "alliance"
    result = run("init", str(target))
    assert result.exit_code == 0, result.output
    assert (target / "sitegen.toml").is_file()
    assert (target / "data" / "partners.csv").is_file()
    assert list((target / "data" / "metrics").glob("*.csv"))
    assert (target / "content" / "index.md").is_file()
    check = run("validate", "--project", str(target))
    assert check.exit_code == 1  # the sample plants bad rows on purpose
    assert "Rejected rows by reason:" in check.stdout


def test_init_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine", encoding="utf-8")
    result = run("init", str(tmp_path))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {tmp_path} is not empty; choose a new or empty folder.\n"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_build_reports_the_as_of_period(mini: Path) -> None:
    result = run("build", "--project", str(mini))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-4:-2] == [
        "Scorecards for 2025-09: 3 partners, 5 KPIs",
        "  0 met, 2 at risk, 3 missed, 0 no data, 1 suppressed",
    ]
    assert result.stdout.splitlines()[-2].startswith("Wrote ")
    assert result.stdout.splitlines()[-1] == "Archived 2025-09 as published: periods/2025-09/"
    assert (mini / "output" / "index.html").is_file()


def test_build_strict_fails_on_rejected_rows(mini: Path) -> None:
    (mini / "data" / "metrics" / "bad.csv").write_text(
        HEADER + "ghost,readmit_30d,2025-08,1.0,1,100\n", encoding="utf-8"
    )
    assert run("build", "--project", str(mini)).exit_code == 0
    assert run("build", "--project", str(mini), "--strict").exit_code == 1


def test_build_without_any_accepted_row_exits_1(mini: Path) -> None:
    (mini / "data" / "metrics" / "2025-09.csv").write_text(
        HEADER + "ghost,readmit_30d,2025-09,14.2,142,1000\n", encoding="utf-8"
    )
    (mini / "data" / "metrics" / "2025-Q3.csv").unlink()
    result = run("build", "--project", str(mini))
    assert result.exit_code == 1
    assert result.stderr == "Error: no accepted metric rows: nothing to report\n"


@pytest.mark.parametrize("command", ["validate", "build"])
def test_no_metrics_file_exits_1_naming_the_folder(mini: Path, command: str) -> None:
    for path in (mini / "data" / "metrics").glob("*.csv"):
        path.unlink()
    result = run(command, "--project", str(mini))
    assert result.exit_code == 1
    where = (mini / "data" / "metrics").resolve()
    assert result.stderr == (
        f"Error: {where}: no metrics files (*.csv, *.parquet): nothing to check or report\n"
    )


@pytest.mark.parametrize("command", ["validate", "build"])
def test_a_missing_data_folder_is_named_by_its_resolved_path(
    mini: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (mini / "sitegen.toml").write_text('[data]\ndir = "inputs/data"\n', encoding="utf-8")
    monkeypatch.chdir(mini)
    result = run(command)
    assert result.exit_code == 2
    where = (mini / "inputs" / "data").resolve()
    assert result.stderr == (
        f"Error: {where}: data folder not found (set [data] dir in sitegen.toml)\n"
    )


def test_a_missing_reference_file_is_named_by_its_resolved_path(
    mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (mini / "data" / "kpis.csv").unlink()
    monkeypatch.chdir(mini)
    result = run("validate")
    assert result.exit_code == 2
    assert result.stderr == f"Error: {(mini / 'data' / 'kpis.csv').resolve()}: file not found\n"


@pytest.mark.parametrize("command", ["validate", "build", "email", "serve"])
def test_a_folder_given_without_project_gets_a_hint(mini: Path, command: str) -> None:
    result = run(command, str(mini))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        f"Error: unexpected argument {mini}: did you mean --project {mini}?"
    )


def test_validate_on_the_sample_reports_every_planted_bad_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The committed sample plants eight bad rows (scripts/make_sample_data.py docstring)."""
    monkeypatch.chdir(Path(__file__).parent.parent)
    result = run("validate")
    assert result.exit_code == 1
    resubmission = "data/metrics/2026-09-greywater-primary-care-resubmission.csv"
    planted = [
        f"{resubmission}:4: unknown partner_id 'graywater-primary-care'",
        f"{resubmission}:5: unknown kpi_id 'readmit_30'",
        f"{resubmission}:6: period '2026/09' is not YYYY-MM, YYYY-Qn or YYYY",
        f"{resubmission}:7: value 'N/A' is not a number",
        f"{resubmission}:8: numerator 45 is greater than denominator 40",
        f"{resubmission}:9: denominator 0 must be greater than 0",
        f"{resubmission}:10: value 59.4 does not match numerator/denominator "
        "(122 / 197 × 100 = 61.929)",
        f"{resubmission}:11: conflicting duplicate of data/metrics/2026-09.csv:148 "
        "(same partner, KPI and period, other figures)",
    ]
    lines = [line.strip() for line in result.stdout.splitlines()]
    for example in planted:
        assert example in lines
    # counted from the files themselves: every data row read, the planted ones rejected and
    # the row the conflicting duplicate conflicts with too
    files = sorted((Path("data") / "metrics").glob("*.csv"))
    rows = 0
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            rows += sum(1 for _ in csv.DictReader(handle))
    rejected = len(planted) + 1
    expected = f"Metrics: {len(files)} files, {rows:,} rows read: "
    assert f"{expected}{rows - rejected:,} accepted, {rejected} rejected" in lines
    with (Path("data") / "actions.csv").open(encoding="utf-8", newline="") as handle:
        actions = sum(1 for _ in csv.DictReader(handle))
    assert f"Actions and notes: {actions} rows read: {actions} accepted, 0 quarantined" in lines


def test_broken_narrative_stops_the_build_with_one_line(mini: Path) -> None:
    (mini / "content").mkdir()
    (mini / "content" / "index.md").write_text("Score: {{ nope }}\n", encoding="utf-8")
    result = run("build", "--project", str(mini))
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: content/index.md: 'nope' is undefined; see the README for the variables\n"
    )


def test_unwritable_output_is_one_line_not_a_traceback(mini: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    result = run("build", "--project", str(mini), "--output", str(blocker / "site"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {blocker}")
    assert result.stderr.count("\n") == 1


def test_build_not_on_a_terminal_prints_no_progress_bars(mini: Path) -> None:
    result = run("build", "--project", str(mini), "--jobs", "1")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # as cron mails it: the summary on stdout, nothing else
    assert "Drawing charts" not in result.output and "\x1b[" not in result.output


@pytest.mark.slow
def test_a_first_build_from_cron_prints_only_its_summary(mini: Path) -> None:
    # a separate process with a new cache, as cron runs it: nothing a library logs or prints
    # on the way (vl-convert's bundler logs its passes at ERROR level) may reach the mail
    command = [sys.executable, "-m", "sitegen", "build", "--project", str(mini), "--jobs", "1"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    summary = done.stdout.splitlines()
    assert summary[0] == "Reference data: 3 partners, 5 KPIs, 2 partner commitments"
    # the dashboard; 3 partners' page, JSON and CSV; 5 KPI pages; data quality, methodology,
    # the review and the periods; 3 + 2 PDFs; alliance.json; 3 static files and the Vega
    # bundle; the manifest. The archive of the period is linked to them, not written again.
    files = 1 + 3 * 3 + 5 + 4 + 5 + 1 + 4 + 1
    assert summary[-2:] == [
        f"Wrote {files} files to {mini / 'output'}",
        "Archived 2025-09 as published: periods/2025-09/",
    ]
    assert not [line for line in summary if "tree-shaker" in line or "extent" in line]


def on_a_terminal(*command: str) -> tuple[int, str]:
    """Run a command with its output on a pseudo-terminal, as a person at a shell sees it."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(command, stdout=follower, stderr=follower, close_fds=True)
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the command ends
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return process.wait(), seen.decode("utf-8", "replace")


@pytest.mark.slow
def test_build_on_a_terminal_shows_progress_bars(mini: Path) -> None:
    code, seen = on_a_terminal(
        sys.executable, "-m", "sitegen", "build", "--project", str(mini), "--jobs", "1"
    )
    assert code == 0, seen
    assert "Drawing charts" in seen and "Typesetting PDFs" in seen
    assert "5/5" in seen  # three partners' PDFs, the board packet and the review's
    assert "Scorecards for 2025-09: 3 partners, 5 KPIs" in seen


def test_a_chart_that_cannot_be_drawn_is_one_line(
    mini: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(spec: dict, digest: str, key: str = "") -> str:
        raise ChartError(
            f"chart {key} could not be drawn: Vega-Lite to Vega conversion failed:\n"
            "RangeError: Maximum call stack size exceeded"
        )

    monkeypatch.setattr(svg, "draw_svg", fail)
    result = run("build", "--project", str(mini), "--jobs", "1")
    assert result.exit_code == 1
    assert result.output == (
        "Error: chart index.html#heatmap could not be drawn: Vega-Lite to Vega conversion "
        "failed: RangeError: Maximum call stack size exceeded\n"
    )


def test_jobs_defaults_to_the_cores_the_build_may_use(mini: Path) -> None:
    """A build confined to one core (a container, `taskset`) starts one job, not one per
    core of the machine; the build's help says what the default is."""
    shown = subprocess.run(
        [
            "taskset",
            "-c",
            "0",
            sys.executable,
            "-c",
            "from sitegen.cli import usable_cores; print(usable_cores())",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "1\n"
    assert run("build", "--help").output.count("[default: (all") == 1
