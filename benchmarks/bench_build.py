"""Time `sitegen build` on generated projects: cold, nothing changed, one figure corrected.

Usage: python benchmarks/bench_build.py [--partners 50,1000] [--kpis 24] [--jobs N] [--no-pdf]
                                        [--cold-only] [--record]

For each size it generates a project (24 KPIs x 36 months, the KPI benchmark's generator) and
runs `sitegen build -q` as a separate process four times: with empty caches (cold), again
with nothing changed, after one partner's figure in the latest month was corrected, and after
a correction that suppresses a figure (so every partner's peer band for that KPI moves).

Each build runs on as many cores as it has worker processes (`--jobs`, its CPU affinity), so
that `--jobs 1` and `--jobs 2` compare one core with two.

For each build it prints a table: stage, wall seconds, share of the build, milliseconds per
partner, and the ratio to the figures kept in benchmarks/results.md (from an earlier commit);
and the CPU seconds spent drawing charts (the workers' own count) against everything else
(the build's CPU, workers included, less drawing). `--cold-only` stops after the cold build
(10,000 partners take most of an hour). `--record` writes this run's figures to results.md,
as the figures the next run is compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from generate import KPI_COUNT, generate

RESULTS = Path(__file__).parent / "results.md"
LAST_BUILT: dict[Path, str] = {}  # project → generated_at of its last build
Figures = dict[str, float]  # stage (and "total") → wall seconds; and the NOT_STAGES
# memory (largest process; all processes, resident and proportional), CPU in all, drawing and
# typesetting
NOT_STAGES = (
    "peak MiB",
    "all rss MiB",
    "all pss MiB",
    "cpu s",
    "drawing cpu s",
    "typesetting cpu s",
    "cpu split by stage",  # 1 when drawing and typesetting CPU are their stages' (--jobs 1)
)


def on_cores(jobs: int) -> None:
    """Run on `jobs` of the machine's cores and no more (in the child, before it starts): a
    build's DuckDB, vl-convert and Typst keep threads of their own, so that unpinned, `--jobs 1`
    keeps 1.2 cores busy and is no measure of one core, which is what sizing a machine needs."""
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cores[:jobs])


def timed_build(project: Path, jobs: int, *extra: str) -> tuple[float, Memory, float]:
    """Wall seconds, the peak memory (see Memory) and the CPU seconds (user and system) of one
    build, its chart workers included (wait4 counts the children it reaped)."""
    command = [sys.executable, "-m", "sitegen", "build", "-q", "--project", str(project)]
    command += ["--jobs", str(jobs), *extra]
    started = time.perf_counter()
    # run inside the project, so that `-m sitegen` imports the sitegen on the path (installed,
    # or PYTHONPATH's), never a checkout that happens to be the current directory
    process = subprocess.Popen(command, cwd=project, preexec_fn=partial(on_cores, jobs))
    sampler = Sampler(process.pid)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"build failed: {' '.join(command)}")
    memory = Memory(usage.ru_maxrss / 1024, sampler.rss / 1024, sampler.pss / 1024)
    return wall, memory, usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Memory:
    """Peak memory of a build in MiB: of its largest process (the kernel's count), and of all
    its processes together (see Sampler): the sum of their resident sets, every SAMPLE
    seconds (pages shared by forked workers counted in each), and the sum of their
    proportional sets, at most every PSS_EVERY seconds (a shared page split between its
    sharers: what the build costs the machine)."""

    largest: float
    rss: float
    pss: float


SAMPLE = 0.1  # seconds between two readings of the build's resident sets
PSS_EVERY = 1.0  # and at least this long between two readings of its proportional sets


class Sampler(threading.Thread):
    """Reads the resident set sizes of a process and all its descendants every SAMPLE seconds
    and their proportional set sizes at most every PSS_EVERY seconds, keeping the highest
    sums (KiB).

    The sampler runs beside the build on the same cores, so it must cost next to nothing:
    a resident set is one read of /proc/<pid>/statm (microseconds), but a proportional set
    walks the process's page tables (14 ms for a 1.3 GB process), which read ten times a
    second for three processes took a fifth of a core from a build on two. So proportional
    sets are read only when they could beat the peak (a process's proportional set is never
    above its resident set) and not more than once a PSS_EVERY.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.rss, self.pss = pid, 0, 0
        self.stop = threading.Event()
        self.page_kib = os.sysconf("SC_PAGE_SIZE") // 1024

    def run(self) -> None:
        last_pss = 0.0
        while not self.stop.wait(SAMPLE):
            pids = self.tree()
            rss = sum(self.resident(pid) for pid in pids)
            self.rss = max(self.rss, rss)
            now = time.monotonic()
            if rss > self.pss and now - last_pss >= PSS_EVERY:
                last_pss = now
                self.pss = max(self.pss, sum(_pss(pid) for pid in pids))

    def resident(self, pid: int) -> int:
        """A process's resident set in KiB, 0 once it has ended."""
        try:
            return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * self.page_kib
        except (OSError, IndexError, ValueError):
            return 0

    def tree(self) -> list[int]:
        """The build's process and its descendants (each thread's children, in /proc)."""
        found, frontier = [self.pid], [self.pid]
        while frontier:
            children = []
            for pid in frontier:
                try:
                    tasks = list(Path(f"/proc/{pid}/task").iterdir())
                except OSError:
                    continue  # ended meanwhile
                for task in tasks:
                    try:
                        children += [int(c) for c in (task / "children").read_text().split()]
                    except OSError:
                        continue
            found += children
            frontier = children
        return found


def _pss(pid: int) -> int:
    """A process's proportional set size in KiB, 0 once it has ended."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    found = re.search(r"^Pss:\s+(\d+) kB", text, flags=re.M)
    return int(found.group(1)) if found else 0


def report(
    label: str,
    project: Path,
    partners: int,
    jobs: int,
    measured: tuple[float, Memory, float],
    before: Figures,
) -> Figures:
    """Print what one build did and its stage table; return its figures."""
    wall, memory, cpu = measured
    peaks = {"peak MiB": memory.largest, "all rss MiB": memory.rss, "all pss MiB": memory.pss}
    peak = (
        f"peak {memory.pss:.0f} MiB all processes (PSS; RSS summed {memory.rss:.0f}, "
        f"largest process {memory.largest:.0f})"
    )
    manifest = json.loads((project / "output" / "manifest.json").read_text(encoding="utf-8"))
    if manifest["generated_at"] == LAST_BUILT.get(project):
        print(f"{label}: {wall:.1f} s wall, {peak}: nothing changed, nothing built")
        return {"total": wall, **peaks}
    LAST_BUILT[project] = manifest["generated_at"]
    charts, pdfs = manifest["charts"], manifest["pdfs"]
    print(
        f"{label}: {wall:.1f} s wall, {peak}, "
        f"{len(manifest['pages'])} pages ({manifest['units_kept']:,} units kept with their PDFs), "
        f"charts drawn {charts['drawn']:,} / reused {charts['reused']:,}, "
        f"PDFs made {pdfs['made']:,} / reused {pdfs['reused']:,}"
    )
    stages = dict(manifest["timings"])
    stages["other"] = max(0.0, wall - sum(stages.values()))  # start-up, hashing, publishing
    drawing, typesetting, split = cpu_split(manifest, jobs)
    figures = {
        **stages,
        "total": wall,
        **peaks,
        "cpu s": cpu,
        "drawing cpu s": drawing,
        "typesetting cpu s": typesetting,
        "cpu split by stage": float(split),
    }
    print_table(figures, partners, before)
    if charts["drawn"] and drawing:
        floor = drawing / jobs
        print(
            f"    drawing: {drawing:.1f} CPU s for {charts['drawn']:,} charts "
            f"({drawing / charts['drawn'] * 1000:.1f} ms each), {floor:.1f} s on {jobs} cores; "
            f"everything else adds {(wall - floor) / floor:.0%} on top"
        )
        print(
            f"    CPU: {cpu:.1f} s in all, {cpu / wall:.2f} cores busy on average; "
            f"{cpu - drawing:.1f} s of it not drawing (pages, specs, PDFs, load, KPIs, model)"
        )
        rest = cpu - drawing - typesetting
        print(
            f"    everything but drawing and typesetting: {rest:.1f} CPU s, "
            f"{rest / cpu:.1%} of the build's CPU ({SPLIT_HOW[split]})"
        )
    if pdfs["made"]:
        where = "in the build's own process" if split else "on threads beside the chart workers"
        print(f"    PDFs: {typesetting / pdfs['made'] * 1000:.0f} ms each to typeset ({where})")
    return figures


SPLIT_HOW = {
    True: "each stage's own CPU: with --jobs 1 the stages run one after another",
    False: "by subtraction: Typst's own helper threads, which the typesetting count misses, "
    "count here; --jobs 1 splits the CPU exactly",
}


def cpu_split(manifest: dict[str, Any], jobs: int) -> tuple[float, float, bool]:
    """The CPU seconds of drawing and of typesetting, and whether they are the stages' own.

    With --jobs 1 a build draws and typesets in its own process, one stage after another, so
    the CPU its process spent in each stage (all threads: vl-convert's, Typst's helpers) is
    that stage's. With more, charts are drawn in workers, which count their own CPU, and PDFs
    on threads beside the other stages: the typesetting threads count theirs, but not that of
    Typst's helper threads (about 60 % of Typst's CPU here), which is left in the rest.
    """
    by_stage = manifest.get("timings_cpu", {})
    if jobs == 1 and by_stage:
        return by_stage.get("drawing", 0.0), by_stage.get("typesetting", 0.0), True
    drawing = manifest["charts"].get("draw_cpu_seconds", 0.0)
    return drawing, manifest["pdfs"].get("typeset_seconds", 0.0), False


def print_table(figures: Figures, partners: int, before: Figures) -> None:
    total = figures["total"]
    print(f"    {'stage':<8} {'wall s':>8} {'share':>7} {'ms/partner':>11} {'vs before':>10}")
    for stage, seconds in figures.items():
        if stage in NOT_STAGES:
            continue
        ratio = f"{seconds / before[stage]:.2f}x" if before.get(stage) else "–"
        print(
            f"    {stage:<8} {seconds:>8.2f} {seconds / total:>7.1%} "
            f"{seconds / partners * 1000:>11.1f} {ratio:>10}"
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


Recorded = tuple[dict[str, Figures], dict[str, str]]  # figures by build; where each was measured


def read_results() -> Recorded:
    """The figures recorded in results.md (its JSON block) and, per build, the commit and date
    they were measured at; none yet when there is no file."""
    try:
        text = RESULTS.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, {}
    found = re.search(r"```json\n(.*?)\n```", text, flags=re.S)
    recorded = json.loads(found.group(1)) if found else {}
    if "runs" not in recorded:  # the first format: the figures alone, all from one commit
        commit = re.search(r"at commit (\w+), (\d{4}-\d\d-\d\d)", text)
        where = f"{commit.group(1)}, {commit.group(2)}" if commit else "unknown"
        return recorded, dict.fromkeys(recorded, where)
    return recorded["runs"], recorded["measured"]


def write_results(runs: dict[str, Figures], jobs: int, recorded: Recorded) -> None:
    """results.md: a table per build, and the same figures as JSON for the next comparison.

    Builds this run measured replace their earlier figures; the others stay, with the commit
    they were measured at, so that a long run (10,000 partners) need not be repeated with
    every short one.
    """
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).parent,
    ).stdout.strip()
    earlier, measured = recorded
    here = f"{commit or 'unknown'}, {datetime.now(UTC):%Y-%m-%d}, --jobs {jobs}"
    measured = {**measured, **dict.fromkeys(runs, here)}
    runs = {**earlier, **runs}
    lines = [
        "# Build benchmark results",
        "",
        "`benchmarks/bench_build.py` on a 2-core machine; each section names the commit it was "
        "measured at and the worker processes (`--jobs`); since 66c2eef a build runs on as many "
        "cores as it has workers. Each build is a separate `sitegen build -q` process; `other` "
        "is start-up, input hashing and publishing.",
        "The next run of the benchmark prints its ratios to these figures.",
        "",
    ]
    for name, figures in runs.items():
        partners = int(name.split(" ")[0])
        lines += [f"## {name}", "", f"Measured at {measured[name]}.", ""]
        lines += ["| stage | wall s | share | ms per partner |", "|---|---|---|---|"]
        total = figures["total"]
        for stage, seconds in figures.items():
            if stage not in NOT_STAGES:
                lines.append(
                    f"| {stage} | {seconds:.2f} | {seconds / total:.1%} | "
                    f"{seconds / partners * 1000:.1f} |"
                )
        lines += ["", f"Peak memory of the largest process: {figures['peak MiB']:.0f} MiB."]
        if figures.get("all pss MiB"):
            lines.append(
                f"Peak memory of all its processes: {figures['all pss MiB']:.0f} MiB "
                f"proportional (PSS), {figures['all rss MiB']:.0f} MiB resident sets summed."
            )
        if figures.get("drawing cpu s"):
            cpu, drawing = figures["cpu s"], figures["drawing cpu s"]
            if "typesetting cpu s" in figures:
                typesetting = figures["typesetting cpu s"]
                rest = cpu - drawing - typesetting
                how = SPLIT_HOW[bool(figures.get("cpu split by stage"))]
                lines.append(
                    f"CPU: {cpu:.1f} s in all ({cpu / total:.2f} cores busy), {drawing:.1f} s "
                    f"of it drawing charts, {typesetting:.1f} s typesetting PDFs, {rest:.1f} s "
                    f"({rest / cpu:.1%}) everything else ({how})."
                )
            else:  # recorded before typesetting was counted apart
                lines.append(
                    f"CPU: {cpu:.1f} s in all ({cpu / total:.2f} cores busy), {drawing:.1f} s "
                    f"of it drawing charts, {cpu - drawing:.1f} s everything else."
                )
        lines.append("")
    block = {"runs": runs, "measured": measured}
    lines += ["```json", json.dumps(block, indent=1), "```", ""]
    RESULTS.write_text("\n".join(lines), encoding="utf-8")


# (label, name in results.md, the correction made before the build)
STEPS = [
    ("cold", "cold", None),
    ("nothing changed", "nothing changed", None),
    ("one figure corrected", "one figure corrected", False),
    ("one figure suppressed (moves every partner's peer band)", "one suppressed", True),
]


def bench_size(
    partners: int,
    kpis: int,
    jobs: int,
    extra: list[str],
    before: dict[str, Any],
    cold_only: bool,
) -> dict[str, Figures]:
    """The four builds of one generated project (or the cold one); their figures by name."""
    runs: dict[str, Figures] = {}
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch)
        generate(project, partners=partners, kpis=kpis)
        print(
            f"== {partners} partners x {kpis} KPIs x 36 months, "
            + " ".join([f"--jobs {jobs}", *extra])
        )
        for label, key, suppress in STEPS[:1] if cold_only else STEPS:
            if suppress is not None:
                print("correction: " + correct_one_figure(project, suppress))
            size = f"{partners} partners" + (f" x {kpis} KPIs" if kpis != KPI_COUNT else "")
            name = f"{size}, {key}" + (", no PDFs" if extra else "")
            name += f", --jobs {jobs}" if jobs < (os.cpu_count() or 1) else ""
            measured = timed_build(project, jobs, *extra)
            runs[name] = report(label, project, partners, jobs, measured, before.get(name, {}))
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", default="50,1000")
    parser.add_argument("--kpis", type=int, default=KPI_COUNT, help="KPIs per partner")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-pdf", action="store_true", help="build without the PDFs")
    parser.add_argument("--cold-only", action="store_true", help="only the cold build")
    parser.add_argument("--record", action="store_true", help="write the figures to results.md")
    args = parser.parse_args()
    extra = ["--no-pdf"] if args.no_pdf else []
    recorded = read_results()
    before = recorded[0]
    runs: dict[str, Figures] = {}
    for partners in [int(n) for n in args.partners.split(",")]:
        runs |= bench_size(partners, args.kpis, args.jobs, extra, before, args.cold_only)
    if args.record:
        write_results(runs, args.jobs, recorded)
        print(f"recorded in {RESULTS}")


if __name__ == "__main__":
    main()
