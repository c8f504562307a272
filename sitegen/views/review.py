"""Review cycles as every output shows them: what changed since the last review (on the
alliance's review page, each partner's page, PDF and email, and the review's board packet),
the actions and notes beside each KPI, the list of archived periods, and restatements.

The changes are decided in SQL (kpi_review.sql); this module words them, once, so that page,
PDF and email say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sitegen import periods
from sitegen.filters import num, status_word, value
from sitegen.model import (
    Action,
    CommitmentChange,
    Kpi,
    Model,
    Moves,
    NewSignal,
    PartnerReview,
    Restatement,
    Scorecard,
    StatusChange,
)
from sitegen.views.common import PACKET_PARTNERS_MAX, Table, first_by, partner_count

STANDING_WORDS = {
    "on_track": "on track",
    "at_risk": "at risk",
    "off_track": "off track",
    "not_scored": "not scored",
}
RULE_SHORT = {
    "outside": "beyond a limit",
    "shift": "a shift",
    "trend": "a trend",
    "two_of_three": "two of three near a limit",
}


@dataclass(frozen=True)
class Change:
    """One line of a review: what kind of change (its heading), its words, and its tone
    (worse, better or news) for the mark a page puts beside it; never told by colour
    alone, the words say which way."""

    kind: str
    text: str
    tone: str


@dataclass(frozen=True)
class ReviewSection:
    """What changed for one partner since the last review, line by line, worst first."""

    heading: str  # "Since the last review (2026-09)"
    since: str
    changes: tuple[Change, ...]
    empty: str  # what to say when nothing changed
    discuss: bool


@dataclass(frozen=True)
class ActionLine:
    """An action or note beside a KPI, worded: "Action (open, due 2026-09-30, overdue):
    Re-audit discharge calls — Director of Quality"."""

    kpi_id: str
    text: str
    overdue: bool


def _kpi_names(kpis: list[Kpi]) -> dict[str, Kpi]:
    return {k.kpi_id: k for k in kpis}


def _status(key: str | None) -> str:
    """A status in words; None: the KPI was not on the scorecard then."""
    return status_word(key) if key else "not reported"


def action_line(action: Action) -> ActionLine:
    """An action (with its owner, due date and status) or a note, in one line."""
    if action.action:
        state = action.status or "open"
        due = f", due {action.due.isoformat()}" if action.due else ""
        late = ", overdue" if action.overdue else ""
        owner = f" ({action.owner})" if action.owner else ""
        text = f"Action for {action.period}, {state}{due}{late}: {action.action}{owner}"
        if action.note:
            text += f". Note: {action.note}"
    else:
        text = f"Note for {action.period}: {action.note}"
    return ActionLine(action.kpi_id, text, action.overdue)


def _status_change(change: StatusChange, kpis: dict[str, Kpi]) -> Change:
    name = kpis[change.kpi_id].name
    if change.was is None:
        text = f"{name}: now on the scorecard, {_status(change.now)} ({change.now_period})"
    else:
        when = (
            f"{change.was_period} to {change.now_period}"
            if change.was_period != change.now_period
            else change.now_period
        )
        text = f"{name}: {_status(change.was)} to {_status(change.now)} ({when})"
        if change.direction != "changed":
            text += f", {change.direction}"
    tone = change.direction if change.direction in ("better", "worse") else "news"
    return Change("Status", text, tone)


def _signal(signal: NewSignal, kpis: dict[str, Kpi]) -> Change:
    name = kpis[signal.kpi_id].name
    way = "improving" if signal.improving else "concerning"
    rules = ", ".join(RULE_SHORT[r] for r in signal.rules)
    return Change(
        "Special cause",
        f"{name}: new special cause, {way}, from {signal.first} ({rules})",
        "better" if signal.improving else "worse",
    )


def _moves(moves: Moves, since: str) -> list[Change]:
    """The composite, rank and standing at the last review and now, where any moved; which
    way each moved is SQL's (kpi_review.sql)."""
    changes = []
    was_score = None if moves.was_score is None else round(moves.was_score, 1)
    now_score = None if moves.now_score is None else round(moves.now_score, 1)
    if was_score != now_score:
        words = f"Composite score {num(was_score, 1)} in {since}, {num(now_score, 1)} now"
        changes.append(Change("Composite", words, moves.score_move or "news"))
    if moves.was_rank != moves.now_rank:
        was = f"{moves.was_rank} of {moves.was_of}" if moves.was_rank else "not ranked"
        now = f"{moves.now_rank} of {moves.now_of}" if moves.now_rank else "not ranked"
        changes.append(
            Change("Rank", f"Rank {was} in {since}, {now} now", moves.rank_move or "news")
        )
    if moves.was_standing != moves.now_standing:
        was = STANDING_WORDS.get(moves.was_standing or "", "not scored")
        now = STANDING_WORDS[moves.now_standing]
        words = f"Standing {was} in {since}, {now} now"
        changes.append(Change("Standing", words, moves.standing_move or "news"))
    return changes


def _commitment(change: CommitmentChange, kpis: dict[str, Kpi]) -> Change:
    kpi = kpis[change.kpi_id]
    window = f"from {change.valid_from}" if change.change == "started" and change.valid_from else ""
    if change.change == "ended" and change.valid_to:
        window = f"until {change.valid_to}"
    text = f"{kpi.name}: own commitment of {value(change.target, kpi.unit)} {change.change}"
    return Change("Commitment", f"{text} ({window})" if window else text, "news")


def _overdue(action: Action, kpis: dict[str, Kpi]) -> Change:
    owner = f", {action.owner}" if action.owner else ""
    due = action.due.isoformat() if action.due else "?"
    return Change(
        "Overdue action",
        f"{kpis[action.kpi_id].name}: {action.action} (due {due}{owner}), still open",
        "worse",
    )


def restated_text(restatement: Restatement, kpi: Kpi) -> str:
    """A restated figure: was, now, and what changed it."""
    was, now = value(restatement.was, kpi.unit), value(restatement.now, kpi.unit)
    if restatement.changed_by is None:
        why = "corrected in the data since"
    elif restatement.changed_by:
        why = "changed by " + ", ".join(restatement.changed_by)
    else:
        why = "no metric row changed: a rule or setting did"
    return (
        f"{kpi.name} for {restatement.period}: {was} as published for {restatement.as_of}, "
        f"{now} now ({why})"
    )


def _restated(restatement: Restatement, kpis: dict[str, Kpi]) -> Change:
    return Change("Restated", restated_text(restatement, kpis[restatement.kpi_id]), "news")


TONE_ORDER = {"worse": 0, "news": 1, "better": 2}


def partner_review(card: Scorecard, kpis: list[Kpi]) -> ReviewSection | None:
    """A partner's changes since the last review, the worse ones first (then news, then
    better), each group in the order it is listed in here."""
    review: PartnerReview | None = card.review
    if review is None:
        return None
    names = _kpi_names(kpis)
    # nothing on its scorecard at the last review (no data yet, or not yet joined)
    first = review.moves.was_score is None and all(c.was is None for c in review.statuses)
    first = first and bool(review.statuses)
    if first:  # no scorecard at the last review: one line, not one per KPI
        compared = [Change("New", f"no scorecard for {review.since} to compare with", "news")]
    else:
        compared = [
            *(_status_change(c, names) for c in review.statuses),
            *(_signal(s, names) for s in review.signals),
            *_moves(review.moves, review.since),
        ]
    changes = [
        *compared,
        *(_commitment(c, names) for c in review.commitments),
        *(_overdue(a, names) for a in review.overdue),
        *(_restated(r, names) for r in review.restatements),
    ]
    changes.sort(key=lambda c: TONE_ORDER[c.tone])
    return ReviewSection(
        heading=f"Since the last review ({review.since})",
        since=review.since,
        changes=tuple(changes),
        empty=f"Nothing has changed since the last review ({review.since}).",
        discuss=review.discuss,
    )


# ------------------------------------------------------------------------- the review page


@dataclass(frozen=True)
class PartnerChanges:
    """A partner worth discussing at the review: a link and its changes."""

    partner_id: str
    name: str
    section: ReviewSection


@dataclass(frozen=True)
class ReviewView:
    """review.html and the review's board packet: the alliance's changes since the last
    review, KPI by KPI, the partners worth discussing with their changes, and every
    restatement."""

    period: str
    since: str
    every: str
    intro: str
    kpis: Table
    discuss: tuple[PartnerChanges, ...]
    quiet: int  # partners with nothing worth discussing
    restatements: Table | None
    overdue: Table | None
    # the packet's pages: every partner worth discussing, or beyond PACKET_PARTNERS_MAX the
    # ones with the most changes for the worse, and a line saying so (empty when all fit)
    packet: tuple[PartnerChanges, ...]
    packet_note: str

    def charts(self) -> list:
        return []


def review_view(model: Model) -> ReviewView:
    """The alliance's review: SQL decided each change and who is worth discussing."""
    review = model.review
    assert review is not None  # read with every model (kpis.review)
    names = _kpi_names(model.kpis)
    rows = []
    for kpi in model.kpis:
        moves = review.kpis.get(kpi.kpi_id)
        if moves is None:
            continue
        rows.append(
            (
                kpi.name,
                num(moves.worse),
                num(moves.better),
                num(moves.concerning),
                num(moves.improving),
            )
        )
    kpi_table = Table(
        f"Statuses and special causes since {review.since}, partners per KPI",
        (
            "KPI",
            "Statuses worse",
            "Statuses better",
            "New special causes, concerning",
            "New special causes, improving",
        ),
        tuple(rows),
    )
    discuss = tuple(
        PartnerChanges(card.partner.partner_id, card.partner.name, section)
        for card in model.scorecards.values()
        if (section := partner_review(card, model.kpis)) is not None and section.discuss
    )
    packet, packet_note = _packet_pages(discuss)
    restated = None
    if review.restatements:
        cards = model.scorecards  # SQL restates known partners' known KPIs only
        restated = Table(
            "Restated figures: published in an archived period, different now",
            ("Partner", "KPI", "Period", "Published for", "Was", "Now", "Changed by"),
            tuple(
                (
                    cards[r.partner_id].partner.name,
                    names[r.kpi_id].name,
                    r.period,
                    r.as_of,
                    value(r.was, names[r.kpi_id].unit),
                    value(r.now, names[r.kpi_id].unit),
                    ", ".join(r.changed_by or ()) or "a rule or setting",
                )
                for r in review.restatements
            ),
        )
    late = [
        (card.partner.name, names[a.kpi_id].name, a.action or "", a.owner or "", str(a.due))
        for card in model.scorecards.values()
        if card.review
        for a in card.review.overdue
    ]
    overdue = (
        Table(
            "Open actions past their due date",
            ("Partner", "KPI", "Action", "Owner", "Due"),
            tuple(late),
        )
        if late
        else None
    )
    return ReviewView(
        period=model.period,
        since=review.since,
        every=review.every,
        intro=(
            f"What changed between {review.since}, the period of the last review, and "
            f"{model.period} (reviews every {review.every}): statuses, new special causes, "
            "composite and rank moves, commitments that started or ended, overdue actions "
            "and restated figures."
        ),
        kpis=kpi_table,
        discuss=discuss,
        quiet=len(model.scorecards) - len(discuss),
        restatements=restated,
        overdue=overdue,
        packet=packet,
        packet_note=packet_note,
    )


def _packet_pages(
    discuss: tuple[PartnerChanges, ...],
) -> tuple[tuple[PartnerChanges, ...], str]:
    """The partners the review packet gives a page, in the review page's order, and what it
    says of the others: beyond PACKET_PARTNERS_MAX, those with the most changes for the
    worse (then the most changes, then by name)."""
    if len(discuss) <= PACKET_PARTNERS_MAX:
        return discuss, ""

    def seriousness(p: PartnerChanges) -> tuple[int, int, str]:
        worse = sum(c.tone == "worse" for c in p.section.changes)
        return (-worse, -len(p.section.changes), p.name)

    others = len(discuss) - PACKET_PARTNERS_MAX
    note = (
        f"A page each for the {PACKET_PARTNERS_MAX} partners with the most changes for the "
        f"worse. Not given a page here: {partner_count(others)} more worth discussing; the review "
        "page of the site lists every one with its changes, and each partner's own scorecard "
        "leads with them."
    )
    return tuple(first_by(list(discuss), seriousness, PACKET_PARTNERS_MAX)), note


# ----------------------------------------------------------------------- the periods page


@dataclass(frozen=True)
class PeriodLink:
    period: str
    href: str  # relative to the site's root
    published: str  # "2026-10-03 02:00 UTC"
    current: bool


@dataclass(frozen=True)
class PeriodsView:
    """periods.html: every archived period, newest first, the current one marked."""

    periods: tuple[PeriodLink, ...]

    def charts(self) -> list:
        return []


@dataclass(frozen=True)
class ArchiveView:
    """An archived period's own periods.html: which period, published when."""

    period: str
    published: str

    def charts(self) -> list:
        return []


def periods_view(model: Model, generated: str) -> PeriodsView:
    """The archive's periods and this build's, when its site becomes the archive of its
    period (else the archive keeps what was published)."""
    review = model.review
    archive = list(review.archive) if review else []
    links = {a.period: _published(a.generated_at) for a in archive}
    if review is None or review.anew:
        links[model.period] = generated  # this build's site becomes its period's archive
    ordered = sorted(links, key=periods.start, reverse=True)
    anew = review is None or review.anew  # else this site is a rebuild, not the archive
    return PeriodsView(
        tuple(
            PeriodLink(p, f"periods/{p}/index.html", links[p], anew and p == model.period)
            for p in ordered
        )
    )


def _published(iso: str) -> str:
    """A manifest's generated_at as the pages print build times."""
    return iso.replace("T", " ")[:16] + " UTC"
