"""Drawing specs to SVG: cache, ids, worker pool, precompiled Vega, shipped fonts."""

from __future__ import annotations

import hashlib
import json
import re
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar

import pytest
import vl_convert

from sitegen import charts, svg
from sitegen.charts import TrendPoint, sparkline, trend_chart
from sitegen.svg import ChartError, SvgRenderer, spec_hash, vega_bundle

FULL = [
    TrendPoint(f"2025-{i + 1:02d}", v, 55.0, 45.0, 50.0, 58.0)
    for i, v in enumerate([50.0, 52.0, None, 55.0, 57.5, 56.0])
]


def months(values: list[float]) -> list[TrendPoint]:
    return [
        TrendPoint(f"2025-{i + 1:02d}", v, None, None, None, None) for i, v in enumerate(values)
    ]


def clipped(n: int) -> dict[str, Any]:
    """A small spec whose SVG carries clip-path ids (marks clipped to the plot)."""
    return {
        "data": {"values": [{"x": i, "y": (i * 7 + n) % 5} for i in range(6)]},
        "mark": {"type": "line", "clip": True},
        "encoding": {
            "x": {"field": "x", "type": "quantitative"},
            "y": {"field": "y", "type": "quantitative"},
        },
        "width": 100,
        "height": 40,
    }


def test_spec_hash_is_sha256_of_canonical_json() -> None:
    spec = {"b": [1, 2.5], "a": {"z": "é", "y": None}}
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert spec_hash(spec) == hashlib.sha256(canonical.encode()).hexdigest()
    assert spec_hash({"a": {"y": None, "z": "é"}, "b": [1, 2.5]}) == spec_hash(spec)


def test_submit_returns_the_json_its_key_is_made_of(tmp_path: Path) -> None:
    """The page embeds the very text the cache key hashes: one encoding per spec."""
    spec = clipped(1)
    renderer = SvgRenderer(tmp_path, jobs=1)
    text = renderer.submit("a", spec)
    assert json.loads(text) == spec
    assert hashlib.sha256(text.encode()).hexdigest() == spec_hash(spec)
    renderer.collect()
    assert (tmp_path / f"{spec_hash(spec)}.svg").exists()


def test_builders_are_deterministic_and_versioned() -> None:
    assert spec_hash(trend_chart("t", "rate", FULL, 3.0)) == spec_hash(
        trend_chart("t", "rate", FULL, 3.0)
    )
    assert trend_chart("t", "rate", FULL, 3.0)["usermeta"]["svg"] == svg.SVG_VERSION


def test_render_writes_the_cache_and_never_redraws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = clipped(1)
    first = SvgRenderer(tmp_path, jobs=1).render({"a": spec})
    assert (tmp_path / f"{spec_hash(spec)}.svg").read_bytes().decode() == first["a"]
    assert [p.name for p in tmp_path.iterdir()] == [f"{spec_hash(spec)}.svg"]  # no temp left

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("a cached chart was drawn again")

    monkeypatch.setattr(vl_convert, "vega_to_svg", refuse)
    renderer = SvgRenderer(tmp_path, jobs=4)
    assert renderer.render({"again": spec}) == {"again": first["a"]}
    assert (renderer.drawn, renderer.reused) == (0, 1)


def test_same_spec_under_two_keys_is_drawn_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch)
    out = SvgRenderer(tmp_path, jobs=1).render({"a": clipped(1), "b": clipped(1)})
    assert out["a"] == out["b"] and len(calls) == 1


def count_calls(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    calls: list[object] = []
    real = vl_convert.vega_to_svg  # charts are drawn from their compiled Vega spec

    def counting(spec: object, *args: object, **kwargs: object) -> str:
        calls.append(spec)
        return real(spec, *args, **kwargs)

    monkeypatch.setattr(vl_convert, "vega_to_svg", counting)
    return calls


def test_output_is_byte_identical_although_vl_convert_numbers_ids_per_process(
    tmp_path: Path,
) -> None:
    # vl-convert 1.9 numbers clip paths from a process-wide counter (clip1…, then clip4… for the
    # same spec); finish_svg renumbers them, so the bytes depend on the spec alone.
    first = SvgRenderer(tmp_path / "one", 1).render({"x": clipped(1)})
    second = SvgRenderer(tmp_path / "two", 1).render({"x": clipped(1)})
    assert first == second


def ids_and_refs(svg: str) -> tuple[set[str], set[str]]:
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    refs = set(re.findall(r"url\(#([^)]+)\)", svg)) | set(re.findall(r'href="#([^"]+)"', svg))
    return ids, refs


def test_two_charts_on_a_page_share_no_id(tmp_path: Path) -> None:
    out = SvgRenderer(tmp_path, jobs=1).render({"a": clipped(1), "b": clipped(2)})
    ids_a, refs_a = ids_and_refs(out["a"])
    ids_b, refs_b = ids_and_refs(out["b"])
    assert ids_a and ids_b and not ids_a & ids_b
    assert refs_a <= ids_a and refs_b <= ids_b  # every reference renamed with its id


def test_svg_is_marked_not_focusable(tmp_path: Path) -> None:
    svg = SvgRenderer(tmp_path, 1).render({"s": sparkline(FULL)})["s"]
    assert svg.startswith('<svg focusable="false" ')
    ET.fromstring(svg)  # still well-formed


def test_a_broken_spec_names_its_chart(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="kpi-falls"):
        SvgRenderer(tmp_path, 1).render({"kpi-falls": {"mark": "no-such-mark"}})


def point_chart(url: str) -> dict[str, Any]:
    return {"data": {"url": url}, "mark": "point", "encoding": {"x": {"field": "a"}}}


def test_a_spec_naming_a_url_is_refused_and_nothing_connects(tmp_path: Path) -> None:
    # charts carry their data inline: one naming a URL is refused, not fetched
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        url = f"http://127.0.0.1:{server.getsockname()[1]}/rows.csv"
        with pytest.raises(ChartError, match="remote-data") as refused:
            SvgRenderer(tmp_path, 1).render({"remote-data": point_chart(url)})
        assert "not allowed" in str(refused.value)
        with pytest.raises(TimeoutError):
            server.accept()
    assert list(tmp_path.glob("*.svg")) == []


def test_a_relative_data_path_is_not_resolved_against_a_cdn(tmp_path: Path) -> None:
    # vl-convert would otherwise fetch "rows.csv" from the vega-datasets CDN
    with pytest.raises(ChartError, match="relative-data") as refused:
        SvgRenderer(tmp_path, 1).render({"relative-data": point_chart("rows.csv")})
    assert "http" not in str(refused.value)


class InlinePool:
    """Stands in for ProcessPoolExecutor: records how it was made, runs work in this process."""

    made: ClassVar[list[dict[str, Any]]] = []
    tasks: ClassVar[list[int]] = []  # charts per task handed to the pool

    def __init__(self, **kwargs: Any) -> None:
        InlinePool.made.append(kwargs)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        InlinePool.tasks.append(len(args[0]))
        done: Future[Any] = Future()
        done.set_result(fn(*args))
        return done

    def shutdown(self) -> None:
        InlinePool.made[-1]["shut down"] = True


def many_specs(n: int) -> dict[str, dict[str, Any]]:
    return {f"spark-{i}": sparkline(months([float(i), float(i % 3), 2.0])) for i in range(n)}


def test_many_charts_use_one_spawn_pool_per_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    InlinePool.made = []
    monkeypatch.setattr(svg, "ProcessPoolExecutor", InlinePool)
    monkeypatch.setattr(svg, "POOL_MIN_CHARTS", 8)
    SvgRenderer(tmp_path / "few", jobs=2).render(many_specs(7))
    assert InlinePool.made == []  # too few to be worth starting workers
    out = SvgRenderer(tmp_path / "many", jobs=2).render(many_specs(12))
    assert len(InlinePool.made) == 1
    assert InlinePool.made[0]["max_workers"] == 2
    assert InlinePool.made[0]["mp_context"].get_start_method() == "spawn"
    assert InlinePool.made[0]["shut down"]
    assert len(out) == 12 and len(list((tmp_path / "many").glob("*.svg"))) == 12


def test_charts_go_to_the_workers_in_whole_chunks_while_pages_are_prepared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # each task is a round trip through the pool: a build hands out EARLY_CHUNK charts per task
    # as it prepares pages (from the moment the pool starts), and sends what is left over only
    # when a worker would otherwise be idle, split between the workers
    InlinePool.made, InlinePool.tasks = [], []
    monkeypatch.setattr(svg, "ProcessPoolExecutor", InlinePool)
    monkeypatch.setattr(svg, "POOL_MIN_CHARTS", 8)
    monkeypatch.setattr(svg, "EARLY_CHUNK", 4)
    renderer = SvgRenderer(tmp_path, jobs=2)
    for key, spec in many_specs(10).items():
        renderer.submit(key, spec)
    assert InlinePool.tasks == [4, 4]  # the pool started at the 8th chart; 2 wait
    renderer.wait()  # two tasks are pending, so both workers are busy: the 2 keep waiting
    assert InlinePool.tasks == [4, 4] and renderer.outstanding() == 2
    out = renderer.collect()
    assert InlinePool.tasks == [4, 4, 1, 1]
    assert len(out) == 10 and len(list(tmp_path.glob("*.svg"))) == 10


@pytest.mark.slow
def test_spawned_workers_draw_the_same_bytes_as_in_process(tmp_path: Path) -> None:
    extra = {"clip": clipped(3), "trend": trend_chart("t", "usd", FULL, 51.0)}
    specs = many_specs(svg.POOL_MIN_CHARTS) | extra
    pooled = SvgRenderer(tmp_path / "pool", jobs=2).render(specs)
    inline = SvgRenderer(tmp_path / "inline", jobs=1).render(specs)
    assert pooled == inline
    assert len(list((tmp_path / "pool").glob("*.svg"))) == len(specs)


def test_vega_bundle_is_wrapped_and_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    def bundle(*args: object) -> str:
        calls.append(1)
        return "const vega = 1; window.vega = vega;"

    monkeypatch.setattr(vl_convert, "javascript_bundle", bundle)
    text = vega_bundle(tmp_path)
    assert text == "(function(){\nconst vega = 1; window.vega = vega;\n})();"
    assert vega_bundle(tmp_path) == text and len(calls) == 1
    assert (tmp_path / f"vega-bundle-{vl_convert.__version__}.js").read_text() == text


@pytest.mark.slow
def test_real_vega_bundle_sets_globals_inside_a_function(tmp_path: Path) -> None:
    text = vega_bundle(tmp_path)
    assert text.startswith("(function(){\n") and text.endswith("\n})();")
    assert "window.vegaEmbed" in text and "</script" not in text.lower()


def _variants() -> list[dict]:
    """Two charts of each kind that share a shape but not their data."""
    months = [f"2025-{m:02d}" for m in range(1, 13)]
    specs = []
    for shift in (0.0, 7.5):
        points = [
            charts.TrendPoint(p, 10 + i % 4 + shift, 12.0, 9.0, 11.0, 13.0)
            for i, p in enumerate(months)
        ]
        points[3] = charts.TrendPoint(months[3], None, 12.0, None, None, None)
        specs += [
            charts.trend_chart("t", "percent", points, 11.5),
            charts.trend_chart("t", "percent", points, None, legend=False),
            charts.sparkline(points),
            charts.distribution_chart("d", "usd", [900 + shift * 10, 950, 1010, 1200], 1000),
        ]
    return specs


def test_precompiled_vega_draws_what_vega_lite_draws() -> None:
    """draw_svg compiles each chart shape to Vega once and swaps the data in; the result must
    be the SVG that drawing the Vega-Lite spec directly gives."""
    for spec in _variants():
        digest = svg.spec_hash(spec)
        direct = svg.finish_svg(vl_convert.vegalite_to_svg(spec), digest)
        assert svg.draw_svg(spec, digest) == direct


def test_charts_are_set_in_the_shipped_font() -> None:
    # The font a chart names is the one the package ships and vl-convert measures with, so the
    # SVG's text fits the same way on every machine and in the browser (which gets the same
    # faces from static/fonts.css).
    assert charts.CONFIG["font"].startswith("Inter,")
    assert sorted(p.name for p in svg.FONTS.iterdir()) == [
        "Inter-Bold.otf",
        "Inter-Italic.otf",
        "Inter-Regular.otf",
        "OFL.txt",
    ]
    drawn = svg.draw_svg(trend_chart("t", "percent", FULL, 50.0), "f" * 64)
    assert 'font-family="Inter, DejaVu Sans' in drawn


def descendants(pid: int) -> set[int]:
    """Every process below `pid`, found through /proc."""
    children: dict[int, list[int]] = {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines())
        except (OSError, ValueError):
            continue
        children.setdefault(int(fields["PPid"]), []).append(int(status.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_no_chart_worker_outlives_a_killed_build(tmp_path: Path) -> None:
    """SIGKILL of the build, as the OOM killer sends it: its chart workers and
    multiprocessing's helper go too, within 5 s, instead of piling up night after night."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    from generate import generate

    generate(tmp_path / "big", partners=30, months=13)
    command = ["build", "-q", "--no-pdf", "--jobs", "2", "--project", str(tmp_path / "big")]
    build = subprocess.Popen(
        [sys.executable, "-m", "sitegen", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(600):  # until both workers draw
            below = descendants(build.pid)
            if len(below) >= 3:  # two workers and the resource tracker
                break
            assert build.poll() is None, "the build ended before its workers started"
            time.sleep(0.05)
        assert len(below) >= 3, below
        build.send_signal(signal.SIGKILL)
        build.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(alive(pid) for pid in below):
            time.sleep(0.1)
        assert [pid for pid in below if alive(pid)] == []
    finally:
        if build.poll() is None:
            build.kill()
