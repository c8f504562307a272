"""Measure what the period archive costs on disk: build consecutive periods and count bytes.

Usage: python benchmarks/bench_archive.py [--partners 100] [--periods 36] [--jobs N] [--no-pdf]

Generates a project (24 KPIs x 36 months, the KPI benchmark's generator) and builds it for
each of its last `--periods` months in turn (`--period`, oldest first), as a nightly run does
when a new month's data arrive, so that every build archives its period. Prints each build's
wall seconds, then the disk the live site takes with its archives: one site (the live files
outside periods/), the archives beyond it, and the archives per period as a share of one
site. Disk is counted as `du` does: the blocks of each file once, however many hard links
lead to it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import generate, month_label

MONTHS = 36
FIRST_YEAR = 2023  # the generator's first month is January 2023


def blocks(root: Path, seen: set[tuple[int, int]], skip: str | None = None) -> int:
    """Bytes of disk the files under `root` take that are not in `seen` (by device and inode),
    leaving out the top-level folder `skip`; adds them to `seen`."""
    total = 0
    for folder, dirs, files in os.walk(root):
        if skip and Path(folder) == root:
            dirs[:] = [d for d in dirs if d != skip]
        for name in files:
            stat = os.lstat(os.path.join(folder, name))
            key = (stat.st_dev, stat.st_ino)
            if key not in seen:
                seen.add(key)
                total += stat.st_blocks * 512
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=100)
    parser.add_argument("--periods", type=int, default=36)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-pdf", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sitegen-archive-") as tmp:
        project = Path(tmp) / "project"
        rows = generate(project, args.partners, MONTHS)
        (project / "sitegen.toml").write_text('[site]\ntitle = "Benchmark alliance"\n')
        print(f"{args.partners:,} partners, {rows:,} metric rows; {args.periods} periods")
        extra = ["--no-pdf"] if args.no_pdf else []
        for index in range(MONTHS - args.periods, MONTHS):
            period = month_label(index, FIRST_YEAR)
            command = [sys.executable, "-m", "sitegen", "build", "-q", "--jobs", str(args.jobs)]
            command += ["--project", str(project), "--period", period, *extra]
            started = time.perf_counter()
            subprocess.run(command, cwd=project, check=True)
            print(f"  {period}: {time.perf_counter() - started:6.1f} s")
        live = (project / "output").resolve()
        seen: set[tuple[int, int]] = set()
        site = blocks(live, seen, skip="periods")
        archives = blocks(live / "periods", seen)
        earlier = len(list((live / "periods").iterdir())) - 1  # the live one's is the site
        mib = 1 << 20
        print(f"one site: {site / mib:,.1f} MiB")
        print(
            f"archives of {earlier} earlier periods (the live period's is the site's own "
            f"files): {archives / mib:,.1f} MiB beyond it, {archives / site:.2f} x one site, "
            f"{archives / site / max(earlier, 1):.1%} of one site per period"
        )


if __name__ == "__main__":
    main()
