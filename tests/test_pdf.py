"""PDF scorecards, read back with a real PDF reader (pypdf) and rendered by poppler."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import threading
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import page as pdf_checker
import pytest
import typst
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from sitegen import pdf as pdf_module
from sitegen.build import read_model
from sitegen.cli import main
from sitegen.config import Config, load_config
from sitegen.model import Model
from sitegen.pdf import Typesetter, common_data, partner_document, read_templates
from sitegen.views.partner import partner_view

FIXTURES = Path(__file__).parent / "fixtures"
PARTNERS = {
    "north-hosp": "North General Hospital",
    "south-snf": "South Shore Nursing",
    "east-clinic": "East Family Clinic",
}
KPI_NAMES = [
    "30-day readmission rate",
    "Total cost of care PMPM",
    "Overall rating 9-10",
    "Operating margin",
    "Days to new-patient appointment",
]


def build(project: Path, out: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        main, ["build", "--project", str(project), "--output", str(out), "--jobs", "1", *extra]
    )
    assert result.exit_code == 0, result.output


def text(pdf: Path) -> str:
    """Every page's text, words joined again where a line was hyphenated or wrapped."""
    pages = [page.extract_text() for page in PdfReader(pdf).pages]
    return re.sub(r"\s+", " ", re.sub(r"-\n", "", "\n".join(pages)))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini project, with a hostile narrative for north-hosp."""
    project = tmp_path_factory.mktemp("pdf") / "mini"
    shutil.copytree(FIXTURES / "mini", project)
    (project / "content" / "partners").mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURES / "pdf" / "hostile.md", project / "content/partners/north-hosp.md")
    return project


@pytest.fixture(scope="module")
def site(project: Path) -> Path:
    out = project.parent / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01 00:00 UTC
        build(project, out)
    return out


def test_a_pdf_per_partner_and_the_board_packet(site: Path) -> None:
    assert sorted(p.name for p in (site / "pdf").iterdir()) == sorted(
        [f"{pid}.pdf" for pid in PARTNERS] + ["alliance.pdf", "review-2025-09.pdf"]
    )
    page = (site / "partners" / "north-hosp.html").read_text(encoding="utf-8")
    assert 'href="../pdf/north-hosp.pdf"' in page


def test_partner_pdf_has_header_table_and_footer(site: Path) -> None:
    words = text(site / "pdf" / "north-hosp.pdf")
    assert "North General Hospital" in words
    # composite (2 × 50 + 0 + 50 + 0) / 5 = 30.0, rank 1 of 2 (hand-computed in test_model)
    # the commitments block first, in the page's words (test_site works them out)
    assert words.index("Commitments") < words.index("Composite score") < words.index("KPIs")
    assert "30-day readmission rate ! at risk 14.2% 14.0% +0.2 pts, worse 2025-07 onwards" in words
    assert (
        "Standing ✗ off track Score (0–100) 30.0 scored on 4 of 4 KPIs Rank 1 of 2 Change –"
        in words
    )
    assert "✓ met: 0 ! at risk: 2 ✗ missed: 2" in words
    for name in KPI_NAMES[:4]:  # north-hosp reports four of the five KPIs
        assert name in words
    # the interval and "within noise" as on the page (test_site works them out)
    assert "30-day readmission rate ! at risk within noise 14.2%" in words
    assert "95% interval 12.2% to 16.5% 14.0% own commitment 13.9% 2025-09 – – withheld" in words
    reader = PdfReader(site / "pdf" / "north-hosp.pdf")
    pages = len(reader.pages)
    for number, page in enumerate(reader.pages, start=1):
        footer = re.sub(r"\s+", " ", page.extract_text())
        assert "North General Hospital Confidential · generated 2026-01-01" in footer
        assert f"page {number} of {pages}" in footer


def test_a_partner_pdf_names_no_other_partner(site: Path) -> None:
    for pid, name in PARTNERS.items():
        words = text(site / "pdf" / f"{pid}.pdf")
        raw = (site / "pdf" / f"{pid}.pdf").read_bytes()
        assert name in words
        for other, other_name in PARTNERS.items():
            if other != pid:
                assert other_name not in words and other not in words
                assert other.encode() not in raw


def test_board_packet_covers_the_alliance(site: Path) -> None:
    words = text(site / "pdf" / "alliance.pdf")
    assert "Mini alliance Board packet · 2025-09" in words
    assert "3 partners, 5 KPIs" in words
    for name in [*PARTNERS.values(), *KPI_NAMES]:
        assert name in words
    assert "Partners by status per KPI" in words and "Composite ranking" in words
    # north-hosp's section: 3 × 30 = 90 is under a third of the points
    assert (
        "North General Hospital Hospital ✗ off track Composite 30.0 (scored on 4 of 4 KPIs) "
        "· rank 1 of 2"
    ) in words
    # the dashboard's band opens it: two partners are ranked, north-hosp first with 30.0, so
    # both score under a third of the points (off track); the third is not scored
    assert "Partners ✓ on track 0 ! at risk 0 ✗ off track 2 – not scored 1" in words


def test_hostile_narrative_prints_literally_and_reads_nothing(site: Path) -> None:
    words = text(site / "pdf" / "north-hosp.pdf")
    for literal in [
        r"Hostile #set text(fill: red) \ $x^2$",
        'Typst code: #import "/etc/passwd": * then #read("/etc/hostname") then #eval("1+1") end.',
        r"$a + b$ @ref = heading ] [ \u{41} // comment /* block */",
        "Braces {{ and }} and {# hash-brace #} and #{ code }",
        r"Backslashes: C:\path\to\file and a lone \ at the end \ ",
        "Supercalifragilistic" * 7,
        "Links: the plan and bad end.",
        "שלום",
        "بالعالم",
    ]:
        assert literal in words, literal
    hostname = Path("/etc/hostname")
    if hostname.is_file() and hostname.read_text().strip():
        assert hostname.read_text().strip() not in words
    assert "root:" not in words and " 2 end." not in words  # no file read, no code run
    assert "alert" not in words and "onerror" not in words  # the sanitiser's work, as on the site


def test_pdfs_embed_the_shipped_fonts(site: Path) -> None:
    reader = PdfReader(site / "pdf" / "north-hosp.pdf")
    fonts = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object()
            descriptor = descendant["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
            fonts.add(str(font["/BaseFont"]).split("+", 1)[-1])
    assert {"Inter-Regular-Identity-H", "Inter-Bold-Identity-H"} <= fonts


def test_same_input_same_bytes(project: Path, site: Path, tmp_path: Path) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", "1767225600")
        build(project, tmp_path / "again")
    for pdf in (site / "pdf").iterdir():
        assert (tmp_path / "again" / "pdf" / pdf.name).read_bytes() == pdf.read_bytes(), pdf


def test_paper_size_from_config(project: Path, tmp_path: Path) -> None:
    a4 = tmp_path / "a4"
    shutil.copytree(project, a4)
    config = a4 / "sitegen.toml"
    config.write_text(config.read_text() + '\n[pdf]\npaper = "a4"\n')
    build(a4, tmp_path / "out")
    box = PdfReader(tmp_path / "out" / "pdf" / "east-clinic.pdf").pages[0].mediabox
    assert (round(box.width), round(box.height)) == (595, 842)  # A4 in points


def test_no_pdf_flag_and_config_switch_them_off(project: Path, tmp_path: Path) -> None:
    build(project, tmp_path / "flag", "--no-pdf")
    assert not (tmp_path / "flag" / "pdf").exists()
    page = (tmp_path / "flag" / "partners" / "north-hosp.html").read_text(encoding="utf-8")
    assert ".pdf" not in page
    off = tmp_path / "off"
    shutil.copytree(project, off)
    (off / "sitegen.toml").write_text(
        (off / "sitegen.toml").read_text() + "\n[pdf]\nenabled = false\n"
    )
    build(off, tmp_path / "off-out")
    assert not (tmp_path / "off-out" / "pdf").exists()


def test_a_broken_project_pdf_template_is_one_line(project: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    (broken / "templates" / "pdf").mkdir(parents=True, exist_ok=True)
    (broken / "templates" / "pdf" / "scorecard.typ").write_text("#let x = (\n")
    result = CliRunner().invoke(
        main, ["build", "--project", str(broken), "--output", str(tmp_path / "o"), "--jobs", "1"]
    )
    assert result.exit_code == 2  # the project's own template: the user's to fix
    assert "Traceback" not in result.output
    assert result.output.startswith("Error: PDF ") and len(result.output.splitlines()) == 1
    assert "(templates/pdf/)" in result.output


def test_a_failing_packaged_pdf_template_is_ours_not_the_users(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A packaged template that fails is a bug of sitegen: exit 1 and ask for a report, not
    exit 2, which sends the user looking for a mistake of theirs."""
    broken = tmp_path / "packaged"
    broken.mkdir()
    for name in pdf_module.TEMPLATE_FILES:
        shutil.copy(pdf_module.PACKAGED / name, broken / name)
    (broken / "scorecard.typ").write_text("#let x = (\n")
    monkeypatch.setattr(pdf_module, "PACKAGED", broken)
    result = CliRunner().invoke(
        main, ["build", "--project", str(project), "--output", str(tmp_path / "o"), "--jobs", "1"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: PDF ") and "please report it" in result.output
    assert len(result.output.splitlines()) == 1


# poppler 22 (Debian 12) reports a PDF's `/Suspects false` in MarkInfo, which the PDF standard
# allows and tagged PDFs carry, as "Suspects object is wrong type (boolean)"; nothing else may
# appear.
POPPLER_FALSE_ALARM = "Syntax Error: Suspects object is wrong type (boolean)"


@pytest.mark.slow
def test_poppler_renders_every_page(site: Path, tmp_path: Path) -> None:
    if shutil.which("pdftoppm") is None:
        pytest.fail("pdftoppm is missing: install poppler-utils (see README)")
    for pdf in sorted((site / "pdf").iterdir()):
        pages = len(PdfReader(pdf).pages)
        run = subprocess.run(
            ["pdftoppm", "-r", "30", "-png", str(pdf), str(tmp_path / pdf.stem)],
            capture_output=True,
            text=True,
            check=False,
        )
        problems = [line for line in run.stderr.splitlines() if line != POPPLER_FALSE_ALARM]
        assert run.returncode == 0 and problems == [], (pdf.name, run.stderr)
        assert len(list(tmp_path.glob(f"{pdf.stem}-*.png"))) == pages


def test_an_unchanged_pdf_is_taken_from_the_cache(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".sitegen-cache"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOURCE_DATE_EPOCH", "1767225600")
        build(copy, tmp_path / "one")
        first = json.loads((tmp_path / "one" / "manifest.json").read_text())["pdfs"]
        narrative = copy / "content" / "partners" / "north-hosp.md"
        narrative.write_text(narrative.read_text() + "\nOne more sentence.\n")
        build(copy, tmp_path / "two")
    second = json.loads((tmp_path / "two" / "manifest.json").read_text())["pdfs"]
    assert (first["made"], first["reused"]) == (5, 0)  # 3 partners, the two packets
    assert (second["made"], second["reused"]) == (1, 4)  # only north-hosp's narrative changed
    assert first["typeset_seconds"] > second["typeset_seconds"] > 0
    assert "One more sentence." in text(tmp_path / "two" / "pdf" / "north-hosp.pdf")
    for name in ("south-snf.pdf", "east-clinic.pdf", "alliance.pdf", "review-2025-09.pdf"):
        assert (tmp_path / "two" / "pdf" / name).read_bytes() == (
            tmp_path / "one" / "pdf" / name
        ).read_bytes()


# Letters and digits of the Latin scripts the shipped font covers (a script no font on the
# machine covers prints blank), and every character Typst or Markdown give a meaning to.
NAME_CHARACTERS = st.characters(
    categories=["L", "N"],
    max_codepoint=0x17F,
    include_characters="#$*_[]{}\\<>@=-+/~^\"'`()&%;:,.!? ",
)


@pytest.fixture(scope="module")
def north(project: Path) -> tuple[Model, Config]:
    config = load_config(project)
    return read_model(config, date(2026, 1, 1)), config


@settings(max_examples=25, deadline=None)
@given(name=st.text(NAME_CHARACTERS, min_size=1, max_size=40).map(str.strip).filter(bool))
def test_any_name_compiles_and_prints_literally(
    north: tuple[Model, Config], tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    model, config = north
    card = model.scorecards["north-hosp"]
    card = replace(card, partner=replace(card.partner, name=name))
    out = tmp_path_factory.mktemp("any-name")
    generated = datetime(2026, 1, 1, tzinfo=UTC)
    common = common_data(config, model.period, generated)
    templates = read_templates(config.project_dir)
    view = partner_view(card, None, model.kpis)
    no_charts = {c.digest: "" for c in view.trends}  # the name is in the text, not the charts
    doc = partner_document(view, no_charts, common, templates, out)
    with Typesetter(generated, out / "cache") as typesetter:
        typesetter.submit([doc])
        typesetter.finish()
    shown = "".join(text(doc.path).split())
    assert "".join(name.split()) in shown


# ------------------------------------------------------------------------ legible, accessible

# Inter's ascender and descender (0.969 and 0.242 of an em): poppler's word box is that tall,
# so a word's box height ÷ 1.21 is its font size in points.
INTER_BOX = 1.21
WORD = re.compile(
    r'<word xMin="[\d.]+" yMin="([\d.]+)" xMax="[\d.]+" yMax="([\d.]+)">([^<]*)</word>'
)


def word_sizes(pdf: Path) -> list[list[tuple[str, float]]]:
    """Per page, each word and its font size in points, from `pdftotext -bbox`."""
    xhtml = subprocess.run(
        ["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    return [
        [(word, (float(y1) - float(y0)) / INTER_BOX) for y0, y1, word in WORD.findall(page)]
        for page in xhtml.split("<page ")[1:]
    ]


@pytest.fixture(scope="module")
def sample_pdfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed sample project's PDFs (40 partners, 24 trend charts a hospital)."""
    root = tmp_path_factory.mktemp("sample-pdf")
    assert CliRunner().invoke(main, ["init", str(root / "project")]).exit_code == 0
    build(root / "project", root / "site")
    return root / "site" / "pdf"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "heading", "last"),
    [("alderbrook-medical.pdf", "Trends", True), ("alliance.pdf", "ranking", False)],
)
def test_pdf_text_is_legible_on_a_phone(
    sample_pdfs: Path, name: str, heading: str, last: bool
) -> None:
    """Body text at 10 pt or more on every page; chart text at 7 pt or more (on the pages of
    the charts: from the `heading` to the end where they come `last`, else its page alone),
    and the words around the charts still at 10 pt."""
    pages = word_sizes(sample_pdfs / name)
    assert len(pages) >= 3 and all(pages)
    first_chart = next(i for i, page in enumerate(pages) if heading in dict(page))
    for number, page in enumerate(pages, start=1):
        charted = number > first_chart and (last or number == first_chart + 1)
        least = 7 if charted else 10
        small = [(w, round(size, 1)) for w, size in page if size < least - 0.1]
        assert small == [], f"page {number}"
    if last:  # the charts' key opens the trend pages, in body text
        key = [size for w, size in pages[first_chart] if w in ("How", "read", "charts:")]
        assert len(key) == 3 and min(key) >= 9.9


def test_the_size_check_reads_sizes_right(tmp_path: Path) -> None:
    """A 10 pt and a 7 pt word read back as 10 and 7 (the check above can fail)."""
    (tmp_path / "main.typ").write_text(
        '#set text(font: "Inter", size: 10pt)\nTen #text(size: 7pt)[seven]\n', encoding="utf-8"
    )
    out = tmp_path / "sizes.pdf"
    typst.compile(str(tmp_path / "main.typ"), output=str(out), font_paths=[str(pdf_module.FONTS)])
    sizes = dict(word_sizes(out)[0])
    assert sizes["Ten"] == pytest.approx(10, abs=0.1)
    assert sizes["seven"] == pytest.approx(7, abs=0.1)


def test_pdfs_are_tagged_pdf_ua_1(site: Path) -> None:
    """Every PDF passes a PDF/UA-1 checker (page, Matterhorn protocol), with its own title."""
    for path in sorted((site / "pdf").glob("*.pdf")):
        report = pdf_checker.validate_pdf(path, profile="ua1")
        assert report.is_compliant, [(f.rule_id, f.message) for f in report.failures]
        root = PdfReader(path).trailer["/Root"]
        assert root["/Lang"] == "en" and root["/MarkInfo"]["/Marked"]
    reader = PdfReader(site / "pdf" / "north-hosp.pdf")
    assert reader.metadata.title == "North General Hospital: scorecard for 2025-09"
    assert PdfReader(site / "pdf" / "alliance.pdf").metadata.title == (
        "Mini Health: board packet for 2025-09"
    )


def test_the_pdf_ua_checker_fails_an_untagged_pdf(tmp_path: Path) -> None:
    (tmp_path / "main.typ").write_text("= A heading\nSome text.\n", encoding="utf-8")
    out = tmp_path / "plain.pdf"
    typst.compile(str(tmp_path / "main.typ"), output=str(out), pdf_tags=False)
    assert not pdf_checker.validate_pdf(out, profile="ua1").is_compliant


def test_a_character_no_font_has_is_written_by_name(site: Path) -> None:
    """PDF/UA-1 forbids drawing a character without a glyph: the narrative's hospital emoji
    is written by its Unicode name (the page shows it as written)."""
    words = text(site / "pdf" / "north-hosp.pdf")
    assert "Emoji [hospital]" in words
    page = (site / "partners" / "north-hosp.html").read_text(encoding="utf-8")
    assert "Emoji 🏥" in page


def test_characters_are_renamed_only_in_texts_and_charts() -> None:
    """The JSON and SVG around a renamed character stay whole: only non-ASCII characters are
    renamed, and a keycap emoji (a digit Typst reports alone) loses its marks, not its digit."""
    files = {
        "data.json": '{"n": 1, "t": "Ward 1\ufe0f\u20e3 \U0001f3e5 14.2%"}'.encode(),
        "charts/a.svg": '<svg width="10"><text>\U0001f3e5 1</text></svg>'.encode(),
        "main.typ": "#let x = 1 // \U0001f3e5".encode(),
    }
    hospital = pdf_module.named(files, "\U0001f3e5")
    assert json.loads(hospital["data.json"]) == {"n": 1, "t": "Ward 1\ufe0f\u20e3 [hospital] 14.2%"}
    assert hospital["charts/a.svg"] == b'<svg width="10"><text>[hospital] 1</text></svg>'
    assert hospital["main.typ"] == files["main.typ"]  # templates are never rewritten
    keycap = pdf_module.named(files, "1")
    assert json.loads(keycap["data.json"]) == {"n": 1, "t": "Ward 1 \U0001f3e5 14.2%"}


def test_one_job_typesets_in_the_builds_own_thread(
    north: tuple[Model, Config], tmp_path: Path
) -> None:
    """`--jobs 1` uses one core: the PDF is written by the time `submit` returns, and no
    thread is started for it."""
    model, config = north
    generated = datetime(2026, 1, 1, tzinfo=UTC)
    view = partner_view(model.scorecards["north-hosp"], None, model.kpis)
    no_charts = {c.digest: "" for c in view.trends}
    common = common_data(config, model.period, generated)
    doc = partner_document(view, no_charts, common, read_templates(config.project_dir), tmp_path)
    before = threading.active_count()
    with Typesetter(generated, tmp_path / "cache", jobs=1) as typesetter:
        typesetter.submit([doc])
        assert doc.path.read_bytes().startswith(b"%PDF-")
        assert threading.active_count() == before
        assert typesetter.finish() == [doc.path]
    assert (typesetter.made, typesetter.reused) == (1, 0)
