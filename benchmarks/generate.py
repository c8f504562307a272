"""Generate a large synthetic project for benchmarks: N partners × 24 KPIs × 36 months.

Usage: python benchmarks/generate.py DIR [--partners 1000] [--months 36] [--kpis 24]
                                         [--format csv|parquet]

Every KPI is a monthly ratio of counts (the most expensive case for load and rollup); one file
per month, as partners submit them. Seeded, so the same arguments give the same data (and, as
CSV, the same bytes). `--format parquet` writes each month as Parquet instead, the same rows
with value a DOUBLE and the counts INTEGERs, as a database export would type them; 15,000
partners × 20 KPIs × 36 months is 10.8 million rows.
"""

from __future__ import annotations

import argparse
import csv
import random
from pathlib import Path

import duckdb

from sitegen.load import CATEGORIES

KPI_COUNT = 24
FORMATS = ("csv", "parquet")
TYPES = ("hospital", "post_acute", "physician_group", "community_org", "payer", "technology")


def month_label(index: int, first_year: int) -> str:
    return f"{first_year + index // 12}-{index % 12 + 1:02d}"


def write_reference(root: Path, partners: int, kpis: int = KPI_COUNT) -> None:
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
        for k in range(kpis):
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


def write_metrics(
    root: Path,
    partners: int,
    months: int,
    first_year: int,
    seed: int,
    kpis: int = KPI_COUNT,
    form: str = "csv",
) -> int:
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
                for k in range(kpis):
                    den = rng.randint(40, 2000)
                    num = rng.randint(0, den)
                    writer.writerow(
                        [f"p{p:05d}", f"k{k:02d}", period, f"{num / den * 100:.1f}", num, den]
                    )
                    rows += 1
        if form == "parquet":
            to_parquet(path)
    return rows


PARQUET_TYPES = {
    "partner_id": "VARCHAR",
    "kpi_id": "VARCHAR",
    "period": "VARCHAR",
    "value": "DOUBLE",
    "numerator": "INTEGER",
    "denominator": "INTEGER",
}


def to_parquet(path: Path) -> None:
    """The month's CSV file as Parquet beside it (the CSV file removed), in file order."""
    with duckdb.connect() as con:
        con.execute("SET preserve_insertion_order = true")
        con.execute(
            "COPY (SELECT * FROM read_csv(?, header = true, columns = ?)) TO ? (FORMAT parquet)",
            [str(path), PARQUET_TYPES, str(path.with_suffix(".parquet"))],
        )
    path.unlink()


def generate(
    root: Path,
    partners: int = 1000,
    months: int = 36,
    seed: int = 7,
    kpis: int = KPI_COUNT,
    form: str = "csv",
) -> int:
    """Write a whole project under `root`; returns the number of metric rows."""
    write_reference(root, partners, kpis)
    return write_metrics(root, partners, months, 2023, seed, kpis, form)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--kpis", type=int, default=KPI_COUNT)
    parser.add_argument("--format", choices=FORMATS, default="csv")
    args = parser.parse_args()
    rows = generate(args.directory, args.partners, args.months, kpis=args.kpis, form=args.format)
    print(f"wrote {rows:,} metric rows to {args.directory}")


if __name__ == "__main__":
    main()
