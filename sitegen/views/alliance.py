"""The alliance's pages and documents as every output shows them: the dashboard (and a
partner's own), a KPI's page, data quality, the methodology and the board packet."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from sitegen import charts
from sitegen.config import Config
from sitegen.downloads import alliance_json
from sitegen.filters import STATUS_WORDS, delta, num, pct, value
from sitegen.kpis import MIN_PEERS, MIN_PEERS_QUARTILES
from sitegen.load import RULE_LABELS, LoadSummary
from sitegen.model import (
    STANDINGS,
    STATUSES,
    Kpi,
    KpiResult,
    Model,
    Partner,
    Peers,
    Scorecard,
    SeriesPoint,
)
from sitegen.narrative import Narrative
from sitegen.views.common import (
    PACKET_PARTNERS_MAX,
    ChartView,
    Reading,
    Status,
    Table,
    chart,
    first_by,
    partner_count,
    standing_status,
    status,
)
from sitegen.views.partner import (
    ASSURANCE_WORDS,
    FUNNEL_WORDS,
    VARIATION_WORDS,
    Count,
    Standing,
    not_ranked,
    plural,
    scored_of,
    scored_on,
    standing,
    trend_table,
)

REJECTIONS_SHOWN = 500
# Beyond this many partners the dashboard shows statuses per KPI and the spread of composite
# scores instead of a row per partner: nobody reads 1,000 rows, and vl-convert cannot even
# lay out a 10,000-row heatmap (its stack overflows).
ROWS_PER_PARTNER_MAX = 150
# Why an alliance-wide figure is withheld (kpi_alliance.sql), in words.
WITHHELD_WORDS = {
    "fewer_than_5": f"withheld: fewer than {MIN_PEERS} partners report it",
    "one_suppressed": "withheld: one partner's figure is suppressed and could be worked out",
    "small_counts": "withheld: its counts are too small to publish",
}
AGGREGATION_TEXT = {
    "ratio": "sum of numerators ÷ sum of denominators (never an average of rates)",
    "mean": "mean of the submitted values",
    "sum": "sum of the submitted values",
    "last": "latest value submitted",
}


@dataclass(frozen=True)
class Headline:
    """A KPI's alliance-wide figure for the as-of period."""

    kpi_id: str
    name: str
    period: str
    value: str  # the figure, or why it is withheld
    target: str
    benchmark: str
    status: Status
    partners: int
    suppressed_partners: int


@dataclass(frozen=True)
class Mover:
    partner_id: str
    name: str
    score: str
    change: str
    scored_on: str  # "scored on 18 of 24 KPIs": a score on few KPIs moves by more


@dataclass(frozen=True)
class ReadingCount:
    reading: Reading
    count: int


@dataclass(frozen=True)
class Band:
    """The dashboard's first answer: how the alliance stands against its commitments."""

    period: str
    partners: tuple[Count, ...]  # partners on track, at risk, off track, not scored
    kpis: tuple[Count, ...]  # KPI results met, at risk, missed, across every partner
    readings: tuple[ReadingCount, ...]  # series per SPC reading across partners; () without
    freshness: str  # "37 of 40 partners submitted for 2026-10"


@dataclass(frozen=True)
class Unranked:
    partner_id: str
    name: str
    why: str  # "no submission for 2026-10"


@dataclass(frozen=True)
class PartnerLink:
    partner_id: str
    name: str
    kind: str  # "post acute"
    region: str


@dataclass(frozen=True)
class DashboardView:
    """The alliance's dashboard."""

    period: str
    generated: str  # when the build ran
    band: Band
    partners: tuple[PartnerLink, ...]
    kpis: int
    narrative: Narrative | None
    headline: tuple[Headline, ...]
    heatmap_title: str
    heatmap: ChartView
    status_table: Table  # partners per status per KPI: what a phone shows for the heatmap
    ranking_title: str
    ranking: ChartView
    ranking_table: Table  # and for the ranking
    unranked: tuple[Unranked, ...]  # partners without a score, and why
    movers_up: tuple[Mover, ...]
    movers_down: tuple[Mover, ...]
    late: tuple[PartnerLink, ...]
    spc_summary: Table | None  # partners per SPC reading, per KPI; None without readings
    json: str  # alliance.json

    def charts(self) -> list[ChartView]:
        return [self.heatmap, self.ranking]


@dataclass(frozen=True)
class OwnDashboardView:
    """The dashboard of a partner's own site: its standing and the alliance-wide figures."""

    period: str
    partner: Standing
    headline: tuple[Headline, ...]
    json: str  # alliance.json

    def charts(self) -> list[ChartView]:
        return []


@dataclass(frozen=True)
class RankedRow:
    rank: str
    partner_id: str
    name: str
    value: str
    target: str
    status: Status
    percentile: str


@dataclass(frozen=True)
class KpiView:
    """A KPI's page: its definition, the alliance trend, and either every partner ranked and
    the spread of values (the alliance's site) or where one partner stands (its own)."""

    kpi_id: str
    name: str
    category: str  # "Patient experience"
    better: str  # "higher" or "lower"
    frequency: str
    definition: str
    unit: str
    target: str
    benchmark: str  # with its source
    aggregation: str
    weight: str
    narrative: Narrative | None
    period: str  # the KPI period shown
    trend: ChartView | None
    ranked: tuple[RankedRow, ...]
    distribution: ChartView | None  # the spread of values, or the partner among its peers
    funnel: ChartView | None  # values against denominators, with the alliance's limits
    key: tuple[tuple[str, str], ...]  # the alliance trend's key (ALLIANCE_KEY)

    def charts(self) -> list[ChartView]:
        return [c for c in (self.trend, self.distribution, self.funnel) if c]


@dataclass(frozen=True)
class Reason:
    label: str
    count: str


@dataclass(frozen=True)
class QualityView:
    """What the load accepted and rejected, and who submitted."""

    period: str
    read: str  # "1,234 rows"
    files: str  # "1 file"
    accepted: str
    rejected: str
    normalised: str  # "3 rows"
    collapsed: str
    files_table: Table
    reasons: tuple[Reason, ...]
    rejections_table: Table
    rejections_cut: str  # "Showing the first 500 of 1,234 rejected rows", or ""
    periods: int
    coverage_table: Table
    late: tuple[PartnerLink, ...]
    actions: str  # "8 rows read: 7 accepted, 1 quarantined", or "" without actions.csv
    actions_table: Table | None  # the quarantined rows of actions.csv, where and why

    def charts(self) -> list[ChartView]:
        return []


@dataclass(frozen=True)
class MethodologyView:
    period: str
    grain: str  # month, quarter, year
    as_of: str
    amber_band: str
    min_denominator: int
    min_peers_quartiles: int
    statuses: dict[str, Status]
    standings: dict[str, Status]  # on track, at risk, off track, not scored
    readings: dict[str, Reading]  # every variation and assurance reading, for the key
    definitions: Table

    def charts(self) -> list[ChartView]:
        return []


@dataclass(frozen=True)
class PacketView:
    """The board packet: the dashboard's figures and how each partner stands."""

    period: str
    partners_line: str
    band: Band
    headline: tuple[Headline, ...]
    status_table: Table  # partners by status per KPI: a heatmap's cells are too small on paper
    ranking: ChartView
    # every partner's standing, or beyond PACKET_PARTNERS_MAX those furthest behind, and a
    # line saying so (empty when all fit)
    sections: tuple[Standing, ...]
    sections_note: str

    def charts(self) -> list[ChartView]:
        return [self.ranking]


def _links(partners: list[Partner]) -> tuple[PartnerLink, ...]:
    return tuple(
        PartnerLink(p.partner_id, p.name, p.partner_type.replace("_", " "), p.region)
        for p in partners
    )


def headline(model: Model) -> tuple[Headline, ...]:
    """Each KPI's alliance-wide figure for the as-of period, or no data when there is none."""
    rows = []
    for kpi in model.kpis:
        point = model.alliance_as_of.get(kpi.kpi_id)
        withheld = WITHHELD_WORDS[point.withheld] if point and point.withheld else None
        rows.append(
            Headline(
                kpi.kpi_id,
                kpi.name,
                point.period if point else "–",
                withheld or value(point.value if point else None, kpi.unit),
                value(kpi.target, kpi.unit),
                value(kpi.benchmark, kpi.unit),
                status(point.status if point else "no_data"),
                point.partners if point else 0,
                point.suppressed_partners if point else 0,
            )
        )
    return tuple(rows)


def _alliance_json(model: Model) -> str:
    return json.dumps(alliance_json(model), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def dashboard_view(model: Model, narrative: Narrative | None, generated: str) -> DashboardView:
    cards = list(model.scorecards.values())
    names = {p.partner_id: p for p in model.partners}
    scored = _scored(model)
    if len(cards) > ROWS_PER_PARTNER_MAX:
        heatmap, titles = _status_counts(model), ("Statuses per KPI", "Composite scores")
    else:
        heatmap, titles = _heatmap(model), ("Partners × KPIs", "Composite ranking")
    ranking = _ranking_chart(model, scored)

    def movers(direction: str) -> tuple[Mover, ...]:
        found = [model.scorecards[pid] for pid in model.movers[direction]]
        return tuple(
            Mover(
                c.partner.partner_id,
                c.partner.name,
                num(c.composite.score, 1),
                delta(c.composite.change_prev, "score"),
                scored_on(c),
            )
            for c in found
        )

    late = sorted((c.partner for c in cards if not c.submitted), key=lambda p: p.name)
    return DashboardView(
        period=model.period,
        generated=generated,
        band=band(model),
        partners=_links(model.partners),
        kpis=len(model.kpis),
        narrative=narrative,
        headline=headline(model),
        heatmap_title=titles[0],
        heatmap=heatmap,
        status_table=_status_table(model),
        ranking_title=titles[1],
        ranking=ranking,
        ranking_table=_ranking_table(scored, f"Composite ranking, {model.period}"),
        unranked=tuple(
            Unranked(c.partner.partner_id, c.partner.name, not_ranked(c))
            for c in sorted(cards, key=lambda c: c.partner.name)
            if c.composite.rank is None
        ),
        movers_up=movers("up"),
        movers_down=movers("down"),
        late=_links([names[p.partner_id] for p in late]),
        spc_summary=_spc_summary(model),
        json=_alliance_json(model),
    )


def band(model: Model) -> Band:
    """Partners by standing, KPI results by status and series by SPC reading, as of the
    period, and who submitted for it: counted from the figures SQL decided."""
    cards = list(model.scorecards.values())
    tracks = Counter(c.composite.standing for c in cards)
    results: Counter[str] = Counter()
    for counts in model.status_counts.values():
        results.update(counts)
    readings = Counter()
    for counts in model.spc_counts.values():
        readings.update(counts)
    submitted = sum(c.submitted for c in cards)
    return Band(
        period=model.period,
        partners=tuple(Count(standing_status(k), tracks[k]) for k in STANDINGS),
        kpis=tuple(Count(status(k), results[k]) for k in ("met", "at_risk", "missed")),
        readings=tuple(
            ReadingCount(READINGS[k], readings[k])
            for k in ("special_improving", "special_concerning", "pass", "fail")
            if model.spc_counts
        ),
        freshness=f"{submitted} of {plural(len(cards), 'partner')} submitted for {model.period}",
    )


def _status_table(model: Model) -> Table:
    """Partners by status per KPI, as a table: the heatmap's figures, counted."""
    counted = model.status_counts
    return Table(
        f"Partners by status per KPI, {model.period}",
        ("KPI", *(STATUS_WORDS[s].capitalize() for s in STATUSES)),
        tuple(
            (k.name, *(num(counted.get(k.kpi_id, {}).get(s, 0)) for s in STATUSES))
            for k in model.kpis
        ),
    )


# The key to a KPI's alliance trend chart: (the page's swatch, the words).
ALLIANCE_KEY = (
    ("partner", "the alliance-wide value, one dot per period"),
    ("target", "the alliance target (black dashes)"),
    ("median", f"the median partner (grey dots), where at least {MIN_PEERS} partners report"),
    ("band", f"the middle half of partners (shaded), where at least {MIN_PEERS} report"),
    ("benchmark", "the external benchmark (a wide pink line), where the KPI has one"),
)


# Each reading as the methodology's key shows it (special causes with the H icon).
READINGS = {
    "common": Reading("common", "variation-common", VARIATION_WORDS["common"]),
    "special_improving": Reading(
        "special_improving", "variation-improving-high", VARIATION_WORDS["special_improving"]
    ),
    "special_concerning": Reading(
        "special_concerning", "variation-concerning-high", VARIATION_WORDS["special_concerning"]
    ),
    **{key: Reading(key, f"assurance-{key}", word) for key, word in ASSURANCE_WORDS.items()},
}
SPC_COLUMNS = (
    ("special_improving", "Improving"),
    ("special_concerning", "Concerning"),
    ("common", "Common cause"),
    ("pass", "Passing"),
    ("fail", "Failing"),
    ("hit_or_miss", "Hit or miss"),
)


def _spc_summary(model: Model) -> Table | None:
    """The alliance's Making Data Count summary: per KPI, how many partners' series read
    each way at their latest point (kpi_spc.sql counts them)."""
    if not model.spc_counts:
        return None
    rows = tuple(
        (kpi.name, *(str(model.spc_counts[kpi.kpi_id].get(key, 0)) for key, _ in SPC_COLUMNS))
        for kpi in model.kpis
        if kpi.kpi_id in model.spc_counts
    )
    header = ("KPI", *(label for _, label in SPC_COLUMNS))
    return Table("Partners by variation and assurance, per KPI", header, rows)


def _funnel(
    model: Model, kpi: Kpi, results: list[tuple[str, KpiResult]], own: bool
) -> ChartView | None:
    """The KPI's funnel plot: the partners' points (`results`, labelled) on the limits SQL
    drew; None for a KPI without counts or where the alliance figure is withheld."""
    funnel = model.funnels.get(kpi.kpi_id)
    placed = [(label, r) for label, r in results if r.funnel and r.denominator]
    if funnel is None or not placed:
        return None
    unit = kpi.unit
    points = [(label, r.denominator, r.value, value(r.value, unit)) for label, r in placed]
    lines = [(x.denominator, x.low95, x.high95, x.low998, x.high998) for x in funnel.lines]
    who = "your value" if own else "each partner's value"
    return chart(
        "funnel",
        charts.funnel_chart(kpi.name, unit, funnel.centre, lines, points),
        f"Funnel plot of {kpi.name}: {who} against its denominator, with the alliance value "
        f"{value(funnel.centre, unit)} and the 95% and 99.8% limits around it, which narrow "
        "as the denominator grows.",
        f"{kpi.name}: values against denominators, {placed[0][1].period}",
        Table(
            f"{kpi.name}: where each value falls in the funnel",
            ("Partner", "Denominator", "Value", "Position"),
            tuple(
                (label, num(r.denominator), value(r.value, unit), FUNNEL_WORDS[r.funnel or ""])
                for label, r in placed
            ),
        ),
    )


def own_dashboard_view(model: Model, card: Scorecard) -> OwnDashboardView:
    return OwnDashboardView(model.period, standing(card), headline(model), _alliance_json(model))


def _heatmap(model: Model) -> ChartView:
    rows = [
        (c.partner.name, r.kpi.name, r.status) for c in model.scorecards.values() for r in c.results
    ]
    return chart(
        "heatmap",
        charts.status_heatmap(rows, [p.name for p in model.partners], [k.name for k in model.kpis]),
        "Status of every KPI for every partner; the same statuses are in each partner's "
        "scorecard table.",
        f"Status per partner and KPI, {model.period}",
        Table(
            "Status per partner and KPI",
            ("Partner", "KPI", "Status"),
            tuple((p, k, STATUS_WORDS[s]) for p, k, s in rows),
        ),
    )


def _ranking_table(scored: list[Scorecard], caption: str = "Composite score by partner") -> Table:
    return Table(
        caption,
        ("Partner", "Rank", "Score", "Change", "Scored on"),
        tuple(
            (
                c.partner.name,
                str(c.composite.rank),
                num(c.composite.score, 1),
                delta(c.composite.change_prev, "score"),
                scored_of(c),
            )
            for c in scored
        ),
    )


def _ranking(model: Model, scored: list[Scorecard]) -> ChartView:
    return chart(
        "ranking",
        charts.ranking_chart([(c.partner.name, c.composite.score) for c in scored]),
        "Composite score of each partner, best first.",
        f"Composite score, {model.period}",
        _ranking_table(scored),
    )


def _status_counts(model: Model) -> ChartView:
    """Partners per status for each KPI: the heatmap of an alliance too large to list."""
    counted = model.status_counts
    counts = [
        (k.name, s, counted.get(k.kpi_id, {}).get(s, 0)) for k in model.kpis for s in STATUSES
    ]
    return chart(
        "heatmap",
        charts.status_counts_chart(counts, [k.name for k in model.kpis]),
        "For each KPI, how many partners met its target, were at risk, missed it, had no "
        "data or were suppressed; each partner's own statuses are on its scorecard.",
        f"Partners by status per KPI, {model.period}",
        _status_table(model),
    )


def _score_spread(model: Model, scored: list[Scorecard]) -> ChartView:
    """How composite scores spread: the ranking of an alliance too large to draw a bar each
    (the table still ranks every partner)."""
    scores = [c.composite.score for c in scored]
    return chart(
        "ranking",
        charts.distribution_chart("Composite score", "score", scores, None),
        "How many partners scored in each range of the composite score (0–100).",
        f"Composite scores of {len(scored):,} partners, {model.period}",
        _ranking_table(scored),
    )


def _alliance_trend(model: Model, kpi: Kpi) -> ChartView | None:
    """The alliance-wide series of a KPI with the peer band, or None before its first value."""
    points = model.alliance.get(kpi.kpi_id, [])
    if not points:
        return None
    series = [
        SeriesPoint(p.period, p.value, p.target, p.status, p.peer_q1, p.peer_median, p.peer_q3)
        for p in points
    ]
    trend_points = [
        charts.TrendPoint(p.period, p.value, p.target, p.peer_q1, p.peer_median, p.peer_q3)
        for p in series
    ]
    return chart(
        "alliance-trend",
        charts.trend_chart(kpi.name, kpi.unit, trend_points, kpi.benchmark, value_label="alliance"),
        f"Alliance-wide {kpi.name} per period against the alliance target, with the "
        "middle half of partners.",
        f"Alliance-wide {kpi.name} per period",
        trend_table(f"Alliance-wide {kpi.name} per period", kpi.unit, series),
    )


def _kpi_view(
    kpi: Kpi,
    narrative: Narrative | None,
    period: str,
    trend: ChartView | None,
    ranked: tuple[RankedRow, ...],
    distribution: ChartView | None,
    funnel: ChartView | None,
) -> KpiView:
    source = f" ({kpi.benchmark_source})" if kpi.benchmark_source else ""
    return KpiView(
        kpi_id=kpi.kpi_id,
        name=kpi.name,
        category=kpi.category.replace("_", " ").capitalize(),
        better="higher" if kpi.direction == "higher" else "lower",
        frequency=kpi.frequency,
        definition=kpi.description or "–",
        unit=kpi.unit,
        target=value(kpi.target, kpi.unit),
        benchmark=value(kpi.benchmark, kpi.unit) + source,
        aggregation=AGGREGATION_TEXT[kpi.aggregation],
        weight=num(kpi.weight, 1),
        narrative=narrative,
        period=period,
        trend=trend,
        ranked=ranked,
        distribution=distribution,
        funnel=funnel,
        key=ALLIANCE_KEY,
    )


def kpi_view(
    model: Model, kpi: Kpi, results: list[tuple[Partner, KpiResult]], narrative: Narrative | None
) -> KpiView:
    """A KPI's page from its alliance series and every partner's result for it."""
    ranked = sorted(
        results,
        key=lambda pr: (
            pr[1].peers.rank if pr[1].peers.rank is not None else float("inf"),
            pr[0].name,
        ),
    )
    shown = [r.value for _, r in ranked if r.value is not None]
    period = ranked[0][1].period if ranked else model.period
    distribution = None
    if shown:
        distribution = chart(
            "distribution",
            charts.distribution_chart(kpi.name, kpi.unit, shown, kpi.target),
            f"Spread of partners' {kpi.name} values, with the alliance target.",
            f"{kpi.name}: partners' values, {period}",
            Table(
                f"{kpi.name} by partner",
                ("Partner", "Value"),
                tuple((p.name, value(r.value, kpi.unit)) for p, r in ranked if r.value is not None),
            ),
        )
    rows = tuple(
        RankedRow(
            str(r.peers.rank) if r.peers.rank else "–",
            p.partner_id,
            p.name,
            value(r.value, kpi.unit),
            value(r.target, kpi.unit),
            status(r.status),
            num(r.peers.percentile, 0),
        )
        for p, r in ranked
    )
    funnel = _funnel(model, kpi, [(p.name, r) for p, r in ranked], own=False)
    trend = _alliance_trend(model, kpi)
    return _kpi_view(kpi, narrative, period, trend, rows, distribution, funnel)


def _middle_half(peers: Peers, unit: str) -> str:
    """The peer quartiles in a partner's own site, which need more partners than the median."""
    if peers.q1 is None or peers.q3 is None:
        return f"withheld (fewer than {MIN_PEERS_QUARTILES} partners report it)"
    return f"{value(peers.q1, unit)} to {value(peers.q3, unit)}"


def own_kpi_view(model: Model, kpi: Kpi, result: KpiResult | None) -> KpiView:
    """A KPI's page for one partner's eyes: the alliance-wide series and where the partner
    stands among its peers, from the peer statistics alone (withheld below MIN_PEERS)."""
    peers = None
    if result is not None and not result.peers.withheld:
        p = result.peers
        peers = chart(
            "peers",
            charts.peer_chart(
                kpi.name, kpi.unit, p.q1, p.median, p.q3, result.value, result.target
            ),
            f"Your {kpi.name} against the middle half and median of peers, and the target.",
            f"{kpi.name}: you among {p.n} peers, {result.period}",
            Table(
                f"{kpi.name}: you and your peers",
                ("Figure", "Value"),
                (
                    ("You", value(result.value, kpi.unit)),
                    ("Your percentile (best 100)", num(p.percentile, 0)),
                    ("Peer median", value(p.median, kpi.unit)),
                    ("Peer middle half", _middle_half(p, kpi.unit)),
                    ("Target", value(result.target, kpi.unit)),
                ),
            ),
        )
    period = result.period if result else model.period
    funnel = _funnel(model, kpi, [("You", result)] if result else [], own=True)
    return _kpi_view(kpi, None, period, _alliance_trend(model, kpi), (), peers, funnel)


def quality_view(model: Model) -> QualityView:
    quality, load = model.quality, model.quality.load
    names = {p.partner_id: p.name for p in model.partners}
    late = sorted(
        (c.partner for c in model.scorecards.values() if not c.submitted), key=lambda p: p.name
    )
    return QualityView(
        period=model.period,
        read=plural(load.read, "row"),
        files=plural(len(load.files), "file"),
        accepted=num(load.accepted),
        rejected=num(load.rejected),
        normalised=plural(load.normalised, "row"),
        collapsed=plural(load.collapsed, "row"),
        files_table=Table(
            "Metric files",
            ("File", "Rows read", "Accepted", "Rejected", "Problem"),
            tuple(
                (f.file, num(f.read), num(f.accepted), num(f.rejected), f.problem or "–")
                for f in load.files
            ),
        ),
        reasons=tuple(Reason(RULE_LABELS.get(rule, rule), num(n)) for rule, n, _ in load.rules),
        rejections_table=Table(
            "Rejected rows",
            ("Where", "Reason"),
            tuple((f"{r.file}:{r.line}", r.reason) for r in quality.rejections[:REJECTIONS_SHOWN]),
        ),
        rejections_cut=(
            f"Showing the first {num(REJECTIONS_SHOWN)} of {num(load.rejected)} rejected rows"
            if len(quality.rejections) > REJECTIONS_SHOWN
            else ""
        ),
        periods=len(quality.periods),
        coverage_table=Table(
            "Submissions by partner and period",
            ("Partner", *quality.periods),
            tuple(
                (names[pid], *("✓" if flag else "–" for flag in flags))
                for pid, flags in sorted(quality.submitted.items(), key=lambda i: names[i[0]])
            ),
        ),
        late=_links(late),
        actions=_actions_read(load),
        actions_table=(
            Table(
                "Quarantined rows of actions.csv",
                ("Where", "Reason"),
                tuple(tuple(reject.split(": ", 1)) for reject in load.action_rejects),
            )
            if load.action_rejects
            else None
        ),
    )


def _actions_read(load: LoadSummary) -> str:
    quarantined = len(load.action_rejects)
    if not load.actions and not quarantined:
        return ""
    read = plural(load.actions + quarantined, "row")
    return f"{read} read: {num(load.actions)} accepted, {num(quarantined)} quarantined"


def methodology_view(model: Model, config: Config) -> MethodologyView:
    if config.site.period == "latest":
        as_of = (
            "the latest period that has ended in which more than half of the partners "
            "submitted data."
        )
    else:
        as_of = "set in the configuration."
    definitions = Table(
        "Every KPI: definition, unit, direction, target, benchmark, roll-up and weight",
        ("KPI", "Definition", "Unit", "Better", "Target", "Benchmark", "Roll-up", "Weight"),
        tuple(
            (
                k.name,
                k.description or "–",
                k.unit,
                k.direction,
                value(k.target, k.unit),
                value(k.benchmark, k.unit)
                + (f" ({k.benchmark_source})" if k.benchmark_source else ""),
                k.aggregation,
                num(k.weight, 1),
            )
            for k in model.kpis
        ),
    )
    return MethodologyView(
        period=model.period,
        grain=model.grain,
        as_of=as_of,
        amber_band=pct(config.status.amber_band * 100, 0),
        min_denominator=config.status.min_denominator,
        min_peers_quartiles=MIN_PEERS_QUARTILES,
        statuses={s: status(s) for s in STATUSES},
        standings={s: standing_status(s) for s in STANDINGS},
        readings=READINGS,
        definitions=definitions,
    )


def _scored(model: Model) -> list[Scorecard]:
    """The partners with a composite score, best first (ties by name)."""
    return sorted(
        (c for c in model.scorecards.values() if c.composite.score is not None),
        key=lambda c: (-c.composite.score, c.partner.name),
    )


def _ranking_chart(model: Model, scored: list[Scorecard]) -> ChartView:
    """A bar per partner, or beyond ROWS_PER_PARTNER_MAX partners the spread of scores."""
    if len(model.scorecards) > ROWS_PER_PARTNER_MAX:
        return _score_spread(model, scored)
    return _ranking(model, scored)


def packet_view(model: Model, cards: list[Scorecard]) -> PacketView:
    """The board packet from the dashboard's figures and the standing of each partner given a
    section (`cards`: packet_cards, with their results)."""
    return PacketView(
        period=model.period,
        partners_line=f"{len(model.partners)} partners, {len(model.kpis)} KPIs",
        band=band(model),
        headline=headline(model),
        status_table=_status_table(model),
        ranking=_ranking_chart(model, _scored(model)),
        sections=tuple(standing(card) for card in cards),
        sections_note=_sections_note(model),
    )


BEHIND = {"off_track": 0, "at_risk": 1, "not_scored": 2, "on_track": 3}


def packet_cards(model: Model) -> list[Scorecard]:
    """The partners the board packet gives a section, in the alliance's order: all of them,
    or beyond PACKET_PARTNERS_MAX those furthest behind (off track first, then at risk, not
    scored, on track; within each the lowest composite first, then by name)."""

    def behind(card: Scorecard) -> tuple[int, bool, float, str]:
        score = card.composite.score
        return (BEHIND[card.composite.standing], score is None, score or 0.0, card.partner.name)

    return first_by(list(model.scorecards.values()), behind, PACKET_PARTNERS_MAX)


def _sections_note(model: Model) -> str:
    others = len(model.scorecards) - PACKET_PARTNERS_MAX
    if others <= 0:
        return ""
    return (
        f"A section each for the {PACKET_PARTNERS_MAX} partners furthest behind (off track "
        "first, then at risk, not scored and on track, the lowest composite first). Not given "
        f"a section here: {partner_count(others)} more; the site's dashboard lists every "
        "partner, and each has its own scorecard."
    )
