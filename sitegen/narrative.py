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

from sitegen import reading, sandbox
from sitegen.errors import ContentError
from sitegen.model import Model

ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td", "abbr",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "th": {"scope"}}
URL_SCHEMES = {"http", "https", "mailto"}

MAX_NARRATIVE = 1 << 20  # bytes of a narrative file

_templates = sandbox.sandbox()


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
