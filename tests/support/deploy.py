"""A server as users deploy to: Debian's nginx with the README's block, its workers running as
an unprivileged user, and a folder like /srv that every user may enter."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.support.readme import README


def readme_nginx_block() -> str:
    """The README's nginx server block, exactly as written there."""
    blocks = re.findall(r"```nginx\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "the README has one nginx server block"
    return blocks[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def worker_user() -> str | None:
    """The unprivileged user nginx's workers run as: Debian's www-data (its default), or
    nobody. None when the tests do not run as root: the workers are then this unprivileged
    user already."""
    if os.geteuid() != 0:
        return None
    for name in ("www-data", "nobody"):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            continue
    pytest.fail("no unprivileged user (www-data or nobody) to run nginx's workers as")


def children_uids(parent: int) -> list[int]:
    """The uids of a process's children (nginx's workers)."""
    uids = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        if fields.get("PPid", "").strip() == str(parent):
            uids.append(int(fields["Uid"].split()[0]))
    return uids


@contextmanager
def nginx(block: str, scratch: Path) -> Iterator[str]:
    """Debian's nginx on 127.0.0.1 with the given server block, its workers running as an
    unprivileged user as on a real server; yields the site's base URL. Fails if a worker
    runs as root or was refused a file."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).is_file():
        pytest.fail("nginx is missing: apt-get install -y nginx (see .ci/run)")
    port = free_port()
    block = block.replace("listen 80;", f"listen 127.0.0.1:{port};")
    temp = "\n".join(
        f"    {kind}_temp_path {scratch}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = worker_user()
    conf = scratch / "nginx.conf"
    conf.write_text(
        (f"user {user};\n" if user else "")
        + f"worker_processes 1;\npid {scratch}/nginx.pid;\nerror_log {scratch}/error.log;\n"
        + "events {}\nhttp {\n    include /etc/nginx/mime.types;\n"
        + f"    access_log {scratch}/access.log;\n{temp}\n{block}\n}}\n"
    )
    server = subprocess.Popen(
        [binary, "-p", str(scratch), "-c", str(conf), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                time.sleep(0.05)
        # the master listens before it forks its worker, and a worker just forked is still
        # root until it switches to its user: wait for that (up to 5 s) before judging it
        workers: list[int] = []
        for _ in range(100):
            workers = children_uids(server.pid)
            if workers and 0 not in workers:
                break
            time.sleep(0.05)
        assert workers and 0 not in workers, f"nginx workers must not be root: {workers}"
        yield f"http://127.0.0.1:{port}/scorecards/"
    finally:
        server.terminate()
        server.wait(timeout=10)
    log = (scratch / "error.log").read_text() if (scratch / "error.log").exists() else ""
    assert "Permission denied" not in log, log


@contextmanager
def srv_folder() -> Iterator[Path]:
    """A folder like /srv: every user may enter it, as a server's own folders allow (pytest's
    temporary folders are 0700, which would hide the site from the web server's user)."""
    folder = Path(tempfile.mkdtemp(prefix="sitegen-srv-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def fetched_in_page(page: Page, url: str) -> tuple[int, str, str]:
    """Status, content type and first five bytes of `url` as the page's own fetch gets it:
    the browser asks the server, as a click on the link would."""
    status, kind, start = page.evaluate(
        """async url => {
            const r = await fetch(url);
            const body = new Uint8Array(await r.arrayBuffer());
            return [r.status, r.headers.get('content-type'),
                    String.fromCharCode(...body.slice(0, 5))];
        }""",
        url,
    )
    return status, kind, start
