"""Compute every KPI figure in DuckDB by running the SQL files under `sitegen/sql/`.

The rules live in the SQL, each commented in words; this module only sets the run's settings
and runs the files in order. After `compute`, these tables hold the results: `scorecard` (a
view: the cells of `scorecard_cells` with their KPI period's peer figures), `peer_stats`,
`alliance`, `composite`, `submissions`, `as_of`, `scorecard_as_of` (what the scorecard shows
for the as-of period), `alliance_as_of`, `biggest_changes`, `movers` and `status_counts`;
after `review`, the review tables of kpi_review.sql.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from sitegen import periods
from sitegen.config import Config
from sitegen.errors import NoDataError, PeriodError
from sitegen.sql import run_sql

STAGES = (
    "kpi_periods.sql",
    "kpi_values.sql",
    "kpi_peers.sql",
    "kpi_scorecard.sql",
    "kpi_alliance.sql",
    "kpi_composite.sql",
    "kpi_submissions.sql",
    "kpi_as_of.sql",
    "kpi_spc.sql",
    "kpi_intervals.sql",
)


# Peer figures need this many partners with a value, else they are withheld (a median of
# two would reveal the other partner's value); quartiles in a partner's own site need
# MIN_PEERS_QUARTILES (of 5 values, they are the 2nd and 4th themselves).
MIN_PEERS = 5
MIN_PEERS_QUARTILES = 10


@dataclass(frozen=True)
class KpiSettings:
    """What a run needs to decide every figure; `today` makes the as-of choice reproducible."""

    grain: str = "month"
    period: str = "latest"
    amber_band: float = 0.05
    min_denominator: int = 11
    today: date = field(default_factory=date.today)
    review_every: str = "quarter"  # [review] every

    @classmethod
    def of(cls, config: Config, today: date) -> KpiSettings:
        """The settings a project's configuration gives."""
        return cls(
            grain=config.site.grain,
            period=config.site.period,
            amber_band=config.status.amber_band,
            min_denominator=config.status.min_denominator,
            today=today,
            review_every=config.review.every,
        )


def compute(con: duckdb.DuckDBPyConnection, settings: KpiSettings) -> str:
    """Run the KPI stages over the loaded tables; return the as-of period label."""
    if not con.execute("SELECT count(*) FROM metrics").fetchall()[0][0]:
        raise NoDataError("no accepted metric rows: nothing to report")
    explicit = None if settings.period == "latest" else periods.start(settings.period)
    variables = {
        "grain": settings.grain,
        "period": settings.period,
        "period_start": explicit,
        "amber_band": float(settings.amber_band),
        "min_denominator": int(settings.min_denominator),
        "today": settings.today,
        "min_peers": MIN_PEERS,
        "min_peers_quartiles": MIN_PEERS_QUARTILES,
        "review_every": settings.review_every,
    }
    for name, value in variables.items():
        con.execute(f"SET VARIABLE {name} = ?", [value])
    for stage in STAGES:
        run_sql(con, stage)
    rows = con.execute("SELECT period FROM as_of").fetchall()
    if not rows:
        raise NoDataError("no period has ended with data in it yet: nothing to report")
    if explicit is not None:
        _check_period(con, settings.today)
    return rows[0][0]


def review(con: duckdb.DuckDBPyConnection, settings: KpiSettings, own_site: bool) -> None:
    """What changed since the last review, the actions on the scorecard, and restatements of
    archived figures (kpi_review.sql), after `compute`. `own_site`: the figures compared and
    recorded are those a partner's own site shows (its own small ones), not everyone's."""
    con.execute("SET VARIABLE own_site = ?", [own_site])
    _spc_at_review(con)
    run_sql(con, "kpi_review.sql")


def unanswered(
    con: duckdb.DuckDBPyConnection, settings: KpiSettings
) -> list[tuple[str, str, str, list[str]]]:
    """After a load (with the archive's tables, sitegen.archive.read_records): each partner
    with KPIs missed on its scorecard and neither a note nor an action in actions.csv
    (kpi_review.sql), as (name, partner_id, period, KPI names); nothing when the figures
    cannot be computed (no data, no such period: the caller says so already)."""
    try:
        compute(con, settings)
    except (NoDataError, PeriodError):
        return []
    review(con, settings, own_site=False)
    return con.execute(
        """
        SELECT p.name, u.partner_id::VARCHAR, any_value(a.period), list(k.name ORDER BY k.line)
        FROM unanswered u
        JOIN partners p ON p.partner_id = u.partner_id
        JOIN kpis k ON k.kpi_id = u.kpi_id
        CROSS JOIN as_of a
        GROUP BY p.name, u.partner_id ORDER BY p.name, u.partner_id
        """
    ).fetchall()


SPC_TABLES = ("spc_points", "spc", "spc_counts")


def _spc_at_review(con: duckdb.DuckDBPyConnection) -> None:
    """Table spc_at_review: the special causes at the latest point of each series as it stood
    at the last review, by running kpi_spc.sql again with the window ending then (the as-of
    reading is set aside meanwhile), so that a signal the board has seen is not called new.
    Only series with a special cause since the review are read again (spc_candidates)."""
    con.execute(
        """
        CREATE OR REPLACE TABLE spc_candidates AS
        SELECT DISTINCT p.partner_id, p.kpi_id
        FROM spc_points
        UNPIVOT (flagged FOR rule IN (outside, shift, trend, two_of_three)) p
        JOIN kpi_grains g ON g.kpi_id = p.kpi_id
        WHERE p.flagged AND sg_end(p.period_start, g.grain) > (SELECT since_end FROM review)
        """
    )
    for table in SPC_TABLES:
        con.execute(f"ALTER TABLE {table} RENAME TO {table}_as_of")
    con.execute("SET VARIABLE spc_end = (SELECT since_end FROM review)")
    try:
        run_sql(con, "kpi_spc.sql")
        con.execute(
            """
            CREATE OR REPLACE TABLE spc_at_review AS
            SELECT DISTINCT partner_id, kpi_id, improving
            FROM spc_points
            UNPIVOT (flagged FOR rule IN (outside, shift, trend, two_of_three))
            WHERE latest AND flagged
            """
        )
    finally:
        con.execute("RESET VARIABLE spc_end")
        for table in SPC_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")
            con.execute(f"ALTER TABLE {table}_as_of RENAME TO {table}")


def _check_period(con: duckdb.DuckDBPyConnection, today: date) -> None:
    """Refuse a configured period that no partner submitted for, naming the periods that
    have data, rather than publish a site where every partner has "no submission"."""
    period, start, submitted, first, last = con.execute(
        "SELECT period, period_start, submitted, first, last FROM as_of_support"
    ).fetchall()[0]
    if submitted:
        return
    if start > today:
        why = f"is in the future (today is {today.isoformat()})"
    elif first is not None and start < periods.start(first):
        why = "is before the first data"
    else:
        why = "has no accepted row from any partner"
    if first is None:
        spans = "no period has data"
    else:
        spans = f"periods with data: {first}" + (f" to {last}" if last != first else "")
    raise PeriodError(f"period {period} {why}; {spans}; nothing was published")
