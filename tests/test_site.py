"""The site as files: every page, figures against the model, downloads, determinism."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen.cli import main
from sitegen.downloads import safe_cell
from sitegen.model import SeriesPoint
from sitegen.views import alliance as alliance_views
from sitegen.views.partner import trend_table

PAGES = [
    "index.html",
    "partners/north-hosp.html",
    "partners/south-snf.html",
    "partners/east-clinic.html",
    "kpis/readmit_30d.html",
    "kpis/tcoc_pmpm.html",
    "kpis/hcahps_rating_9_10.html",
    "kpis/operating_margin.html",
    "kpis/appt_lead_days.html",
    "data-quality.html",
    "methodology.html",
    "review.html",
    "periods.html",
]


class Text(HTMLParser):
    """The visible text of a page (scripts and styles left out), whitespace folded."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.skip += tag in ("script", "style")

    def handle_endtag(self, tag: str) -> None:
        self.skip -= tag in ("script", "style")

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)

    @classmethod
    def of(cls, html: str) -> str:
        parser = cls()
        parser.feed(html)
        return re.sub(r"\s+", " ", " ".join(parser.parts))


def build(project: Path, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        main, ["build", "--project", str(project), "--output", str(out), "--jobs", "1", *extra]
    )
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output


@pytest.fixture
def site(mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01 00:00 UTC
    out = tmp_path / "out"
    build(mini, out)
    return out


def page_text(site: Path, page: str) -> str:
    return Text.of((site / page).read_text(encoding="utf-8"))


def test_every_page_is_written(site: Path) -> None:
    for page in PAGES:
        assert (site / page).is_file(), page
    manifest = json.loads((site / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["period"] == "2025-09"
    assert manifest["rows"] == {"read": 6, "accepted": 6, "rejected": 0}
    assert manifest["partners"] == 3
    assert manifest["generated_at"] == "2026-01-01T00:00:00+00:00"
    assert list(manifest["timings"]) == [
        *("load", "kpis", "model", "plan", "views", "drawing", "pages", "typesetting"),
    ]
    # and the CPU seconds the build's process spent in each of them (drawing in-process here)
    assert list(manifest["timings_cpu"]) == list(manifest["timings"])
    assert all(seconds >= 0 for seconds in manifest["timings_cpu"].values())
    assert manifest["timings_cpu"]["drawing"] > 0
    # every chart a page shows is there, drawn (a trend chart's frame holds its SVG); a chart
    # shown twice (an identical spec) is drawn once, and none is drawn that no page shows
    pages = [(site / name).read_text() for name in PAGES]
    framed = [c for page in pages for c in re.findall(r'<div class="chart-svg"[^>]*>(.{5})', page)]
    assert framed and all(chart == "<svg " for chart in framed)
    shown = sum(page.count('<svg focusable="false"') for page in pages)
    assert 0 < manifest["charts"]["drawn"] <= shown
    assert sorted(manifest["pages"]) == sorted(PAGES)
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
    # the archive of the period (periods/2025-09/) is listed apart, not file by file
    archived = {name for name in on_disk if name.startswith("periods/")}
    assert archived and listed == on_disk - {"manifest.json"} - archived
    assert manifest["periods"] == [
        {
            "period": "2025-09",
            "generated_at": "2026-01-01T00:00:00+00:00",
            "path": "periods/2025-09/index.html",
        }
    ]


def test_partner_page_figures(site: Path) -> None:
    text = page_text(site, "partners/north-hosp.html")
    # composite (2 × 50 + 0 + 50 + 0) / 5 = 30.0, rank 1 of 2 (see test_model)
    # readmission 142 / 1000 = 14.2% against the partner's commitment of 14.0%; its Wilson
    # interval: p = 0.142, z²/d = 0.0038416, centre (0.142 + 0.0019208) / 1.0038416 = 0.14338,
    # half-width 1.96 × √(0.142 × 0.858 / 1000 + 0.00000096) / 1.0038416 = 0.02164: 12.2% to
    # 16.5%, which holds 14.0%: "within noise"
    assert (
        "30-day readmission rate ! at risk within noise 14.2% 95% interval 12.2% to 16.5% "
        "14.0% own commitment 13.9% 2025-09"
    ) in text
    # the commitments block opens the page: its own commitment, 14.2 − 14.0 = +0.2 points on
    # the wrong side (lower is better), in force from 2025-07 (targets.csv, open-ended)
    commitments = text[text.index("Commitments") : text.index("Composite score")]
    assert (
        "Own commitments, 2025-09, missed first KPI Status Value Target Gap Window "
        "30-day readmission rate ! at risk 14.2% 14.0% +0.2 pts, worse 2025-07 onwards"
    ) in commitments
    # against the alliance targets: cost and margin missed, HCAHPS (71.3 against 72, within
    # 5 % = 3.6) at risk, in that order
    assert (
        "Missed or at risk against the alliance target KPI Status Value Target Gap "
        "Total cost of care PMPM ✗ missed $1,013 $950 +$63, worse "
        "Operating margin ✗ missed −2.5% 3.0% −5.5 pts, worse "
        "Overall rating 9-10 ! at risk 71.3% 72.0% −0.7 pts, worse"
    ) in commitments
    # the composite tiles: 3 × 30 = 90 is under a third of the points: off track
    assert "Standing ✗ off track Score (0–100) 30.0 scored on 4 of 4 KPIs Rank 1 of 2" in text
    assert "Total cost of care PMPM ✗ missed $1,013 $950 – 2025-09" in text
    assert "Operating margin ✗ missed −2.5% 3.0% 4.1% 2025-09" in text
    assert "In 2025-09, North General Hospital scored 30.0 out of 100, ranked 1 of 2." in text


def test_suppressed_value_is_never_shown(site: Path) -> None:
    text = page_text(site, "partners/south-snf.html")
    assert "S suppressed" in text
    assert "20.0%" not in text  # 8 / 40
    data = json.loads((site / "partners/south-snf.json").read_text(encoding="utf-8"))
    readmit = data["kpis"][0]
    assert (readmit["value"], readmit["numerator"], readmit["denominator"]) == (None, None, None)
    assert readmit["status"] == "suppressed" and readmit["suppression"] == "small_cell"


def test_json_download_matches_the_schema(site: Path) -> None:
    data = json.loads((site / "partners/north-hosp.json").read_text(encoding="utf-8"))
    assert data["partner"] == {
        "partner_id": "north-hosp",
        "name": "North General Hospital",
        "partner_type": "hospital",
        "region": "North",
    }
    assert data["period"] == "2025-09"
    # the only hospital ranked: 1 of 1 within its type; 3 × 30 = 90 < 100: off track
    assert data["composite"] == {
        "score": 30.0,
        "rank": 1,
        "of": 2,
        "type_rank": 1,
        "type_of": 1,
        "standing": "off_track",
    }
    keys = {
        "kpi_id", "name", "category", "unit", "direction", "value", "numerator", "denominator",
        "target", "target_source", "benchmark", "peer_median", "peer_percentile", "status",
        "suppression", "footnote", "partial", "change_prev", "change_yoy",
        "ci_low", "ci_high", "within_noise", "spc", "funnel",
    }  # fmt: skip
    for kpi in data["kpis"]:
        assert set(kpi) == keys
        for name in ("value", "numerator", "denominator", "target", "benchmark"):
            assert kpi[name] is None or isinstance(kpi[name], int | float)
    readmit = data["kpis"][0]
    assert readmit["value"] == pytest.approx(14.2)
    assert (readmit["numerator"], readmit["denominator"]) == (142, 1000)
    assert (readmit["target"], readmit["target_source"]) == (14, "partner")
    # its Wilson interval (worked out in test_partner_page_figures); one month of data: no
    # SPC reading; three partners: the alliance figure, the funnel's centre, is withheld
    assert (readmit["ci_low"], readmit["ci_high"]) == (
        pytest.approx(12.174, abs=1e-3),
        pytest.approx(16.501, abs=1e-3),
    )
    assert (readmit["within_noise"], readmit["spc"], readmit["funnel"]) == (True, None, None)
    assert "NaN" not in (site / "partners/north-hosp.json").read_text(encoding="utf-8")


def test_csv_download(site: Path) -> None:
    with (site / "partners/north-hosp.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["kpi_id"] for r in rows] == [
        "readmit_30d", "tcoc_pmpm", "hcahps_rating_9_10", "operating_margin",
    ]  # fmt: skip
    assert rows[0]["status"] == "at_risk"
    assert float(rows[0]["value"]) == pytest.approx(14.2)


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("North General", "North General"),
    ],
)
def test_csv_cells_cannot_start_a_formula(cell: str, safe: str) -> None:
    assert safe_cell(cell) == safe


def test_formula_in_a_partner_name_is_neutralised(mini: Path, tmp_path: Path) -> None:
    partners = mini / "data" / "partners.csv"
    partners.write_text(
        partners.read_text(encoding="utf-8").replace(
            "North General Hospital", '"=HYPERLINK(""http://evil.example/"",""x"")"'
        ),
        encoding="utf-8",
    )
    build(mini, tmp_path / "out")
    with (tmp_path / "out/partners/north-hosp.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["partner_name"] == '\'=HYPERLINK("http://evil.example/","x")'


def test_kpi_page_ranks_partners(site: Path) -> None:
    text = page_text(site, "kpis/readmit_30d.html")
    assert "sum of numerators ÷ sum of denominators" in text
    assert "North General Hospital 14.2% 14.0% ! at risk" in text


def test_data_quality_page_lists_files_and_coverage(site: Path) -> None:
    text = page_text(site, "data-quality.html")
    assert "6 rows read from 2 files: 6 accepted, 0 rejected" in text
    assert "data/metrics/2025-09.csv 5 5 0 –" in text
    assert "No row was rejected." in text


def test_every_chart_has_a_text_alternative_and_a_table(site: Path) -> None:
    html = (site / "partners/north-hosp.html").read_text(encoding="utf-8")
    figures = re.findall(r'<figure class="chart".*?</figure>', html, re.S)
    assert len(figures) == 4
    for figure in figures:
        assert re.search(r'role="img" aria-label="[^"]+"', figure)
        assert "<svg" in figure
        assert "<table>" in figure


def test_links_are_relative_and_name_files(site: Path) -> None:
    for page in PAGES:
        html = (site / page).read_text(encoding="utf-8")
        for link in re.findall(r'(?:href|src)="([^"]*)"', html):
            assert not link.startswith(("http:", "https:", "//", "/")), (page, link)
            assert not link.endswith("/"), (page, link)


def test_same_input_same_bytes(mini: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    build(mini, tmp_path / "a")
    build(mini, tmp_path / "b")
    files = sorted(
        p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file()
    )
    # manifest.json records the run itself (stage timings, charts drawn or reused), and so
    # does the archive's copy of it
    files.remove(Path("manifest.json"))
    files.remove(Path("periods/2025-09/manifest.json"))
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_dashboard_headline_withholds_figures_of_fewer_than_5_partners(site: Path) -> None:
    text = page_text(site, "index.html")
    # readmit_30d 2025-09: north's 142/1000 and south-snf's 8/40 (suppressed) both pool, but 2
    # partners are fewer than 5: withheld (it used to pool north alone and show its 14.2 %)
    assert (
        "30-day readmission rate S suppressed withheld: fewer than 5 partners report it 15.0% "
        "13.9% 2025-09 2 (1 suppressed)" in text
    )
    # appt_lead_days 2025-09: east-clinic's 18.5 days alone → withheld too
    assert (
        "Days to new-patient appointment S suppressed withheld: fewer than 5 partners report "
        "it 14.0 days 31.0 days 2025-09 1" in text
    )


def test_project_template_overrides_the_packaged_one(mini: Path, tmp_path: Path) -> None:
    override = mini / "templates" / "site" / "methodology.html"
    override.parent.mkdir(parents=True)
    override.write_text(
        '{% extends "site/base.html" %}{% block main %}<h1>Our own rules</h1>{% endblock %}',
        encoding="utf-8",
    )
    build(mini, tmp_path / "out")
    assert "Our own rules" in page_text(tmp_path / "out", "methodology.html")
    assert "Composite score" in page_text(tmp_path / "out", "partners/north-hosp.html")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{{ no_such_variable }}",
            "Error: template site/methodology.html: 'no_such_variable' is undefined\n",
        ),
        (
            "{% if %}",
            "Error: template site/methodology.html:1: "
            "Expected an expression, got 'end of statement block'\n",
        ),
    ],
)
def test_a_broken_template_is_one_line_and_exit_2(
    mini: Path, tmp_path: Path, template: str, message: str
) -> None:
    override = mini / "templates" / "site" / "methodology.html"
    override.parent.mkdir(parents=True)
    override.write_text(template, encoding="utf-8")
    result = CliRunner().invoke(
        main, ["build", "--project", str(mini), "--output", str(tmp_path / "o"), "--jobs", "1"]
    )
    assert result.exit_code == 2
    assert result.stderr == message
    assert not (tmp_path / "o").exists()  # nothing half-written was published


def test_a_large_alliance_gets_statuses_per_kpi_and_the_spread_of_scores(
    mini: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ROWS_PER_PARTNER_MAX partners the dashboard shows no row per partner."""
    monkeypatch.setattr(alliance_views, "ROWS_PER_PARTNER_MAX", 2)  # the mini project: 3 partners
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["build", "--project", str(mini), "--output", str(out), "--jobs", "1", "--no-pdf"]
    )
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text(encoding="utf-8")
    assert '<h2 id="heatmap">Statuses per KPI</h2>' in page
    assert '<h2 id="ranking">Composite scores</h2>' in page
    # a scorecard holds the KPIs its partner reports (north-hosp 4, south-snf and east-clinic
    # 1 each): north-hosp's readmission at risk (14.2 % against its 14 %), south-snf's
    # suppressed (a numerator of 8); east-clinic's 18.5 appointment days missed (target 14)
    rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th>((?:<td>[^<]*</td>)+)</tr>", page)
    table = {kpi: re.findall(r"<td>([^<]*)</td>", cells) for kpi, cells in rows}
    # columns: met, at risk, missed, no data, suppressed
    assert table["30-day readmission rate"] == ["0", "1", "0", "0", "1"]
    assert table["Days to new-patient appointment"] == ["0", "0", "1", "0", "0"]
    section = page.split('id="heatmap"')[1].split("</table>")[0]
    header = re.findall(r"<th scope=\"col\">([^<]+)</th>", section)
    assert header == ["KPI", "Met", "At risk", "Missed", "No data", "Suppressed"]


def test_a_trend_charts_data_table_reads_its_figures_in_the_kpis_unit() -> None:
    # Figures by hand: one decimal for percent, half away from zero on the number as written
    # (14.25 → 14.3, 12.345 → 12.3); whole dollars for usd (12.5 → $13).
    series = [
        SeriesPoint("2025-10", 12.345, 15.0, "missed", 10.0, 12.5, 14.25),
        SeriesPoint("2025-11", None, 15.0, "no_data", None, None, None),
    ]
    percent = trend_table("Readmissions per period", "percent", series)
    assert percent.rows == (
        ("2025-10", "12.3%", "15.0%", "missed", "12.5%", "10.0% to 14.3%"),
        ("2025-11", "–", "15.0%", "no data", "–", "withheld"),
    )
    # the same numbers in another unit are formatted again, not taken from the first table
    usd = trend_table("Cost per period", "usd", series)
    assert usd.rows[0] == ("2025-10", "$12", "$15", "missed", "$13", "$10 to $14")
