"""The static scorecard site: each view rendered through its page template, the downloads it
holds, and the assets every page uses.

Pages link relatively and by file name (`partners/p1.html`), so the site works under any
sub-path and opened from disk. A page shows only what its view holds (sitegen.views): this
module arranges nothing and computes nothing.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment

from sitegen.templating import render
from sitegen.views.plan import Planned
from sitegen.views.review import ArchiveView

STATIC = Path(__file__).parent / "static"
ASSETS = ("static/fonts.css", "static/style.css", "static/charts.js", "vendor/vega-bundle.js")
ICONS = STATIC / "icons"  # the Making Data Count icons, redrawn (static/icons/*.svg)


def icon_sprite() -> str:
    """The icons as one hidden SVG of symbols, for every page to hold once and each reading
    to draw by reference (`<use href="#mdc-…">`): a few hundred bytes per icon once, not per
    use, and no request a page opened from disk could not make."""
    symbols = []
    for path in sorted(ICONS.glob("*.svg")):
        inner = re.sub(r"^<svg[^>]*>|</svg>\s*$|<title>[^<]*</title>", "", path.read_text("utf-8"))
        symbols.append(f'<symbol id="mdc-{path.stem}" viewBox="0 0 24 24">{inner}</symbol>')
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="0" height="0" class="sprite" '
        f'aria-hidden="true" focusable="false">{"".join(symbols)}</svg>'
    )


@dataclass(frozen=True)
class PageKind:
    """How a kind of view becomes a page: its template and place in the navigation."""

    template: str
    nav: str  # the navigation entry it is, or ""


PAGES = {
    "dashboard": PageKind("site/index.html", "index"),
    "own-dashboard": PageKind("site/scoped-index.html", "index"),
    "partner": PageKind("site/partner.html", ""),
    "kpi": PageKind("site/kpi.html", ""),
    "quality": PageKind("site/data-quality.html", "quality"),
    "methodology": PageKind("site/methodology.html", "methodology"),
    "review": PageKind("site/review.html", "review"),
    "periods": PageKind("site/periods.html", "periods"),
}


def files(planned: Planned) -> list[str]:
    """The site's files of a planned view (its PDF is pdf.files'): what is kept with it."""
    if planned.kind not in PAGES:
        return []
    page = [f"{planned.name}.html"]
    if planned.kind == "partner":
        return [*page, f"{planned.name}.json", f"{planned.name}.csv"]
    if planned.kind in ("dashboard", "own-dashboard"):
        return [*page, "alliance.json"]
    return page


def title(kind: str, view: Any) -> str:
    """The page's <title> (before the site's)."""
    if kind == "partner":
        return view.standing.name
    if kind == "kpi":
        return view.name
    if kind == "review":
        return f"Review: since {view.since}"
    titles = {"quality": "Data quality", "methodology": "Methodology", "periods": "Other periods"}
    return titles.get(kind, "Dashboard")


def write(
    views: Iterable[tuple[Planned, Any]],
    env: Environment,
    out: Path,
    drawn: dict[str, str],
    common: dict[str, Any],
) -> list[Path]:
    """Every page (and the downloads its view holds) into `out`; the files written. `drawn`
    holds the views' charts as SVG by digest (read once for the pages and the PDFs alike), and
    `env` is the build's one environment, so each template is compiled once per build."""
    written = []
    for planned, view in views:
        if planned.kind not in PAGES:
            continue
        html = page(env, planned, view, common, {c.digest: drawn[c.digest] for c in view.charts()})
        written.append(_write(out / f"{planned.name}.html", html))
        if planned.kind == "partner":
            written.append(_write(out / f"{planned.name}.json", view.json))
            written.append(_write(out / f"{planned.name}.csv", view.csv))
        elif planned.kind in ("dashboard", "own-dashboard"):
            written.append(_write(out / "alliance.json", view.json))
    return written


def page(
    env: Environment, planned: Planned, view: Any, common: dict[str, Any], drawn: dict[str, str]
) -> str:
    """One view as its page. The context is the templates' documented contract (see the
    project's templates/README.md): what every page shares (`common`), then `view`, `title`,
    `nav`, `root` and `svg` (each chart's drawn SVG by its digest)."""
    kind = PAGES[planned.kind]
    path = f"{planned.name}.html"
    context = {
        **common,
        "view": view,
        "title": title(planned.kind, view),
        "nav": kind.nav,
        "root": "../" * path.count("/"),
        "svg": drawn,
    }
    return render(env, kind.template, context)


def archive_nav(env: Environment, common: dict[str, Any], view: ArchiveView) -> str:
    """The `periods.html` of an archived period's site: which period it is, when it was
    published, and the way to every other period and to the current site (two folders up)."""
    context = {
        **common,
        "title": "Other periods",
        "nav": "periods",
        "root": "",
        "svg": {},
        "view": view,
    }
    return render(env, "site/archived.html", context)


def write_assets(out: Path, vega_bundle: str) -> list[Path]:
    """The stylesheet, fonts and script every page uses, and the vendored Vega bundle."""
    written = []
    for asset in ASSETS[:-1]:
        target = out / asset
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(STATIC / Path(asset).name, target)
        written.append(target)
    written.append(_write(out / ASSETS[-1], vega_bundle))
    return written


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
