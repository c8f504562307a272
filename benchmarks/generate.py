"""Generate a large synthetic project for benchmarks: N partners × 24 KPIs × 36 months.

Usage: python benchmarks/generate.py DIR [--partners 1000] [--months 36]

Every KPI is a monthly ratio of counts (the most expensive case for load and rollup); one file
per month, as partners submit them. Seeded, so the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

from sitegen.load import CATEGORIES

KPI_COUNT = 24
TYPES = ("hospital", "post_acute", "physician_group", "community_org", "payer", "technology")


def month_label(index: int, first_year: int) -> str:
    return f"{first_year + index // 12}-{index % 12 + 1:02d}"


def write_reference(root: Path, partners: int) -> None:
    """partners.csv and kpis.csv for the synthetic alliance."""
    data = root / "data"
    (data / "metrics").mkdir(parents=True, exist_ok=True)
    with (data / "partners.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["partner_id", "name", "partner_type", "region", "joined", "contact_emails"]
        )
        for p in range(partners):
            writer.writerow(
                [
                    f"p{p:05d}",
                    f"Partner {p:05d}",
                    TYPES[p % len(TYPES)],
                    f"R{p % 5}",
                    "2020-01-01",
                    f"contact@p{p:05d}.example.org",
                ]
            )
    with (data / "kpis.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                "kpi_id",
                "name",
                "category",
                "unit",
                "direction",
                "target",
                "benchmark",
                "weight",
                "description",
                "aggregation",
                "frequency",
            ]
        )
        for k in range(KPI_COUNT):
            direction = "lower" if k % 3 == 0 else "higher"
            target = 20 if direction == "lower" else 70
            writer.writerow(
                [
                    f"k{k:02d}",
                    f"KPI {k:02d}",
                    CATEGORIES[k % len(CATEGORIES)],
                    "percent",
                    direction,
                    target,
                    "",
                    1,
                    f"Synthetic KPI {k}",
                    "ratio",
                    "monthly",
                ]
            )
    (root / "sitegen.toml").write_text('[site]\ntitle = "Benchmark alliance"\n', encoding="utf-8")


def write_metrics(root: Path, partners: int, months: int, first_year: int, seed: int) -> int:
    """One metrics file per month; returns the number of rows written."""
    rng = random.Random(seed)
    rows = 0
    for m in range(months):
        period = month_label(m, first_year)
        path = root / "data" / "metrics" / f"{period}.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["partner_id", "kpi_id", "period", "value", "numerator", "denominator"])
            for p in range(partners):
                for k in range(KPI_COUNT):
                    den = rng.randint(40, 2000)
                    num = rng.randint(0, den)
                    writer.writerow(
                        [f"p{p:05d}", f"k{k:02d}", period, f"{num / den * 100:.1f}", num, den]
                    )
                    rows += 1
    return rows


def generate(root: Path, partners: int = 1000, months: int = 36, seed: int = 7) -> int:
    """Write a whole project under `root`; returns the number of metric rows."""
    write_reference(root, partners)
    return write_metrics(root, partners, months, first_year=2023, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--months", type=int, default=36)
    args = parser.parse_args()
    rows = generate(args.directory, args.partners, args.months)
    print(f"wrote {rows:,} metric rows to {args.directory}")


if __name__ == "__main__":
    main()
