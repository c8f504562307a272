"""Chart builders draw what they promise (drawn here with sitegen.svg, as a build does)."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from typing import Any

import altair as alt
import pytest

from sitegen import charts, svg
from sitegen.charts import (
    STATUS_STYLE,
    TrendPoint,
    distribution_chart,
    peer_chart,
    ranking_chart,
    sparkline,
    status_counts_chart,
    status_heatmap,
    trend_chart,
)
from sitegen.svg import draw_svg, spec_hash

SVG = "{http://www.w3.org/2000/svg}"
STATUSES = list(STATUS_STYLE)


def months(values: list[float | None], **fixed: float | None) -> list[TrendPoint]:
    """Monthly points from 2025-01 with the given values; other fields fixed (default None)."""
    fields = {"target": None, "peer_q1": None, "peer_median": None, "peer_q3": None} | fixed
    return [TrendPoint(f"2025-{i + 1:02d}", v, **fields) for i, v in enumerate(values)]


FULL = months(
    [50.0, 52.0, None, 55.0, 57.5, 56.0],
    target=55.0,
    peer_q1=45.0,
    peer_median=50.0,
    peer_q3=58.0,
)


def draw(spec: dict[str, Any]) -> str:
    return draw_svg(spec, spec_hash(spec))


def marks(svg: str, kind: str) -> list[ET.Element]:
    """The drawn items of every data mark group of a kind (line, rect, text, symbol, …)."""
    root = ET.fromstring(svg)
    found: list[ET.Element] = []
    for group in root.iter(f"{SVG}g"):
        classes = group.get("class", "").split()
        if f"mark-{kind}" in classes and "role-mark" in classes:
            found.extend(group)
    return found


def texts(svg: str) -> list[str]:
    return [t.text or "" for t in ET.fromstring(svg).iter(f"{SVG}text")]


def builders() -> list[dict[str, Any]]:
    """One spec from every builder, with every option in use."""
    return [
        trend_chart("t", "usd", FULL, benchmark=51.0, value_label="alliance"),
        status_heatmap(heatmap_rows(), [], []),
        ranking_chart([("Ash", 50.0)]),
        distribution_chart("t", "count", [1.0, 2.0, 2.0], target=2.0, highlight=1.0),
        status_counts_chart([("KPI a", "met", 3), ("KPI a", "missed", 1)], ["KPI a"]),
        peer_chart("t", "percent", 45.0, 50.0, 58.0, own=52.0, target=55.0),
    ]


# ------------------------------------------------------------------------------------ builders


def test_trend_chart_draws_value_target_band_median_and_benchmark() -> None:
    spec = trend_chart("Readmissions within 30 days", "percent", FULL, benchmark=60.0)
    svg = draw(spec)
    lines = marks(svg, "line")
    strokes = {line.get("stroke"): line.get("stroke-dasharray") for line in lines}
    assert strokes == {
        charts.PARTNER_COLOUR: "1,0",
        "#000000": "7,4",  # target, dashed
        "#6b6b6b": "2,3",  # peer median, dotted
        "#B8578F": "1,0",  # benchmark, a wide solid line
    }
    widths = {line.get("stroke"): line.get("stroke-width") for line in lines}
    assert widths["#B8578F"] == "6" and widths["#000000"] == "2"
    # the benchmark is drawn first, so that where it equals the target the dashes lie on it
    order = [line.get("stroke") for line in lines]
    assert order.index("#B8578F") < order.index("#000000")
    assert len(marks(svg, "area")) == 1  # the peer band
    assert len(marks(svg, "symbol")) == 5  # a marker per value, none for the gap
    words = set(texts(svg))
    # no legend in the chart (the page's key says what each line is), axis labels only
    assert not {"partner", "target", "peer median", "benchmark", charts.BAND_LABEL} & words
    assert any(label.endswith("%") for label in words)  # percent axis labels say "%"


def test_trend_chart_breaks_the_line_at_missing_values() -> None:
    spec = trend_chart("t", "rate", FULL, benchmark=None)
    main = next(line for line in spec["datasets"]["lines"] if line["series"] == "partner")
    assert main["y"] == [50.0, 52.0, None, 55.0, 57.5, 56.0]  # null, not 0
    line = next(p for p in marks(draw(spec), "line") if p.get("stroke") == charts.PARTNER_COLOUR)
    assert line.get("d", "").count("M") == 2  # two runs either side of the gap


def test_trend_chart_target_steps_and_benchmark_is_optional() -> None:
    targets = [2.0, 2.0, 3.0, 3.0]  # the commitment rises in March
    points = [TrendPoint(f"2025-0{i + 1}", 1.0, t, None, None, None) for i, t in enumerate(targets)]
    spec = trend_chart("t", "days", points, benchmark=None)
    layers = [layer["mark"] for layer in spec["layer"]]
    assert {"type": "line", "interpolate": "step"} in layers
    svg = draw(spec)
    dashes = {line.get("stroke-dasharray") for line in marks(svg, "line")}
    assert dashes == {"1,0", "7,4"}  # value and target; no benchmark, no median
    assert len(marks(svg, "area")) == 0
    assert "days" in texts(svg)  # the axis title names the unit


def period_labels(spec: dict[str, Any]) -> list[str]:
    """The x-axis labels as drawn."""
    root = ET.fromstring(draw(spec))
    for group in root.iter(f"{SVG}g"):
        if "role-axis-label" in group.get("class", "").split():
            return [t.text or "" for t in group.iter(f"{SVG}text")]
    return []


def test_trend_chart_over_years_labels_each_year_once() -> None:
    points = [
        TrendPoint(f"{2023 + (i + 10) // 12}-{(i + 10) % 12 + 1:02d}", 1.0, None, None, None, None)
        for i in range(36)
    ]  # 2023-11 … 2026-10
    spec = trend_chart("t", "count", points, benchmark=None)
    assert spec["encoding"]["x"]["scale"]["domain"] == [p.period for p in points]  # all, in order
    assert period_labels(spec) == ["2024", "2025", "2026"]  # at 2024-01, 2025-01, 2026-01
    quarters = [
        TrendPoint(f"{2024 + i // 4}-Q{i % 4 + 1}", 1.0, None, None, None, None) for i in range(8)
    ]
    assert period_labels(trend_chart("t", "count", quarters, None)) == ["2024", "2025"]


def test_trend_chart_within_a_year_labels_few_periods_ending_with_the_latest() -> None:
    points = months([1.0] * 11)  # 2025-01 … 2025-11: one year start only
    labels = period_labels(trend_chart("t", "count", points, benchmark=None))
    assert len(labels) <= charts.MAX_PERIOD_LABELS
    assert labels[-1] == "2025-11" and labels[0].startswith("2025-")


def test_trend_chart_description_not_title_and_theme_in_one_place() -> None:
    spec = trend_chart("Falls per 1,000 bed days", "rate", FULL, benchmark=None)
    assert spec["description"] == "Falls per 1,000 bed days"
    assert "title" not in spec
    assert spec["config"] is charts.CONFIG
    assert "layer" in spec and all("config" not in layer for layer in spec["layer"])


def test_usd_axis_uses_dollars_and_tooltip_formats_like_tables() -> None:
    spec = trend_chart("Cost", "usd", months([12000.0, 12500.5]), benchmark=None)
    assert any(label.startswith("$") for label in texts(draw(spec)))
    tooltips = spec["datasets"]["points"][0]["text"]
    assert tooltips == ["$12,000", "$12,501"]  # as the tables write them, half rounded up


def test_every_builder_makes_a_valid_vega_lite_spec() -> None:
    for spec in builders():  # builders skip Altair's validation for speed; this is where it is
        alt.TopLevelSpec.validate(spec)
        assert "<svg" in draw(spec)


def test_no_chart_with_full_data_makes_vega_warn(caplog: pytest.LogCaptureFixture) -> None:
    # builds drop Vega's "Infinite extent" warning (a series with no value to plot); with
    # full data it would mean a field the spec names and the data lack, so none may appear
    svg._set_up_vl_convert()  # which adds the filter, once per process
    vega = logging.getLogger("vl_convert")
    vega.removeFilter(svg._no_values_warning)
    try:
        with caplog.at_level(logging.WARNING):
            for spec in [*builders(), trend_chart("t", "percent", FULL, 60.0)]:
                draw(spec)
    finally:
        vega.addFilter(svg._no_values_warning)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("vl_convert")] == []


def test_trend_chart_without_periods_draws_an_empty_chart() -> None:
    # no series, so no legend entry and no benchmark rule over no periods
    svg_text = draw(trend_chart("t", "rate", [], benchmark=3.0))
    assert "benchmark" not in texts(svg_text) and "partner" not in texts(svg_text)


def test_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown unit 'furlongs'"):
        trend_chart("t", "furlongs", FULL, None)


def sparkline_parts(points: list[TrendPoint]) -> tuple[ET.Element, list[ET.Element]]:
    svg = ET.fromstring(sparkline(points))
    return svg, list(svg)


def test_sparkline_is_one_path_with_the_last_value_marked() -> None:
    svg, (line, dot) = sparkline_parts(months([3.0, None, 4.0, 5.0, None]))
    assert (svg.get("width"), svg.get("height"), svg.get("aria-hidden")) == ("120", "28", "true")
    # five periods across the 110 px inside a 5 px inset: x = 5 + 22 × (i + ½); y spans the
    # values' range, 3 at the bottom (5 + 18) and 5 at the top (5); the gap breaks the line
    assert line.get("d") == "M16.00,23.00M60.00,14.00L82.00,5.00"
    assert (dot.get("cx"), dot.get("cy")) == ("82.00", "5.00")  # the last real value, 5.0


def test_a_level_sparkline_runs_across_the_middle() -> None:
    _, (line, dot) = sparkline_parts(months([7.0, 7.0]))
    assert line.get("d") == "M32.50,14.00L87.50,14.00"
    assert (dot.get("cx"), dot.get("cy")) == ("87.50", "14.00")


def test_sparkline_without_values_is_an_empty_drawing() -> None:
    svg, marks = sparkline_parts(months([None, None]))
    assert svg.get("width") == "120" and marks == []


def heatmap_rows() -> list[tuple[str, str, str]]:
    partners = ["Ash Clinic", "Birch Home Health", "Cedar Physicians"]
    kpis = ["Readmissions", "Falls", "Wait time", "Follow-up", "Cost"]
    return [
        (p, k, STATUSES[(i + j) % 5]) for i, p in enumerate(partners) for j, k in enumerate(kpis)
    ]


def test_status_heatmap_has_a_cell_and_a_glyph_per_row() -> None:
    rows = heatmap_rows()[:-1]  # a missing cell stays empty
    spec = status_heatmap(
        rows,
        ["Ash Clinic", "Birch Home Health", "Cedar Physicians"],
        ["Readmissions", "Falls", "Wait time", "Follow-up", "Cost"],
    )
    svg = draw(spec)
    cells = marks(svg, "rect")
    assert len(cells) == len(rows)
    glyphs = [t.text for t in marks(svg, "text")]
    assert sorted(glyphs) == sorted(STATUS_STYLE[status][1] for _, _, status in rows)
    fills = {cell.get("fill") for cell in cells}
    assert fills == {style[2] for style in STATUS_STYLE.values()}
    grey_edged = [cell for cell in cells if cell.get("stroke") == "#8A8A8A"]
    assert len(grey_edged) == sum(status == "suppressed" for _, _, status in rows)


def test_status_heatmap_legend_uses_words_and_glyphs() -> None:
    svg = draw(status_heatmap(heatmap_rows(), [], []))
    labels = set(texts(svg))
    assert {"✓ met", "! at risk", "✗ missed", "– no data", "S suppressed"} <= labels
    assert not any("_" in label for label in labels)


def test_status_heatmap_refuses_unknown_status() -> None:
    with pytest.raises(ValueError, match="unknown status 'great'"):
        status_heatmap([("A", "K", "great")], ["A"], ["K"])


def test_ranking_chart_sorts_best_first_and_labels_bars() -> None:
    spec = ranking_chart([("Cedar", 40.0), ("Ash", 87.5), ("Birch", 87.5), ("Dune", 100.0)])
    assert spec["layer"][0]["encoding"]["y"]["sort"] == ["Dune", "Ash", "Birch", "Cedar"]
    svg = draw(spec)
    assert len(marks(svg, "rect")) == 4
    assert sorted(t.text or "" for t in marks(svg, "text")) == ["100.0", "40.0", "87.5", "87.5"]


def test_distribution_chart_shows_target_and_highlight_without_names() -> None:
    values = [40.0, 42.5, 47.0, 51.0, 51.5, 55.0, 61.0, 63.0]
    spec = distribution_chart("Readmissions", "percent", values, target=50.0, highlight=47.0)
    svg = draw(spec)
    assert len(marks(svg, "rect")) >= 3  # histogram bars
    rules = {rule.get("stroke-dasharray") for rule in marks(svg, "rule")}
    assert rules == {"7,4", "1,0"}  # target dashed, own value solid
    assert {"target", "this partner"} <= {t.text for t in marks(svg, "text")}
    assert spec["datasets"]["values"] == [{"value": v} for v in values]  # no names anywhere


def test_distribution_chart_without_target_or_values() -> None:
    svg = draw(distribution_chart("t", "count", [], target=None))
    assert marks(svg, "rule") == []


# A phone's column for a chart: 390 px less the page's margins and the section's padding.
PHONE_COLUMN = 344


def test_a_drawn_funnel_fits_a_phones_column_so_its_text_stays_12_px() -> None:
    """The static SVG (all a reader without scripts gets) is scaled down to its column when
    wider, and its 12 px axis and legend text with it: at 362 px wide (its legend in three
    columns) the text was 11.4 px on a 390 px phone."""
    spec = charts.funnel_chart(
        "Handoff complete",
        "percent",
        80.0,
        [(d, 70.0, 90.0, 65.0, 95.0) for d in (1.0, 10.0, 100.0, 1000.0)],
        [("Partner A", 50.0, 82.0, "82.0%"), ("Partner B", 500.0, 75.0, "75.0%")],
    )
    drawn = ET.fromstring(draw_svg(spec, spec_hash(spec)))
    assert float(drawn.get("width", "0")) <= PHONE_COLUMN
