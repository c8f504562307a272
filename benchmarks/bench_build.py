"""Time `sitegen build` on generated projects: cold, with nothing changed, one partner changed.

Usage: python benchmarks/bench_build.py [--partners 50,1000] [--jobs N] [--no-pdf]

For each size it generates a project (24 KPIs x 36 months, the KPI benchmark's generator) and
runs `sitegen build -q` as a separate process four times: with empty caches (cold), again
with nothing changed, after one partner's figure in the latest month was corrected, and after
a correction that suppresses a figure (so every partner's peer band for that KPI moves). It
prints wall seconds, the peak memory of the largest process, and the stage timings the build
wrote into manifest.json.
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

LAST_BUILT: dict[Path, str] = {}  # project → generated_at of its last build


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
    if manifest["generated_at"] == LAST_BUILT.get(project):
        print(f"{label}: {wall:.1f} s wall, peak {peak:.0f} MiB: nothing changed, nothing built")
        return
    LAST_BUILT[project] = manifest["generated_at"]
    stages = manifest["timings"]
    charts = manifest["charts"]
    per_chart = stages["site"] / charts["drawn"] * 1000 if charts["drawn"] else 0.0
    pages = len(manifest["pages"])
    print(
        f"{label}: {wall:.1f} s wall, peak {peak:.0f} MiB (largest process), {pages} pages "
        f"({manifest['pages_kept']:,} kept with their PDFs), "
        f"charts drawn {charts['drawn']:,} / reused {charts['reused']:,}"
        + (f", {per_chart:.1f} ms per chart drawn" if charts["drawn"] else "")
    )
    print("    stages: " + ", ".join(f"{k} {v:.2f} s" for k, v in stages.items()))
    pdfs = manifest["pdfs"]
    if pdfs["made"]:
        per_pdf = pdfs["typeset_seconds"] / pdfs["made"] * 1000
        print(
            f"    PDFs made {pdfs['made']:,}, reused {pdfs['reused']:,}: {per_pdf:.0f} ms each "
            "to typeset (on threads beside the chart workers)"
        )


def correct_one_figure(project: Path, suppress: bool = False) -> str:
    """Correct one partner's figure in the latest month, as a resubmission would, and say how.

    By default the numerator moves by one, on a row well clear of suppression: the usual
    correction, after which no other partner's figure moves. With `suppress`, the numerator
    becomes 5, which suppresses the figure: it drops out of that KPI's peer median and
    quartiles, which every partner's trend chart shows, so every partner's page changes.
    """
    latest = sorted((project / "data" / "metrics").glob("*.csv"))[-1]
    header, *rows = latest.read_text(encoding="utf-8").splitlines()
    fields = [row.split(",") for row in rows]
    i = next(i for i, f in enumerate(fields) if 20 <= int(f[4]) <= int(f[5]) - 20)
    partner, kpi, period, _, numerator, denominator = fields[i]
    num, den = int(numerator), int(denominator)
    num = 5 if suppress else num + 1
    rows[i] = ",".join([partner, kpi, period, f"{num / den * 100:.1f}", str(num), str(den)])
    latest.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return f"{partner} {kpi} {period}: numerator {numerator} -> {num} of {denominator}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", default="50,1000")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-pdf", action="store_true", help="build without the PDFs")
    args = parser.parse_args()
    extra = ["--no-pdf"] if args.no_pdf else []
    for partners in [int(n) for n in args.partners.split(",")]:
        with tempfile.TemporaryDirectory() as scratch:
            project = Path(scratch)
            generate(project, partners=partners)
            flags = " ".join([f"--jobs {args.jobs}", *extra])
            print(f"== {partners} partners x 24 KPIs x 36 months, {flags}")
            report("cold", project, *timed_build(project, args.jobs, *extra))
            report("nothing changed", project, *timed_build(project, args.jobs, *extra))
            print("correction: " + correct_one_figure(project))
            report("one figure corrected", project, *timed_build(project, args.jobs, *extra))
            print("correction: " + correct_one_figure(project, suppress=True))
            report(
                "one figure suppressed (moves every partner's peer band)",
                project,
                *timed_build(project, args.jobs, *extra),
            )


if __name__ == "__main__":
    main()
