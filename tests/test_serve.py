"""`sitegen serve`: serves the built site on 127.0.0.1 and rebuilds when content changes."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from sitegen.serve import snapshot


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode("utf-8")


def test_snapshot_sees_new_changed_and_removed_files(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("one", encoding="utf-8")
    before = snapshot([tmp_path])
    (tmp_path / "a.md").write_text("one more", encoding="utf-8")
    changed = snapshot([tmp_path])
    assert changed != before
    (tmp_path / "a.md").unlink()
    assert snapshot([tmp_path]) == {}


@pytest.mark.slow
def test_serve_rebuilds_when_a_narrative_changes(mini: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "from sitegen.cli import main; main()", "serve",
         "--project", str(mini), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith(f"Serving {mini / 'output'} at http://127.0.0.1:{port}/")
        page = fetch(f"http://127.0.0.1:{port}/index.html")
        assert "Mini alliance" in page
        (mini / "content").mkdir(exist_ok=True)
        (mini / "content" / "index.md").write_text(
            "---\ntitle: News\n---\nThe alliance welcomes a new partner.\n", encoding="utf-8"
        )
        deadline = time.monotonic() + 60
        while "welcomes a new partner" not in page and time.monotonic() < deadline:
            time.sleep(0.5)
            page = fetch(f"http://127.0.0.1:{port}/index.html")
        assert "welcomes a new partner" in page
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert server.stderr is not None
    assert "Traceback" not in server.stderr.read()
