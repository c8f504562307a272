"""A build as a short sequence of named stages: load, kpis, model, site (with its charts
and the PDFs typeset alongside), pdf (the last of them), publish.

Each stage's output is the next one's only input (see DESIGN.md); each is timed, and the
timings go into the manifest so that a nightly run can be compared with the last.
"""

from __future__ import annotations

import gc
import hashlib
import pickle
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb

from sitegen import mail, pdf
from sitegen.config import Config, ConfigError
from sitegen.kpis import KpiSettings, NoDataError, compute
from sitegen.load import RULE_LABELS, LoadSummary, load_project, partner_rows
from sitegen.model import Model, load_model, scoped
from sitegen.narrative import unused_narratives
from sitegen.publish import (
    LOG_START,
    Progress,
    Timings,
    build_time,
    fingerprint,
    locked,
    prune,
    publish,
    read_manifest,
    staging_dir,
    write_log,
    write_manifest,
)
from sitegen.site import Live, write_site
from sitegen.svg import SvgRenderer

PACKAGE = Path(__file__).parent  # its code, templates and fonts shape the output too
# Libraries whose versions shape the pages and PDFs (a new vl-convert may draw differently).
LIBRARIES = ("altair", "vl-convert-python", "typst", "jinja2", "markdown", "nh3")


@dataclass(frozen=True)
class Result:
    period: str
    rejected: int  # rows rejected and files not usable, for --strict
    summary: LoadSummary | None  # None when nothing changed, so nothing was read
    model: Model | None
    written: list[Path]
    timings: Timings
    killed: str | None = None  # the build whose lock this one took over, if one was killed
    unchanged_since: str | None = None  # when the live site, still current, was built
    warnings: tuple[str, ...] = ()  # what was left out without stopping the build
    log: tuple[str, ...] = ()  # this run's lines of the build log, written once published


def load(config: Config, today: date) -> tuple[duckdb.DuckDBPyConnection, LoadSummary]:
    """Stage 1: every input file into DuckDB, rows accepted or rejected."""
    con = duckdb.connect()
    summary = load_project(con, config.data_dir, config.data_label, today, config.project_dir)
    if summary.no_metrics:
        con.close()
        raise NoDataError(summary.no_metrics)
    return con, summary


def score(con: duckdb.DuckDBPyConnection, config: Config, today: date) -> str:
    """Stage 2: every KPI figure, in SQL; returns the as-of period."""
    settings = KpiSettings(
        grain=config.site.grain,
        period=config.site.period,
        amber_band=config.status.amber_band,
        min_denominator=config.status.min_denominator,
        today=today,
    )
    return compute(con, settings)


def read_model(config: Config, today: date) -> Model:
    """Load, kpis and model, for a command that needs the figures but writes no site."""
    con, summary = load(config, today)
    try:
        score(con, config, today)
        return load_model(con, summary)
    finally:
        con.close()


def email(
    config: Config,
    output: Path,
    partner: str | None,
    resend: bool,
    outbox: Path | None,
    environ: Mapping[str, str],
) -> mail.Report:
    """Each partner's message for the period the live site was built for, sent, or with an
    `outbox` (a dry run) written there as .eml files. Holds the output's lock, so no build
    swaps the PDFs meanwhile and no second run sends the same messages."""
    login = None if outbox else mail.credentials(config, environ)
    with locked(output, wait=False):
        live = read_manifest(output)
        if not live:
            raise mail.MailError(f"no site in {output}: run `sitegen build` first")
        config = replace(config, site=replace(config.site, period=live["period"]))
        model = read_model(config, date.today())
        now = datetime.now(UTC)
        batch, report = mail.prepare(model, config, output, partner, resend, now)
        if outbox:
            mail.write_outbox(batch, outbox, report)
        else:
            mail.deliver(batch, mail.Courier(config, login), output, report)
    return report


def run(
    config: Config,
    output: Path,
    jobs: int,
    today: date | None = None,
    with_pdf: bool = True,
    wait: bool = False,
    progress: Progress | None = None,
    partner: str | None = None,
) -> Result:
    """The whole build, one at a time per output: everything is written into a folder of its
    own, which is published (atomically) only once complete; a failed build publishes
    nothing and leaves no folder behind. With `partner`, the site is for that partner's eyes
    only (see model.scoped)."""
    today = today or date.today()
    with_pdf = with_pdf and config.pdf.enabled
    with locked(output, wait) as killed:
        prune(output)  # what a killed build left
        inputs = inputs_key(config, today, with_pdf, partner)
        live = read_manifest(output)
        if output.is_symlink() and live.get("inputs") == inputs:
            return _unchanged(live, killed)
        staging = staging_dir(output)
        try:
            try:
                result = _build(
                    config, output, staging, jobs, today, with_pdf, progress, inputs, partner
                )
            finally:
                gc.unfreeze()  # `serve` builds again in the same process
            publish(staging, output)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        write_log(output, list(result.log))
        prune(output)
    return replace(result, killed=killed)


def inputs_key(config: Config, today: date, with_pdf: bool, partner: str | None = None) -> str:
    """What the output depends on: the project's files, this package, and the settings (the
    reporting period, PDFs or not, today's date for late submissions, the build's date that
    PDFs print)."""
    project = config.project_dir
    sources = [config.path, config.data_dir, project / "content", project / "templates", PACKAGE]
    settings = {
        "site": config.site,
        "status": config.status,
        "pdf": config.pdf if with_pdf else None,
        "partner": partner,
        "today": today,
        "date": build_time().date(),
    }
    return fingerprint(sources, settings, project)


def live_site(config: Config, output: Path, model: Model, today: date, with_pdf: bool) -> Live:
    """The live site and what every page shares, for keeping pages whose inputs are unchanged:
    this package and the libraries that draw and typeset, the project's templates and
    configuration, the dates, and the partner and KPI lists every page shows."""
    project = config.project_dir
    settings = {
        "libraries": {name: version(name) for name in LIBRARIES},
        "pdf": with_pdf,
        "today": today,
        "date": build_time().date(),
    }
    shared = fingerprint([config.path, project / "templates", PACKAGE], settings, project)
    lists = pickle.dumps((model.scope, model.period, model.partners, model.kpis), protocol=5)
    keys = read_manifest(output).get("page_keys", {})
    return Live(output, hashlib.sha256(shared.encode() + lists).digest(), keys)


def _unchanged(live: dict[str, Any], killed: str | None) -> Result:
    """The result of a build that found the live site current: nothing is read or written."""
    rows = live["rows"]
    return Result(
        period=live["period"],
        rejected=rows["rejected"] + live.get("unusable_files", 0),
        summary=None,
        model=None,
        written=[],
        timings=Timings(),
        killed=killed,
        unchanged_since=live["generated_at"],
    )


def _build(
    config: Config,
    output: Path,
    staging: Path,
    jobs: int,
    today: date,
    with_pdf: bool,
    progress: Progress | None,
    inputs: str,
    partner: str | None,
) -> Result:
    """The stages, writing into `staging`; `output` is the live site, read for what to keep."""
    timings = Timings()
    with timings.stage("load"):
        con, summary = load(config, today)
    with timings.stage("kpis"):
        score(con, config, today)
    rows = {"read": summary.read, "accepted": summary.accepted, "rejected": summary.rejected}
    with timings.stage("model"):
        model = load_model(con, summary, own_site=partner is not None)
        if partner is not None:
            if partner not in model.scorecards:
                raise ConfigError([f"--partner: no partner with id {partner!r} in partners.csv"])
            rows = partner_rows(con, partner)  # the alliance's totals are not its to see
            model = scoped(model, partner, rows)
    con.close()  # the model holds all the rest needs; DuckDB's ~700 MB (1,000 partners) go
    gc.freeze()  # the model lives as long as the build: collections need not walk it again
    cache_dir = config.project_dir / ".sitegen-cache"
    renderer = SvgRenderer(cache_dir / "charts", jobs, progress)
    generated = build_time()
    writer = pdf.PdfWriter(generated, cache_dir / "pdf", jobs, progress)
    pdfs = pdf.PdfStage(writer, config, model, staging)
    with timings.stage("site"):
        # the PDFs are typeset as the pages are written, on threads beside the chart workers
        site = write_site(
            model,
            config,
            staging,
            renderer,
            cache_dir,
            generated,
            with_pdf,
            live_site(config, output, model, today, with_pdf),
            pdfs.page_written if with_pdf else None,
        )
    written = site.files
    if with_pdf:
        with timings.stage("pdf"):
            written += pdfs.finish()
    facts = {
        "generated_at": generated.isoformat(),
        "period": model.period,
        "rows": rows,
        **({"unusable_files": summary.unusable} if partner is None else {}),
        "partners": len(model.partners),
        "charts": {
            "drawn": renderer.drawn,
            "reused": renderer.reused,
            "draw_cpu_seconds": round(renderer.draw_seconds, 3),
        },
        "pdfs": {
            "made": writer.made,
            "reused": writer.reused,
            "typeset_seconds": round(writer.seconds, 3),
        },
        "pages_kept": site.kept,
        "timings": timings.stages,
        "inputs": inputs,
        "page_keys": site.keys,
    }
    written.append(write_manifest(staging, facts, output))
    warnings = [*summary.warnings, *unused_narratives(config.project_dir / "content", model)]
    problems = summary.rejected + summary.unusable
    log = log_lines(config, output, summary, facts)
    return Result(
        model.period,
        problems,
        summary,
        model,
        written,
        timings,
        warnings=tuple(warnings),
        log=tuple(log),
    )


def log_lines(
    config: Config, output: Path, summary: LoadSummary, facts: dict[str, Any]
) -> list[str]:
    """This run's part of the build log: what was read, what was made, how long it took."""
    charts, pdfs = facts["charts"], facts["pdfs"]
    lines = [
        f"{LOG_START}{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC ==",
        f"project {config.project_dir.resolve()}, output {output.absolute()}",
        f"period {facts['period']}",
        f"rows read {summary.read:,}, accepted {summary.accepted:,}, rejected {summary.rejected:,}",
        *(f"  {RULE_LABELS.get(rule, rule)}: {count:,}" for rule, count, _ in summary.rules),
        f"partners {facts['partners']:,}; charts drawn {charts['drawn']:,}, reused "
        f"{charts['reused']:,}; PDFs made {pdfs['made']:,}, reused {pdfs['reused']:,}",
        "stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in facts["timings"].items()),
    ]
    return lines
