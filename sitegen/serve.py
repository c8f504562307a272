"""`sitegen serve`: the built site on 127.0.0.1, rebuilt when the project's inputs change.

For authors previewing narratives and analysts checking data before the nightly run; it is not
a production server (the intranet's web server serves `output/`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Requests are not worth a line each in the terminal."""


def snapshot(paths: Iterable[Path]) -> dict[Path, tuple[int, int]]:
    """Modification time and size of every file under the watched paths."""
    state: dict[Path, tuple[int, int]] = {}
    for root in paths:
        files = [root] if root.is_file() else root.rglob("*") if root.is_dir() else []
        for path in files:
            if path.is_file():
                info = path.stat()
                state[path] = (info.st_mtime_ns, info.st_size)
    return state


def watch(
    paths: list[Path],
    rebuild: Callable[[], None],
    stop: threading.Event,
    interval: float = 1.0,
) -> None:
    """Call `rebuild` whenever a file under `paths` appears, changes or disappears."""
    seen = snapshot(paths)
    while not stop.wait(interval):
        current = snapshot(paths)
        if current != seen:
            seen = current
            rebuild()


def start_server(output: Path, port: int) -> ThreadingHTTPServer:
    """An HTTP server for `output` on 127.0.0.1 (port 0 picks a free one), in a thread."""
    handler = functools.partial(_QuietHandler, directory=str(output))
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
