"""Periods as partners write them, read in one place."""

from __future__ import annotations

import pytest

from sitegen import periods


def test_first_and_last_days() -> None:
    assert str(periods.start("2025-Q3")) == "2025-07-01"
    assert str(periods.end("2025-Q3")) == "2025-09-30"
    assert str(periods.end("2024-02")) == "2024-02-29"
    assert str(periods.end("2025-12")) == "2025-12-31"
    assert str(periods.end("2025")) == "2025-12-31"
    assert str(periods.end("2200-12")) == "2200-12-31"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("2025-13", '\'2025-13\' is not a period like "2025-09", "2025-Q3" or "2025"'),
        ("2025-Q5", '\'2025-Q5\' is not a period like "2025-09", "2025-Q3" or "2025"'),
        ("25-09", '\'25-09\' is not a period like "2025-09", "2025-Q3" or "2025"'),
        ("0000-01", "'0000-01' is outside the years 1900 to 2200"),
        ("9999", "'9999' is outside the years 1900 to 2200"),
        ("1899-12", "'1899-12' is outside the years 1900 to 2200"),
        ("2201-Q1", "'2201-Q1' is outside the years 1900 to 2200"),
    ],
)
def test_what_is_not_a_period(text: str, why: str) -> None:
    assert periods.problem(text) == why


@pytest.mark.parametrize("text", ["1900", "1900-01", "2025-Q1", "2200-12", "2200-Q4"])
def test_periods_within_the_years(text: str) -> None:
    assert periods.problem(text) is None
    assert periods.kind(text) in periods.KINDS
