"""The `sitegen` command line: parse options, run the pipeline stages, turn errors into one line.

Exit codes: 0 done; 1 data or delivery problems the run reports; 2 usage or configuration error.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import click
import duckdb

from sitegen import project
from sitegen.config import Config, ConfigError, load_config
from sitegen.kpis import KpiSettings, NoDataError, compute
from sitegen.load import RULE_LABELS, InputError, LoadSummary, load_project
from sitegen.model import STATUSES, Model, load_model

PROJECT_OPTION = click.option(
    "--project",
    "project_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default="current directory",
    help="Folder holding sitegen.toml.",
)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Print a user's mistake as one line per problem on stderr and exit 2, never a traceback."""
    try:
        yield
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"Error: {problem}", err=True)
        sys.exit(2)
    except InputError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except NoDataError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sitegen")
def main() -> None:
    """Partner scorecards for a healthcare alliance.

    Reads partner metric CSVs, computes KPIs against commitments and benchmarks, and writes a
    static scorecard site, PDFs and emails.
    """


@main.command()
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
def init(directory: Path) -> None:
    """Create a new scorecard project in DIRECTORY from the sample project.

    DIRECTORY must be new or empty; nothing is ever overwritten.
    """
    if directory.exists() and any(directory.iterdir()):
        click.echo(f"Error: {directory} is not empty; choose a new or empty folder.", err=True)
        sys.exit(2)
    copied = project.copy_sample(directory)
    click.echo(f"Created {directory} ({copied} files).")
    click.echo(f"Next: cd {directory} && sitegen validate && sitegen build")


def _load(config: Config) -> tuple[duckdb.DuckDBPyConnection, LoadSummary]:
    con = duckdb.connect()
    label = (
        str(config.project_dir / config.data.dir)
        if config.project_dir != Path(".")
        else (config.data.dir)
    )
    summary = load_project(con, config.data_dir, label, date.today())
    return con, summary


@main.command()
@PROJECT_OPTION
def validate(project_dir: Path) -> None:
    """Load and check every input file; report what was accepted and rejected.

    Exits 1 when any row was rejected, so that a script can stop before publishing.
    """
    with reported_errors():
        config = load_config(project_dir)
        _, summary = _load(config)
    for line in describe(summary):
        click.echo(line)
    sys.exit(1 if summary.rejected else 0)


def rows(count: int) -> str:
    return f"{count:,} row" if count == 1 else f"{count:,} rows"


def describe(summary: LoadSummary) -> Iterator[str]:
    """The load summary in words, for people reading a terminal or a cron mail."""
    yield (
        f"Reference data: {summary.partners} partners, {summary.kpis} KPIs, "
        f"{summary.targets} partner commitments"
    )
    yield (
        f"Metrics: {len(summary.files)} files, {summary.read:,} rows read: "
        f"{summary.accepted:,} accepted, {summary.rejected:,} rejected"
    )
    if summary.normalised:
        yield f"  {rows(summary.normalised)} accepted after normalising (%, thousands separators)"
    if summary.collapsed:
        yield f"  {rows(summary.collapsed)} identical to an earlier row, collapsed into it"
    problem_files = [f for f in summary.files if f.problem]
    if problem_files:
        yield "Files not usable:"
        for report in problem_files:
            yield f"  {report.file}: {report.problem} ({rows(report.rejected)} rejected)"
    if summary.rules:
        yield "Rejected rows by reason:"
        for rule, count, examples in summary.rules:
            yield f"  {RULE_LABELS.get(rule, rule)}: {count:,}"
            for example in examples:
                yield f"    {example}"


@main.command()
@PROJECT_OPTION
@click.option("--output", "output_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--strict", is_flag=True, help="Exit 1 when any row was rejected.")
def build(project_dir: Path, output_dir: Path | None, strict: bool) -> None:
    """Build the scorecard site into output/ (or --output)."""
    with reported_errors():
        config = load_config(project_dir)
        con, summary = _load(config)
        model = _compute(con, config)
    for line in describe(summary):
        click.echo(line)
    for line in headline(model):
        click.echo(line)
    sys.exit(1 if strict and summary.rejected else 0)


def _compute(con: duckdb.DuckDBPyConnection, config: Config) -> Model:
    settings = KpiSettings(
        grain=config.site.grain,
        period=config.site.period,
        amber_band=config.status.amber_band,
        min_denominator=config.status.min_denominator,
        today=date.today(),
    )
    compute(con, settings)
    return load_model(con)


def headline(model: Model) -> Iterator[str]:
    """The as-of period and what it found, in one short paragraph."""
    cards = model.scorecards.values()
    missing = sorted(c.partner.partner_id for c in cards if not c.submitted)
    counts = {status: sum(c.composite.counts[status] for c in cards) for status in STATUSES}
    yield f"Scorecards for {model.period}: {len(model.partners)} partners, {len(model.kpis)} KPIs"
    yield "  " + ", ".join(f"{n:,} {s.replace('_', ' ')}" for s, n in counts.items())
    if missing:
        yield f"  no submission for {model.period}: {', '.join(missing)}"
