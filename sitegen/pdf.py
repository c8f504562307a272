"""PDF scorecards with Typst: one per partner, and the alliance board packet.

The PDFs are made from the site's own pages (their context and their drawn charts), so a PDF
shows exactly the figures, words and SVG charts of the page it mirrors and computes nothing.
Each document is a Typst template (templates/pdf/, a project's copy first) plus a data.json
holding every text as a string already formatted by sitegen.filters, plus the chart SVGs:
the template prints the strings as strings, so no partner name or narrative can become Typst
markup or code. The fonts are the package's own (sitegen/fonts), so output does not depend on
the fonts a machine has; the creation date is the build's date, so the same input gives the
same bytes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import typst

from sitegen import reading
from sitegen.config import Config
from sitegen.filters import STATUS_ICONS, STATUS_WORDS, delta, num, value
from sitegen.model import STATUSES, KpiResult, Model, Scorecard
from sitegen.narrative import ContentError, document, summary, value_note
from sitegen.publish import Progress, write_atomic
from sitegen.svg import FONTS

PACKAGED = Path(__file__).parent / "templates" / "pdf"
TEMPLATE_FILES = ("common.typ", "scorecard.typ", "alliance.typ")
KEY = (
    "How to read the charts: the solid blue line is the partner's value, one dot per period; "
    "the dashed black line its target; the dotted grey line the peer median and the shaded "
    "band the middle half of peers (where at least 5 partners report); the dash-dot pink "
    "line the external benchmark, where the KPI has one."
)
TABLE_NOTE = (
    "(c) marks a target that is the partner's own commitment rather than the alliance target. "
    "Changes are against the previous period and the same period a year earlier."
)


@dataclass(frozen=True)
class Document:
    """One PDF to make: where it goes and the files Typst compiles it from."""

    path: Path
    files: dict[str, bytes]


def _status(status: str) -> dict[str, str]:
    return {"key": status, "icon": STATUS_ICONS[status], "word": STATUS_WORDS[status]}


def _counts(card: Scorecard) -> list[dict[str, str]]:
    return [{**_status(s), "count": str(card.composite.counts[s])} for s in STATUSES]


def _kind(card: Scorecard) -> str:
    return card.partner.partner_type.replace("_", " ").capitalize()


def _rank(card: Scorecard) -> str:
    return f"{card.composite.rank} of {card.composite.of}" if card.composite.rank else "–"


def _change(result: KpiResult, change: float | None, label: str | None) -> str:
    text = delta(change, result.kpi.unit)
    return f"{text} {label}" if label else text


def _kpi_row(result: KpiResult) -> dict[str, Any]:
    unit = result.kpi.unit
    own = " (c)" if result.target_source == "partner" else ""
    return {
        "name": result.kpi.name,
        "status": _status(result.status),
        "value": value(result.value, unit),
        "value_note": value_note(result),
        "target": value(result.target, unit) + own,
        "benchmark": value(result.kpi.benchmark, unit),
        "change_prev": _change(result, result.change_prev, result.change_prev_label),
        "change_yoy": _change(result, result.change_yoy, result.change_yoy_label),
    }


def partner_document(
    context: dict[str, Any],
    common: dict[str, Any],
    templates: dict[str, bytes],
    out: Path,
) -> Document:
    """A partner's scorecard PDF from its page's context, trend charts drawn."""
    card: Scorecard = context["card"]
    charts = context["trends"]
    narrative = context["narrative"]
    files = {f"charts/{c.id}.svg": c.svg.encode("utf-8") for c in charts if c.svg}
    data = {
        **common,
        "key": KEY,
        "card": {
            "name": card.partner.name,
            "kind": _kind(card),
            "region": card.partner.region,
            "note": None if card.submitted else f"no submission for {card.period}",
            "composite": num(card.composite.score, 1),
            "rank": _rank(card),
            "change": delta(card.composite.change_prev, "score"),
            "counts": _counts(card),
            "narrative": document(narrative.html) if narrative else None,
            "narrative_title": narrative.title if narrative else "",
            "summary": " ".join(context["summary"]),
            "categories": [
                {
                    "label": group["label"],
                    "rows": [_kpi_row(row["result"]) for row in group["rows"]],
                }
                for group in context["categories"]
            ],
            "table_note": TABLE_NOTE,
            "charts": [
                {"file": f"charts/{c.id}.svg", "caption": c.caption, "alt": c.alt}
                for c in charts
                if c.svg
            ],
        },
    }
    pid = card.partner.partner_id
    return _document(out / "pdf" / f"{pid}.pdf", "scorecard.typ", templates, data, files)


def alliance_document(
    index: dict[str, Any],
    cards: list[tuple[Scorecard, list[str]]],
    common: dict[str, Any],
    templates: dict[str, bytes],
    out: Path,
) -> Document:
    """The board packet from the dashboard's context and each partner's generated summary."""
    heatmap, ranking = index["heatmap"], index["ranking"]
    data = {
        **common,
        "packet": {
            "partners_line": f"{len(cards)} partners, {len(index['headline'])} KPIs",
            "headline": [
                {
                    "name": row["kpi"].name,
                    "value": value(row["value"], row["kpi"].unit),
                    "target": value(row["kpi"].target, row["kpi"].unit),
                    "status": _status(row["status"]),
                    "partners": str(row["partners"]),
                }
                for row in index["headline"]
            ],
            "heatmap": "charts/heatmap.svg",
            "heatmap_alt": heatmap.alt,
            "ranking": "charts/ranking.svg",
            "ranking_alt": ranking.alt,
            "sections": [
                {
                    "name": card.partner.name,
                    "kind": _kind(card),
                    "composite": num(card.composite.score, 1),
                    "rank": _rank(card),
                    "counts": _counts(card),
                    "summary": " ".join(summary),
                }
                for card, summary in cards
            ],
        },
    }
    files = {
        "charts/heatmap.svg": heatmap.svg.encode("utf-8"),
        "charts/ranking.svg": ranking.svg.encode("utf-8"),
    }
    return _document(out / "pdf" / "alliance.pdf", "alliance.typ", templates, data, files)


def _document(
    path: Path,
    main: str,
    templates: dict[str, bytes],
    data: dict[str, Any],
    files: dict[str, bytes],
) -> Document:
    text = json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    sources = {"main.typ": templates[main], "common.typ": templates["common.typ"]}
    return Document(path, sources | {"data.json": text} | files)


def read_templates(project_dir: Path) -> dict[str, bytes]:
    """The PDF templates: a project's own copy of each first (read as inputs are: a regular
    file inside the project), the packaged one otherwise."""
    found = {}
    for name in TEMPLATE_FILES:
        own = project_dir / "templates" / "pdf" / name
        if not own.exists() and not own.is_symlink():
            found[name] = (PACKAGED / name).read_bytes()
            continue
        try:
            found[name] = reading.read_reference(own, project_dir)
        except OSError as exc:
            raise ContentError(f"templates/pdf/{name}: {exc.strerror or exc}") from None
    return found


class PdfWriter:
    """Typesets Documents on `jobs` threads as they are submitted, with one Typst compiler per
    thread (a compiler loads the fonts once, and cannot be shared between threads); Typst
    does its work outside Python's lock, so PDFs are made while the site is still written.

    A PDF is cached in `cache_dir` under the hash of everything it is made from (template,
    data, charts, creation date, Typst version), so an unchanged partner is never typeset
    again: the same key gives the same bytes.
    """

    def __init__(
        self, generated: datetime, cache_dir: Path, jobs: int = 1, progress: Progress | None = None
    ) -> None:
        # The PDFs carry the build's date (as their footers do), not its time of day, so a
        # rebuild the same day finds them in the cache.
        self.generated = generated.replace(hour=0, minute=0, second=0, microsecond=0)
        self.cache_dir = cache_dir
        self.progress = progress  # told ("PDFs", done, total) as they are written
        self.made = 0  # PDFs typeset by this writer, for the manifest
        self.reused = 0  # PDFs taken from the cache
        self._local = threading.local()
        self.jobs = max(1, jobs)
        self._pool: ThreadPoolExecutor | None = None  # started by the first PDF
        self.seconds = 0.0  # spent typesetting, summed over the threads
        self._jobs: list[tuple[Path, Future[float | None]]] = []
        cache_dir.mkdir(parents=True, exist_ok=True)

    def submit(self, doc: Document) -> None:
        """Start making a PDF; `finish` waits for it."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.jobs)
        self._jobs.append((doc.path, self._pool.submit(self._write_one, doc)))

    def finish(self) -> list[Path]:
        """Wait for every PDF submitted; the paths written. A template error is raised here."""
        try:
            for done, (_, job) in enumerate(self._jobs, start=1):
                seconds = job.result()
                if seconds is None:
                    self.reused += 1
                else:
                    self.made += 1
                    self.seconds += seconds
                if self.progress:
                    self.progress("PDFs", done, len(self._jobs))
        finally:
            if self._pool is not None:
                self._pool.shutdown(cancel_futures=True)
                self._pool = None
        return [path for path, _ in self._jobs]

    def _write_one(self, doc: Document) -> float | None:
        """Write one PDF, from the cache when it is there; the seconds it took to typeset it,
        or None when it came from the cache."""
        cached = self.cache_dir / f"{self._key(doc)}.pdf"
        seconds = None
        try:
            pdf = cached.read_bytes()
        except FileNotFoundError:
            started = time.perf_counter()
            pdf = self._compile(doc)
            seconds = time.perf_counter() - started
            write_atomic(cached, pdf)
        doc.path.parent.mkdir(parents=True, exist_ok=True)
        doc.path.write_bytes(pdf)
        return seconds

    def _compile(self, doc: Document) -> bytes:
        try:
            return self._compiler().compile(input=doc.files, format="pdf", timestamp=self.generated)
        except typst.TypstError as exc:
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else "failed"
            raise ContentError(f"PDF {doc.path.name}: {message}") from None

    def _key(self, doc: Document) -> str:
        digest = hashlib.sha256(f"typst {typst.__version__} {self.generated}".encode())
        for name in sorted(doc.files):
            content = doc.files[name]
            digest.update(f"\0{name}\0{len(content)}\0".encode())
            digest.update(content)
        return digest.hexdigest()

    def _compiler(self) -> typst.Compiler:
        if not hasattr(self._local, "compiler"):
            self._local.compiler = typst.Compiler(font_paths=[str(FONTS)])
        return self._local.compiler


def common_data(config: Config, period: str, generated: datetime) -> dict[str, Any]:
    """What every PDF of a build shares."""
    return {
        "title": config.site.title,
        "organization": config.site.organization,
        "period": period,
        "generated": generated.strftime("%Y-%m-%d"),
        "paper": config.pdf.paper,
    }


class PdfStage:
    """Makes the PDFs from the site's pages as they are written: a partner's scorecard as soon
    as its page is, the board packet (which needs every partner) at the end, with a section
    per partner in the model's order.
    """

    def __init__(self, writer: PdfWriter, config: Config, model: Model, out: Path) -> None:
        self.writer = writer
        self.out = out
        self.cards = list(model.scorecards.values())
        self.templates = read_templates(config.project_dir)
        self.common = common_data(config, model.period, writer.generated)
        self.index: dict[str, Any] | None = None

    def page_written(self, path: str, template: str, context: dict[str, Any]) -> None:
        if template == "site/partner.html":
            self.writer.submit(partner_document(context, self.common, self.templates, self.out))
        elif path == "index.html":
            self.index = context

    def finish(self) -> list[Path]:
        """The board packet (not in a partner's own site), then wait for every PDF."""
        if self.index is not None and self.index.get("heatmap") is not None:
            cards = [(card, summary(card)) for card in self.cards]
            packet = alliance_document(self.index, cards, self.common, self.templates, self.out)
            self.writer.submit(packet)
        return self.writer.finish()
