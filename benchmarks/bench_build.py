"""Time `sitegen build` on generated projects: cold, with nothing changed, and with PDFs.

Usage: python benchmarks/bench_build.py [--partners 50,1000] [--jobs N]

For each size it generates a project (24 KPIs x 36 months, the KPI benchmark's generator) and
runs, each as a separate process: `sitegen build -q --no-pdf` with an empty chart cache, the
same again with nothing changed, then `sitegen build -q` (PDFs too, charts cached, so the PDF
stage is timed without drawing). It prints wall seconds, the peak memory of the largest
process, and the stage timings the build wrote into manifest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate


def timed_build(project: Path, jobs: int, *extra: str) -> tuple[float, float]:
    """Wall seconds and the peak RSS (MiB) of the largest process of one build."""
    command = [sys.executable, "-m", "sitegen", "build", "-q", "--project", str(project)]
    command += ["--jobs", str(jobs), *extra]
    started = time.perf_counter()
    process = subprocess.Popen(command)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build failed: {' '.join(command)}")
    return wall, usage.ru_maxrss / 1024


def report(label: str, project: Path, wall: float, peak: float) -> None:
    manifest = json.loads((project / "output" / "manifest.json").read_text(encoding="utf-8"))
    stages = manifest["timings"]
    charts = manifest["charts"]
    per_chart = stages["charts"] / charts["drawn"] * 1000 if charts["drawn"] else 0.0
    pages = len(manifest["pages"])
    print(
        f"{label}: {wall:.1f} s wall, peak {peak:.0f} MiB (largest process), {pages} pages, "
        f"charts drawn {charts['drawn']:,} / reused {charts['reused']:,}"
        + (f", {per_chart:.1f} ms per chart drawn" if charts["drawn"] else "")
    )
    print("    stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    if "pdf" in stages:
        per_pdf = stages["pdf"] / (manifest["partners"] + 1) * 1000  # + the board packet
        print(f"    PDFs: {per_pdf:.0f} ms each (charts already drawn)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", default="50,1000")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    for partners in [int(n) for n in args.partners.split(",")]:
        with tempfile.TemporaryDirectory() as scratch:
            project = Path(scratch)
            generate(project, partners=partners)
            print(f"== {partners} partners x 24 KPIs x 36 months, --jobs {args.jobs}")
            report("cold, --no-pdf", project, *timed_build(project, args.jobs, "--no-pdf"))
            report(
                "nothing changed, --no-pdf", project, *timed_build(project, args.jobs, "--no-pdf")
            )
            report("with PDFs", project, *timed_build(project, args.jobs))


if __name__ == "__main__":
    main()
