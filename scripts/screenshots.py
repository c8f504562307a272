"""Screenshots of a built scorecard site, for the README: each page type at a laptop's width
(1366 px) and a phone's (390 px), and page 1 of a partner's PDF and of the board packet.

Run from the repository root after building the sample site:

    python -m sitegen build && python scripts/screenshots.py

It opens the pages from disk (file://) in Debian's headless Chromium, offline, and writes PNGs
to docs/screenshots/ (the first screen of each page: what a reader sees before scrolling).
PDF pages are rendered with poppler's pdftoppm. Needs the test extras (playwright) and the
packages chromium and poppler-utils.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
WIDTHS = {"desktop": (1366, 900), "phone": (390, 844)}


def pages(site: Path) -> dict[str, str]:
    """One page of each type, by name: a partner with commitments of its own where any."""
    partners = sorted((site / "partners").glob("*.json"))
    chosen = next(
        (p for p in partners if any(k["target_source"] == "partner" for k in _kpis(p))),
        partners[0],
    )
    kpis = sorted((site / "kpis").glob("*.html"))
    kpi = next((k for k in kpis if k.name == "readmit_30d.html"), kpis[0])
    return {
        "dashboard": "index.html",
        "partner": f"partners/{chosen.stem}.html",
        "kpi": f"kpis/{kpi.name}",
        "data-quality": "data-quality.html",
        "methodology": "methodology.html",
    }


def _kpis(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["kpis"]


def shoot(site: Path, out: Path) -> list[Path]:
    """The page screenshots, each page at each width."""
    written = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for device, (width, height) in WIDTHS.items():
            scale = 2 if device == "phone" else 1
            context = browser.new_context(
                viewport={"width": width, "height": height},
                device_scale_factor=scale,
                offline=True,
            )
            page = context.new_page()
            for name, relative in pages(site).items():
                page.goto((site / relative).resolve().as_uri(), wait_until="load")
                target = out / f"{name}-{device}.png"
                page.screenshot(path=target)
                written.append(target)
            context.close()
        browser.close()
    return written


def pdf_pages(site: Path, out: Path) -> list[Path]:
    """Page 1 of the chosen partner's PDF and of the board packet, at 60 dots per inch."""
    partner = Path(pages(site)["partner"]).stem
    sources = {"pdf-partner": f"pdf/{partner}.pdf", "pdf-packet": "pdf/alliance.pdf"}
    written = []
    for name, relative in sources.items():
        if not (site / relative).exists():  # a build without PDFs
            continue
        stem = out / name
        command = ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile"]
        subprocess.run([*command, str(site / relative), str(stem)], check=True)
        written.append(stem.with_suffix(".png"))
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, default=Path("output"), help="the built site")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args()
    if not (args.site / "index.html").exists():
        print(f"error: no site in {args.site}: build it first (sitegen build)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for path in shoot(args.site, args.out) + pdf_pages(args.site, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
