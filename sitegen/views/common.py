"""The pieces every view is made of: a status, a table, a chart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sitegen.filters import STANDING_ICONS, STANDING_WORDS, STATUS_ICONS, STATUS_WORDS, num
from sitegen.svg import spec_digest, spec_json

# A board packet (the alliance's, the review's) gives a page or a section each to this many
# partners at most, the dashboard's limit for a row per partner: Typst lays a document out
# whole, 0.2 to 0.35 MB a page, so a page for each of 10,000 partners would hold gigabytes,
# and no board reads 10,000 pages. The site lists every partner, and each partner's own PDF
# and email say how it stands.
PACKET_PARTNERS_MAX = 150
T = TypeVar("T")


@dataclass(frozen=True)
class Status:
    """A status as it is shown: never colour alone, always the glyph and the word."""

    key: str  # met, at_risk, missed, no_data, suppressed
    icon: str
    word: str


def first_by(items: list[T], key: Callable[[T], Any], limit: int) -> list[T]:
    """The `limit` items that sort first by `key`, in their own order (all when they fit):
    who a board packet gives its pages."""
    if len(items) <= limit:
        return list(items)
    chosen = sorted(sorted(range(len(items)), key=lambda i: key(items[i]))[:limit])
    return [items[i] for i in chosen]


def partner_count(count: int) -> str:
    """ "1 partner", "1,234 partners"."""
    return f"{num(count)} partner" + ("" if count == 1 else "s")


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
