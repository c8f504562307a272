"""Statistical honesty (kpi_spc.sql, kpi_intervals.sql): the Making Data Count reading of each
series, 95 % intervals and funnel positions, as DESIGN.md words them.

The golden values are worked by hand in the comments (never copied from a run); the property
tests compare the SQL with `reference_spc`, the rules written out plainly from DESIGN's words
as loops, on random series with many ties.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitegen.archive import read_records
from sitegen.downloads import scorecard_json
from sitegen.kpis import KpiSettings, compute, review
from sitegen.load import load_project, summarise
from sitegen.model import Cards, filled, load_model, read_funnels, scoped
from sitegen.views.alliance import kpi_view, own_kpi_view

# `share` is a binomial percentage and `events` a Poisson rate by default (counts empty);
# the small-cell rule is off so that small published examples (10 of 100) can be checked.
KPIS = (
    "kpi_id,name,category,unit,direction,target,benchmark,weight,aggregation,counts,"
    "small_cell_rule,scale\n"
    "up,Higher is better,quality,score,higher,15,,1,mean,,,\n"
    "down,Lower is better,quality,score,lower,15,,1,mean,,,\n"
    "share,A share of people,quality,percent,higher,50,,1,ratio,,no,\n"
    "events,Events per 1000,quality,rate,lower,20,,1,ratio,,no,1000\n"
)


def month(i: int) -> str:
    """The i-th month from 2022-01."""
    return f"{2022 + i // 12}-{i % 12 + 1:02d}"


def project(
    root: Path,
    series: dict[tuple[str, str], list[float | None]],
    baselines: str = "",
    rows: list[str] | None = None,
) -> Path:
    """A project of partners p0, p1, … each reporting its series monthly from 2022-01 (None
    leaves the month out), and any extra metric `rows`."""
    data = root / "data"
    (data / "metrics").mkdir(parents=True)
    partners = sorted({pid for pid, _ in series} | {f"p{i}" for i in range(6)})
    (data / "partners.csv").write_text(
        "partner_id,name,partner_type,region,joined,contact_emails\n"
        + "".join(f"{pid},Partner {pid},hospital,North,2020-01-01,\n" for pid in partners)
    )
    (data / "kpis.csv").write_text(KPIS)
    if baselines:
        (data / "baselines.csv").write_text("partner_id,kpi_id,from_period\n" + baselines)
    lines = ["partner_id,kpi_id,period,value,numerator,denominator"]
    for (pid, kpi), values in series.items():
        lines += [f"{pid},{kpi},{month(i)},{v!r},," for i, v in enumerate(values) if v is not None]
    lines += rows or []
    (data / "metrics" / "m.csv").write_text("\n".join(lines) + "\n")
    (root / "sitegen.toml").write_text("[site]\n")
    return root


def computed(root: Path, period: str = "latest") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    summary = load_project(con, root / "data", "data", date(2030, 1, 1))
    assert summary.rejected == 0, summary.rules
    settings = KpiSettings(
        grain="month", period=period, amber_band=0.05, min_denominator=11, today=date(2030, 1, 1)
    )
    read_records(con, None, root / "data", "data")
    compute(con, settings)
    review(con, settings, own_site=False)
    return con


def reading(con: duckdb.DuckDBPyConnection, pid: str, kpi: str) -> dict[str, Any] | None:
    cursor = con.execute(
        "SELECT * FROM spc WHERE partner_id::VARCHAR = ? AND kpi_id::VARCHAR = ?", [pid, kpi]
    )
    names = [d[0] for d in cursor.description]
    rows = cursor.fetchall()
    return dict(zip(names, rows[0], strict=True)) if rows else None


def signals(con: duckdb.DuckDBPyConnection, pid: str, kpi: str) -> dict[str, list[int]]:
    """rule → the indices (0 = first point) of the points it flags. spc_points keeps only
    some points (the flagged, the latest, each segment's ends), so a point's index is its
    place among the series' shown values."""
    where = "WHERE partner_id::VARCHAR = ? AND kpi_id::VARCHAR = ?"
    shown = [
        start
        for (start,) in con.execute(
            f"SELECT period_start FROM scorecard {where} AND value IS NOT NULL "
            "ORDER BY period_start",
            [pid, kpi],
        ).fetchall()
    ]
    points = con.execute(
        f"SELECT period_start, outside, shift, trend, two_of_three FROM spc_points {where} "
        "ORDER BY period_start",
        [pid, kpi],
    ).fetchall()
    rules = ("outside", "shift", "trend", "two_of_three")
    found: dict[str, list[int]] = {}
    for start, *flags in points:
        for rule, flagged in zip(rules, flags, strict=True):
            if flagged:
                found.setdefault(rule, []).append(shown.index(start))
    return found


WORKED = [10.0, 12.0] * 6 + [30.0]


def test_the_methodology_pages_worked_example(tmp_path: Path) -> None:
    # mean 162 / 13 = 12.4615; moving ranges eleven of 2 and one of 18: 40 / 12 = 3.3333;
    # limits 12.4615 ± 2.66 × 3.3333 = 3.5949 .. 21.3282. 30 is beyond the upper limit; the
    # twelve points before are all below the mean: a shift. Target 15 lies between the limits.
    con = computed(project(tmp_path, {("p0", "up"): WORKED, ("p0", "down"): WORKED}))
    up = reading(con, "p0", "up")
    assert up is not None
    assert up["points"] == 13
    assert up["mean"] == pytest.approx(162 / 13)
    assert up["upper"] == pytest.approx(162 / 13 + 2.66 * 40 / 12)
    assert up["lower"] == pytest.approx(162 / 13 - 2.66 * 40 / 12)
    assert (up["variation"], up["assurance"]) == ("special_improving", "hit_or_miss")
    assert signals(con, "p0", "up") == {"outside": [12], "shift": list(range(12))}
    # lower is better: the same high point is a concern
    down = reading(con, "p0", "down")
    assert down is not None
    assert (down["variation"], down["assurance"]) == ("special_concerning", "hit_or_miss")


def test_12_points_give_no_reading_and_13_do(tmp_path: Path) -> None:
    con = computed(project(tmp_path, {("p0", "up"): [5.0] * 12, ("p1", "up"): [5.0] * 13}))
    assert reading(con, "p0", "up") is None
    assert reading(con, "p1", "up") is not None


def test_a_constant_series_is_common_cause_and_its_limits_are_its_value(tmp_path: Path) -> None:
    # every moving range 0: limits 5 .. 5; every point on the mean, so no run at all. Against
    # a target of 15 both limits are on the bad side where higher is better, on the good side
    # where lower is
    con = computed(project(tmp_path, {("p0", "up"): [5.0] * 13, ("p0", "down"): [5.0] * 13}))
    up, down = reading(con, "p0", "up"), reading(con, "p0", "down")
    assert up is not None and down is not None
    assert (up["mean"], up["lower"], up["upper"]) == (5.0, 5.0, 5.0)
    assert (up["variation"], up["assurance"]) == ("common", "fail")
    assert (down["variation"], down["assurance"]) == ("common", "pass")
    assert signals(con, "p0", "up") == {}


def test_a_point_on_the_mean_ends_a_run(tmp_path: Path) -> None:
    # 4 4 4 5 4 4 4 4 6 6 6 7 7: mean 65 / 13 = 5 exactly, so the 5 is on it and splits the
    # eight points below into runs of 3 and 4: no shift. Moving ranges 0 0 1 1 0 0 0 2 0 0 1 0:
    # 5 / 12; limits 5 ± 1.1083: both 7s are beyond the upper one. Two thirds of the way:
    # 5.7389 and 4.2611: every 4 in a window of three below the mean (0-2, 4-7), and every 6
    # and 7 (8-12), is flagged two of three. Rises count 1 + 2 points at most: no trend.
    values = [4.0, 4.0, 4.0, 5.0, 4.0, 4.0, 4.0, 4.0, 6.0, 6.0, 6.0, 7.0, 7.0]
    con = computed(project(tmp_path, {("p0", "up"): values}))
    up = reading(con, "p0", "up")
    assert up is not None
    assert (up["mean"], up["upper"]) == (5.0, pytest.approx(5 + 2.66 * 5 / 12))
    assert signals(con, "p0", "up") == {
        "outside": [11, 12],
        "two_of_three": [0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12],
    }
    assert up["variation"] == "special_improving"


RISING = [9.0, 11.0, 9.0, 11.0, 9.0, 11.0, 7.0, 8.0, 9.0, 9.0, 10.0, 11.0, 12.0, 13.0]


def test_a_trend_counts_seven_points_and_its_repeated_value_is_flagged_with_it(
    tmp_path: Path,
) -> None:
    # after the fall 11 → 7: 7 8 9 9 10 11 12 13 rises by six strict steps, 1 + 6 = 7 points
    # (the repeated 9 neither counts nor ends it) and all eight are flagged. mean 139 / 14 =
    # 9.9286: runs on one side are 4 long at most; moving ranges 20 / 13 = 1.5385, limits
    # 5.84 .. 14.02: nothing beyond; no three in a row on one side with two beyond 12.66 or
    # 7.20. One less strict step, no trend.
    falling = [20 - v for v in RISING]
    short = [*RISING[:-1], RISING[-2]]  # 7 8 9 9 10 11 12 12: six points counted
    con = computed(
        project(
            tmp_path,
            {
                ("p0", "up"): RISING,
                ("p0", "down"): RISING,
                ("p1", "down"): falling,
                ("p2", "up"): short,
            },
        )
    )
    assert signals(con, "p0", "up") == {"trend": list(range(6, 14))}
    assert reading(con, "p0", "up")["variation"] == "special_improving"  # type: ignore[index]
    assert reading(con, "p0", "down")["variation"] == "special_concerning"  # type: ignore[index]
    assert signals(con, "p1", "down") == {"trend": list(range(6, 14))}
    assert reading(con, "p1", "down")["variation"] == "special_improving"  # type: ignore[index]
    assert "trend" not in signals(con, "p2", "up")


def test_a_new_baseline_has_its_own_mean_and_limits_and_no_run_crosses_it(tmp_path: Path) -> None:
    # 13 points alternating 9, 11 (mean 129 / 13 = 9.923), then 13 alternating 19, 21 (mean
    # 19.923). As one process the first 13 are all below the mean of 15 and the last 13 all
    # above: two shifts, the latest point special. From 2023-02 (the 14th month) a new
    # baseline: each half varies by common cause only.
    values = [9.0, 11.0] * 6 + [9.0] + [19.0, 21.0] * 6 + [19.0]
    series = {("p0", "up"): values, ("p1", "up"): values}
    con = computed(project(tmp_path, series, baselines="p0,up,2023-02\n"))
    assert signals(con, "p0", "up") == {}
    again = reading(con, "p0", "up")
    assert again is not None and again["variation"] == "common"
    assert again["mean"] == pytest.approx(259 / 13)
    assert again["points"] == 26  # the 13-point minimum counts the whole window
    one = reading(con, "p1", "up")  # no baseline of its own
    assert one is not None and one["variation"] == "special_improving"
    assert signals(con, "p1", "up")["shift"] == list(range(26))
    # p0 has no signal: what is kept of it is each segment's first and last point (the
    # periods the segment spans), the last being the latest; of p1, every flagged point
    kept = con.execute(
        "SELECT partner_id::VARCHAR, period, segment::VARCHAR, mean, latest FROM spc_points "
        "ORDER BY partner_id, period_start"
    ).fetchall()
    p0 = [row[1:] for row in kept if row[0] == "p0"]
    assert p0 == [
        ("2022-01", "0001-01-01", pytest.approx(129 / 13), False),
        ("2023-01", "0001-01-01", pytest.approx(129 / 13), False),
        ("2023-02", "2023-02-01", pytest.approx(259 / 13), False),
        ("2024-02", "2023-02-01", pytest.approx(259 / 13), True),
    ]
    assert len([row for row in kept if row[0] == "p1"]) == 26


def test_a_baseline_for_every_partner_and_a_gap_that_a_moving_range_spans(tmp_path: Path) -> None:
    # partner_id empty: the baseline applies to all. A missing month is no point: 13 values
    # over 14 months still give a reading, and the moving range spans the gap.
    values: list[float | None] = [9.0, 11.0] * 6 + [9.0] + [19.0, 21.0] * 6 + [19.0]
    gappy: list[float | None] = [
        5.0,
        6.0,
        None,
        5.0,
        6.0,
        5.0,
        6.0,
        5.0,
        6.0,
        5.0,
        6.0,
        5.0,
        6.0,
        5.0,
    ]
    con = computed(
        project(tmp_path, {("p0", "up"): values, ("p1", "down"): gappy}, baselines=",up,2023-02\n")
    )
    assert signals(con, "p0", "up") == {}
    gap = reading(con, "p1", "down")
    assert gap is not None and gap["points"] == 13
    assert gap["upper"] == pytest.approx(71 / 13 + 2.66 * 1.0)  # every moving range is 1


def test_patterns_in_both_directions_at_the_latest_point_read_as_improving(
    tmp_path: Path,
) -> None:
    # six 20s, then 1 2 3 4 5 6 7: mean 148 / 13 = 11.38. The last seven rise by seven
    # strict steps (a trend, high) and all lie below the mean (a shift, low): the latest
    # point is in a pattern of each direction, so it reads as improving whichever way is
    # better (the MDC tool's rule).
    values = [20.0] * 6 + [float(v) for v in range(1, 8)]
    con = computed(project(tmp_path, {("p0", "up"): values, ("p0", "down"): values}))
    for kpi in ("up", "down"):
        found = signals(con, "p0", kpi)
        assert found["trend"] == list(range(6, 13)) and found["shift"] == list(range(6, 13))
        assert reading(con, "p0", kpi)["variation"] == "special_improving"  # type: ignore[index]
        assert found == reference_spc(values, kpi == "up", 15.0)["signals"]


def test_a_point_on_a_process_limit_is_inside_it(tmp_path: Path) -> None:
    # 10 12 10 12 … 12 (twelve points) and then x, solved so that x is the upper limit itself:
    # mean (132 + x) / 13, mean moving range (22 + x − 12) / 12, and x = mean + 2.66 × that:
    # x (1 − 1/13 − 2.66/12) = 132/13 + 26.6/12. A hair above it, the point is beyond.
    x = (132 / 13 + 26.6 / 12) / (1 - 1 / 13 - 2.66 / 12)
    on = [10.0, 12.0] * 6 + [x]
    above = [10.0, 12.0] * 6 + [x + 0.01]
    con = computed(project(tmp_path, {("p0", "up"): on, ("p1", "up"): above}))
    on_limit = reading(con, "p0", "up")
    assert on_limit is not None and on_limit["upper"] == pytest.approx(x)
    assert "outside" not in signals(con, "p0", "up")
    assert signals(con, "p1", "up")["outside"] == [12]


def reference_spc(values: list[float], higher: bool, target: float | None) -> dict[str, Any]:
    """DESIGN's rules for one baseline, written out plainly as loops."""

    def above(x: float, line: float) -> bool:
        return x - line > 1e-9 * max(1.0, abs(line))

    def below(x: float, line: float) -> bool:
        return line - x > 1e-9 * max(1.0, abs(line))

    n = len(values)
    mean = sum(values) / n
    mr = sum(abs(values[i] - values[i - 1]) for i in range(1, n)) / (n - 1)
    upper, lower = mean + 2.66 * mr, mean - 2.66 * mr
    flags: list[set[tuple[str, str]]] = [set() for _ in values]
    for i, x in enumerate(values):
        if above(x, upper):
            flags[i].add(("outside", "high"))
        if below(x, lower):
            flags[i].add(("outside", "low"))
    side = [1 if above(x, mean) else -1 if below(x, mean) else 0 for x in values]
    i = 0
    while i < n:  # shifts: maximal runs strictly on one side
        j = i
        while j + 1 < n and side[j + 1] == side[i]:
            j += 1
        if side[i] and j - i + 1 >= 7:
            for k in range(i, j + 1):
                flags[k].add(("shift", "high" if side[i] == 1 else "low"))
        i = j + 1
    for direction, name in ((1, "high"), (-1, "low")):  # trends: no step against
        i = 0
        while i < n - 1:
            j = i
            while j + 1 < n and (values[j + 1] - values[j]) * direction >= 0:
                j += 1
            steps = sum(
                1 for k in range(i + 1, j + 1) if (values[k] - values[k - 1]) * direction > 0
            )
            if 1 + steps >= 7:
                for k in range(i, j + 1):
                    flags[k].add(("trend", name))
            i = max(j, i + 1)
    high_zone, low_zone = mean + 2 / 3 * 2.66 * mr, mean - 2 / 3 * 2.66 * mr
    for i in range(2, n):  # two of three
        window = range(i - 2, i + 1)
        if (
            all(side[k] == 1 for k in window)
            and sum(above(values[k], high_zone) for k in window) >= 2
        ):
            for k in window:
                if above(values[k], high_zone):
                    flags[k].add(("two_of_three", "high"))
        if (
            all(side[k] == -1 for k in window)
            and sum(below(values[k], low_zone) for k in window) >= 2
        ):
            for k in window:
                if below(values[k], low_zone):
                    flags[k].add(("two_of_three", "low"))
    good = "high" if higher else "low"
    last = flags[-1]
    variation = (
        "special_improving"
        if any(d == good for _, d in last)
        else "special_concerning"
        if last
        else "common"
    )
    if target is None:
        assurance = None
    elif above(lower, target) if higher else below(upper, target):
        assurance = "pass"
    elif below(upper, target) if higher else above(lower, target):
        assurance = "fail"
    else:
        assurance = "hit_or_miss"
    found: dict[str, list[int]] = {}
    for k, point in enumerate(flags):
        for rule in sorted({r for r, _ in point}):
            found.setdefault(rule, []).append(k)
    return {
        "mean": mean,
        "upper": upper,
        "lower": lower,
        "variation": variation,
        "assurance": assurance,
        "signals": {rule: sorted(points) for rule, points in found.items()},
    }


SERIES = st.lists(
    st.lists(st.integers(0, 12).map(float), min_size=13, max_size=30),
    min_size=1,
    max_size=12,
)


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(series=SERIES, higher=st.booleans())
def test_the_sql_reads_every_series_as_the_plain_rules_do(
    tmp_path_factory: pytest.TempPathFactory, series: list[list[float]], higher: bool
) -> None:
    """Small integers give many ties: points on the mean, repeated values, limits equal to the
    target (15 is out of reach, so every assurance is decided by the limits alone)."""
    kpi = "up" if higher else "down"
    root = tmp_path_factory.mktemp("spc")
    con = computed(project(root, {(f"s{i}", kpi): values for i, values in enumerate(series)}))
    # the scorecard is as of the latest month most partners submitted for: the window ends there
    as_of = con.execute("SELECT period FROM as_of").fetchall()[0][0]
    for i, values in enumerate(series):
        window = [v for m, v in enumerate(values) if month(m) <= as_of]
        got = reading(con, f"s{i}", kpi)
        if len(window) < 13:
            assert got is None
            continue
        want = reference_spc(window, higher, 15.0)
        assert got is not None
        assert (got["variation"], got["assurance"]) == (want["variation"], want["assurance"])
        assert (got["mean"], got["upper"]) == (
            pytest.approx(want["mean"]),
            pytest.approx(want["upper"]),
        )
        assert signals(con, f"s{i}", kpi) == want["signals"], window


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(level=st.integers(-50, 50), swing=st.integers(1, 5), points=st.integers(13, 30))
def test_constant_and_evenly_alternating_series_are_common_cause(
    tmp_path_factory: pytest.TempPathFactory, level: int, swing: int, points: int
) -> None:
    """A constant series, and one alternating evenly about its level (no run of 7, no trend,
    every point within its limits), have only common-cause variation."""
    alternating = [float(level + (swing if i % 2 else -swing)) for i in range(points)]
    constant = [float(level)] * points
    root = tmp_path_factory.mktemp("common")
    con = computed(project(root, {("p0", "up"): constant, ("p1", "down"): alternating}))
    for pid, kpi in (("p0", "up"), ("p1", "down")):
        got = reading(con, pid, kpi)
        assert got is not None and got["variation"] == "common"
        assert signals(con, pid, kpi) == {}


# ------------------------------------------------------------------------------ intervals


def counted_rows(
    kpi: str, counts: dict[str, tuple[int, int]], period: str = "2025-01"
) -> list[str]:
    scale = 100 if kpi == "share" else 1000
    return [f"{pid},{kpi},{period},{n / d * scale!r},{n},{d}" for pid, (n, d) in counts.items()]


def interval(con: duckdb.DuckDBPyConnection, pid: str, kpi: str) -> tuple[float, float, bool]:
    return con.execute(
        "SELECT ci_low, ci_high, within_noise FROM intervals "
        "WHERE partner_id::VARCHAR = ? AND kpi_id::VARCHAR = ?",
        [pid, kpi],
    ).fetchall()[0]


def test_wilson_intervals_match_published_values(tmp_path: Path) -> None:
    # Wilson 95 % intervals as published (Newcombe 1998, Table I; Brown, Cai & DasGupta 2001):
    # 10 / 100: 5.52 % to 17.44 %; 81 / 263: 25.53 % to 36.62 %. 52 / 100 against a target of
    # 50 %: the interval holds the target, so the "met" is within noise.
    rows = counted_rows("share", {"p0": (10, 100), "p1": (81, 263), "p2": (52, 100)})
    con = computed(project(tmp_path, {}, rows=rows))
    low, high, _ = interval(con, "p0", "share")
    assert (round(low, 2), round(high, 2)) == (5.52, 17.44)
    low, high, _ = interval(con, "p1", "share")
    assert (round(low, 1), round(high, 1)) == (25.5, 36.6)
    assert interval(con, "p2", "share")[2] is True
    assert interval(con, "p0", "share")[2] is False  # 17.4 % is far below 50 %


def test_byars_intervals_are_close_to_the_exact_poisson_ones(tmp_path: Path) -> None:
    # Byar's approximation on a count n, against the exact (Garwood) 95 % limits from the
    # published tables: n = 10: 4.795 .. 18.390; n = 0: 0 .. 3.689; n = 50: 37.11 .. 65.92.
    # Per 1000 of a denominator of 1000, the rate's limits are the count's.
    rows = counted_rows("events", {"p0": (10, 1000), "p1": (0, 1000), "p2": (50, 1000)})
    con = computed(project(tmp_path, {}, rows=rows))
    for pid, (low, high) in {
        "p0": (4.795, 18.390),
        "p1": (0.0, 3.689),
        "p2": (37.11, 65.92),
    }.items():
        got_low, got_high, _ = interval(con, pid, "events")
        assert got_low == pytest.approx(low, rel=0.01, abs=1e-9)
        assert got_high == pytest.approx(high, rel=0.01)
    # by hand, n = 10: 10 × (1 − 1/90 − 1.96 / (3 √10))³ and 11 × (1 − 1/99 + 1.96 / (3 √11))³
    low, high, _ = interval(con, "p0", "events")
    assert low == pytest.approx(10 * (1 - 1 / 90 - 1.96 / (3 * math.sqrt(10))) ** 3)
    assert high == pytest.approx(11 * (1 - 1 / 99 + 1.96 / (3 * math.sqrt(11))) ** 3)


def test_a_kpi_that_counts_nothing_has_no_interval(tmp_path: Path) -> None:
    con = computed(project(tmp_path, {("p0", "up"): [5.0] * 13}))
    assert con.execute("SELECT count(*) FROM intervals").fetchall() == [(0,)]


# -------------------------------------------------------------------------------- funnels

FUNNEL = {"p0": (50, 100), "p1": (60, 100), "p2": (40, 100), "p3": (500, 1000), "p4": (90, 100)}


def test_funnel_positions_worked_by_hand(tmp_path: Path) -> None:
    # p₀ = 740 / 1400 = 0.528571; at d = 100 the standard error √(p₀(1 − p₀)/100) = 0.049918,
    # so the 95 % limits are ± 0.097840 and the 99.8 % ± 0.154247; at d = 1000, ± 0.030940
    # and ± 0.048778. p0 50 % (−0.0286) within; p1 60 % (+0.0714) within; p2 40 % (−0.1286)
    # worse than the 95 %; p3 50 % of 1000 (−0.0286) within; p4 90 % (+0.3714) better than the
    # 99.8 %.
    con = computed(project(tmp_path, {}, rows=counted_rows("share", FUNNEL)))
    positions = dict(
        con.execute("SELECT partner_id::VARCHAR, position FROM funnel ORDER BY 1").fetchall()
    )
    assert positions == {
        "p0": "within", "p1": "within", "p2": "worse_95", "p3": "within", "p4": "better_998",
    }  # fmt: skip
    centre, low95, high95 = con.execute(
        "SELECT centre, low95, high95 FROM funnel_limits WHERE scope IS NULL ORDER BY d LIMIT 1"
    ).fetchall()[0]
    assert centre == pytest.approx(100 * 740 / 1400)
    d = con.execute("SELECT min(d) FROM funnel_limits WHERE scope IS NULL").fetchall()[0][0]
    se = math.sqrt(740 / 1400 * (1 - 740 / 1400) / d)
    assert (low95, high95) == (
        pytest.approx(100 * (740 / 1400 - 1.96 * se)),
        pytest.approx(100 * (740 / 1400 + 1.96 * se)),
    )
    # a partner's own funnel is drawn around its own denominator only
    spans = con.execute("SELECT min(d), max(d) FROM funnel_limits WHERE scope = 'p3'").fetchall()[0]
    assert spans == (pytest.approx(250.0), pytest.approx(4000.0))


def test_no_funnel_where_the_alliance_figure_is_withheld(tmp_path: Path) -> None:
    # four partners: fewer than 5 contribute, so the alliance value (the funnel's centre) is
    # withheld, and a funnel would give it away
    four = {pid: FUNNEL[pid] for pid in ("p0", "p1", "p2", "p3")}
    con = computed(project(tmp_path, {}, rows=counted_rows("share", four)))
    assert con.execute("SELECT count(*) FROM funnel").fetchall() == [(0,)]
    assert con.execute("SELECT count(*) FROM funnel_limits").fetchall() == [(0,)]


# ----------------------------------------------------------------- JSON and the own site


def test_the_json_carries_the_reading_its_signals_and_the_interval(tmp_path: Path) -> None:
    con = computed(project(tmp_path, {("p0", "up"): WORKED}))
    card = filled(con, load_model(con, summary_of(con)), series=False).scorecards["p0"]
    [up] = scorecard_json(card)["kpis"]
    assert up["spc"] == {
        "points": 13,
        "mean": round(162 / 13, 6),
        "lower": round(162 / 13 - 2.66 * 40 / 12, 6),
        "upper": round(162 / 13 + 2.66 * 40 / 12, 6),
        "variation": "special_improving",
        "assurance": "hit_or_miss",
        "signals": [
            *({"period": month(i), "rule": "shift"} for i in range(12)),
            {"period": month(12), "rule": "outside"},
        ],
    }
    # a score counts nothing: no interval, no funnel
    assert (up["ci_low"], up["ci_high"], up["within_noise"], up["funnel"]) == (None,) * 4


def test_a_partners_own_funnel_shows_its_point_and_no_one_elses(tmp_path: Path) -> None:
    con = computed(project(tmp_path, {}, rows=counted_rows("share", FUNNEL)))
    summary = summary_of(con)
    full = filled(con, load_model(con, summary), series=False)
    own_model = load_model(con, summary, own_site=True)
    [card] = Cards(con, own_model.kpis, own_site=True).fill([own_model.scorecards["p2"]], False)
    own = scoped(own_model, card, ROWS, read_funnels(con, "p2"))
    kpi = next(k for k in own.kpis if k.kpi_id == "share")
    [result] = [r for r in own.scorecards["p2"].results if r.kpi.kpi_id == "share"]
    view = own_kpi_view(own, kpi, result)
    assert view.funnel is not None and view.funnel.table is not None
    assert view.funnel.table.rows == (("You", "100", "40.0%", "worse than the 95% limit"),)
    spec = view.funnel.spec
    assert '"d":1000' not in spec and '"d":1000.0' not in spec  # p3's denominator
    assert '"label":"You"' in spec and "Partner p" not in spec
    # the alliance's KPI page plots everyone
    everyone = [(c.partner, r) for c in full.scorecards.values() for r in c.results]
    alliance = kpi_view(full, kpi, everyone, None)
    assert alliance.funnel is not None and alliance.funnel.table is not None
    assert len(alliance.funnel.table.rows) == 5


ROWS = {"read": 1, "accepted": 1, "rejected": 0}


def summary_of(con: duckdb.DuckDBPyConnection) -> Any:
    """What load_model needs of the load: the summary, recomputed from the tables."""
    return summarise(con, 0, 0, 0, [], Path("."))
