"""The period archive: every published as-of period's site kept, as it was published, at
`periods/<period>/` of the live site (DESIGN.md, "Review cycles").

Files are hard links: an archive costs the space of the files that differ from every other
copy, nothing for the rest. A build carries the live site's archives into its own folder
(links again) and adds its own period's, so an archive is published, atomically, with the
site it belongs to: a build that fails or is killed leaves the live site and its archives
as they were. A build writes only new files, into a folder of its own that nothing else
links into before it is complete, so a link never sees a later build's bytes.

An archive belongs to an audience: the alliance's site, or one partner's own site (its
manifest's `scope`). A build reads and carries only the archives of its own audience, and
only folders named for the period their manifest gives: a partner's site built into a folder
that once held another's never shows the other's archive.

Each archive also holds its record, the figures it published (`figures.json`) and the bytes
of the metric files they came from (`files.json`, SHA-256 per file): what a later build
compares its own figures with to list restatements (kpi_review.sql). A partner's own site
records its own figures only, and no file: the alliance's files are not its to see.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import duckdb

from sitegen import periods
from sitegen.errors import NoHardLinks
from sitegen.model import Archived
from sitegen.publish import sha256

ARCHIVE = "periods"  # the folder of the live site that holds the archives
FIGURES, FILES = "figures.json", "files.json"  # the record: one JSON object per line
NAV = "periods.html"  # each archive's own page of where the other periods are


def archived(live: Path, scope: str | None) -> list[Archived]:
    """The live site's archived periods for the audience `scope` (None: the alliance's),
    oldest first, read from each one's manifest; a folder not named for its manifest's
    period, or of another audience, is not an archive of this site's and is left alone."""
    found = []
    for manifest in sorted((live / ARCHIVE).glob("*/manifest.json")):
        try:
            facts = json.loads(manifest.read_text(encoding="utf-8"))
            period = facts["period"]
            if (
                isinstance(period, str)
                and periods.problem(period) is None
                and manifest.parent.name == period
                and facts.get("scope") == scope
            ):
                found.append(Archived(period, str(facts["generated_at"])))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not an archive this program made: left alone, not listed
    return sorted(found, key=lambda a: periods.start(a.period))


def read_records(
    con: duckdb.DuckDBPyConnection,
    live: Path | None,
    data_dir: Path,
    data_label: str,
    scope: str | None = None,
) -> None:
    """Into DuckDB: the live archives of the audience `scope` (archived_periods, and their
    records: archived_figures, archived_files) and the SHA-256 of each metric file this
    build reads (input_files), for kpi_review.sql. A record that cannot be read is skipped:
    it restates nothing, and its site stays. Without a live site (None), no archives."""
    prefix = f"{data_label}/"
    con.execute("CREATE OR REPLACE TABLE input_files (file VARCHAR, name VARCHAR, sha256 VARCHAR)")
    rows = []
    for (label,) in con.execute("SELECT file FROM files WHERE problem IS NULL").fetchall():
        name = label.removeprefix(prefix)
        try:
            digest = sha256(data_dir / name)
        except OSError:
            digest = None  # gone or renamed since the load read it: counted as changed
        rows.append((label, name, digest))
    if rows:
        con.executemany("INSERT INTO input_files VALUES (?, ?, ?)", rows)
    con.execute("SET VARIABLE data_prefix = ?", [prefix])
    con.execute(
        "CREATE OR REPLACE TABLE archived_figures (as_of VARCHAR, as_of_start DATE, "
        "partner_id VARCHAR, kpi_id VARCHAR, period VARCHAR, value DOUBLE, sources VARCHAR[])"
    )
    con.execute(
        "CREATE OR REPLACE TABLE archived_files (as_of VARCHAR, name VARCHAR, sha256 VARCHAR)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE archived_periods "
        "(period VARCHAR, period_start DATE, kind VARCHAR, generated_at VARCHAR)"
    )
    for entry in archived(live, scope) if live else []:
        con.execute(
            "INSERT INTO archived_periods VALUES (?, ?, ?, ?)",
            [
                entry.period,
                periods.start(entry.period),
                periods.kind(entry.period),
                entry.generated_at,
            ],
        )
        folder = live / ARCHIVE / entry.period
        try:
            _read_record(con, folder, entry.period)
        except duckdb.Error:
            continue


def _read_record(con: duckdb.DuckDBPyConnection, folder: Path, period: str) -> None:
    figures, files = str(folder / FIGURES), str(folder / FILES)
    if not os.path.isfile(figures):
        return
    start = periods.start(period)
    con.execute(
        """
        INSERT INTO archived_figures
        SELECT $period, $start, partner_id, kpi_id, period, value, sources
        FROM read_json($path, format = 'newline_delimited',
                       columns = {'partner_id': 'VARCHAR', 'kpi_id': 'VARCHAR',
                                  'period': 'VARCHAR', 'value': 'DOUBLE',
                                  'sources': 'VARCHAR[]'})
        """,
        {"period": period, "start": start, "path": figures},
    )
    if os.path.isfile(files):
        con.execute(
            """
            INSERT INTO archived_files
            SELECT $period, name, sha256
            FROM read_json($path, format = 'newline_delimited',
                           columns = {'name': 'VARCHAR', 'sha256': 'VARCHAR'})
            """,
            {"period": period, "path": files},
        )


def write_record(con: duckdb.DuckDBPyConnection, folder: Path, scope: str | None) -> None:
    """This build's record into its archive folder: the figures it publishes for its as-of
    period with the metric rows each comes from, and the SHA-256 of each metric file. A
    partner's own site (`scope`) records its own figures, without their rows, and no file:
    the alliance's file names are not its to see."""
    folder.mkdir(parents=True, exist_ok=True)
    figures, files = folder / FIGURES, folder / FILES
    if scope is None:
        chosen = "SELECT * FROM published_figures"
    else:
        chosen = (
            "SELECT * REPLACE (CAST([] AS VARCHAR[]) AS sources) FROM published_figures "
            f"WHERE partner_id = '{_quoted_text(scope)}'"
        )
    con.execute(
        f"COPY ({chosen} ORDER BY partner_id, kpi_id) TO '{_quoted_text(str(figures))}' "
        "(FORMAT json)"
    )
    if scope is None:
        con.execute(
            f"COPY (SELECT name, sha256 FROM input_files ORDER BY name) "
            f"TO '{_quoted_text(str(files))}' (FORMAT json)"
        )


def _quoted_text(text: str) -> str:
    """Text inside an SQL string literal (COPY takes no parameters for its target)."""
    return text.replace("'", "''")


def link_site(staging: Path, live: Path, period: str, nav: str) -> None:
    """Archive the site in `staging` as `periods/<period>/`: a hard link to every file of
    it but the archives themselves and the list of periods (whose links lead from the
    site's root), and the archive's own `periods.html` (`nav`), which leads back. The files
    only the archive has (its record and that page) are linked from the live site's archive
    of the period when their bytes are the same, so that an unchanged file keeps its time."""
    folder = staging / ARCHIVE / period
    for path in sorted(staging.rglob("*")):
        relative = path.relative_to(staging)
        if relative.parts[0] == ARCHIVE or str(relative) == NAV or not path.is_file():
            continue
        target = folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        _link(path, target)
    (folder / NAV).write_text(nav, encoding="utf-8")
    before = live / ARCHIVE / period
    for name in (NAV, FIGURES, FILES):
        _keep_same(before / name, folder / name)


def _keep_same(old: Path, new: Path) -> None:
    """Put `old` in place of `new` (a hard link) when their bytes are the same."""
    try:
        if old.read_bytes() != new.read_bytes():
            return
        link = new.with_name(f".{new.name}.link")
        os.link(old, link)
    except OSError:  # not there, or another file system: the new copy will do
        return
    os.replace(link, new)


def carry(live: Path, staging: Path, periods_kept: list[str]) -> None:
    """Link the live site's archives of these periods (those of this site's audience, but
    the one this build archives anew) into `staging`."""
    root = live / ARCHIVE
    for period in periods_kept:
        folder = root / period
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                target = staging / ARCHIVE / path.relative_to(root)
                target.parent.mkdir(parents=True, exist_ok=True)
                _link(path, target)


def _link(source: Path, target: Path) -> None:
    """A hard link, never a copy that would double the archive's space silently."""
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP):
            raise NoHardLinks(
                f"{target.parent}: the output's file system cannot hard-link files "
                f"({exc.strerror}); the period archive needs hard links: build to a local "
                "disk (ext4, xfs, btrfs, apfs)"
            ) from None
        raise
