"""The bad-input corpus (tests/fixtures/bad/): every case, laid over the mini project, gives
exactly the reasons or messages its expect.toml holds, never a traceback, and loses nothing:
every row read is accepted or rejected."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from sitegen.cli import main
from sitegen.load import load_project
from tests.conftest import HEADER

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in (FIXTURES / "bad").iterdir() if p.is_dir())


def expectation(case: str) -> dict[str, Any]:
    return tomllib.loads((FIXTURES / "bad" / case / "expect.toml").read_text(encoding="utf-8"))


# Files outside the project that a case's links point at: never to be read or shown.
SECRET = "SECRET-OUTSIDE-THE-PROJECT"
OUTSIDE = {
    "secret.csv": f"{HEADER}north-hosp,readmit_30d,2025-04,12.3,123,1000\n",
    "secret.md": f"{SECRET} narrative\n",
    "secret.html": f"<p>{SECRET} template</p>\n",
    "secret.typ": f"{SECRET} template\n",
}


def project_with(case: str, root: Path) -> Path:
    project = root / "project"
    shutil.copytree(FIXTURES / "mini", project)
    shutil.copytree(FIXTURES / "bad" / case, project, dirs_exist_ok=True)
    (project / "expect.toml").unlink()
    outside = root / "outside"
    outside.mkdir()
    for name, text in OUTSIDE.items():
        (outside / name).write_text(text, encoding="utf-8")
    for item in expectation(case).get("make", []):
        make(project, outside, item)
    return project


def make(project: Path, outside: Path, item: dict[str, Any]) -> None:
    """What git cannot hold, or would hold badly, made when the case is laid out: files with
    control characters in their names or of many megabytes, folders, pipes and links."""
    path = project / item.get("file", item.get("fifo", item.get("folder", item.get("link", ""))))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # in place of the mini project's own file
    if "file" in item:
        body = item.get("text", "") + item.get("repeat", "") * item.get("times", 0)
        path.write_bytes((body + item.get("tail", "")).encode("utf-8"))
    elif "fifo" in item:
        os.mkfifo(path)
    elif "folder" in item:
        path.mkdir()
    else:
        path.symlink_to(item["to"].replace("{outside}", str(outside)))


def lines_of(output: str, project: Path) -> list[str]:
    return output.replace(str(project), "{project}").splitlines()


def test_the_corpus_has_at_least_80_cases() -> None:
    assert len(CASES) >= 80
    for case in CASES:
        expect = expectation(case)
        assert expect["what"] and expect["sees"], case


@pytest.mark.parametrize("case", CASES)
def test_load_and_validate(case: str, tmp_path: Path) -> None:
    expect = expectation(case)
    project = project_with(case, tmp_path)
    mini_files = {f"data/metrics/{p.name}" for p in (FIXTURES / "mini/data/metrics").iterdir()}
    if "rejected" in expect or "warnings" in expect:
        con = duckdb.connect()
        summary = load_project(con, project / "data", "data", date(2026, 11, 22), project)
        assert summary.read == summary.accepted + summary.rejected  # nothing lost
        for report in summary.files:
            assert report.read == report.accepted + report.rejected, report
        ours = [f for f in summary.files if f.file not in mini_files]
        if "rejected" in expect:
            rows = con.execute(
                "SELECT file || ':' || line || ': ' || reason FROM rejected ORDER BY file, line"
            ).fetchall()
            assert [r for (r,) in rows] == expect["rejected"]
            assert sum(f.accepted for f in ours) == expect["accepted"]
            assert [f.problem for f in ours if f.problem] == (
                [expect["problem"]] if "problem" in expect else expect.get("problems", [])
            )
        assert summary.warnings == expect.get("warnings", [])
    result = CliRunner().invoke(main, ["validate", "--project", str(project)])
    assert isinstance(result.exception, SystemExit | None), result.exception  # no traceback
    assert result.exit_code == expect["validate"], result.output
    if expect["validate"] == 2:
        assert lines_of(result.output, project) == expect["output"]


BUILT = [case for case in CASES if "build" in expectation(case)]


@pytest.mark.slow
@pytest.mark.parametrize("case", BUILT)
def test_build(case: str, tmp_path: Path) -> None:
    expect = expectation(case)
    project = project_with(case, tmp_path)
    out = tmp_path / "site"
    options = ["--jobs", "1", "--output", str(out)] + ([] if expect.get("pdf") else ["--no-pdf"])
    result = CliRunner().invoke(main, ["build", "--project", str(project), *options])
    assert isinstance(result.exception, SystemExit | None), result.exception  # no traceback
    assert result.exit_code == expect["build"], result.output
    lines = lines_of(result.output, project)
    for line in expect.get("output", []):
        assert line in lines
    if expect["build"] == 2:
        assert lines == expect["output"]
        return
    for name, needles in expect.get("contains", {}).items():
        text = read(out / name)
        for needle in needles:
            assert needle in text, (name, needle[:80])
    for name, needles in expect.get("lacks", {}).items():
        text = read(out / name)
        for needle in needles:
            assert needle not in text, (name, needle)
    for path in out.resolve().rglob("*"):  # nothing from outside the project, anywhere
        if path.is_file():
            assert SECRET not in read(path), path


def read(path: Path) -> str:
    """A page's text, or the text a PDF shows (line breaks joined, as a reader sees it)."""
    if path.suffix == ".pdf":
        return "".join("".join(page.extract_text().split("\n")) for page in PdfReader(path).pages)
    return path.read_text(encoding="utf-8")


def write_rows(path: Path, rows: int, first: str = "", size: int = 0) -> int:
    """A generated metrics file: `first` (a row of its own), then rows naming unknown
    partners, until it has `rows` of them or `size` bytes. Returns the rows written."""
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER + first)
        while written < rows or out.tell() < size:
            out.writelines(
                f"p{written + i:07d},readmit_30d,2025-08,14.0,140,1000\n" for i in range(10_000)
            )
            written += 10_000
    return written


MEMORY_BOUND_MIB = 1300  # the README's bound for reading any metrics file


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["200 MB plain", "a million rows, one quoted", "a 50 MB field"])
def test_any_metrics_file_is_read_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "mini", project)
    big = project / "data" / "metrics" / "big.csv"
    if kind == "200 MB plain":
        rows, extra = write_rows(big, 0, size=200 * 1024 * 1024), 0
    elif kind == "a million rows, one quoted":
        rows, extra = write_rows(big, 1_000_000, '"p-quoted",readmit_30d,2025-08,1,1,100\n'), 1
    else:
        rows, extra = write_rows(big, 10_000, 'p-field,readmit_30d,2025-08,"' + "x" * 50_000_000
                                 + '",1,100\n'), 1  # fmt: skip
    command = [sys.executable, "-m", "sitegen", "validate", "--project", str(project)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    stdout = process.stdout.read()  # type: ignore[union-attr]
    stderr = process.stderr.read()  # type: ignore[union-attr]
    assert stderr == ""
    assert os.waitstatus_to_exitcode(status) == 1  # every row names an unknown partner
    # nothing lost: the 6 rows of the mini project and every row of the big file, counted
    total = rows + extra
    assert f"{total + 6:,} rows read: 6 accepted, {total:,} rejected" in stdout
    assert f"unknown partner_id: {rows + (extra if kind != 'a 50 MB field' else 0):,}" in stdout
    # DuckDB is held to 1 GB and spills beyond it; Python holds a batch of records at a time
    peak = usage.ru_maxrss / 1024
    assert peak < MEMORY_BOUND_MIB, f"{kind}: peak {peak:.0f} MiB"


# ---------------------------------------------------------------- any input at all

JINJA_BITS = [
    "{{", "}}", "{%", "%}", "{#", "#}", " for x in range(", "99999", ") ", " endfor ", " if ",
    " endif ", "include 'x'", "import 'x' as y", "extends 'site/base.html'", " set a = ",
    "partner.name", "kpi.readmit_30d.value", "period", "composite", "|upper", "|center(9999)",
    "|format(1)", "|int", " ** ", " * ", "10", "'%d'", "(", ")", "[", "]", ".", "__class__",
    "'", '"', " ", "\n", "loop.index", "x", "undefined_thing", "---\ntitle: ", "# ", "<script>",
]  # fmt: skip
jinja = st.lists(st.sampled_from(JINJA_BITS), max_size=40).map("".join) | st.text(max_size=200)
anything = st.binary(max_size=600) | jinja.map(str.encode)
ANY_FIXTURE = HealthCheck.function_scoped_fixture
DATA_FILES = ["sitegen.toml", "data/partners.csv", "data/kpis.csv", "data/targets.csv"]


def assert_reported(result: Any, codes: set[int]) -> None:
    """An exit code that means something, no traceback, and what reached stderr one line per
    problem, each a message of ours with no raw control character in it."""
    assert isinstance(result.exception, SystemExit | None), repr(result.exception)
    assert result.exit_code in codes, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    for line in lines:
        assert line.startswith(("Error: ", "Warning: ", "Note: ")), line
        assert not any(ord(c) < 32 or c == "\x7f" for c in line), line
    if result.exit_code == 2 and "sitegen.toml" not in result.stderr:
        assert len([line for line in lines if line.startswith("Error: ")]) == 1, lines


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(where=st.sampled_from([*DATA_FILES, "data/metrics/any.csv"]), data=anything)
def test_any_bytes_in_any_data_file_are_reported_not_raised(
    tmp_path_factory: pytest.TempPathFactory, where: str, data: bytes
) -> None:
    project = project_with("crlf", tmp_path_factory.mktemp("any"))
    (project / where).write_bytes(data)
    result = CliRunner().invoke(main, ["validate", "--project", str(project)])
    assert_reported(result, {0, 1, 2})


@pytest.mark.slow
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    where=st.sampled_from(
        [
            "content/index.md",
            "content/partners/north-hosp.md",
            "content/kpis/readmit_30d.md",
            "templates/site/partner.html",
            "templates/email/scorecard.txt",
            "sitegen.toml",
            "data/metrics/any.csv",
        ]
    ),
    data=anything,
)
def test_any_narrative_template_or_input_builds_or_is_reported(
    tmp_path_factory: pytest.TempPathFactory, where: str, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("any")
    project = project_with("crlf", root)
    (project / where).parent.mkdir(parents=True, exist_ok=True)
    (project / where).write_bytes(data)
    options = ["--jobs", "1", "--no-pdf", "--output", str(root / "site")]
    assert_reported(
        CliRunner().invoke(main, ["build", "--project", str(project), *options]), {0, 1, 2}
    )
    if where.startswith("templates/email"):
        with (project / "sitegen.toml").open("a") as config:
            config.write('\n[email]\nsender = "s@mini.example.org"\n')
        dry = ["email", "--project", str(project), "--output", str(root / "site"), "--dry-run"]
        assert_reported(CliRunner().invoke(main, dry), {0, 1, 2})
