"""sitegen build --partner: a site and PDF for one partner's eyes, with nothing of anyone
else's: every byte of every file, and the text of every PDF, is searched for every other
partner's id, name and contact address."""

from __future__ import annotations

import csv
import html
import json
import re
import shutil
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from sitegen.cli import main

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def same_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")  # 2026-01-01: PDFs byte-comparable


def build(project: Path, *extra: str) -> object:
    return CliRunner().invoke(main, ["build", "-q", "--project", str(project), *extra])


def built(project: Path, *extra: str) -> None:
    result = build(project, *extra)
    assert result.exit_code == 0, result.output


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    project = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", project)
    built(project, "--jobs", "1")
    return project


def texts(site: Path) -> dict[str, str]:
    """Every file of a site as text: its name, its bytes, and a PDF's extracted text too."""
    found = {}
    for path in sorted(site.resolve().rglob("*")):
        if not path.is_file():
            continue
        name = str(path.relative_to(site.resolve()))
        text = path.read_bytes().decode("utf-8", "replace")
        if path.suffix == ".pdf":
            pages = PdfReader(path).pages
            text += " ".join(" ".join(page.extract_text().split()) for page in pages)
        found[name] = f"{name}\n{text}\n{html.unescape(text)}"
    return found


def assert_own_is_full(own: dict, full: dict) -> None:
    """A partner's own JSON is the full site's, except the figures the full site suppresses:
    those the partner sees (it owns them), and only those differ."""
    figures = ("value", "numerator", "denominator")
    for mine, alliance in zip(own["kpis"], full["kpis"], strict=True):
        if alliance["suppression"] is None:
            assert mine == alliance
        else:
            assert [alliance[f] for f in figures] == [None, None, None]
            assert {k: v for k, v in mine.items() if k not in figures} == {
                k: v for k, v in alliance.items() if k not in figures
            }
    assert {k: v for k, v in own.items() if k != "kpis"} == {
        k: v for k, v in full.items() if k != "kpis"
    }


def test_a_partner_site_needs_its_own_output(mini: Path) -> None:
    result = build(mini, "--partner", "north-hosp")
    assert result.exit_code == 2
    assert result.output == (
        "Error: --partner needs --output DIR: a partner's site must not replace the alliance's\n"
    )


def test_an_unknown_partner_is_one_line(mini: Path, tmp_path: Path) -> None:
    result = build(mini, "--partner", "nobody", "--output", str(tmp_path / "x"))
    assert result.exit_code == 2
    assert result.output == "Error: --partner: no partner with id 'nobody' in partners.csv\n"
    assert not (tmp_path / "x").exists()


def test_small_peer_groups_are_withheld(mini: Path, tmp_path: Path) -> None:
    out = tmp_path / "north"
    built(mini, "--jobs", "1", "--partner", "north-hosp", "--output", str(out))
    # the pages a partner may see; nothing about the data of others (data quality, the
    # alliance's review); its archive holds the same pages, and its own list of periods
    pages = sorted(str(p.relative_to(out.resolve())) for p in out.resolve().rglob("*.html"))
    own = [
        "index.html",
        "kpis/appt_lead_days.html",
        "kpis/hcahps_rating_9_10.html",
        "kpis/operating_margin.html",
        "kpis/readmit_30d.html",
        "kpis/tcoc_pmpm.html",
        "methodology.html",
        "partners/north-hosp.html",
    ]
    archived = [f"periods/2025-09/{page}" for page in [*own, "periods.html"]]
    assert pages == sorted([*own, "periods.html", *archived])
    assert not (out / "pdf" / "alliance.pdf").exists()
    assert not list(out.rglob("review-*.pdf"))
    # 3 partners: every peer group and every pooled figure has fewer than 5
    kpi = (out / "kpis" / "readmit_30d.html").read_text()
    assert "Peer figures withheld" in kpi and 'id="chart-peers"' not in kpi
    index = (out / "index.html").read_text()
    rows = re.findall(r"<tr><th scope=\"row\">.*?</tr>", index, flags=re.S)
    assert len(rows) == 5
    assert all("withheld: fewer than 5 partners report it" in row for row in rows)
    # readmissions in 2025-09: north-hosp 142 / 1000, south-snf 8 / 40 (suppressed: a numerator
    # of 1 to 10): 2 contributors, withheld in every site (the full site used to pool the shown
    # values only and publish north-hosp's own 14.2 % as the alliance's)
    full = (mini / "output" / "index.html").read_text()
    assert re.search(
        r"30-day readmission rate</a></th>(?:(?!</tr>).)*"
        r"<td data-label=\"Alliance\">withheld: fewer than 5",
        full,
        flags=re.S,
    )
    [readmit] = [row for row in rows if "30-day readmission rate" in row]
    assert "14.2%" not in readmit
    # nor in the KPI page's alliance series: its table, or the chart's data (a y-axis tick may
    # still read 14.2 %, the scale being set by the target and the benchmark)
    assert "<td>14.2%</td>" not in kpi and '"text":"14.2%"' not in kpi.replace(" ", "")
    assert "0.142" not in kpi and '"y":14.2' not in kpi.replace(" ", "")
    page = (out / "partners" / "north-hosp.html").read_text()
    assert "withheld" in page
    data = json.loads((out / "partners" / "north-hosp.json").read_text())
    assert all(k["peer_median"] is None and k["peer_percentile"] is None for k in data["kpis"])
    assert "Data quality" not in page and "for North General Hospital only" in page


def test_each_partner_json_is_the_full_sites_with_its_own_small_figures(
    mini: Path, tmp_path: Path
) -> None:
    """A partner sees its own figures, suppressed ones included (it owns them); everything
    else in its JSON is what the alliance's site says."""
    for pid in ("north-hosp", "south-snf", "east-clinic"):
        out = tmp_path / pid
        built(mini, "--jobs", "1", "--partner", pid, "--output", str(out))
        own = json.loads((out / "partners" / f"{pid}.json").read_text())
        full = json.loads((mini / "output" / "partners" / f"{pid}.json").read_text())
        assert_own_is_full(own, full)
        if pid == "south-snf":  # readmissions 8 / 40 in 2025-09: a small cell, its own
            [readmit] = [k for k in own["kpis"] if k["kpi_id"] == "readmit_30d"]
            assert (readmit["value"], readmit["numerator"], readmit["denominator"]) == (20, 8, 40)
            assert readmit["suppression"] == "small_cell" and readmit["status"] == "suppressed"
        others = {"north-hosp", "south-snf", "east-clinic"} - {pid}
        for name, text in texts(out).items():
            for other in others:
                assert other not in text, (pid, name, other)


def test_the_emailed_pdf_is_the_partners_own_site_pdf(mini: Path, tmp_path: Path) -> None:
    with (mini / "sitegen.toml").open("a") as config:
        config.write('\n[email]\nsender = "scorecards@mini.example.org"\n')
    partners = mini / "data" / "partners.csv"
    partners.write_text(partners.read_text().replace(",2022-05-15,", ",2022-05-15,a@s.example"))
    built(mini, "--jobs", "1")  # the partner list changed
    sent = CliRunner().invoke(main, ["email", "--project", str(mini), "--dry-run"])
    assert sent.exit_code == 0, sent.output
    out = tmp_path / "north"
    built(mini, "--jobs", "1", "--partner", "north-hosp", "--output", str(out))
    eml = (mini / ".output.outbox" / "north-hosp.eml").read_bytes()
    message = BytesParser(policy=policy.default).parsebytes(eml)
    attached = next(message.iter_attachments()).get_content()
    assert attached == (out / "pdf" / "north-hosp.pdf").read_bytes()
    body = message.get_body(("plain",)).get_content()
    assert "South Shore" not in body and "East Family" not in body


@pytest.mark.slow
def test_every_sample_partner_site_holds_nothing_of_any_other_partner(tmp_path: Path) -> None:
    runner = CliRunner()
    project = tmp_path / "sample"
    assert runner.invoke(main, ["init", str(project)]).exit_code == 0
    built(project)
    with (project / "data" / "partners.csv").open(encoding="utf-8", newline="") as handle:
        partners = list(csv.DictReader(handle))
    metric_files = [p.name for p in (project / "data" / "metrics").iterdir()]
    assert len(partners) == 40
    hits = []
    peer_charts = 0
    for partner in partners:
        pid = partner["partner_id"]
        out = tmp_path / "sites" / pid
        built(project, "--partner", pid, "--output", str(out))
        files = texts(out)
        assert not any(name.endswith((".duckdb", ".csv")) and pid not in name for name in files)
        for other in partners:
            if other is partner:
                continue
            needles = [other["partner_id"], other["name"]]
            needles += [a for a in other["contact_emails"].split(";") if a]
            hits += [
                (pid, name, needle)
                for name, text in files.items()
                for needle in needles
                if needle in text
            ]
        hits += [(pid, name, f) for name, text in files.items() for f in metric_files if f in text]
        own = json.loads((out / "partners" / f"{pid}.json").read_text())
        full = json.loads((project / "output" / "partners" / f"{pid}.json").read_text())
        assert_own_is_full(own, full)
        peer_charts += sum('id="chart-peers"' in t for n, t in files.items() if "kpis/" in n)
    assert hits == []
    # with 40 partners most peer groups reach 5: where the partner stands is shown as a chart
    # of the peer statistics alone
    assert peer_charts > 200


def test_a_partner_site_never_replaces_the_alliances(mini: Path) -> None:
    result = build(mini, "--partner", "north-hosp", "--output", str(mini / "output"))
    assert result.exit_code == 2
    assert result.output == "Error: --partner: --output must not be the alliance's site (output/)\n"


def five_reporters(root: Path, values: list[float], months: int = 13) -> Path:
    """A project of len(values) partners reporting a mean KPI (days, shown to one decimal):
    partner i reports values[i] + month / 1000 each month, so that every figure has three
    decimals and its exact form would show on a page or in a chart only if it leaked."""
    project = root / "five"
    shutil.copytree(FIXTURES / "mini", project)
    ids = [f"p{i}" for i in range(len(values))]
    (project / "data" / "partners.csv").write_text(
        "partner_id,name,partner_type,region,joined,contact_emails\n"
        + "".join(f"{pid},Partner {pid},hospital,North,2020-01-01,\n" for pid in ids)
    )
    (project / "data" / "targets.csv").unlink()
    metrics = project / "data" / "metrics"
    shutil.rmtree(metrics)
    metrics.mkdir()
    rows = ["partner_id,kpi_id,period,value,numerator,denominator"]
    for month in range(months):
        period = f"{2024 + (month + 8) // 12}-{(month + 8) % 12 + 1:02d}"
        rows += [
            f"{pid},appt_lead_days,{period},{value + month / 1000:.3f},,"
            for pid, value in zip(ids, values, strict=True)
        ]
    (metrics / "wait.csv").write_text("\n".join(rows) + "\n")
    return project


def test_at_five_reporters_a_partners_site_shows_no_quartile_and_no_exact_figure(
    tmp_path: Path,
) -> None:
    """With 5 reporters the quartiles are the 2nd and 4th values themselves, and the mean at
    full precision gives the sum of the other four: a partner's own site shows neither, only
    the median (5 contributors) and the mean, each to the one decimal days are shown with."""
    values = [3.140, 4.270, 5.380, 6.490, 7.510]
    project = five_reporters(tmp_path, values)
    out = tmp_path / "p0"
    built(project, "--jobs", "1", "--partner", "p0", "--output", str(out))
    found = texts(out)
    others = [f"{value + month / 1000:.3f}" for value in values[1:] for month in range(13)]
    for name, text in found.items():
        # figures, not drawing coordinates (a marker's radius may happen to read 4.272)
        text = re.sub(r'\s(?:d|transform)="[^"]*"', "", text)
        numbers = set(re.findall(r"(?<![\d.])\d+\.\d+(?![\d])", text))  # not 235.385 of a path
        assert sorted(numbers & set(others)) == [], name
        mean = [n for n in numbers if n.startswith("5.35") and len(n) > 4]  # 5.358 + m/1000
        assert mean == [], (name, mean)
    page = found["partners/p0.html"]
    assert "Peer middle half" in page  # and no band in it: 5 < 10
    rows = re.findall(r'<tr><th scope="row">\d{4}-\d{2}</th>(.*?)</tr>', page)
    bands = [re.findall(r"<td>(.*?)</td>", row)[4] for row in rows]
    assert bands and set(bands) == {"withheld"}
    assert "<td>5.4 days</td><td>withheld</td>" in page  # 2025-08: the median, not the band
    data = json.loads((out / "partners" / "p0.json").read_text())
    assert data["kpis"][0]["peer_median"] == 5.4  # 5.392 (the 13th month), shown as 5.4
    # the alliance's own site still shows the band: quartiles need 5 partners there
    built(project, "--jobs", "1")
    assert "4.3 days to 6.5 days" in (project / "output" / "partners" / "p0.html").read_text()
