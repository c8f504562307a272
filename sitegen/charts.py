"""Charts: Altair builders that return Vega-Lite specs.

Builders take plain dataclasses and tuples (never model objects or pages) and return a spec dict
that vl-convert can draw; the same spec drives the static SVG and the interactive Vega view.
Drawing them (in worker processes, with a cache) is sitegen.svg's job. The one exception is the
sparkline, a single path drawn here as SVG markup.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass
from typing import Any

import altair as alt
import vl_convert
from markupsafe import Markup

from sitegen import filters
from sitegen.filters import STATUS_ICONS, STATUS_WORDS
from sitegen.svg import SVG_VERSION

Spec = dict[str, Any]

# The shipped font first (sitegen/fonts: measured here, shown by pages and PDFs), then fonts
# most machines have, for any character the shipped subset lacks.
FONT = "Inter, DejaVu Sans, Liberation Sans, Arial, sans-serif"
INK = "#333333"

# The one theme: sizes readable on a phone once CSS scales the SVG down to the column width.
CONFIG: Spec = {
    "font": FONT,
    "background": "white",
    "padding": 4,
    "view": {"stroke": None},
    "axis": {
        "labelFontSize": 12,
        "titleFontSize": 13,
        "titleFontWeight": "normal",
        "labelColor": INK,
        "titleColor": INK,
        "domainColor": "#888888",
        "tickColor": "#888888",
        "gridColor": "#e4e4e4",
        "labelLimit": 0,  # never cut a name short: the charts that list names make room
    },
    "legend": {
        "labelFontSize": 12,
        "titleFontSize": 13,
        "titleFontWeight": "normal",
        "labelColor": INK,
        "titleColor": INK,
        "orient": "bottom",
        "symbolStrokeWidth": 2,
        "labelLimit": 0,
    },
    "text": {"fontSize": 12, "color": INK},
    # no "line" strokeWidth here: it would override each trend line's own width (encoding)
}

# unit: (d3 format of one value, text after it). Same decimals as the tables (sitegen.filters),
# so a tooltip reads exactly like the figure beside the chart; d3 writes a real minus sign too.
# A unit's d3 number format and suffix, from the decimals, prefix and suffix the pages use
# (sitegen.filters), so that a tooltip says what the table beside it says.
UNIT_FORMATS: dict[str, tuple[str, str]] = {
    unit: (f"{prefix},.{decimals}f", suffix)
    for unit, (decimals, prefix, suffix) in filters.UNIT_FORMATS.items()
}
# Axis titles only where the tick labels alone do not say the unit.
UNIT_AXIS_TITLES = {"days": "days", "minutes": "minutes"}

# Status → (word, glyph, fill, stroke). Okabe–Ito colours are told apart by colour-blind readers,
# and the glyph in each cell (✓ met, ! at risk, ✗ missed, – no data, S suppressed) means status is
# never told by colour alone. Words and glyphs match the site's tables (sitegen.filters).
# status → (word, glyph, fill, stroke); words and glyphs are the ones the tables show.
_FILLS = {
    "met": ("#009E73", "#FFFFFF"),
    "at_risk": ("#E69F00", "#FFFFFF"),
    "missed": ("#D55E00", "#FFFFFF"),
    "no_data": ("#BBBBBB", "#FFFFFF"),
    "suppressed": ("#FFFFFF", "#8A8A8A"),
}
STATUS_STYLE: dict[str, tuple[str, str, str, str]] = {
    status: (STATUS_WORDS[status], STATUS_ICONS[status], *colours)
    for status, colours in _FILLS.items()
}

# Trend series: label → (colour, dash). Dashes tell the lines apart in print and without colour.
PARTNER_COLOUR = "#0072B2"
SERIES_STYLE: dict[str, tuple[str, list[int]]] = {
    "target": ("#000000", [7, 4]),
    "peer median": ("#6b6b6b", [2, 3]),
    # a wide line under the target's dashes, so that the two stay apart where they are equal
    "benchmark": ("#B8578F", [1, 0]),
    "mean": ("#4d4d4d", [1, 0]),
    "upper process limit": ("#8c8c8c", [4, 2]),
    "lower process limit": ("#8c8c8c", [4, 2]),
    # special-cause points, as the Making Data Count charts mark them
    "improving": ("#1F5FA8", [1, 0]),
    "concerning": ("#C25400", [1, 0]),
}
SIGNALS = ("improving", "concerning")
BAND_LABEL = "middle 50% of peers"
BAND_COLOUR = "#C8D3E0"
# Plot sizes (px) a phone shows at full size: the SVG with its axes stays under the 358 px of
# a 390 px screen's column, so 12 px labels stay 12 px; a PDF's half-page column (255 pt) sets
# them at about 9 pt.
PLOT_WIDTH = 280
MAX_PERIOD_LABELS = 4  # "2025-09" at 12 px fits four times across the plot, spaced
LINE_WIDTH, BENCHMARK_WIDTH = 2, 6  # px: the benchmark's line is wide


@dataclass(frozen=True)
class TrendPoint:
    """One period of a KPI for one partner (or the alliance); None is a gap, never a zero."""

    period: str  # "2025-09", "2025-Q3" or "2025", in time order
    value: float | None  # None = no data / suppressed
    target: float | None
    peer_q1: float | None  # peer quartile band; None when withheld
    peer_median: float | None
    peer_q3: float | None
    mean: float | None = None  # the SPC centre line and process limits of its baseline
    lower: float | None = None
    upper: float | None = None
    signal: str | None = None  # "improving" or "concerning": a special-cause point


# ---------------------------------------------------------------------------------- formatting


def _unit_format(unit: str) -> tuple[str, str]:
    """The value format of a unit; an unknown unit is a programming error, so fail loudly."""
    if unit not in UNIT_FORMATS:
        raise ValueError(f"unknown unit {unit!r}; expected one of {', '.join(UNIT_FORMATS)}")
    return UNIT_FORMATS[unit]


def _value_axis(unit: str, **extra: Any) -> alt.Axis:
    """An axis whose tick labels carry the unit; Vega picks the decimals from the tick step."""
    _unit_format(unit)
    options: dict[str, Any] = {"title": UNIT_AXIS_TITLES.get(unit)}
    if unit == "usd":
        options["format"] = "$,~f"
    elif unit == "percent":
        options["labelExpr"] = "datum.label + '%'"
    return alt.Axis(**(options | extra))


def _finish(
    chart: alt.TopLevelMixin, description: str, datasets: dict[str, Any], fit: bool = False
) -> Spec:
    """Turn a chart and its rows into the spec the renderer and the browser share.

    Width and height are the plot's; axes and legend add to them ("pad"). CSS scales the SVG to
    the column anyway, and "fit" (outer box exact) makes vl-convert lay a chart out twice,
    ~20 % slower. Only the axis-less sparkline fits, so that it is exactly its size.
    """
    spec = chart.to_dict(validate=False)
    spec["datasets"] = datasets
    spec["config"] = CONFIG
    spec["description"] = description
    spec["autosize"] = {"type": "fit" if fit else "pad", "contains": "padding"}
    spec["usermeta"] = {"renderer": f"vl-convert {vl_convert.__version__}", "svg": SVG_VERSION}
    return spec


# ------------------------------------------------------------------------------------- builders
#
# Speed notes (measured, per trend chart): Altair copies and validates inline data on every
# method call, and turns shorthand strings ("y:Q") into channels through a slow schema lookup.
# Rows therefore go into the spec's top-level `datasets` (plain lists of dicts, referenced by
# name), channels are always built as objects, and the finished spec is not re-validated
# (tests validate every builder against the Vega-Lite schema): ~13 ms instead of ~75 ms.

Rows = list[dict[str, Any]]


def _data(name: str) -> alt.NamedData:
    """A reference to one of the chart's datasets (filled in by `_finish`)."""
    return alt.NamedData(name=name)


# Series go into a trend chart's datasets as columns, one dict per line with a list per field,
# and each layer's `flatten` transform makes rows of them again: the same chart, drawn the same,
# from a spec 43 % smaller that takes 40 % less time to encode (a partner page has 24 of them,
# each encoded once for its cache key and sent to a worker and embedded as that same text).


def _series(periods: list[str], points: list[TrendPoint], label: str, attr: str) -> dict[str, Any]:
    """One line as columns (`periods` are the points' own, made once per chart); None stays
    None so the line breaks there."""
    return {
        "series": label,
        "width": LINE_WIDTH,
        "period": periods,
        "y": [getattr(p, attr) for p in points],
    }


def _flattened(name: str, fields: list[str]) -> alt.Chart:
    """A layer drawing one of the chart's column datasets, a row per period."""
    return alt.Chart(_data(name)).transform_flatten(fields)


def _has(points: list[TrendPoint], attr: str) -> bool:
    return any(getattr(p, attr) is not None for p in points)


def _series_encoding(labels: list[str], value_label: str) -> dict[str, Any]:
    """Colour, dash and width by series. There is no legend: a page of trend charts shows one
    key in words for all of them (each chart's own legend added a third to its drawing time,
    7.3 → 10.9 ms of CPU, and a third to its width). The dashes tell the lines apart without
    colour and in greyscale print."""
    colours, dashes = _series_scales(labels, value_label)
    return {
        "color": alt.Color("series:N", scale=colours, legend=None),
        "strokeDash": alt.StrokeDash("series:N", scale=dashes, legend=None),
        # each line's own width, carried by its row (a scale on a nominal field warns)
        "strokeWidth": alt.StrokeWidth("width:Q", scale=None, legend=None),
    }


def _series_scales(labels: list[str], value_label: str) -> tuple[alt.Scale, alt.Scale]:
    """The colour and dash of each series label (the main line is the partner's blue)."""
    styles = [(PARTNER_COLOUR, [1, 0]) if n == value_label else SERIES_STYLE[n] for n in labels]
    colours = alt.Scale(domain=labels, range=[colour for colour, _ in styles])
    dashes = alt.Scale(domain=labels, range=[dash for _, dash in styles])
    return colours, dashes


def _band_layer() -> alt.Chart:
    """The peer interquartile band; periods where peers are withheld (None) are left open."""
    band = alt.Scale(domain=[BAND_LABEL], range=[BAND_COLOUR])
    fill = alt.Fill("band:N", scale=band, legend=None)
    return (
        _flattened("band", ["period", "q1", "q3"])
        .mark_area(opacity=0.7)
        .encode(y=alt.Y("q1:Q"), y2=alt.Y2("q3:Q"), fill=fill)
    )


def _line_layer(name: str, enc: dict[str, Any], step: bool) -> alt.Chart:
    """Lines, one per series, in one layer (each layer adds ~4 ms of drawing).

    Targets and the benchmark are steps: a target changes on a date, not gradually between
    periods, and a constant benchmark drawn as a step is simply a horizontal rule.
    """
    line = _flattened(name, ["period", "y"]).mark_line(interpolate="step" if step else "linear")
    return line.encode(**enc)


def _point_layer(colours: alt.Scale | None = None, value_label: str = "") -> alt.Chart:
    """Markers on the main line's values, with the tooltip the interactive view shows (its text
    made by the same filter as the tables, so it reads exactly like the figure beside it);
    with `colours`, coloured by their kind (special-cause points)."""
    tooltip = [alt.Tooltip("period:N", title="period"), alt.Tooltip("text:N", title="value")]
    if colours is None:
        return (
            _flattened("points", ["period", "y", "text"])
            .mark_point(filled=True, size=36, color=PARTNER_COLOUR, opacity=1, aria=False)
            .encode(tooltip=tooltip)
        )
    colour = alt.Color("kind:N", scale=colours, legend=None)
    # special-cause points are larger too, so that they stand out without colour
    size = alt.condition(f"datum.kind !== {json.dumps(value_label)}", alt.value(110), alt.value(36))
    return (
        _flattened("points", ["period", "y", "text", "kind"])
        .mark_point(filled=True, opacity=1, aria=False)
        .encode(tooltip=tooltip, color=colour, size=size)
    )


def trend_chart(
    title: str,
    unit: str,
    points: list[TrendPoint],
    benchmark: float | None,
    *,
    value_label: str = "partner",
) -> Spec:
    """A KPI over time: value line, target, peer band and median, benchmark rule.

    `title` becomes the spec's description (the page shows the visible title and the key).
    `value_label` names the main series in the data and tooltips ("partner" on a scorecard,
    "alliance" on a KPI page).
    """
    _unit_format(unit)  # an unknown unit fails here, naming the units there are
    data = _trend_datasets(points, benchmark, value_label, unit)
    labels = tuple(dict.fromkeys(row["series"] for row in data["lines"] + data["steps"]))
    signals = "kind" in data["points"][0]
    if signals:
        labels += SIGNALS
    has_band = _has(points, "peer_q1") and _has(points, "peer_q3")
    skeleton = _trend_skeleton(unit, labels, has_band, bool(data["steps"]), value_label, signals)
    return {
        **skeleton,
        "encoding": {**skeleton["encoding"], "x": _period_x([p.period for p in points])},
        "datasets": data,
        "description": title,
    }


@functools.lru_cache(maxsize=256)
def _trend_skeleton(
    unit: str,
    labels: tuple[str, ...],
    has_band: bool,
    has_steps: bool,
    value_label: str,
    signals: bool = False,
) -> Spec:
    """Everything of a trend chart but its data, built once per shape and reused: a partner
    page has ~24 trend charts of a handful of shapes, and Altair takes ~14 ms per build while
    copying the skeleton takes microseconds. Callers must not mutate the returned dict.

    With `signals`, the markers are coloured by kind on the lines' own colour scale (the
    partner's blue, improving blue, concerning orange): no extra layer to draw."""
    enc = _series_encoding(list(labels), value_label)
    layers: list[alt.Chart] = []
    if has_band:
        layers.append(_band_layer())
    if has_steps:
        layers.append(_line_layer("steps", enc, step=True))
    colours = _series_scales(list(labels), value_label)[0] if signals else None
    layers += [_line_layer("lines", enc, step=False), _point_layer(colours, value_label)]
    # Three value labels: enough to read a level against the gridlines, and each label costs
    # vl-convert ~0.3 ms to measure, on a chart that takes ~8 ms to draw.
    y_axis = _value_axis(unit, tickCount=3)
    y = alt.Y("y:Q", scale=alt.Scale(zero=False, nice=True), axis=y_axis)
    # y once for all layers (Altair copies every layer's encodings on each call); x, which
    # carries the periods, is set per chart by trend_chart
    chart = alt.layer(*layers).encode(x=alt.X("period:O"), y=y)
    chart = chart.properties(width=PLOT_WIDTH, height=160)
    return _finish(chart, "", {})


def _trend_datasets(
    points: list[TrendPoint], benchmark: float | None, value_label: str, unit: str
) -> dict[str, Rows]:
    """The columns behind each layer of a trend chart, None kept wherever a value is missing;
    markers (with their tooltip text) only where there is a value."""
    periods = [p.period for p in points]
    lines = [_series(periods, points, value_label, "value")] if points else []
    if _has(points, "peer_median"):
        lines.append(_series(periods, points, "peer median", "peer_median"))
    steps = []
    if benchmark is not None and points:  # first: the target's dashes are drawn over it
        steps.append(
            {
                "series": "benchmark",
                "width": BENCHMARK_WIDTH,
                "period": periods,
                "y": [benchmark] * len(points),
            }
        )
    if _has(points, "target"):
        steps.append(_series(periods, points, "target", "target"))
    if _has(points, "mean"):
        lines.append(_segments(points, "mean", "mean"))
    if _has(points, "upper"):
        lines.append(_segments(points, "upper process limit", "upper"))
        lines.append(_segments(points, "lower process limit", "lower"))
    shown = [p for p in points if p.value is not None]
    marked = {
        "period": [p.period for p in shown],
        "y": [p.value for p in shown],
        "text": [_point_text(p, unit) for p in shown],
    }
    if any(p.signal for p in shown):
        marked["kind"] = [p.signal or value_label for p in shown]
    return {
        "band": [
            {
                "band": BAND_LABEL,
                "period": periods,
                "q1": [p.peer_q1 for p in points],
                "q3": [p.peer_q3 for p in points],
            }
        ],
        "steps": steps,
        "lines": lines,
        "points": [marked],
    }


def _segments(points: list[TrendPoint], label: str, attr: str) -> dict[str, Any]:
    """A line that is level within each baseline (the SPC mean or a limit), as two points per
    baseline, first and last period, with a gap between baselines: the same line as one point
    per period, for a fraction of the drawing (each point is an item Vega lays out)."""
    periods: list[str] = []
    ys: list[float | None] = []
    run: list[TrendPoint] = []
    for point in [*points, None]:
        level = getattr(point, attr) if point else None
        if run and (point is None or level != getattr(run[0], attr)):
            if ys:
                periods.append(run[0].period)
                ys.append(None)  # the gap between two baselines
            periods += [run[0].period, run[-1].period]
            ys += [getattr(run[0], attr)] * 2
            run = []
        if point is not None and level is not None:
            run.append(point)
    return {"series": label, "width": LINE_WIDTH, "period": periods, "y": ys}


def _point_text(point: TrendPoint, unit: str) -> str:
    """A marker's tooltip: the value as the tables show it, and a special cause if any."""
    text = filters.value(point.value, unit)
    return f"{text} (special cause, {point.signal})" if point.signal else text


def _period_x(periods: list[str]) -> dict[str, Any]:
    """The x encoding: periods in the given order, every one on the scale but only a few
    labelled, as a plain dict so that it is cheap per chart.

    Spanning two or more years, months and quarters are labelled by year at each year's first
    period ("2025" under 2025-01); otherwise a few periods are labelled, always the latest.
    Few, short labels stay apart on a phone and keep drawing fast: measuring the six labels
    is a fifth of the time vl-convert takes to draw a trend chart. The chosen labels cannot
    collide, so Vega is not asked to check for overlaps.
    """
    axis: dict[str, Any] = {"grid": False, "labelAngle": 0, "title": None}
    year_starts = [p for p in periods if p.endswith(("-01", "-Q1"))]
    if len(year_starts) >= 2:
        axis |= {"values": year_starts, "labelExpr": "slice(datum.label, 0, 4)"}
    else:
        step = max(1, math.ceil(len(periods) / MAX_PERIOD_LABELS))
        axis["values"] = periods[(len(periods) - 1) % step :: step]
    return {"axis": axis, "field": "period", "scale": {"domain": periods}, "type": "ordinal"}


SPARK_SIZE = (120, 28)  # px: a word-sized chart in a table cell
SPARK_INSET = 5  # px around the line, so that the last value's dot is never cut


def sparkline(points: list[TrendPoint]) -> Markup:
    """A word-sized trend for table cells, the latest value marked: one SVG path drawn here,
    not by vl-convert. A line of at most a few dozen points needs no chart library, and
    sparklines were half the charts a partner page had drawn (~2 ms of CPU each).

    x places the periods evenly (as the trend charts' ordinal axis does), y spans the values'
    own range; a missing value breaks the line. The figures are in the table beside it, so
    the drawing is hidden from assistive technology."""
    width, height = SPARK_SIZE
    inner_w, inner_h = width - 2 * SPARK_INSET, height - 2 * SPARK_INSET
    shown = [p.value for p in points if p.value is not None]
    low, high = (min(shown), max(shown)) if shown else (0.0, 0.0)
    step = inner_w / max(len(points), 1)

    def xy(i: int, v: float) -> str:
        share = 0.5 if high == low else (v - low) / (high - low)
        return f"{SPARK_INSET + step * (i + 0.5):.2f},{SPARK_INSET + inner_h * (1 - share):.2f}"

    path, pen_up, last = [], True, ""
    for i, point in enumerate(points):
        if point.value is None:
            pen_up = True
            continue
        last = xy(i, point.value)
        path.append(("M" if pen_up else "L") + last)
        pen_up = False
    parts = [
        f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} '
        f'{height}" focusable="false" aria-hidden="true" xmlns="http://www.w3.org/2000/svg">'
    ]
    if path:
        parts.append(
            f'<path d="{"".join(path)}" fill="none" stroke="{PARTNER_COLOUR}" '
            'stroke-width="1.5" stroke-linejoin="round"/>'
        )
        cx, cy = last.split(",")
        parts.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{PARTNER_COLOUR}"/>')
    return Markup("".join(parts) + "</svg>")


def status_heatmap(
    rows: list[tuple[str, str, str]],
    partner_order: list[str],
    kpi_order: list[str],
    *,
    description: str = "Status of each KPI for each partner",
) -> Spec:
    """Partners × KPIs, one cell per status, coloured and marked with a glyph."""
    legend_labels = [f"{glyph} {word}" for word, glyph, _, _ in STATUS_STYLE.values()]
    colour_scale = alt.Scale(domain=legend_labels, range=[s[2] for s in STATUS_STYLE.values()])
    stroke_scale = alt.Scale(domain=legend_labels, range=[s[3] for s in STATUS_STYLE.values()])
    legend = alt.Legend(title="Status", symbolType="square", symbolSize=200, symbolStrokeWidth=1)
    x = alt.X("kpi:N", sort=kpi_order, title=None, axis=alt.Axis(orient="top", labelAngle=-45))
    y = alt.Y("partner:N", sort=partner_order, title=None)
    base = alt.Chart(_data("cells")).encode(x=x, y=y)
    cells = base.mark_rect(strokeWidth=1).encode(
        color=alt.Color("legend:N", scale=colour_scale, legend=legend),
        stroke=alt.Stroke("legend:N", scale=stroke_scale, legend=legend),
        tooltip=[
            alt.Tooltip("partner:N", title="partner"),
            alt.Tooltip("kpi:N", title="KPI"),
            alt.Tooltip("word:N", title="status"),
        ],
    )
    glyphs = base.mark_text(fontSize=12, fontWeight="bold", color="#000000")
    chart = alt.layer(cells, glyphs.encode(text=alt.Text("glyph:N")))
    chart = chart.properties(width={"step": 24}, height={"step": 20})
    data = {"cells": [_heatmap_row(partner, kpi, status) for partner, kpi, status in rows]}
    return _finish(chart, description, data)


def status_counts_chart(
    counts: list[tuple[str, str, int]],
    kpi_order: list[str],
    *,
    description: str = "Partners by status for each KPI",
) -> Spec:
    """For each KPI, how many partners met, were at risk, missed (…) as one stacked bar: the
    dashboard's view of an alliance too large for a row per partner. `counts` holds
    (KPI name, status, partners)."""
    legend_labels = [f"{glyph} {word}" for word, glyph, _, _ in STATUS_STYLE.values()]
    colour_scale = alt.Scale(domain=legend_labels, range=[s[2] for s in STATUS_STYLE.values()])
    legend = alt.Legend(title="Status", orient="bottom", symbolType="square")
    bars = alt.Chart(_data("counts")).mark_bar(stroke="#333333", strokeWidth=0.5)
    bars = bars.encode(
        x=alt.X("partners:Q", stack="zero", title="partners"),
        y=alt.Y("kpi:N", sort=kpi_order, title=None),
        color=alt.Color("legend:N", scale=colour_scale, legend=legend, sort=legend_labels),
        order=alt.Order("position:Q"),
        tooltip=[
            alt.Tooltip("kpi:N", title="KPI"),
            alt.Tooltip("word:N", title="status"),
            alt.Tooltip("partners:Q", title="partners"),
        ],
    )
    chart = bars.properties(width=PLOT_WIDTH, height={"step": 20})
    positions = {status: i for i, status in enumerate(STATUS_STYLE)}
    data = {
        "counts": [
            {**_heatmap_row("", kpi, status), "partners": n, "position": positions[status]}
            for kpi, status, n in counts
            if n
        ]
    }
    return _finish(chart, description, data)


def _heatmap_row(partner: str, kpi: str, status: str) -> dict[str, str]:
    """A cell's data: the legend label carries the glyph, so the legend explains the cells."""
    if status not in STATUS_STYLE:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUS_STYLE)}")
    word, glyph, _, _ = STATUS_STYLE[status]
    return {
        "partner": partner,
        "kpi": kpi,
        "word": word,
        "glyph": glyph,
        "legend": f"{glyph} {word}",
    }


def ranking_chart(
    rows: list[tuple[str, float]], *, description: str = "Composite score by partner"
) -> Spec:
    """Composite scores 0–100 as bars, best first; ties keep alphabetical order so builds agree.

    Bars are keyed by name, so two partners with the same name would share a bar: pass
    distinct names.
    """
    ranked = sorted(rows, key=lambda row: (-row[1], row[0]))
    y = alt.Y("name:N", sort=[name for name, _ in ranked], title=None)
    x = alt.X("score:Q", scale=alt.Scale(domain=[0, 100]), title="composite score (0–100)")
    base = alt.Chart(_data("scores")).encode(y=y, x=x)
    tooltip = [alt.Tooltip("name:N", title="partner"), alt.Tooltip("score:Q", format=".1f")]
    bars = base.mark_bar(color=PARTNER_COLOUR, height={"band": 0.75}).encode(tooltip=tooltip)
    labels = base.mark_text(align="left", baseline="middle", dx=4)
    chart = alt.layer(bars, labels.encode(text=alt.Text("score:Q", format=".1f")))
    data = {"scores": [{"name": name, "score": score} for name, score in ranked]}
    return _finish(chart.properties(width=420, height={"step": 20}), description, data)


def distribution_chart(
    title: str,
    unit: str,
    values: list[float],
    target: float | None,
    highlight: float | None = None,
    *,
    highlight_label: str = "this partner",
) -> Spec:
    """How partners' values spread for one KPI, against the target; needs no partner names.

    A histogram rather than labelled dots, so a partner-only view can show where its own value
    (`highlight`) falls without revealing which peer is which.
    """
    finite = [v for v in values if v is not None and math.isfinite(v)]
    data: dict[str, Rows] = {"values": [{"value": v} for v in finite]}
    middle = _midpoint([*finite, target, highlight])
    if target is not None:
        data["target"] = [{"value": target, "label": "target"}]
    if highlight is not None:
        data["highlight"] = [{"value": highlight, "label": highlight_label}]
    skeleton = _distribution_skeleton(
        unit,
        None if target is None else target > middle,
        None if highlight is None else highlight > middle,
    )
    return {**skeleton, "datasets": data, "description": title}


@functools.lru_cache(maxsize=64)
def _distribution_skeleton(
    unit: str, target_right: bool | None, highlight_right: bool | None
) -> Spec:
    """A distribution chart without its data, built once per shape (see _trend_skeleton).
    `*_right` says on which side of its rule a marker's label goes; None: no such marker."""
    number, _ = _unit_format(unit)
    bins = alt.Bin(maxbins=20, minstep=1) if unit == "count" else alt.Bin(maxbins=20)
    tooltip = [
        alt.Tooltip("value:Q", bin=bins, title="range", format=number),
        alt.Tooltip("count():Q", title="partners"),
    ]
    bars = alt.Chart(_data("values")).mark_bar(color=BAND_COLOUR, stroke="#7a8ca3", strokeWidth=0.5)
    bars = bars.encode(
        x=alt.X("value:Q", bin=bins, axis=_value_axis(unit, title=None)),
        y=alt.Y("count():Q", title="partners", axis=alt.Axis(tickMinStep=1)),
        tooltip=tooltip,
    )
    layers: list[alt.Chart] = [bars]
    if target_right is not None:
        layers += _marker_layers("target", target_right, SERIES_STYLE["target"], line=0)
    if highlight_right is not None:
        style = (PARTNER_COLOUR, [1, 0])
        layers += _marker_layers("highlight", highlight_right, style, line=1)
    chart = alt.layer(*layers).properties(width=PLOT_WIDTH, height=160)
    return _finish(chart, "", {})


def peer_chart(
    title: str,
    unit: str,
    q1: float,
    median: float,
    q3: float,
    own: float | None,
    target: float | None,
) -> Spec:
    """Where a partner stands among its peers, from the peer statistics alone: the middle half
    of peers as a bar, their median as a tick, the target and the partner's own value as
    labelled rules. No other partner's value is in it, so a partner may see it."""
    data: dict[str, Rows] = {
        "band": [{"q1": q1, "q3": q3, "label": BAND_LABEL}],
        "median": [{"value": median, "label": "peer median"}],
    }
    middle = _midpoint([q1, q3, own, target])
    target_left = own_left = None  # which side of its rule each label goes; None: no rule
    if target is not None:
        data["target"] = [{"value": target, "label": "target"}]
        target_left = target > middle
    if own is not None:
        data["highlight"] = [{"value": own, "label": "you"}]
        own_left = own > middle
    if target is not None and own is not None:
        # both: each label on its outer side, so neither crosses the other's rule
        target_left, own_left = target <= own, own < target
    skeleton = _peer_skeleton(unit, target_left, own_left)
    return {**skeleton, "datasets": data, "description": title}


@functools.lru_cache(maxsize=64)
def _peer_skeleton(unit: str, target_left: bool | None, own_left: bool | None) -> Spec:
    """A peer chart without its data, built once per shape (see _trend_skeleton).
    `*_left`: the marker's label goes left of its rule; None: no such marker."""
    axis = _value_axis(unit, title=None)
    band = alt.Chart(_data("band")).mark_bar(color=BAND_COLOUR, height=28, y=25)
    band = band.encode(x=alt.X("q1:Q", axis=axis), x2=alt.X2("q3:Q"))
    median = alt.Chart(_data("median")).mark_tick(
        color=SERIES_STYLE["peer median"][0], thickness=3, size=40, y=25
    )
    median = median.encode(x=alt.X("value:Q"))
    layers: list[alt.Chart] = [band, median]
    if target_left is not None:
        layers += _marker_layers("target", target_left, SERIES_STYLE["target"], line=0)
    if own_left is not None:
        layers += _marker_layers("highlight", own_left, (PARTNER_COLOUR, [1, 0]), line=1)
    chart = alt.layer(*layers).properties(width=PLOT_WIDTH, height=50)
    return _finish(chart, "", {})


def _midpoint(values: list[float | None]) -> float:
    """The middle of what the x axis will show; labels right of it are set to the left."""
    present = [v for v in values if v is not None]
    return (min(present) + max(present)) / 2 if present else 0.0


def _marker_layers(
    name: str, label_left: bool, style: tuple[str, list[int]], line: int
) -> list[alt.Chart]:
    """A vertical rule labelled in words above it, so it reads without colour or legend.

    Each marker has its own text line so close markers' labels never collide, and a label
    sits on the rule's inner side so it is not cut off at the chart's edge.
    """
    colour, dash = style
    base = alt.Chart(_data(name)).encode(x=alt.X("value:Q"))
    rule = base.mark_rule(color=colour, strokeWidth=2.5, strokeDash=dash, y=-4 - 16 * line)
    text = base.mark_text(
        align="right" if label_left else "left",
        dx=-5 if label_left else 5,
        baseline="bottom",
        y=-4 - 16 * line,  # above the plot, where no bar can hide it
        color=colour,
        fontWeight="bold",
    )
    return [rule, text.encode(text=alt.Text("label:N"))]


FUNNEL_STYLE: dict[str, tuple[str, list[int]]] = {
    "alliance value": ("#000000", [1, 0]),
    "95% limits": ("#6b6b6b", [6, 3]),
    "99.8% limits": ("#6b6b6b", [2, 2]),
}


def funnel_chart(
    title: str,
    unit: str,
    centre: float,
    limits: list[tuple[float, float, float, float, float]],
    points: list[tuple[str, float, float, str]],
) -> Spec:
    """A funnel plot (Spiegelhalter 2005): each partner's value against its denominator, with
    the pooled alliance value and its 95 % and 99.8 % limits, which narrow as the denominator
    grows. `limits` are (denominator, low 95, high 95, low 99.8, high 99.8) as SQL drew them;
    `points` (label, denominator, value, tooltip text). The denominator axis is logarithmic:
    partners differ in size by orders of magnitude."""
    d = [row[0] for row in limits]
    columns = [
        {"series": "alliance value", "line": "centre", "d": d, "y": [centre] * len(d)},
        {"series": "95% limits", "line": "low95", "d": d, "y": [row[1] for row in limits]},
        {"series": "95% limits", "line": "high95", "d": d, "y": [row[2] for row in limits]},
        {"series": "99.8% limits", "line": "low998", "d": d, "y": [row[3] for row in limits]},
        {"series": "99.8% limits", "line": "high998", "d": d, "y": [row[4] for row in limits]},
    ]
    rows = [{"label": lab, "d": den, "y": val, "text": text} for lab, den, val, text in points]
    return {
        **_funnel_skeleton(unit),
        "datasets": {"limits": columns, "points": rows},
        "description": title,
    }


@functools.lru_cache(maxsize=16)
def _funnel_skeleton(unit: str) -> Spec:
    """A funnel plot without its data, built once per unit (see _trend_skeleton)."""
    labels = list(FUNNEL_STYLE)
    colours = alt.Scale(domain=labels, range=[FUNNEL_STYLE[n][0] for n in labels])
    dashes = alt.Scale(domain=labels, range=[FUNNEL_STYLE[n][1] for n in labels])
    # two columns: three side by side make the chart 362 px wide, wider than a phone's
    # column (about 344 px at 390), and the static chart shrinks its 12 px text below 12 px
    key = alt.Legend(title=None, symbolType="stroke", symbolSize=500, columns=2)
    x = alt.X("d:Q", scale=alt.Scale(type="log"), title="denominator (log scale)")
    y = alt.Y("y:Q", scale=alt.Scale(zero=False, nice=True), axis=_value_axis(unit, tickCount=4))
    lines = (
        _flattened("limits", ["d", "y"])
        .mark_line()
        .encode(
            color=alt.Color("series:N", scale=colours, legend=key),
            strokeDash=alt.StrokeDash("series:N", scale=dashes, legend=key),
            detail=alt.Detail("line:N"),
        )
    )
    tooltip = [alt.Tooltip("label:N", title="partner"), alt.Tooltip("text:N", title="value")]
    dots = (
        alt.Chart(_data("points"))
        .mark_point(filled=True, size=40, color=PARTNER_COLOUR, opacity=0.9)
        .encode(tooltip=tooltip)
    )
    chart = alt.layer(lines, dots).encode(x=x, y=y).properties(width=PLOT_WIDTH, height=240)
    return _finish(chart, "", {})
