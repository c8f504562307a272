"""Nightly builds: atomic publish, the lock, unchanged files kept, the build log."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen import publish
from sitegen.cli import main
from tests.conftest import HEADER
from tests.support.validators import broken_links

FIXTURES = Path(__file__).parent / "fixtures"


NIGHT = 1767225600  # 2026-01-01 00:00 UTC


@pytest.fixture(autouse=True)
def tonight(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every build here runs at the same moment unless a test moves it on."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(NIGHT))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", project)
    return project


def build(project: Path, out: Path, *extra: str) -> subprocess.CompletedProcess | object:
    return CliRunner().invoke(
        main, ["build", "--project", str(project), "--output", str(out), "--jobs", "1", *extra]
    )


def built(project: Path, out: Path, *extra: str) -> None:
    result = build(project, out, *extra)
    assert result.exit_code == 0, result.output


def new_narrative(project: Path, text: str) -> None:
    """A change to the project's input, so that the next build has something to build."""
    (project / "content").mkdir(exist_ok=True)
    (project / "content" / "index.md").write_text(text + "\n")


def north_readmissions_in(project: Path, month: str) -> None:
    """A submission for one more month, so that the project has data for it."""
    (project / "data" / "metrics" / f"{month}.csv").write_text(
        f"{HEADER}north-hosp,readmit_30d,{month},14.0,140,1000\n", encoding="utf-8"
    )


def stamps(site: Path) -> dict[str, tuple[int, int]]:
    """Each file's (inode, mtime in ns): both stay when a file is kept, not rewritten."""
    root = site.resolve()
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


# the manifest records the run itself, so it always changes, and so does the archive's copy
RUN_RECORDS = {"manifest.json", "periods/2025-09/manifest.json"}


def and_archived(*names: str) -> set[str]:
    """Files of the site and their copies in the archive of its period (2025-09)."""
    return {*names, *(f"periods/2025-09/{name}" for name in names)}


def changed(before: dict, after: dict) -> set[str]:
    return {name for name in after if before.get(name) != after[name]} - RUN_RECORDS


def test_output_is_a_link_to_one_complete_build(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    built(project, out)
    assert out.is_symlink() and (out / "index.html").is_file()
    first = out.resolve()
    new_narrative(project, "Second.")
    built(project, out)
    second = out.resolve()
    assert first != second and first.parent == second.parent == publish.builds_dir(out)
    new_narrative(project, "Third.")
    built(project, out)
    # the live build and the one before it (for readers still on it); nothing else
    assert sorted(p.name for p in publish.builds_dir(out).iterdir()) == sorted(
        [second.name, out.resolve().name]
    )


def test_a_site_from_before_is_replaced(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "old.html").write_text("old")
    built(project, out)
    assert out.is_symlink() and not (out / "old.html").exists()


def test_unchanged_rebuild_rewrites_nothing(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    built(project, out)
    before, live = stamps(out), out.resolve()
    time.sleep(0.01)
    result = build(project, out)
    assert result.exit_code == 0, result.output
    assert result.output == (
        "Nothing changed since the build of 2026-01-01T00:00:00+00:00: "
        f"{out} is current (scorecards for 2025-09).\n"
    )
    assert stamps(out) == before and out.resolve() == live  # not a byte written


def test_any_input_or_option_change_builds_again(project: Path, tmp_path: Path) -> None:
    north_readmissions_in(project, "2025-08")
    out = tmp_path / "site"
    built(project, out)

    def rebuilt(*extra: str) -> bool:
        live = out.resolve()
        result = build(project, out, *extra)
        assert result.exit_code == 0, result.output
        return out.resolve() != live and "Nothing changed" not in result.output

    assert rebuilt("--no-pdf")
    assert rebuilt("--no-pdf", "--period", "2025-08")
    kpis = project / "data" / "kpis.csv"
    kpis.write_text(kpis.read_text().replace("PMPM", "per member per month"))
    assert rebuilt("--no-pdf", "--period", "2025-08")
    assert not rebuilt("--no-pdf", "--period", "2025-08")


def test_strict_still_fails_when_nothing_changed(project: Path, tmp_path: Path) -> None:
    (project / "data" / "metrics" / "bad.csv").write_text(
        "partner_id,kpi_id,period,value,numerator,denominator\nghost,readmit_30d,2025-09,1,1,100\n"
    )
    out = tmp_path / "site"
    assert build(project, out, "--strict").exit_code == 1
    again = build(project, out, "--strict")
    assert again.exit_code == 1 and again.output.startswith("Nothing changed")


def test_next_nights_build_rewrites_only_what_carries_the_date(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "site"
    built(project, out)
    before = stamps(out)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(NIGHT + 24 * 3600))
    built(project, out)
    # the dashboard says when it was built, each PDF's footer its date, and the lists of
    # periods when each was published (the archive's own list too); nothing else
    assert changed(before, stamps(out)) == {
        *and_archived(
            "index.html",
            "pdf/north-hosp.pdf",
            "pdf/south-snf.pdf",
            "pdf/east-clinic.pdf",
            "pdf/alliance.pdf",
            "pdf/review-2025-09.pdf",
        ),
        "periods.html",
        "periods/2025-09/periods.html",
    }


def test_a_narrative_change_rewrites_only_that_partner(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    built(project, out)
    before = stamps(out)
    (project / "content" / "partners").mkdir(parents=True, exist_ok=True)
    (project / "content" / "partners" / "south-snf.md").write_text("A new quarter begins.\n")
    built(project, out)
    assert changed(before, stamps(out)) == and_archived(
        "partners/south-snf.html", "pdf/south-snf.pdf"
    )
    manifest = json.loads((out / "manifest.json").read_text())
    # the other two partners' pages (with downloads and PDFs), the 5 KPI pages, data quality
    # and methodology were kept without being made again
    assert manifest["units_kept"] == 2 + 5 + 2
    # south-snf's, and the two packets (the board's and the review's, always made)
    assert manifest["pdfs"]["made"] + manifest["pdfs"]["reused"] == 1 + 2


def manifest_of(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def test_a_change_every_page_shares_makes_every_page_again(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    built(project, out)
    assert manifest_of(out)["units_kept"] == 0  # nothing to keep the first time
    new_narrative(project, "Only the dashboard depends on this.")
    built(project, out)
    assert manifest_of(out)["units_kept"] == 3 + 5 + 2  # every page but the dashboard
    # a project template is shared by every page: nothing can be kept
    own = project / "templates" / "site"
    own.mkdir(parents=True)
    partner = resources.files("sitegen") / "templates" / "site" / "partner.html"
    (own / "partner.html").write_text(partner.read_text().replace("</h1>", " (draft)</h1>", 1))
    built(project, out)
    assert manifest_of(out)["units_kept"] == 0
    assert "(draft)</h1>" in (out / "partners" / "north-hosp.html").read_text()
    # a page gone from the live site is made again, not lost
    (out / "partners" / "north-hosp.html").unlink()
    new_narrative(project, "Again.")
    built(project, out)
    assert manifest_of(out)["units_kept"] == 2 + 5 + 2
    assert "(draft)</h1>" in (out / "partners" / "north-hosp.html").read_text()


def test_a_partners_data_change_rewrites_what_depends_on_it(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    built(project, out)
    before = stamps(out)
    metrics = project / "data" / "metrics"
    # east-clinic's days to an appointment, 18.5 → 17.0: still missed against 14, so no
    # composite or rank moves; other partners' pages do not show it
    month = metrics / "2025-09.csv"
    month.write_text(
        month.read_text().replace("appt_lead_days,2025-09,18.5", "appt_lead_days,2025-09,17.0")
    )
    result = build(project, out, "-v")
    assert result.exit_code == 0, result.output
    now = changed(before, stamps(out))
    assert {"partners/east-clinic.html", "partners/east-clinic.json"} <= now
    assert "kpis/appt_lead_days.html" in now
    # the other partners' pages, downloads and PDFs are kept as they were
    for pid in ("north-hosp", "south-snf"):
        for name in (f"partners/{pid}.html", f"partners/{pid}.json", f"pdf/{pid}.pdf"):
            assert name not in now, name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["pdfs"]["made"] <= 2  # east-clinic's and the board packet
    # north-hosp's and south-snf's pages, the 4 KPI pages without east-clinic's change, and
    # data quality and methodology (no count or definition changed)
    assert manifest["units_kept"] == 2 + 4 + 2


def test_failed_build_leaves_the_live_site_and_no_leftovers(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    built(project, out)
    live, before = out.resolve(), stamps(out)
    (project / "templates" / "site").mkdir(parents=True)
    (project / "templates" / "site" / "partner.html").write_text("{% broken %}")
    result = build(project, out)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert out.resolve() == live and stamps(out) == before
    assert not list(publish.builds_dir(out).glob("*.partial"))


@pytest.mark.parametrize(
    ("period", "why"),
    [
        ("2099-01", "is in the future (today is {today})"),
        ("2020-01", "is before the first data"),
        ("2025-08", "has no accepted row from any partner"),
    ],
)
def test_a_period_without_data_exits_2_and_publishes_nothing(
    project: Path, tmp_path: Path, period: str, why: str
) -> None:
    north_readmissions_in(project, "2025-07")
    out = tmp_path / "site"
    built(project, out)
    live, before = out.resolve(), stamps(out)
    builds = sorted(publish.builds_dir(out).iterdir())
    result = build(project, out, "--period", period)
    assert result.exit_code == 2, result.output
    reason = why.format(today=date.today().isoformat())
    assert result.stderr == (
        f"Error: period {period} {reason}; periods with data: 2025-07 to 2025-09; "
        "nothing was published\n"
    )
    assert out.resolve() == live and stamps(out) == before
    assert sorted(publish.builds_dir(out).iterdir()) == builds


def test_second_build_while_one_runs_exits_1_or_waits(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    lock = out.with_name(f".{out.name}.lock")
    with publish.locked(out, wait=False):
        assert lock.read_text().startswith(f"pid {os.getpid()} since ")
        result = build(project, out)
        assert result.exit_code == 1
        assert result.output.startswith(
            f"Error: another build or email run of {out} is running (pid "
        )
        assert "--wait" in result.output and len(result.output.splitlines()) == 1
        assert not out.exists()

    def release_soon() -> None:
        time.sleep(0.5)
        held.set()

    held = threading.Event()
    with publish.locked(out, wait=False):
        threading.Thread(target=release_soon).start()
        waiter = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sitegen",
                "build",
                "-q",
                "--wait",
                "--jobs",
                "1",
                "--project",
                str(project),
                "--output",
                str(out),
            ]
        )
        held.wait()
        time.sleep(0.3)
        assert waiter.poll() is None  # still waiting for the lock
    assert waiter.wait(timeout=120) == 0
    assert (out / "index.html").is_file()
    assert lock.read_text() == ""  # a build that finishes leaves the lock empty


def sitegen_build(project: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "sitegen", "build", "-q", "--jobs", "1"]
    return subprocess.Popen([*command, "--project", str(project), "--output", str(out)])


def consistent(out: Path) -> list[str]:
    """What a reader of the live site would find wrong: files missing or not as listed."""
    root = out.resolve()
    manifest = json.loads((root / "manifest.json").read_text())
    problems = []
    for entry in manifest["files"]:
        path = root / entry["path"]
        if not path.is_file():
            problems.append(f"missing {entry['path']}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != entry["sha256"]:
            problems.append(f"changed {entry['path']}")
    return problems


@pytest.mark.slow
def test_killed_builds_never_break_the_live_site(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    built(project, out)
    stop, seen = threading.Event(), []

    def reader() -> None:
        while not stop.is_set():
            seen.extend(consistent(out))

    (project / "content").mkdir(exist_ok=True)
    watching = threading.Thread(target=reader)
    watching.start()
    try:
        # kill at points from start-up to publishing (this rebuild takes ~0.7 s here)
        for delay in (0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8):
            new_narrative(project, f"Build killed after {delay} s.")
            running = sitegen_build(project, out)
            time.sleep(delay)
            running.send_signal(signal.SIGKILL)
            running.wait()
            assert broken_links(out.resolve()) == []
    finally:
        stop.set()
        watching.join()
    assert seen == []
    result = build(project, out)  # takes over, cleans up, publishes
    assert result.exit_code == 0, result.output
    assert consistent(out) == [] and broken_links(out.resolve()) == []
    leftovers = [p.name for p in publish.builds_dir(out).iterdir()]
    assert len(leftovers) <= 2 and not [n for n in leftovers if n.endswith(".partial")]


def test_a_killed_builds_lock_is_taken_over(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    lock = out.with_name(f".{out.name}.lock")
    lock.write_text("pid 999999 since 2026-01-01 00:00:00 UTC\n")  # as a killed build leaves it
    result = build(project, out)
    assert result.exit_code == 0, result.output
    assert "previous build did not finish (pid 999999 since 2026-01-01 00:00:00 UTC)" in (
        result.output
    )
    assert lock.read_text() == ""


def test_build_log_keeps_the_last_runs(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "LOG_RUNS", 3)
    out = tmp_path / "site"
    for night in range(4):
        new_narrative(project, f"Night {night}.")
        built(project, out, "--no-pdf")
    # beside the site, for whoever runs the builds: never published
    assert not (out / "build.log").exists()
    log = publish.log_path(out).read_text()
    assert publish.log_path(out) == tmp_path / ".site.log"
    assert log.count("== build ") == 3
    assert "rows read 6, accepted 6, rejected 0" in log
    assert "stages: load " in log and "PDFs made 0, reused 0" in log


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_what_a_build_writes_honours_the_umask(project: Path, tmp_path: Path, umask: int) -> None:
    out = tmp_path / "site"
    before = os.umask(umask)
    try:
        built(project, out)
        new_narrative(project, "Again.")
        built(project, out)  # the second build keeps files from the first (hard links)
    finally:
        os.umask(before)
    folders, files = 0o777 & ~umask, 0o666 & ~umask
    written = [
        publish.builds_dir(out),
        *publish.builds_dir(out).rglob("*"),
        publish.log_path(out),
        out.with_name(f".{out.name}.lock"),
        project / ".sitegen-cache",
        *(project / ".sitegen-cache").rglob("*"),
    ]
    modes = {
        str(path): oct(path.stat().st_mode & 0o777)
        for path in written
        if path.stat().st_mode & 0o777 != (folders if path.is_dir() else files)
    }
    assert modes == {}
    assert len(written) > 50


def test_timings_count_each_stages_wall_and_cpu_seconds() -> None:
    """A stage that works spends CPU; one that waits spends wall time but next to no CPU; a
    stage entered twice adds up, in the order the stages first ran."""
    timings = publish.Timings()
    with timings.stage("work"):
        sum(i * i for i in range(300_000))
    with timings.stage("wait"):
        time.sleep(0.05)
    with timings.stage("work"):
        sum(i * i for i in range(300_000))
    assert list(timings.stages) == list(timings.cpu) == ["work", "wait"]
    assert timings.cpu["work"] > 0
    assert timings.stages["wait"] >= 0.05
    assert timings.cpu["wait"] < timings.stages["wait"] / 2
    assert timings.rounded_cpu()["work"] == round(timings.cpu["work"], 3)
