"""Reading the project's input files safely: what load.py and the narratives build on.

Only regular files inside the project are read, by their literal names: a link that leads
outside the project, a folder, a named pipe or a device is refused with the reason, never
opened (a pipe would stall the night). Files are read a bounded amount at a time, whatever
their size, their quoting or their longest line, and names are printed with their control
characters escaped, so that no file name can split a one-line message or forge one.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"
NEWLINE = b"\n"
CHUNK = 1 << 20  # bytes looked at a time
MAX_RECORD = 1 << 20  # characters in one line or field: a longer one is rejected, not read
MAX_REFERENCE = 64 << 20  # bytes of a reference file (partners, KPIs, commitments)

csv.field_size_limit(MAX_RECORD)


def printable(name: str) -> str:
    """A name as messages show it: control and format characters (line breaks, escape
    sequences, right-to-left overrides, undecodable bytes) and backslashes written as escapes,
    so that every name prints on one line, as itself, and two names never print alike."""
    out = []
    for char in name:
        if char == "\\":
            out.append("\\\\")
        elif unicodedata.category(char)[0] in "CZ" and char != " ":
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFIFO: "a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a device",
    stat.S_IFBLK: "a device",
}


def refusal(path: Path, root: Path) -> str | None:
    """Why `path` must not be read as an input file, or None when it may: it must be a
    regular file (or a link to one) inside `root`, the project's folder."""
    try:
        target = path.resolve(strict=True)
    except (OSError, RuntimeError):
        return "a link to nothing (a broken link)" if path.is_symlink() else "not found"
    if not target.is_relative_to(root.resolve()):
        return "a link to a file outside the project: not read"
    try:
        mode = target.stat().st_mode
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if not stat.S_ISREG(mode):
        return f"not a regular file ({_KINDS.get(stat.S_IFMT(mode), 'a special file')})"
    return None


@contextmanager
def opened(path: Path) -> Iterator[BinaryIO]:
    """A file already found acceptable by `refusal`, opened without ever blocking (a file
    swapped for a pipe meanwhile is refused, not waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(0, "not a regular file", str(path))
        with os.fdopen(fd, "rb", closefd=False) as handle:
            yield handle
    finally:
        os.close(fd)


def read_reference(path: Path, root: Path, limit: int = MAX_REFERENCE) -> bytes:
    """The bytes of a small file (a reference file, a template, a narrative), refused like
    any input file and when larger than `limit`. Raises OSError with the reason."""
    why = refusal(path, root)
    if why:
        raise OSError(0, why, str(path))
    with opened(path) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(0, f"larger than {limit >> 20} MB", str(path))
    return data


# ----------------------------------------------------------------------------- metrics files


@dataclass(frozen=True)
class Scan:
    """What one pass over a metrics file's bytes found.

    `problem` makes every row of the file rejected (its text still read, with replacement
    characters, so that its rows are counted); `simple` files, in which every line is one
    record and every comma a separator, are split by DuckDB itself, much faster, their lines
    ending as `new_line` says; the others are parsed by Python's csv, a batch at a time.
    """

    problem: str | None
    encoding: str
    simple: bool
    new_line: str
    bounded: bool = False  # no line longer than MAX_RECORD and no NUL: no need to look


def scan(handle: BinaryIO) -> Scan:
    """Look at a file a chunk at a time: its encoding (UTF-8 with or without BOM is fine),
    NUL bytes, and whether it is simple (no quotes, no blank lines, one kind of line ending,
    no line longer than MAX_RECORD)."""
    handle.seek(0)
    data = handle.read(max(CHUNK, len(BOM)))
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return Scan("file is UTF-16 encoded (byte offset 0); save it as UTF-8", "utf-16", False, "")
    start = len(BOM) if data.startswith(BOM) else 0
    data = data[start:] or handle.read(CHUNK)
    decoder = codecs.getincrementaldecoder("utf-8")()
    problem = None
    offset, line = start, 1  # where `data` starts: byte offset and line
    ends = {"\r": 0, "\n": 0, "\r\n": 0}
    longest = current = 0  # characters in the longest line so far, and in the line going on
    quote = nul = False
    blank = data[:1] in (b"\r", b"\n")
    previous = ""  # the last characters decoded, for patterns across chunks
    while data:
        pending = decoder.getstate()[0]  # the start of a character the last chunk cut in two
        try:
            text = decoder.decode(data)
        except UnicodeDecodeError as exc:
            seen = pending + data
            where = line + seen.count(NEWLINE, 0, exc.start)
            problem = problem or (
                f"not UTF-8: byte 0x{seen[exc.start]:02X} on line {where} "
                f"(byte offset {offset - len(pending) + exc.start}); save the file as UTF-8"
            )
            text = seen.decode("utf-8", errors="replace")
            decoder.reset()
        if "\x00" in text and not nul:
            nul = True
            where = offset + len(text[: text.index("\x00")].encode("utf-8"))
            problem = problem or f"NUL byte at byte offset {where}: not a text file"
        quote = quote or '"' in text
        joined = previous + text
        blank = blank or "\n\n" in joined or "\n\r\n" in joined
        ends["\r"] += text.count("\r")
        ends["\n"] += text.count("\n")
        ends["\r\n"] += previous[-1:].count("\r") * text[:1].count("\n") + text.count("\r\n")
        pieces = _LINE_END.split(text)
        current += len(pieces[0])
        if len(pieces) > 1:
            longest = max(longest, current, *map(len, pieces[1:-1]))
            current = len(pieces[-1])
        longest = max(longest, current)
        previous = joined[-2:]
        offset += len(data)
        line += data.count(NEWLINE)
        data = handle.read(CHUNK)
    if decoder.getstate()[0] and not problem:  # the file ends inside a character
        where = offset - len(decoder.getstate()[0])
        problem = (
            f"not UTF-8: the file ends inside a character (byte offset {where}); save it as UTF-8"
        )
    if not ends["\r"]:
        new_line = "\\n"
    elif ends["\r"] == ends["\n"] == ends["\r\n"]:
        new_line = "\\r\\n"
    else:
        new_line = ""  # mixed or old Mac line endings
    bounded = longest <= MAX_RECORD and not nul
    simple = not (problem or quote or blank) and bool(new_line) and bounded and longest > 0
    return Scan(problem, "utf-8-sig" if start else "utf-8", simple, new_line, bounded)


_LINE_END = re.compile(r"\r\n|\r|\n")


Record = tuple[int, list[str], str | None]  # (line it starts on, fields, why unreadable)


def records(handle: BinaryIO, encoding: str, bounded: bool = False) -> Iterator[Record]:
    """Every CSV record of a file as (line it starts on, fields, None), a line at a time, so
    that memory is bounded by MAX_RECORD whatever the file. A line or field longer than
    MAX_RECORD is not kept: it is given as (line, [], why). Blank lines are not records.
    A file `bounded` by its scan is read as it is, without looking at each line first."""
    handle.seek(0)
    text = io.TextIOWrapper(handle, encoding=encoding, errors="replace", newline="")
    long_lines: set[int] = set()
    reader = csv.reader(text if bounded else _bounded_lines(text, long_lines))
    previous_end = 0
    while True:
        why = None
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error:
            fields = []
            why = f"a field runs past {MAX_RECORD >> 20} MB (a quote never closed?): not read"
        first, last = previous_end + 1, reader.line_num
        previous_end = last
        long = [n for n in range(first, last + 1) if n in long_lines] if long_lines else []
        if long:
            fields, why = [], f"line {long[0]} is longer than {MAX_RECORD >> 20} MB: not read"
        if fields or why:
            yield first, fields, why
    text.detach()


def _bounded_lines(text: io.TextIOWrapper, long_lines: set[int]) -> Iterator[str]:
    """The file's lines for csv.reader, each at most MAX_RECORD characters: a longer line is
    read past a chunk at a time, noted in `long_lines` and given as an empty line, so that
    line numbers stay right. NUL characters become replacement characters."""
    number = 0
    while line := text.readline(MAX_RECORD):
        number += 1
        if not line.endswith(("\n", "\r")):
            rest = text.readline(MAX_RECORD)
            if rest:  # the line goes on past the limit
                long_lines.add(number)
                while rest and not rest.endswith(("\n", "\r")):
                    rest = text.readline(MAX_RECORD)
                line = "\n"
        yield line.replace("\x00", "\ufffd") if "\x00" in line else line


def fd_path(handle: BinaryIO) -> str:
    """A name for an open file that DuckDB can read and that holds no glob character: the
    file's own name may (`2025-0[1-9].csv`), and DuckDB would read every file it matches."""
    return f"/dev/fd/{handle.fileno()}"
