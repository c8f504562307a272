"""Every view a build makes, planned before any is made.

Each planned view names what it is made from (`inputs`), so that its output files can be kept
from the live site when those are unchanged, without the view ever being made: making a
partner's view builds its 48 chart specs, most of the cost of preparing a page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache, partial
from pathlib import Path
from typing import Any

from sitegen.config import Config
from sitegen.model import Cards, Model, Scorecard
from sitegen.narrative import Narrative, read_narrative
from sitegen.views.alliance import (
    ROWS_PER_PARTNER_MAX,
    dashboard_view,
    kpi_view,
    methodology_view,
    own_dashboard_view,
    own_kpi_view,
    packet_cards,
    packet_view,
    quality_view,
)
from sitegen.views.partner import narrative_variables, partner_view
from sitegen.views.review import periods_view, review_view


@dataclass(frozen=True)
class Planned:
    """A view to make: its kind (what renders it: "partner", "dashboard", "own-dashboard",
    "kpi", "quality", "methodology", "review", "periods", "packet", "review-packet"), the
    name of its output unit, what it is made from beyond what every view shares, and how to
    make it."""

    kind: str
    name: str  # "partners/alderbrook-medical", "kpis/readmit_30d", "index", …
    inputs: tuple[Any, ...] | None  # None: made every time (it shows everyone's figures)
    make: Callable[[], Any]
    weight: int = 1  # the partners whose results it holds: a KPI page holds every partner's


# Partners whose results and series are read together: the plan is consumed as it is made, so
# that only the partners of the pages in flight have theirs in memory.
PARTNER_BATCH = 25


def plan(
    model: Model, config: Config, generated: str, with_pdf: bool, cards: Cards
) -> Iterator[Planned]:
    """The views of a site, in the order their outputs are written: the alliance's, or with
    `model.scope` a partner's own (its dashboard, scorecard, KPI pages and methodology; the
    narratives written for the alliance may name partners, so they are left out). Partners'
    results and series are read from `cards` a batch at a time, and each KPI's results for its
    page, as their views are planned: only the views in flight hold them."""
    root = config.project_dir
    content = root / "content"
    if model.scope is not None:
        [card] = cards.fill([model.scorecards[model.scope]])
        narrative = _partner_narrative(card, content, root)
        yield Planned(
            "own-dashboard",
            "index",
            (card, model.alliance_as_of),
            partial(own_dashboard_view, model, card),
        )
        yield Planned(
            "partner",
            f"partners/{card.partner.partner_id}",
            (card, narrative),
            partial(partner_view, card, narrative, model.kpis),
        )
        results = {r.kpi.kpi_id: r for r in card.results}
        for kpi in model.kpis:
            result = results.get(kpi.kpi_id)
            yield Planned(
                "kpi",
                f"kpis/{kpi.kpi_id}",
                (kpi, model.alliance.get(kpi.kpi_id), result),
                partial(own_kpi_view, model, kpi, result),
            )
        yield Planned(
            "methodology", "methodology", (model.kpis,), partial(methodology_view, model, config)
        )
        yield Planned("periods", "periods", None, partial(periods_view, model, generated))
        return
    index = read_narrative(
        content / "index.md",
        {"period": model.period, "partners": len(model.partners)},
        "content/index.md",
        root,
    )
    # a small alliance's dashboard shows every partner's status of every KPI
    shown = model
    if len(model.scorecards) <= ROWS_PER_PARTNER_MAX:
        everyone = cards.fill(list(model.scorecards.values()), series=False)
        shown = replace(model, scorecards={c.partner.partner_id: c for c in everyone})
    yield Planned("dashboard", "index", None, partial(dashboard_view, shown, index, generated))
    listed = list(model.scorecards.values())
    for start in range(0, len(listed), PARTNER_BATCH):
        for card in cards.fill(listed[start : start + PARTNER_BATCH]):
            narrative = _partner_narrative(card, content, root)
            yield Planned(
                "partner",
                f"partners/{card.partner.partner_id}",
                (card, narrative),
                partial(partner_view, card, narrative, model.kpis),
            )
    for kpi in model.kpis:
        narrative = read_narrative(
            content / "kpis" / f"{kpi.kpi_id}.md",
            {"period": model.period, "kpi": {"name": kpi.name}},
            f"content/kpis/{kpi.kpi_id}.md",
            root,
        )
        results = [(model.scorecards[pid].partner, r) for pid, r in cards.of_kpi(kpi.kpi_id)]
        yield Planned(
            "kpi",
            f"kpis/{kpi.kpi_id}",
            (kpi, model.alliance.get(kpi.kpi_id), results, narrative),
            partial(kpi_view, model, kpi, results, narrative),
            weight=len(results),
        )
    yield Planned("quality", "data-quality", (model.quality,), partial(quality_view, model))
    yield Planned(
        "methodology", "methodology", (model.kpis,), partial(methodology_view, model, config)
    )
    review = cache(partial(review_view, model))  # the page and its packet: made once
    yield Planned("review", "review", None, review)
    yield Planned("periods", "periods", None, partial(periods_view, model, generated))
    if with_pdf:
        sections = cards.fill(packet_cards(model), series=False)
        yield Planned("packet", "pdf/alliance", None, partial(packet_view, model, sections))
        yield Planned("review-packet", f"pdf/review-{model.period}", None, review)


def _partner_narrative(card: Scorecard, content: Path, root: Path) -> Narrative | None:
    pid = card.partner.partner_id
    return read_narrative(
        content / "partners" / f"{pid}.md",
        narrative_variables(card),
        f"content/partners/{pid}.md",
        root,
    )
