"""Time typesetting the partner PDFs, as they are and with fewer trend charts in them.

Usage: python benchmarks/bench_pdf.py [--partners 200] [--jobs N] [--rounds 2]

Generates a project (the build benchmark's generator), computes its scorecards, draws every
partner's trend charts (cached in the project, as a build does) and then typesets every
partner's PDF on `jobs` threads, as a build does, in three versions:

- as built, a trend chart per KPI;
- trend charts only for the KPIs not met;
- no trend charts (header, narrative and KPI table only).

For each it prints the CPU milliseconds per PDF (user and system, all threads: what the PDFs
add to a build's CPU) and the wall seconds. Each version is typeset into a cache of its own
each round, so nothing is taken from an earlier one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from sitegen.build import read_model
from sitegen.config import Config, load_config
from sitegen.pdf import Document, Typesetter, common_data, partner_document, read_templates
from sitegen.svg import Drawer
from sitegen.views.common import ChartView
from sitegen.views.partner import PartnerView, partner_view

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate

VERSIONS = ("a trend chart per KPI", "trend charts for KPIs not met", "no trend charts")


def drawn_views(config: Config, jobs: int) -> tuple[list[PartnerView], dict[str, str]]:
    """Every partner's view, and its trend charts drawn (digest → SVG)."""
    model = read_model(config, date.today())
    views = [partner_view(card, None, model.kpis) for card in model.scorecards.values()]
    with Drawer(config.project_dir / ".sitegen-cache" / "charts", jobs) as drawer:
        drawer.draw((c.digest, c.spec, c.id) for view in views for c in view.trends)
        svg = {c.digest: drawer.svg(c.digest) for view in views for c in view.trends}
    return views, svg


def trends_shown(view: PartnerView, version: str) -> tuple[ChartView, ...]:
    """The trend charts a version of the PDF shows."""
    if version == "no trend charts":
        return ()
    if version == "trend charts for KPIs not met":
        shown = {
            f"trend-{row.kpi_id}"
            for group in view.categories
            for row in group.rows
            if row.status.key != "met"
        }
        return tuple(chart for chart in view.trends if chart.id in shown)
    return view.trends


def typeset(
    documents: list[Document], jobs: int, cache: Path, generated: datetime
) -> tuple[float, float]:
    """CPU seconds (this process, every thread) and wall seconds to typeset the documents."""
    before, started = os.times(), time.perf_counter()
    with Typesetter(generated, cache, jobs) as typesetter:
        typesetter.submit(documents)
        typesetter.finish()
    after = os.times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return cpu, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "project"
        generate(project, partners=args.partners)
        config = load_config(project)
        views, svg = drawn_views(config, args.jobs)
        generated = datetime(2026, 1, 1, tzinfo=UTC)
        common = common_data(config, views[0].standing.period, generated)
        templates = read_templates(project)
        out = Path(scratch) / "out"
        print(f"== {len(views)} partner PDFs on {args.jobs} threads")
        for round_ in range(args.rounds):
            for version in VERSIONS if round_ % 2 == 0 else reversed(VERSIONS):
                shown = [replace(v, trends=trends_shown(v, version)) for v in views]
                charts = sum(len(view.trends) for view in shown) / len(shown)
                documents = [partner_document(v, svg, common, templates, out) for v in shown]
                cache = Path(scratch) / f"cache-{round_}-{VERSIONS.index(version)}"
                cpu, wall = typeset(documents, args.jobs, cache, generated)
                print(
                    f"{version:32s} {charts:5.1f} charts  {cpu / len(documents) * 1e3:6.1f} ms "
                    f"CPU per PDF  {wall:6.2f} s wall"
                )


if __name__ == "__main__":
    main()
