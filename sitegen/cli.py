"""The `sitegen` command line: parse options, run the pipeline stages, turn errors into one line.

Exit codes: 0 done; 1 data or delivery problems the run reports; 2 usage or configuration error.
"""

from __future__ import annotations

import os
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import click
import duckdb
from click.decorators import FC

from sitegen import project
from sitegen.archive import read_records
from sitegen.config import Config, load_config, period_problem
from sitegen.errors import ConfigError, SitegenError
from sitegen.kpis import KpiSettings, unanswered
from sitegen.load import RULE_LABELS, LoadSummary, database, load_project
from sitegen.mail import Report, outbox_path
from sitegen.model import STATUSES, Model
from sitegen.publish import Progress, builds_dir
from sitegen.serve import start_server, watch

if TYPE_CHECKING:
    from rich.progress import TaskID

    from sitegen.build import Result

PROJECT_OPTION = click.option(
    "--project",
    "project_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("."),
    show_default="current directory",
    help="Folder holding sitegen.toml.",
)


class ProjectCommand(click.Command):
    """A command that takes the project as `--project DIR`: a folder given as a plain
    argument (`sitegen validate alliance`) gets a hint instead of click's bare "unexpected
    extra argument"."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("context_settings", {})["allow_extra_args"] = True
        super().__init__(*args, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        if ctx.args:
            stray = shlex.quote(ctx.args[0])
            ctx.fail(f"unexpected argument {stray}: did you mean --project {stray}?")
        return rest


def output_option(help_text: str) -> Callable[[FC], FC]:
    return click.option(
        "--output",
        "output_dir",
        type=click.Path(path_type=Path, file_okay=False),
        help=f"{help_text}  [default: output/ in the project]",
    )


def _pipeline() -> ModuleType:
    """The build stages, imported only by the commands that build: `validate` stays quick, and
    so does every chart worker, which imports this module when it starts."""
    from sitegen import build

    return build


# Errors told in one line and exit 1 that are not sitegen's own: a folder that cannot be
# written, a disk that is full, DuckDB out of memory even after spilling to disk.
SYSTEM_ERRORS = (OSError, duckdb.Error)


def error_lines(exc: Exception) -> list[str]:
    """What to tell the user about an error: one line per problem, never a traceback."""
    if isinstance(exc, SitegenError):
        return exc.lines()
    if isinstance(exc, duckdb.Error):
        return [f"DuckDB: {(str(exc).strip().splitlines() or [type(exc).__name__])[0]}"]
    if isinstance(exc, OSError):  # the live site is left as it was
        where = f"{exc.filename}: " if exc.filename else ""
        return [f"{where}{exc.strerror or exc}"]
    return [str(exc)]


def exit_code(exc: Exception) -> int:
    return exc.exit_code if isinstance(exc, SitegenError) else 1


@contextmanager
def reported_errors() -> Iterator[None]:
    """Print an error as one line per problem on stderr and exit with its code (2 for a
    mistake in what the user gave, 1 for a problem the run reports), never a traceback."""
    try:
        yield
    except (SitegenError, *SYSTEM_ERRORS) as exc:
        for line in error_lines(exc):
            click.echo(f"Error: {line}", err=True)
        sys.exit(exit_code(exc))


@contextmanager
def progress_bars(show: bool) -> Iterator[Progress | None]:
    """Progress bars for the long stages on a terminal; none otherwise, so that what cron
    mails is the short summary alone."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as Bars

    labels = {"charts": "Drawing charts", "PDFs": "Typesetting PDFs"}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Bars(*columns, TimeRemainingColumn(), console=Console(stderr=True)) as bars:
        tasks: dict[str, TaskID] = {}

        def update(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bars.add_task(labels.get(what, what), total=total)
            bars.update(tasks[what], completed=done, total=total)

        yield update


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
    where = shlex.quote(str(directory))
    click.echo(
        "Next, check the data and build the site (validate exits 1 on the sample: it has "
        "bad rows on purpose):"
    )
    click.echo(f"  sitegen validate --project {where}; sitegen build --project {where}")


@main.command(cls=ProjectCommand)
@PROJECT_OPTION
def validate(project_dir: Path) -> None:
    """Load and check every input file; report what was accepted and rejected.

    Exits 1 when any row was rejected (an action row quarantined too) or any file could not
    be read, so that a script can stop before publishing. Warns of each KPI missed with
    neither a note nor an action in actions.csv (a warning: exit 0 all the same).
    """
    with reported_errors():
        config = load_config(project_dir)
        with database() as con:
            summary = load_project(
                con, config.data_dir, config.data_label, date.today(), config.project_dir
            )
            misses = []
            if not summary.no_metrics:
                read_records(con, None, config.data_dir, config.data_label)
                misses = unanswered(con, KpiSettings.of(config, date.today()))
    for line in [*describe(summary), *describe_actions(summary), *describe_misses(misses)]:
        click.echo(line)
    if summary.no_metrics:
        click.echo(f"Error: {summary.no_metrics}", err=True)
    failed = summary.rejected or summary.unusable or summary.no_metrics or summary.action_rejects
    sys.exit(1 if failed else 0)


def usable_cores() -> int:
    """The cores this process may run on (a container or `taskset` may allow fewer than the
    machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def describe_misses(misses: list[tuple[str, str, str, list[str]]]) -> Iterator[str]:
    """KPIs missed with neither a note nor an action (kpis.unanswered), partner by partner:
    a warning, not a failure."""
    if not misses:
        return
    yield "Missed, with neither a note nor an action in actions.csv (a warning):"
    for name, pid, period, kpis in misses:
        yield f"  {name} ({pid}), {period}: {'; '.join(kpis)}"


def describe_actions(summary: LoadSummary) -> Iterator[str]:
    """The actions file's rows in words, for validate: nothing when there is none, so that a
    project without the file reads as before."""
    quarantined = len(summary.action_rejects)
    if not summary.actions and not quarantined:
        return
    yield (
        f"Actions and notes: {rows(summary.actions + quarantined)} read: "
        f"{summary.actions:,} accepted, {quarantined:,} quarantined"
    )
    if quarantined:
        yield "Quarantined action rows:"
        yield from (f"  {reject}" for reject in summary.action_rejects)


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
    if summary.warnings:
        yield "Left out, the run goes on:"
        yield from (f"  {warning}" for warning in summary.warnings)
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


def build_summary(result: Result, output: Path) -> Iterator[str]:
    """What a build tells its user (or cron's mail): what was read and made, or that the live
    site was already current."""
    if result.summary is None or result.model is None:
        yield (
            f"Nothing changed since the build of {result.unchanged_since}: "
            f"{output} is current (scorecards for {result.period})."
        )
        return
    yield from describe(result.summary)
    yield from headline(result.model)
    yield f"Wrote {len(result.written):,} files to {output}"
    review = result.model.review
    if review and review.anew:
        yield f"Archived {result.period} as published: periods/{result.period}/"
    if result.archived and review:
        restated = sum(1 for r in review.restatements if r.as_of == result.period)
        when = result.archived.replace("T", " ")[:16] + " UTC"
        figures = "figure" if restated == 1 else "figures"
        yield (
            f"{result.period} is archived as published on {when}: this build is live, "
            f"periods/{result.period}/ keeps what was published; {restated} {figures} "
            "restated since"
        )


@main.command(cls=ProjectCommand)
@PROJECT_OPTION
@output_option("Where to write the site.")
@click.option("--period", help="Period to report, e.g. 2025-09; overrides [site] period.")
@click.option(
    "--partner",
    "partner_id",
    metavar="ID",
    help="Build a site for this partner's eyes only (its own figures, anonymous peer "
    "statistics); needs --output.",
)
@click.option("--strict", is_flag=True, help="Exit 1 when any row was rejected.")
@click.option("--no-pdf", is_flag=True, help="Skip the PDFs (also [pdf] enabled = false).")
@click.option(
    "--wait", is_flag=True, help="If another build of this output is running, wait for it."
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=usable_cores,
    show_default="all cores",
    help="Worker processes drawing charts and threads typesetting PDFs; 1: all in the build's "
    "own process.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print errors only.")
@click.option("-v", "--verbose", is_flag=True, help="Also print how long each stage took.")
def build(
    project_dir: Path,
    output_dir: Path | None,
    period: str | None,
    partner_id: str | None,
    strict: bool,
    no_pdf: bool,
    wait: bool,
    jobs: int,
    quiet: bool,
    verbose: bool,
) -> None:
    """Build the scorecard site into output/ (or --output).

    Loads and checks the data, computes every KPI, draws the charts and writes the pages,
    downloads, PDFs, manifest and build.log into a folder of its own, then swaps it in for
    the live site in one step. One build runs at a time per output; a second one exits 1
    (or waits, with --wait).
    """
    with reported_errors():
        if partner_id and not output_dir:
            raise ConfigError(
                ["--partner needs --output DIR: a partner's site must not replace the alliance's"]
            )
        config = load_config(project_dir)
        if period:
            config = with_period(config, period)
        output = output_dir or config.project_dir / "output"
        if partner_id and output.resolve() == (config.project_dir / "output").resolve():
            raise ConfigError(["--partner: --output must not be the alliance's site (output/)"])
        with progress_bars(not quiet and sys.stderr.isatty()) as progress:
            result = _pipeline().run(
                config,
                output,
                jobs,
                with_pdf=not no_pdf,
                wait=wait,
                progress=progress,
                partner=partner_id,
            )
    if result.killed:
        click.echo(f"Note: the previous build did not finish ({result.killed}).", err=True)
    if not quiet:
        for line in result.warnings:
            click.echo(f"Warning: {line}", err=True)
    if not quiet:
        for line in build_summary(result, output):
            click.echo(line)
    if verbose:
        stages = ", ".join(
            f"{name} {seconds:.2f} s" for name, seconds in result.timings.stages.items()
        )
        click.echo(f"Stages: {stages}")
    sys.exit(1 if strict and result.rejected else 0)


@main.command(cls=ProjectCommand)
@PROJECT_OPTION
@output_option("The built site whose PDFs to send.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Write the messages as .eml files (to --outbox, or .output.outbox/ beside the "
    "output, never into the site); send nothing.",
)
@click.option(
    "--outbox",
    "outbox_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where --dry-run writes the messages.",
)
@click.option("--partner", "partner_id", metavar="ID", help="Send to this partner only.")
@click.option("--resend", is_flag=True, help="Send again what was already sent for the period.")
@click.option("-q", "--quiet", is_flag=True, help="Print problems and errors only.")
def email(
    project_dir: Path,
    output_dir: Path | None,
    dry_run: bool,
    outbox_dir: Path | None,
    partner_id: str | None,
    resend: bool,
    quiet: bool,
) -> None:
    """Email each partner its scorecard PDF for the period the site was built for.

    One message per partner, to its contacts in partners.csv only, with its own PDF. SMTP
    settings come from [email] in sitegen.toml, the login from the environment variables it
    names. A ledger beside the output records each message sent, so a re-run sends only what
    was not sent; exit 1 if any partner or address was left out.
    """
    with reported_errors():
        config = load_config(project_dir)
        output = output_dir or config.project_dir / "output"
        if outbox_dir and not dry_run:
            raise ConfigError(["--outbox is where --dry-run writes: add --dry-run"])
        outbox = dry_run_outbox(output, outbox_dir) if dry_run else None
        report = _pipeline().email(config, output, partner_id, resend, outbox, os.environ)
    if not quiet:
        for line in mail_summary(report, outbox, config):
            click.echo(line)
    for line in report.problems:
        click.echo(f"Problem: {line}", err=True)
    sys.exit(1 if report.problems else 0)


def dry_run_outbox(output: Path, chosen: Path | None) -> Path:
    """Where a dry run writes: `--outbox`, else beside the output; never inside the published
    site, where the web server would serve every partner's PDF and contacts."""
    outbox = chosen or outbox_path(output)
    site = output.resolve()
    if outbox.resolve().is_relative_to(site) or outbox.resolve().is_relative_to(
        builds_dir(output).resolve()
    ):
        raise ConfigError([f"--outbox {outbox}: must not be inside the published site"])
    return outbox


def mail_summary(report: Report, outbox: Path | None, config: Config) -> Iterator[str]:
    if outbox is not None:
        yield (
            f"Dry run: wrote {len(report.outbox):,} messages for {report.period} to "
            f"{outbox}; nothing was sent."
        )
    elif report.sent:
        where = f"{config.email.smtp_host}:{config.email.smtp_port}"
        yield f"Sent {len(report.sent):,} messages for {report.period} via {where}."
    else:
        yield f"Nothing to send for {report.period}."
    if report.already:
        yield f"Already sent before: {len(report.already):,} (--resend sends them again)."


@main.command(cls=ProjectCommand)
@PROJECT_OPTION
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
def serve(project_dir: Path, port: int) -> None:
    """Build, serve the site on 127.0.0.1 and rebuild when data, content or templates change.

    For previewing; stop it with Ctrl-C. The site is built into output/ as `sitegen build` does.
    """
    with reported_errors():
        config = load_config(project_dir)
        output = config.project_dir / "output"
        _pipeline().run(config, output, usable_cores())
    server = start_server(output, port)
    click.echo(f"Serving {output} at http://127.0.0.1:{server.server_port}/index.html")
    click.echo("Watching data, content, templates and sitegen.toml; Ctrl-C to stop.")
    watched = [config.path, config.data_dir, project_dir / "content", project_dir / "templates"]

    def rebuild() -> None:
        try:
            fresh = load_config(project_dir)
            result = _pipeline().run(fresh, output, usable_cores())
            click.echo(f"Rebuilt: scorecards for {result.period}")
        except (SitegenError, *SYSTEM_ERRORS) as exc:
            click.echo("Not rebuilt: " + "; ".join(error_lines(exc)), err=True)

    stop = threading.Event()
    try:
        watch(watched, rebuild, stop)
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.shutdown()


def with_period(config: Config, period: str) -> Config:
    """The config with [site] period replaced, validated like the file's own value."""
    problem = period_problem(period, config.site.grain)
    if problem:
        raise ConfigError([f"--period: {problem}"])
    return replace(config, site=replace(config.site, period=period))


def headline(model: Model) -> Iterator[str]:
    """The as-of period and what it found, in one short paragraph."""
    cards = model.scorecards.values()
    missing = sorted(c.partner.partner_id for c in cards if not c.submitted)
    counts = {status: sum(c.composite.counts[status] for c in cards) for status in STATUSES}
    yield f"Scorecards for {model.period}: {len(model.partners)} partners, {len(model.kpis)} KPIs"
    yield "  " + ", ".join(f"{n:,} {s.replace('_', ' ')}" for s, n in counts.items())
    if missing:
        yield f"  no submission for {model.period}: {', '.join(missing)}"
