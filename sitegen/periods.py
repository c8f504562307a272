"""Periods as partners write them: `2025-09` (a month), `2025-Q3` (a quarter), `2025` (a year).

The one place that reads a period's text (the SQL that checks metric rows is given the same
year range). Years run from FIRST_YEAR to LAST_YEAR: a year 0000 or 9999 is a typing mistake,
and Python's dates could not even hold what lies around it.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

FIRST_YEAR, LAST_YEAR = 1900, 2200
_PERIOD = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2])|-Q([1-4]))?$")
FORMS = '"2025-09", "2025-Q3" or "2025"'
KINDS = ("month", "quarter", "year")


def problem(text: str) -> str | None:
    """Why `text` is not a period, or None when it is one."""
    match = _PERIOD.match(text)
    if not match:
        return f"{text!r} is not a period like {FORMS}"
    if not FIRST_YEAR <= int(match.group(1)) <= LAST_YEAR:
        return f"{text!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}"
    return None


def kind(period: str) -> str:
    """month, quarter or year."""
    return "quarter" if "-Q" in period else "month" if "-" in period else "year"


def start(period: str) -> date:
    """The first day of a (valid) period."""
    match = _PERIOD.match(period)
    if match is None:
        raise ValueError(f"not a period: {period!r}")
    year, month, quarter = match.groups()
    if quarter:
        return date(int(year), (int(quarter) - 1) * 3 + 1, 1)
    return date(int(year), int(month or 1), 1)


def end(period: str) -> date:
    """The last day of a (valid) period: the day before the next one starts."""
    first = start(period)
    months = {"month": 1, "quarter": 3, "year": 12}[kind(period)]
    index = first.month - 1 + months
    return date(first.year + index // 12, index % 12 + 1, 1) - timedelta(days=1)
