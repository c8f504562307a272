"""Reading input files safely: literal names, regular files inside the project, a bounded
amount at a time, names printed on one line."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sitegen import reading


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 1 << 20])
def test_the_chunked_scan_sees_patterns_across_chunk_boundaries(
    monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    """A file is simple (DuckDB may split it) only if the whole-file rules say so, for chunks
    of any size; encoding problems name the same byte whatever the chunks."""
    monkeypatch.setattr(reading, "CHUNK", size)
    simple = {
        "a,b\r\nc,d\r\n": "\\r\\n",
        "a,b\nc,d\n": "\\n",
        "a,b\nc,d": "\\n",
        "\ufeffa,b\nc,d\n": "\\n",
    }
    not_simple = [
        "a,b\r\n\r\nc,d\r\n",  # a blank line
        "a,b\n\nc,d\n",
        "a,b\r\nc,d\n",  # two kinds of line ending
        "a,b\rc,d\r",  # old Mac line endings
        'a,"b"\nc,d\n',  # quotes
        "\na,b\n",  # starts with a line break
        "",
    ]
    for text, new_line in simple.items():
        found = reading.scan(io.BytesIO(text.encode()))
        assert (found.simple, found.new_line, found.problem) == (True, new_line, None), text
    for text in not_simple:
        assert not reading.scan(io.BytesIO(text.encode())).simple, (size, text)
    bad = reading.scan(io.BytesIO("ab,c\né,\xff\n".encode("latin-1")))
    assert bad.problem == ("not UTF-8: byte 0xE9 on line 2 (byte offset 5); save the file as UTF-8")
    nul = reading.scan(io.BytesIO(b"a,b\nc,\x00d\n"))
    assert nul.problem == "NUL byte at byte offset 6: not a text file" and not nul.simple


def test_a_line_longer_than_the_limit_makes_a_file_careful(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_RECORD", 10)
    assert reading.scan(io.BytesIO(b"a,b\n1234567890\n")).simple
    assert not reading.scan(io.BytesIO(b"a,b\n12345678901\nc,d\n")).simple


def test_records_hold_at_most_the_limit_and_keep_line_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reading, "MAX_RECORD", 16)
    text = (
        "a,b\n"  # 1
        "1,2\n"  # 2
        "3," + "x" * 40 + "\n"  # 3: a line past the limit
        "\n"  # 4: blank, not a record
        '5,"two\nlines"\n'  # 5-6: one record
        "7,8\r\n"  # 7
        '9,"' + "y" * 30 + "\n"  # 8: a quote that is never closed
        "10,11\n"  # 9
    )
    found = list(reading.records(io.BytesIO(text.encode()), "utf-8"))
    limit = "1 MB" if reading.MAX_RECORD >> 20 else "0 MB"
    assert found[:4] == [
        (1, ["a", "b"], None),
        (2, ["1", "2"], None),
        (3, [], f"line 3 is longer than {limit}: not read"),
        (5, ["5", "two\nlines"], None),
    ]
    assert found[4] == (7, ["7", "8"], None)
    assert found[5][0] == 8 and found[5][1] == [] and "longer than" in (found[5][2] or "")
    assert found[-1] == (9, ["10", "11"], None)


def test_printable_names_stay_on_one_line_and_apart() -> None:
    assert reading.printable("2025-09.csv") == "2025-09.csv"
    assert reading.printable("é ü 北京 😀.csv") == "é ü 北京 😀.csv"
    assert reading.printable("a\nError: forged.csv") == "a\\nError: forged.csv"
    assert reading.printable("\x1b[31mred.csv") == "\\x1b[31mred.csv"
    assert reading.printable("evil\u202ecsv.exe") == "evil\\u202ecsv.exe"
    assert reading.printable("a\\nb.csv") == "a\\\\nb.csv"  # not the same as a real line break
    assert reading.printable(os.fsdecode(b"\xff.csv")) == "\\udcff.csv"


def test_only_regular_files_inside_the_project_may_be_read(tmp_path: Path) -> None:
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    outside.mkdir()
    (outside / "secret.csv").write_text("secret")
    (project / "real.csv").write_text("a,b\n")
    (project / "folder.csv").mkdir()
    os.mkfifo(project / "pipe.csv")
    (project / "inside.csv").symlink_to(project / "real.csv")
    (project / "out.csv").symlink_to(outside / "secret.csv")
    (project / "up.csv").symlink_to(Path("..") / "outside" / "secret.csv")
    (project / "broken.csv").symlink_to(project / "gone.csv")
    verdicts = {p.name: reading.refusal(p, project) for p in sorted(project.iterdir())}
    assert verdicts == {
        "broken.csv": "a link to nothing (a broken link)",
        "folder.csv": "not a regular file (a folder)",
        "inside.csv": None,
        "out.csv": "a link to a file outside the project: not read",
        "pipe.csv": "not a regular file (a named pipe)",
        "real.csv": None,
        "up.csv": "a link to a file outside the project: not read",
    }


def traced_opens(command: list[str], cwd: Path, trace: Path) -> tuple[int, list[str]]:
    """Run a command under strace; its exit code and every path any of its processes opened."""
    strace = shutil.which("strace")
    if strace is None:
        pytest.fail("strace is missing: apt-get install -y strace (see .ci/run)")
    done = subprocess.run(
        [strace, "-f", "-qq", "-e", "trace=open,openat,openat2", "-o", str(trace), *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    opened = re.findall(r'open(?:at2?)?\((?:[^,]*, )?"([^"]*)"', trace.read_text())
    return done.returncode, opened


@pytest.mark.slow
@pytest.mark.parametrize(
    ("link", "command", "code"),
    [
        ("data/metrics/outside.csv", "build", 0),
        ("data/partners.csv", "validate", 2),
        ("content/partners/north-hosp.md", "build", 2),
        ("content/partners/nobody.md", "build", 0),
        ("templates/site/partner.html", "build", 2),
        ("templates/pdf/scorecard.typ", "build", 2),
    ],
)
def test_nothing_outside_the_project_is_ever_opened(
    tmp_path: Path, link: str, command: str, code: int
) -> None:
    """Whatever a link in data/, content/ or templates/ points at, no process of the run opens
    a file outside the project (strace sees every open, DuckDB's and the workers' too)."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    shutil.copytree(Path(__file__).parent / "fixtures" / "mini", project)
    outside.mkdir()
    secret = outside / "secret"
    secret.write_text("partner_id,kpi_id,period,value,numerator,denominator\n")
    (project / link).parent.mkdir(parents=True, exist_ok=True)
    (project / link).unlink(missing_ok=True)
    (project / link).symlink_to(secret)
    sitegen = [sys.executable, "-m", "sitegen", command, "--project", str(project)]
    returncode, opened = traced_opens(sitegen, tmp_path, tmp_path / "trace")
    assert returncode == code
    assert len(opened) > 100  # the trace saw the run
    # by where each path leads: a file opened through a link in the project is outside too
    reached = {os.path.realpath(path, strict=False) for path in opened if path.startswith("/")}
    reached |= {os.path.realpath(tmp_path / path) for path in opened if not path.startswith("/")}
    assert [p for p in reached if p == str(outside) or p.startswith(f"{outside}/")] == []
