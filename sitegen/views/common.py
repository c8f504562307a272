"""The pieces every view is made of: a status, a table, a chart."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sitegen.filters import STANDING_ICONS, STANDING_WORDS, STATUS_ICONS, STATUS_WORDS
from sitegen.svg import spec_digest, spec_json


@dataclass(frozen=True)
class Status:
    """A status as it is shown: never colour alone, always the glyph and the word."""

    key: str  # met, at_risk, missed, no_data, suppressed
    icon: str
    word: str


def status(key: str) -> Status:
    return Status(key, STATUS_ICONS[key], STATUS_WORDS[key])


def standing_status(key: str) -> Status:
    """A partner's standing (on track, at risk, off track, not scored), shown as a status is."""
    return Status(key, STANDING_ICONS[key], STANDING_WORDS[key])


@dataclass(frozen=True)
class Reading:
    """An SPC reading as it is shown: the Making Data Count icon (static/icons/<icon>.svg)
    and always its words beside it."""

    key: str  # common, special_improving, special_concerning; pass, fail, hit_or_miss
    icon: str  # "variation-improving-high", …
    word: str  # "special cause, improving (high)"


@dataclass(frozen=True)
class Table:
    """A data table, every cell already formatted; the first cell of a row is its header."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ChartView:
    """A chart as a page or a PDF shows it: its Vega-Lite spec (as canonical JSON, whose hash
    `digest` names its drawn SVG in the chart cache), the words around it and the data table
    behind it; the page carries the spec too, for the interactive Vega view."""

    id: str
    alt: str
    caption: str
    table: Table | None
    spec: str
    digest: str


def chart(
    chart_id: str,
    spec: dict[str, Any],
    alt: str,
    caption: str,
    table: Table | None,
) -> ChartView:
    text = spec_json(spec)
    return ChartView(chart_id, alt, caption, table, text, spec_digest(text))
