"""Make the fonts sitegen ships: subsets of Inter for charts, pages and PDFs.

Charts are measured by vl-convert with the font the spec names, pages show them in a browser and
PDFs embed them, so all three use the same shipped files and no output depends on the fonts a
machine happens to have. Subsetting to Latin and the symbols the scorecards use keeps the
files small: the site's stylesheet carries them, and every PDF embeds what it uses.

Usage (fontTools and brotli are needed here only, not at run time):

    pip install fonttools brotli
    python scripts/make_fonts.py /path/to/Inter/otf

where the folder holds Inter-Regular.otf, Inter-Bold.otf and Inter-Italic.otf from an Inter 4
release (https://rsms.me/inter, SIL Open Font License 1.1; Debian's fonts-inter package has them).
It writes sitegen/fonts/*.otf (for vl-convert and Typst) and sitegen/static/fonts.css (the same
faces as WOFF2 in data: URLs, since browsers refuse font files from file:// pages).
"""

from __future__ import annotations

import base64
import io
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTFont

ROOT = Path(__file__).resolve().parent.parent
FACES = {"Regular": ("normal", 400), "Bold": ("normal", 700), "Italic": ("italic", 400)}
UNICODES = [
    *range(0x20, 0x7F),  # Basic Latin
    *range(0xA0, 0x180),  # Latin-1 and Latin Extended-A
    *range(0x2000, 0x2070),  # General Punctuation (– — ’ … ‰)
    *range(0x20A0, 0x20D0),  # currency signs
    *range(0x2100, 0x2150),  # letterlike symbols (№ ™)
    *range(0x2190, 0x2200),  # arrows
    0x2212,  # minus sign
    0x2264,  # ≤
    0x2265,  # ≥
    *range(0x25A0, 0x2600),  # geometric shapes
    0x2713,  # ✓ met
    0x2717,  # ✗ missed
]
FEATURES = ["kern", "liga", "calt", "tnum"]


def subset_font(source: Path, flavor: str | None) -> bytes:
    """The subset of one face, as OpenType (flavor None) or WOFF2."""
    options = subset.Options()
    options.layout_features = FEATURES
    options.flavor = flavor
    options.name_IDs = ["*"]  # keep the licence and the family name
    options.hinting = False  # screens and PDFs here scale outlines; hints only add bytes
    font = TTFont(source)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=UNICODES)
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.flavor = flavor
    font.save(buffer)
    return buffer.getvalue()


def main(source_dir: Path) -> None:
    rules = ["/* Inter (SIL Open Font License 1.1), subset; made by scripts/make_fonts.py */"]
    for face, (style, weight) in FACES.items():
        source = source_dir / f"Inter-{face}.otf"
        (ROOT / "sitegen" / "fonts" / source.name).write_bytes(subset_font(source, None))
        woff2 = base64.b64encode(subset_font(source, "woff2")).decode("ascii")
        rules.append(
            f'@font-face {{ font-family: "Inter"; font-style: {style}; font-weight: {weight};'
            f' font-display: swap; src: url("data:font/woff2;base64,{woff2}") format("woff2"); }}'
        )
    (ROOT / "sitegen" / "static" / "fonts.css").write_text("\n".join(rules) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/make_fonts.py FOLDER-WITH-INTER-OTF-FILES")
    main(Path(sys.argv[1]))
