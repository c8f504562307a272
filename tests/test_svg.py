"""Drawing specs to SVG: cache, ids, worker pool, precompiled Vega, shipped fonts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import vl_convert

from sitegen import charts, svg
from sitegen.charts import TrendPoint, trend_chart
from sitegen.svg import ChartError, Drawer, spec_hash, vega_bundle
from sitegen.views.common import chart

FULL = [
    TrendPoint(f"2025-{i + 1:02d}", v, 55.0, 45.0, 50.0, 58.0)
    for i, v in enumerate([50.0, 52.0, None, 55.0, 57.5, 56.0])
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


def render(cache: Path, specs: dict[str, dict[str, Any]], jobs: int = 1) -> dict[str, str]:
    """Draw specs as a build does (Drawer) and read back each one's SVG by its key."""
    views = {key: chart(key, spec, "", "", None) for key, spec in specs.items()}
    with Drawer(cache, jobs) as drawer:
        drawer.draw((v.digest, v.spec, key) for key, v in views.items())
        return {key: drawer.svg(v.digest) for key, v in views.items()}


def test_spec_hash_is_sha256_of_canonical_json() -> None:
    """Keys sorted at every level, no spaces, text as UTF-8 rather than \\u escapes."""
    spec = {"b": [1, 2.5], "a": {"z": "é", "y": None}}
    canonical = '{"a":{"y":null,"z":"é"},"b":[1,2.5]}'
    assert svg.spec_json(spec) == canonical
    assert spec_hash(spec) == hashlib.sha256(canonical.encode()).hexdigest()
    assert spec_hash({"a": {"y": None, "z": "é"}, "b": [1, 2.5]}) == spec_hash(spec)


def test_a_chart_view_embeds_the_json_its_digest_is_made_of() -> None:
    """The page embeds the very text the cache key hashes: one encoding per spec."""
    spec = clipped(1)
    view = chart("c", spec, "alt", "caption", None)
    assert json.loads(view.spec) == spec
    assert view.digest == hashlib.sha256(view.spec.encode()).hexdigest() == spec_hash(spec)


def test_builders_are_deterministic_and_versioned() -> None:
    assert spec_hash(trend_chart("t", "rate", FULL, 3.0)) == spec_hash(
        trend_chart("t", "rate", FULL, 3.0)
    )
    assert trend_chart("t", "rate", FULL, 3.0)["usermeta"]["svg"] == svg.SVG_VERSION


def test_render_writes_the_cache_and_never_redraws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = clipped(1)
    first = render(tmp_path, jobs=1, specs={"a": spec})
    assert (tmp_path / f"{spec_hash(spec)}.svg").read_bytes().decode() == first["a"]
    assert [p.name for p in tmp_path.iterdir()] == [f"{spec_hash(spec)}.svg"]  # no temp left

    def refuse(*args: object, **kwargs: object) -> str:
        raise AssertionError("a cached chart was drawn again")

    monkeypatch.setattr(vl_convert, "vega_to_svg", refuse)
    view = chart("again", spec, "", "", None)
    with Drawer(tmp_path, jobs=4) as drawer:
        drawer.draw([(view.digest, view.spec, "again")])
        assert drawer.svg(view.digest) == first["a"]
        drawer.draw([(view.digest, view.spec, "again")])  # a later page shows it too
    assert (drawer.drawn, drawer.reused) == (0, 1)  # one chart, counted once


def test_same_spec_under_two_keys_is_drawn_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = count_calls(monkeypatch)
    out = render(tmp_path, jobs=1, specs={"a": clipped(1), "b": clipped(1)})
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
    first = render(tmp_path / "one", jobs=1, specs={"x": clipped(1)})
    second = render(tmp_path / "two", jobs=1, specs={"x": clipped(1)})
    assert first == second


def ids_and_refs(svg: str) -> tuple[set[str], set[str]]:
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    refs = set(re.findall(r"url\(#([^)]+)\)", svg)) | set(re.findall(r'href="#([^"]+)"', svg))
    return ids, refs


def test_two_charts_on_a_page_share_no_id(tmp_path: Path) -> None:
    out = render(tmp_path, jobs=1, specs={"a": clipped(1), "b": clipped(2)})
    ids_a, refs_a = ids_and_refs(out["a"])
    ids_b, refs_b = ids_and_refs(out["b"])
    assert ids_a and ids_b and not ids_a & ids_b
    assert refs_a <= ids_a and refs_b <= ids_b  # every reference renamed with its id


def test_svg_is_marked_not_focusable(tmp_path: Path) -> None:
    svg = render(tmp_path, jobs=1, specs={"s": trend_chart("t", "rate", FULL, 3.0)})["s"]
    assert svg.startswith('<svg focusable="false" ')
    ET.fromstring(svg)  # still well-formed


def test_a_broken_spec_names_its_chart(tmp_path: Path) -> None:
    with pytest.raises(ChartError, match="kpi-falls"):
        render(tmp_path, jobs=1, specs={"kpi-falls": {"mark": "no-such-mark"}})


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
            render(tmp_path, jobs=1, specs={"remote-data": point_chart(url)})
        assert "not allowed" in str(refused.value)
        with pytest.raises(TimeoutError):
            server.accept()
    assert list(tmp_path.glob("*.svg")) == []


def test_a_relative_data_path_is_not_resolved_against_a_cdn(tmp_path: Path) -> None:
    # vl-convert would otherwise fetch "rows.csv" from the vega-datasets CDN
    with pytest.raises(ChartError, match="relative-data") as refused:
        render(tmp_path, jobs=1, specs={"relative-data": point_chart("rows.csv")})
    assert "http" not in str(refused.value)


def many_specs(n: int) -> dict[str, dict[str, Any]]:
    """`n` small line charts, no two alike."""
    values = [[float(i), float(i % 3), 2.0] for i in range(n)]
    return {
        f"line-{i}": {**clipped(0), "data": {"values": [{"x": x, "y": y} for x, y in enumerate(v)]}}
        for i, v in enumerate(values)
    }


@pytest.mark.slow
def test_spawned_workers_draw_the_same_bytes_as_in_process(tmp_path: Path) -> None:
    extra = {"clip": clipped(3), "trend": trend_chart("t", "usd", FULL, 51.0)}
    specs = many_specs(svg.POOL_MIN_CHARTS) | extra
    pooled = render(tmp_path / "pool", jobs=2, specs=specs)
    inline = render(tmp_path / "inline", jobs=1, specs=specs)
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


@pytest.mark.slow
def test_with_workers_the_bundle_is_made_in_one_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Making the bundle starts a JavaScript runtime; the workers have one already, so the
    build's own process must not start its own (it would hold it beside theirs)."""

    def in_this_process() -> str:
        raise AssertionError("the bundle was made in the build's own process")

    monkeypatch.setattr(vl_convert, "javascript_bundle", in_this_process)
    views = [chart(k, s, "", "", None) for k, s in many_specs(svg.POOL_MIN_CHARTS).items()]
    with Drawer(tmp_path, jobs=2) as drawer:
        drawer.draw((v.digest, v.spec, v.id) for v in views)
        text = drawer.vega_bundle()
    assert text.startswith("(function(){\n") and "window.vegaEmbed" in text
    assert (tmp_path / f"vega-bundle-{vl_convert.__version__}.js").read_text() == text


@pytest.mark.slow
def test_closing_the_drawer_ends_its_workers(tmp_path: Path) -> None:
    """Once every chart is drawn the build closes the drawer, so that idle workers do not hold
    their memory while the board packets are typeset, the build's last and largest work."""
    views = [chart(k, s, "", "", None) for k, s in many_specs(svg.POOL_MIN_CHARTS).items()]
    with Drawer(tmp_path, jobs=2) as drawer:
        drawer.draw((v.digest, v.spec, v.id) for v in views)
        workers = [pid for pid in descendants(os.getpid()) if b"spawn_main" in cmdline(pid)]
        assert len(workers) == 2
        drawer.close()
        assert [pid for pid in workers if alive(pid)] == []
        assert drawer.svg(views[0].digest).startswith("<svg")  # what was drawn stays readable


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


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
            charts.trend_chart("t", "percent", points, None),
            charts.distribution_chart("d", "usd", [900 + shift * 10, 950, 1010, 1200], 1000),
        ]
    return specs


def test_precompiled_vega_draws_what_vega_lite_draws() -> None:
    """draw_svg compiles each chart shape to Vega once and swaps the data in; the result must
    be the SVG that drawing the Vega-Lite spec directly gives."""
    svg._set_up_vl_convert()  # the shipped fonts for the direct drawing too, run first or not
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


def test_a_chart_in_two_batches_is_drawn_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two partners' views in consecutive batches may share a chart (the same trend chart):
    the second batch waits for the first's drawing rather than drawing it again."""
    calls = count_calls(monkeypatch)
    view = chart("a", clipped(1), "", "", None)
    with Drawer(tmp_path) as drawer:
        first = drawer.start([(view.digest, view.spec, "first")])
        second = drawer.start([(view.digest, view.spec, "second")])
        drawer.wait(first)
        drawer.wait(second)
        assert drawer.svg(view.digest).startswith("<svg ")
    assert len(calls) == 1 and drawer.drawn == 1
