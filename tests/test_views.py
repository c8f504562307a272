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
from sitegen.model import load_model, read_funnels, scoped
from sitegen.templating import environment
from sitegen.views import alliance, common, partner
from sitegen.views.plan import plan

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
    con, summary = build.load(config, today)
    build.score(con, config, today)
    models = [load_model(con, summary)]
    own = load_model(con, summary, own_site=True)
    rows = {"read": 1, "accepted": 1, "rejected": 0}
    models += [scoped(own, pid, rows, read_funnels(con, pid)) for pid in own.scorecards]
    con.close()
    env = environment(config.project_dir)
    seen: set[tuple[str, str]] = set()
    for model in models:
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
        for unit in plan(model, config, "2026-01-01 00:00 UTC", True):
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
