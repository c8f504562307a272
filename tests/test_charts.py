"""Chart builders draw what they promise; SVGs are cached, reproducible and safe to inline."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar

import altair as alt
import pytest
import vl_convert

from sitegen import charts
from sitegen.charts import (
    STATUS_STYLE,
    ChartError,
    SvgRenderer,
    TrendPoint,
    distribution_chart,
    draw_svg,
    ranking_chart,
    sparkline,
    spec_hash,
    status_heatmap,
    trend_chart,
    vega_bundle,
)

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
        sparkline(FULL),
        status_heatmap(heatmap_rows(), [], []),
        ranking_chart([("Ash", 50.0)]),
        distribution_chart("t", "count", [1.0, 2.0, 2.0], target=2.0, highlight=1.0),
    ]


# ------------------------------------------------------------------------------------ builders


def test_trend_chart_draws_value_target_band_median_and_benchmark() -> None:
    spec = trend_chart("Readmissions within 30 days", "percent", FULL, benchmark=60.0)
    svg = draw(spec)
    strokes = {line.get("stroke"): line.get("stroke-dasharray") for line in marks(svg, "line")}
    assert strokes == {
        charts.PARTNER_COLOUR: "1,0",
        "#000000": "7,4",  # target, dashed
        "#6b6b6b": "2,3",  # peer median, dotted
        "#CC79A7": "10,3,2,3",  # benchmark, dash-dot
    }
    assert len(marks(svg, "area")) == 1  # the peer band
    assert len(marks(svg, "symbol")) == 5  # a marker per value, none for the gap
    legend = set(texts(svg))
    assert {"partner", "target", "peer median", "benchmark", charts.BAND_LABEL} <= legend
    assert any(label.endswith("%") for label in legend)  # percent axis labels say "%"


def test_trend_chart_breaks_the_line_at_missing_values() -> None:
    spec = trend_chart("t", "rate", FULL, benchmark=None)
    main = [row for row in spec["datasets"]["lines"] if row["series"] == "partner"]
    assert [row["y"] for row in main] == [50.0, 52.0, None, 55.0, 57.5, 56.0]  # null, not 0
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


def test_trend_chart_labels_few_periods_ending_with_the_latest() -> None:
    points = [
        TrendPoint(f"{2023 + i // 12}-{i % 12 + 1:02d}", 1.0, None, None, None, None)
        for i in range(36)
    ]
    spec = trend_chart("t", "count", points, benchmark=None)
    x = spec["encoding"]["x"]
    assert len(x["axis"]["values"]) <= charts.MAX_PERIOD_LABELS
    assert x["axis"]["values"][-1] == "2025-12"
    assert x["scale"]["domain"] == [p.period for p in points]  # every period, in order


def test_trend_chart_description_not_title_and_theme_in_one_place() -> None:
    spec = trend_chart("Falls per 1,000 bed days", "rate", FULL, benchmark=None)
    assert spec["description"] == "Falls per 1,000 bed days"
    assert "title" not in spec
    assert spec["config"] is charts.CONFIG
    assert "layer" in spec and all("config" not in layer for layer in spec["layer"])


def test_usd_axis_uses_dollars_and_tooltip_formats_like_tables() -> None:
    spec = trend_chart("Cost", "usd", months([12000.0, 12500.5]), benchmark=None)
    assert any(label.startswith("$") for label in texts(draw(spec)))
    calc = spec["layer"][-1]["transform"][0]["calculate"]
    assert '"$,.0f"' in calc


def test_every_builder_makes_a_valid_vega_lite_spec() -> None:
    for spec in builders():  # builders skip Altair's validation for speed; this is where it is
        alt.TopLevelLayerSpec.validate(spec)
        assert "<svg" in draw(spec)


def test_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown unit 'furlongs'"):
        trend_chart("t", "furlongs", FULL, None)


def test_sparkline_is_tiny_without_axes_and_marks_the_last_value() -> None:
    spec = sparkline(months([3.0, None, 4.0, 5.0, None]))
    svg = draw(spec)
    assert 'width="120" height="28"' in svg
    assert "role-axis" not in svg and "role-legend" not in svg
    assert len(marks(svg, "line")) == 1
    assert len(marks(svg, "symbol")) == 1
    assert spec["datasets"]["last"] == [{"period": "2025-04", "y": 5.0}]  # the last real value


def test_sparkline_without_values_still_draws() -> None:
    assert "<svg" in draw(sparkline(months([None, None])))


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


# ----------------------------------------------------------------------------------- rendering


def clipped(n: int) -> dict[str, Any]:
    """A small spec whose SVG carries clip-path ids (marks clipped to the plot)."""
    return {
        "data": {"values": [{"x": i, "y": (i * 7 + n) % 5} for i in range(6)]},
        "mark": {"type": "line", "clip": True},
        "encoding": {
            "x": {"field": "x", "type": "quantitative"},
            "y": {"field": "y", "type": "quantitative"},
        },
        "width": 100,
        "height": 40,
    }


def test_spec_hash_is_sha256_of_canonical_json() -> None:
    spec = {"b": [1, 2.5], "a": {"z": "é", "y": None}}
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert spec_hash(spec) == hashlib.sha256(canonical.encode()).hexdigest()
    assert spec_hash({"a": {"y": None, "z": "é"}, "b": [1, 2.5]}) == spec_hash(spec)


def test_builders_are_deterministic_and_versioned() -> None:
    assert spec_hash(trend_chart("t", "rate", FULL, 3.0)) == spec_hash(
        trend_chart("t", "rate", FULL, 3.0)
    )
    assert trend_chart("t", "rate", FULL, 3.0)["usermeta"]["svg"] == charts.SVG_VERSION


def test_render_writes_the_cache_and_never_redraws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = clipped(1)
    first = SvgRenderer(tmp_path, jobs=1).render({"a": spec})
    assert (tmp_path / f"{spec_hash(spec)}.svg").read_bytes().decode() == first["a"]
    assert [p.name for p in tmp_path.iterdir()] == [f"{spec_hash(spec)}.svg"]  # no temp left

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("a cached chart was drawn again")

    monkeypatch.setattr(vl_convert, "vega_to_svg", refuse)
    renderer = SvgRenderer(tmp_path, jobs=4)
    assert renderer.render({"again": spec}) == {"again": first["a"]}
    assert (renderer.drawn, renderer.reused) == (0, 1)


def test_same_spec_under_two_keys_is_drawn_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch)
    out = SvgRenderer(tmp_path, jobs=1).render({"a": clipped(1), "b": clipped(1)})
    assert out["a"] == out["b"] and len(calls) == 1


def count_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    real = vl_convert.vega_to_svg  # charts are drawn from their compiled Vega spec

    def counting(spec: object, *args: object, **kwargs: object) -> str:
        calls.append(spec)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(vl_convert, "vega_to_svg", counting)
    return calls


def test_output_is_byte_identical_although_vl_convert_numbers_ids_per_process(
    tmp_path: Path,
) -> None:
    # vl-convert 1.9 numbers clip paths from a process-wide counter (clip1…, then clip4… for the
    # same spec); finish_svg renumbers them, so the bytes depend on the spec alone.
    first = SvgRenderer(tmp_path / "one", 1).render({"x": clipped(1)})
    second = SvgRenderer(tmp_path / "two", 1).render({"x": clipped(1)})
    assert first == second


def ids_and_refs(svg: str) -> tuple[set[str], set[str]]:
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    refs = set(re.findall(r"url\(#([^)]+)\)", svg)) | set(re.findall(r'href="#([^"]+)"', svg))
    return ids, refs


def test_two_charts_on_a_page_share_no_id(tmp_path: Path) -> None:
    out = SvgRenderer(tmp_path, jobs=1).render({"a": clipped(1), "b": clipped(2)})
    ids_a, refs_a = ids_and_refs(out["a"])
    ids_b, refs_b = ids_and_refs(out["b"])
    assert ids_a and ids_b and not ids_a & ids_b
    assert refs_a <= ids_a and refs_b <= ids_b  # every reference renamed with its id


def test_svg_is_marked_not_focusable(tmp_path: Path) -> None:
    svg = SvgRenderer(tmp_path, 1).render({"s": sparkline(FULL)})["s"]
    assert svg.startswith('<svg focusable="false" ')
    ET.fromstring(svg)  # still well-formed


def test_a_broken_spec_names_its_chart(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="kpi-falls"):
        SvgRenderer(tmp_path, 1).render({"kpi-falls": {"mark": "no-such-mark"}})


class InlinePool:
    """Stands in for ProcessPoolExecutor: records how it was made, runs work in this process."""

    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **kwargs: Any) -> None:
        InlinePool.made.append(kwargs)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        done: Future[Any] = Future()
        done.set_result(fn(*args))
        return done

    def shutdown(self) -> None:
        InlinePool.made[-1]["shut down"] = True


def many_specs(n: int) -> dict[str, dict[str, Any]]:
    return {f"spark-{i}": sparkline(months([float(i), float(i % 3), 2.0])) for i in range(n)}


def test_many_charts_use_one_spawn_pool_per_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    InlinePool.made = []
    monkeypatch.setattr(charts, "ProcessPoolExecutor", InlinePool)
    monkeypatch.setattr(charts, "POOL_MIN_CHARTS", 8)
    SvgRenderer(tmp_path / "few", jobs=2).render(many_specs(7))
    assert InlinePool.made == []  # too few to be worth starting workers
    out = SvgRenderer(tmp_path / "many", jobs=2).render(many_specs(12))
    assert len(InlinePool.made) == 1
    assert InlinePool.made[0]["max_workers"] == 2
    assert InlinePool.made[0]["mp_context"].get_start_method() == "spawn"
    assert InlinePool.made[0]["shut down"]
    assert len(out) == 12 and len(list((tmp_path / "many").glob("*.svg"))) == 12


@pytest.mark.slow
def test_spawned_workers_draw_the_same_bytes_as_in_process(tmp_path: Path) -> None:
    extra = {"clip": clipped(3), "trend": trend_chart("t", "usd", FULL, 51.0)}
    specs = many_specs(charts.POOL_MIN_CHARTS) | extra
    pooled = SvgRenderer(tmp_path / "pool", jobs=2).render(specs)
    inline = SvgRenderer(tmp_path / "inline", jobs=1).render(specs)
    assert pooled == inline
    assert len(list((tmp_path / "pool").glob("*.svg"))) == len(specs)


def test_vega_bundle_is_wrapped_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def bundle(*args: object) -> str:
        calls.append(1)
        return "const vega = 1; window.vega = vega;"

    monkeypatch.setattr(vl_convert, "javascript_bundle", bundle)
    text = vega_bundle(tmp_path)
    assert text == "(function(){\nconst vega = 1; window.vega = vega;\n})();"
    assert vega_bundle(tmp_path) == text and len(calls) == 1
    assert (tmp_path / f"vega-bundle-{vl_convert.__version__}.js").read_text() == text


@pytest.mark.slow
def test_real_vega_bundle_sets_globals_inside_a_function(tmp_path: Path) -> None:
    text = vega_bundle(tmp_path)
    assert text.startswith("(function(){\n") and text.endswith("\n})();")
    assert "window.vegaEmbed" in text and "</script" not in text.lower()


def _variants() -> list[dict]:
    """Two charts of each kind that share a shape but not their data."""
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    specs = []
    for shift in (0.0, 7.5):
        points = [
            charts.TrendPoint(p, 10 + i % 4 + shift, 12.0, 9.0, 11.0, 13.0)
            for i, p in enumerate(months)
        ]
        points[3] = charts.TrendPoint(months[3], None, 12.0, None, None, None)
        specs += [
            charts.trend_chart("t", "percent", points, 11.5),
            charts.trend_chart("t", "percent", points, None, legend=False),
            charts.sparkline(points),
            charts.distribution_chart("d", "usd", [900 + shift * 10, 950, 1010, 1200], 1000),
        ]
    return specs


def test_precompiled_vega_draws_what_vega_lite_draws() -> None:
    """draw_svg compiles each chart shape to Vega once and swaps the data in; the result must
    be the SVG that drawing the Vega-Lite spec directly gives."""
    for spec in _variants():
        digest = charts.spec_hash(spec)
        direct = charts.finish_svg(vl_convert.vegalite_to_svg(spec), digest)
        assert charts.draw_svg(spec, digest) == direct
