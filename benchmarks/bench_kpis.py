"""Time load (+ KPIs) on a generated project: 1,000 partners × 24 KPIs × 36 months by default.

Usage: python benchmarks/bench_kpis.py [--partners 1000] [--kpis 24] [--format csv|parquet]
                                       [--keep DIR | --data DIR]

`--format parquet --kpis 20 --partners 15000` times 10.8 million rows read from Parquet.

Prints wall seconds per stage and the process's peak memory. The data are generated first and
not timed.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from generate import FORMATS, KPI_COUNT, generate

from sitegen.kpis import KpiSettings, compute
from sitegen.load import database, load_project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--kpis", type=int, default=KPI_COUNT)
    parser.add_argument("--format", choices=FORMATS, default="csv", help="of the metrics files")
    parser.add_argument("--keep", type=Path, help="generate into DIR and keep it")
    parser.add_argument(
        "--data", type=Path, help="use a project generated before (skip generating)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.data or args.keep or Path(scratch)
        if args.data:
            rows = "existing"
        else:
            made = generate(root, partners=args.partners, kpis=args.kpis, form=args.format)
            rows = f"{made:,} {args.format}"
        started = time.perf_counter()
        with database() as con:  # as a build has it: on disk, within DuckDB's bound
            summary = load_project(con, root / "data", "data", date(2026, 11, 22))
            loaded = time.perf_counter()
            as_of = compute(con, KpiSettings(today=date(2026, 11, 22)))
            computed = time.perf_counter()
            cells = con.execute("SELECT count(*) FROM scorecard").fetchall()[0][0]
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"rows: {rows} generated, {summary.accepted:,} accepted, {summary.rejected:,} rejected")
    print(f"load: {loaded - started:.2f} s")
    print(f"kpis: {computed - loaded:.2f} s ({cells:,} scorecard rows, as of {as_of})")
    print(f"load + kpis: {computed - started:.2f} s")
    print(f"peak memory: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
