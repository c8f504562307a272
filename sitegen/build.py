"""A build as a short sequence of named stages: load, kpis, model, plan (what the live site
keeps), then views, drawing, pages and typesetting (a batch of views at a time), publish
(the manifest) and archive (the site of the period kept at periods/<period>/).

Each stage's output is the next one's only input (see DESIGN.md); each is timed, and the
timings go into the manifest so that a nightly run can be compared with the last. Drawing
and typesetting run in workers beside the rest: their stage times are what the build waited
for them, their CPU seconds are in the manifest's `charts` and `pdfs`; `timings_cpu` holds
the CPU the build's own process spent in each stage (each stage's own with --jobs 1).
"""

from __future__ import annotations

import gc
import hashlib
import pickle
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment

from sitegen import archive, mail, pdf, periods, site
from sitegen.config import Config
from sitegen.errors import MailError, NoDataError, UnknownPartner
from sitegen.kpis import MIN_PEERS, KpiSettings, compute, review
from sitegen.load import RULE_LABELS, LoadSummary, database, load_project, partner_rows
from sitegen.model import (
    Cards,
    Model,
    Restatement,
    Review,
    filled,
    load_model,
    read_funnels,
    scoped,
)
from sitegen.narrative import unused_narratives
from sitegen.publish import (
    LOG_START,
    Keeper,
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
from sitegen.svg import Drawer, Drawing
from sitegen.templating import environment
from sitegen.views.common import ChartView
from sitegen.views.plan import Planned, plan
from sitegen.views.review import ArchiveView

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
    archived: str | None = None  # when the archive of a period rebuilt was published
    log: tuple[str, ...] = ()  # this run's lines of the build log, written once published


@contextmanager
def load(
    config: Config, today: date, live: Path | None = None, scope: str | None = None
) -> Iterator[tuple[duckdb.DuckDBPyConnection, LoadSummary]]:
    """Stage 1: every input file into DuckDB (a database of the run's own, removed after),
    rows accepted or rejected; and the records of the live site's archived periods (`live`:
    the output, None for none) of its audience (`scope`: a partner's own site, None for the
    alliance's)."""
    with database() as con:
        summary = load_project(con, config.data_dir, config.data_label, today, config.project_dir)
        if summary.no_metrics:
            raise NoDataError(summary.no_metrics)
        archive.read_records(con, live, config.data_dir, config.data_label, scope)
        yield con, summary


def score(
    con: duckdb.DuckDBPyConnection, config: Config, today: date, own_site: bool = False
) -> str:
    """Stage 2: every KPI figure, in SQL, and the review of them; returns the as-of period."""
    settings = KpiSettings.of(config, today)
    period = compute(con, settings)
    review(con, settings, own_site)
    return period


def read_model(config: Config, today: date) -> Model:
    """Load, kpis and model with every partner's series, for a command or benchmark that
    makes views but writes no site."""
    with load(config, today) as (con, summary):
        score(con, config, today)
        return filled(con, load_model(con, summary))


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
    swaps the site meanwhile and no second run sends the same messages.

    A partner's message carries its own PDF, with its own small figures (it owns them): the
    very PDF its own site (`build --partner`) holds, made here the way that build makes it,
    dated as the live site is."""
    login = None if outbox else mail.credentials(config, environ)
    with locked(output, wait=False):
        live = read_manifest(output)
        if not live:
            raise MailError(f"no site in {output}: run `sitegen build` first")
        config = replace(config, site=replace(config.site, period=live["period"]))
        generated = datetime.fromisoformat(live["generated_at"])
        cache_dir = config.project_dir / ".sitegen-cache"
        with load(config, date.today(), output) as (con, summary):
            score(con, config, date.today())
            # every partner's results at once: each message is checked against the live site
            model = filled(con, load_model(con, summary), series=False)
            with (
                Drawer(cache_dir / "charts") as drawer,
                pdf.Typesetter(generated, cache_dir / "pdf") as typesetter,
            ):
                own_model = load_model(con, summary, own_site=True)
                cards = Cards(con, own_model.kpis, own_site=True)
                when = generated.strftime("%Y-%m-%d %H:%M UTC")
                templates = pdf.read_templates(config.project_dir)  # once, not per partner
                own = OwnPdfs(config, con, own_model, cards, drawer, typesetter, templates, when)
                now = datetime.now(UTC)
                batch, report = mail.prepare(model, config, output, partner, resend, now, own.pdf)
        if outbox:
            mail.write_outbox(batch, outbox, report)
        else:
            mail.deliver(batch, mail.Courier(config, login), output, report)
    return report


@dataclass
class OwnPdfs:
    """Each partner's own PDF, made on demand as its own site's build makes it: the scoped
    model, the planned partner view, its charts drawn and typeset (from the caches when an
    earlier build made them)."""

    config: Config
    con: duckdb.DuckDBPyConnection
    model: Model  # read with own_site=True
    cards: Cards  # read with own_site=True
    drawer: Drawer
    typesetter: pdf.Typesetter
    templates: pdf.Templates
    when: str  # the live site's build time, as its pages say it

    def pdf(self, partner_id: str) -> bytes:
        # a PDF shows no funnel: the KPI pages do
        [card] = self.cards.fill([self.model.scorecards[partner_id]], series=False)
        model = scoped(self.model, card, partner_rows(self.con, partner_id), {})
        units = plan(model, self.config, self.when, True, self.cards)
        [unit] = [u for u in units if u.kind == "partner"]
        view = unit.make()
        charts = pdf.pdf_charts(view)
        self.drawer.draw((c.digest, c.spec, c.id) for c in charts)
        svg = {c.digest: self.drawer.svg(c.digest) for c in charts}
        common = pdf.common_data(self.config, model.period, self.typesetter.generated)
        [doc] = pdf.documents([(unit, view)], svg, common, self.templates, Path("."))
        return self.typesetter.pdf(doc)


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
            result = _build(
                config, output, staging, jobs, today, with_pdf, progress, inputs, partner
            )
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


def keeper(config: Config, output: Path, model: Model, today: date, with_pdf: bool) -> Keeper:
    """What decides which units the live site keeps: everything every unit shares (this
    package, Python and the libraries that draw and typeset, the project's templates and
    configuration, the dates, the partner and KPI lists every page shows)."""
    project = config.project_dir
    settings = {
        "python": sys.version,
        "libraries": {name: version(name) for name in LIBRARIES},
        "pdf": with_pdf,
        "today": today,
        "date": build_time().date(),
    }
    files = fingerprint([config.path, project / "templates", PACKAGE], settings, project)
    lists = pickle.dumps((model.scope, model.period, model.partners, model.kpis), protocol=5)
    shared = hashlib.sha256(files.encode() + lists).hexdigest()
    return Keeper(output, shared, read_manifest(output).get("units", {}))


def _unchanged(live: dict[str, Any], killed: str | None) -> Result:
    """The result of a build that found the live site current: nothing is read or written."""
    rows = live["rows"]
    problems = live.get("unusable_files", 0) + live.get("quarantined_actions", 0)
    return Result(
        period=live["period"],
        rejected=rows["rejected"] + problems,
        summary=None,
        model=None,
        written=[],
        timings=Timings(),
        killed=killed,
        unchanged_since=live["generated_at"],
    )


def _model(
    con: duckdb.DuckDBPyConnection, summary: LoadSummary, partner: str | None
) -> tuple[Model, Cards, dict[str, int]]:
    """Stage 3: the figures as plain data, for the alliance or for one partner's eyes; what
    reads each partner's results and series a batch at a time; and the row counts the
    manifest gives (a partner's own, not the alliance's)."""
    rows = {"read": summary.read, "accepted": summary.accepted, "rejected": summary.rejected}
    model = load_model(con, summary, own_site=partner is not None)
    cards = Cards(con, model.kpis, own_site=partner is not None)
    if partner is None:
        return model, cards, rows
    if partner not in model.scorecards:
        raise UnknownPartner(partner)
    rows = partner_rows(con, partner)  # the alliance's totals are not its to see
    [card] = cards.fill([model.scorecards[partner]], series=False)
    return scoped(model, card, rows, read_funnels(con, partner)), cards, rows


@dataclass
class Outputs:
    """Where the views go: the pages and their downloads, the PDFs; what they share."""

    env: Environment
    out: Path
    drawer: Drawer
    typesetter: pdf.Typesetter | None
    page_common: dict[str, Any]
    pdf_common: dict[str, Any]
    templates: pdf.Templates | None
    timings: Timings
    written: list[Path]

    def write(self, views: list[tuple[Planned, Any]], drawing: Drawing) -> None:
        """A batch of views, once its charts are drawn: pages, then PDFs handed over."""
        with self.timings.stage("drawing"):
            self.drawer.wait(drawing)
        with self.timings.stage("pages"):
            digests = {c.digest for _, view in views for c in view.charts()}
            drawn = {digest: self.drawer.svg(digest) for digest in digests}
            self.written += site.write(views, self.env, self.out, drawn, self.page_common)
        if self.typesetter is None or self.templates is None:
            return
        with self.timings.stage("typesetting"):
            docs = pdf.documents(views, drawn, self.pdf_common, self.templates, self.out)
            self.typesetter.submit(docs)


BATCH = 25  # views made, drawn and written together (partners' worth); memory holds two

# DuckDB's bound once the figures are computed: it then only hands them out. Lowered before
# the model is read, DuckDB's blocks make room for it: at 3,000 partners the model stage's peak
# fell from 731 to 549 MiB.
RENDER_MEMORY = "256MB"


def _not_kept(
    units: Iterator[Planned], keep: Keeper, staging: Path, with_pdf: bool, written: list[Path]
) -> Iterator[Planned]:
    """The planned units to make: those the live site cannot lend unchanged (their kept files
    are linked into `staging` and added to `written` as the plan is taken)."""
    for unit in units:
        names = site.files(unit) + pdf.files(unit, with_pdf)
        kept = keep.keep(unit.name, unit.inputs, names, staging)
        if kept is None:
            yield unit
        else:
            written += kept


def render(planned: Iterator[Planned], outputs: Outputs) -> None:
    """Stages views, drawing, pages and typesetting, a batch of views at a time: the charts
    of one batch are drawn (in worker processes) while the last batch is written and its
    PDFs are typeset (on threads), and only two batches are held at once. The views are
    planned as they are taken (the plan stage), so that the plan holds no more than a batch."""
    timings, last = outputs.timings, None
    while True:
        with timings.stage("plan"):
            batch = _batch(planned)
        if not batch:
            break
        with timings.stage("views"):
            views = [(p, p.make()) for p in batch]
        with timings.stage("drawing"):
            charts = [(c.digest, c.spec, _where(p, c)) for p, view in views for c in view.charts()]
            drawing = outputs.drawer.start(charts)
        if last:
            outputs.write(*last)
        last = (views, drawing)
    if last:
        outputs.write(*last)


def _batch(planned: Iterator[Planned]) -> list[Planned]:
    """The next batch of units: BATCH partners' pages, or as many units as hold the results of
    BATCH partners; a KPI page, which holds every partner's result for its KPI, goes alone."""
    batch: list[Planned] = []
    weight = 0
    while weight < BATCH and (unit := next(planned, None)) is not None:
        batch.append(unit)
        weight += unit.weight
    return batch


def _where(planned: Planned, chart: ChartView) -> str:
    """A chart's name in messages: the page or PDF it is on and its id."""
    suffix = "html" if planned.kind in site.PAGES else "pdf"
    return f"{planned.name}.{suffix}#{chart.id}"


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
    with ExitStack() as stack:
        with timings.stage("load"):
            con, summary = stack.enter_context(load(config, today, output, partner))
        with timings.stage("kpis"):
            score(con, config, today, own_site=partner is not None)
        # From here DuckDB only hands out the figures, the model's and then each batch's
        # series: the memory its working set held goes to the model, drawing and typesetting.
        con.execute(f"SET memory_limit = '{RENDER_MEMORY}'")
        with timings.stage("model"):
            model, cards, rows = _model(con, summary, partner)
            review = model.review
            assert review is not None  # score() reviewed the figures
            if review.anew:  # the record later builds compare their figures with
                archive.write_record(con, staging / archive.ARCHIVE / model.period, partner)
        with frozen():
            generated = build_time()
            cache_dir = config.project_dir / ".sitegen-cache"
            written: list[Path] = []  # the site's files; its archive is linked to them
            with timings.stage("plan"):
                keep = keeper(config, output, model, today, with_pdf)
                generated_label = generated.strftime("%Y-%m-%d %H:%M UTC")
                units = plan(model, config, generated_label, with_pdf, cards)
                to_make = _not_kept(units, keep, staging, with_pdf, written)
                templates = pdf.read_templates(config.project_dir) if with_pdf else None
                env = environment(config.project_dir)  # each template compiled once a build
            page_common = {
                "site": config.site,
                "period": model.period,
                "pdf": with_pdf,
                "scoped": model.scope is not None,
                "owner": model.scorecards[model.scope].partner.name if model.scope else "",
                "min_peers": MIN_PEERS,
                "icon_sprite": site.icon_sprite(),
            }
            with (
                Drawer(cache_dir / "charts", jobs, progress) as drawer,
                pdf.Typesetter(generated, cache_dir / "pdf", jobs, progress) as typesetter,
            ):
                pdf_common = pdf.common_data(config, model.period, typesetter.generated)
                outputs = Outputs(
                    env,
                    staging,
                    drawer,
                    typesetter if with_pdf else None,
                    page_common,
                    pdf_common,
                    templates,
                    timings,
                    written,
                )
                render(to_make, outputs)
                with timings.stage("pages"):
                    written += site.write_assets(staging, drawer.vega_bundle())
                drawer.close()  # every chart is drawn
                with timings.stage("typesetting"):
                    written += typesetter.finish()
            facts = {
                "generated_at": generated.isoformat(),
                "period": model.period,
                "rows": rows,
                **({"unusable_files": summary.unusable} if partner is None else {}),
                **({"quarantined_actions": len(summary.action_rejects)} if partner is None else {}),
                "partners": len(model.partners),
                "charts": {
                    "drawn": drawer.drawn,
                    "reused": drawer.reused,
                    "draw_cpu_seconds": round(drawer.draw_seconds, 3),
                },
                "pdfs": {
                    "made": typesetter.made,
                    "reused": typesetter.reused,
                    "typeset_seconds": round(typesetter.seconds, 3),
                },
                "units_kept": keep.kept,
                "scope": partner,
                "periods": archived_periods(review, model.period, generated.isoformat()),
                "restatements": [restatement_facts(r) for r in review.restatements],
                "timings": timings.rounded(),
                "timings_cpu": timings.rounded_cpu(),
                "inputs": inputs,
                "units": keep.keys,
            }
            with timings.stage("publish"):
                written.append(write_manifest(staging, facts, output, skip=archive.ARCHIVE))
            with timings.stage("archive"):
                if review.anew:
                    nav = site.archive_nav(
                        env, page_common, ArchiveView(model.period, generated_label)
                    )
                    archive.link_site(staging, output, model.period, nav)
                kept = [
                    a.period for a in review.archive if a.period != model.period or not review.anew
                ]
                archive.carry(output, staging, kept)
            warnings = [
                *summary.warnings,
                *(f"{reject} (row quarantined)" for reject in summary.action_rejects),
                *unused_narratives(config.project_dir / "content", model),
            ]
            problems = summary.rejected + summary.unusable + len(summary.action_rejects)
            log = log_lines(config, output, summary, facts)
            published = {a.period: a.generated_at for a in review.archive}
            archived = None if review.anew else published.get(model.period)
            return Result(
                model.period,
                problems,
                summary,
                model,
                written,
                timings,
                warnings=tuple(warnings),
                log=tuple(log),
                archived=archived,
            )


def archived_periods(review: Review, period: str, generated: str) -> list[dict[str, str]]:
    """The manifest's list of archived periods, oldest first, this build's among them when
    its site becomes its period's archive."""
    listed = {a.period: a.generated_at for a in review.archive}
    if review.anew:
        listed[period] = generated
    return [
        {"period": p, "generated_at": listed[p], "path": f"{archive.ARCHIVE}/{p}/index.html"}
        for p in sorted(listed, key=periods.start)
    ]


def restatement_facts(r: Restatement) -> dict[str, Any]:
    """A restated figure as the manifest lists it."""
    return {
        "kpi_id": r.kpi_id,
        "partner_id": r.partner_id,
        "period": r.period,
        "published_for": r.as_of,
        "was": r.was,
        "now": r.now,
        "changed_by": None if r.changed_by is None else list(r.changed_by),
    }


@contextmanager
def frozen() -> Iterator[None]:
    """Keep the garbage collector off the model for the rest of the build: it lives as long
    as the build, and its millions of objects (864,000 history points at 1,000 partners)
    would otherwise be walked again by every full collection that hashing, views and pages
    set off (a third of the plan stage's time). Unfrozen after, as `serve` builds again in
    the same process."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


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
