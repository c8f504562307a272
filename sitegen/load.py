"""Load the project's CSV files, and metric files in Parquet too, into DuckDB.

Reference files (partners, KPIs, commitments) are small and define what the metrics mean, so any
problem in them stops the run with one line naming file, line and column (`InputError`).

Metric files are many and come from partners, so a bad row never stops the run: every row read is
kept as read in `raw_metrics`, then either accepted into `metrics` or quarantined in `rejected`
with its reason (rules in `sql/validate_metrics.sql`). accepted + rejected = read, for every file.

The actions file (what partners do about a KPI, comments on a figure) is written by many hands
and only annotates the scorecards, so it sits between the two: a file that cannot be read stops
the run like a reference file, a bad row is quarantined with its reason like a metric row.
"""

from __future__ import annotations

import fcntl
import io
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

import duckdb

from sitegen import periods, reading
from sitegen.config import EMAIL_RE
from sitegen.errors import InputError
from sitegen.filters import UNIT_FORMATS
from sitegen.sql import run_sql

PARTNER_TYPES = (
    "hospital",
    "post_acute",
    "physician_group",
    "community_org",
    "payer",
    "technology",
    "other",
)
CATEGORIES = (
    "quality",
    "patient_experience",
    "utilization",
    "operations",
    "cost",
    "financial",
    "community",
    "partnership",
)
UNITS = ("percent", "rate", "ratio", "days", "minutes", "usd", "score", "count")
DIRECTIONS = ("higher", "lower")
AGGREGATIONS = ("ratio", "mean", "sum", "last")
FREQUENCIES = ("monthly", "quarterly", "annual")
COUNTS = ("binomial", "poisson", "none")  # what a numerator counts: which intervals apply

ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
METRIC_COLUMNS = (
    "partner_id", "kpi_id", "period", "value", "numerator", "denominator", "flag", "footnote",
)  # fmt: skip
YES_NO = {"yes": True, "no": False}
REQUIRED_METRIC_COLUMNS = ("partner_id", "kpi_id", "period", "value")
ACTION_STATUSES = ("open", "done")
ACTION_KEY = ("partner_id", "kpi_id", "period", "action", "note")  # a row given twice


@dataclass(frozen=True)
class FileReport:
    """What happened to one metrics file."""

    file: str
    read: int
    accepted: int
    rejected: int
    problem: str | None


@dataclass(frozen=True)
class LoadSummary:
    """Counts for the whole load; rules holds (rule, count, examples as 'file:line: reason')."""

    partners: int
    kpis: int
    targets: int
    files: list[FileReport]
    read: int
    accepted: int
    rejected: int
    normalised: int
    collapsed: int
    rules: list[tuple[str, int, list[str]]]
    warnings: list[str]  # 'file:line:column: problem' that does not stop a run (bad contacts)
    metrics_dir: Path  # resolved, for the message when it holds no file
    actions: int  # rows of actions.csv accepted; never counted among the metric rows
    action_rejects: list[str]  # 'file:line:column: reason' per quarantined row, in line order

    @property
    def no_metrics(self) -> str | None:
        """Why there is nothing to report on when no metrics file was found, else None."""
        if self.files:
            return None
        return (
            f"{self.metrics_dir}: no metrics files (*.csv, *.parquet): nothing to check or report"
        )

    @property
    def unusable(self) -> int:
        """Metrics files that could not be read at all (encoding, header, empty)."""
        return sum(1 for f in self.files if f.problem)


# ---------------------------------------------------------------------------------------------
# Reference files: small, read whole; any problem stops the run.


def _read_reference(
    path: Path, label: str, root: Path
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and records of a reference file; any problem reading it stops the run."""
    if not path.exists() and not path.is_symlink():
        raise InputError(str(path.resolve()), 0, None, "file not found")
    try:
        data = reading.read_reference(path, root)
    except OSError as exc:
        raise InputError(label, 0, None, exc.strerror or str(exc)) from None
    scanned = reading.scan(io.BytesIO(data))
    if scanned.problem:
        raise InputError(label, 0, None, scanned.problem)
    records = []
    for line, fields, why in reading.records(io.BytesIO(data), scanned.encoding):
        if why:
            raise InputError(label, line, None, why)
        records.append((line, fields))
    if not records:
        raise InputError(label, 1, None, "empty file: a header row is required")
    header = [name.strip().lower() for name in records[0][1]]
    return header, records[1:]


class _Rows:
    """Field access by column name for one reference file, with errors that point at the cell."""

    def __init__(self, label: str, header: list[str], required: tuple[str, ...]) -> None:
        self.label = label
        self.index: dict[str, int] = {}
        for position, name in enumerate(header, start=1):
            if name in self.index:
                raise InputError(label, 1, position, f"column {name!r} appears twice")
            self.index[name] = position
        for name in required:
            if name not in self.index:
                raise InputError(label, 1, None, f"missing required column {name!r}")

    def get(self, fields: list[str], name: str) -> str:
        position = self.index.get(name)
        if position is None or position > len(fields):
            return ""
        return fields[position - 1].strip()

    def fail(self, line: int, name: str, message: str) -> InputError:
        return InputError(self.label, line, self.index.get(name), message)

    def check_width(self, line: int, fields: list[str]) -> None:
        if len(fields) != len(self.index):
            raise InputError(
                self.label,
                line,
                None,
                f"row has {len(fields)} fields, the header has {len(self.index)}",
            )


def _number(
    rows: _Rows, line: int, fields: list[str], name: str, *, required: bool
) -> float | None:
    text = rows.get(fields, name)
    if not text:
        if required:
            raise rows.fail(line, name, f"{name} is required")
        return None
    try:
        value = float(text)
    except ValueError:
        raise rows.fail(line, name, f"{name} {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise rows.fail(line, name, f"{name} {text!r} is not a finite number")
    return value


def _choice(rows: _Rows, line: int, fields: list[str], name: str, choices: tuple[str, ...]) -> str:
    text = rows.get(fields, name)
    if text not in choices:
        raise rows.fail(line, name, f"{name} {text!r} is not one of {', '.join(choices)}")
    return text


def _identifier(rows: _Rows, line: int, fields: list[str], name: str, seen: dict[str, int]) -> str:
    text = rows.get(fields, name)
    if not ID_RE.match(text):
        raise rows.fail(
            line, name, f"{name} {text!r} may contain only letters, digits, '-' and '_'"
        )
    if text in seen:
        raise rows.fail(line, name, f"duplicate {name} {text!r} (first at line {seen[text]})")
    seen[text] = line
    return text


# ---------------------------------------------------------------------------------------------
# Reference files


def load_partners(
    con: duckdb.DuckDBPyConnection, path: Path, label: str, root: Path, warnings: list[str]
) -> int:
    """partners.csv → table `partners`; contact addresses that are not addresses go to
    `warnings` (they do not stop a build: only email needs them)."""
    header, records = _read_reference(path, label, root)
    rows = _Rows(
        label, header, ("partner_id", "name", "partner_type", "region", "joined", "contact_emails")
    )
    seen: dict[str, int] = {}
    out = []
    for line, fields in records:
        rows.check_width(line, fields)
        partner_id = _identifier(rows, line, fields, "partner_id", seen)
        name = rows.get(fields, "name")
        if not name:
            raise rows.fail(line, "name", "name is required")
        partner_type = _choice(rows, line, fields, "partner_type", PARTNER_TYPES)
        joined = rows.get(fields, "joined")
        if not _is_date(joined):
            raise rows.fail(line, "joined", f"joined {joined!r} is not a date (YYYY-MM-DD)")
        emails = [e.strip() for e in rows.get(fields, "contact_emails").split(";")]
        warnings += [
            str(
                rows.fail(
                    line,
                    "contact_emails",
                    f"contact address {e!r} is not an email address; email leaves it out",
                )
            )
            for e in emails
            if e and not EMAIL_RE.match(e)
        ]
        out.append(
            (
                partner_id,
                name,
                partner_type,
                rows.get(fields, "region"),
                joined,
                [e for e in emails if e],
                line,
            )
        )
    if not out:
        raise InputError(label, 0, None, "no partners listed: at least one row is required")
    run_sql(con, "create_reference_tables.sql")
    insert_rows(con, "partners", out)
    return len(out)


def _is_date(text: str) -> bool:
    if not DATE_RE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


UNIT_DEFAULTS = {"percent": (0.0, 100.0), "score": (None, None)}


def load_kpis(con: duckdb.DuckDBPyConnection, path: Path, label: str, root: Path) -> int:
    """kpis.csv → table `kpis`, with per-unit defaults for the optional columns filled in."""
    header, records = _read_reference(path, label, root)
    rows = _Rows(
        label,
        header,
        ("kpi_id", "name", "category", "unit", "direction", "target", "benchmark", "weight"),
    )
    seen: dict[str, int] = {}
    out = []
    for line, fields in records:
        rows.check_width(line, fields)
        kpi_id = _identifier(rows, line, fields, "kpi_id", seen)
        name = rows.get(fields, "name")
        if not name:
            raise rows.fail(line, "name", "name is required")
        category = _choice(rows, line, fields, "category", CATEGORIES)
        unit = _choice(rows, line, fields, "unit", UNITS)
        direction = _choice(rows, line, fields, "direction", DIRECTIONS)
        target = _number(rows, line, fields, "target", required=True)
        benchmark = _number(rows, line, fields, "benchmark", required=False)
        weight = _number(rows, line, fields, "weight", required=True)
        if weight is not None and weight < 0:
            raise rows.fail(line, "weight", f"weight {weight:g} must not be negative")
        aggregation = rows.get(fields, "aggregation") or _default_aggregation(unit)
        if aggregation not in AGGREGATIONS:
            raise rows.fail(
                line,
                "aggregation",
                f"aggregation {aggregation!r} is not one of ratio, mean, sum, last",
            )
        frequency = rows.get(fields, "frequency") or "monthly"
        if frequency not in FREQUENCIES:
            raise rows.fail(
                line,
                "frequency",
                f"frequency {frequency!r} is not one of monthly, quarterly, annual",
            )
        amber_band = _number(rows, line, fields, "amber_band", required=False)
        if amber_band is not None and not 0 <= amber_band <= 1:
            raise rows.fail(line, "amber_band", "amber_band is a fraction of the target (0 to 1)")
        min_den = _number(rows, line, fields, "min_denominator", required=False)
        if min_den is not None and (min_den < 1 or min_den != int(min_den)):
            raise rows.fail(line, "min_denominator", "min_denominator must be a whole number >= 1")
        small_cell = rows.get(fields, "small_cell_rule").lower() or _default_small_cell(unit)
        if small_cell not in YES_NO:
            raise rows.fail(
                line, "small_cell_rule", f"small_cell_rule {small_cell!r} is not yes or no"
            )
        counts = rows.get(fields, "counts").lower() or _default_counts(unit)
        if counts not in COUNTS:
            raise rows.fail(
                line, "counts", f"counts {counts!r} is not one of binomial, poisson, none"
            )
        scale = _number(rows, line, fields, "scale", required=False)
        if scale is not None and scale <= 0:
            raise rows.fail(line, "scale", "scale must be greater than 0")
        low, high = UNIT_DEFAULTS.get(unit, (0.0, None))
        min_value = _number(rows, line, fields, "min_value", required=False)
        max_value = _number(rows, line, fields, "max_value", required=False)
        out.append(
            (
                kpi_id,
                name,
                category,
                unit,
                direction,
                target,
                benchmark,
                rows.get(fields, "benchmark_source"),
                weight,
                rows.get(fields, "description"),
                aggregation,
                frequency,
                amber_band,
                None if min_den is None else int(min_den),
                scale if scale is not None else (100.0 if unit == "percent" else 1.0),
                low if min_value is None else min_value,
                high if max_value is None else max_value,
                UNIT_FORMATS[unit][0],
                YES_NO[small_cell],
                counts,
                line,
            )
        )
    if not out:
        raise InputError(label, 0, None, "no KPIs listed: at least one row is required")
    if not any(row[8] for row in out):  # weight
        raise InputError(
            label,
            0,
            None,
            "every KPI's weight is 0: the composite score needs at least one weight above 0",
        )
    insert_rows(con, "kpis", out)
    return len(out)


def _default_small_cell(unit: str) -> str:
    """Percentages and rates count people (readmissions of patients); an observed count over
    an expected one (an SIR), money or a score does not."""
    return "yes" if unit in ("percent", "rate") else "no"


def _default_counts(unit: str) -> str:
    """A percentage counts people out of people (binomial), a rate events per person-time
    (Poisson); anything else has no counting model unless kpis.csv names one (an SIR's
    observed infections over expected ones: poisson)."""
    return {"percent": "binomial", "rate": "poisson"}.get(unit, "none")


def _default_aggregation(unit: str) -> str:
    """Percentages and rates are ratios of counts; counts add up; anything else is averaged."""
    return {"percent": "ratio", "rate": "ratio", "count": "sum"}.get(unit, "mean")


def load_targets(con: duckdb.DuckDBPyConnection, path: Path, label: str, root: Path) -> int:
    """targets.csv (optional) → table `targets`: partner commitments with validity windows."""
    if not path.exists() and not path.is_symlink():
        return 0
    header, records = _read_reference(path, label, root)
    rows = _Rows(label, header, ("partner_id", "kpi_id", "target"))
    partners = {r[0] for r in con.execute("SELECT partner_id FROM partners").fetchall()}
    kpis = {r[0] for r in con.execute("SELECT kpi_id FROM kpis").fetchall()}
    windows: dict[tuple[str, str], list[tuple[str, str, int]]] = {}
    out = []
    for line, fields in records:
        rows.check_width(line, fields)
        partner_id = rows.get(fields, "partner_id")
        if partner_id not in partners:
            raise rows.fail(line, "partner_id", f"unknown partner_id {partner_id!r}")
        kpi_id = rows.get(fields, "kpi_id")
        if kpi_id not in kpis:
            raise rows.fail(line, "kpi_id", f"unknown kpi_id {kpi_id!r}")
        target = _number(rows, line, fields, "target", required=True)
        bounds = []
        for name in ("valid_from", "valid_to"):
            text = rows.get(fields, name)
            why = periods.problem(text) if text else None
            if why:
                raise rows.fail(line, name, f"{name}: {why}")
            bounds.append(text)
        start = periods.start(bounds[0]) if bounds[0] else date.min
        end = periods.end(bounds[1]) if bounds[1] else date.max
        if start > end:
            raise rows.fail(line, "valid_to", "valid_to is before valid_from")
        for other_start, other_end, other_line in windows.get((partner_id, kpi_id), []):
            if start <= other_end and other_start <= end:
                raise rows.fail(
                    line,
                    "valid_from",
                    f"commitment overlaps the one at line {other_line} for {partner_id}/{kpi_id}",
                )
        windows.setdefault((partner_id, kpi_id), []).append((start, end, line))
        out.append((partner_id, kpi_id, target, start, end, bounds[0], bounds[1], line))
    insert_rows(con, "targets", out)
    return len(out)


def load_baselines(con: duckdb.DuckDBPyConnection, path: Path, label: str, root: Path) -> int:
    """baselines.csv (optional) → table `baselines`: where a KPI's SPC reading starts a new
    baseline (a changed process), for one partner or, with partner_id empty, for all."""
    if not path.exists() and not path.is_symlink():
        return 0
    header, records = _read_reference(path, label, root)
    rows = _Rows(label, header, ("partner_id", "kpi_id", "from_period"))
    partners = {r[0] for r in con.execute("SELECT partner_id FROM partners").fetchall()}
    kpis = {r[0] for r in con.execute("SELECT kpi_id FROM kpis").fetchall()}
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for line, fields in records:
        rows.check_width(line, fields)
        partner_id = rows.get(fields, "partner_id")
        if partner_id and partner_id not in partners:
            raise rows.fail(line, "partner_id", f"unknown partner_id {partner_id!r}")
        kpi_id = rows.get(fields, "kpi_id")
        if kpi_id not in kpis:
            raise rows.fail(line, "kpi_id", f"unknown kpi_id {kpi_id!r}")
        from_period = rows.get(fields, "from_period")
        why = periods.problem(from_period) if from_period else "is required"
        if why:
            raise rows.fail(line, "from_period", f"from_period: {why}")
        key = (partner_id, kpi_id, from_period)
        if key in seen:
            raise rows.fail(line, "from_period", f"the same baseline as line {seen[key]}")
        seen[key] = line
        start = periods.start(from_period)
        out.append((partner_id or None, kpi_id, from_period, start, line))
    insert_rows(con, "baselines", out)
    return len(out)


def load_actions(
    con: duckdb.DuckDBPyConnection, path: Path, label: str, root: Path
) -> tuple[int, list[str]]:
    """actions.csv (optional) → table `actions`: what a partner is doing about a KPI, or a
    comment on its figure, for one period. Return the rows accepted and, for each row
    quarantined, 'file:line:column: reason': a bad row only leaves its annotation out, so it
    never stops the run; a file that cannot be read at all does, as a reference file does."""
    if not path.exists() and not path.is_symlink():
        return 0, []
    header, records = _read_reference(path, label, root)
    rows = _Rows(label, header, ("partner_id", "kpi_id", "period"))
    if "action" not in rows.index and "note" not in rows.index:
        raise InputError(label, 1, None, "missing required column 'action' or 'note'")
    partners = {r[0] for r in con.execute("SELECT partner_id FROM partners").fetchall()}
    kpis = {r[0] for r in con.execute("SELECT kpi_id FROM kpis").fetchall()}
    seen: dict[tuple[str, ...], int] = {}
    out = []
    rejects = []
    for line, fields in records:
        problem = _action_problem(rows, fields, partners, kpis)
        key = tuple(rows.get(fields, name) for name in ACTION_KEY)
        if problem is None and key in seen:
            column = "action" if rows.get(fields, "action") else "note"
            problem = (column, f"the same action as line {seen[key]}")
        if problem is not None:
            column, reason = problem
            rejects.append(f"{label}:{line}" + (f":{column}" if column else "") + f": {reason}")
            continue
        seen[key] = line
        out.append(_action_row(rows, fields, line))
    insert_rows(con, "actions", out)
    return len(out), rejects


def _action_problem(
    rows: _Rows, fields: list[str], partners: set[str], kpis: set[str]
) -> tuple[str | None, str] | None:
    """The first rule one row of actions.csv breaks, as (column or None, reason), or None.

    A row must name a known partner, KPI and period and say something (an action, a note or
    both); an action is a promise, so it needs a real due date and a status; a due date or
    status given on a note alone must be valid too."""
    if len(fields) != len(rows.index):
        return None, f"row has {len(fields)} fields, the header has {len(rows.index)}"
    for name, known in (("partner_id", partners), ("kpi_id", kpis)):
        text = rows.get(fields, name)
        if not text:
            return name, f"{name} is required"
        if text not in known:
            return name, f"unknown {name} {text!r}"
    period = rows.get(fields, "period")
    why = periods.problem(period) if period else "is required"
    if why:
        return "period", f"period {why}"
    action = rows.get(fields, "action")
    if not action and not rows.get(fields, "note"):
        return "action", "neither an action nor a note: the row says nothing"
    due = rows.get(fields, "due")
    if due and not _is_date(due):
        return "due", f"due {due!r} is not a date (YYYY-MM-DD)"
    if action and not due:
        return "due", "an action needs a due date (YYYY-MM-DD)"
    status = rows.get(fields, "status")
    if status and status.lower() not in ACTION_STATUSES:
        return "status", f"status {status!r} is not one of {', '.join(ACTION_STATUSES)}"
    if action and not status:
        return "status", f"an action needs a status: {' or '.join(ACTION_STATUSES)}"
    return None


def _action_row(rows: _Rows, fields: list[str], line: int) -> tuple:
    """One checked row of actions.csv as the `actions` table holds it: empty text is NULL."""
    period = rows.get(fields, "period")
    due = rows.get(fields, "due")
    return (
        rows.get(fields, "partner_id"),
        rows.get(fields, "kpi_id"),
        period,
        periods.start(period),
        periods.end(period),
        rows.get(fields, "owner") or None,
        rows.get(fields, "action") or None,
        date.fromisoformat(due) if due else None,
        rows.get(fields, "status").lower() or None,
        rows.get(fields, "note") or None,
        line,
    )


# ---------------------------------------------------------------------------------------------
# Metric files


BATCH_CHARS = 8 << 20  # characters of parsed records handed to DuckDB at a time


def _stage_file(con: duckdb.DuckDBPyConnection, handle: BinaryIO, label: str) -> str | None:
    """Put one metrics file's records into `staged` as (file, line, fields, why unreadable);
    return a problem that makes every row of the file rejected, or None.

    A simple file (see reading.Scan) is split by DuckDB itself, read through a name with no
    glob character in it; any other is parsed by Python's csv a line at a time and handed over
    in batches. Either way the file is held a bounded amount at a time, whatever its size."""
    scanned = reading.scan(handle)
    if scanned.simple:
        con.execute(
            f"""
            INSERT INTO staged
            SELECT ?, row_number() OVER (), string_split(l, ','), NULL
            FROM read_csv(?, header = false, auto_detect = false, columns = {{'l': 'VARCHAR'}},
                          delim = chr(0), quote = '', escape = '', compression = 'none',
                          new_line = '{scanned.new_line}')
            """,
            [label, reading.fd_path(handle)],
        )
        return scanned.problem
    # Each record crosses to DuckDB as one string, its line and fields joined by NUL (which
    # no field holds: reading turns NULs into replacement characters): a flat list of strings
    # crosses several times faster than lists of lists, or than several lists at once.
    batch: list[str] = []
    unreadable: list[tuple[str, int, list[str], str]] = []
    size = 0
    for line, fields, why in reading.records(handle, scanned.encoding, scanned.bounded):
        if why:
            unreadable.append((label, line, [], why))
            continue
        batch.append(f"{line}\x00" + "\x00".join(fields))
        size += len(batch[-1])
        if size > BATCH_CHARS:
            _insert_records(con, label, batch)
            batch, size = [], 0
    _insert_records(con, label, batch)
    insert_rows(con, "staged", unreadable)
    return scanned.problem


def _insert_records(con: duckdb.DuckDBPyConnection, label: str, batch: list[str]) -> None:
    if batch:
        con.execute(
            "INSERT INTO staged SELECT ?, CAST(s[1] AS BIGINT), s[2:], NULL "
            "FROM (SELECT string_split(unnest(?), chr(0)) AS s)",
            [label, batch],
        )


PARQUET_LONG_ROW = f"its values run past {reading.MAX_RECORD >> 20} MB: not read"
PARQUET_NUL = "a value holds a NUL character: not read"


def _stage_parquet(con: duckdb.DuckDBPyConnection, handle: BinaryIO, label: str) -> str | None:
    """Read one Parquet metrics file straight into raw_metrics, its rows as a CSV file's
    records would be: its column names are the header (at line 0), each row is at its row
    number (the first row is 1: a Parquet file has no header line), every value as text and
    NULL as empty, so that the same rules judge it as the same data written in a CSV file.
    Each value is kept once: a metric column's in its column of raw_metrics, any other's in
    `fields`, and the file's `sources` say where (sg_fields puts a row back together).
    The file is registered in `files` here, since its header is known before its rows: they
    need no staging. DuckDB reads the file itself, through a name with no glob character in
    it, a row group at a time: no row passes through Python. Returns a problem that makes
    every row rejected, or None; a file DuckDB cannot read as Parquet (not one, cut short,
    damaged) is left unregistered, with the reason, and so not usable."""
    path = reading.fd_path(handle)
    try:
        header = _parquet_header(con, path)
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
        names, types = [d[0] for d in described], [d[1] for d in described]
        if len(header) != len(names):  # never seen: DuckDB's names then, not the schema's
            header = names
        lowered = [_column_name(name) for name in header]
        problem = _header_problem(lowered) or _parquet_period_problem(lowered, types)
        texts = ", ".join(
            f"coalesce(CAST({_quoted(n)} AS VARCHAR), '') AS c{i}" for i, n in enumerate(names)
        )
        fields = [f"c{i}" for i in range(len(names))]
        # A metric column is the first of that name, as list_position finds it in a CSV
        # file's header; one the file lacks is NULL (and the file then has a problem).
        columns = ", ".join(
            f"CASE WHEN why IS NULL THEN c{lowered.index(name)} END" if name in lowered else "NULL"
            for name in METRIC_COLUMNS
        )
        mapped = {lowered.index(name): name for name in METRIC_COLUMNS if name in lowered}
        others = [i for i in range(len(names)) if i not in mapped]
        sources = [mapped.get(i) or str(others.index(i) + 1) for i in range(len(names))]
        # file_row_number counts from 0 in the file as written, whatever order DuckDB's
        # threads read its row groups in; a column of that name hides it (then DuckDB's own
        # scan order, which it keeps, numbers the rows).
        shadowed = any(n.lower() == "file_row_number" for n in names)
        number = "row_number() OVER ()" if shadowed else "file_row_number + 1"
        # As in a CSV file, a row whose values run past MAX_RECORD is rejected with its text
        # not kept (no message or page should carry it), and so is one holding a NUL, which a
        # CSV file's text cannot hold either.
        con.execute(
            f"""
            INSERT INTO raw_metrics
            SELECT ?, n, CASE WHEN why IS NULL THEN [{", ".join(fields[i] for i in others)}]
                              ELSE [] END,
                   CASE WHEN why IS NULL THEN {len(fields)} ELSE 0 END, {len(header)},
                   {columns}, ?, why
            FROM (
                SELECT *,
                       CASE WHEN {" + ".join(f"strlen({f})" for f in fields)} > ? THEN ?
                            WHEN {" OR ".join(f"contains({f}, chr(0))" for f in fields)} THEN ?
                       END AS why
                FROM (SELECT {number} AS n, {texts} FROM read_parquet(?))
            )
            """,
            [label, problem, reading.MAX_RECORD, PARQUET_LONG_ROW, PARQUET_NUL, path],
        )
    except duckdb.Error as exc:
        _forget(con, label)
        return f"could not be read as Parquet: {_duckdb_reason(exc)}"
    insert_rows(con, "files", [(label, 0, lowered, problem, sources)])
    return problem


def _parquet_period_problem(lowered: list[str], types: list[str]) -> str | None:
    """Periods written as Parquet dates are refused: a date is not a period (which month,
    quarter or year does 2026-03-31 stand for?), and a CSV file cannot write one either. Asked
    only of a header without a problem of its own."""
    if "period" not in lowered:
        return None
    period = types[lowered.index("period")]
    if period.startswith(("DATE", "TIMESTAMP")):
        return (
            f"column 'period' is of type {period}: write periods as text, YYYY-MM, YYYY-Qn or YYYY"
        )
    return None


def _forget(con: duckdb.DuckDBPyConnection, label: str) -> None:
    """Remove what was read of a file that failed part way: none of it is to be judged."""
    for table in ("staged", "raw_metrics", "files"):
        con.execute(f"DELETE FROM {table} WHERE file = ?", [label])


def _parquet_header(con: duckdb.DuckDBPyConnection, path: str) -> list[str]:
    """A Parquet file's column names as its schema writes them (DuckDB renames a name given
    twice, `value` and `value_1`, which would hide the mistake). The schema lists every field
    depth first, each with its number of children: the top-level ones are the columns."""
    schema = con.execute("SELECT name, num_children FROM parquet_schema(?)", [path]).fetchall()
    names: list[str] = []
    inside = 0  # fields of the current column's nested type still to pass
    for name, children in schema[1:]:  # the first is the schema's root
        if inside:
            inside += (children or 0) - 1
        else:
            names.append(name)
            inside = children or 0
    return names


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_FD_PATH = re.compile(r""" ?["']?/dev/fd/\d+["']?""")
_ERROR_CLASS = re.compile(r"^[A-Za-z ]*Error: ")


def _duckdb_reason(exc: duckdb.Error) -> str:
    """DuckDB's reason, on one line, without its error class or the name it read through."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    text = " ".join(_FD_PATH.sub("", _ERROR_CLASS.sub("", first)).split())
    return reading.printable(text)[:300] or type(exc).__name__


def _column_name(field: str) -> str:
    """A header field as a column name: case, surrounding spaces and a byte-order mark aside."""
    return field.strip().lstrip("\ufeff").lower()


def _header_problem(header: list[str]) -> str | None:
    for name in header:
        if name and header.count(name) > 1:
            return f"column {name!r} appears twice in the header"
    missing = [name for name in REQUIRED_METRIC_COLUMNS if name not in header]
    if missing:
        return "missing required column " + ", ".join(repr(m) for m in missing)
    return None


def _register_files(con: duckdb.DuckDBPyConnection, problems: dict[str, str | None]) -> None:
    """Read each staged file's header (its first record), decide whether the file is usable,
    and move every data row to raw_metrics with its fields mapped by column name. A Parquet
    file read whole registered itself (see _stage_parquet)."""
    registered = {file for (file,) in con.execute("SELECT file FROM files").fetchall()}
    headers = {
        file: (line, [_column_name(f) for f in fields])
        for file, line, fields in con.execute(
            "SELECT file, min(line), arg_min(fields, line) FROM staged GROUP BY file"
        ).fetchall()
    }
    rows = []
    for file, problem in problems.items():
        if file in registered:
            continue
        header_line, header = headers.get(file, (0, []))
        if file not in headers:
            problem = problem or "empty file: no header and no rows"
        problem = problem or _header_problem(header)
        rows.append((file, header_line, header, problem, None))
    insert_rows(con, "files", rows)
    columns = ", ".join(f"s.fields[list_position(f.header, '{name}')]" for name in METRIC_COLUMNS)
    con.execute(
        f"""
        INSERT INTO raw_metrics
        SELECT s.file, s.line, s.fields, len(s.fields), len(f.header), {columns}, f.problem,
               s.unreadable
        FROM staged s JOIN files f ON f.file = s.file AND s.line > f.header_line
        """
    )
    con.execute(
        """
        UPDATE files
        SET problem = CASE WHEN header_line = 0 THEN 'columns only: no rows'
                           ELSE 'header only: no data rows' END
        WHERE problem IS NULL AND file NOT IN (SELECT DISTINCT file FROM raw_metrics)
        """
    )


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return " ".join(text.split())[:300]


def insert_rows(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """Insert Python rows in one statement (executemany is row-at-a-time and slow)."""
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    unnests = ", ".join(f"unnest(${i + 1})" for i in range(len(columns)))
    con.execute(f"INSERT INTO {table} SELECT {unnests}", [list(c) for c in columns])


def load_metrics(
    con: duckdb.DuckDBPyConnection,
    metrics_dir: Path,
    label_dir: str,
    today: date,
    root: Path,
    warnings: list[str],
) -> None:
    """Every `*.csv` and `*.parquet` in the metrics folder → raw_metrics, then validated into
    metrics and rejected by the rules in sql/validate_metrics.sql. Each file is read apart
    from the others: one that cannot be read (a folder, a pipe, a link outside the project,
    a damaged Parquet file, anything that fails) is listed as not usable with the reason,
    and the rest are read as usual."""
    run_sql(con, "create_metric_tables.sql")
    entries = sorted(metrics_dir.iterdir(), key=lambda p: p.name) if metrics_dir.is_dir() else []
    problems: dict[str, str | None] = {}
    for entry in entries:
        label = f"{label_dir}/{reading.printable(entry.name)}"
        if not entry.name.endswith((".csv", ".parquet")):
            warnings.append(f"{label}: not a .csv or .parquet file; not read")
            continue
        stage = _stage_parquet if entry.name.endswith(".parquet") else _stage_file
        problems[label] = reading.refusal(entry, root)
        if problems[label] is None:
            try:
                with reading.opened(entry) as handle:
                    problems[label] = stage(con, handle, label)
            except (OSError, duckdb.Error) as exc:
                _forget(con, label)
                problems[label] = f"could not be read: {_first_line(exc)}"
    _register_files(con, problems)
    con.execute("DROP TABLE staged")
    con.execute(f"SET VARIABLE today = DATE '{today.isoformat()}'")
    con.execute(f"SET VARIABLE first_year = {periods.FIRST_YEAR}")
    con.execute(f"SET VARIABLE last_year = {periods.LAST_YEAR}")
    run_sql(con, "validate_metrics.sql")


# DuckDB takes up to 80 % of the machine's memory by default; with a bound it spills to disk
# instead, so that neither a huge submission nor a national programme takes the machine down.
DUCKDB_MEMORY = "1GB"
NEVER_CHECKPOINT = "1TB"  # of log written, far beyond what any run writes


@contextmanager
def database() -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB database for one run, on disk in a folder of its own in the system's temporary
    folder (TMPDIR), bounded to DUCKDB_MEMORY and spilling beside it; removed when done.

    On disk rather than in memory: an in-memory table is held whole and uncompressed (7 GB at
    10,000 partners), while a table on disk is compressed and DuckDB keeps in memory only the
    blocks in use, reading the others back when asked. The run holds a lock on its folder;
    a folder whose lock nobody holds was left by a killed run and is removed by the next."""
    scratch = Path(tempfile.gettempdir())
    _remove_abandoned(scratch)
    folder = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=scratch))
    try:
        with (folder / LOCK).open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            con = duckdb.connect(str(folder / "figures.duckdb"))
            try:
                con.execute(f"SET memory_limit = '{DUCKDB_MEMORY}'")
                con.execute("SET temp_directory = ?", [str(folder / "spill")])
                # No checkpoints: they make the file whole for a later opening, and this one
                # is never opened again. At national scale they cost seconds each.
                con.execute(f"SET checkpoint_threshold = '{NEVER_CHECKPOINT}'")
                con.execute("PRAGMA disable_checkpoint_on_shutdown")
                yield con
            finally:
                con.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


SCRATCH_PREFIX = "sitegen-figures-"
LOCK = "lock"


def _remove_abandoned(scratch: Path) -> None:
    """Remove the database folders no run holds: a run locks its folder until it ends (a
    lock the kernel releases however the run ends), whatever machine or container it is on."""
    for folder in scratch.glob(f"{SCRATCH_PREFIX}*"):
        try:
            with (folder / LOCK).open("r+") as lock:  # none yet: a run is just starting
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(folder, ignore_errors=True)
        except BlockingIOError:
            continue  # a run is using it
        except OSError:
            continue  # not ours to judge (another user's, gone meanwhile, or starting)


def load_project(
    con: duckdb.DuckDBPyConnection,
    data_dir: Path,
    label_dir: str,
    today: date,
    root: Path | None = None,
) -> LoadSummary:
    """Load every input of a project. `label_dir` is how file names appear in messages;
    nothing outside `root` (the project's folder; by default the data folder) is read."""
    root = (root or data_dir).resolve()
    if not data_dir.is_dir():
        raise InputError(
            reading.printable(str(data_dir.resolve())),
            0,
            None,
            "data folder not found (set [data] dir in sitegen.toml)",
        )
    label_dir = reading.printable(label_dir)
    warnings: list[str] = []
    partners = load_partners(
        con, data_dir / "partners.csv", f"{label_dir}/partners.csv", root, warnings
    )
    kpis = load_kpis(con, data_dir / "kpis.csv", f"{label_dir}/kpis.csv", root)
    targets = load_targets(con, data_dir / "targets.csv", f"{label_dir}/targets.csv", root)
    load_baselines(con, data_dir / "baselines.csv", f"{label_dir}/baselines.csv", root)
    actions, action_rejects = load_actions(
        con, data_dir / "actions.csv", f"{label_dir}/actions.csv", root
    )
    run_sql(con, "create_keys.sql")
    load_metrics(con, data_dir / "metrics", f"{label_dir}/metrics", today, root, warnings)
    return summarise(
        con,
        partners,
        kpis,
        targets,
        warnings,
        (data_dir / "metrics").resolve(),
        actions=actions,
        action_rejects=action_rejects,
    )


def summarise(
    con: duckdb.DuckDBPyConnection,
    partners: int,
    kpis: int,
    targets: int,
    warnings: list[str],
    metrics_dir: Path,
    *,
    actions: int = 0,
    action_rejects: Sequence[str] = (),
) -> LoadSummary:
    """Counts per file and per rejection rule, read back from the tables the load wrote; the
    actions file's counts are passed in (its quarantined rows are kept in no table)."""
    files = [
        FileReport(*row)
        for row in con.execute(
            """
            SELECT f.file, count(r.line), count(r.line) FILTER (r.rule IS NULL),
                   count(r.line) FILTER (r.rule IS NOT NULL), f.problem
            FROM files f LEFT JOIN row_status r USING (file)
            GROUP BY f.file, f.problem ORDER BY f.file
            """
        ).fetchall()
    ]
    read, accepted, rejected, normalised, collapsed = con.execute(
        """
        SELECT count(*), count(*) FILTER (rule IS NULL), count(*) FILTER (rule IS NOT NULL),
               count(*) FILTER (note LIKE '%normalised%'),
               count(*) FILTER (note LIKE '%identical duplicate of%')
        FROM row_status
        """
    ).fetchall()[0]
    rules = [
        (rule, count, examples)
        for rule, count, examples in con.execute(
            """
            WITH numbered AS (
                SELECT rule, file, line, reason,
                       row_number() OVER (PARTITION BY rule ORDER BY file, line) AS n,
                       count(*) OVER (PARTITION BY rule) AS count
                FROM row_status WHERE rule IS NOT NULL
            )
            SELECT rule, any_value(count),
                   list(file || ':' || line || ': ' || reason ORDER BY file, line)
            FROM numbered WHERE n <= 3
            GROUP BY rule ORDER BY any_value(count) DESC, rule
            """
        ).fetchall()
    ]
    return LoadSummary(
        partners,
        kpis,
        targets,
        files,
        read,
        accepted,
        rejected,
        normalised,
        collapsed,
        rules,
        warnings,
        metrics_dir,
        actions,
        list(action_rejects),
    )


def partner_rows(con: duckdb.DuckDBPyConnection, partner_id: str) -> dict[str, int]:
    """Rows read, accepted and rejected that name one partner: what its own site counts."""
    read, accepted, rejected = con.execute(
        """
        SELECT count(*), count(*) FILTER (s.rule IS NULL), count(*) FILTER (s.rule IS NOT NULL)
        FROM row_status s JOIN raw_metrics r USING (file, line)
        WHERE trim(r.partner_id) = ?
        """,
        [partner_id],
    ).fetchall()[0]
    return {"read": read, "accepted": accepted, "rejected": rejected}


RULE_LABELS = {
    "file_problem": "file not usable",
    "unreadable": "row could not be read",
    "field_count": "wrong number of fields",
    "missing_key": "partner_id, kpi_id or period missing",
    "unknown_partner": "unknown partner_id",
    "unknown_kpi": "unknown kpi_id",
    "bad_period": "bad period",
    "wrong_frequency": "period does not match the KPI's frequency",
    "future_period": "period in the future",
    "bad_value": "value not a number",
    "bad_numerator": "numerator not a number",
    "bad_denominator": "denominator not a positive number",
    "missing_counts": "numerator/denominator missing",
    "negative_numerator": "negative numerator",
    "numerator_exceeds_denominator": "numerator greater than denominator",
    "value_mismatch": "value does not match numerator/denominator",
    "bad_flag": "flag not suppressed or not_available",
    "flag_with_figures": "flagged row with figures",
    "out_of_range": "value out of range",
    "conflicting_duplicate": "conflicting duplicates",
}
