"""Serve a site locally and look at it with headless Chromium, offline and on the record.

Typical use in a test module::

    @pytest.fixture(scope="module")
    def browser() -> Iterator[Browser]:
        with chromium() as b:
            yield b

    @pytest.mark.slow
    def test_home(browser: Browser, site: Path) -> None:
        with serve(site) as served, visit(browser, served.url("index.html"), served) as report:
            assert report.problems() == []
            assert report.page.locator("svg .mark-line path").count() == 24
            assert format_violations(axe(report.page)) == []
        assert all(path.startswith("/scorecards/") for path in served.requests)

Pages need `<link rel="icon" href="data:,">`: otherwise Chromium may request /favicon.ico, whose
404 is a console error that `PageReport.problems()` reports.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    Request,
    Response,
    Route,
    sync_playwright,
)

from tests.support import NODE_MODULES, node_tools

#: Debian's Chromium (`apt-get install chromium`); never `playwright install`, which needs internet.
CHROMIUM = Path("/usr/bin/chromium")

#: Launch flags. The resolver rule makes every host name except the loopback ones unresolvable,
#: which also silences Chromium's own background lookups; `EXCLUDE 127.0.0.1` is needed because IP
#: literals go through the rules too.
ARGS: tuple[str, ...] = (
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

#: axe-core rule tags that are run. Only serious and critical violations count (see `axe`).
AXE_TAGS: tuple[str, ...] = (
    "wcag2a",
    "wcag2aa",
    "wcag21a",
    "wcag21aa",
    "wcag22aa",
    "best-practice",
)
AXE_JS = NODE_MODULES / "axe-core" / "axe.min.js"

#: URL schemes a page may use without a request leaving the site.
_ALWAYS_ALLOWED = ("data:", "about:blank")


# --------------------------------------------------------------------------- local server


def _path_only(target: str) -> str:
    """The path of a request target, without query string or fragment."""
    return target.split("?", 1)[0].split("#", 1)[0]


class _Handler(SimpleHTTPRequestHandler):
    """Serves `directory` under `prefix` only, records each request path, logs nothing."""

    def __init__(
        self, *args: Any, directory: str, prefix: str, record: Callable[[str], None], **kwargs: Any
    ) -> None:
        self._prefix = prefix
        self._record = record
        super().__init__(*args, directory=directory, **kwargs)

    def parse_request(self) -> bool:
        """Record the path of every request that parses, whatever its method or outcome."""
        ok = super().parse_request()
        if ok:
            self._record(self.path)
        return ok

    def _inside(self) -> bool:
        return _path_only(self.path).startswith(self._prefix)

    def do_GET(self) -> None:
        """Serve a file under the prefix; anything else is a 404."""
        if self._inside():
            super().do_GET()
        else:
            self.send_error(404, "Outside the site's prefix")

    def do_HEAD(self) -> None:
        """Like GET, without the body."""
        if self._inside():
            super().do_HEAD()
        else:
            self.send_error(404, "Outside the site's prefix")

    def translate_path(self, path: str) -> str:
        """Map `/prefix/rest` to `directory/rest` (the base class already drops `..` parts)."""
        rest = _path_only(path)[len(self._prefix) :]
        return super().translate_path("/" + rest)

    def list_directory(self, path: str) -> None:
        """No directory listings: site links must name files."""
        self.send_error(404, "No directory listings")

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; the request log is `Served.requests`."""


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up early (Chromium cancels requests); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass
class Served:
    """A running local server; `base_url` ends with the prefix: `http://127.0.0.1:PORT/scorecards/`.

    `requests` lists the path of every request received, in order (thread-safe; a copy).
    """

    directory: Path
    base_url: str
    _log: list[str] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def requests(self) -> list[str]:
        """Every request path received so far (with query string), in arrival order; a copy."""
        with self._lock:
            return list(self._log)

    def clear(self) -> None:
        """Forget the requests recorded so far."""
        with self._lock:
            self._log.clear()

    def url(self, relative: str = "") -> str:
        """The absolute URL of a site-relative path such as `partners/p0001.html`."""
        return self.base_url + relative

    def _record(self, path: str) -> None:
        with self._lock:
            self._log.append(path)


@contextmanager
def serve(directory: Path, prefix: str = "/scorecards/") -> Iterator[Served]:
    """Serve `directory` at `http://127.0.0.1:<ephemeral port><prefix>` on a background thread.

    Requests outside the prefix get a 404, directories without an index.html get a 404 (no
    listings), and every request path is recorded in `Served.requests`. The server stops when the
    block ends.
    """
    if not (prefix.startswith("/") and prefix.endswith("/")):
        raise ValueError(f"prefix must start and end with '/': {prefix!r}")
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise FileNotFoundError(f"not a directory: {directory}")
    served = Served(directory=directory, base_url="")
    handler = functools.partial(
        _Handler, directory=str(directory), prefix=prefix, record=served._record
    )
    server = _QuietServer(("127.0.0.1", 0), handler)
    served.base_url = f"http://127.0.0.1:{server.server_address[1]}{prefix}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="sitegen-test-server"
    )
    thread.daemon = True
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --------------------------------------------------------------------------- browser


@contextmanager
def chromium(*, executable: Path = CHROMIUM, args: Sequence[str] = ARGS) -> Iterator[Browser]:
    """Launch headless Debian Chromium through Playwright's sync API; closed when the block ends.

    Starting it takes about half a second, so share one per test module (a module-scoped fixture).
    The sync API cannot run inside a running asyncio loop: async tests need `playwright.async_api`.
    """
    if not executable.exists():
        raise RuntimeError(
            f"{executable} not found: install Debian's browser with `apt-get install -y chromium`"
            " (never `playwright install`, which downloads one and fails offline)"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=list(args)
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageReport:
    """What one page did while loading in `visit`. Lists keep growing while the page is open.

    `requests` holds every URL the page asked for (allowed or not); `blocked` the ones outside the
    site, which were aborted; `failed` the allowed ones that failed anyway, as `(url, error)`;
    `bad_responses` the allowed ones answered with HTTP status >= 400, as `(status, url)`;
    `console` every console message as `(type, text)`; `page_errors` uncaught exceptions;
    `dialogs` every alert/confirm/prompt/beforeunload as `(type, message)` (each was dismissed).
    """

    url: str
    page: Page
    context: BrowserContext = field(repr=False)
    requests: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    bad_responses: list[tuple[int, str]] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[tuple[str, str]] = field(default_factory=list)
    #: What the `inspect` callback given to `visit` returned, if there was one.
    inspected: Any = None

    @property
    def console_errors(self) -> list[str]:
        """The text of each console message of type "error" (blocked requests log one too)."""
        return [text for kind, text in self.console if kind == "error"]

    def problems(self) -> list[str]:
        """Everything that should not happen on a good page, one line each; `[]` when clean."""
        return [
            *(f"blocked request outside the site: {url}" for url in self.blocked),
            *(f"failed request: {url} ({error})" for url, error in self.failed),
            *(f"HTTP {status}: {url}" for status, url in self.bad_responses),
            *(f"console error: {text}" for text in self.console_errors),
            *(f"page error: {text}" for text in self.page_errors),
            *(f"dialog {kind}: {message}" for kind, message in self.dialogs),
        ]

    def close(self) -> None:
        """Close the page and its browser context (idempotent)."""
        with contextlib.suppress(Error):  # already closed, e.g. with the browser
            self.context.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _allowed(url: str, root: Path | str) -> bool:
    """Is `url` inside the site: a file under the `root` directory, or under the `root` URL?"""
    if url.startswith(_ALWAYS_ALLOWED):
        return True
    if isinstance(root, str):
        return url.startswith(root)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return False
    target = Path(urllib.request.url2pathname(parts.path)).resolve()
    return target.is_relative_to(root)


def visit(
    browser: Browser,
    url: str,
    root: Path | str | Served,
    *,
    inspect: Callable[[Page], Any] | None = None,
    wait_for: str | None = None,
    javascript: bool = True,
    network_idle: bool = True,
    timeout_ms: float = 15_000,
) -> PageReport:
    """Open `url` in a fresh context and page, with the network fenced to the site.

    `root` says what the site is: its directory (for file:// pages), its base URL, or the `Served`
    object. Requests for `data:` URLs and inside the site go ahead; anything else is aborted and
    listed in `PageReport.blocked`. Waits for the load event, then for network idle (no request
    for 500 ms, so about 0.5 s a page; `network_idle=False` skips it when the page fetches nothing
    after load), then for the `wait_for` selector if given, then calls `inspect(page)` and keeps its
    result in `PageReport.inspected`. `javascript=False` shows the page as it is without scripts.

    The page stays open for DOM queries (`report.page`): use the report as a context manager, or
    call `report.close()`, so that contexts do not pile up until the browser closes.
    """
    fence = root.base_url if isinstance(root, Served) else root
    if isinstance(fence, Path):
        fence = fence.resolve()
    context = browser.new_context(java_script_enabled=javascript, service_workers="block")
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    report = PageReport(url=url, page=page, context=context)

    def route(route: Route) -> None:
        request = route.request
        if _allowed(request.url, fence):
            route.continue_()
        else:
            report.blocked.append(request.url)
            route.abort("blockedbyclient")

    def on_failed(request: Request) -> None:
        if _allowed(request.url, fence):  # blocked ones are already listed
            report.failed.append((request.url, request.failure or "unknown error"))

    def on_response(response: Response) -> None:
        if response.status >= 400:
            report.bad_responses.append((response.status, response.url))

    def on_console(message: ConsoleMessage) -> None:
        report.console.append((message.type, message.text))

    def on_dialog(dialog: Dialog) -> None:
        report.dialogs.append((dialog.type, dialog.message))
        dialog.dismiss()

    context.route("**/*", route)
    page.on("request", lambda request: report.requests.append(request.url))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda error: report.page_errors.append(str(error)))
    page.on("dialog", on_dialog)
    try:
        page.goto(url, wait_until="load")
        if network_idle:
            page.wait_for_load_state("networkidle")
        if wait_for is not None:
            page.wait_for_selector(wait_for)
        if inspect is not None:
            report.inspected = inspect(page)
    except BaseException:
        report.close()
        raise
    return report


def file_url(site: Path, relative: str = "") -> str:
    """The file:// URL of a site-relative path, e.g. `file_url(out, "partners/p0001.html")`."""
    return (Path(site).resolve() / relative).as_uri()


# --------------------------------------------------------------------------- accessibility


@functools.cache
def _axe_source() -> str:
    node_tools()
    if not AXE_JS.is_file():
        raise RuntimeError(
            f"{AXE_JS} not found: run `npm ci --no-audit --no-fund --prefix tests/tools`"
        )
    return AXE_JS.read_text(encoding="utf-8")


def axe_results(page: Page, tags: Sequence[str] = AXE_TAGS) -> dict[str, Any]:
    """Run axe-core on the open page and return its whole result (violations, incomplete, ...).

    The source is evaluated through the DevTools protocol, so a page's Content-Security-Policy
    cannot block it. Run it after charts have drawn: empty chart groups are violations.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    result: dict[str, Any] = page.evaluate(
        """(tags) => axe.run(document, {
            runOnly: {type: 'tag', values: tags},
            resultTypes: ['violations'],
        })""",
        list(tags),
    )
    return result


def axe(
    page: Page,
    *,
    tags: Sequence[str] = AXE_TAGS,
    impacts: Sequence[str] = ("serious", "critical"),
) -> list[dict[str, Any]]:
    """The axe-core violations on the open page whose impact is serious or critical.

    Each is axe's dict: `id`, `impact`, `tags`, `help`, `helpUrl`, `nodes` (each with `target`,
    `html`, `failureSummary`). Rules tagged best-practice run too and count when serious or
    critical; minor and moderate findings are left out (see `axe_results` for everything).
    """
    violations = axe_results(page, tags)["violations"]
    return [v for v in violations if v.get("impact") in impacts]


def format_violations(violations: Sequence[dict[str, Any]]) -> list[str]:
    """One readable line per violation, for assertion messages: `id (impact): help: targets`."""
    lines = []
    for v in violations:
        targets = ", ".join(" ".join(map(str, node["target"])) for node in v["nodes"][:5])
        more = f" and {len(v['nodes']) - 5} more" if len(v["nodes"]) > 5 else ""
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}: {targets}{more}")
    return lines
