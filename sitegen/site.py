"""The static scorecard site: page list, Jinja environment, charts, downloads, assets.

Everything shown comes from the model; this module arranges it. Pages link relatively and by
file name (`partners/p1.html`), so the site works under any sub-path and opened from disk.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import shutil
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from jinja2 import (
    Environment,
)

from sitegen import charts, svg
from sitegen.config import Config
from sitegen.downloads import alliance_json, scorecard_csv, scorecard_json
from sitegen.filters import STATUS_WORDS, WITHHELD_WORDS, delta, num, pct, value
from sitegen.kpis import MIN_PEERS_QUARTILES
from sitegen.load import CATEGORIES, RULE_LABELS
from sitegen.model import (
    STATUSES,
    Kpi,
    KpiResult,
    Model,
    Partner,
    Peers,
    Scorecard,
    SeriesPoint,
)
from sitegen.narrative import Narrative, read_narrative, summary, value_note
from sitegen.templating import environment, render

STATIC = Path(__file__).parent / "static"
REJECTIONS_SHOWN = 500
CATEGORY_LABELS = {c: c.replace("_", " ").capitalize() for c in CATEGORIES}
AGGREGATION_TEXT = {
    "ratio": "sum of numerators ÷ sum of denominators (never an average of rates)",
    "mean": "mean of the submitted values",
    "sum": "sum of the submitted values",
    "last": "latest value submitted",
}


@dataclass
class Table:
    """A data table as the templates show it: every cell already formatted."""

    caption: str
    header: list[str]
    rows: list[list[str]]


@dataclass
class Chart:
    """A chart on a page: its SVG, a text alternative, a caption and the data behind it.

    `make` builds the Vega-Lite spec; it is called only when the page is made (not when the
    live site's copy is kept), since building specs is most of the cost of preparing a page.
    `spec_json` is that spec as the renderer encoded it, embedded for the interactive view.
    """

    id: str
    alt: str
    caption: str
    table: Table | None
    make: Callable[[], dict[str, Any]] | None = None
    spec_json: str | None = None
    svg: str = ""


@dataclass
class Page:
    """A page to write, its charts, and the files written with it (a partner's downloads)."""

    path: str
    template: str
    context: dict[str, Any]
    charts: list[Chart] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Planned:
    """A page not made yet, with everything it, the files made with it (`also`) and its PDF
    (`pdf`) are made from beyond what every page shares: `inputs`. When the live site holds
    a page made from the same inputs, they are all kept and `make` is never called."""

    path: str
    inputs: tuple[Any, ...]
    make: Callable[[], Page]
    also: tuple[str, ...] = ()
    pdf: str | None = None


def _trend_points(series: list[SeriesPoint]) -> list[charts.TrendPoint]:
    return [
        charts.TrendPoint(p.period, p.value, p.target, p.peer_q1, p.peer_median, p.peer_q3)
        for p in series
    ]


@lru_cache(maxsize=1 << 14)
def _shared_cells(
    unit: str, target: float, median: float | None, q1: float | None, q3: float | None
) -> tuple[str, str, str]:
    """A period's target, peer median and middle half, formatted. Cached: every partner with
    the alliance target shows the same ones, so a build formats each about once."""
    band = f"{value(q1, unit)} to {value(q3, unit)}" if q1 is not None else "withheld"
    return value(target, unit), value(median, unit), band


def _trend_table(caption: str, unit: str, series: list[SeriesPoint]) -> Table:
    rows = []
    for p in series:
        target, median, band = _shared_cells(unit, p.target, p.peer_median, p.peer_q1, p.peer_q3)
        rows.append([p.period, value(p.value, unit), target, STATUS_WORDS[p.status], median, band])
    return Table(
        caption, ["Period", "Value", "Target", "Status", "Peer median", "Peer middle half"], rows
    )


def _partner_variables(card: Scorecard) -> dict[str, Any]:
    """What a partner narrative may quote (documented in the README)."""
    return {
        "partner": {
            "name": card.partner.name,
            "type": card.partner.partner_type.replace("_", " "),
            "region": card.partner.region,
        },
        "period": card.period,
        "composite": num(card.composite.score, 1),
        "rank": card.composite.rank or "–",
        "of": card.composite.of,
        "met": card.composite.counts["met"],
        "at_risk": card.composite.counts["at_risk"],
        "missed": card.composite.counts["missed"],
        "kpi": {
            r.kpi.kpi_id: {
                "name": r.kpi.name,
                "value": value(r.value, r.kpi.unit),
                "target": value(r.target, r.kpi.unit),
                "status": STATUS_WORDS[r.status],
            }
            for r in card.results
        },
    }


def _notes(card: Scorecard) -> list[str]:
    """Plain-language notes on anything that limits how a figure can be read."""
    notes = []
    committed = [r.kpi.name for r in card.results if r.target_source == "partner"]
    if committed:
        notes.append("Targets from your own commitment: " + ", ".join(committed) + ".")
    suppressed = [r.kpi.name for r in card.results if r.status == "suppressed"]
    if suppressed:
        notes.append(
            "Suppressed (a count of 1 to 10 people, too few cases to judge, or suppressed at "
            "source; not judged and not in the composite): " + ", ".join(suppressed) + "."
        )
    partial = [r.kpi.name for r in card.results if r.partial]
    if partial:
        notes.append(
            "Partial: rolled up from fewer months or quarters than the period has: "
            + ", ".join(partial)
            + "."
        )
    withheld = [r.kpi.name for r in card.results if r.peers.withheld]
    if withheld:
        notes.append(
            "Peer figures withheld (fewer than 5 partners with a value): "
            + ", ".join(withheld)
            + "."
        )
    coarse = [r.kpi.name for r in card.results if r.period != card.period]
    if coarse:
        notes.append(
            "Shown for their latest quarter or year up to "
            + card.period
            + ": "
            + ", ".join(coarse)
            + "."
        )
    if not notes:
        notes.append("Nothing limits how these figures can be read.")
    return notes


def partner_page(card: Scorecard, narrative: Narrative | None) -> Page:
    pid = card.partner.partner_id
    trends, categories = [], []
    sparklines: dict[str, Chart] = {}
    for result in card.results:
        kpi = result.kpi
        series = card.history.get(kpi.kpi_id, [])
        points = _trend_points(series)
        trends.append(
            Chart(
                id=f"trend-{kpi.kpi_id}",
                alt=f"{kpi.name}: {card.partner.name}'s value per period against its target "
                "and the peer middle half.",
                caption=f"{kpi.name} ({result.period}: {value(result.value, kpi.unit)}, "
                f"target {value(result.target, kpi.unit)})",
                table=_trend_table(f"{kpi.name} per period", kpi.unit, series),
                make=partial(
                    charts.trend_chart, kpi.name, kpi.unit, points, kpi.benchmark, legend=False
                ),
            )
        )
        sparklines[kpi.kpi_id] = Chart(
            id=f"spark-{kpi.kpi_id}", alt="", caption="", table=None,
            make=partial(charts.sparkline, points),
        )  # fmt: skip
    for category in CATEGORIES:
        rows = [
            {"result": r, "chart": sparklines[r.kpi.kpi_id], "note": value_note(r)}
            for r in card.results
            if r.kpi.category == category
        ]
        if rows:
            categories.append({"label": CATEGORY_LABELS[category], "rows": rows})
    return Page(
        path=f"partners/{pid}.html",
        template="site/partner.html",
        context={
            "title": card.partner.name,
            "card": card,
            "narrative": narrative,
            "summary": summary(card),
            "categories": categories,
            "trends": trends,
            "notes": _notes(card),
            "statuses": STATUSES,
        },
        charts=trends + list(sparklines.values()),
        files={
            f"partners/{pid}.json": _json(scorecard_json(card)),
            f"partners/{pid}.csv": scorecard_csv(card),
        },
    )


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _headline(model: Model) -> list[dict[str, Any]]:
    """Each KPI's alliance-wide figure for the as-of period, or no data when there is none."""
    rows = []
    for kpi in model.kpis:
        point = model.alliance_as_of.get(kpi.kpi_id)
        rows.append(
            {
                "kpi": kpi,
                "period": point.period if point else "–",
                "value": point.value if point else None,
                "withheld": WITHHELD_WORDS[point.withheld] if point and point.withheld else None,
                "status": point.status if point else "no_data",
                "partners": point.partners if point else 0,
                "suppressed_partners": point.suppressed_partners if point else 0,
            }
        )
    return rows


def scoped_index_page(model: Model, card: Scorecard) -> Page:
    """The dashboard of a partner's own site: its headline and the alliance-wide figures."""
    return Page(
        path="index.html",
        template="site/scoped-index.html",
        context={
            "title": "Dashboard",
            "nav": "index",
            "card": card,
            "summary": summary(card),
            "headline": _headline(model),
            "statuses": STATUSES,
        },
        files={"alliance.json": _json(alliance_json(model))},
    )


# Beyond this many partners the dashboard shows statuses per KPI and the spread of composite
# scores instead of a row per partner: nobody reads 1,000 rows, and vl-convert cannot even
# lay out a 10,000-row heatmap (its stack overflows).
ROWS_PER_PARTNER_MAX = 150


def index_page(model: Model, narrative: Narrative | None) -> Page:
    cards = list(model.scorecards.values())
    names = {p.partner_id: p.name for p in model.partners}
    scored = sorted(
        (c for c in cards if c.composite.score is not None),
        key=lambda c: (-c.composite.score, c.partner.name),
    )
    if len(cards) > ROWS_PER_PARTNER_MAX:
        heatmap, ranking = _status_counts(model, cards), _score_spread(model, scored)
        titles = {"heatmap_title": "Statuses per KPI", "ranking_title": "Composite scores"}
    else:
        heatmap, ranking = _heatmap(model, cards), _ranking(model, scored)
        titles = {"heatmap_title": "Partners × KPIs", "ranking_title": "Composite ranking"}
    moved = [c for c in cards if c.composite.change_prev]
    movers_up = sorted(
        (c for c in moved if c.composite.change_prev > 0),
        key=lambda c: (-c.composite.change_prev, c.partner.name),
    )[:5]
    movers_down = sorted(
        (c for c in moved if c.composite.change_prev < 0),
        key=lambda c: (c.composite.change_prev, c.partner.name),
    )[:5]
    late = [c.partner for c in cards if not c.submitted]
    return Page(
        path="index.html",
        template="site/index.html",
        context={
            "title": "Dashboard",
            "nav": "index",
            "narrative": narrative,
            "headline": _headline(model),
            "heatmap": heatmap,
            "ranking": ranking,
            **titles,
            "movers_up": movers_up,
            "movers_down": movers_down,
            "late": sorted(late, key=lambda p: names[p.partner_id]),
        },
        charts=[heatmap, ranking],
        files={"alliance.json": _json(alliance_json(model))},
    )


def _heatmap(model: Model, cards: list[Scorecard]) -> Chart:
    heat_rows = [(c.partner.name, r.kpi.name, r.status) for c in cards for r in c.results]
    return Chart(
        id="heatmap",
        alt="Status of every KPI for every partner; the same statuses are in each partner's "
        "scorecard table.",
        caption=f"Status per partner and KPI, {model.period}",
        table=Table(
            "Status per partner and KPI",
            ["Partner", "KPI", "Status"],
            [[p, k, STATUS_WORDS[s]] for p, k, s in heat_rows],
        ),
        make=partial(
            charts.status_heatmap,
            heat_rows,
            [p.name for p in model.partners],
            [k.name for k in model.kpis],
        ),
    )


def _ranking(model: Model, scored: list[Scorecard]) -> Chart:
    return Chart(
        id="ranking",
        alt="Composite score of each partner, best first.",
        caption=f"Composite score, {model.period}",
        table=Table(
            "Composite score by partner",
            ["Partner", "Rank", "Score", "Change"],
            [
                [
                    c.partner.name,
                    str(c.composite.rank),
                    num(c.composite.score, 1),
                    delta(c.composite.change_prev, "score"),
                ]
                for c in scored
            ],
        ),
        make=partial(charts.ranking_chart, [(c.partner.name, c.composite.score) for c in scored]),
    )


def _status_counts(model: Model, cards: list[Scorecard]) -> Chart:
    """Partners per status for each KPI: the heatmap of an alliance too large to list."""
    counted = Counter((r.kpi.name, r.status) for c in cards for r in c.results)
    counts = [(k.name, s, counted[(k.name, s)]) for k in model.kpis for s in STATUSES]
    return Chart(
        id="heatmap",
        alt="For each KPI, how many partners met its target, were at risk, missed it, had no "
        "data or were suppressed; each partner's own statuses are on its scorecard.",
        caption=f"Partners by status per KPI, {model.period}",
        table=Table(
            "Partners by status per KPI",
            ["KPI", *(STATUS_WORDS[s].capitalize() for s in STATUSES)],
            [[k.name, *(num(counted[(k.name, s)]) for s in STATUSES)] for k in model.kpis],
        ),
        make=partial(charts.status_counts_chart, counts, [k.name for k in model.kpis]),
    )


def _score_spread(model: Model, scored: list[Scorecard]) -> Chart:
    """How composite scores spread: the ranking of an alliance too large to draw a bar each
    (the table still ranks every partner)."""
    chart = _ranking(model, scored)
    chart.alt = "How many partners scored in each range of the composite score (0–100)."
    chart.caption = f"Composite scores of {len(scored):,} partners, {model.period}"
    scores = [c.composite.score for c in scored]
    chart.make = partial(charts.distribution_chart, "Composite score", "score", scores, None)
    return chart


def kpi_page(
    model: Model, kpi: Kpi, results: list[tuple[Partner, KpiResult]], narrative: Narrative | None
) -> Page:
    """A KPI's page from its alliance series and every partner's result for it."""
    trend = _alliance_trend(model, kpi)
    ranked = sorted(
        ({"partner": partner, "result": result} for partner, result in results), key=_rank_key
    )
    shown = [row["result"].value for row in ranked if row["result"].value is not None]
    distribution = None
    period_label = ranked[0]["result"].period if ranked else model.period
    if shown:
        distribution = Chart(
            id="distribution",
            alt=f"Spread of partners' {kpi.name} values, with the alliance target.",
            caption=f"{kpi.name}: partners' values, {period_label}",
            table=Table(
                f"{kpi.name} by partner",
                ["Partner", "Value"],
                [
                    [row["partner"].name, value(row["result"].value, kpi.unit)]
                    for row in ranked
                    if row["result"].value is not None
                ],
            ),
            make=partial(charts.distribution_chart, kpi.name, kpi.unit, shown, kpi.target),
        )
    return _kpi_page(kpi, narrative, trend, ranked, period_label, distribution)


def _kpi_page(
    kpi: Kpi,
    narrative: Narrative | None,
    trend: Chart | None,
    ranked: list[dict[str, Any]],
    period_label: str,
    distribution: Chart | None,
) -> Page:
    return Page(
        path=f"kpis/{kpi.kpi_id}.html",
        template="site/kpi.html",
        context={
            "title": kpi.name,
            "kpi": kpi,
            "narrative": narrative,
            "aggregation_text": AGGREGATION_TEXT[kpi.aggregation],
            "trend": trend,
            "ranked": ranked,
            "period_label": period_label,
            "distribution": distribution,
        },
        charts=[c for c in (trend, distribution) if c],
    )


def _alliance_trend(model: Model, kpi: Kpi) -> Chart | None:
    """The alliance-wide series of a KPI with the peer band, or None before its first value."""
    points = model.alliance.get(kpi.kpi_id, [])
    if not points:
        return None
    series = [
        SeriesPoint(p.period, p.value, p.target, p.status, p.peer_q1, p.peer_median, p.peer_q3)
        for p in points
    ]
    return Chart(
        id="alliance-trend",
        alt=f"Alliance-wide {kpi.name} per period against the alliance target, with the "
        "middle half of partners.",
        caption=f"Alliance-wide {kpi.name} per period",
        table=_trend_table(f"Alliance-wide {kpi.name} per period", kpi.unit, series),
        make=partial(
            charts.trend_chart,
            kpi.name,
            kpi.unit,
            _trend_points(series),
            kpi.benchmark,
            value_label="alliance",
        ),
    )


def scoped_kpi_page(model: Model, kpi: Kpi, result: KpiResult | None) -> Page:
    """A KPI's page for one partner's eyes: the alliance-wide series and where the partner
    stands among its peers, from the peer statistics alone (withheld below 5 peers)."""
    trend = _alliance_trend(model, kpi)
    peers = None
    if result is not None and not result.peers.withheld:
        p = result.peers
        peers = Chart(
            id="peers",
            alt=f"Your {kpi.name} against the middle half and median of peers, and the target.",
            caption=f"{kpi.name}: you among {p.n} peers, {result.period}",
            table=Table(
                f"{kpi.name}: you and your peers",
                ["Figure", "Value"],
                [
                    ["You", value(result.value, kpi.unit)],
                    ["Your percentile (best 100)", num(p.percentile, 0)],
                    ["Peer median", value(p.median, kpi.unit)],
                    ["Peer middle half", _middle_half(p, kpi.unit)],
                    ["Target", value(result.target, kpi.unit)],
                ],
            ),
            make=partial(
                charts.peer_chart,
                kpi.name,
                kpi.unit,
                p.q1,
                p.median,
                p.q3,
                result.value,
                result.target,
            ),
        )
    period_label = result.period if result else model.period
    return _kpi_page(kpi, None, trend, [], period_label, peers)


def _middle_half(peers: Peers, unit: str) -> str:
    """The peer quartiles in a partner's own site, which need more partners than the median."""
    if peers.q1 is None or peers.q3 is None:
        return f"withheld (fewer than {MIN_PEERS_QUARTILES} partners report it)"
    return f"{value(peers.q1, unit)} to {value(peers.q3, unit)}"


def _rank_key(row: dict[str, Any]) -> tuple[float, str]:
    rank = row["result"].peers.rank
    return (math.inf if rank is None else rank, row["partner"].name)


def quality_page(model: Model) -> Page:
    quality, load = model.quality, model.quality.load
    names = {p.partner_id: p.name for p in model.partners}
    files_table = Table(
        "Metric files",
        ["File", "Rows read", "Accepted", "Rejected", "Problem"],
        [
            [f.file, num(f.read), num(f.accepted), num(f.rejected), f.problem or "–"]
            for f in load.files
        ],
    )
    rejections_table = Table(
        "Rejected rows",
        ["Where", "Reason"],
        [[f"{r.file}:{r.line}", r.reason] for r in quality.rejections[:REJECTIONS_SHOWN]],
    )
    coverage_table = Table(
        "Submissions by partner and period",
        ["Partner", *quality.periods],
        [
            [names[pid], *("✓" if flag else "–" for flag in flags)]
            for pid, flags in sorted(quality.submitted.items(), key=lambda item: names[item[0]])
        ],
    )
    late = sorted(
        (c.partner for c in model.scorecards.values() if not c.submitted), key=lambda p: p.name
    )
    return Page(
        path="data-quality.html",
        template="site/data-quality.html",
        context={
            "title": "Data quality",
            "nav": "quality",
            "load": load,
            "files_table": files_table,
            "reasons": [
                {"label": RULE_LABELS.get(rule, rule), "count": count}
                for rule, count, _ in load.rules
            ],
            "rejections_table": rejections_table,
            "rejections_cut": len(quality.rejections) > REJECTIONS_SHOWN,
            "periods": quality.periods,
            "coverage_table": coverage_table,
            "late": late,
        },
    )


def methodology_page(model: Model, config: Config) -> Page:
    definitions = Table(
        "KPI definitions",
        ["KPI", "Definition", "Unit", "Better", "Target", "Benchmark", "Roll-up", "Weight"],
        [
            [
                k.name,
                k.description or "–",
                k.unit,
                k.direction,
                value(k.target, k.unit),
                value(k.benchmark, k.unit)
                + (f" ({k.benchmark_source})" if k.benchmark_source else ""),
                k.aggregation,
                num(k.weight, 1),
            ]
            for k in model.kpis
        ],
    )
    if config.site.period == "latest":
        as_of = (
            "the latest period that has ended in which more than half of the partners "
            "submitted data."
        )
    else:
        as_of = "set in the configuration."
    return Page(
        path="methodology.html",
        template="site/methodology.html",
        context={
            "title": "Methodology",
            "nav": "methodology",
            "grain_word": {"month": "month", "quarter": "quarter", "year": "year"}[model.grain],
            "as_of_text": as_of,
            "amber_band_text": pct(config.status.amber_band * 100, 0),
            "min_denominator": config.status.min_denominator,
            "definitions": definitions,
        },
    )


def pages(model: Model, config: Config) -> Iterator[Page | Planned]:
    """Every page of the site, with the narratives the project provides. A partner's page
    depends only on its own scorecard and narrative, a KPI's page on that KPI's results, so
    either can be kept from the live site when those are unchanged."""
    content = config.project_dir / "content"
    if model.scope is not None:
        yield from _scoped_pages(model, config, model.scorecards[model.scope])
        return
    index_vars = {"period": model.period, "partners": len(model.partners)}
    root = config.project_dir
    index = read_narrative(content / "index.md", index_vars, "content/index.md", root)
    yield index_page(model, index)
    for card in model.scorecards.values():
        yield _partner_plan(card, content, root)
    by_kpi: dict[str, list[tuple[Partner, KpiResult]]] = {k.kpi_id: [] for k in model.kpis}
    for card in model.scorecards.values():
        for result in card.results:
            by_kpi[result.kpi.kpi_id].append((card.partner, result))
    for kpi in model.kpis:
        kpi_vars = {"period": model.period, "kpi": {"name": kpi.name}}
        narrative = read_narrative(
            content / "kpis" / f"{kpi.kpi_id}.md", kpi_vars, f"content/kpis/{kpi.kpi_id}.md", root
        )
        results = by_kpi[kpi.kpi_id]
        yield Planned(
            path=f"kpis/{kpi.kpi_id}.html",
            inputs=(kpi, model.alliance.get(kpi.kpi_id), results, narrative),
            make=partial(kpi_page, model, kpi, results, narrative),
        )
    yield quality_page(model)
    yield methodology_page(model, config)


def _partner_plan(card: Scorecard, content: Path, root: Path) -> Planned:
    """A partner's page with its downloads and PDF, kept while its scorecard and narrative
    are unchanged."""
    pid = card.partner.partner_id
    narrative = read_narrative(
        content / "partners" / f"{pid}.md",
        _partner_variables(card),
        f"content/partners/{pid}.md",
        root,
    )
    return Planned(
        path=f"partners/{pid}.html",
        inputs=(card, narrative),
        make=partial(partner_page, card, narrative),
        also=(f"partners/{pid}.json", f"partners/{pid}.csv"),
        pdf=f"pdf/{pid}.pdf",
    )


def _scoped_pages(model: Model, config: Config, card: Scorecard) -> Iterator[Page | Planned]:
    """The site for one partner's eyes: its dashboard, scorecard, KPI pages and the
    methodology. Narratives written for the alliance (dashboard, KPI pages) are left out, as
    they may name other partners; the partner's own narrative stays."""
    yield scoped_index_page(model, card)
    yield _partner_plan(card, config.project_dir / "content", config.project_dir)
    results = {r.kpi.kpi_id: r for r in card.results}
    for kpi in model.kpis:
        yield scoped_kpi_page(model, kpi, results.get(kpi.kpi_id))
    yield methodology_page(model, config)


@dataclass(frozen=True)
class Live:
    """The live site, from which pages made from unchanged inputs are kept (hard-linked).

    `shared` is a hash of everything every page depends on (code, templates, configuration,
    date, the partner and KPI lists); `keys` the live pages' keys, from its manifest.
    """

    root: Path
    shared: bytes
    keys: dict[str, str]

    def key(self, plan: Planned) -> str:
        """The page's key: what every page shares plus the page's own inputs."""
        digest = hashlib.sha256(self.shared)
        digest.update(pickle.dumps((plan.path, plan.also, plan.pdf, plan.inputs), protocol=5))
        return digest.hexdigest()


# Charts submitted but not yet drawn before page preparation waits for the workers: enough to
# keep them busy, few enough that a big build holds only a few hundred pages' charts.
MAX_IN_FLIGHT = 1500

PageWritten = Callable[[str, str, dict[str, Any]], None]  # (path, template, context)


def write_site(
    model: Model,
    config: Config,
    out: Path,
    renderer: svg.SvgRenderer,
    cache_dir: Path,
    generated: datetime,
    with_pdf: bool,
    live: Live,
    on_page: PageWritten | None = None,
) -> Written:
    """Render every page and download into `out`, keeping the live site's copy of a page
    whose inputs are unchanged. `on_page` is told of each page made, once it is written and
    its charts drawn (the PDFs are made from them)."""
    env = environment(config.project_dir)
    # The Vega bundle takes ~0.8 s to produce the first time (then it is cached); vl-convert
    # releases the GIL, so it is made in a thread while the pages and charts are prepared.
    with ThreadPoolExecutor(max_workers=1) as background:
        bundle = background.submit(svg.vega_bundle, cache_dir)
        common = {
            "site": config.site,
            "period": model.period,
            "partners": model.partners,
            "kpis": model.kpis,
            "generated": generated.strftime("%Y-%m-%d %H:%M UTC"),
            "pdf": with_pdf,
            "scoped": model.scope is not None,
        }
        writer = _PageWriter(out, env, common, renderer, live, on_page)
        written = writer.write(pages(model, config))
        written.files += _write_assets(out)
        written.files.append(_write(out / "vendor" / "vega-bundle.js", bundle.result()))
    return written


@dataclass
class Written:
    """What the site stage wrote: every file, each page's key, and how many pages (with their
    PDFs) were kept from the live site."""

    files: list[Path] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    kept: int = 0


class _PageWriter:
    """Writes pages as soon as their charts are drawn, then lets their charts go.

    Pages are prepared (and their charts handed to the renderer) ahead of the drawing, up to
    MAX_IN_FLIGHT charts; each is written the moment all of its charts are ready, so drawing,
    preparing and writing overlap and memory holds only the pages in progress. A planned page
    whose key matches the live site's is hard-linked from it, with its PDF, and not made.
    """

    def __init__(
        self,
        out: Path,
        env: Environment,
        common: dict[str, Any],
        renderer: svg.SvgRenderer,
        live: Live,
        on_page: PageWritten | None,
    ) -> None:
        self.out, self.env, self.common = out, env, common
        self.renderer = renderer
        self.live = live
        self.on_page = on_page
        self.in_progress: list[Page] = []
        self.waiting: dict[str, deque[str]] = {}  # page → its charts not known to be ready
        self.written = Written()

    def write(self, all_pages: Iterable[Page | Planned]) -> Written:
        try:
            for item in all_pages:
                if isinstance(item, Planned):
                    if self._kept(item):
                        continue
                    item = item.make()
                self._submit(item)
                self.renderer.poll()
                while self.renderer.outstanding() > MAX_IN_FLIGHT:
                    self.renderer.wait()
                    self._write_ready()
                self._write_ready()
            while self.in_progress:
                self.renderer.wait()
                self._write_ready()
        finally:
            self.renderer.close()
        return self.written

    def _kept(self, plan: Planned) -> bool:
        """Hard-link the live page (and its PDF) when it was made from the same inputs."""
        key = self.live.key(plan)
        self.written.keys[plan.path] = key
        if self.live.keys.get(plan.path) != key:
            return False
        names = [plan.path, *plan.also]
        if plan.pdf and self.common["pdf"]:
            names.append(plan.pdf)
        linked = []
        try:
            for name in names:
                target = self.out / name
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(self.live.root / name, target)
                linked.append(target)
        except OSError:  # gone from the live site, or another file system: make it
            for target in linked:
                target.unlink()
            return False
        self.written.files += linked
        self.written.kept += 1
        return True

    def _submit(self, page: Page) -> None:
        for chart in page.charts:
            if chart.make is not None:
                chart.spec_json = self.renderer.submit(self._key(page, chart), chart.make())
        self.in_progress.append(page)
        self.waiting[page.path] = deque(self._key(page, c) for c in self._submitted(page))

    @staticmethod
    def _key(page: Page, chart: Chart) -> str:
        return f"{page.path}#{chart.id}"

    def _submitted(self, page: Page) -> list[Chart]:
        return [chart for chart in page.charts if chart.make is not None]

    def _write_ready(self) -> None:
        for page in list(self.in_progress):
            # charts are drawn roughly in order: drop the ready ones from the front, so that
            # each check starts where the last one stopped
            waiting = self.waiting[page.path]
            while waiting and self.renderer.ready(waiting[0]):
                waiting.popleft()
            if not waiting:
                del self.waiting[page.path]
                self.in_progress.remove(page)
                self._write_page(page)

    def _write_page(self, page: Page) -> None:
        charts = self._submitted(page)
        for chart in charts:
            chart.svg = self.renderer.svg(self._key(page, chart))
            if chart.id.startswith("spark-"):
                chart.spec_json = None  # sparklines stay static: nothing to hover on
        root = "../" * page.path.count("/")
        context = {**self.common, "nav": "", **page.context, "root": root}
        text = render(self.env, page.template, context)
        self.written.files.append(_write(self.out / page.path, text))
        for name, content in page.files.items():
            self.written.files.append(_write(self.out / name, content))
        if self.on_page:
            self.on_page(page.path, page.template, page.context)
        for chart in charts:
            self.renderer.release(self._key(page, chart))


def _write_assets(out: Path) -> list[Path]:
    """The stylesheet, fonts and script every page uses."""
    written = []
    for asset in ("fonts.css", "style.css", "charts.js"):
        target = out / "static" / asset
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STATIC / asset, target)
        written.append(target)
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
