"""Drawing charts: Vega-Lite specs to SVG with vl-convert, cached by a hash of the spec.

Kept apart from the Altair builders (sitegen.charts) so that the spawned worker processes that
draw import only this, vl-convert and the standard library: Altair alone takes ~0.2 s to import.
Every chart is drawn once, stored under the hash of its spec and reused by page and PDF alike,
so an unchanged chart is never redrawn: a trend chart takes ~8 ms of CPU to draw, and 1,000
partners × 24 KPIs is 24,000 of them.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import logging
import math
import multiprocessing
import os
import queue
import re
import signal
import sys
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import vl_convert

from sitegen.publish import Progress, write_atomic

Spec = dict[str, Any]

# Part of every spec (usermeta), hence of its cache key: bump it when finish_svg changes, and a
# new vl-convert changes the key too, so the cache never serves an SVG drawn the old way.
SVG_VERSION = 3

# The fonts the package ships (Inter, subset): text is measured with the very font that pages
# and PDFs show, whatever fonts the machine has.
FONTS = Path(__file__).parent / "fonts"


class ChartError(Exception):
    """A spec vl-convert could not draw; the message names the chart's key."""


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
# call), so a pool only pays for itself from a few dozen trend charts (~8 ms each) upwards.
POOL_MIN_CHARTS = 64
# Missing charts are handed to the workers 32 at a time, as one task, while a build goes on: a
# task is a round trip through the pool's queues and threads, and its ~0.15 s of drawing keeps
# the last ones from holding up the end. Fewer than 32 left over go out, split between the
# workers, only once a worker would otherwise be idle.
EARLY_CHUNK = 32
CHUNKS_PER_WORKER = 4  # several chunks per worker even out slow charts without much pickling
MAX_CHUNK = 200  # and results reach the cache while a big build is still drawing

_ID = re.compile(r'\sid="([^"]+)"')
_ID_REF = re.compile(r'(\sid="|url\(#|href="#)([^")]+)')


def spec_json(spec: Spec) -> str:
    """A spec's canonical JSON: what its cache key is made of, what the workers are sent and
    what a page embeds for the interactive view, so a spec is encoded once per build."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def spec_hash(spec: Spec) -> str:
    """The cache key of a chart: sha256 of its canonical JSON."""
    return _digest(spec_json(spec))


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


Drawn = tuple[list[tuple[str, str]], float]  # (digest, SVG) pairs, CPU seconds it took


def _draw_chunk(items: list[tuple[str, str, str]], cache_dir: Path) -> Drawn:
    """Worker entry point: draw a chunk of (digest, key, spec JSON) and store each SVG in the
    cache. The spec travels as the JSON text made for its key: a string is sent to a worker
    for almost nothing, where a spec's dicts cost the main process a second encoding.

    Top-level so that spawn can import it; the worker writes the cache files itself, so that
    work is shared between the cores rather than left to the main process. Also returns the
    CPU seconds (user and kernel, all threads) the chunk took: the cost of drawing, apart from
    everything else a build does.
    """
    started = time.process_time()
    drawn = []
    for digest, key, text in items:
        svg = draw_svg(json.loads(text), digest, key)
        write_atomic(cache_dir / f"{digest}.svg", svg)
        drawn.append((digest, svg))
    return drawn, time.process_time() - started


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


class SvgRenderer:
    """Draws Vega-Lite specs to SVG once, keyed by content hash in `cache_dir`.

    Charts already in the cache are read, never redrawn. Missing ones are drawn in-process, or,
    once more than POOL_MIN_CHARTS are missing and jobs > 1, in `jobs` spawned worker processes:
    vl-convert gains nothing from threads, and forked workers deadlock once the parent has used
    vl-convert, so spawn it is. Spawned workers import the main module: a script using jobs > 1
    needs the `if __name__ == "__main__":` guard (`sitegen` has it).

    A build `submit`s charts as it prepares pages, and drawing starts as soon as a chunk is
    ready; it asks whether a page's charts are `ready`, takes their `svg`, and `release`s them
    once the page is written, so that a big build holds only the charts of pages in progress.
    `wait` draws (or waits for) some of what is missing; `collect` all of it.
    """

    def __init__(self, cache_dir: Path, jobs: int = 1, progress: Progress | None = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.jobs = max(1, jobs)
        self.progress = progress  # told ("charts", drawn, to draw) as drawing goes on
        self.drawn = 0  # charts drawn by this renderer, for the build summary
        self.reused = 0  # charts read from the cache
        self.draw_seconds = 0.0  # CPU seconds spent drawing, summed over the processes
        self._to_draw = 0  # charts found missing so far
        self._keys: dict[str, str] = {}  # key → digest, for keys not yet released
        self._refs: Counter[str] = Counter()  # digest → keys holding it
        self._svgs: dict[str, str] = {}  # digest → SVG, for digests some key holds
        self._drawing: set[str] = set()  # digests missing, waiting or being drawn
        self._waiting: list[tuple[str, str, str]] = []  # missing, not yet handed out
        self._pool: ProcessPoolExecutor | None = None
        self._pending = 0  # tasks handed to the workers and not yet taken in
        # finished tasks, put here by the pool as each one finishes: waiting for the next one
        # costs the same however many are pending (concurrent.futures.wait registers a waiter
        # with every pending future, each time it is called)
        self._done: queue.SimpleQueue[Future[Drawn]] = queue.SimpleQueue()
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def submit(self, key: str, spec: Spec) -> str:
        """Note a chart; start drawing it if it is missing and enough work has gathered.
        Returns the spec's canonical JSON, for a page to embed."""
        text = spec_json(spec)
        digest = _digest(text)
        self._keys[key] = digest
        self._refs[digest] += 1
        if digest in self._svgs or digest in self._drawing:
            return text
        cached = self._read(digest)
        if cached is not None:
            self._svgs[digest] = cached
            self.reused += 1
            return text
        self._drawing.add(digest)
        self._to_draw += 1
        self._waiting.append((digest, key, text))
        if self._pool is None and self.jobs > 1 and self._to_draw >= POOL_MIN_CHARTS:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=die_with_parent,
                initargs=(os.getpid(),),
            )
        while self._pool is not None and len(self._waiting) >= EARLY_CHUNK:
            self._send(self._waiting[:EARLY_CHUNK])
            self._waiting = self._waiting[EARLY_CHUNK:]
        return text

    def ready(self, key: str) -> bool:
        return self._keys[key] in self._svgs

    def svg(self, key: str) -> str:
        return self._svgs[self._keys[key]]

    def release(self, key: str) -> None:
        """Forget a chart the build is done with (its SVG stays in the cache on disk)."""
        digest = self._keys.pop(key)
        self._refs[digest] -= 1
        if not self._refs[digest]:
            del self._refs[digest]
            self._svgs.pop(digest, None)

    def outstanding(self) -> int:
        """Charts submitted and missing, not drawn yet."""
        return len(self._drawing)

    def poll(self) -> None:
        """Take in whatever the workers have finished, without waiting."""
        while self._pending:
            try:
                future = self._done.get_nowait()
            except queue.Empty:
                return
            self._take(future)

    def wait(self) -> None:
        """Draw some missing charts (in-process), or wait until the workers finish some."""
        if self._pool is None:
            if self._waiting:
                chunk = _chunks(self._waiting, 1)[0]
                self._waiting = self._waiting[len(chunk) :]
                self._store(_draw_chunk(chunk, self.cache_dir))
            return
        if self._pending < self.jobs:  # a worker is idle: give it what is left
            for chunk in _chunks(self._waiting, self.jobs):
                self._send(chunk)
            self._waiting = []
        if self._pending:
            self._take(self._done.get())
            self.poll()

    def collect(self) -> dict[str, str]:
        """Wait for every submitted chart; map each key to its SVG."""
        try:
            while self._drawing:
                self.wait()
        finally:
            self.close()
        return {key: self._svgs[digest] for key, digest in self._keys.items()}

    def close(self) -> None:
        """Stop the workers (waiting for any still drawing)."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        self._pending = 0
        self._done = queue.SimpleQueue()

    def render(self, specs: dict[str, Spec]) -> dict[str, str]:
        """Submit every spec and collect them: identical specs under different keys are drawn
        once."""
        for key, spec in specs.items():
            self.submit(key, spec)
        return self.collect()

    def _send(self, chunk: list[tuple[str, str, str]]) -> None:
        """Give the workers one task: these charts (the caller takes them off `_waiting`)."""
        assert self._pool is not None
        future = self._pool.submit(_draw_chunk, chunk, self.cache_dir)
        future.add_done_callback(self._done.put)
        self._pending += 1

    def _take(self, future: Future[Drawn]) -> None:
        self._pending -= 1
        self._store(future.result())

    def _store(self, result: Drawn) -> None:
        drawn, seconds = result
        self.draw_seconds += seconds
        for digest, svg in drawn:
            self._drawing.discard(digest)
            if digest in self._refs:
                self._svgs[digest] = svg
            self.drawn += 1
        if self.progress:
            self.progress("charts", self.drawn, self._to_draw)

    def _read(self, digest: str) -> str | None:
        """A cached SVG, or None; bytes, so the text is exactly what was written."""
        try:
            return (self.cache_dir / f"{digest}.svg").read_bytes().decode("utf-8")
        except FileNotFoundError:
            return None


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
