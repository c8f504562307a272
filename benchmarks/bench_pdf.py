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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sitegen.build import read_model
from sitegen.config import Config, load_config
from sitegen.pdf import Document, PdfWriter, common_data, partner_document, read_templates
from sitegen.site import Chart, partner_page
from sitegen.svg import SvgRenderer

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate

VERSIONS = ("a trend chart per KPI", "trend charts for KPIs not met", "no trend charts")


def drawn_pages(config: Config, jobs: int) -> list[dict[str, Any]]:
    """Every partner page's context, its trend charts drawn."""
    model = read_model(config, date.today())
    renderer = SvgRenderer(config.project_dir / ".sitegen-cache" / "charts", jobs)
    contexts = []
    for card in model.scorecards.values():
        context = partner_page(card, None).context
        for chart in context["trends"]:
            renderer.submit(f"{card.partner.partner_id}#{chart.id}", chart.make())
        contexts.append(context)
    renderer.collect()
    for context in contexts:
        for chart in context["trends"]:
            chart.svg = renderer.svg(f"{context['card'].partner.partner_id}#{chart.id}")
    renderer.close()
    return contexts


def trends_shown(context: dict[str, Any], version: str) -> list[Chart]:
    """The trend charts a version of the PDF shows."""
    if version == "no trend charts":
        return []
    if version == "trend charts for KPIs not met":
        shown = {f"trend-{r.kpi.kpi_id}" for r in context["card"].results if r.status != "met"}
        return [chart for chart in context["trends"] if chart.id in shown]
    return context["trends"]


def typeset(
    documents: list[Document], jobs: int, cache: Path, generated: datetime
) -> tuple[float, float]:
    """CPU seconds (this process, every thread) and wall seconds to typeset the documents."""
    writer = PdfWriter(generated, cache, jobs)
    before, started = os.times(), time.perf_counter()
    for document in documents:
        writer.submit(document)
    writer.finish()
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
        contexts = drawn_pages(config, args.jobs)
        generated = datetime(2026, 1, 1, tzinfo=UTC)
        common = common_data(config, contexts[0]["card"].period, generated)
        templates = read_templates(project / "templates")
        out = Path(scratch) / "out"
        print(f"== {len(contexts)} partner PDFs on {args.jobs} threads")
        for round_ in range(args.rounds):
            for version in VERSIONS if round_ % 2 == 0 else reversed(VERSIONS):
                pages = [{**c, "trends": trends_shown(c, version)} for c in contexts]
                charts = sum(len(page["trends"]) for page in pages) / len(pages)
                documents = [partner_document(page, common, templates, out) for page in pages]
                cache = Path(scratch) / f"cache-{round_}-{VERSIONS.index(version)}"
                cpu, wall = typeset(documents, args.jobs, cache, generated)
                print(
                    f"{version:32s} {charts:5.1f} charts  {cpu / len(documents) * 1e3:6.1f} ms "
                    f"CPU per PDF  {wall:6.2f} s wall"
                )


if __name__ == "__main__":
    main()
