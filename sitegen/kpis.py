"""Compute every KPI figure in DuckDB by running the SQL files under `sitegen/sql/`.

The rules live in the SQL, each commented in words; this module only sets the run's settings
and runs the files in order. After `compute`, these tables hold the results: `scorecard`,
`peer_stats`, `alliance`, `composite`, `submissions`, `as_of`, `scorecard_as_of` (what the
scorecard shows for the as-of period), `alliance_as_of`, `biggest_changes`, `movers` and
`status_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb

from sitegen import periods
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
    }
    for name, value in variables.items():
        con.execute(f"SET VARIABLE {name} = ?", [value])
    # The load holds DuckDB to 1 GB against a huge raw file; the accepted rows are what the
    # project is sized for (10,000 partners need ~4 GB here), so DuckDB's own bound applies.
    con.execute("RESET memory_limit")
    for stage in STAGES:
        run_sql(con, stage)
    rows = con.execute("SELECT period FROM as_of").fetchall()
    if not rows:
        raise NoDataError("no period has ended with data in it yet: nothing to report")
    if explicit is not None:
        _check_period(con, settings.today)
    return rows[0][0]


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
