"""Narratives: Markdown from `content/` (front matter + text) → safe HTML.

Authors may quote figures from the model through a small set of variables (`{{ composite }}`,
`{{ kpi.readmit_30d.value }}` …, listed in the README), filled in by a sandboxed Jinja
environment with already-formatted strings. The HTML that Markdown produces is then cleaned by
nh3 with an allow-list, so author HTML can never run script, whatever it contains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markdown
import nh3
from jinja2 import TemplateError, UndefinedError
from markdown.extensions.meta import MetaExtension
from markdown.extensions.sane_lists import SaneListExtension
from markdown.extensions.tables import TableExtension

from sitegen import periods, reading, sandbox
from sitegen.filters import delta, num, value
from sitegen.model import KpiResult, Model, Scorecard

ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "abbr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"scope"}}
URL_SCHEMES = {"http", "https", "mailto"}

MAX_NARRATIVE = 1 << 20  # bytes of a narrative file

_templates = sandbox.sandbox()


class ContentError(Exception):
    """A narrative that cannot be rendered: names the file and line."""


@dataclass(frozen=True)
class Narrative:
    title: str
    html: str


def sanitise(html: str) -> str:
    """Keep only allow-listed elements and attributes; links get rel=noopener noreferrer."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
    )


def render_markdown(text: str, variables: dict[str, Any], label: str) -> Narrative:
    """Fill in the variables (in the sandbox, within its limits), convert Markdown (with `---`
    front matter) and sanitise. Whatever goes wrong is one ContentError naming the file."""
    try:
        filled = sandbox.render(_templates.from_string(text), variables)
        # extension objects, not names: a name is looked up among installed packages' entry
        # points each time, ~25 ms per narrative
        converter = markdown.Markdown(
            extensions=[MetaExtension(), TableExtension(), SaneListExtension()]
        )
        with sandbox.time_limit(sandbox.MAX_SECONDS):
            html = converter.convert(filled)
    except UndefinedError as exc:
        raise ContentError(f"{label}: {exc.message}; see the README for the variables") from None
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f"{label}:{line}" if line else label
        raise ContentError(f"{where}: {_one_line(exc.message or type(exc).__name__)}") from None
    except Exception as exc:  # a filter given the wrong type, a number too big to print, ...
        raise ContentError(f"{label}: {type(exc).__name__}: {_one_line(str(exc))}") from None
    meta = getattr(converter, "Meta", {})
    title = " ".join(meta.get("title", [])).strip()
    return Narrative(title=title, html=sanitise(html).strip())


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def read_narrative(
    path: Path, variables: dict[str, Any], label: str, root: Path
) -> Narrative | None:
    """The narrative at `path`, or None when the project has none there (it is optional).
    Like every input it must be a regular file inside the project (`root`)."""
    if not path.exists() and not path.is_symlink():
        return None
    try:
        data = reading.read_reference(path, root, MAX_NARRATIVE)
    except OSError as exc:
        raise ContentError(f"{label}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ContentError(
            f"{label}:{line}:{column}: not UTF-8 (byte 0x{data[exc.start]:02X} at byte offset "
            f"{exc.start}); save it as UTF-8"
        ) from None
    return render_markdown(text, variables, label)


def _relative_change(result: KpiResult) -> float | None:
    """A change in the KPI's good direction, as a share of its target, so that changes in
    different units can be compared (a falling readmission rate counts as positive)."""
    if result.change_prev is None:
        return None
    sign = 1 if result.kpi.direction == "higher" else -1
    return sign * result.change_prev / (abs(result.target) or 1.0)


def _previous(period: str) -> str:
    """How a change is described: on the previous month, quarter or year."""
    return f"on the previous {periods.kind(period)}"


SUPPRESSION_WORDS = {
    "small_cell": "1 to 10 people: too few to publish",
    "min_denominator": "too few cases to judge",
    "source": "suppressed at source",
}
PART_WORDS = {"monthly": "months", "quarterly": "quarters", "annual": "years"}


def value_note(result: KpiResult) -> str:
    """What limits how a KPI's value can be read, in words, for beside it on the page and in
    the PDF: a partial period, why it is suppressed (and, in a partner's own site, that the
    figure is shown to it alone), a footnote that came with the data."""
    notes = []
    if result.partial:
        notes.append(f"{result.parts} of {result.parts_of} {PART_WORDS[result.kpi.frequency]}")
    if result.suppression:
        why = SUPPRESSION_WORDS[result.suppression]
        notes.append(f"shown to you only: {why}" if result.value is not None else why)
    if result.footnote:
        notes.append(result.footnote)
    return "; ".join(notes)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def summary(card: Scorecard) -> list[str]:
    """The generated summary of a partner's scorecard, as plain sentences (deterministic)."""
    name, period, composite = card.partner.name, card.period, card.composite
    sentences = []
    if composite.score is None:
        sentences.append(
            f"{name} has no composite score for {period}: too few KPIs could be scored."
        )
    else:
        sentence = (
            f"In {period}, {name} scored {num(composite.score, 1)} out of 100, "
            f"ranked {composite.rank} of {composite.of}"
        )
        if composite.change_prev is not None:
            moved = "up" if composite.change_prev > 0 else "down"
            sentence += (
                f", {moved} {num(abs(composite.change_prev), 1)} points {_previous(period)}"
                if round(composite.change_prev, 1)
                else f", unchanged {_previous(period)}"
            )
            if composite.rank_prev is not None and composite.rank_prev != composite.rank:
                sentence += f" (rank {composite.rank_prev} before)"
        sentences.append(sentence + ".")
    counts = composite.counts
    scored = counts["met"] + counts["at_risk"] + counts["missed"]
    if scored:
        sentences.append(
            f"It met {counts['met']} of {_plural(scored, 'scored KPI')}, "
            f"was at risk on {counts['at_risk']} and missed {counts['missed']}."
        )
    if counts["suppressed"]:
        sentences.append(
            f"{_plural(counts['suppressed'], 'KPI')} "
            f"{'was' if counts['suppressed'] == 1 else 'were'} suppressed: "
            "the numbers are too small to show."
        )
    changes = [(rel, r) for r in card.results if (rel := _relative_change(r)) is not None]
    best = max(changes, key=lambda item: item[0], default=None)
    worst = min(changes, key=lambda item: item[0], default=None)
    if best and best[0] > 0:
        r = best[1]
        sentences.append(
            f"Biggest improvement: {r.kpi.name}, {value(r.value, r.kpi.unit)} "
            f"({delta(r.change_prev, r.kpi.unit)} {_previous(r.period)})."
        )
    if worst and worst[0] < 0:
        r = worst[1]
        sentences.append(
            f"Biggest decline: {r.kpi.name}, {value(r.value, r.kpi.unit)} "
            f"({delta(r.change_prev, r.kpi.unit)} {_previous(r.period)})."
        )
    missing = [r.kpi.name for r in card.results if r.status == "no_data"]
    if not card.submitted:
        sentences.append(f"No data was submitted for {period}.")
    elif missing:
        sentences.append("No data for: " + ", ".join(missing) + ".")
    return sentences


# ------------------------------------------------------------------------ the same text, for PDF

Node = dict[str, Any]  # {"text": str} or {"tag": str, "children": [Node], ...}
_VOID = {"br", "hr"}
_BLOCKS = {"p", "h2", "h3", "h4", "pre", "blockquote", "ul", "ol", "li", "table", "hr", "tr"}
_WHITE = re.compile(r"[ \t\n\r\f]+")


class _TreeBuilder(HTMLParser):
    """Sanitised HTML (only ALLOWED_TAGS) into plain nodes the PDF template walks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root: Node = {"tag": "root", "children": []}
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node: Node = {"tag": tag, "children": []}
        if tag == "a":
            node["href"] = dict(attrs).get("href") or ""
        self.stack[-1]["children"].append(node)
        if tag not in _VOID:
            self.stack.append(node)

    def handle_endtag(self, tag: str) -> None:
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth]["tag"] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1]["children"].append({"text": data})


def document(html: str) -> list[Node]:
    """The narrative as the PDF receives it: the very HTML the site shows, after sanitising,
    as a tree whose text stays data. The PDF template prints each text as a string, so
    nothing an author wrote can become markup or code of the PDF engine."""
    builder = _TreeBuilder()
    builder.feed(sanitise(html))
    builder.close()
    return _tidy(builder.root["children"], preformatted=False)


def _tidy(nodes: list[Node], preformatted: bool) -> list[Node]:
    """White space as a browser treats it (collapsed, except inside <pre>; none between
    blocks, none at a block's edges), and tables given their rows of cells."""
    tidy: list[Node] = []
    for node in nodes:
        if "text" not in node:
            node = {
                **node,
                "children": _tidy(node["children"], preformatted or node["tag"] == "pre"),
            }
            if node["tag"] == "table":
                node["rows"] = _table_rows(node)
            tidy.append(node)
        elif preformatted:
            tidy.append(node)
        else:
            tidy.append({"text": _WHITE.sub(" ", node["text"])})
    if preformatted:
        return tidy
    if any(n.get("tag") in _BLOCKS for n in tidy):  # a container of blocks: text between is space
        tidy = [n for n in tidy if "tag" in n or n["text"].strip()]
    if tidy and "text" in tidy[0]:
        tidy[0] = {"text": tidy[0]["text"].lstrip()}
    if tidy and "text" in tidy[-1]:
        tidy[-1] = {"text": tidy[-1]["text"].rstrip()}
    return [n for n in tidy if "tag" in n or n["text"]]


def _table_rows(table: Node) -> list[list[list[Node]]]:
    """Every row of a table (head and body) as a list of cells, padded to the widest row."""
    rows: list[list[list[Node]]] = []

    def walk(node: Node) -> None:
        if node.get("tag") == "tr":
            rows.append([c["children"] for c in node["children"] if c.get("tag") in ("th", "td")])
        else:
            for child in node.get("children", []):
                walk(child)

    walk(table)
    width = max((len(row) for row in rows), default=0)
    return [row + [[]] * (width - len(row)) for row in rows if width]


def unused_narratives(content: Path, model: Model) -> list[str]:
    """Narratives for a partner or KPI that does not exist (a misspelt file name, a partner
    that left): reported, since a narrative the site never shows is easily missed."""
    known = {
        "partners": {p.partner_id for p in model.partners},
        "kpis": {k.kpi_id for k in model.kpis},
    }
    if model.scope is not None:
        return []  # a partner's own site leaves out the others' narratives on purpose
    found = []
    for folder, ids in known.items():
        for path in sorted((content / folder).glob("*.md")):
            if path.stem not in ids:
                found.append(
                    f"content/{folder}/{reading.printable(path.name)}: no {folder[:-1]} with "
                    f"id {reading.printable(path.stem)!r}; "
                    "not shown"
                )
    return found
