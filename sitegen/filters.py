"""Number and status formatting: the Jinja filters every template (site, PDF, email) uses.

Templates never compute; they pass a number and its KPI unit here. One place decides how many
decimals a unit gets, so the site, the PDF and the email always show the same figure.
"""

from __future__ import annotations

import functools
import math
from decimal import ROUND_HALF_UP, Context, Decimal

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

MINUS = "\u2212"  # a real minus sign: hyphens are hard to read in tables

# (decimals, prefix, suffix) per KPI unit
UNIT_FORMATS: dict[str, tuple[int, str, str]] = {
    "percent": (1, "", "%"),
    "rate": (1, "", ""),
    "ratio": (2, "", ""),
    "days": (1, "", " days"),
    "minutes": (0, "", " min"),
    "usd": (0, "$", ""),
    "score": (1, "", ""),
    "count": (0, "", ""),
}
# What a change is counted in: percentages change by points, not by per cent.
DELTA_SUFFIX = {"percent": " pts", "days": " days", "minutes": " min"}

STATUS_WORDS = {
    "met": "met",
    "at_risk": "at risk",
    "missed": "missed",
    "no_data": "no data",
    "suppressed": "suppressed",
}
# Glyphs shown beside the word, never instead of it (status is not told by colour alone).
STATUS_ICONS = {"met": "✓", "at_risk": "!", "missed": "✗", "no_data": "–", "suppressed": "S"}
# A partner's standing, read from its composite score (kpi_composite.sql), shown the same way.
STANDING_WORDS = {
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "not_scored": "not scored",
}
STANDING_ICONS = {"on_track": "✓", "at_risk": "!", "off_track": "✗", "not_scored": "–"}
MISSING = "–"


def _usable(value: float | None) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


# Enough digits for any double written out in full (1.8e308 has 309), so that quantize never
# runs out of precision (the default 28 digits failed from 1e27 up).
_EXACT = Context(prec=400)


def _rounded(value: float, decimals: int) -> Decimal:
    """Half away from zero, on the number as written (repr), as people round by hand:
    1012.5 → 1013, not the banker's 1012."""
    step = Decimal(1).scaleb(-decimals)
    return Decimal(repr(float(value))).quantize(step, rounding=ROUND_HALF_UP, context=_EXACT)


@functools.lru_cache(maxsize=1 << 16)
def _number(value: float, decimals: int) -> str:
    """Cached: a partner page shows each period's target and peer figures in every row, and
    the same ones on every other partner's page (a million calls at 200 partners)."""
    rounded = _rounded(value, decimals)
    text = f"{abs(rounded):,.{decimals}f}"
    return (MINUS if rounded < 0 else "") + text


def num(value: float | None, decimals: int = 0) -> str:
    """A plain number with thousands separators: 1,234."""
    return _number(value, decimals) if _usable(value) else MISSING


def pct(value: float | None, decimals: int = 1) -> str:
    """A value already in per cent (0–100): 12.5%."""
    return _number(value, decimals) + "%" if _usable(value) else MISSING


def money(value: float | None, decimals: int = 0) -> str:
    """US dollars: $1,235, −$12."""
    if not _usable(value):
        return MISSING
    text = _number(value, decimals)
    return f"{MINUS}${text[1:]}" if text.startswith(MINUS) else f"${text}"


def value(amount: float | None, unit: str) -> str:
    """A KPI value in its unit: 12.5%, 0.87, 4.4 days, $1,235."""
    if not _usable(amount):
        return MISSING
    decimals, prefix, suffix = UNIT_FORMATS[unit]
    if prefix == "$":
        return money(amount, decimals)
    return _number(amount, decimals) + suffix


def delta(change: float | None, unit: str) -> str:
    """A signed change in the KPI's unit: +1.2 pts, −0.05, +$12."""
    if not _usable(change):
        return MISSING
    decimals, prefix, _ = UNIT_FORMATS[unit]
    rounded = _rounded(change, decimals)
    if rounded == 0:
        return "±0" + DELTA_SUFFIX.get(unit, "")
    sign = "+" if rounded > 0 else MINUS
    return f"{sign}{prefix}{abs(rounded):,.{decimals}f}{DELTA_SUFFIX.get(unit, '')}"


def status_icon(status: str) -> str:
    return STATUS_ICONS[status]


def status_word(status: str) -> str:
    return STATUS_WORDS[status]


def script_json(text: str) -> Markup:
    """JSON text made safe inside <script>, as Jinja's tojson makes it (<, >, & and ' become
    \\u escapes), for JSON already encoded: a chart's spec is encoded once, for its cache key."""
    return htmlsafe_json_dumps(text, dumps=lambda already_json: already_json)


FILTERS = {
    "num": num,
    "pct": pct,
    "money": money,
    "value": value,
    "delta": delta,
    "status_icon": status_icon,
    "status_word": status_word,
    "script_json": script_json,
}
