"""Number formatting: one rule per unit, rounding as people do it by hand."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2.utils import htmlsafe_json_dumps

from sitegen.filters import (
    UNIT_FORMATS,
    delta,
    money,
    num,
    pct,
    script_json,
    status_icon,
    status_word,
    value,
)


@pytest.mark.parametrize(
    ("amount", "unit", "text"),
    [
        (14.25, "percent", "14.3%"),  # half away from zero, not to even
        (14.2, "percent", "14.2%"),
        (-2.5, "percent", "−2.5%"),  # a real minus sign
        (452.14, "rate", "452.1"),
        (0.875, "ratio", "0.88"),
        (4.44, "days", "4.4 days"),
        (161.0, "minutes", "161 min"),
        (1012.5, "usd", "$1,013"),
        (-12.4, "usd", "−$12"),
        (57.66, "score", "57.7"),
        (1234.0, "count", "1,234"),
        (None, "percent", "–"),
        (float("nan"), "percent", "–"),
        (-0.04, "percent", "0.0%"),  # no "−0.0"
    ],
)
def test_value_by_unit(amount: float | None, unit: str, text: str) -> None:
    assert value(amount, unit) == text


@pytest.mark.parametrize(
    ("change", "unit", "text"),
    [
        (1.25, "percent", "+1.3 pts"),
        (-0.2, "percent", "−0.2 pts"),
        (0.01, "percent", "±0 pts"),
        (-0.05, "ratio", "−0.05"),
        (12.0, "usd", "+$12"),
        (3.0, "days", "+3.0 days"),
        (None, "usd", "–"),
    ],
)
def test_delta(change: float | None, unit: str, text: str) -> None:
    assert delta(change, unit) == text


def test_status_is_icon_and_word() -> None:
    assert [(status_icon(s), status_word(s)) for s in ("met", "at_risk", "missed")] == [
        ("✓", "met"), ("!", "at risk"), ("✗", "missed"),
    ]  # fmt: skip
    assert (status_icon("no_data"), status_word("no_data")) == ("–", "no data")
    assert (status_icon("suppressed"), status_word("suppressed")) == ("S", "suppressed")


def test_script_json_escapes_already_encoded_json_as_tojson_does() -> None:
    spec = {"description": "</script><script>alert('x')</script> & <!--", "n": [1, 2.5]}
    text = json.dumps(spec)
    safe = script_json(text)
    assert "<" not in safe and ">" not in safe and "&" not in safe and "'" not in safe
    assert json.loads(safe) == spec  # the browser's JSON.parse sees the same spec
    assert safe == htmlsafe_json_dumps(spec)


@given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(sorted(UNIT_FORMATS)))
def test_every_finite_value_formats_in_every_unit(amount: float, unit: str) -> None:
    text = value(amount, unit)
    assert text and text != "–"
    assert delta(amount, unit)


def test_huge_values_are_written_out_in_full() -> None:
    assert value(1e27, "usd") == "$1,000,000,000,000,000,000,000,000,000"
    assert value(-1e27, "count") == "−1,000,000,000,000,000,000,000,000,000"
    assert len(value(1.7e308, "count").replace(",", "")) == 309


def test_plain_filters() -> None:
    assert num(1234567.891) == "1,234,568"
    assert num(30, 1) == "30.0"
    assert pct(12.345) == "12.3%"
    assert money(999.5) == "$1,000"
