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
from pypdf import PdfReader

from sitegen.cli import main
from sitegen.load import load_project

FIXTURES = Path(__file__).parent / "fixtures"
CASES = sorted(p.name for p in (FIXTURES / "bad").iterdir() if p.is_dir())


def expectation(case: str) -> dict[str, Any]:
    return tomllib.loads((FIXTURES / "bad" / case / "expect.toml").read_text(encoding="utf-8"))


def project_with(case: str, root: Path) -> Path:
    project = root / "project"
    shutil.copytree(FIXTURES / "mini", project)
    shutil.copytree(FIXTURES / "bad" / case, project, dirs_exist_ok=True)
    (project / "expect.toml").unlink()
    return project


def lines_of(output: str, project: Path) -> list[str]:
    return output.replace(str(project), "{project}").splitlines()


def test_the_corpus_has_at_least_30_cases() -> None:
    assert len(CASES) >= 30
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
        summary = load_project(con, project / "data", "data", date(2026, 11, 22))
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
                [expect["problem"]] if "problem" in expect else []
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


def read(path: Path) -> str:
    """A page's text, or the text a PDF shows (line breaks joined, as a reader sees it)."""
    if path.suffix == ".pdf":
        return "".join("".join(page.extract_text().split("\n")) for page in PdfReader(path).pages)
    return path.read_text(encoding="utf-8")


@pytest.mark.slow
def test_a_200_mb_metrics_file_is_read_in_bounded_memory(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(FIXTURES / "mini", project)
    big = project / "data" / "metrics" / "big.csv"
    rows = 0
    with big.open("w", encoding="utf-8") as out:
        out.write("partner_id,kpi_id,period,value,numerator,denominator\n")
        while out.tell() < 200 * 1024 * 1024:
            out.writelines(
                f"p{rows + i:07d},readmit_30d,2025-08,14.0,140,1000\n" for i in range(10_000)
            )
            rows += 10_000
    command = [sys.executable, "-m", "sitegen", "validate", "--project", str(project)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    stdout = process.stdout.read()  # type: ignore[union-attr]
    stderr = process.stderr.read()  # type: ignore[union-attr]
    assert stderr == ""
    assert os.waitstatus_to_exitcode(status) == 1  # every row names an unknown partner
    # nothing lost: the 6 rows of the mini project and every row of the big file, counted
    assert f"{rows + 6:,} rows read: 6 accepted, {rows:,} rejected" in stdout
    assert f"unknown partner_id: {rows:,}" in stdout
    # DuckDB is held to 1 GB and spills beyond it; the file is scanned a chunk at a time
    assert usage.ru_maxrss / 1024 < 1600, f"peak {usage.ru_maxrss / 1024:.0f} MiB"
