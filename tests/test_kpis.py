"""Golden values for the KPI engine (sitegen.kpis), every number worked out by hand.

Nothing here was obtained by running the engine: each expected value comes from the fixture
rows, with the arithmetic in a comment next to the assertion.

Settings for every run: amber_band 0.05, min_denominator 11, loaded with today 2026-11-22.

tests/fixtures/kpi/ — 4 partners, 5 KPIs, metrics 2024-10 .. 2025-12 (91 rows)
  partners: alpha, beta, delta = hospital; gamma = post_acute; delta joined 2025-03-15.
  KPIs (weight in brackets):
    screening  percent ratio, monthly, higher, target 80 [2], global band → 4.0
    readmit    percent ratio, monthly, LOWER, target 15 [1], own amber_band 0.10 → 1.5
    hcahps     percent ratio, QUARTERLY (2025-Q3, 2025-Q4 only), higher, target 70 [1] → 3.5
    wait_days  mean (no counts), monthly 2025-09..12, lower, target 14 [1] → 0.7
    navigators count, aggregation LAST, monthly 2025-07..11, higher, target 10 [1], gamma only
  targets.csv: beta commits to readmit 13 from 2025-09 on (open-ended).

  Which row exercises which rule:
    alpha screening 2025-11 = 160/200 = 80.0 ........ exactly on target → met
    beta  screening 2025-11 = 152/200 = 76.0 ........ gap −4 = −band → at_risk (boundary)
    gamma screening 2025-11 = 759/1000 = 75.9 ....... gap −4.1 < −4 → missed
    alpha screening 2025-10 missing ................. no_data; 2025-11 change_prev NULL
    alpha screening 2024-11 = 75.0 .................. year-over-year base for 2025-11
    beta  screening 2025-07..09 = 45/50, 105/150, 160/200 → Q3 310/400 = 77.5 ≠ mean 80
    alpha readmit 2025-11 = 16.0 .................... lower-is-better, at_risk only by the
                                                      KPI's own band (1.5; global would be 0.75)
    beta  readmit 2025-08 / 2025-09 ................. target 15 'kpi' → 13 'partner'
    gamma readmit 2025-11 = 0/8 ..................... suppressed: denominator 8 < 11
    delta readmit 2025-11 = 5/500, 2025-09 = 3/100 .. suppressed: numerator in 1..10
    gamma hcahps 2025-Q4 = 11/11 .................... NOT suppressed (11 is on the safe side)
    2025-12: only alpha and beta have monthly rows (gamma and delta only a 2025-Q4 hcahps row)
             → 2 of 4 is not more than half → "latest" as-of is 2025-11.
    2025-02: gamma has no rows; delta has not joined → 2 of 3 → qualifies.
    2024-10: only alpha has rows (1 of 3).
    composite 2025-11: beta 75, alpha 62.5, delta 62.5 (tie), gamma 50.

tests/fixtures/kpi_peers/ — 6 partners (h1..h5 hospital, p1 post_acute) × wait_days (lower)
    2025-05: h1 11, h2 13, h3 14, h4 16, p1 9, h5 missing → 'all' n = 5 shown, hospital 4 withheld
    2025-06: h1 10, h2 12, h3 12, h4 15, h5 20, p1 8 → 'all' 6, hospital 5 shown, post_acute 1
"""

from __future__ import annotations

import csv
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen.kpis import KpiSettings, compute
from sitegen.load import load_project

FIXTURES = Path(__file__).parent / "fixtures"
KPI = FIXTURES / "kpi"
PEERS = FIXTURES / "kpi_peers"
TODAY = date(2026, 11, 22)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


@dataclass
class Run:
    con: duckdb.DuckDBPyConnection
    as_of: str

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        cursor = self.con.execute(sql, list(params))
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, map(_plain, row), strict=True)) for row in cursor.fetchall()]

    def one(self, sql: str, *params: Any) -> dict[str, Any]:
        rows = self.rows(sql, *params)
        assert len(rows) == 1, f"expected exactly one row, got {rows}"
        return rows[0]

    def card(self, partner: str, kpi: str, period: str) -> dict[str, Any]:
        """One scorecard row as a dict."""
        return self.one(
            "SELECT * FROM scorecard WHERE partner_id::VARCHAR = ? AND kpi_id::VARCHAR = ? "
            "AND period::VARCHAR = ?",
            partner,
            kpi,
            period,
        )

    def periods(self, table: str, partner: str, kpi: str | None = None) -> list[str]:
        """The period labels of one partner (and KPI) in a table, in time order."""
        where = "partner_id::VARCHAR = ?" + (" AND kpi_id::VARCHAR = ?" if kpi else "")
        params = [partner, kpi] if kpi else [partner]
        rows = self.con.execute(
            f"SELECT period::VARCHAR FROM {table} WHERE {where} ORDER BY period", params
        ).fetchall()
        return [r[0] for r in rows]

    def composite(self, partner: str, period: str) -> dict[str, Any]:
        return self.one(
            "SELECT * FROM composite WHERE partner_id::VARCHAR = ? AND period::VARCHAR = ?",
            partner,
            period,
        )

    def peer(self, kpi: str, period: str, scope: str) -> dict[str, Any]:
        return self.one(
            "SELECT * FROM peer_stats WHERE kpi_id::VARCHAR = ? AND period::VARCHAR = ? "
            "AND scope::VARCHAR = ?",
            kpi,
            period,
            scope,
        )

    def alliance(self, kpi: str, period: str) -> dict[str, Any]:
        return self.one(
            "SELECT * FROM alliance WHERE kpi_id::VARCHAR = ? AND period::VARCHAR = ?",
            kpi,
            period,
        )

    def flag(self, table: str, column: str, partner: str, period: str, kpi: str = "") -> Any:
        """submissions.submitted / coverage.present for one row."""
        extra = " AND kpi_id::VARCHAR = ?" if kpi else ""
        params = [partner, period] + ([kpi] if kpi else [])
        row = self.one(
            f"SELECT {column} FROM {table} WHERE partner_id::VARCHAR = ? "
            f"AND period::VARCHAR = ?{extra}",
            *params,
        )
        return row[column]


def expect(row: dict[str, Any], **want: Any) -> None:
    """Compare the named columns; floats approximately, everything else exactly."""
    got = {name: row[name] for name in want}
    assert got == {k: pytest.approx(v) if isinstance(v, float) else v for k, v in want.items()}


def run(folder: Path, *, grain: str = "month", period: str = "latest", today: date = TODAY) -> Run:
    con = duckdb.connect()
    summary = load_project(con, folder, "data", TODAY)
    assert summary.rejected == 0
    as_of = compute(
        con,
        KpiSettings(grain=grain, period=period, amber_band=0.05, min_denominator=11, today=today),
    )
    return Run(con, as_of)


@pytest.fixture(scope="module")
def month() -> Iterator[Run]:
    """Main fixture, monthly scorecard, period 'latest' (→ 2025-11)."""
    result = run(KPI)
    yield result
    result.con.close()


@pytest.fixture(scope="module")
def december() -> Iterator[Run]:
    """Main fixture, monthly scorecard, explicit period 2025-12 (the minority month)."""
    result = run(KPI, period="2025-12")
    yield result
    result.con.close()


@pytest.fixture(scope="module")
def quarter() -> Iterator[Run]:
    """Main fixture, quarterly scorecard, period 'latest' (→ 2025-Q4)."""
    result = run(KPI, grain="quarter")
    yield result
    result.con.close()


@pytest.fixture(scope="module")
def peers() -> Iterator[Run]:
    """Six-partner fixture, monthly scorecard, period 'latest' (→ 2025-06)."""
    result = run(PEERS)
    yield result
    result.con.close()


# --------------------------------------------------------------------------- fixture sanity


def test_fixtures_load_without_rejections() -> None:
    con = duckdb.connect()
    summary = load_project(con, KPI, "data", TODAY)
    # screening 14 alpha + 14 beta + 12 gamma + 9 delta = 49; readmit 6+6+5+5 = 22;
    # hcahps 8; wait_days 3+3+2 = 8; navigators 4 → 49 + 22 + 8 + 8 + 4 = 91
    assert (summary.partners, summary.kpis, summary.targets) == (4, 5, 1)
    assert (summary.read, summary.accepted, summary.rejected) == (91, 91, 0)
    con = duckdb.connect()
    summary = load_project(con, PEERS, "data", TODAY)
    # 5 rows in 2025-05 + 6 rows in 2025-06 = 11
    assert (summary.partners, summary.kpis, summary.targets) == (6, 1, 0)
    assert (summary.read, summary.accepted, summary.rejected) == (11, 11, 0)


# --------------------------------------------------------------------------- rule 2: as-of


def test_as_of_latest_skips_month_where_only_a_minority_has_monthly_data(month: Run) -> None:
    # 2025-12: monthly rows from alpha and beta only; gamma's and delta's 2025-Q4 hcahps rows
    # do not lie inside December → 2 of 4 joined partners, not more than half.
    # 2025-11: all 4 have monthly rows → 4 > 2 → as-of 2025-11.
    assert month.as_of == "2025-11"
    expect(
        month.one("SELECT * FROM as_of"),
        period="2025-11",
        grain="month",
        period_start=date(2025, 11, 1),
        period_end=date(2025, 11, 30),
    )


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        # 2025-11 ends 2025-11-30, not < 2025-11-30 → not ended; 2025-10: alpha (readmit),
        # beta, gamma, delta have monthly rows → 4 of 4 → 2025-10.
        pytest.param(date(2025, 11, 30), "2025-10", id="month-ending-today-not-ended"),
        # the day after: 2025-11-30 < 2025-12-01 → 2025-11 (4 of 4) qualifies.
        pytest.param(date(2025, 12, 1), "2025-11", id="month-ended-yesterday"),
        # 2025-02: joined by 2025-02-28 = alpha, beta, gamma (delta joined 2025-03-15);
        # rows from alpha and beta → 2 of 3 > 1.5 → 2025-02 (counting delta, 2 of 4 would fail
        # and 2025-01 would be chosen instead).
        pytest.param(date(2025, 3, 5), "2025-02", id="only-joined-partners-count"),
        # only 2024-10 has ended with data, and only alpha of 3 joined partners has rows
        # (1 of 3) → no period qualifies → latest ended period with any data: 2024-10.
        pytest.param(date(2024, 11, 15), "2024-10", id="fallback-latest-with-any-data"),
    ],
)
def test_as_of_latest_rule(today: date, expected: str) -> None:
    result = run(KPI, today=today)
    assert result.as_of == expected
    assert result.one("SELECT period FROM as_of")["period"] == expected


def test_as_of_explicit_period_is_taken_as_given(december: Run) -> None:
    # period="2025-12" is used although only 2 of 4 partners have data in it
    assert december.as_of == "2025-12"
    expect(
        december.one("SELECT * FROM as_of"),
        period="2025-12",
        grain="month",
        period_start=date(2025, 12, 1),
        period_end=date(2025, 12, 31),
    )


def test_as_of_latest_quarter(quarter: Run) -> None:
    # 2025-Q4 (ends 2025-12-31 < 2026-11-22): all 4 partners have monthly rows in Oct/Nov
    # (and quarterly 2025-Q4 rows) → 4 of 4 → 2025-Q4
    assert quarter.as_of == "2025-Q4"
    expect(
        quarter.one("SELECT * FROM as_of"),
        period="2025-Q4",
        grain="quarter",
        period_start=date(2025, 10, 1),
        period_end=date(2025, 12, 31),
    )


# --------------------------------------------------------------------------- scorecard rows


def test_scorecard_rows_span_from_the_first_submission_and_joining(month: Run) -> None:
    # a partner's rows run from its first row for the KPI (or the month it joined) to the
    # calendar's last month, 2025-12: alpha screening 2024-10 .. 2025-12 → 15 rows, including
    # the missing 2025-10
    alpha = month.periods("scorecard", "alpha", "screening")
    assert alpha == [f"2024-{m}" for m in ("10", "11", "12")] + [
        f"2025-{m:02d}" for m in range(1, 13)
    ]
    # delta joined 2025-03-15: first month ending on/after it is 2025-03 → 2025-03..2025-12 = 10
    assert month.periods("scorecard", "delta", "screening") == [
        f"2025-{m:02d}" for m in range(3, 13)
    ]
    # navigators: gamma from its first row, 2025-07, to the calendar's last month, 2025-12;
    # 2025-09 and 2025-12 are no_data rows
    assert month.periods("scorecard", "gamma", "navigators") == [
        "2025-07",
        "2025-08",
        "2025-09",
        "2025-10",
        "2025-11",
        "2025-12",
    ]
    assert month.card("gamma", "navigators", "2025-12")["status"] == "no_data"
    # beta's first screening row is 2024-11: its scorecard starts there, not at the alliance's
    # first month (2024-10)
    assert month.periods("scorecard", "beta", "screening")[0] == "2024-11"
    assert month.card("gamma", "navigators", "2025-09")["status"] == "no_data"
    # only KPIs a partner reports get rows: alpha never sends wait_days or navigators
    assert month.periods("scorecard", "alpha", "wait_days") == []
    assert month.periods("scorecard", "beta", "navigators") == []


def test_quarterly_kpi_on_monthly_scorecard_stays_quarterly(month: Run) -> None:
    # coarser of month and quarterly → quarter periods
    assert month.periods("scorecard", "alpha", "hcahps") == ["2025-Q3", "2025-Q4"]
    expect(
        month.card("alpha", "hcahps", "2025-Q3"),
        grain="quarter",
        period_start=date(2025, 7, 1),
        period_end=date(2025, 9, 30),
        value=65.0,  # 130 / 200 × 100
        numerator=130,
        denominator=200,
        target=70.0,
        target_source="kpi",
        status="missed",  # gap 65 − 70 = −5 < −3.5 (0.05 × 70)
    )


# --------------------------------------------------------------------------- rule 4: status


def test_status_met_exactly_on_target(month: Run) -> None:
    expect(
        month.card("alpha", "screening", "2025-11"),
        grain="month",
        period_start=date(2025, 11, 1),
        period_end=date(2025, 11, 30),
        value=80.0,  # 160 / 200 × 100
        numerator=160,
        denominator=200,
        target=80.0,
        target_source="kpi",
        status="met",  # gap = +1 × (80 − 80) = 0 ≥ 0
    )


def test_status_amber_boundary_is_inclusive(month: Run) -> None:
    # band = 0.05 × |80| = 4
    expect(
        month.card("beta", "screening", "2025-11"),
        value=76.0,  # 152 / 200 × 100
        numerator=152,
        denominator=200,
        status="at_risk",  # gap 76 − 80 = −4; −4 ≤ −4 < 0
    )
    expect(
        month.card("gamma", "screening", "2025-11"),
        value=75.9,  # 759 / 1000 × 100
        numerator=759,
        denominator=1000,
        status="missed",  # gap 75.9 − 80 = −4.1 < −4
    )


def test_status_lower_is_better_with_kpi_own_amber_band(month: Run) -> None:
    # readmit: direction lower (sign −1), own amber_band 0.10 → band 0.10 × 15 = 1.5
    expect(
        month.card("alpha", "readmit", "2025-11"),
        value=16.0,  # 160 / 1000 × 100
        target=15.0,
        target_source="kpi",
        status="at_risk",  # gap −1 × (16 − 15) = −1 ≥ −1.5 (global band 0.75 would say missed)
    )
    expect(
        month.card("alpha", "readmit", "2025-10"),
        value=15.0,  # 150 / 1000 × 100
        status="met",  # gap −1 × (15 − 15) = 0
    )
    expect(
        month.card("beta", "readmit", "2025-11"),
        value=12.0,  # 60 / 500 × 100
        status="met",  # gap −1 × (12 − 13) = +1 ≥ 0 (partner target 13)
    )
    expect(
        month.card("delta", "wait_days", "2025-11"),
        value=16.0,
        status="missed",  # gap −1 × (16 − 14) = −2 < −0.7 (0.05 × 14)
    )
    expect(
        month.card("gamma", "wait_days", "2025-11"),
        value=14.5,
        status="at_risk",  # gap −1 × (14.5 − 14) = −0.5 ≥ −0.7
    )


def test_status_suppressed_by_small_denominator(month: Run) -> None:
    # gamma readmit 2025-11 = 0 / 8: denominator 8 < 11 (numerator 0 is not in 1..10)
    expect(
        month.card("gamma", "readmit", "2025-11"),
        status="suppressed",
        value=None,
        numerator=None,
        denominator=None,
        change_prev=None,
        change_prev_label=None,
        change_yoy=None,
        change_yoy_label=None,
        peer_percentile=None,
        peer_rank=None,
        type_percentile=None,
        type_rank=None,
    )


def test_status_suppressed_by_small_numerator(month: Run) -> None:
    # delta readmit 2025-11 = 5 / 500: denominator 500 ≥ 11 but 1 ≤ 5 ≤ 10
    expect(
        month.card("delta", "readmit", "2025-11"),
        status="suppressed",
        value=None,
        numerator=None,
        denominator=None,
        change_prev=None,
        change_prev_label=None,
        peer_percentile=None,
        peer_rank=None,
    )
    # delta readmit 2025-09 = 3 / 100: 1 ≤ 3 ≤ 10
    assert month.card("delta", "readmit", "2025-09")["status"] == "suppressed"


def test_suppression_thresholds_are_exclusive_at_eleven(month: Run) -> None:
    # gamma hcahps 2025-Q4 = 11 / 11: denominator 11 is not < 11, numerator 11 is not ≤ 10
    expect(
        month.card("gamma", "hcahps", "2025-Q4"),
        value=100.0,  # 11 / 11 × 100
        numerator=11,
        denominator=11,
        status="met",  # 100 − 70 = +30 ≥ 0
    )


def test_missing_month_is_no_data_and_nulls_next_change(month: Run) -> None:
    # alpha sent no screening row for 2025-10
    expect(
        month.card("alpha", "screening", "2025-10"),
        status="no_data",
        value=None,
        numerator=None,
        denominator=None,
        change_prev=None,
        change_prev_label=None,
    )
    # 2025-11 has a value, but its previous period 2025-10 has none → change_prev NULL
    expect(month.card("alpha", "screening", "2025-11"), change_prev=None, change_prev_label=None)


# --------------------------------------------------------------------------- rule 5: changes


def test_change_prev_labels_are_direction_aware(month: Run) -> None:
    # higher: 76.0 (2025-11) − 80.0 (2025-10, 160/200) = −4 → +1 × −4 < 0 → worsening
    expect(
        month.card("beta", "screening", "2025-11"),
        change_prev=-4.0,
        change_prev_label="worsening",
    )
    # lower: 16.0 − 15.0 = +1 → −1 × +1 < 0 → worsening
    expect(
        month.card("alpha", "readmit", "2025-11"), change_prev=1.0, change_prev_label="worsening"
    )
    # lower: 12.0 − 13.0 = −1 → −1 × −1 > 0 → improving
    expect(
        month.card("beta", "readmit", "2025-11"), change_prev=-1.0, change_prev_label="improving"
    )
    # 15.0 (2025-08, 75/500) − 18.0 (2025-07, 72/400) = −3 → lower → improving
    expect(
        month.card("delta", "readmit", "2025-08"), change_prev=-3.0, change_prev_label="improving"
    )
    # 80.0 (2025-09) − 80.0 (2025-08) = 0 → unchanged
    expect(
        month.card("alpha", "screening", "2025-09"), change_prev=0.0, change_prev_label="unchanged"
    )


def test_change_after_suppressed_period_is_null(month: Run) -> None:
    # delta readmit 2025-10 = 80/500 = 16.0, but 2025-09 (3/100) is suppressed → NULL
    expect(
        month.card("delta", "readmit", "2025-10"),
        value=16.0,
        status="at_risk",  # −1 × (16 − 15) = −1 ≥ −1.5
        change_prev=None,
        change_prev_label=None,
    )


def test_change_yoy_across_year_boundary(month: Run) -> None:
    # alpha screening: 80.0 (2025-11) − 75.0 (2024-11, 150/200) = +5 → improving
    expect(
        month.card("alpha", "screening", "2025-11"),
        change_yoy=5.0,
        change_yoy_label="improving",
    )
    # beta screening: 76.0 (2025-11) − 90.0 (2024-11, 180/200) = −14 → worsening
    expect(
        month.card("beta", "screening", "2025-11"),
        change_yoy=-14.0,
        change_yoy_label="worsening",
    )
    # alpha screening 2025-09: no 2024-09 in the data → NULL
    expect(month.card("alpha", "screening", "2025-09"), change_yoy=None, change_yoy_label=None)
    # gamma screening 2025-10: 2024-10 is a no_data row for gamma → NULL
    expect(month.card("gamma", "screening", "2025-10"), change_yoy=None, change_yoy_label=None)


def test_changes_in_december(december: Run) -> None:
    # alpha screening 2025-12 = 170/200 = 85.0; prev 2025-11 80.0 → +5; 2024-12 80.0 → +5
    expect(
        december.card("alpha", "screening", "2025-12"),
        value=85.0,
        change_prev=5.0,
        change_prev_label="improving",
        change_yoy=5.0,
        change_yoy_label="improving",
    )
    # beta wait_days 2025-12 = 15.0, but 2025-11 is missing → NULL
    expect(
        december.card("beta", "wait_days", "2025-12"),
        value=15.0,
        numerator=None,
        denominator=None,
        status="missed",  # −1 × (15 − 14) = −1 < −0.7
        change_prev=None,
        change_prev_label=None,
    )


# --------------------------------------------------------------------------- rule 3: target


def test_partner_commitment_applies_from_valid_from(month: Run) -> None:
    # targets.csv: beta, readmit, 13, valid_from 2025-09, open end
    # 2025-08: last day 2025-08-31 is before 2025-09-01 → KPI target 15
    expect(
        month.card("beta", "readmit", "2025-08"),
        value=14.0,  # 140 / 1000 × 100
        target=15.0,
        target_source="kpi",
        status="met",  # −1 × (14 − 15) = +1
    )
    # 2025-09: last day 2025-09-30 ≥ 2025-09-01 → partner target 13, band 0.10 × 13 = 1.3
    expect(
        month.card("beta", "readmit", "2025-09"),
        value=14.0,
        target=13.0,
        target_source="partner",
        status="at_risk",  # −1 × (14 − 13) = −1 ≥ −1.3
    )
    expect(month.card("beta", "readmit", "2025-12"), target=13.0, target_source="partner")
    # the commitment is beta's only
    expect(month.card("alpha", "readmit", "2025-09"), target=15.0, target_source="kpi")


def test_quarter_target_is_the_one_in_force_on_the_last_day(quarter: Run) -> None:
    # beta readmit 2025-Q3 = (140 + 140 + 140) / (1000 + 1000 + 1000) = 420/3000 = 14.0;
    # on 2025-09-30 the commitment (from 2025-09) is in force → 13, band 1.3
    expect(
        quarter.card("beta", "readmit", "2025-Q3"),
        value=14.0,
        numerator=420,
        denominator=3000,
        target=13.0,
        target_source="partner",
        status="at_risk",  # −1 × (14 − 13) = −1 ≥ −1.3
    )


# --------------------------------------------------------------------------- rule 6: peers


def test_peer_groups_under_five_are_withheld(month: Run) -> None:
    # screening 2025-11: alpha 80, beta 76, gamma 75.9, delta 85 — all usable
    expect(
        month.peer("screening", "2025-11", "all"),
        n=4,
        withheld=True,
        median=None,
        q1=None,
        q3=None,
    )
    # hospitals: alpha, beta, delta = 3; post_acute: gamma = 1
    expect(month.peer("screening", "2025-11", "hospital"), n=3, withheld=True, median=None)
    expect(month.peer("screening", "2025-11", "post_acute"), n=1, withheld=True, median=None)
    expect(
        month.card("alpha", "screening", "2025-11"),
        peer_n=4,
        peer_median=None,
        peer_q1=None,
        peer_q3=None,
        peer_percentile=None,
        peer_rank=None,
        type_n=3,
        type_median=None,
        type_q1=None,
        type_q3=None,
        type_percentile=None,
        type_rank=None,
    )
    expect(month.card("gamma", "screening", "2025-11"), peer_n=4, type_n=1, type_rank=None)


def test_peer_n_excludes_suppressed_partners(month: Run) -> None:
    # readmit 2025-11: gamma (0/8) and delta (5/500) suppressed → alpha, beta = 2
    expect(month.peer("readmit", "2025-11", "all"), n=2, withheld=True, median=None)
    expect(month.peer("readmit", "2025-11", "hospital"), n=2, withheld=True)
    expect(month.card("alpha", "readmit", "2025-11"), peer_n=2, type_n=2, peer_rank=None)


def test_peer_stats_quantiles_interpolate(peers: Run) -> None:
    assert peers.as_of == "2025-06"  # all 6 partners have 2025-06 rows
    # all, sorted: 8, 10, 12, 12, 15, 20 (n = 6, positions (n − 1) × q = 5q)
    #   median: pos 2.5 → 12 + 0.5 × (12 − 12) = 12
    #   q1:     pos 1.25 → 10 + 0.25 × (12 − 10) = 10.5
    #   q3:     pos 3.75 → 12 + 0.75 × (15 − 12) = 14.25, published as days are shown, to
    #           one decimal, half away from zero: 14.3
    expect(
        peers.peer("wait_days", "2025-06", "all"),
        n=6,
        withheld=False,
        median=12.0,
        q1=10.5,
        q3=14.3,
    )
    # hospital, sorted: 10, 12, 12, 15, 20 (n = 5, exactly the minimum; positions 4q)
    #   q1 pos 1 → 12; median pos 2 → 12; q3 pos 3 → 15
    expect(
        peers.peer("wait_days", "2025-06", "hospital"),
        n=5,
        withheld=False,
        median=12.0,
        q1=12.0,
        q3=15.0,
    )
    # post_acute: p1 alone → withheld
    expect(
        peers.peer("wait_days", "2025-06", "post_acute"),
        n=1,
        withheld=True,
        median=None,
        q1=None,
        q3=None,
    )


def test_peer_stats_with_a_missing_partner(peers: Run) -> None:
    # 2025-05, h5 missing. all sorted: 9, 11, 13, 14, 16 (n = 5, positions 4q)
    #   q1 pos 1 → 11; median pos 2 → 13; q3 pos 3 → 14
    expect(
        peers.peer("wait_days", "2025-05", "all"),
        n=5,
        withheld=False,
        median=13.0,
        q1=11.0,
        q3=14.0,
    )
    # hospital: h1, h2, h3, h4 = 4 < 5 → withheld
    expect(peers.peer("wait_days", "2025-05", "hospital"), n=4, withheld=True, median=None)
    # h2 = 13, lower is better; worst→best: 16 (r1), 14 (r2), 13 (r3), 11 (r4), 9 (r5)
    #   percentile 100 × (3 − 1) / (5 − 1) = 50; rank best→worst: 9, 11, 13 → 3
    expect(
        peers.card("h2", "wait_days", "2025-05"),
        peer_n=5,
        peer_median=13.0,
        peer_percentile=50.0,
        peer_rank=3,
        type_n=4,
        type_median=None,
        type_percentile=None,
        type_rank=None,
    )


@pytest.mark.parametrize(
    ("partner", "percentile", "rank", "type_percentile", "type_rank"),
    [
        # wait_days 2025-06 is lower-is-better, so worst→best is descending:
        #   all:      20 h5 (r1), 15 h4 (r2), 12 h2 h3 (r3, tie), 10 h1 (r5), 8 p1 (r6); n − 1 = 5
        #   hospital: 20 h5 (r1), 15 h4 (r2), 12 h2 h3 (r3, tie), 10 h1 (r5);           n − 1 = 4
        # rank best→worst, ties share: all 8→1, 10→2, 12→3, 12→3, 15→5, 20→6;
        #                         hospital 10→1, 12→2, 12→2, 15→4, 20→5
        pytest.param("p1", 100.0, 1, None, None, id="p1"),  # 100×5/5; post_acute withheld
        pytest.param("h1", 80.0, 2, 100.0, 1, id="h1"),  # 100×4/5; 100×4/4
        pytest.param("h2", 40.0, 3, 50.0, 2, id="h2"),  # 100×2/5; 100×2/4
        pytest.param("h3", 40.0, 3, 50.0, 2, id="h3"),  # tie with h2
        pytest.param("h4", 20.0, 5, 25.0, 4, id="h4"),  # 100×1/5; 100×1/4
        pytest.param("h5", 0.0, 6, 0.0, 5, id="h5"),  # worst: 0
    ],
)
def test_peer_percentile_and_rank_with_ties(
    peers: Run,
    partner: str,
    percentile: float,
    rank: int,
    type_percentile: float | None,
    type_rank: int | None,
) -> None:
    expect(
        peers.card(partner, "wait_days", "2025-06"),
        peer_n=6,
        peer_percentile=percentile,
        peer_rank=rank,
        type_n=1 if partner == "p1" else 5,
        type_percentile=type_percentile,
        type_rank=type_rank,
    )


def test_peer_figures_on_the_scorecard(peers: Run) -> None:
    # 'all' from test_peer_stats_quantiles_interpolate; type = hospital for h2
    expect(
        peers.card("h2", "wait_days", "2025-06"),
        value=12.0,
        peer_median=12.0,
        peer_q1=10.5,
        peer_q3=14.3,  # 14.25 published to one decimal
        type_median=12.0,
        type_q1=12.0,
        type_q3=15.0,
    )
    # p1's own type (post_acute, n = 1) is withheld; the 'all' figures are still shown
    expect(
        peers.card("p1", "wait_days", "2025-06"),
        peer_median=12.0,
        type_n=1,
        type_median=None,
        type_q1=None,
        type_q3=None,
    )


# --------------------------------------------------------------------------- rule 7: alliance


def test_alliance_figures_of_fewer_than_5_partners_are_withheld(month: Run) -> None:
    # This fixture has 4 partners: every alliance figure pools fewer than 5 and is withheld,
    # suppressed partners counted among the contributors.
    # readmit 2025-11: alpha 160/1000, beta 60/500, gamma 0/8 (denominator 8 < 11: suppressed)
    # and delta 5/500 (numerator 5 in 1..10: suppressed) → 4 contributors, 2 suppressed
    expect(
        month.alliance("readmit", "2025-11"),
        value=None,
        numerator=None,
        denominator=None,
        partners=4,
        suppressed_partners=2,
        withheld="fewer_than_5",
        status="suppressed",
    )
    # screening 2025-11: alpha, beta, gamma, delta → 4, none suppressed
    expect(
        month.alliance("screening", "2025-11"),
        partners=4,
        suppressed_partners=0,
        withheld="fewer_than_5",
        value=None,
    )
    # wait_days (mean) 2025-11: gamma 14.5, delta 16.0 → 2 contributors
    expect(month.alliance("wait_days", "2025-11"), partners=2, withheld="fewer_than_5")


def test_alliance_mean_in_peers(peers: Run) -> None:
    # (10 + 12 + 12 + 15 + 20 + 8) / 6 = 77/6 = 12.8333, published as 12.8
    expect(
        peers.alliance("wait_days", "2025-06"),
        value=12.8,
        numerator=None,
        denominator=None,
        partners=6,
        withheld=None,
        status="met",  # 12.83 against the target 14, lower is better
    )
    # 2025-05, h5 missing: (11 + 13 + 14 + 16 + 9) / 5 = 63/5 = 12.6, exactly 5 contributors
    expect(peers.alliance("wait_days", "2025-05"), value=12.6, partners=5, withheld=None)


# --------------------------------------------------------------------------- rule 8: composite


@pytest.mark.parametrize(
    ("partner", "score", "scored", "met", "at_risk", "missed", "no_data", "suppressed"),
    [
        # screening met 2×100, readmit at_risk 1×50, hcahps 2025-Q3 (65) missed 1×0
        # → (200 + 50 + 0) / (2 + 1 + 1) = 250/4 = 62.5
        pytest.param("alpha", 62.5, 3, 1, 1, 1, 0, 0, id="alpha"),
        # screening at_risk 2×50, readmit 12 vs 13 met 1×100, hcahps Q3 72 met 1×100,
        # wait_days missing → no_data → (100 + 100 + 100) / (2 + 1 + 1) = 300/4 = 75.0
        pytest.param("beta", 75.0, 3, 2, 1, 0, 1, 0, id="beta"),
        # screening missed 2×0, readmit suppressed, hcahps Q3 70 met 1×100,
        # wait_days 14.5 at_risk 1×50, navigators 10 met 1×100
        # → (0 + 100 + 50 + 100) / (2 + 1 + 1 + 1) = 250/5 = 50.0
        pytest.param("gamma", 50.0, 4, 2, 1, 1, 0, 1, id="gamma"),
        # screening 85 met 2×100, readmit suppressed, hcahps Q3 67 at_risk 1×50
        # (−3 ≥ −3.5), wait_days 16 missed 1×0 → (200 + 50 + 0) / 4 = 62.5
        pytest.param("delta", 62.5, 3, 1, 1, 1, 0, 1, id="delta"),
    ],
)
def test_composite_weighted_score(
    month: Run,
    partner: str,
    score: float,
    scored: int,
    met: int,
    at_risk: int,
    missed: int,
    no_data: int,
    suppressed: int,
) -> None:
    expect(
        month.composite(partner, "2025-11"),
        score=score,
        scored=scored,
        met=met,
        at_risk=at_risk,
        missed=missed,
        no_data=no_data,
        suppressed=suppressed,
    )


def test_composite_rank_ties(month: Run) -> None:
    # 2025-11 scores: beta 75 → 1; alpha 62.5 and delta 62.5 → 2, 2; gamma 50 → 4
    ranks = {
        r["partner_id"]: (r["rank"], r["of"])
        for r in month.rows(
            'SELECT partner_id::VARCHAR AS partner_id, rank, "of" FROM composite '
            "WHERE period::VARCHAR = '2025-11'"
        )
    }
    assert ranks == {"beta": (1, 4), "alpha": (2, 4), "delta": (2, 4), "gamma": (4, 4)}


def test_composite_rank_within_type(month: Run) -> None:
    # 2025-11 hospitals: beta 75 → 1; alpha and delta 62.5 → 2, 2 of 3 (ties share);
    # gamma is the only post_acute partner → 1 of 1
    ranks = {
        r["partner_id"]: (r["type_rank"], r["type_of"])
        for r in month.rows(
            "SELECT partner_id::VARCHAR AS partner_id, type_rank, type_of FROM composite "
            "WHERE period::VARCHAR = '2025-11'"
        )
    }
    assert ranks == {"beta": (1, 3), "alpha": (2, 3), "delta": (2, 3), "gamma": (1, 1)}


def test_standing_reads_the_composite_in_thirds(month: Run) -> None:
    # 2025-11: beta 75 (3 × 75 = 225 ≥ 200) on track; alpha and delta 62.5 (187.5) and
    # gamma 50 (150) between 100 and 200: at risk
    standings = {
        r["partner_id"]: r["standing"]
        for r in month.rows(
            "SELECT partner_id::VARCHAR AS partner_id, standing FROM composite "
            "WHERE period::VARCHAR = '2025-11'"
        )
    }
    assert standings == {
        "beta": "on_track",
        "alpha": "at_risk",
        "delta": "at_risk",
        "gamma": "at_risk",
    }


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        ("100.0", "on_track"),
        ("(100.0 + 100 + 0) / 3", "on_track"),  # two met, one missed: exactly two thirds
        ("66.6", "at_risk"),
        ("(100.0 + 0 + 0) / 3", "at_risk"),  # one met, two missed: exactly one third
        ("50.0 / 3 * 2", "at_risk"),  # 33.33…: the same third by another route
        ("33.3", "off_track"),
        ("0.0", "off_track"),
        ("NULL", "not_scored"),
    ],
)
def test_standing_boundaries(month: Run, score: str, expected: str) -> None:
    assert month.one(f"SELECT sg_standing({score}) AS s")["s"] == expected


def test_composite_change_prev(month: Run) -> None:
    # alpha 2025-10: screening no_data (missing), readmit 15.0 met 1×100, hcahps → 2025-Q3
    # (latest quarter ending by 2025-10-31) missed 1×0 → (100 + 0) / (1 + 1) = 50.0
    expect(
        month.composite("alpha", "2025-10"),
        score=50.0,
        scored=2,
        met=1,
        missed=1,
        no_data=1,
    )
    # 2025-11: 62.5 − 50.0 = 12.5
    expect(month.composite("alpha", "2025-11"), change_prev=12.5)


def test_composite_uses_latest_kpi_period_ending_by_period_end(december: Run) -> None:
    # alpha 2025-12: screening 85 met 2×100, readmit 14 met 1×100, hcahps → 2025-Q4 (75)
    # met 1×100 → 400/4 = 100.0 (with 2025-Q3 (65, missed) it would be 300/4 = 75)
    # change_prev 100 − 62.5 = 37.5
    expect(
        december.composite("alpha", "2025-12"),
        score=100.0,
        scored=3,
        met=3,
        at_risk=0,
        missed=0,
        no_data=0,
        suppressed=0,
        change_prev=37.5,
    )
    # gamma 2025-12: hcahps 2025-Q4 11/11 met 1×100; screening, readmit, wait_days have
    # no_data rows; navigators has no 2025-12 row at all (data ends 2025-11) → no_data too.
    # Coverage rule: the scored weight (hcahps 1) must be at least half of all the KPIs
    # gamma reports (screening 2 + readmit 1 + hcahps 1 + wait_days 1 + navigators 1 = 6):
    # 2 × 1 = 2 < 6 → no score (it would be 100/1 = 100.0), so no change either.
    expect(
        december.composite("gamma", "2025-12"),
        score=None,
        scored=1,
        met=1,
        no_data=4,
        suppressed=0,
        change_prev=None,
    )
    # beta 2025-12: screening 80 met 2×100, readmit 12 vs 13 met 1×100, hcahps Q4 72 met
    # 1×100, wait_days 15 missed 1×0 → 400/5 = 80.0 (scored weight 5 of 5)
    expect(december.composite("beta", "2025-12"), score=80.0, scored=4, met=3, missed=1)
    # delta 2025-12: only hcahps Q4 68 (−2 ≥ −3.5) at_risk; scored weight 1 of
    # screening 2 + readmit 1 + hcahps 1 + wait_days 1 = 5: 2 × 1 < 5 → no score
    expect(december.composite("delta", "2025-12"), score=None, scored=1, at_risk=1, no_data=3)
    # ranks among partners with a score: alpha 100 → 1; beta 80 → 2; gamma, delta none
    ranks = {
        r["partner_id"]: (r["rank"], r["of"])
        for r in december.rows(
            'SELECT partner_id::VARCHAR AS partner_id, rank, "of" FROM composite '
            "WHERE period::VARCHAR = '2025-12'"
        )
    }
    assert ranks == {"alpha": (1, 2), "beta": (2, 2), "gamma": (None, 2), "delta": (None, 2)}


# --------------------------------------------------------------------------- rule 1: rollups


def test_quarter_rollup_is_sum_of_counts_not_mean_of_percentages(quarter: Run) -> None:
    # beta screening 2025-Q3: 45/50 = 90.0, 105/150 = 70.0, 160/200 = 80.0
    #   Σ: (45 + 105 + 160) / (50 + 150 + 200) = 310/400 = 77.5
    #   (the mean of the percentages would be (90 + 70 + 80) / 3 = 80.0 → met)
    # previous quarter 2025-Q2: 3 × 180 / 3 × 200 = 540/600 = 90.0 → 77.5 − 90 = −12.5
    expect(
        quarter.card("beta", "screening", "2025-Q3"),
        grain="quarter",
        period_start=date(2025, 7, 1),
        period_end=date(2025, 9, 30),
        value=77.5,
        numerator=310,
        denominator=400,
        target=80.0,
        status="at_risk",  # 77.5 − 80 = −2.5 ≥ −4
        change_prev=-12.5,
        change_prev_label="worsening",
    )


def test_quarter_rollup_with_missing_month_and_yoy(quarter: Run) -> None:
    # alpha screening 2025-Q4: 2025-10 missing, so (160 + 170) / (200 + 200) = 330/400 = 82.5
    # 2024-Q4: (160 + 150 + 160) / 600 = 470/600 = 78.3333 → yoy 82.5 − 78.3333 = +4.1667
    # 2025-Q3: 480/600 = 80.0 → prev 82.5 − 80 = +2.5
    expect(
        quarter.card("alpha", "screening", "2025-Q4"),
        value=82.5,
        numerator=330,
        denominator=400,
        status="met",
        change_prev=2.5,
        change_prev_label="improving",
        change_yoy=82.5 - 470 / 6,
        change_yoy_label="improving",
    )


def test_quarter_rollup_suppression_judged_on_summed_counts(quarter: Run) -> None:
    # gamma readmit 2025-Q4: 24/192 + 0/8 (suppressed alone) → 24/200 × 100 = 12.0
    # denominator 200 ≥ 11, numerator 24 > 10 → shown; −1 × (12 − 15) = +3 → met
    expect(
        quarter.card("gamma", "readmit", "2025-Q4"),
        value=12.0,
        numerator=24,
        denominator=200,
        status="met",
    )
    # delta readmit 2025-Q3: 72/400 + 75/500 + 3/100 (suppressed alone)
    # → (72 + 75 + 3) / (400 + 500 + 100) = 150/1000 × 100 = 15.0; −1 × (15 − 15) = 0 → met
    expect(
        quarter.card("delta", "readmit", "2025-Q3"),
        value=15.0,
        numerator=150,
        denominator=1000,
        status="met",
    )


def test_quarter_rollup_mean_and_last(quarter: Run) -> None:
    # gamma wait_days 2025-Q4: 13.0 (Oct), 14.5 (Nov) → (13 + 14.5) / 2 = 13.75
    expect(
        quarter.card("gamma", "wait_days", "2025-Q4"),
        value=13.75,
        numerator=None,
        denominator=None,
        status="met",  # −1 × (13.75 − 14) = +0.25
    )
    # beta wait_days 2025-Q4: 12.0 (Oct), Nov missing, 15.0 (Dec) → (12 + 15) / 2 = 13.5
    expect(quarter.card("beta", "wait_days", "2025-Q4"), value=13.5, status="met")
    # gamma navigators (last) 2025-Q3: Jul 8, Aug 12, Sep missing → latest present = 12
    expect(quarter.card("gamma", "navigators", "2025-Q3"), value=12.0, status="met")
    # 2025-Q4: Oct 9, Nov 10 → 10 (12 − 10 → change −2, higher → worsening)
    expect(
        quarter.card("gamma", "navigators", "2025-Q4"),
        value=10.0,
        status="met",  # 10 − 10 = 0
        change_prev=-2.0,
        change_prev_label="worsening",
    )


def test_quarter_rows_start_at_joined_quarter(quarter: Run) -> None:
    # screening data 2024-10..2025-12 → 2024-Q4..2025-Q4
    assert quarter.periods("scorecard", "alpha", "screening") == [
        "2024-Q4",
        "2025-Q1",
        "2025-Q2",
        "2025-Q3",
        "2025-Q4",
    ]
    # delta joined 2025-03-15; 2025-Q1 ends 2025-03-31 ≥ joined → from 2025-Q1
    assert quarter.periods("scorecard", "delta", "screening") == [
        "2025-Q1",
        "2025-Q2",
        "2025-Q3",
        "2025-Q4",
    ]
    # delta 2025-Q1 holds only March: 160/200 = 80.0
    expect(quarter.card("delta", "screening", "2025-Q1"), value=80.0, numerator=160)


def test_quarter_composite(quarter: Run) -> None:
    # beta 2025-Q4: screening (160 + 152 + 160) / 600 = 472/600 = 78.67 at_risk 2×50;
    # readmit (130 + 60 + 120) / (1000 + 500 + 1000) = 310/2500 = 12.4 vs 13 met 1×100;
    # hcahps 72 met 1×100; wait_days 13.5 met 1×100 → (100 + 100 + 100 + 100) / 5 = 80.0
    expect(
        quarter.composite("beta", "2025-Q4"),
        score=80.0,
        scored=4,
        met=3,
        at_risk=1,
        missed=0,
        no_data=0,
        suppressed=0,
    )


# --------------------------------------------------------------------------- rule 9: submissions


def test_submissions(month: Run, december: Run, quarter: Run) -> None:
    # alpha 2025-10: no screening row, but a readmit row → submitted
    assert month.flag("submissions", "submitted", "alpha", "2025-10") is True
    # gamma sent nothing for 2025-02
    assert month.flag("submissions", "submitted", "gamma", "2025-02") is False
    assert month.flag("submissions", "submitted", "gamma", "2025-03") is True
    # delta joined 2025-03-15 → rows from 2025-03
    assert month.periods("submissions", "delta")[0] == "2025-03"
    # gamma's only 2025-12 data is the 2025-Q4 hcahps row, which is not inside December
    assert december.flag("submissions", "submitted", "gamma", "2025-12") is False
    assert december.flag("submissions", "submitted", "alpha", "2025-12") is True
    # quarter grain: monthly and quarterly rows inside 2025-Q4 count
    assert quarter.flag("submissions", "submitted", "gamma", "2025-Q4") is True
    assert quarter.periods("submissions", "delta")[0] == "2025-Q1"


# --------------------------------------------------------------- small numbers (DESIGN, revised)
#
# tests/fixtures/kpi_small/ — 7 hospitals (h7 joined 2025-09-01 and sent nothing), 3 KPIs:
#   readmit  percent, monthly, lower, target 15 [2]; small-cell rule by default (percent)
#            2025-04, 05: h1 150/1000, h2 60/400, h3 120/900, h4 80/700, h5 140/1000, h6 90/600
#            2025-06: as 04, but h1 flagged not_available ("Not Available: data under review")
#            2025-07: as 04, but h2 3/400              (h2: numerator 3 → suppressed)
#            2025-08: as 04, but h2 4/400, h3 5/300    (two suppressed)
#            2025-09: h2 0/100, h3 1/50, h4 2/50, h5 0/60, h6 0/40; h1 nothing
#   clabsi   ratio (an SIR: observed ÷ predicted), quarterly, lower, target 1.0 [1], band 0.10,
#            min_denominator 1 (predicted infections), no small-cell rule (not a head count)
#            Q1: h1 2/1.0, h2 1/1.2, h3 0/0.9, h4 3/2.5, h5 0/1.5, h6 1/0.95
#            Q2: h1 1/1.1, h2 0/1.3, h3 1/0.8, h4 2/2.4, h5 1/1.6, h6 0/1.0
#            Q3: h1 1/1.0, h2 flagged suppressed ("Too Few to Report"), h3 0/1.2, h4 2/2.2,
#                h5 0/1.4, h6 1/1.1
#   stars    score, quarterly, mean, higher, target 3 [3]: h1 only, first in 2025-Q3 (4)

SMALL = FIXTURES / "kpi_small"


@pytest.fixture(scope="module")
def small_months() -> Iterator[Run]:
    """Small-numbers fixture, monthly scorecard, 'latest' (→ 2025-09: 5 of 7 submitted)."""
    result = run(SMALL)
    yield result
    result.con.close()


@pytest.fixture(scope="module")
def small_quarters() -> Iterator[Run]:
    """Small-numbers fixture, quarterly scorecard, 'latest' (→ 2025-Q3: 6 of 7 submitted)."""
    result = run(SMALL, grain="quarter")
    yield result
    result.con.close()


def test_alliance_pools_every_accepted_row_suppressed_partners_included(
    small_quarters: Run,
) -> None:
    """Finding 1: the alliance figure pooled only the partners whose values are shown."""
    # clabsi 2025-Q1: h3 (0.9) and h6 (0.95) predict fewer than 1 infection → suppressed, and
    # still counted: Σ observed 2 + 1 + 0 + 3 + 0 + 1 = 7, Σ predicted 1.0 + 1.2 + 0.9 + 2.5 +
    # 1.5 + 0.95 = 8.05 → 7 / 8.05 = 0.8696, published 0.87 (the shown four alone: 6/6.2 = 0.97)
    expect(
        small_quarters.alliance("clabsi", "2025-Q1"),
        value=0.87,
        numerator=7,
        denominator=8.05,
        partners=6,
        suppressed_partners=2,
        withheld=None,
        status="met",
    )
    # clabsi 2025-Q3: h2 is suppressed at source, so not a contributor: 1 + 0 + 2 + 0 + 1 = 4
    # over 1.0 + 1.2 + 2.2 + 1.4 + 1.1 = 6.9 → 0.5797, published 0.58
    expect(
        small_quarters.alliance("clabsi", "2025-Q3"),
        value=0.58,
        numerator=4,
        denominator=6.9,
        partners=5,
        suppressed_partners=0,
        withheld=None,
    )
    # readmit 2025-Q2, each partner's months summed first (h1: 04 and 05, June was flagged):
    # (300 + 180 + 360 + 240 + 420 + 270) / (2000 + 1200 + 2700 + 2100 + 3000 + 1800)
    # = 1770 / 12800 = 13.828 → 13.8, met (lower than 15)
    expect(
        small_quarters.alliance("readmit", "2025-Q2"),
        value=13.8,
        numerator=1770,
        denominator=12800,
        partners=6,
        status="met",
    )


def test_alliance_figures_are_withheld_with_the_first_reason_that_applies(
    small_months: Run, small_quarters: Run
) -> None:
    # readmit 2025-07: h2's 3/400 alone is suppressed → its counts would be the total less the
    # five others': withheld, complementary suppression
    expect(
        small_months.alliance("readmit", "2025-07"),
        value=None,
        numerator=None,
        denominator=None,
        partners=6,
        suppressed_partners=1,
        withheld="one_suppressed",
        status="suppressed",
    )
    # readmit 2025-08: two suppressed (h2 4/400, h3 5/300) → shown: (150 + 4 + 5 + 80 + 140 +
    # 90) / (1000 + 400 + 300 + 700 + 1000 + 600) = 469 / 4000 = 11.725 → 11.7
    expect(
        small_months.alliance("readmit", "2025-08"),
        value=11.7,
        numerator=469,
        denominator=4000,
        partners=6,
        suppressed_partners=2,
        withheld=None,
        status="met",
    )
    # readmit 2025-09: 5 contributors, 2 suppressed, pooled numerator 0 + 1 + 2 + 0 + 0 = 3 is
    # itself a small cell → small_counts
    expect(
        small_months.alliance("readmit", "2025-09"),
        value=None,
        partners=5,
        suppressed_partners=2,
        withheld="small_counts",
        status="suppressed",
    )
    # clabsi 2025-Q2: h3 (0.8 predicted) alone suppressed → one_suppressed
    expect(
        small_quarters.alliance("clabsi", "2025-Q2"),
        partners=6,
        suppressed_partners=1,
        withheld="one_suppressed",
    )
    # readmit 2025-Q3: h2's quarter, 3 + 4 + 0 = 7 of 900, is a small cell; h3's 126/1250 is
    # not → exactly one suppressed
    expect(
        small_quarters.alliance("readmit", "2025-Q3"),
        partners=6,
        suppressed_partners=1,
        withheld="one_suppressed",
    )


def test_the_small_cell_rule_counts_people_not_infections(small_quarters: Run) -> None:
    """Finding 2: an SIR's observed count is small by nature; only predicted < 1 withholds it."""
    # h1 clabsi 2025-Q1: 2 observed of 1.0 predicted → shown 2.0; missed (gap −1 < −0.1)
    expect(
        small_quarters.card("h1", "clabsi", "2025-Q1"),
        value=2.0,
        numerator=2,
        denominator=1.0,
        suppression=None,
        status="missed",
    )
    # h3 clabsi 2025-Q1: 0.9 predicted < min_denominator 1 → suppressed, the owner still sees it
    expect(
        small_quarters.card("h3", "clabsi", "2025-Q1"),
        value=None,
        numerator=None,
        own_value=0.0,
        own_denominator=0.9,
        suppression="min_denominator",
        status="suppressed",
    )
    # readmit counts people: h2's quarter 7/900 → suppressed for everyone but h2, who sees
    # 7 / 900 × 100 = 0.7778
    expect(
        small_quarters.card("h2", "readmit", "2025-Q3"),
        value=None,
        own_value=7 / 900 * 100,
        own_numerator=7,
        own_denominator=900,
        suppression="small_cell",
        status="suppressed",
    )


def test_rows_suppressed_at_source_are_submissions_with_their_footnote(
    small_months: Run, small_quarters: Run
) -> None:
    """Finding 3: "Too Few to Report" was only leaving the row out: "no submission"."""
    expect(
        small_quarters.card("h2", "clabsi", "2025-Q3"),
        value=None,
        own_value=None,
        suppression="source",
        status="suppressed",
        footnote="Too Few to Report",
    )
    expect(
        small_months.card("h1", "readmit", "2025-06"),
        value=None,
        suppression=None,
        status="no_data",
        footnote="Not Available: data under review",
    )
    assert small_months.flag("submissions", "submitted", "h1", "2025-06") is True


def test_the_page_and_the_composite_count_the_same_kpis(small_quarters: Run) -> None:
    """Finding 4 and 5: a KPI first submitted after a period is not on that period's
    scorecard, nor in its composite."""
    q2 = small_quarters.rows(
        "SELECT kpi_id::VARCHAR AS kpi FROM scorecard WHERE partner_id::VARCHAR = 'h1' "
        "AND period = '2025-Q2' ORDER BY kpi"
    )
    assert [r["kpi"] for r in q2] == ["clabsi", "readmit"]  # stars starts in 2025-Q3
    # h1 2025-Q2: readmit 300/2000 = 15.0 on target 15 → met ×2; clabsi 1/1.1 = 0.91 → met ×1
    # → (200 + 100) / 3 = 100, scored 2 (stars is not a no_data there)
    expect(
        small_quarters.composite("h1", "2025-Q2"),
        score=100.0,
        scored=2,
        met=2,
        no_data=0,
    )
    # h1 2025-Q3: readmit 15.0 met, clabsi 1/1.0 = 1.0 met, stars 4 ≥ 3 met → 3 scored
    expect(small_quarters.composite("h1", "2025-Q3"), score=100.0, scored=3, met=3)


def test_an_unranked_partner_is_told_how_many_are_ranked(small_quarters: Run) -> None:
    """Finding 6: `of` was 0 for partners with no composite row."""
    # 2025-Q2: h1..h6 each score 100 (every KPI met, or readmit alone for h3, whose clabsi is
    # suppressed: weight 2 of 3, more than half) → 6 ranked, all 1st; h7 had not joined
    expect(small_quarters.composite("h7", "2025-Q2"), score=None, rank=None, of=6)
    expect(small_quarters.composite("h3", "2025-Q2"), score=100.0, rank=1, of=6)


def test_a_period_rolled_up_from_fewer_months_is_partial(small_quarters: Run) -> None:
    """Finding 8: a quarter rolled up from two of its three months, unlabelled."""
    # h1 readmit 2025-Q3: July and August, nothing in September → 2 of 3; 300/2000 = 15.0
    expect(
        small_quarters.card("h1", "readmit", "2025-Q3"),
        value=15.0,
        parts=2,
        parts_of=3,
    )
    # 2025-Q2: April and May; June came flagged not_available → 2 of 3, with its footnote
    expect(
        small_quarters.card("h1", "readmit", "2025-Q2"),
        parts=2,
        parts_of=3,
        footnote="Not Available: data under review",
    )
    expect(small_quarters.card("h2", "readmit", "2025-Q2"), parts=3, parts_of=3)


# --------------------------------------------------------------- properties of the small numbers

HOSPITALS = [f"h{i}" for i in range(1, 7)]
MONTHS = [f"2025-{m:02d}" for m in range(1, 10)]  # as of 2025-06; later months added after
counts = st.tuples(st.integers(0, 40), st.integers(8, 400)).filter(lambda c: c[0] <= c[1])
submissions = st.dictionaries(
    st.tuples(st.sampled_from(HOSPITALS), st.sampled_from(MONTHS)), counts, min_size=1
)


def small_project(root: Path, rows: dict[tuple[str, str], tuple[int, int]]) -> Path:
    """The small-numbers fixture's partners and KPIs with only these readmit rows."""
    shutil.copytree(SMALL, root, dirs_exist_ok=True)
    for path in (root / "metrics").iterdir():
        path.unlink()
    lines = [f"{pid},readmit,{month},,{n},{d}" for (pid, month), (n, d) in sorted(rows.items())]
    (root / "metrics" / "readmit.csv").write_text(
        "partner_id,kpi_id,period,value,numerator,denominator\n" + "\n".join(lines) + "\n"
    )
    return root


def figures_up_to(result: Run, period: str) -> dict[str, list[dict[str, Any]]]:
    """Every figure of the scorecards, peers, alliance and composite for periods up to one."""
    end = "(SELECT period_end FROM calendar WHERE period = ?)"
    return {
        "scorecard": result.rows(
            f"SELECT * FROM scorecard WHERE period_end <= {end} "
            "ORDER BY partner_id, kpi_id, period_start",
            period,
        ),
        "peers": result.rows(
            "SELECT * FROM peer_stats WHERE period_start <= (SELECT period_start FROM calendar "
            "WHERE period = ?) ORDER BY kpi_id, period_start, scope",
            period,
        ),
        "alliance": result.rows(
            f"SELECT * FROM alliance WHERE period_end <= {end} ORDER BY kpi_id, period_start",
            period,
        ),
        "composite": result.rows(
            "SELECT * FROM composite WHERE period_start <= (SELECT period_start FROM calendar "
            "WHERE period = ?) ORDER BY partner_id, period_start",
            period,
        ),
    }


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(earlier=submissions, later=submissions)
def test_later_data_never_change_an_earlier_periods_figures(
    tmp_path_factory: pytest.TempPathFactory,
    earlier: dict[tuple[str, str], tuple[int, int]],
    later: dict[tuple[str, str], tuple[int, int]],
) -> None:
    base = {key: c for key, c in earlier.items() if key[1] <= "2025-06"}
    if not any(month == "2025-06" for _, month in base):
        base[("h1", "2025-06")] = (10, 100)  # 2025-06 must have data to be reported on
    more = base | {key: c for key, c in later.items() if key[1] > "2025-06"}
    before = run(small_project(tmp_path_factory.mktemp("before"), base), period="2025-06")
    after = run(small_project(tmp_path_factory.mktemp("after"), more), period="2025-06")
    assert figures_up_to(after, "2025-06") == figures_up_to(before, "2025-06")


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@given(rows=submissions)
def test_alliance_figures_pool_every_accepted_row_and_reveal_no_suppressed_one(
    tmp_path_factory: pytest.TempPathFactory, rows: dict[tuple[str, str], tuple[int, int]]
) -> None:
    result = run(small_project(tmp_path_factory.mktemp("pool"), rows))
    for month in MONTHS:
        contributors = {pid: c for (pid, m), c in rows.items() if m == month}
        if not contributors:
            continue
        pooled = result.alliance("readmit", month)
        # worked out here, apart from the engine: the small-cell rule (1..10) and the
        # minimum denominator (11) of each contributor, then the pooled counts
        small = {p for p, (n, d) in contributors.items() if 1 <= n <= 10 or d < 11}
        numerator = sum(n for n, _ in contributors.values())
        denominator = sum(d for _, d in contributors.values())
        assert pooled["partners"] == len(contributors)
        assert pooled["suppressed_partners"] == len(small)
        if len(contributors) < 5:
            reason = "fewer_than_5"
        elif len(small) == 1:
            reason = "one_suppressed"
        elif 1 <= numerator <= 10 or denominator < 11:
            reason = "small_counts"
        else:
            reason = None
        assert pooled["withheld"] == reason
        if reason is None:
            assert (pooled["numerator"], pooled["denominator"]) == (numerator, denominator)
            assert pooled["value"] == pytest.approx(numerator / denominator * 100, abs=0.05)
            # what a reader could subtract: the total less every shown partner's counts is the
            # suppressed partners' together, never exactly one of them
            shown = [result.card(p, "readmit", month) for p in contributors if p not in small]
            left = numerator - sum(card["numerator"] for card in shown)
            assert left == sum(contributors[p][0] for p in small) and len(small) != 1
        else:
            assert (pooled["value"], pooled["numerator"], pooled["denominator"]) == (None,) * 3


def test_the_samples_alliance_clabsi_pools_all_ten_hospitals() -> None:
    """Finding 1 on the sample: the alliance CLABSI SIR for 2025-Q1 was 2.01, one hospital's
    own value (the only one not suppressed), and 0.00 for 2025-Q2. Pooled from every row, as
    worked out here from the CSV files themselves, it is about 1.00 in both."""
    sample = Path(__file__).parent.parent / "data"
    con = duckdb.connect()
    load_project(con, sample, "data", TODAY)  # the sample plants 9 bad rows, none of these
    result = Run(con, compute(con, KpiSettings(grain="quarter", period="2026-Q3", today=TODAY)))
    for quarter in ("2025-Q1", "2025-Q2"):
        with (sample / "metrics" / f"{quarter}.csv").open(encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle) if r["kpi_id"] == "clabsi_sir"]
        observed = sum(float(r["numerator"]) for r in rows)
        predicted = sum(float(r["denominator"]) for r in rows)
        pooled = result.alliance("clabsi_sir", quarter)
        assert len(rows) == pooled["partners"] == 10
        assert pooled["withheld"] is None
        assert pooled["value"] == round(observed / predicted, 2)
        assert 0.99 <= pooled["value"] <= 1.01


def test_a_zero_written_with_a_minus_sign_is_published_as_zero(tmp_path: Path) -> None:
    # "-0" is a number; a value of one row is its own rollup, and it must come out as the
    # sums of one row would give it, 0.0 and not -0.0 (which JSON would print as -0.0)
    shutil.copytree(KPI, tmp_path, dirs_exist_ok=True)
    with (tmp_path / "metrics" / "wait_days.csv").open("a") as out:
        out.write("alpha,wait_days,2025-11,-0,,\n")
    with (tmp_path / "metrics" / "readmit.csv").open("a") as out:
        out.write("alpha,readmit,2025-06,-0.0,-0,1000\n")
    result = run(tmp_path)
    try:
        mean = result.card("alpha", "wait_days", "2025-11")
        ratio = result.card("alpha", "readmit", "2025-06")
        for figure in (mean["value"], ratio["value"], ratio["numerator"]):
            assert figure == 0.0 and math.copysign(1.0, figure) == 1.0
    finally:
        result.con.close()
