"""The real-client harness in tests/support works, and fails when it should.

Every check runs on the tiny fixture site tests/fixtures/harness (which must pass all of them)
and on copies of it broken on purpose (each of which must be caught by the right check).
"""

from __future__ import annotations

import http.client
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.browser import (
    CHROMIUM,
    Served,
    axe,
    axe_results,
    chromium,
    file_url,
    format_violations,
    serve,
    visit,
)
from tests.support.validators import broken_links, nu_check

FIXTURE = Path(__file__).parent / "fixtures" / "harness"
PAGES = ["index.html", "about.html", "charts/trend.html"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module (about half a second to start)."""
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    """The fixture site, served under /scorecards/."""
    with serve(FIXTURE) as running:
        yield running


def broken_copy(tmp_path: Path, page: str, *edits: tuple[str, str]) -> Path:
    """A copy of the fixture site with `page` edited; each edit's old text must be there."""
    site = tmp_path / "site"
    shutil.copytree(FIXTURE, site)
    text = (site / page).read_text(encoding="utf-8")
    for old, new in edits:
        assert old in text, f"the fixture changed: {old!r} is not in {page}"
        text = text.replace(old, new, 1)
    (site / page).write_text(text, encoding="utf-8")
    return site


def get(url: str) -> int:
    """The HTTP status of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


# --------------------------------------------------------------------------- server


def test_serve_only_under_the_prefix_and_records_requests() -> None:
    with serve(FIXTURE) as site:
        assert site.base_url.startswith("http://127.0.0.1:")
        assert site.base_url.endswith("/scorecards/")
        assert get(site.base_url) == 200  # index.html
        assert get(site.url("charts/trend.html?x=1")) == 200
        assert get(site.url("missing.html")) == 404
        assert get(site.base_url.removesuffix("scorecards/") + "index.html") == 404
        assert get(site.url("img/")) == 404  # no directory listings
        port = int(site.base_url.rsplit(":", 1)[1].split("/", 1)[0])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/scorecards/../../test_harness.py")  # no way out
        assert connection.getresponse().status == 404
        connection.close()
        assert site.requests == [
            "/scorecards/",
            "/scorecards/charts/trend.html?x=1",
            "/scorecards/missing.html",
            "/index.html",
            "/scorecards/img/",
            "/scorecards/../../test_harness.py",
        ]
        site.clear()
        assert site.requests == []
    with pytest.raises(ValueError, match="prefix"), serve(FIXTURE, prefix="/scorecards"):
        pass


# --------------------------------------------------------------------------- links


def test_fixture_links_are_whole() -> None:
    assert broken_links(FIXTURE) == []


def test_broken_links_are_reported(tmp_path: Path) -> None:
    site = broken_copy(
        tmp_path,
        "charts/trend.html",
        ('<a href="../about.html#contact">', '<a href="../about.html#nobody">'),
        (
            "</main>",
            '<p><a href="../gone.html">gone</a> <a href="../img/">dir</a>'
            ' <a href="/scorecards/index.html">root</a> <a href="../../outside.html">out</a>'
            ' <a href="https://example.org/">ext</a> <a href="mailto:a@example.org">mail</a>'
            ' <a href="#summary">ok</a> <a href="#nowhere">frag</a>'
            ' <a href="javascript:alert(1)">js</a></p>'
            '<img src="//cdn.example.com/i.png" alt=""'
            ' srcset="../img/dot.svg 1x, ../img/no.svg 2x">'
            '<svg aria-hidden="true"><use href="#nothing"/></svg>'
            "<div style=\"background: url('../img/none.png')\"></div>\n</main>"
            '\n<script src="https://cdn.example.com/x.js"></script>',
        ),
    )
    (site / "style.css").write_text(
        '@import "fonts.css";\nbody { background: url(https://cdn.example.com/bg.png) }\n'
    )
    problems = broken_links(site)
    assert problems == [
        'charts/trend.html:41: <a href="../about.html#nobody">: missing #nobody in about.html',
        'charts/trend.html:42: <a href="../gone.html">: missing file',
        'charts/trend.html:42: <a href="../img/">: names a directory, not a file'
        " (links must name files)",
        'charts/trend.html:42: <a href="/scorecards/index.html">: root-relative URL'
        " (breaks under a sub-path and from file://)",
        'charts/trend.html:42: <a href="../../outside.html">: points outside the site',
        'charts/trend.html:42: <a href="https://example.org/">: external URL'
        " (the site must be self-contained)",
        'charts/trend.html:42: <a href="#nowhere">: missing #nowhere in charts/trend.html',
        'charts/trend.html:42: <a href="javascript:alert(1)">: javascript: URL not allowed',
        'charts/trend.html:42: <img src="//cdn.example.com/i.png">: external URL'
        " (the site must be self-contained)",
        'charts/trend.html:42: <img srcset="../img/no.svg">: missing file',
        'charts/trend.html:42: <use href="#nothing">: missing #nothing in charts/trend.html',
        'charts/trend.html:42: <div style="url(../img/none.png)">: missing file',
        'charts/trend.html:44: <script src="https://cdn.example.com/x.js">: external URL'
        " (the site must be self-contained)",
        "style.css:1: url(fonts.css): missing file",
        "style.css:2: url(https://cdn.example.com/bg.png): external URL"
        " (the site must be self-contained)",
    ]
    allowed = broken_links(site, allow_external_links=True)
    assert not any("https://example.org/" in line for line in allowed)
    assert any("https://cdn.example.com/x.js" in line for line in allowed)  # still a resource


# --------------------------------------------------------------------------- Nu HTML checker


@pytest.mark.slow
def test_fixture_is_valid_html() -> None:
    assert nu_check([FIXTURE]) == []


@pytest.mark.slow
def test_nu_reports_each_error_with_file_line_and_column(tmp_path: Path) -> None:
    site = broken_copy(
        tmp_path,
        "index.html",
        ("<title>Harness fixture — home</title>", ""),
        (' alt="A blue dot"', ""),
    )
    assert nu_check([site], root=site) == [
        "index.html:11:1: Element 'head' is missing a required instance of child element 'title'.",
        "index.html:25:4: An 'img' element must have an 'alt' attribute, except under certain"
        " conditions. For details, consult guidance on providing text alternatives for images.",
    ]
    with pytest.raises(FileNotFoundError):
        nu_check([site / "nothing.html"])


# --------------------------------------------------------------------------- browser


def page_urls(served: Served) -> list[tuple[str, str, Path | Served]]:
    """Each fixture page as (page, url, fence), from disk and from the server."""
    return [(page, file_url(FIXTURE, page), FIXTURE) for page in PAGES] + [
        (page, served.url(page), served) for page in PAGES
    ]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["file", "http"])
def test_fixture_pages_are_clean_in_chromium(browser: Browser, served: Served, how: str) -> None:
    served.clear()
    for page, url, fence in page_urls(served):
        if not url.startswith(how):
            continue
        with visit(browser, url, fence) as report:
            assert report.problems() == [], page
            assert report.requests, page
            assert report.requests[0] == url
            assert format_violations(axe(report.page)) == [], page
            if page == "index.html":
                assert report.page.locator("#js-status").text_content() == "the script ran."
            if page == "charts/trend.html":
                assert report.page.locator("svg .mark-line path").count() == 1
                assert report.page.locator("svg title").text_content() == (
                    "Readmission rate, January to June"
                )
    if how == "http":
        assert served.requests, "the server saw no request"
        assert all(path.startswith("/scorecards/") for path in served.requests), served.requests
        assert "/scorecards/style.css" in served.requests
        assert "/scorecards/app.js" in served.requests


@pytest.mark.slow
def test_the_browser_is_debian_chromium(browser: Browser) -> None:
    shown = subprocess.run(
        [str(CHROMIUM), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert f"Chromium {browser.version} " in shown.stdout


@pytest.mark.slow
def test_inspect_callback_and_no_javascript(browser: Browser) -> None:
    report = visit(
        browser,
        file_url(FIXTURE, "index.html"),
        FIXTURE,
        javascript=False,
        network_idle=False,
        inspect=lambda page: page.locator("#js-status").text_content(),
    )
    with report:
        assert report.inspected == "the script has not run."
    assert report.page.is_closed()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["file", "http"])
def test_requests_outside_the_site_are_blocked_and_recorded(
    browser: Browser, tmp_path: Path, how: str
) -> None:
    site = broken_copy(
        tmp_path,
        "index.html",
        (
            '<script src="app.js"></script>',
            '<script src="app.js"></script>\n<script src="https://cdn.example.com/x.js"></script>'
            '\n<img src="../outside.png" alt="Outside">',
        ),
    )
    (tmp_path / "outside.png").write_bytes(b"not inside the site")
    with serve(site) as running:
        if how == "file":
            url, fence, outside = (
                file_url(site, "index.html"),
                site,
                file_url(tmp_path, "outside.png"),
            )
        else:
            url, fence, outside = running.url("index.html"), running, running.url("../outside.png")
            outside = outside.replace("/scorecards/../", "/")
        with visit(browser, url, fence) as report:
            assert set(report.blocked) == {"https://cdn.example.com/x.js", outside}
            assert report.failed == []
            assert (
                report.console_errors
                == ["Failed to load resource: net::ERR_BLOCKED_BY_CLIENT.Inspector"] * 2
            )
            assert any("blocked request outside the site" in p for p in report.problems())
        assert all(path.startswith("/scorecards/") for path in running.requests)


@pytest.mark.slow
def test_dialogs_page_errors_console_errors_and_404s_are_recorded(
    browser: Browser, tmp_path: Path
) -> None:
    site = broken_copy(
        tmp_path,
        "index.html",
        (
            '<script src="app.js"></script>',
            '<script src="app.js"></script>\n<script>alert("hostile name ran");'
            ' console.error("boom"); throw new Error("kaput");</script>'
            '\n<img src="img/missing.png" alt="Missing">',
        ),
    )
    with serve(site) as running, visit(browser, running.url("index.html"), running) as report:
        assert report.dialogs == [("alert", "hostile name ran")]
        assert "boom" in report.console_errors
        assert any("kaput" in error for error in report.page_errors)
        assert report.bad_responses == [(404, running.url("img/missing.png"))]
        assert report.blocked == []
        assert report.page.locator("#js-status").text_content() == "the script ran."


@pytest.mark.slow
def test_axe_reports_missing_title_lang_and_alt(browser: Browser, tmp_path: Path) -> None:
    site = broken_copy(
        tmp_path,
        "index.html",
        ("<title>Harness fixture — home</title>", ""),
        ('<html lang="en">', "<html>"),
        (' alt="A blue dot"', ""),
    )
    with visit(browser, file_url(site, "index.html"), site) as report:
        violations = axe(report.page)
        assert {v["id"] for v in violations} == {"document-title", "html-has-lang", "image-alt"}
        image = next(v for v in violations if v["id"] == "image-alt")
        assert image["impact"] == "critical"
        assert image["nodes"][0]["target"] == ["img"]
        assert any(
            line.startswith("image-alt (critical): ") for line in format_violations(violations)
        )
        full = axe_results(report.page)  # a second run reuses the injected axe
        assert full["testEngine"]["name"] == "axe-core"


@pytest.mark.slow
def test_axe_runs_under_a_strict_content_security_policy(browser: Browser, tmp_path: Path) -> None:
    csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
    site = broken_copy(
        tmp_path,
        "index.html",
        (
            '<meta charset="utf-8">',
            f'<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{csp}">',
        ),
        (' alt="A blue dot"', ""),
    )
    with serve(site) as running, visit(browser, running.url("index.html"), running) as report:
        assert report.problems() == []  # the policy lets the site's own files load
        assert report.page.locator("#js-status").text_content() == "the script ran."
        assert [v["id"] for v in axe(report.page)] == ["image-alt"]
