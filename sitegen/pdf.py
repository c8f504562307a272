"""PDF scorecards with Typst: one per partner, and the alliance board packet.

A PDF renders a view (sitegen.views), the very one its page renders, with the same drawn SVG
charts, so it shows exactly the page's figures and words and computes nothing. Each document
is a Typst template (templates/pdf/, a project's copy first) plus a data.json holding every
text as a string already worded by the view, plus the chart SVGs: the template prints the
strings as strings, so no partner name or narrative can become Typst markup or code. The
fonts are the package's own (sitegen/fonts), so output does not depend on the fonts a
machine has; the creation date is the build's date, so the same input gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import typst

from sitegen import reading
from sitegen.config import Config
from sitegen.errors import ContentError, TemplateBug
from sitegen.narrative import document
from sitegen.publish import Progress, write_atomic
from sitegen.svg import FONTS
from sitegen.views.alliance import Band, PacketView
from sitegen.views.common import ChartView, Reading, Status, Table
from sitegen.views.partner import (
    Commitment,
    Count,
    KpiRow,
    PartnerView,
    Standing,
)
from sitegen.views.plan import Planned
from sitegen.views.review import ReviewSection, ReviewView

PACKAGED = Path(__file__).parent / "templates" / "pdf"
ICONS = Path(__file__).parent / "static" / "icons"  # the Making Data Count icons, as on the site
TEMPLATE_FILES = ("common.typ", "scorecard.typ", "alliance.typ", "review.typ")
# PDFs handed to the typesetting threads and not yet done: enough to keep them busy while
# the next views are drawn, few enough that memory holds only a few batches' charts.
MAX_PENDING = 64
# Tagged for screen readers (PDF/UA-1): Typst refuses to compile a document that breaks it,
# such as an image without alt text or a document without a title.
STANDARDS = ["ua-1"]
# PDF/UA-1 forbids a character drawn without a glyph, and no font shipped or on the machine may
# have one for an emoji in a partner's name or a narrative: Typst then names the text, and it
# is written by its Unicode name instead ("🏥" → "[hospital]"), as many times as it takes.
UNSHOWN = re.compile(r'the text `"(.+?)"` could not be displayed with font')
MAX_UNSHOWN = 50
COMBINING = ("Mn", "Me", "Cf")  # marks drawn onto the character before, and joiners


def named(files: dict[str, bytes], text: str) -> dict[str, bytes]:
    """The texts (data.json) and charts (SVG) with each non-ASCII character of `text` written
    by its Unicode name in brackets; the templates are left as they are.

    Only non-ASCII characters change, so the JSON and SVG syntax around them (all ASCII) is
    never touched. When Typst names only ASCII text (a keycap emoji is a digit, a variation
    selector and an enclosing keycap: "1" cannot be shown with them), those marks, which no
    shipped font draws, are dropped everywhere instead."""
    chars = [c for c in dict.fromkeys(text) if ord(c) > 127 and not c.isspace()]
    renamed = dict(files)
    for path, content in files.items():
        if not path.endswith((".json", ".svg")):
            continue
        decoded = content.decode("utf-8")
        for char in chars:
            name = unicodedata.name(char, f"U+{ord(char):04X}").lower()
            invisible = unicodedata.category(char) in COMBINING
            decoded = decoded.replace(char, "" if invisible else f"[{name}]")
        if not chars:
            decoded = "".join(c for c in decoded if not _keycap_mark(c))
        renamed[path] = decoded.encode("utf-8")
    return renamed


def _keycap_mark(char: str) -> bool:
    """A mark that turns the character before it into an emoji: an enclosing keycap, a
    variation selector, a zero-width joiner."""
    return (unicodedata.category(char) in ("Me", "Cf") or 0xFE00 <= ord(char) <= 0xFE0F) and ord(
        char
    ) > 127


@dataclass(frozen=True)
class Templates:
    """The PDF templates' bytes, and which of them are the project's own copies."""

    files: dict[str, bytes]
    own: frozenset[str]


@dataclass(frozen=True)
class Document:
    """One PDF to make: where it goes, the files Typst compiles it from, and whether its
    templates are all the packaged ones (a failure is then ours, not the user's)."""

    path: Path
    files: dict[str, bytes]
    packaged: bool


def files(planned: Planned, with_pdf: bool) -> list[str]:
    """The PDF of a planned view, if it has one: kept with its page when unchanged."""
    if not with_pdf:
        return []
    if planned.kind == "partner":
        return [f"pdf/{planned.name.removeprefix('partners/')}.pdf"]
    if planned.kind in ("packet", "review-packet"):
        return [f"{planned.name}.pdf"]
    return []


def _status(s: Status) -> dict[str, str]:
    return {"key": s.key, "icon": s.icon, "word": s.word}


def _counts(counts: Iterable[Count]) -> list[dict[str, str]]:
    return [{**_status(c.status), "count": str(c.count)} for c in counts]


def _change(text: str, label: str | None) -> str:
    return f"{text} {label}" if label else text


def _reading(reading: Reading | None) -> dict[str, str] | None:
    return None if reading is None else _reading_file(reading)


def _reading_file(reading: Reading) -> dict[str, str]:
    return {"file": f"icons/{reading.icon}.svg", "word": reading.word}


def _kpi_row(row: KpiRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "status": _status(row.status),
        "noise": "within noise" if row.within_noise else "",
        "variation": _reading(row.variation),
        "assurance": _reading(row.assurance),
        "value": row.value,
        "value_note": "; ".join(note for note in (row.value_note, row.interval) if note),
        "target": row.target,
        "own_target": "own commitment" if row.own_target else "",
        "benchmark": row.benchmark,
        "period": row.period,
        "change_prev": _change(row.change_prev, row.change_prev_label),
        "change_yoy": _change(row.change_yoy, row.change_yoy_label),
        "peers": row.peers,
        "type_peers": row.type_peers,
        "actions": [{"text": a.text, "overdue": a.overdue} for a in row.actions],
    }


def _review(section: ReviewSection | None) -> dict[str, Any] | None:
    """What changed since the last review, line by line, as the page lists it."""
    if section is None:
        return None
    return {
        "heading": section.heading,
        "empty": section.empty,
        "changes": [{"kind": c.kind, "text": c.text, "tone": c.tone} for c in section.changes],
    }


def _commitment(row: Commitment) -> dict[str, Any]:
    return {
        "name": row.name,
        "status": _status(row.status),
        "value": row.value,
        "target": row.target,
        "gap": row.gap,
        "window": row.window,
    }


def partner_document(
    view: PartnerView, svg: dict[str, str], common: dict[str, Any], templates: Templates, out: Path
) -> Document:
    """A partner's scorecard PDF from its view, with the page's drawn trend charts."""
    s = view.standing
    charts = [c for c in view.trends if svg[c.digest]]
    narrative = view.narrative
    data = {
        **common,
        "doc_title": f"{s.name}: scorecard for {s.period}",
        "key": "How to read the charts: " + "; ".join(text for _, text in view.key) + ".",
        "card": {
            "name": s.name,
            "kind": s.kind,
            "region": s.region,
            "note": s.no_submission or None,
            "track": _status(s.track),
            "composite": s.score,
            "scored_on": s.scored_on,
            "rank": s.rank,
            "type_rank": s.type_rank,
            "not_ranked": f"Not ranked: {s.not_ranked}." if s.not_ranked else "",
            "change": s.change,
            "rank_change": f"rank {s.rank_change}" if s.rank_change else "",
            "counts": _counts(s.counts),
            "commitments": [_commitment(c) for c in view.commitments],
            "off_target": [_commitment(c) for c in view.off_target],
            "narrative": document(narrative.html) if narrative else None,
            "narrative_title": narrative.title if narrative else "",
            "summary": " ".join(s.summary),
            "categories": [
                {"label": group.label, "rows": [_kpi_row(row) for row in group.rows]}
                for group in view.categories
            ],
            "table_note": view.table_note,
            "charts": [
                {"file": f"charts/{c.id}.svg", "caption": c.caption, "alt": c.alt} for c in charts
            ],
            "empty": [e.text for e in view.empty],
            "review": _review(view.review),
        },
    }
    chart_files = {f"charts/{c.id}.svg": svg[c.digest].encode() for c in charts}
    icons = {
        reading.icon
        for group in view.categories
        for row in group.rows
        for reading in (row.variation, row.assurance)
        if reading
    }
    chart_files |= {f"icons/{name}.svg": (ICONS / f"{name}.svg").read_bytes() for name in icons}
    path = out / "pdf" / f"{s.partner_id}.pdf"
    return _document(path, "scorecard.typ", templates, data, chart_files)


def _section(s: Standing) -> dict[str, Any]:
    return {
        "name": s.name,
        "kind": s.kind,
        "track": _status(s.track),
        "composite": s.score,
        "scored_on": s.scored_on,
        "rank": s.rank if not s.not_ranked else f"not ranked: {s.not_ranked}",
        "counts": _counts(s.counts),
        "summary": " ".join(s.summary),
    }


def _band(band: Band) -> dict[str, Any]:
    return {
        "period": band.period,
        "partners": _counts(band.partners),
        "kpis": _counts(band.kpis),
        "readings": [{**_reading_file(r.reading), "count": str(r.count)} for r in band.readings],
        "freshness": band.freshness,
    }


def packet_document(
    view: PacketView, svg: dict[str, str], common: dict[str, Any], templates: Templates, out: Path
) -> Document:
    """The board packet: the dashboard's headline, statuses per KPI and ranking, and every partner's
    standing in the words of its own scorecard."""
    data = {
        **common,
        "doc_title": f"{common['organization']}: board packet for {view.period}",
        "packet": {
            "partners_line": view.partners_line,
            "band": _band(view.band),
            "headline": [
                {
                    "name": row.name,
                    "period": row.period,
                    "value": row.value,
                    "target": row.target,
                    "benchmark": row.benchmark,
                    "status": _status(row.status),
                    "partners": str(row.partners),
                }
                for row in view.headline
            ],
            "status_table": _table(view.status_table),
            "ranking": "charts/ranking.svg",
            "ranking_alt": view.ranking.alt,
            "sections": [_section(s) for s in view.sections],
            "sections_note": view.sections_note,
        },
    }
    chart_files = {
        "charts/ranking.svg": svg[view.ranking.digest].encode(),
    }
    chart_files |= {
        f"icons/{r.reading.icon}.svg": (ICONS / f"{r.reading.icon}.svg").read_bytes()
        for r in view.band.readings
    }
    return _document(out / "pdf" / "alliance.pdf", "alliance.typ", templates, data, chart_files)


def documents(
    views: Iterable[tuple[Planned, Any]],
    svg: dict[str, str],
    common: dict[str, Any],
    templates: Templates,
    out: Path,
) -> list[Document]:
    """The PDFs of some views: a partner's scorecard, the board packet; `svg` holds their
    charts, drawn."""
    made = []
    for planned, view in views:
        if planned.kind == "partner":
            made.append(partner_document(view, svg, common, templates, out))
        elif planned.kind == "packet":
            made.append(packet_document(view, svg, common, templates, out))
        elif planned.kind == "review-packet":
            made.append(review_document(view, common, templates, out))
    return made


def _table(table: Table | None) -> dict[str, Any] | None:
    if table is None:
        return None
    return {
        "caption": table.caption,
        "header": list(table.header),
        "rows": [list(row) for row in table.rows],
    }


def review_document(
    view: ReviewView, common: dict[str, Any], templates: Templates, out: Path
) -> Document:
    """The review's board packet: the alliance's changes since the last review, then a page
    per partner with a change worth discussing (PACKET_PARTNERS_MAX at most), in the words of
    the review page."""
    data = {
        **common,
        "doc_title": f"{common['organization']}: review packet for {view.period}",
        "review": {
            "since": view.since,
            "intro": view.intro,
            "kpis": _table(view.kpis),
            "quiet": str(view.quiet),
            "overdue": _table(view.overdue),
            "restatements": _table(view.restatements),
            "discussed": str(len(view.discuss)),
            "partners": [{"name": p.name, "review": _review(p.section)} for p in view.packet],
            "packet_note": view.packet_note,
        },
    }
    path = out / "pdf" / f"review-{view.period}.pdf"
    return _document(path, "review.typ", templates, data, {})


def pdf_charts(view: Any) -> list[ChartView]:
    """The charts a view's PDF shows."""
    if isinstance(view, PartnerView):
        return list(view.trends)
    if isinstance(view, PacketView):
        return [view.ranking]
    return []


def _document(
    path: Path,
    main: str,
    templates: Templates,
    data: dict[str, Any],
    chart_files: dict[str, bytes],
) -> Document:
    text = json.dumps(data, ensure_ascii=False, allow_nan=False).encode("utf-8")
    sources = {"main.typ": templates.files[main], "common.typ": templates.files["common.typ"]}
    packaged = not ({main, "common.typ"} & templates.own)
    return Document(path, sources | {"data.json": text} | chart_files, packaged)


def read_templates(project_dir: Path) -> Templates:
    """The PDF templates: a project's own copy of each first (read as inputs are: a regular
    file inside the project), the packaged one otherwise."""
    found, own = {}, set()
    for name in TEMPLATE_FILES:
        path = project_dir / "templates" / "pdf" / name
        if not path.exists() and not path.is_symlink():
            found[name] = (PACKAGED / name).read_bytes()
            continue
        try:
            found[name] = reading.read_reference(path, project_dir)
        except OSError as exc:
            raise ContentError(f"templates/pdf/{name}: {exc.strerror or exc}") from None
        own.add(name)
    return Templates(found, frozenset(own))


class Typesetter:
    """Typesets Documents on `jobs` threads as they are handed over, with one Typst compiler
    per thread (a compiler loads the fonts once, and cannot be shared between threads); Typst
    works outside Python's lock, so PDFs are made while the next views are drawn and written.

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
        self.progress = progress  # told ("PDFs", done, handed over so far)
        self.made = 0  # PDFs typeset, for the manifest
        self.reused = 0  # PDFs taken from the cache
        self.seconds = 0.0  # CPU seconds spent typesetting, summed over the threads
        self.written: list[Path] = []
        self._local = threading.local()
        # one job: typeset in the build's own thread, so that --jobs 1 uses one core
        self._pool = ThreadPoolExecutor(max_workers=jobs) if jobs > 1 else None
        self._pending: deque[tuple[Path, Future[float | None]]] = deque()
        cache_dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Typesetter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def submit(self, docs: Iterable[Document]) -> None:
        """Start making the PDFs; waits first while too many are still to be made."""
        for doc in docs:
            while len(self._pending) >= MAX_PENDING:
                self._collect()
            if self._pool is None:
                job: Future[float | None] = Future()
                job.set_result(self._write_one(doc))
            else:
                job = self._pool.submit(self._write_one, doc)
            self._pending.append((doc.path, job))

    def finish(self) -> list[Path]:
        """Wait for every PDF handed over; the paths written. A template error is raised here
        or by `submit`."""
        while self._pending:
            self._collect()
        return self.written

    def _collect(self) -> None:
        path, job = self._pending.popleft()
        seconds = job.result()
        if seconds is None:
            self.reused += 1
        else:
            self.made += 1
            self.seconds += seconds
        self.written.append(path)
        if self.progress:
            total = self.made + self.reused + len(self._pending)
            self.progress("PDFs", self.made + self.reused, total)

    def pdf(self, doc: Document) -> bytes:
        """One PDF's bytes, typeset now or taken from the cache."""
        return self._typeset(doc)[0]

    def _write_one(self, doc: Document) -> float | None:
        """Write one PDF; the seconds it took to typeset, or None when it came from the
        cache."""
        pdf, seconds = self._typeset(doc)
        doc.path.parent.mkdir(parents=True, exist_ok=True)
        doc.path.write_bytes(pdf)
        return seconds

    def _typeset(self, doc: Document) -> tuple[bytes, float | None]:
        cached = self.cache_dir / f"{self._key(doc)}.pdf"
        try:
            return cached.read_bytes(), None
        except FileNotFoundError:
            pass
        # this thread's CPU, as the threads share the cores (Typst's own helper threads, busy
        # in a compiler's first document, are not counted: a lower bound)
        started = time.thread_time()
        pdf = self._compile(doc)
        seconds = time.thread_time() - started
        write_atomic(cached, pdf)
        return pdf, seconds

    def _compile(self, doc: Document) -> bytes:
        files = doc.files
        for _ in range(MAX_UNSHOWN):
            try:
                return self._compiler().compile(
                    input=files, format="pdf", timestamp=self.generated, pdf_standards=STANDARDS
                )
            except typst.TypstError as exc:
                text = str(exc).strip()
                unshown = UNSHOWN.search(text)
                renamed = named(files, unshown.group(1)) if unshown else files
                if renamed == files:  # not in the texts or the charts: nothing to rename
                    self._fail(doc, text)
                files = renamed
        self._fail(doc, "too many characters that no font can show")

    def _fail(self, doc: Document, text: str) -> NoReturn:
        message = text.splitlines()[0] if text else "failed"
        if doc.packaged:
            raise TemplateBug(
                f"PDF {doc.path.name}: sitegen's own PDF template failed ({message}); "
                "please report it"
            ) from None
        raise ContentError(f"PDF {doc.path.name}: {message} (templates/pdf/)") from None

    def _key(self, doc: Document) -> str:
        digest = hashlib.sha256(f"typst {typst.__version__} {STANDARDS} {self.generated}".encode())
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
