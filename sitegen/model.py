"""The scorecard as plain data: what every renderer (site, PDF, mail) reads.

Read from the tables `kpis.compute` wrote, in a handful of bulk queries, so that renderers never
run SQL and every figure they show was decided in SQL.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, NamedTuple

import duckdb

from sitegen.load import LoadSummary

STATUSES = ("met", "at_risk", "missed", "no_data", "suppressed")
STANDINGS = ("on_track", "at_risk", "off_track", "not_scored")  # a partner's, from its composite


@dataclass(frozen=True, slots=True)
class Partner:
    partner_id: str
    name: str
    partner_type: str
    region: str
    joined: date
    contact_emails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Kpi:
    kpi_id: str
    name: str
    category: str
    unit: str
    direction: str
    target: float
    benchmark: float | None
    benchmark_source: str
    weight: float
    description: str
    aggregation: str
    frequency: str
    counts: str  # binomial, poisson or none: which intervals and funnels apply


@dataclass(frozen=True, slots=True)
class Peers:
    """A partner's place among peers; figures are None when the group is withheld (n < 5)."""

    n: int
    median: float | None
    q1: float | None
    q3: float | None
    percentile: float | None
    rank: int | None
    type_n: int  # partners of its own partner_type reporting the KPI
    type_rank: int | None  # its rank among them; None when fewer than 5 (withheld)

    @property
    def withheld(self) -> bool:
        return self.median is None


@dataclass(frozen=True, slots=True)
class Signal:
    """A point of a special-cause pattern (kpi_spc.sql): its period, the rule, and whether
    the pattern is good news in the KPI's direction (a point in both reads as improving)."""

    period: str
    rule: str  # outside, shift, trend, two_of_three
    improving: bool


@dataclass(frozen=True, slots=True)
class Baseline:
    """One baseline segment of a series: its periods, mean and process limits."""

    first: str
    last: str
    mean: float
    lower: float | None  # None for a segment of one point (no moving range)
    upper: float | None


@dataclass(frozen=True, slots=True)
class Spc:
    """The Making Data Count reading of a series with 13 points or more, at its latest point;
    mean and limits are the latest baseline's."""

    points: int
    mean: float
    lower: float | None
    upper: float | None
    variation: str  # common, special_improving, special_concerning
    assurance: str | None  # pass, fail, hit_or_miss; None without a target
    signals: tuple[Signal, ...]
    baselines: tuple[Baseline, ...]


@dataclass(frozen=True, slots=True)
class FunnelLine:
    """The funnel's limits at one denominator (kpi_intervals.sql)."""

    denominator: float
    low95: float
    high95: float
    low998: float
    high998: float


@dataclass(frozen=True, slots=True)
class Funnel:
    """A KPI's funnel plot for the as-of period: the pooled value and its limit curves."""

    centre: float
    lines: tuple[FunnelLine, ...]


@dataclass(frozen=True, slots=True)
class KpiResult:
    """One KPI on one partner's scorecard, at the KPI period shown for the as-of period."""

    kpi: Kpi
    period: str
    value: float | None
    numerator: float | None
    denominator: float | None
    target: float
    target_source: str
    status: str
    change_prev: float | None
    change_prev_label: str | None
    change_yoy: float | None
    change_yoy_label: str | None
    peers: Peers  # among all partners reporting the KPI
    suppression: str | None  # why only its owner may see it: small_cell, min_denominator, source
    footnote: str | None  # a submission's own note, shown where the value would be
    parts: int  # sub-periods it is rolled up from (two months of a quarter)
    parts_of: int  # sub-periods the KPI period has
    ci_low: float | None = None  # the value's 95 % interval (kpi_intervals.sql)
    ci_high: float | None = None
    within_noise: bool | None = None  # the interval holds the target
    funnel: str | None = None  # within, better_95, better_998, worse_95, worse_998
    spc: Spc | None = None
    own: tuple[float | None, float | None, float | None] | None = None  # owner's figures
    # a partner commitment's window, valid_from and valid_to as written (None: open-ended)
    window: tuple[str | None, str | None] | None = None
    gap: float | None = None  # value minus target, for a judged value

    @property
    def partial(self) -> bool:
        """Rolled up from fewer sub-periods than the period has (labelled "2 of 3 months")."""
        return 0 < self.parts < self.parts_of


class SeriesPoint(NamedTuple):
    """One period of a partner's KPI history, with the peer band for that period.

    A named tuple rather than a frozen dataclass: 1,000 partners have 864,000 of these, and a
    tuple is made about ten times faster (2.6 s of the model stage before).
    """

    period: str
    value: float | None
    target: float
    status: str
    peer_q1: float | None
    peer_median: float | None
    peer_q3: float | None


@dataclass(frozen=True, slots=True)
class AlliancePoint:
    """The alliance-wide figure of a KPI for one period, pooled from every accepted row;
    value, numerator and denominator are None when it is withheld, and `withheld` says why
    (fewer_than_5, one_suppressed, small_counts; see kpi_alliance.sql)."""

    period: str
    value: float | None
    numerator: float | None
    denominator: float | None
    target: float
    status: str
    partners: int
    suppressed_partners: int
    withheld: str | None
    peer_q1: float | None
    peer_median: float | None
    peer_q3: float | None


@dataclass(frozen=True, slots=True)
class Composite:
    score: float | None
    rank: int | None
    of: int
    scored: int
    counts: dict[str, int]
    change_prev: float | None
    rank_prev: int | None
    type_rank: int | None  # rank among partners of the same partner_type
    type_of: int
    standing: str  # on_track, at_risk, off_track or not_scored (STANDINGS)


@dataclass(frozen=True, slots=True)
class Action:
    """A row of actions.csv on the scorecard: an action with its owner and due date, or a
    note (commentary), or both; `overdue` when still open after its due date."""

    kpi_id: str
    period: str
    owner: str | None
    action: str | None
    due: date | None
    status: str | None  # open or done; None for a note
    note: str | None
    overdue: bool


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A KPI whose status differs from the one at the last review (was None: not reported
    then); direction better, worse or changed (to or from no data or suppressed)."""

    kpi_id: str
    was_period: str | None
    was: str | None
    now_period: str
    now: str
    direction: str


@dataclass(frozen=True, slots=True)
class NewSignal:
    """Special-cause points after the last review in one direction: the first such period
    and the rules that flagged them."""

    kpi_id: str
    improving: bool
    first: str
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CommitmentChange:
    """An own commitment (targets.csv) that started or ended in the review cycle."""

    kpi_id: str
    change: str  # started or ended
    target: float
    valid_from: str | None
    valid_to: str | None


@dataclass(frozen=True, slots=True)
class Restatement:
    """A figure an archived period (`as_of`) published that this build finds different:
    was, now (None: no longer there) and the input rows that changed it."""

    as_of: str
    partner_id: str
    kpi_id: str
    period: str
    was: float | None
    now: float | None
    # "data/metrics/2026-09.csv:14"; empty: a rule changed; None: not told (a partner's own site)
    changed_by: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Moves:
    """The composite, rank and standing at the last review and now."""

    was_score: float | None
    now_score: float | None
    was_rank: int | None
    was_of: int | None
    now_rank: int | None
    now_of: int
    was_standing: str | None
    now_standing: str
    score_move: str | None  # better or worse (kpi_review.sql); None: unchanged, or news
    rank_move: str | None
    standing_move: str | None


@dataclass(frozen=True, slots=True)
class PartnerReview:
    """What changed for one partner since the last review (`since`), decided in
    kpi_review.sql; `discuss` when any change is worth a page in the review's board packet."""

    since: str
    statuses: tuple[StatusChange, ...]
    signals: tuple[NewSignal, ...]
    moves: Moves
    commitments: tuple[CommitmentChange, ...]
    overdue: tuple[Action, ...]
    restatements: tuple[Restatement, ...]
    discuss: bool


@dataclass(frozen=True, slots=True)
class Scorecard:
    partner: Partner
    period: str
    submitted: bool
    composite: Composite
    # its KPI results, and KPI → its series up to the as-of period: None until read for the
    # batch of partners whose pages are being made (Cards.fill), since every partner's at
    # once is what grows with the alliance
    results: list[KpiResult] | None
    history: dict[str, list[SeriesPoint]] | None
    improvement: str | None = None  # the KPI that improved most on the previous period
    decline: str | None = None  # and the one that declined most (kpi_as_of.sql)
    actions: tuple[Action, ...] = ()  # its actions and notes on this scorecard, by KPI
    review: PartnerReview | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    file: str
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class DataQuality:
    """What the load accepted and rejected, and who submitted for which period."""

    load: LoadSummary
    rejections: list[Rejection]
    periods: list[str]
    submitted: dict[str, list[bool]]


@dataclass(frozen=True, slots=True)
class Archived:
    """A period whose published site the archive holds (periods/<period>/)."""

    period: str
    generated_at: str


@dataclass(frozen=True, slots=True)
class KpiMoves:
    """Across partners, for one KPI: statuses better and worse since the last review, and
    series with new special causes of concern and of improvement."""

    better: int
    worse: int
    concerning: int
    improving: int


@dataclass(frozen=True, slots=True)
class Review:
    """The alliance's review: since when, per KPI, the archive and every restatement."""

    since: str
    every: str
    kpis: dict[str, KpiMoves]
    archive: tuple[Archived, ...]
    restatements: tuple[Restatement, ...]
    anew: bool  # this build's site becomes its period's archive (kpi_review.sql)


@dataclass(frozen=True, slots=True)
class Model:
    period: str
    grain: str
    partners: list[Partner]
    kpis: list[Kpi]
    scorecards: dict[str, Scorecard]
    alliance: dict[str, list[AlliancePoint]]
    alliance_as_of: dict[str, AlliancePoint]
    quality: DataQuality
    movers: dict[str, list[str]]  # "up" and "down": partner ids, biggest move first
    status_counts: dict[str, dict[str, int]]  # KPI → status → partners, as of the period
    spc_counts: dict[str, dict[str, int]]  # KPI → variation or assurance → partners
    funnels: dict[str, Funnel]  # KPI → its funnel plot's limits
    review: Review | None = None
    scope: str | None = None  # the partner whose eyes this model is for; None: the alliance's


def scoped(
    model: Model, card: Scorecard, rows: dict[str, int], funnels: dict[str, Funnel]
) -> Model:
    """The model as one partner may see it: its own scorecard with its own figures, small ones
    included (it owns them), and of everyone else only the alliance-wide and peer figures,
    which SQL has already withheld where they could reveal a partner. No partner list, file
    names, rejected rows, warnings or submissions of others: of the load, only `rows`, the
    counts of its own rows; the funnels drawn around its own denominators (`funnels`, from
    read_funnels). Read the model with own_site=True for it (load_model), and `card`, the
    partner's scorecard, with its results (Cards.fill, own_site=True)."""
    assert card.results is not None, "a partner's own model is made from its results"
    partner_id = card.partner.partner_id
    card = told_to_owner(card)
    card = replace(card, results=[owned(result) for result in card.results])
    load = replace(
        model.quality.load,
        partners=1,
        files=[],
        read=rows["read"],
        accepted=rows["accepted"],
        rejected=rows["rejected"],
        normalised=0,
        collapsed=0,
        rules=[],
        warnings=[],
        actions=len(card.actions),
        action_rejects=[],
    )
    quality = DataQuality(
        load,
        [],
        model.quality.periods,
        {partner_id: model.quality.submitted.get(partner_id, [])},
    )
    return replace(
        model,
        partners=[card.partner],
        scorecards={partner_id: card},
        quality=quality,
        spc_counts={},
        funnels=funnels,
        review=_own_review(model.review, partner_id),
        scope=partner_id,
    )


def _own_review(review: Review | None, partner_id: str) -> Review | None:
    """The alliance's review as one partner may see it: the archive, and its own
    restatements only (without the alliance's file names); no counts across partners."""
    if review is None:
        return None
    own = tuple(_untold(r) for r in review.restatements if r.partner_id == partner_id)
    return replace(review, kpis={}, restatements=own)


def told_to_owner(card: Scorecard) -> Scorecard:
    """A scorecard as its partner is told it, in its own site, PDF and email: a restated
    figure without the file and line that changed it (the alliance's files, which may hold
    others' rows, are not the partner's to see)."""
    if card.review is None or not card.review.restatements:
        return card
    restated = tuple(_untold(r) for r in card.review.restatements)
    return replace(card, review=replace(card.review, restatements=restated))


def _untold(restatement: Restatement) -> Restatement:
    return replace(restatement, changed_by=None)


def owned(result: KpiResult) -> KpiResult:
    """A result as its owner sees it: its own value and counts, even those suppressed for
    everyone else (the status stays suppressed: too small to judge or to publish)."""
    if result.own is None:
        return result
    value, numerator, denominator = result.own
    return replace(result, value=value, numerator=numerator, denominator=denominator)


def _partners(con: duckdb.DuckDBPyConnection) -> list[Partner]:
    rows = con.execute(
        "SELECT partner_id::VARCHAR, name, partner_type, region, joined, contact_emails "
        "FROM partners ORDER BY name, partner_id"
    ).fetchall()
    return [Partner(*row[:5], tuple(row[5])) for row in rows]


def _kpis(con: duckdb.DuckDBPyConnection) -> list[Kpi]:
    rows = con.execute(
        "SELECT kpi_id::VARCHAR, name, category, unit, direction, target, benchmark, "
        "coalesce(benchmark_source, ''), weight, coalesce(description, ''), aggregation, "
        "frequency, counts FROM kpis ORDER BY line"
    ).fetchall()
    return [Kpi(*row) for row in rows]


def _sharer() -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function that gives each row back with its strings shared: DuckDB hands out a new
    string for every row, and the same period, status and label repeated for every partner
    were two fifths of the model's memory (20 of 58 MiB at 1,000 partners)."""
    pool: dict[str, str] = {}

    def share(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(pool.setdefault(v, v) if isinstance(v, str) else v for v in row)

    return share


def _actions(con: duckdb.DuckDBPyConnection) -> dict[str, list[Action]]:
    """Each partner's actions and notes on the scorecard, by KPI as listed, oldest first."""
    actions: dict[str, list[Action]] = defaultdict(list)
    for partner_id, *row in con.execute(
        """
        SELECT a.partner_id::VARCHAR, a.kpi_id::VARCHAR, a.period, a.owner, a.action, a.due,
               a.status, a.note, a.overdue
        FROM scorecard_actions a JOIN kpis k USING (kpi_id)
        ORDER BY a.partner_id, k.line, a.period_start, a.line
        """
    ).fetchall():
        actions[partner_id].append(Action(*row))
    return actions


def _restatements(con: duckdb.DuckDBPyConnection) -> list[Restatement]:
    rows = con.execute(
        """
        SELECT r.as_of, r.partner_id, r.kpi_id, r.period, r.was, r.now, r.changed_by
        FROM restatements r LEFT JOIN kpis k ON k.kpi_id::VARCHAR = r.kpi_id
        ORDER BY r.partner_id, k.line, r.period
        """
    ).fetchall()
    return [Restatement(*row[:6], None if row[6] is None else tuple(row[6])) for row in rows]


def _reviews(
    con: duckdb.DuckDBPyConnection,
    actions: dict[str, list[Action]],
    restatements: list[Restatement],
) -> dict[str, PartnerReview]:
    """Each partner's review (kpi_review.sql), its parts in the order of kpis.csv."""
    since = con.execute("SELECT since FROM review").fetchall()[0][0]
    statuses: dict[str, list[StatusChange]] = defaultdict(list)
    for partner_id, *row in con.execute(
        """
        SELECT s.partner_id::VARCHAR, s.kpi_id::VARCHAR, s.was_period, s.was, s.now_period,
               s.now, s.direction
        FROM review_status s JOIN kpis k USING (kpi_id) ORDER BY s.partner_id, k.line
        """
    ).fetchall():
        statuses[partner_id].append(StatusChange(*row))
    signals: dict[str, list[NewSignal]] = defaultdict(list)
    for partner_id, kpi_id, improving, first, rules in con.execute(
        """
        SELECT g.partner_id::VARCHAR, g.kpi_id::VARCHAR, g.improving, g.first, g.rules
        FROM review_signals g JOIN kpis k USING (kpi_id)
        ORDER BY g.partner_id, k.line, g.improving
        """
    ).fetchall():
        signals[partner_id].append(NewSignal(kpi_id, improving, first, tuple(rules)))
    commitments: dict[str, list[CommitmentChange]] = defaultdict(list)
    for partner_id, *row in con.execute(
        """
        SELECT c.partner_id::VARCHAR, c.kpi_id::VARCHAR, c.change, c.target,
               nullif(c.valid_from, ''), nullif(c.valid_to, '')
        FROM review_commitments c JOIN kpis k USING (kpi_id)
        ORDER BY c.partner_id, k.line, c.change DESC
        """
    ).fetchall():
        commitments[partner_id].append(CommitmentChange(*row))
    restated: dict[str, list[Restatement]] = defaultdict(list)
    for restatement in restatements:
        restated[restatement.partner_id].append(restatement)
    reviews = {}
    for partner_id, discuss, *moves in con.execute(
        """
        SELECT p.partner_id::VARCHAR, p.discuss, c.was_score, c.now_score, c.was_rank,
               c.was_of, c.now_rank, c.now_of, c.was_standing, c.now_standing, c.score_move,
               c.rank_move, c.standing_move
        FROM review_partners p JOIN review_composite c USING (partner_id)
        """
    ).fetchall():
        reviews[partner_id] = PartnerReview(
            since,
            tuple(statuses[partner_id]),
            tuple(signals[partner_id]),
            Moves(*moves),
            tuple(commitments[partner_id]),
            tuple(a for a in actions[partner_id] if a.overdue),
            tuple(restated[partner_id]),
            discuss,
        )
    return reviews


def _review(con: duckdb.DuckDBPyConnection, restatements: list[Restatement]) -> Review:
    since, every = con.execute("SELECT since, getvariable('review_every') FROM review").fetchall()[
        0
    ]
    kpis = {
        kpi_id: KpiMoves(*row)
        for kpi_id, *row in con.execute(
            "SELECT kpi_id::VARCHAR, better, worse, concerning, improving FROM review_kpis"
        ).fetchall()
    }
    archive = tuple(
        Archived(*row)
        for row in con.execute(
            "SELECT period, generated_at FROM archived_periods ORDER BY period_start"
        ).fetchall()
    )
    anew = con.execute("SELECT anew FROM archive_plan").fetchall()[0][0]
    return Review(since, every, kpis, archive, tuple(restatements), anew)


def read_funnels(con: duckdb.DuckDBPyConnection, scope: str | None) -> dict[str, Funnel]:
    """Each KPI's funnel limits: the alliance's (scope None), or those drawn around one
    partner's own denominator for its own site."""
    condition = "scope IS NULL" if scope is None else "scope = $scope"
    lines: dict[str, list[FunnelLine]] = defaultdict(list)
    centres: dict[str, float] = {}
    for kpi_id, centre, *line in con.execute(
        f"""
        SELECT kpi_id::VARCHAR, centre, d, low95, high95, low998, high998
        FROM funnel_limits WHERE {condition} ORDER BY kpi_id, d
        """,
        {} if scope is None else {"scope": scope},
    ).fetchall():
        centres[kpi_id] = centre
        lines[kpi_id].append(FunnelLine(*line))
    return {kpi_id: Funnel(centres[kpi_id], tuple(rows)) for kpi_id, rows in lines.items()}


def _spc_counts(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
    """KPI → each variation and assurance reading → partners with it, as of the period."""
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for kpi_id, reading, partners in con.execute(
        "SELECT kpi_id::VARCHAR, reading, partners FROM spc_counts"
    ).fetchall():
        counts[kpi_id][reading] = partners
    return dict(counts)


def _composites(con: duckdb.DuckDBPyConnection) -> dict[str, Composite]:
    rows = con.execute(
        """
        SELECT c.partner_id::VARCHAR, c.score, c.rank, c."of", c.scored,
               c.met, c.at_risk, c.missed, c.no_data, c.suppressed, c.change_prev, c.rank_prev,
               c.type_rank, c.type_of, c.standing
        FROM composite c JOIN as_of USING (period)
        """
    ).fetchall()
    return {
        row[0]: Composite(
            score=row[1],
            rank=row[2],
            of=row[3],
            scored=row[4],
            counts=dict(zip(STATUSES, row[5:10], strict=True)),
            change_prev=row[10],
            rank_prev=row[11],
            type_rank=row[12],
            type_of=row[13],
            standing=row[14],
        )
        for row in rows
    }


NO_BAND = (None, None, None)


def _quartiles(own_site: bool) -> tuple[str, str]:
    """The peer_stats columns of the quartiles: a partner's own site needs more partners."""
    return ("own_site_q1", "own_site_q3") if own_site else ("q1", "q3")


def _bands(
    con: duckdb.DuckDBPyConnection, own_site: bool
) -> dict[tuple[str, str], tuple[float | None, ...]]:
    """The all-partner peer band (q1, median, q3) of each KPI and period, one tuple each."""
    q1, q3 = _quartiles(own_site)
    rows = con.execute(
        f"SELECT kpi_id::VARCHAR, period, {q1}, median, {q3} FROM peer_stats WHERE scope = 'all'"
    ).fetchall()
    return {(row[0], row[1]): row[2:] for row in rows}


# Where each partner stands in the partner list (by name): the tables the model reads a batch
# of partners from are in this order, so that neighbours are one range of each table.
POSITIONS = (
    "SELECT partner_id, row_number() OVER (ORDER BY name, partner_id) AS position FROM partners"
)


class Cards:
    """What the model leaves out of each scorecard, read from DuckDB for a batch of partners at
    a time: its KPI results, with their SPC readings, and its series up to the as-of period.
    Every partner's at once is what grows with the alliance: at 15,000 partners x 20 KPIs the
    results alone were about 450 MB of Python objects, and the series 10.8 million points.

    The rows are put in tables model_* in the order partners are listed, so that a batch of
    neighbours (a batch of pages) is one range of each table, read without scanning the rest;
    one KPI's results (its page) are read on their own. Each series point holds only its own
    value: its period, status, target and peer band are objects shared with every other point."""

    def __init__(self, con: duckdb.DuckDBPyConnection, kpis: list[Kpi], own_site: bool) -> None:
        self._con = con
        self._kpis = {k.kpi_id: k for k in kpis}
        self._own_site = own_site
        self._bands = _bands(con, own_site)
        self._value = "own_value" if own_site else "value"  # its owner sees its own small ones
        suffix = "_own" if own_site else ""
        self._history, self._results = f"model_history{suffix}", f"model_results{suffix}"
        con.execute(f"CREATE OR REPLACE TABLE model_positions AS {POSITIONS}")
        con.execute(
            f"""
            CREATE OR REPLACE TABLE {self._history} AS
            SELECT o.position, s.partner_id::VARCHAR AS partner_id, s.kpi_id::VARCHAR AS kpi_id,
                   s.period, s.period_start, s.value, s.own_value, s.target, s.status
            FROM scorecard s
            JOIN model_positions o USING (partner_id)
            WHERE s.period_end <= (SELECT period_end FROM as_of)
            ORDER BY o.position, s.kpi_id, s.period_start
            """
        )
        con.execute(f"CREATE OR REPLACE TABLE {self._results} AS {_results_query(own_site)}")
        _spc_tables(con)
        self._positions = dict(
            con.execute("SELECT partner_id::VARCHAR, position FROM model_positions").fetchall()
        )
        self._shared: dict[Any, Any] = {}  # each distinct period, status, target: one object
        self._share = _sharer()

    def fill(self, cards: Sequence[Scorecard], series: bool = True) -> list[Scorecard]:
        """The cards with their results (those not read yet) and, with `series`, their series:
        one query a table over the range of partners they span."""
        if not cards:
            return []
        wanted = [self._positions[c.partner.partner_id] for c in cards]
        unread = [p for c, p in zip(cards, wanted, strict=True) if c.results is None]
        results = (
            self._read_results(
                "position BETWEEN ? AND ? AND list_contains(?, position)",
                [min(unread), max(unread), unread],
            )
            if unread
            else {}
        )
        history = self._read_history(wanted) if series else {}
        filled = []
        for card in cards:
            pid = card.partner.partner_id
            if card.results is None:
                card = replace(card, results=results.get(pid, []))
            if series:
                card = replace(card, history=history.get(pid, {}))
            filled.append(card)
        return filled

    def of_kpi(self, kpi_id: str) -> list[tuple[str, KpiResult]]:
        """Every partner's result for one KPI (its page), in the order partners are listed."""
        found = self._read_results("kpi_id = ?", [kpi_id])
        return [(pid, result) for pid, results in found.items() for result in results]

    def _read_results(self, where: str, params: list[Any]) -> dict[str, list[KpiResult]]:
        """Results, by partner in list order, of the rows `where` picks (also of the SPC
        tables, which have the same columns to pick by)."""
        readings = _spc(self._con, where, params)
        rows = self._con.execute(
            f"SELECT * EXCLUDE (position, line) FROM {self._results} WHERE {where} "
            "ORDER BY position, line",
            params,
        ).fetchall()
        results: dict[str, list[KpiResult]] = defaultdict(list)
        own_site, kpis = self._own_site, self._kpis
        for row in map(self._share, rows):
            results[row[0]].append(
                KpiResult(
                    kpis[row[1]],
                    *row[2:13],
                    Peers(*row[13:21]),
                    *row[21:29],
                    spc=readings.get((row[0], row[1])),
                    own=tuple(row[29:32]) if own_site else None,
                    window=(row[32], row[33]) if row[7] == "partner" else None,
                    gap=row[34],
                )
            )
        return results

    def _read_history(self, wanted: list[int]) -> dict[str, dict[str, list[SeriesPoint]]]:
        rows = self._con.execute(
            f"""
            SELECT partner_id, kpi_id, period, {self._value}, target, status
            FROM {self._history}
            WHERE position BETWEEN ? AND ? AND list_contains(?, position)
            ORDER BY position, kpi_id, period_start
            """,
            [min(wanted), max(wanted), wanted],
        ).fetchall()
        history: dict[str, dict[str, list[SeriesPoint]]] = defaultdict(dict)
        shared, bands = self._shared, self._bands
        for partner_id, kpi_id, period, value, target, status in rows:
            series = history[partner_id].setdefault(kpi_id, [])
            period = shared.setdefault(period, period)
            series.append(
                SeriesPoint(
                    period,
                    value,
                    shared.setdefault(target, target),
                    shared.setdefault(status, status),
                    *bands.get((kpi_id, period), NO_BAND),
                )
            )
        return history


def _results_query(own_site: bool) -> str:
    """Each partner's KPI results as of the period, in the order partners are listed and
    KPIs in kpis.csv; with `own_site`, the peer quartiles a partner's own site may show and
    its own figures (kpi_peers.sql)."""
    q1, q3 = ("peer_own_site_q1", "peer_own_site_q3") if own_site else ("peer_q1", "peer_q3")
    own = "s." if own_site else "NULL AS "
    return f"""
        SELECT o.position, k.line,
               s.partner_id::VARCHAR AS partner_id, s.kpi_id::VARCHAR AS kpi_id, s.period,
               s.value, s.numerator, s.denominator, s.target, s.target_source, s.status,
               s.change_prev, s.change_prev_label, s.change_yoy, s.change_yoy_label,
               s.peer_n, s.peer_median, s.{q1}, s.{q3}, s.peer_percentile, s.peer_rank,
               s.type_n, s.type_rank,
               s.suppression, s.footnote, s.parts, s.parts_of,
               i.ci_low, i.ci_high, i.within_noise, f.position AS funnel,
               {own}own_value, {own}own_numerator, {own}own_denominator,
               nullif(t.valid_from, '') AS valid_from, nullif(t.valid_to, '') AS valid_to,
               -- the gap to the target, of a judged value only (value minus target)
               CASE WHEN s.status IN ('met', 'at_risk', 'missed') THEN s.value - s.target END
                   AS gap
        FROM scorecard_as_of s
        JOIN kpis k USING (kpi_id)
        JOIN model_positions o USING (partner_id)
        LEFT JOIN intervals i USING (partner_id, kpi_id)
        LEFT JOIN funnel f USING (partner_id, kpi_id)
        -- the window of the partner's own commitment the target comes from (kpi_scorecard.sql)
        LEFT JOIN targets t
            ON s.target_source = 'partner' AND t.partner_id = s.partner_id
           AND t.kpi_id = s.kpi_id AND t.valid_start <= s.period_end
           AND s.period_end <= t.valid_end
        ORDER BY o.position, k.line
        """


def _spc_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Every series' SPC reading, its signals and its baseline segments, in tables in the
    order partners are listed (as the model's results are), to be read a batch at a time."""
    con.execute(
        """
        CREATE OR REPLACE TABLE model_spc AS
        SELECT o.position, s.partner_id::VARCHAR AS partner_id, s.kpi_id::VARCHAR AS kpi_id,
               s.points, s.mean, s.lower, s.upper, s.variation, s.assurance
        FROM spc s JOIN model_positions o USING (partner_id)
        ORDER BY o.position, s.kpi_id
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE model_signals AS
        SELECT o.position, p.partner_id::VARCHAR AS partner_id, p.kpi_id::VARCHAR AS kpi_id,
               p.period, p.period_start, p.rule, p.improving
        FROM (
            SELECT partner_id, kpi_id, period, period_start, rule, improving
            FROM spc_points
            UNPIVOT (flagged FOR rule IN (outside, shift, trend, two_of_three))
            WHERE flagged
        ) p
        JOIN model_positions o USING (partner_id)
        ORDER BY o.position, p.kpi_id, p.period_start, p.rule
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE model_baselines AS
        SELECT o.position, p.partner_id::VARCHAR AS partner_id, p.kpi_id::VARCHAR AS kpi_id,
               p.segment, arg_min(p.period, p.period_start) AS first,
               arg_max(p.period, p.period_start) AS last, any_value(p.mean) AS mean,
               any_value(p.lower) AS lower, any_value(p.upper) AS upper
        FROM spc_points p JOIN model_positions o USING (partner_id)
        GROUP BY o.position, p.partner_id, p.kpi_id, p.segment
        ORDER BY o.position, p.kpi_id, p.segment
        """
    )


def _spc(
    con: duckdb.DuckDBPyConnection, where: str, params: list[Any]
) -> dict[tuple[str, str], Spc]:
    """The SPC readings, with their signals and baseline segments, of the series `where`
    picks from the model_spc tables."""
    signals: dict[tuple[str, str], list[Signal]] = defaultdict(list)
    for partner_id, kpi_id, period, rule, improving in con.execute(
        f"SELECT partner_id, kpi_id, period, rule, improving FROM model_signals WHERE {where} "
        "ORDER BY position, kpi_id, period_start, rule",
        params,
    ).fetchall():
        signals[(partner_id, kpi_id)].append(Signal(period, rule, improving))
    baselines: dict[tuple[str, str], list[Baseline]] = defaultdict(list)
    for partner_id, kpi_id, *segment in con.execute(
        f"SELECT partner_id, kpi_id, first, last, mean, lower, upper FROM model_baselines "
        f"WHERE {where} ORDER BY position, kpi_id, segment",
        params,
    ).fetchall():
        baselines[(partner_id, kpi_id)].append(Baseline(*segment))
    return {
        (partner_id, kpi_id): Spc(
            points,
            mean,
            lower,
            upper,
            variation,
            assurance,
            tuple(signals[(partner_id, kpi_id)]),
            tuple(baselines[(partner_id, kpi_id)]),
        )
        for partner_id, kpi_id, points, mean, lower, upper, variation, assurance in con.execute(
            "SELECT partner_id, kpi_id, points, mean, lower, upper, variation, assurance "
            f"FROM model_spc WHERE {where}",
            params,
        ).fetchall()
    }


def filled(
    con: duckdb.DuckDBPyConnection, model: Model, own_site: bool = False, series: bool = True
) -> Model:
    """The model with every partner's results (and with `series` its series) read, for a
    command or test that needs them all; a build reads them a batch at a time (Cards)."""
    cards = Cards(con, model.kpis, own_site).fill(list(model.scorecards.values()), series)
    return replace(model, scorecards={c.partner.partner_id: c for c in cards})


def _alliance(
    con: duckdb.DuckDBPyConnection, own_site: bool, table: str = "alliance"
) -> dict[str, list[AlliancePoint]]:
    """Alliance-wide figures per KPI (`table` is alliance or alliance_as_of), with peer bands."""
    q1, q3 = _quartiles(own_site)
    rows = con.execute(
        f"""
        SELECT a.kpi_id::VARCHAR, a.period, a.value, a.numerator, a.denominator, a.target,
               a.status, a.partners, a.suppressed_partners, a.withheld, p.{q1}, p.median, p.{q3}
        FROM {table} a
        LEFT JOIN peer_stats p
            ON p.kpi_id = a.kpi_id AND p.period_start = a.period_start AND p.scope = 'all'
        WHERE a.period_end <= (SELECT period_end FROM as_of)
        ORDER BY a.kpi_id, a.period_start
        """
    ).fetchall()
    alliance: dict[str, list[AlliancePoint]] = defaultdict(list)
    for row in rows:
        alliance[row[0]].append(AlliancePoint(*row[1:]))
    return alliance


def _quality(con: duckdb.DuckDBPyConnection, load: LoadSummary, recent: int) -> DataQuality:
    """Rejected rows in file order, and submissions for the last `recent` periods."""
    rejections = [
        Rejection(*row)
        for row in con.execute(
            "SELECT file, line, reason FROM rejected ORDER BY file, line"
        ).fetchall()
    ]
    periods = [
        row[0]
        for row in con.execute(
            "SELECT period FROM calendar WHERE period_end <= (SELECT period_end FROM as_of) "
            "ORDER BY period_start DESC LIMIT ?",
            [recent],
        ).fetchall()
    ][::-1]
    submitted: dict[str, list[bool]] = {}
    rows = con.execute(
        "SELECT partner_id::VARCHAR, period, submitted FROM submissions "
        "WHERE list_contains(?, period) ORDER BY partner_id, period_start",
        [periods],
    ).fetchall()
    by_partner: dict[str, dict[str, bool]] = defaultdict(dict)
    for partner_id, period, flag in rows:
        by_partner[partner_id][period] = flag
    for partner_id, flags in by_partner.items():
        submitted[partner_id] = [flags.get(period, False) for period in periods]
    return DataQuality(load, rejections, periods, submitted)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while the model's objects are made: they hold no
    cycles, and every collection would walk all of them again (at 1,000 partners, 1.4 s of the
    2.4 s the model took)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_model(
    con: duckdb.DuckDBPyConnection, load: LoadSummary, recent: int = 12, own_site: bool = False
) -> Model:
    """Everything the renderers need for the as-of period, read in bulk, but each partner's
    KPI results and series, which are read a batch of partners at a time (Cards); with
    `own_site`, the peer figures a partner's own site may show (see kpi_peers.sql)."""
    with _collector_paused():
        return _read(con, load, recent, own_site)


def _read(con: duckdb.DuckDBPyConnection, load: LoadSummary, recent: int, own_site: bool) -> Model:
    period, grain = con.execute("SELECT period, grain FROM as_of").fetchall()[0]
    partners = _partners(con)
    kpis = _kpis(con)
    composites = _composites(con)
    submitted = dict(
        con.execute(
            "SELECT partner_id::VARCHAR, submitted FROM submissions JOIN as_of USING (period)"
        ).fetchall()
    )
    actions = _actions(con)
    restatements = _restatements(con)
    reviews = _reviews(con, actions, restatements)
    changes: dict[str, dict[str, str]] = defaultdict(dict)
    for partner_id, kpi_id, kind in con.execute(
        "SELECT partner_id::VARCHAR, kpi_id::VARCHAR, kind FROM biggest_changes"
    ).fetchall():
        changes[partner_id][kind] = kpi_id
    scorecards = {
        p.partner_id: Scorecard(
            partner=p,
            period=period,
            submitted=submitted.get(p.partner_id, False),
            composite=composites[p.partner_id],  # every partner has one (kpi_composite.sql)
            results=None,
            history=None,
            improvement=changes[p.partner_id].get("improvement"),
            decline=changes[p.partner_id].get("decline"),
            actions=tuple(actions[p.partner_id]),
            review=reviews.get(p.partner_id),
        )
        for p in partners
    }
    current = {
        kpi_id: points[0] for kpi_id, points in _alliance(con, own_site, "alliance_as_of").items()
    }
    movers: dict[str, list[str]] = {"up": [], "down": []}
    for partner_id, direction in con.execute(
        "SELECT partner_id::VARCHAR, direction FROM movers ORDER BY direction, position"
    ).fetchall():
        movers[direction].append(partner_id)
    status_counts: dict[str, dict[str, int]] = defaultdict(dict)
    for kpi_id, status, count in con.execute(
        "SELECT kpi_id::VARCHAR, status, partners FROM status_counts"
    ).fetchall():
        status_counts[kpi_id][status] = count
    return Model(
        period,
        grain,
        partners,
        kpis,
        scorecards,
        _alliance(con, own_site),
        current,
        _quality(con, load, recent),
        movers,
        dict(status_counts),
        _spc_counts(con),
        read_funnels(con, None),
        _review(con, restatements),
    )
