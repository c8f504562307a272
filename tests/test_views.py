"""The views are the templates' documented contract (after Datasette's test_template_context):
every page of the alliance's site and of a partner's own is rendered with its view wrapped so
that each field a template reads is recorded; a field read but not documented in the
project's templates/README.md, or documented but gone from the views, fails."""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from jinja2 import meta

from sitegen import build, site
from sitegen.config import load_config
from sitegen.kpis import MIN_PEERS
from sitegen.model import Cards, filled, load_model, read_funnels, scoped
from sitegen.templating import environment
from sitegen.views import alliance, common, partner, review
from sitegen.views.plan import Planned, plan

ROOT = Path(__file__).parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
CONTRACT = ROOT / "templates" / "README.md"
VIEW_TYPES = {
    t.__name__: t
    for t in (
        alliance.DashboardView,
        alliance.OwnDashboardView,
        partner.PartnerView,
        alliance.KpiView,
        alliance.QualityView,
        alliance.MethodologyView,
        partner.Standing,
        partner.Count,
        partner.Category,
        partner.KpiRow,
        partner.Commitment,
        partner.NoChart,
        alliance.Band,
        alliance.ReadingCount,
        alliance.Unranked,
        alliance.Headline,
        alliance.Mover,
        alliance.PartnerLink,
        alliance.RankedRow,
        alliance.Reason,
        common.Table,
        common.ChartView,
        common.Status,
        common.Reading,
        review.ReviewView,
        review.PartnerChanges,
        review.ReviewSection,
        review.Change,
        review.ActionLine,
        review.PeriodsView,
        review.PeriodLink,
        review.ArchiveView,
    )
}
COMMON = {
    *("site", "period", "pdf", "scoped", "owner", "min_peers", "icon_sprite"),
    *("title", "nav", "root", "svg"),
}


class Recorded:
    """A view (or a part of one) that records each field read of it as (type, field)."""

    def __init__(self, obj: Any, seen: set[tuple[str, str]]) -> None:
        self._obj, self._seen = obj, seen

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        self._seen.add((type(self._obj).__name__, name))
        return wrap(value, self._seen)

    def __bool__(self) -> bool:
        return True


def wrap(value: Any, seen: set[tuple[str, str]]) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return Recorded(value, seen)
    if isinstance(value, tuple | list):
        return tuple(wrap(v, seen) for v in value)
    if isinstance(value, dict):
        return {k: wrap(v, seen) for k, v in value.items()}
    return value


def documented() -> dict[str, set[str]]:
    """The contract: `- `Type` (…): `field`, `field`, …` lines of templates/README.md."""
    found = {}
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        match = re.match(r"- `(\w+)`[^:]*: (`.*`)$", line)
        if match:
            found[match.group(1)] = set(re.findall(r"`(\w+)`", match.group(2)))
    return found


def problems(used: set[tuple[str, str]], contract: dict[str, set[str]]) -> list[str]:
    """Fields used and not documented; documented types whose fields are not the view's."""
    found = [
        f"{kind}.{name} is used by a template but not documented"
        for kind, name in sorted(used)
        if name not in contract.get(kind, set())
    ]
    for kind, names in contract.items():
        if kind not in VIEW_TYPES:
            continue  # a type of the model shown as is (Narrative)
        actual = {f.name for f in dataclasses.fields(VIEW_TYPES[kind])}
        found += [f"{kind}.{n} is documented but not a field" for n in sorted(names - actual)]
        found += [f"{kind}.{n} is a field but not documented" for n in sorted(actual - names)]
    return found


@pytest.fixture(scope="module")
def used(tmp_path_factory: pytest.TempPathFactory) -> set[tuple[str, str]]:
    """Every field the packaged templates read, over every page of the mini project's site
    and of each partner's own site."""
    config = load_config(FIXTURES / "mini")
    today = date(2026, 1, 1)
    env = environment(config.project_dir)
    seen: set[tuple[str, str]] = set()
    with build.load(config, today) as (con, summary):
        build.score(con, config, today)
        own = load_model(con, summary, own_site=True)
        rows = {"read": 1, "accepted": 1, "rejected": 0}
        alliance = load_model(con, summary)
        models = [(alliance, Cards(con, alliance.kpis, own_site=False))]
        own_cards = Cards(con, own.kpis, own_site=True)
        models += [
            (scoped(own, card, rows, read_funnels(con, card.partner.partner_id)), own_cards)
            for card in own_cards.fill(list(own.scorecards.values()), series=False)
        ]
        for model, histories in models:
            owner = model.scorecards[model.scope].partner.name if model.scope else ""
            shared = {
                "site": config.site,
                "period": model.period,
                "pdf": True,
                "scoped": model.scope is not None,
                "owner": owner,
                "min_peers": MIN_PEERS,
                "icon_sprite": site.icon_sprite(),
            }
            for unit in plan(model, config, "2026-01-01 00:00 UTC", True, histories):
                if unit.kind not in site.PAGES:
                    continue
                view = unit.make()
                drawn = {c.digest: "<svg></svg>" for c in view.charts()}
                html = site.page(env, unit, wrap(view, seen), shared, drawn)
                assert not drawn or "<svg></svg>" in html  # the charts are placed
    return seen


def test_every_field_a_template_reads_is_documented_and_every_documented_field_exists(
    used: set[tuple[str, str]],
) -> None:
    assert used  # the recorder saw the templates read the views
    assert problems(used, documented()) == []


def test_the_contract_check_fails_on_an_undocumented_or_vanished_field() -> None:
    contract = documented()
    assert problems({("PartnerView", "secret")}, contract) == [
        "PartnerView.secret is used by a template but not documented"
    ]
    contract["Status"] = contract["Status"] | {"colour"}
    assert problems(set(), contract) == ["Status.colour is documented but not a field"]


def test_every_documented_view_type_is_checked() -> None:
    assert set(documented()) == set(VIEW_TYPES) | {"Narrative"}


def test_templates_use_only_the_documented_context() -> None:
    """Besides `view`, a page template names only what every page gets."""
    env = environment(FIXTURES / "mini")
    for path in sorted((ROOT / "sitegen" / "templates" / "site").glob("*.html")):
        source = path.read_text(encoding="utf-8")
        names = meta.find_undeclared_variables(env.parse(source))
        assert names <= COMMON | {"view", "ui"}, (path.name, names - COMMON)


# ------------------------------------------------------------------ words of the new blocks


@pytest.fixture(scope="module")
def north() -> Any:
    """North General Hospital's scorecard in the mini project (test_site works its figures)."""
    config = load_config(FIXTURES / "mini")
    with build.load(config, date(2026, 1, 1)) as (con, summary):
        build.score(con, config, date(2026, 1, 1))
        model = filled(con, load_model(con, summary))
    return model.scorecards["north-hosp"]


def _readmissions(card: Any) -> Any:
    return next(r for r in card.results if r.kpi.kpi_id == "readmit_30d")


@pytest.mark.parametrize(
    ("gap", "status", "words"),
    [
        (0.2, "at_risk", "+0.2 pts, worse"),  # 14.2 against 14.0, lower is better
        (-0.5, "met", "−0.5 pts, better"),
        (-0.03, "met", "on target"),  # under the last decimal shown
        (0.03, "at_risk", "just short of the target"),  # rounds to ±0 yet is not met
        (None, "no_data", "–"),
    ],
)
def test_a_gap_is_worded_by_the_kpis_direction(
    north: Any, gap: float | None, status: str, words: str
) -> None:
    result = dataclasses.replace(_readmissions(north), gap=gap, status=status)
    assert partner._gap(result) == words


@pytest.mark.parametrize(
    ("window", "words"),
    [
        (("2025-07", None), "2025-07 onwards"),
        ((None, "2025-06"), "until 2025-06"),
        (("2025-01", "2026-12"), "2025-01 to 2026-12"),
        ((None, None), "open-ended"),
        (None, "alliance target"),
    ],
)
def test_a_commitments_window_is_said_as_written(window: Any, words: str) -> None:
    assert partner._window(window) == words


def test_the_commitment_in_force_carries_its_window(north: Any) -> None:
    # targets.csv: 16 until 2025-06, then 14 from 2025-07 on; the scorecard is for 2025-09
    result = _readmissions(north)
    assert (result.target, result.target_source, result.window) == (
        14.0,
        "partner",
        ("2025-07", None),
    )
    [own] = partner.commitments(north, own=True)
    assert (own.name, own.window, own.gap) == (
        "30-day readmission rate",
        "2025-07 onwards",
        "+0.2 pts, worse",
    )


@pytest.mark.parametrize(
    ("statuses", "why"),
    [
        (("suppressed", "suppressed"), "suppressed in every period (too few to show)"),
        (("no_data", "no_data"), "no data in any period"),
        (("suppressed", "no_data"), "suppressed or no data in every period"),
    ],
)
def test_a_kpi_with_nothing_to_chart_gets_one_line(north: Any, statuses: Any, why: str) -> None:
    first = north.history["readmit_30d"][0]
    empty = [first._replace(value=None, status=s) for s in statuses]
    card = dataclasses.replace(north, history={**north.history, "readmit_30d": empty})
    view = partner.partner_view(card, None, [r.kpi for r in card.results])
    assert [e.text for e in view.empty] == [f"30-day readmission rate: nothing to chart, {why}."]
    assert "trend-readmit_30d" not in [c.id for c in view.trends]


def test_an_unranked_partner_whose_kpis_weigh_nothing_is_told_so(north: Any) -> None:
    weightless = [
        dataclasses.replace(r, kpi=dataclasses.replace(r.kpi, weight=0.0)) for r in north.results
    ]
    composite = dataclasses.replace(north.composite, score=None, rank=None)
    card = dataclasses.replace(north, results=weightless, composite=composite)
    assert partner.standing(card).not_ranked == (
        "scored on 4 of 4 KPIs, and they carry no weight in the composite"
    )


def test_a_kpi_page_holding_every_partners_result_is_made_in_a_batch_of_its_own() -> None:
    """Views are made, drawn and written a batch at a time, two batches in memory: a batch is
    25 partners' pages, or as many units as hold 25 partners' results, so that a KPI page of
    an alliance of 40 partners goes alone (the next unit is taken once the batch is full)."""
    pages = [Planned("partner", f"partners/p{i}", (), lambda: None) for i in range(30)]
    kpis = [Planned("kpi", f"kpis/k{i}", (), lambda: None, weight=40) for i in range(2)]
    others = [Planned("methodology", "methodology", (), lambda: None)]
    units = iter(pages + kpis + others)
    sizes = []
    while batch := build._batch(units):
        sizes.append([u.name for u in batch])
    assert [len(b) for b in sizes] == [25, 6, 1, 1]
    assert sizes[1][-1] == "kpis/k0" and sizes[2] == ["kpis/k1"]
    assert sizes[3] == ["methodology"]


def test_a_kpi_unit_weighs_the_partners_whose_results_it_holds() -> None:
    config = load_config(FIXTURES / "mini")
    today = date(2026, 1, 1)
    with build.load(config, today) as (con, summary):
        build.score(con, config, today)
        model = load_model(con, summary)
        units = list(plan(model, config, "x", False, Cards(con, model.kpis, own_site=False)))
    kpis = {u.name: u.weight for u in units if u.kind == "kpi"}
    # mini: 30-day readmissions are reported by North (142 / 1000) and South (8 / 40)
    assert kpis["kpis/readmit_30d"] == 2
    assert {u.weight for u in units if u.kind != "kpi"} == {1}
