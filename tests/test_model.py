"""The model renderers read: figures of the mini project worked out by hand."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from sitegen.archive import read_records
from sitegen.kpis import KpiSettings, compute, review
from sitegen.load import LoadSummary, load_project
from sitegen.model import Cards, Model, filled, load_model
from tests.conftest import TODAY


def scored(mini: Path) -> tuple[duckdb.DuckDBPyConnection, LoadSummary]:
    """The mini project loaded, its KPIs computed and reviewed."""
    con = duckdb.connect()
    summary = load_project(con, mini / "data", "data", TODAY)
    read_records(con, None, mini / "data", "data")
    settings = KpiSettings(today=TODAY)
    compute(con, settings)
    review(con, settings, own_site=False)
    return con, summary


@pytest.fixture
def model(mini: Path) -> Model:
    con, summary = scored(mini)
    return filled(con, load_model(con, summary), series=False)


def results(model: Model, partner_id: str) -> dict[str, object]:
    return {r.kpi.kpi_id: r for r in model.scorecards[partner_id].results}


def test_as_of_is_the_only_month_with_data(model: Model) -> None:
    # Every partner submitted for 2025-09 and it ended before 2026-11-22.
    assert (model.period, model.grain) == ("2025-09", "month")
    assert all(card.submitted for card in model.scorecards.values())


def test_north_hospital_results(model: Model) -> None:
    north = results(model, "north-hosp")
    assert list(north) == ["readmit_30d", "tcoc_pmpm", "hcahps_rating_9_10", "operating_margin"]
    readmit = north["readmit_30d"]
    # 142 / 1000 × 100 = 14.2; commitment 14 from 2025-07 (targets.csv line 3), lower is better:
    # gap = −(14.2 − 14) = −0.2, band = 5 % × 14 = 0.7 → at risk.
    assert readmit.value == pytest.approx(14.2)
    assert (readmit.target, readmit.target_source, readmit.status) == (14, "partner", "at_risk")
    # 40,500,000 / 40,000 = 1012.5 against 950, lower: gap −62.5 beyond band 47.5 → missed.
    assert north["tcoc_pmpm"].value == pytest.approx(1012.5)
    assert north["tcoc_pmpm"].status == "missed"
    # Quarterly KPI shown for a monthly scorecard at its quarter: 214 / 300 = 71.33 vs 72,
    # higher: gap −0.67 within band 3.6 → at risk.
    hcahps = north["hcahps_rating_9_10"]
    assert (hcahps.period, hcahps.status) == ("2025-Q3", "at_risk")
    assert hcahps.value == pytest.approx(71.3333333)
    # −250,000 / 10,000,000 × 100 = −2.5 vs 3, higher → missed.
    assert north["operating_margin"].value == pytest.approx(-2.5)
    assert north["operating_margin"].status == "missed"
    # Peers: south-snf's readmission value is suppressed and counts for nothing, so only
    # north-hosp is in the group: n = 1 < 5, every peer figure withheld.
    assert readmit.peers.n == 1
    assert readmit.peers.withheld and readmit.peers.rank is None


def test_small_numerator_is_suppressed_and_hidden(model: Model) -> None:
    # 8 readmissions of 40: the numerator is 1–10, so the value and counts are not shown.
    south = results(model, "south-snf")["readmit_30d"]
    assert south.status == "suppressed"
    assert (south.value, south.numerator, south.denominator) == (None, None, None)


def test_composites_and_ranks(model: Model) -> None:
    north = model.scorecards["north-hosp"].composite
    # Weights 2, 1, 1, 1: (2 × 50 + 1 × 0 + 1 × 50 + 1 × 0) / 5 = 30.
    assert north.score == pytest.approx(30)
    assert (north.rank, north.of, north.scored) == (1, 2, 4)
    assert north.counts == {"met": 0, "at_risk": 2, "missed": 2, "no_data": 0, "suppressed": 0}
    # East: appt_lead_days 18.5 vs 14, lower, band 0.7 → missed → 0 points.
    east = model.scorecards["east-clinic"].composite
    assert (east.score, east.rank) == (0, 2)
    # South's only KPI is suppressed: no score, no rank.
    south = model.scorecards["south-snf"].composite
    assert (south.score, south.rank, south.counts["suppressed"]) == (None, None, 1)


@pytest.fixture()
def series(mini: Path) -> tuple[Model, Cards]:
    """The mini model (no results or series in it) and the reader of its partners'."""
    con, summary = scored(mini)
    model = load_model(con, summary)
    return model, Cards(con, model.kpis, own_site=False)


def test_the_model_holds_no_results_or_series_until_a_batch_of_partners_is_read(
    series: tuple[Model, Cards],
) -> None:
    """Every partner's results and series at once grow with the alliance (gigabytes at
    10,000 partners): a build reads those of the partners whose pages it is making, neighbours
    in the partner list."""
    model, cards = series
    assert [c.partner.partner_id for c in model.scorecards.values()] == [
        "east-clinic",
        "north-hosp",
        "south-snf",
    ]  # by name: East Family Clinic, North General Hospital, South Shore Nursing
    assert all(card.history is None for card in model.scorecards.values())
    assert all(card.results is None for card in model.scorecards.values())
    east, _, south = model.scorecards.values()
    # the two ends of the list: the partner between them is read but not handed out
    ends = cards.fill([east, south])
    assert [c.partner.partner_id for c in ends] == ["east-clinic", "south-snf"]
    [north] = cards.fill([model.scorecards["north-hosp"]])
    # North's readmissions: 142 / 1000 = 14.2 % in 2025-09 (its only month), within 5 % of
    # its own commitment of 14.0 % on the wrong side: at risk
    assert [(p.period, p.value, p.target, p.status) for p in north.history["readmit_30d"]] == [
        ("2025-09", pytest.approx(14.2), 14.0, "at_risk")
    ]
    assert north.history.keys() == {r.kpi.kpi_id for r in north.results}
    assert ends[0].history != ends[1].history
    for card in cards.fill(list(model.scorecards.values())):
        assert card.history
        for series in card.history.values():  # oldest first: one grain per KPI sorts as text
            assert [p.period for p in series] == sorted(p.period for p in series)


def test_history_points_share_their_period_and_target_objects(
    series: tuple[Model, Cards],
) -> None:
    """At 10,000 partners the history is 8.64 million points: each holds its own value, and
    shares the period, status, target and peer band objects with every point like it."""
    model, cards = series
    points = [
        point
        for card in cards.fill(list(model.scorecards.values()))
        for series in card.history.values()
        for point in series
    ]
    assert len(points) > len({id(p.period) for p in points})
    by_period: dict[str, str] = {}
    for point in points:
        assert by_period.setdefault(point.period, point.period) is point.period
    assert len({id(p.status) for p in points}) == len({p.status for p in points})
    assert len({id(p.target) for p in points}) == len({p.target for p in points})


def test_one_kpis_results_are_read_on_their_own_for_its_page(
    series: tuple[Model, Cards],
) -> None:
    """A KPI page lists every partner's result for that KPI: read for it alone, in the order
    partners are listed, the same results as the partners' own batches give."""
    model, cards = series
    found = cards.of_kpi("readmit_30d")
    # East Family Clinic reports no readmissions; North 142 / 1000 = 14.2 %, at risk of its
    # own 14.0 %; South 8 / 40: a numerator under 11 is suppressed for everyone but South
    assert [(pid, r.value, r.status) for pid, r in found] == [
        ("north-hosp", pytest.approx(14.2), "at_risk"),
        ("south-snf", None, "suppressed"),
    ]
    by_partner = {c.partner.partner_id: c for c in cards.fill(list(model.scorecards.values()))}
    for pid, result in found:
        [same] = [r for r in by_partner[pid].results if r.kpi.kpi_id == "readmit_30d"]
        assert same == result
