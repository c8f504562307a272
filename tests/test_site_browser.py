"""The site in a real browser and real validators: offline, accessible, valid, linked.

The mini project's site has every page type; each is opened in Debian's Chromium from disk and
from a local server under /scorecards/, checked with axe-core, and all pages with the Nu HTML
checker and the internal link checker.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import Browser

from sitegen.cli import main
from tests.support.browser import AXE_TAGS, axe, chromium, file_url, format_violations, serve, visit
from tests.support.validators import broken_links, nu_check

FIXTURES = Path(__file__).parent / "fixtures"
PAGE_TYPES = {
    "index.html": 2,  # heatmap, ranking
    "partners/north-hosp.html": 4,  # four trend charts (and four sparklines in the table)
    "kpis/readmit_30d.html": 2,  # alliance trend, distribution
    "data-quality.html": 0,
    "methodology.html": 0,
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini project's site, built once for the module."""
    root = tmp_path_factory.mktemp("browser")
    project = root / "mini"
    shutil.copytree(FIXTURES / "mini", project)
    out = root / "site"
    result = CliRunner().invoke(
        main, ["build", "--project", str(project), "--output", str(out), "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    out.chmod(0o755)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


def count_marks(page) -> int:
    """Vega draws marks as paths (lines, areas, rules) or symbols inside `.mark-*` groups."""
    return page.locator("figure.chart svg [class^='mark-'] path").count()


@pytest.mark.parametrize("page", PAGE_TYPES)
def test_page_from_disk_makes_no_outside_request(browser: Browser, site: Path, page: str) -> None:
    with visit(browser, file_url(site, page), site) as report:
        assert report.problems() == []
        figures = report.page.locator("figure.chart").count()
        assert figures == PAGE_TYPES[page]
        for i in range(figures):
            figure = report.page.locator("figure.chart").nth(i)
            assert figure.locator("svg [class^='mark-'] path").count() > 0, i
        sparklines = report.page.locator("td.spark svg")
        if page.startswith("partners/"):
            assert sparklines.count() == figures  # one in the table per trend chart
        for i in range(sparklines.count()):
            # the latest value's dot is drawn inside the 120 × 28 px drawing
            spark, dot = sparklines.nth(i).bounding_box(), sparklines.nth(i).locator("circle")
            assert spark and (spark["width"], spark["height"]) == (120, 28), i
            box = dot.bounding_box()
            assert box and spark["x"] < box["x"] < spark["x"] + 120, i
        # the shipped Inter, not a machine font, sets the text (and the charts' text)
        used = report.page.evaluate(
            "document.fonts.ready.then(fs => [...fs].filter(f => f.family === 'Inter'"
            " && f.status === 'loaded').map(f => f.weight))"
        )
        assert "400" in used


@pytest.mark.parametrize("page", PAGE_TYPES)
def test_page_over_http_is_clean_and_accessible(browser: Browser, site: Path, page: str) -> None:
    with serve(site) as served:
        with visit(browser, served.url(page), served) as report:
            assert report.problems() == []
            assert format_violations(axe(report.page)) == []
            if PAGE_TYPES[page]:
                assert count_marks(report.page) > 0
        assert served.requests, "the page was fetched"
        assert all(path.startswith("/scorecards/") for path in served.requests)


def test_charts_become_interactive_with_javascript(browser: Browser, site: Path) -> None:
    with (
        serve(site) as served,
        visit(
            browser,
            served.url("partners/north-hosp.html"),
            served,
            wait_for="#chart-trend-readmit_30d .vega-embed svg",
        ) as report,
    ):
        assert report.problems() == []
        chart = report.page.locator("#chart-trend-readmit_30d .vega-embed svg")
        assert chart.count() == 1


def test_every_page_is_valid_html(site: Path) -> None:
    assert nu_check([site], root=site) == []


def test_no_broken_internal_links(site: Path) -> None:
    assert broken_links(site) == []


@pytest.fixture(scope="module")
def sample_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample project (40 partners, 30 KPIs), built once."""
    root = tmp_path_factory.mktemp("sample")
    runner = CliRunner()
    assert runner.invoke(main, ["init", str(root / "project")]).exit_code == 0
    out = root / "site"
    result = runner.invoke(
        main, ["build", "--project", str(root / "project"), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def site_pages(site: Path) -> list[str]:
    """The pages of a site: the live ones and each archive's own list of periods (an archive's
    other pages are the live site's own files, hard-linked)."""
    pages = [p.relative_to(site).as_posix() for p in site.rglob("*.html")]
    return sorted(p for p in pages if not p.startswith("periods/") or p.endswith("/periods.html"))


# the dashboard, 40 partners, 30 KPIs, data quality and methodology, the review and the
# periods, and the archive of the period's own periods.html
SAMPLE_PAGES = 1 + 40 + 30 + 2 + 2 + 1


def test_every_sample_page_is_valid_and_linked(sample_site: Path) -> None:
    assert len(site_pages(sample_site)) == SAMPLE_PAGES
    # the archive too: its pages are the live ones, its links must lead within it
    assert len(list(sample_site.rglob("*.html"))) == SAMPLE_PAGES + 1 + 40 + 30 + 2 + 1
    assert nu_check([sample_site], root=sample_site) == []
    assert broken_links(sample_site) == []


def test_interactive_chart_draws_what_the_static_one_shows(
    browser: Browser, sample_site: Path
) -> None:
    # the interactive chart is drawn from the spec the static SVG was drawn from: a marker for
    # each month with a value, and a marker's tooltip reads like the data table beside it
    page = "partners/alderbrook-medical.html"
    static = (sample_site / page).read_text(encoding="utf-8")
    figure = static.split('id="chart-trend-readmit_30d"')[1].split("</figure>")[0]
    markers = re.search(r'<g class="mark-symbol[^>]*>(.*?)</g>', figure)
    assert markers is not None
    rows = re.findall(r'<tr><th scope="row">([^<]+)</th><td>([^<]+)</td>', figure)
    shown = [(period, value) for period, value in rows if value != "–"]
    assert markers.group(1).count("<path") == len(shown) > 12
    chart = "#chart-trend-readmit_30d .vega-embed svg"
    with (
        serve(sample_site) as served,
        visit(browser, served.url(page), served, wait_for=chart) as report,
    ):
        assert report.problems() == []
        points = report.page.locator(f"{chart} .mark-symbol path")
        assert points.count() == len(shown)
        points.last.hover()
        tooltip = report.page.locator("#vg-tooltip-element")
        tooltip.wait_for(state="visible")
        period, value = shown[-1]
        assert period in tooltip.inner_text() and value in tooltip.inner_text()


# A laptop and a phone (an iPhone 14's CSS width).
WIDTHS = {"1366": (1366, 900), "390": (390, 844)}
EVERY_IMPACT = ("minor", "moderate", "serious", "critical")
# Text as the reader sees it, in CSS px: an SVG's text scaled as the SVG is drawn. Hidden text
# (display: none, a closed <details>) is not seen and does not count.
SMALL_TEXT = """(least) => {
  const small = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, text = node.textContent.trim();
    const el = node.parentElement;
    if (!text || !el || !el.checkVisibility() || !el.getClientRects().length) continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    const svg = el.closest("svg");
    if (svg) {
      const drawn = svg.getBoundingClientRect().width;
      const own = svg.viewBox.baseVal && svg.viewBox.baseVal.width
        ? svg.viewBox.baseVal.width : svg.width.baseVal.value;
      size *= drawn / own;
    }
    const seen = `${el.tagName} "${text.slice(0, 40)}" ${size.toFixed(1)}px`;
    if (size < least - 0.01) small.push(seen);
  }
  return small;
}"""


def test_every_sample_page_fits_both_screens_and_passes_axe(
    browser: Browser, sample_site: Path
) -> None:
    """Every page of the sample (each partner's data differs: gaps, suppressed values,
    quarterly KPIs), at a laptop's and a phone's width: no sideways scrolling, no text under
    12 px, and no axe-core violation of any impact, under the WCAG 2.2 AA rules and axe's
    best practices."""
    pages = site_pages(sample_site)
    assert len(pages) == SAMPLE_PAGES
    found: dict[str, list[str]] = {}
    with serve(sample_site) as served:
        for page in pages:
            with visit(browser, served.url(page), served) as report:
                problems = report.problems()
                for width, (w, h) in WIDTHS.items():
                    report.page.set_viewport_size({"width": w, "height": h})
                    overflow = report.page.evaluate(
                        "document.documentElement.scrollWidth"
                        " - document.documentElement.clientWidth"
                    )
                    if overflow > 0:
                        problems.append(f"{width} px: scrolls sideways by {overflow} px")
                    small = report.page.evaluate(SMALL_TEXT, 12)[:5]
                    problems += [f"{width} px: {line}" for line in small]
                    violations = axe(report.page, tags=AXE_TAGS, impacts=EVERY_IMPACT)
                    problems += [f"{width} px: {v}" for v in format_violations(violations)]
                if problems:
                    found[page] = problems
    assert found == {}


def test_keyboard_focus_is_always_visible(browser: Browser, site: Path) -> None:
    """Tab through a partner page: every link, button and scrolling region that takes focus
    shows a ring of 3 px (WCAG 2.4.7), and the first stop is the skip link."""
    with visit(browser, file_url(site, "partners/north-hosp.html"), site) as report:
        seen = []
        for _ in range(25):
            report.page.keyboard.press("Tab")
            seen.append(
                report.page.evaluate(
                    "(() => { const e = document.activeElement, s = getComputedStyle(e);"
                    " return [e.tagName, e.textContent.trim().slice(0, 30), s.outlineStyle,"
                    " s.outlineWidth]; })()"
                )
            )
        assert seen[0][:2] == ["A", "Skip to content"]
        assert all(style == "solid" and width == "3px" for _, _, style, width in seen), seen


def test_the_small_text_check_sees_small_text(browser: Browser, site: Path) -> None:
    """The check above can fail: a page with an 11 px note and a chart drawn at half its size."""
    with visit(browser, file_url(site, "index.html"), site) as report:
        assert report.page.evaluate(SMALL_TEXT, 12) == []
        report.page.evaluate(
            "document.querySelector('h1').style.fontSize = '11px';"
            "document.querySelector('.chart-svg svg').style.width = '50%'"
        )
        small = report.page.evaluate(SMALL_TEXT, 12)
        assert any(line.startswith('H1 "Alliance scorecard') for line in small)
        assert any(line.startswith("text ") for line in small)  # the chart's own text


@pytest.fixture(scope="module")
def partner_site(sample_site: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sample partner's own site (sitegen build --partner)."""
    project = sample_site.parent / "project"
    out = tmp_path_factory.mktemp("partner") / "site"
    result = CliRunner().invoke(
        main,
        [
            "build",
            "--project",
            str(project),
            "--partner",
            "alderbrook-medical",
            "--output",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_a_partner_site_is_valid_linked_and_accessible(
    browser: Browser, partner_site: Path
) -> None:
    assert nu_check([partner_site], root=partner_site) == []
    assert broken_links(partner_site) == []
    pages = ("index.html", "partners/alderbrook-medical.html", "kpis/readmit_30d.html")
    with serve(partner_site) as served:
        for page in pages:
            with visit(browser, served.url(page), served) as report:
                assert report.problems() == []
                for w, h in WIDTHS.values():
                    report.page.set_viewport_size({"width": w, "height": h})
                    violations = axe(report.page, tags=AXE_TAGS, impacts=EVERY_IMPACT)
                    assert format_violations(violations) == [], (page, w)
        with visit(browser, served.url("kpis/readmit_30d.html"), served) as report:
            # where the partner stands among its peers: a chart of the peer statistics
            assert report.page.locator("#chart-peers svg [class^='mark-'] path").count() > 0


HOSTILE = (
    "<script>alert('script')</script><img src=x onerror=\"alert('img')\">"
    "<svg onload=\"alert('svg')\"></svg>\"'><b onmouseover=alert('hover')>"
)
HOSTILE_NARRATIVE = (
    f"Text {HOSTILE}\n\n[js](javascript:alert('js'))"
    " [data](data:text/html,<script>alert(1)</script>)"
    ' <a href="#" onclick="alert(\'click\')">x</a> <iframe src="javascript:alert(\'frame\')">'
    "</iframe> {{ partner.name if partner is defined else '' }}\n"
)


@pytest.fixture(scope="module")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini project with script, event handlers, javascript: and data: URLs in a partner's
    and a KPI's name and in every kind of narrative."""
    root = tmp_path_factory.mktemp("hostile")
    project = root / "mini"
    shutil.copytree(FIXTURES / "mini", project)
    partners = project / "data" / "partners.csv"
    name = '"North ' + HOSTILE.replace('"', '""') + '"'
    partners.write_text(partners.read_text().replace("North General Hospital", name))
    kpis = project / "data" / "kpis.csv"
    kpi = '"Readmissions ' + HOSTILE.replace('"', '""') + '"'
    kpis.write_text(kpis.read_text().replace("30-day readmission rate", kpi))
    for path in ("index.md", "partners/north-hosp.md", "kpis/readmit_30d.md"):
        (project / "content" / path).parent.mkdir(parents=True, exist_ok=True)
        (project / "content" / path).write_text(HOSTILE_NARRATIVE)
    out = root / "site"
    result = CliRunner().invoke(
        main, ["build", "--project", str(project), "--output", str(out), "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("page", PAGE_TYPES)
def test_hostile_names_and_narratives_never_run(
    browser: Browser, hostile_site: Path, page: str
) -> None:
    with serve(hostile_site) as served, visit(browser, served.url(page), served) as report:
        report.page.mouse.move(200, 200)
        for link in report.page.locator("main a").all():
            link.hover()
        assert report.problems() == []  # no dialog, no console error, no page error
        active = report.page.evaluate(
            """() => [...document.querySelectorAll('*')].flatMap(e => [...e.attributes]
                 .filter(a => a.name.startsWith('on')
                     || /^\\s*(javascript|data):/i.test(a.value) && !(e.rel === 'icon'))
                 .map(a => e.tagName + ' ' + a.name + '=' + a.value))"""
        )
        assert active == []
        # the charts' specs are JSON in <script type="application/json">, escaped by tojson
        executable = "main script:not([type='application/json']), main iframe, main img"
        assert report.page.locator(executable).count() == 0
        if page == "partners/north-hosp.html":  # the name is shown as the text it is
            assert report.page.locator("h1").inner_text() == "North " + HOSTILE
