"""Drawing charts: Vega-Lite specs to SVG with vl-convert, cached by a hash of the spec.

Kept apart from the Altair builders (sitegen.charts) so that the spawned worker processes that
draw import only this, vl-convert, orjson and the standard library: Altair alone takes ~0.2 s
to import.
Every chart is drawn once, stored under the hash of its spec and reused by page and PDF alike,
so an unchanged chart is never redrawn: a trend chart takes ~8 ms of CPU to draw, and 1,000
partners × 24 KPIs is 24,000 of them.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import math
import multiprocessing
import os
import re
import signal
import sys
import time
from collections.abc import Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import vl_convert

from sitegen.errors import ChartError
from sitegen.publish import Progress, write_atomic

Spec = dict[str, Any]

# Part of every spec (usermeta), hence of its cache key: bump it when finish_svg changes, and a
# new vl-convert changes the key too, so the cache never serves an SVG drawn the old way.
SVG_VERSION = 3

# The fonts the package ships (Inter, subset): text is measured with the very font that pages
# and PDFs show, whatever fonts the machine has.
FONTS = Path(__file__).parent / "fonts"


def _no_values_warning(record: logging.LogRecord) -> bool:
    """Drop Vega's "Infinite extent" warning: a series with no value to plot (a partner whose
    KPI is suppressed or not yet reported) gives it, and the page and its data table say so.
    A misspelled field gives it too, so tests draw every chart with full data and let it be
    seen there; every other warning goes through."""
    return "Infinite extent" not in record.getMessage()


@functools.cache
def _set_up_vl_convert() -> None:
    """Set vl-convert up, once per process (workers included): the shipped fonts, and no
    access to anything outside the spec. Charts carry their data inline; a spec naming a URL
    or a file is refused rather than fetched (vl-convert allows http and https by default).

    Vega's warnings reach Python's logging through vl-convert (a build run from cron mails
    what reaches stderr). One is expected and dropped: see `_no_values_warning`.
    """
    logging.getLogger("vl_convert").addFilter(_no_values_warning)
    vl_convert.configure(allowed_base_urls=[], base_url=False, auto_google_fonts=False)
    vl_convert.register_font_directory(str(FONTS))


# A spawned worker needs ~0.3 s before its first chart (Python, imports, vl-convert's first
# call), so the pool is started only for a batch of a few dozen trend charts (~8 ms each).
POOL_MIN_CHARTS = 64
CHUNKS_PER_WORKER = 4  # several tasks per worker even out slow charts without much pickling
MAX_CHUNK = 200  # and progress shows while a big build is still drawing

_ID = re.compile(r'\sid="([^"]+)"')
_ID_REF = re.compile(r'(\sid="|url\(#|href="#)([^")]+)')


def spec_json(spec: Spec) -> str:
    """A spec's canonical JSON (keys sorted, no spaces, text unescaped): what its cache key is
    made of, what the workers are sent and what a page embeds for the interactive view, so a
    spec is encoded once per build. With orjson: the standard library's encoder took 0.16 ms
    a trend chart, about a sixth of the time it takes to make a partner's view."""
    return orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def spec_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spec_hash(spec: Spec) -> str:
    """The cache key of a chart: sha256 of its canonical JSON."""
    return spec_digest(spec_json(spec))


def finish_svg(svg: str, digest: str) -> str:
    """Make vl-convert's SVG stable and safe to inline several times on one page.

    vl-convert numbers clip paths from a counter that lives as long as the process ("clip1",
    then "clip4" for the same spec), so ids are renumbered in order of appearance and prefixed
    with the chart's hash: identical input gives identical bytes, and two charts on a page never
    share an id. `focusable="false"` keeps old browsers from tabbing into the SVG; the text
    alternative (caption and data table) is the page's job.
    """
    ids: dict[str, str] = {}
    for old in _ID.findall(svg):
        ids.setdefault(old, f"c{digest[:10]}-{len(ids) + 1}")

    def rename(match: re.Match[str]) -> str:
        return match.group(1) + ids.get(match.group(2), match.group(2))

    svg = _ID_REF.sub(rename, svg) if ids else svg
    return svg.replace("<svg ", '<svg focusable="false" ', 1)


# Vega specs compiled from Vega-Lite, per chart shape, for the life of a (worker) process.
_COMPILED: dict[str, dict[str, Any]] = {}


def to_vega(spec: Spec) -> dict[str, Any]:
    """The Vega spec of a Vega-Lite spec, compiled once per shape and filled with its data.

    Charts of one kind differ only in their `datasets` (and description), which the compiled
    Vega spec carries as inline `values` of data sources of the same names; compiling is about
    a fifth of vl-convert's time per chart (10.5 → 8.3 ms of CPU for a trend chart), so it is
    done once.
    Tests check that both routes draw the same SVG.
    """
    datasets = spec.get("datasets", {})
    shape = {k: v for k, v in spec.items() if k not in ("datasets", "description")}
    key = spec_hash(shape)
    compiled = _COMPILED.get(key)
    if compiled is None:
        compiled = vl_convert.vegalite_to_vega({**shape, "datasets": datasets})
        _COMPILED[key] = compiled
    data = [
        {**source, "values": datasets[source["name"]]}
        if source.get("name") in datasets and "values" in source
        else source
        for source in compiled.get("data", [])
    ]
    return {**compiled, "data": data, "description": spec.get("description", "")}


def draw_svg(spec: Spec, digest: str, key: str = "") -> str:
    """Draw one spec with vl-convert, finished for inlining; errors name the chart."""
    _set_up_vl_convert()
    try:
        svg = vl_convert.vega_to_svg(to_vega(spec))
    except (ValueError, PermissionError) as exc:  # a bad spec; data it may not fetch
        raise ChartError(f"chart {key or digest[:12]} could not be drawn: {exc}") from exc
    return finish_svg(svg, digest)


Chart = tuple[str, str, str]  # digest, spec JSON, the chart's name for messages


def _draw_chunk(items: list[Chart], cache_dir: Path) -> tuple[int, float]:
    """Draw a chunk of charts into the cache; the charts drawn and the CPU seconds (user and
    kernel, all threads) it took: the cost of drawing, apart from everything else a build
    does. Top-level so that spawned workers can import it."""
    started = time.process_time()
    for digest, text, name in items:
        write_atomic(cache_dir / f"{digest}.svg", draw_svg(orjson.loads(text), digest, name))
    return len(items), time.process_time() - started


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """A worker's first act: end when the build does, however it ends (the OOM killer's
    SIGKILL included), rather than linger night after night. On Linux the kernel kills the
    worker when its parent dies; a parent already gone by now means going at once."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _chunks(items: list[Any], jobs: int) -> list[list[Any]]:
    """Split work into a few chunks per worker: fewer round trips, yet balanced at the end."""
    size = min(MAX_CHUNK, max(1, math.ceil(len(items) / (jobs * CHUNKS_PER_WORKER))))
    return [items[i : i + size] for i in range(0, len(items), size)]


Drawing = list["Future[tuple[int, float]]"]  # the chunks of one `start`, being drawn


class Drawer:
    """Draws charts once: every spec is stored as SVG in `cache_dir` under its digest, and a
    chart already there is never drawn again. The cache on disk is the buffer between
    drawing and writing: `start` and `wait` fill it, pages and PDFs read it (`svg`).

    Charts are drawn in-process, or with jobs > 1 in `jobs` spawned worker processes (started
    by the first batch big enough to pay for them), so that the next views are drawn while
    the last ones are written: vl-convert gains nothing from threads, and forked workers
    deadlock once the parent has used vl-convert, so spawn it is (a script using jobs > 1
    needs the `if __name__ == "__main__":` guard; `sitegen` has it).
    """

    def __init__(self, cache_dir: Path, jobs: int = 1, progress: Progress | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.jobs = max(1, jobs)
        self.progress = progress  # told ("charts", drawn, to draw so far)
        self.drawn = 0  # charts drawn, for the manifest
        self.reused = 0  # charts found in the cache
        self.draw_seconds = 0.0  # CPU seconds spent drawing, summed over the processes
        self._to_draw = 0
        self._started: set[str] = set()  # drawn or being drawn by this build
        self._pool: ProcessPoolExecutor | None = None
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Drawer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the workers, once every chart is drawn: idle, they still hold their memory
        (about 180 MB each), while the build's own process may have the most to hold yet
        (the board packets, typeset last)."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def start(self, charts: Iterable[Chart]) -> Drawing:
        """Start drawing the charts not in the cache yet; `wait` for them before reading.
        A chart started earlier is in the cache once the earlier `start` is waited for."""
        missing: dict[str, Chart] = {}
        for chart in charts:
            if chart[0] in missing or chart[0] in self._started:
                continue
            if (self.cache_dir / f"{chart[0]}.svg").exists():
                self.reused += 1  # once per chart, as drawn counts: a chart seen again is neither
                self._started.add(chart[0])
            else:
                missing[chart[0]] = chart
        self._started.update(missing)
        items = list(missing.values())
        self._to_draw += len(items)
        if self._pool is None and (self.jobs == 1 or len(items) < POOL_MIN_CHARTS):
            for chunk in _chunks(items, 1):
                self._done(*_draw_chunk(chunk, self.cache_dir))
            return []
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
        return [
            self._pool.submit(_draw_chunk, c, self.cache_dir) for c in _chunks(items, self.jobs)
        ]

    def wait(self, drawing: Drawing) -> None:
        """Wait until the charts of a `start` are drawn; a chart that failed raises here."""
        for task in drawing:
            self._done(*task.result())

    def draw(self, charts: Iterable[Chart]) -> None:
        """Draw the charts not in the cache yet, and wait for them."""
        self.wait(self.start(charts))

    def _done(self, drawn: int, seconds: float) -> None:
        self.drawn += drawn
        self.draw_seconds += seconds
        if self.progress:
            self.progress("charts", self.drawn, self._to_draw)

    def svg(self, digest: str) -> str:
        """A drawn chart, read as bytes so the text is exactly what was written."""
        return (self.cache_dir / f"{digest}.svg").read_bytes().decode("utf-8")

    def vega_bundle(self) -> str:
        """The Vega bundle (vega_bundle), made in a chart worker once there are workers: making
        it starts a JavaScript runtime, which the build's own process would then hold to the
        end beside the workers' (about 160 MB more at the peak of a cold build)."""
        if self._pool is None:
            return vega_bundle(self.cache_dir)
        return self._pool.submit(vega_bundle, self.cache_dir).result()


def vega_bundle(cache_dir: Path) -> str:
    """Vega, Vega-Lite and vega-embed as one script, cached by vl-convert version (~0.8 s call).

    The raw bundle declares top-level consts that would clash with other scripts on the page, so
    it is wrapped in a function; it still sets window.vega, window.vegaLite and window.vegaEmbed.
    """
    path = Path(cache_dir) / f"vega-bundle-{vl_convert.__version__}.js"
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        pass
    # vl-convert's JavaScript bundler logs each of its tree-shaking passes through Python's
    # logging at ERROR level ("tree-shaker; pass=1"); nothing is wrong, and a build run from
    # cron must print only its summary. A bundle that cannot be made raises instead.
    shaker = logging.getLogger("swc_ecma_transforms_optimization.simplify.dce")
    level = shaker.level
    shaker.setLevel(logging.CRITICAL + 1)
    try:
        text = "(function(){\n" + vl_convert.javascript_bundle() + "\n})();"
    finally:
        shaker.setLevel(level)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
    return text
