"""A partner's scorecard as every output shows it: its page, its PDF and its email.

Every word about a partner (its kind, rank, change, summary, notes, each KPI's cells) is
decided here, once, so that the three say the same thing word for word. Figures come from the
model as SQL decided them; this module only words and formats them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markupsafe import Markup

from sitegen import charts, periods
from sitegen.downloads import scorecard_csv, scorecard_json
from sitegen.filters import STATUS_WORDS, delta, num, value
from sitegen.kpis import MIN_PEERS
from sitegen.load import CATEGORIES
from sitegen.model import STATUSES, Baseline, Kpi, KpiResult, Scorecard, SeriesPoint, Spc
from sitegen.narrative import Narrative
from sitegen.views.common import (
    ChartView,
    Reading,
    Status,
    Table,
    chart,
    standing_status,
    status,
)
from sitegen.views.review import ActionLine, ReviewSection, action_line, partner_review

CATEGORY_LABELS = {c: c.replace("_", " ").capitalize() for c in CATEGORIES}
SUPPRESSION_WORDS = {
    "small_cell": "1 to 10 people: too few to publish",
    "min_denominator": "too few cases to judge",
    "source": "suppressed at source",
}
PART_WORDS = {"monthly": "months", "quarterly": "quarters", "annual": "years"}
VARIATION_WORDS = {
    "common": "common cause",
    "special_improving": "special cause, improving",
    "special_concerning": "special cause, concerning",
}
ASSURANCE_WORDS = {
    "pass": "consistently passing the target",
    "fail": "consistently failing the target",
    "hit_or_miss": "hit or miss against the target",
}
RULE_WORDS = {
    "outside": "beyond a process limit",
    "shift": "a shift (7 points on one side of the mean)",
    "trend": "a trend (7 points rising or falling)",
    "two_of_three": "two of three points near a limit",
}
# The key to a scorecard's trend charts, item by item: (the page's swatch, the words), the
# same words on the page and in the PDF.
CHART_KEY = (
    ("partner", "the partner's value, one dot per period (a gap where there is none to show)"),
    ("target", "the target (black dashes)"),
    ("median", f"the peer median (grey dots), where at least {MIN_PEERS} partners report"),
    ("band", f"the middle half of peers (shaded), where at least {MIN_PEERS} partners report"),
    (
        "benchmark",
        "the external benchmark (a wide pink line, under the target where the two are equal), "
        "where the KPI has one",
    ),
    (
        "mean",
        "the mean of the values (solid grey) and the process limits (grey dashes), where the "
        "KPI has 13 points or more",
    ),
    (
        "signal",
        "a larger dot: a special cause, blue when improving, orange when concerning (the data "
        "table names each)",
    ),
)
# What the KPI tables' cells mean, under them on the page and in the PDF.
TABLE_NOTE = (
    '"Own commitment" marks a target the partner committed to itself, in place of the '
    "alliance target. Changes are against the previous period and the same period a year "
    "earlier. Peer rank: 1 is best, among all partners and among partners of its type; "
    f"withheld when fewer than {MIN_PEERS} partners report the KPI. Beside each status, the "
    "Making Data Count reading of the KPI's history (13 points or more): its variation "
    "(common or special cause, improving or concerning) and its assurance against the "
    'target; "within noise": the value\'s 95% interval holds the target.'
)
FUNNEL_WORDS = {
    "within": "within the funnel's limits",
    "better_95": "better than the 95% limit",
    "better_998": "better than the 99.8% limit",
    "worse_95": "worse than the 95% limit",
    "worse_998": "worse than the 99.8% limit",
}


@dataclass(frozen=True)
class KpiRow:
    """One KPI in a partner's table, every cell already worded."""

    kpi_id: str
    name: str
    status: Status
    value: str
    value_note: str  # partial period, why suppressed, a footnote; "" when nothing
    target: str
    own_target: bool  # the partner's own commitment, not the alliance target
    benchmark: str
    period: str
    change_prev: str
    change_prev_label: str | None  # improving, worsening, unchanged
    change_yoy: str
    change_yoy_label: str | None
    peers: str  # "3 of 12", "withheld" or "–"
    type_peers: str  # "2 of 5 hospital partners", or "" when withheld
    spark: Markup  # the sparkline, drawn as SVG markup
    variation: Reading | None  # None with fewer than 13 points
    assurance: Reading | None  # None too without a target
    spc_note: str  # "mean 12.3%, limits 9.1% to 15.5% (24 points)", or why there is none
    interval: str  # "95% interval 12.1% to 15.3%", or ""
    within_noise: bool  # the interval holds the target: the status may be chance
    funnel: str  # where the value falls in the KPI's funnel plot, or ""
    actions: tuple[ActionLine, ...] = ()  # its actions and notes (actions.csv)


@dataclass(frozen=True)
class Commitment:
    """A target a partner is held to, worded for the block that opens its scorecard."""

    kpi_id: str
    name: str
    status: Status
    value: str
    target: str
    gap: str  # "+2.2 pts, worse", "on target", or "–"
    window: str  # "2025-01 onwards", "until 2024-12", "2025-01 to 2026-12", "open-ended"


@dataclass(frozen=True)
class NoChart:
    """A KPI with no value to chart in any period, said in one line instead."""

    kpi_id: str
    text: str


@dataclass(frozen=True)
class Category:
    label: str
    rows: tuple[KpiRow, ...]


@dataclass(frozen=True)
class Count:
    status: Status
    count: int


@dataclass(frozen=True)
class Standing:
    """How a partner stands, in the words its page, its PDF, its email and the board packet
    all use."""

    partner_id: str
    name: str
    kind: str  # "Hospital", "Post acute"
    region: str
    period: str
    submitted: bool
    no_submission: str  # "no submission for 2026-10", or "" when it submitted
    score: str
    rank: str  # "27 of 38", or "not ranked"
    place: str  # the rank in two parts, for a page to set the second smaller: "27", or
    of: str  # "not ranked" and ""; and "of 38"
    change: str  # the score's change on the previous period: "+2.9", "±0", "–"
    rank_change: str  # "up 2 places since the previous period", or ""
    score_change: str  # "down 2.9 points on the previous month", or "" without a change
    track: Status  # on track, at risk, off track or not scored (kpi_composite.sql)
    scored_on: str  # "scored on 18 of 24 KPIs"
    type_rank: str  # "3 of 9 hospital partners", or "" when not ranked
    not_ranked: str  # why it has no rank ("no submission for 2026-10"), or "" with one
    counts: tuple[Count, ...]  # every status, in STATUSES order
    summary: tuple[str, ...]  # the generated summary, sentence by sentence

    def headline_counts(self) -> tuple[Count, ...]:
        """Met, at risk and missed: what an email leads with."""
        return self.counts[:3]


@dataclass(frozen=True)
class PartnerView:
    """A partner's scorecard for one audience: the alliance's (suppressed figures hidden) or
    the partner's own (its own figures shown)."""

    standing: Standing
    narrative: Narrative | None
    commitments: tuple[Commitment, ...]  # its own commitments, missed first
    off_target: tuple[Commitment, ...]  # missed or at risk against the alliance target
    categories: tuple[Category, ...]
    trends: tuple[ChartView, ...]  # a chart per KPI with a value to draw
    empty: tuple[NoChart, ...]  # a line per KPI with none, instead of an empty chart
    notes: tuple[str, ...]
    key: tuple[tuple[str, str], ...]  # the trend charts' key (CHART_KEY)
    table_note: str  # what the KPI tables' cells mean (TABLE_NOTE)
    review: ReviewSection | None  # what changed since the last review
    json: str  # partners/<id>.json
    csv: str  # partners/<id>.csv

    def charts(self) -> list[ChartView]:
        return list(self.trends)


def standing(card: Scorecard) -> Standing:
    composite = card.composite
    kind = card.partner.partner_type.replace("_", " ")
    return Standing(
        partner_id=card.partner.partner_id,
        name=card.partner.name,
        kind=card.partner.partner_type.replace("_", " ").capitalize(),
        region=card.partner.region,
        period=card.period,
        submitted=card.submitted,
        no_submission="" if card.submitted else f"no submission for {card.period}",
        score=num(composite.score, 1),
        rank=f"{composite.rank} of {composite.of}" if composite.rank else "not ranked",
        place=str(composite.rank) if composite.rank else "not ranked",
        of=f"of {composite.of}" if composite.rank else "",
        change=delta(composite.change_prev, "score"),
        rank_change=_rank_change(card),
        score_change=_score_change(card),
        track=standing_status(composite.standing),
        scored_on=scored_on(card),
        # within a type of one, a rank says nothing
        type_rank=(
            f"{composite.type_rank} of {composite.type_of} {kind} partners"
            if composite.type_rank and composite.type_of > 1
            else ""
        ),
        not_ranked=not_ranked(card),
        counts=tuple(Count(status(s), composite.counts[s]) for s in STATUSES),
        summary=tuple(summary(card)),
    )


def scored_of(card: Scorecard) -> str:
    """How many of the scorecard's KPIs the composite rests on: "18 of 24 KPIs"."""
    shown = sum(card.composite.counts.values())
    return f"{card.composite.scored} of {plural(shown, 'KPI')}"


def scored_on(card: Scorecard) -> str:
    return f"scored on {scored_of(card)}"


def not_ranked(card: Scorecard) -> str:
    """Why a partner has no composite rank, in words its page, PDF and email all use."""
    if card.composite.rank is not None:
        return ""
    if not card.submitted:
        return f"no submission for {card.period}"
    judged = [r for r in card.results if r.status in ("met", "at_risk", "missed")]
    if judged and not any(r.kpi.weight for r in judged):
        return f"{scored_on(card)}, and they carry no weight in the composite"
    return (
        f"{scored_on(card)}, under half of their weight (the rest had no data or were suppressed)"
    )


def _score_change(card: Scorecard) -> str:
    change = card.composite.change_prev
    if change is None:
        return ""
    if not round(change, 1):
        return f"unchanged {_previous(card.period)}"
    moved = "up" if change > 0 else "down"
    return f"{moved} {num(abs(change), 1)} points {_previous(card.period)}"


def partner_view(card: Scorecard, narrative: Narrative | None, kpis: list[Kpi]) -> PartnerView:
    """The view of a scorecard as the model holds it (scoped to its owner or not); `kpis`
    names the KPIs its review may mention (a commitment that ended on one it no longer
    reports)."""
    # each KPI's series as chart points, once: the trend chart, its table and the sparkline
    points = {r.kpi.kpi_id: _trend_points(_series(card, r.kpi.kpi_id), r.spc) for r in card.results}
    rows = {r.kpi.kpi_id: _row(r, card, points[r.kpi.kpi_id]) for r in card.results}
    categories = tuple(
        Category(CATEGORY_LABELS[c], tuple(rows[r.kpi.kpi_id] for r in group))
        for c in CATEGORIES
        if (group := [r for r in card.results if r.kpi.category == c])
    )
    drawn = {r.kpi.kpi_id for r in card.results if _has_values(_series(card, r.kpi.kpi_id))}
    return PartnerView(
        standing=standing(card),
        narrative=narrative,
        commitments=commitments(card, own=True),
        off_target=commitments(card, own=False),
        categories=categories,
        trends=tuple(
            _trend(r, card, points[r.kpi.kpi_id]) for r in card.results if r.kpi.kpi_id in drawn
        ),
        empty=tuple(_empty(r, card) for r in card.results if r.kpi.kpi_id not in drawn),
        notes=tuple(_notes(card)),
        key=CHART_KEY,
        table_note=TABLE_NOTE,
        review=partner_review(card, kpis),
        json=_json(scorecard_json(card)),
        csv=scorecard_csv(card),
    )


# The order a commitments block lists statuses in: what needs attention first.
SEVERITY = {"missed": 0, "at_risk": 1, "met": 2, "suppressed": 3, "no_data": 4}


def commitments(card: Scorecard, own: bool) -> tuple[Commitment, ...]:
    """The partner's own commitments (`own`), or the KPIs it misses or is at risk on against
    the alliance target; missed, then at risk, then met, each in the KPI list's order."""
    if own:
        chosen = [r for r in card.results if r.target_source == "partner"]
    else:
        chosen = [
            r
            for r in card.results
            if r.target_source == "kpi" and r.status in ("missed", "at_risk")
        ]
    ranked = sorted(enumerate(chosen), key=lambda ir: (SEVERITY[ir[1].status], ir[0]))
    return tuple(_commitment(r) for _, r in ranked)


def _commitment(result: KpiResult) -> Commitment:
    unit = result.kpi.unit
    return Commitment(
        kpi_id=result.kpi.kpi_id,
        name=result.kpi.name,
        status=status(result.status),
        value=value(result.value, unit),
        target=value(result.target, unit),
        gap=_gap(result),
        window=_window(result.window),
    )


def _gap(result: KpiResult) -> str:
    """Value minus target in the KPI's unit, and which side of the target that is."""
    if result.gap is None:
        return "–"
    text = delta(result.gap, result.kpi.unit)
    if text.startswith("±0"):  # closer than the unit's last decimal
        return "on target" if result.status == "met" else "just short of the target"
    better = (result.gap > 0) == (result.kpi.direction == "higher")
    return f"{text}, {'better' if better else 'worse'}"


def _window(window: tuple[str | None, str | None] | None) -> str:
    """A commitment's window as written in targets.csv; an alliance target has none."""
    if window is None:
        return "alliance target"
    start, end = window
    if start and end:
        return f"{start} to {end}"
    if start:
        return f"{start} onwards"
    if end:
        return f"until {end}"
    return "open-ended"


def _has_values(series: list[SeriesPoint]) -> bool:
    return any(p.value is not None for p in series)


def _empty(result: KpiResult, card: Scorecard) -> NoChart:
    """Why a KPI has no chart: no period of its series has a value that may be shown."""
    kinds = {p.status for p in _series(card, result.kpi.kpi_id)}
    if kinds == {"suppressed"}:
        why = "suppressed in every period (too few to show)"
    elif kinds <= {"no_data"}:
        why = "no data in any period"
    else:
        why = "suppressed or no data in every period"
    return NoChart(result.kpi.kpi_id, f"{result.kpi.name}: nothing to chart, {why}.")


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def _row(result: KpiResult, card: Scorecard, points: list[charts.TrendPoint]) -> KpiRow:
    unit = result.kpi.unit
    peers = result.peers
    peer_text = f"{peers.rank} of {peers.n}" if peers.rank else "withheld" if peers.n else "–"
    return KpiRow(
        kpi_id=result.kpi.kpi_id,
        name=result.kpi.name,
        status=status(result.status),
        value=value(result.value, unit),
        value_note=value_note(result),
        target=value(result.target, unit),
        own_target=result.target_source == "partner",
        benchmark=value(result.kpi.benchmark, unit),
        period=result.period,
        change_prev=delta(result.change_prev, unit),
        change_prev_label=result.change_prev_label,
        change_yoy=delta(result.change_yoy, unit),
        change_yoy_label=result.change_yoy_label,
        peers=peer_text,
        type_peers=(
            f"{peers.type_rank} of {peers.type_n} {card.partner.partner_type.replace('_', ' ')} "
            "partners"
            if peers.type_rank
            else ""
        ),
        variation=variation(result),
        assurance=assurance(result),
        spc_note=spc_note(result),
        interval=_interval(result),
        within_noise=bool(result.within_noise),
        funnel=FUNNEL_WORDS[result.funnel] if result.funnel else "",
        spark=charts.sparkline(points),
        actions=tuple(action_line(a) for a in card.actions if a.kpi_id == result.kpi.kpi_id),
    )


def variation(result: KpiResult) -> Reading | None:
    """The variation icon of a series: H or L for the side its special cause is on (high is
    good news where higher is better)."""
    spc = result.spc
    if spc is None:
        return None
    if spc.variation == "common":
        return Reading("common", "variation-common", VARIATION_WORDS["common"])
    improving = spc.variation == "special_improving"
    high = improving == (result.kpi.direction == "higher")
    side = "high" if high else "low"
    kind = "improving" if improving else "concerning"
    return Reading(
        spc.variation, f"variation-{kind}-{side}", f"{VARIATION_WORDS[spc.variation]} ({side})"
    )


def assurance(result: KpiResult) -> Reading | None:
    spc = result.spc
    if spc is None or spc.assurance is None:
        return None
    return Reading(spc.assurance, f"assurance-{spc.assurance}", ASSURANCE_WORDS[spc.assurance])


def spc_note(result: KpiResult) -> str:
    """The reading's figures in words, or why there is none."""
    spc, unit = result.spc, result.kpi.unit
    if spc is None:
        return "no SPC reading: fewer than 13 points"
    limits = (
        f"limits {value(spc.lower, unit)} to {value(spc.upper, unit)}"
        if spc.upper is not None
        else "no limits yet (a new baseline of one point)"
    )
    return f"mean {value(spc.mean, unit)}, {limits} ({spc.points} points)"


def _interval(result: KpiResult) -> str:
    if result.ci_low is None or result.ci_high is None:
        return ""
    unit = result.kpi.unit
    return f"95% interval {value(result.ci_low, unit)} to {value(result.ci_high, unit)}"


def value_note(result: KpiResult) -> str:
    """What limits how a KPI's value can be read, in words, for beside it: a partial period,
    why it is suppressed (and, in a partner's own site, that the figure is shown to it alone),
    a footnote that came with the data."""
    notes = []
    if result.partial:
        notes.append(f"{result.parts} of {result.parts_of} {PART_WORDS[result.kpi.frequency]}")
    if result.suppression:
        why = SUPPRESSION_WORDS[result.suppression]
        notes.append(f"shown to you only: {why}" if result.value is not None else why)
    if result.footnote:
        notes.append(result.footnote)
    return "; ".join(notes)


def _trend_points(series: list[SeriesPoint], spc: Spc | None) -> list[charts.TrendPoint]:
    """A series as chart points; with an SPC reading, each period's baseline mean and limits
    and its special cause, if any."""
    if spc is None:
        return [
            charts.TrendPoint(p.period, p.value, p.target, p.peer_q1, p.peer_median, p.peer_q3)
            for p in series
        ]
    kinds = {s.period: "improving" if s.improving else "concerning" for s in spc.signals}
    points = []
    for p in series:
        line = _baseline(spc, p.period)
        points.append(
            charts.TrendPoint(
                p.period,
                p.value,
                p.target,
                p.peer_q1,
                p.peer_median,
                p.peer_q3,
                *((line.mean, line.lower, line.upper) if line else (None, None, None)),
                kinds.get(p.period),
            )
        )
    return points


def _baseline(spc: Spc, period: str) -> Baseline | None:
    """The baseline segment a period falls in (periods of one series sort as text)."""
    for line in reversed(spc.baselines):
        if line.first <= period:
            return line if period <= spc.baselines[-1].last else None
    return None


def _trend(result: KpiResult, card: Scorecard, points: list[charts.TrendPoint]) -> ChartView:
    kpi = result.kpi
    series = _series(card, kpi.kpi_id)
    alt = (
        f"{kpi.name}: {card.partner.name}'s value per period against its target and the peer "
        "middle half."
    )
    rules: dict[str, list[str]] = {}
    if result.spc is not None:
        alt += f" {_signal_sentence(result, result.spc)}"
        for signal in result.spc.signals:
            rules.setdefault(signal.period, []).append(signal.rule.replace("_", " "))
    return chart(
        f"trend-{kpi.kpi_id}",
        charts.trend_chart(kpi.name, kpi.unit, points, kpi.benchmark),
        alt,
        f"{kpi.name} ({result.period}: {value(result.value, kpi.unit)}, "
        f"target {value(result.target, kpi.unit)})",
        trend_table(f"{kpi.name} per period", kpi.unit, series, points, rules),
    )


def _signal_sentence(result: KpiResult, spc: Spc) -> str:
    """What the SPC reading says, for a chart's text alternative: the variation of the latest
    point, the mean and limits, and each special cause with its periods."""
    reading = variation(result)
    words = f"Variation: {reading.word if reading else ''}; {spc_note(result)}."
    periods: dict[str, list[str]] = {}
    for signal in spc.signals:
        periods.setdefault(signal.rule, []).append(signal.period)
    for rule, found in periods.items():
        span = found[0] if len(found) == 1 else f"{found[0]} to {found[-1]}"
        words += f" Special cause, {RULE_WORDS[rule]}: {span}."
    return words


@lru_cache(maxsize=1 << 14)
def _shared_cells(
    unit: str, target: float, median: float | None, q1: float | None, q3: float | None
) -> tuple[str, str, str]:
    """A period's target, peer median and middle half, formatted. Cached: every partner with
    the alliance target shows the same ones, so a build formats each about once."""
    band = f"{value(q1, unit)} to {value(q3, unit)}" if q1 is not None else "withheld"
    return value(target, unit), value(median, unit), band


def trend_table(
    caption: str,
    unit: str,
    series: list[SeriesPoint],
    points: list[charts.TrendPoint] | None = None,
    rules: dict[str, list[str]] | None = None,
) -> Table:
    """A trend chart's data: one row per period; with SPC `points`, the mean, the process
    limits and the special cause of each period too (its kind and `rules`)."""
    rows = []
    spc = points is not None and any(p.mean is not None for p in points)
    for i, p in enumerate(series):
        target, median, band = _shared_cells(unit, p.target, p.peer_median, p.peer_q1, p.peer_q3)
        row = (p.period, value(p.value, unit), target, STATUS_WORDS[p.status], median, band)
        if spc and points is not None:
            row += _spc_cells(points[i], unit, (rules or {}).get(p.period, []))
        rows.append(row)
    header = ("Period", "Value", "Target", "Status", "Peer median", "Peer middle half")
    if spc:
        header += ("Mean", "Process limits", "Special cause")
    return Table(caption, header, tuple(rows))


def _spc_cells(point: charts.TrendPoint, unit: str, rules: list[str]) -> tuple[str, str, str]:
    signal = f"{point.signal}: {', '.join(rules)}" if point.signal else "–"
    return (*_baseline_cells(unit, point.mean, point.lower, point.upper), signal)


@lru_cache(maxsize=1 << 12)
def _baseline_cells(
    unit: str, mean: float | None, lower: float | None, upper: float | None
) -> tuple[str, str]:
    """A baseline's mean and limits, formatted: the same for every period of the baseline,
    so formatted once per baseline rather than once per row (2.6 million rows at 1,000
    partners)."""
    limits = f"{value(lower, unit)} to {value(upper, unit)}" if upper is not None else "–"
    return value(mean, unit), limits


def _rank_change(card: Scorecard) -> str:
    now, before = card.composite.rank, card.composite.rank_prev
    if now is None or before is None:
        return ""
    if now == before:
        return "unchanged since the previous period"
    moved = before - now
    places = "place" if abs(moved) == 1 else "places"
    return f"{'up' if moved > 0 else 'down'} {abs(moved)} {places} since the previous period"


def _previous(period: str) -> str:
    """How a change is described: on the previous month, quarter or year."""
    return f"on the previous {periods.kind(period)}"


def plural(count: int, word: str) -> str:
    """A count and its noun: "1 row", "1,234 rows"."""
    return f"{num(count)} {word}" if count == 1 else f"{num(count)} {word}s"


def summary(card: Scorecard) -> list[str]:
    """The generated summary of a partner's scorecard, as plain sentences (deterministic)."""
    name, period, composite = card.partner.name, card.period, card.composite
    sentences = []
    if composite.score is None:
        sentences.append(
            f"{name} has no composite score for {period}: too few KPIs could be scored "
            f"({scored_on(card)})."
        )
    else:
        sentence = (
            f"In {period}, {name} scored {num(composite.score, 1)} out of 100, "
            f"ranked {composite.rank} of {composite.of}"
        )
        if composite.change_prev is not None:
            sentence += f", {_score_change(card)}"
            if composite.rank_prev is not None and composite.rank_prev != composite.rank:
                sentence += f" (rank {composite.rank_prev} before)"
        sentences.append(sentence + ".")
    counts = composite.counts
    suppressed = counts["suppressed"]
    if composite.scored:
        sentence = (
            f"It met {counts['met']} of {plural(composite.scored, 'scored KPI')}, "
            f"was at risk on {counts['at_risk']} and missed {counts['missed']}"
        )
        if suppressed:
            sentence += (
                f"; {suppressed} more {'was' if suppressed == 1 else 'were'} suppressed, "
                "the numbers too small to show"
            )
        sentences.append(sentence + ".")
    elif suppressed:
        sentences.append(f"Suppressed, the numbers too small to show: {plural(suppressed, 'KPI')}.")
    results = {r.kpi.kpi_id: r for r in card.results}
    for kind, kpi_id in (("improvement", card.improvement), ("decline", card.decline)):
        if kpi_id is not None:
            r = results[kpi_id]
            sentences.append(
                f"Biggest {kind}: {r.kpi.name}, {value(r.value, r.kpi.unit)} "
                f"({delta(r.change_prev, r.kpi.unit)} {_previous(r.period)})."
            )
    missing = [r.kpi.name for r in card.results if r.status == "no_data"]
    if not card.submitted:
        sentences.append(f"No data was submitted for {period}.")
    elif missing:
        sentences.append("No data for: " + ", ".join(missing) + ".")
    return sentences


def _notes(card: Scorecard) -> list[str]:
    """Plain-language notes on anything that limits how a figure can be read."""
    notes = []
    committed = [r.kpi.name for r in card.results if r.target_source == "partner"]
    if committed:
        notes.append("Targets from its own commitments: " + ", ".join(committed) + ".")
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
            f"Peer figures withheld (fewer than {MIN_PEERS} partners with a value): "
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


def _series(card: Scorecard, kpi_id: str) -> list[SeriesPoint]:
    """A KPI's series on the card, which must have been read for its view (Cards.fill)."""
    if card.history is None:
        raise ValueError(f"the series of {card.partner.partner_id} were not read")
    return card.history.get(kpi_id, [])


def narrative_variables(card: Scorecard) -> dict[str, Any]:
    """What a partner narrative may quote (documented in the README), already formatted."""
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
