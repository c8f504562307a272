"""The commands the README shows, for tests that run them as a user would.

A command is a line of one of the README's `sh` or `cron` blocks (its trailing comment cut), or
the `ExecStart` of a systemd unit in an `ini` block. Tests take the text from here rather than
writing it again, so that they run what the README says, and tests/test_readme.py checks that
every command the README shows is run by some test.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
from pathlib import Path

README = Path(__file__).parent.parent.parent / "README.md"
_BLOCK = re.compile(r"```(sh|cron|ini)\n(.*?)```", re.S)
_COMMENT = re.compile(r"(^|\s+)#.*$")


def commands() -> list[str]:
    """Every command the README shows, in order."""
    found = []
    for kind, body in _BLOCK.findall(README.read_text(encoding="utf-8")):
        for line in body.splitlines():
            if kind == "ini":
                if line.startswith("ExecStart="):
                    found.append(line.removeprefix("ExecStart="))
                continue
            text = _COMMENT.sub("", line).strip()
            if text:
                found.append(text)
    return found


def command(start: str) -> str:
    """The one command of the README that starts with `start`."""
    matches = [c for c in commands() if c.startswith(start)]
    assert len(matches) == 1, f"README commands starting {start!r}: {matches}"
    return matches[0]


def setup_commands() -> list[str]:
    """The README's first code block: the two set-up commands it starts with."""
    first = _BLOCK.search(README.read_text(encoding="utf-8"))
    assert first is not None and first.group(1) == "sh"
    return [line for line in first.group(2).splitlines() if line.strip()]


def shell(
    text: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a command line through /bin/sh, as a terminal or cron would, with no stdin."""
    return subprocess.run(
        ["/bin/sh", "-c", text],
        cwd=cwd,
        env=env if env is not None else dict(os.environ),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def systemd_service() -> dict[str, str]:
    """The [Service] section of the README's systemd unit."""
    for kind, body in _BLOCK.findall(README.read_text(encoding="utf-8")):
        if kind == "ini" and "[Service]" in body:
            parser = configparser.ConfigParser(interpolation=None)
            parser.optionxform = str  # keys as written: User, ExecStart
            parser.read_string(body)
            return dict(parser["Service"])
    raise AssertionError("the README has no systemd service")
