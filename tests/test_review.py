"""Review cycles: the archive of published periods, what changed since the last review,
restatements and actions, over three consecutive monthly builds of tests/fixtures/review.

The fixture, worked by hand (every KPI weight 1; follow-up `fu` higher is better, target 80,
at risk from 76; readmissions `rd` lower is better, target 15, at risk to 15.75):

    month    a fu  a rd   b fu  b rd   c fu  c rd     composite a / b / c, ranks
    2026-01  85 ✓  10 ✓   78 !  20 ✗   70 ✗  15 ✓     100 / 25 / 50 → 1, 3, 2
    2026-02  79 !  12 ✓   82 ✓  20 ✗   70 ✗  14 ✓      75 / 50 / 50 → 1, 2, 2
    2026-03  75 ✗  12 ✓   82 ✓  14 ✓   81 ✓  16 ✗      50 / 100 / 50 → 2, 1, 2

Standing: on track at 66⅔ or more, off track below 33⅓. Reviews every month, so each build
is compared with the month before. The third build also brings a corrected 2026-01 file: b's
follow-up 78/100 becomes 80/100 (line 4), a restatement of what the 2026-01 archive showed.
c's own commitment on fu (80, until 2026-02) ends and one on rd (15, from 2026-03) starts in
the third cycle; a's action on fu (open, due 2026-03-15) is overdue on 2026-04-05 only.
"""

from __future__ import annotations

import errno
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from sitegen import archive, build, pdf
from sitegen.archive import read_records
from sitegen.cli import main
from sitegen.config import load_config
from sitegen.errors import ConfigError
from sitegen.kpis import KpiSettings, compute, review
from sitegen.load import load_project
from sitegen.model import CommitmentChange, Moves, Restatement, StatusChange
from sitegen.views import alliance as alliance_views
from sitegen.views import review as review_views
from sitegen.views.review import partner_review
from tests.conftest import FIXTURES
from tests.test_publish import consistent
from tests.test_site import page_text

NIGHTS = {  # the metric files each build adds (source under later/, name in data/metrics/)
    "2026-01": ([("2026-01.csv", "2026-01.csv")], date(2026, 2, 5)),
    "2026-02": ([("2026-02.csv", "2026-02.csv")], date(2026, 3, 5)),
    "2026-03": (
        [("2026-03.csv", "2026-03.csv"), ("2026-01-corrected.csv", "2026-01.csv")],
        date(2026, 4, 5),
    ),
}
MISSES = "Missed, with neither a note nor an action in actions.csv (a warning):"
EPOCH = {"2026-01": 1770249600, "2026-02": 1772668800, "2026-03": 1775347200}  # 02-05 … 04-05


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "review"
    shutil.copytree(FIXTURES / "review", copy)
    (copy / "data" / "metrics").mkdir()
    return copy


def night(project: Path, out: Path, period: str, monkeypatch: pytest.MonkeyPatch) -> build.Result:
    """The build of the night `period`'s data arrived: its files copied in, built that day."""
    files, today = NIGHTS[period]
    for source, name in files:
        shutil.copy(project / "later" / source, project / "data" / "metrics" / name)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(EPOCH[period]))
    result = build.run(load_config(project), out, 1, today=today)
    assert result.period == period
    return result


@pytest.fixture
def three(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, list[build.Result], list[dict[str, str]]]:
    """The site after each of the three builds, and the archive's files after each."""
    out = tmp_path / "site"
    results, archives = [], []
    for period in NIGHTS:
        results.append(night(project, out, period, monkeypatch))
        archives.append(hashes(out.resolve() / "periods"))
    return out, results, archives


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def reviews(result: build.Result) -> dict[str, Any]:
    assert result.model is not None
    return {pid: card.review for pid, card in result.model.scorecards.items()}


# ------------------------------------------------------------------------- what changed


def test_the_first_period_has_nothing_to_compare_with(three: Any) -> None:
    _, results, _ = three
    first = reviews(results[0])
    assert {pid: r.since for pid, r in first.items()} == dict.fromkeys("abc", "2025-12")
    assert not any(r.discuss for r in first.values())
    card = results[0].model.scorecards["a"]
    section = partner_review(card, results[0].model.kpis)
    assert [(c.kind, c.text) for c in section.changes] == [
        ("New", "no scorecard for 2025-12 to compare with")
    ]


def test_the_second_period_against_the_first(three: Any) -> None:
    _, results, _ = three
    second = reviews(results[1])
    assert {pid: r.since for pid, r in second.items()} == dict.fromkeys("abc", "2026-01")
    assert second["a"].statuses == (
        StatusChange("fu", "2026-01", "met", "2026-02", "at_risk", "worse"),
    )
    assert second["a"].moves == Moves(
        100.0, 75.0, 1, 3, 1, 3, "on_track", "on_track", "worse", None, None
    )
    assert second["b"].statuses == (
        StatusChange("fu", "2026-01", "at_risk", "2026-02", "met", "better"),
    )
    # 25 → 50: off track (below 33⅓) to at risk; rank 3 → 2 (tied with c at 50)
    assert second["b"].moves == Moves(
        25.0, 50.0, 3, 3, 2, 3, "off_track", "at_risk", "better", "better", "better"
    )
    assert second["c"].statuses == ()
    assert second["c"].moves == Moves(
        50.0, 50.0, 2, 3, 2, 3, "at_risk", "at_risk", None, None, None
    )
    # a status worse makes a worth discussing; b's improvements alone do not; c: nothing
    assert {pid: r.discuss for pid, r in second.items()} == {"a": True, "b": False, "c": False}
    # the action is open but not yet due (2026-03-15, built 2026-03-05)
    assert all(r.overdue == () for r in second.values())


def test_the_third_period_against_the_second(three: Any) -> None:
    _, results, _ = three
    third = reviews(results[2])
    assert third["a"].statuses == (
        StatusChange("fu", "2026-02", "at_risk", "2026-03", "missed", "worse"),
    )
    assert third["a"].moves == Moves(
        75.0, 50.0, 1, 3, 2, 3, "on_track", "at_risk", "worse", "worse", "worse"
    )
    assert [(a.kpi_id, a.due, a.overdue) for a in third["a"].overdue] == [
        ("fu", date(2026, 3, 15), True)
    ]
    assert third["b"].statuses == (
        StatusChange("rd", "2026-02", "missed", "2026-03", "met", "better"),
    )
    assert third["b"].moves == Moves(
        50.0, 100.0, 2, 3, 1, 3, "at_risk", "on_track", "better", "better", "better"
    )
    assert third["c"].statuses == (
        StatusChange("fu", "2026-02", "missed", "2026-03", "met", "better"),
        StatusChange("rd", "2026-02", "met", "2026-03", "missed", "worse"),
    )
    assert third["c"].commitments == (
        CommitmentChange("fu", "ended", 80.0, None, "2026-02"),
        CommitmentChange("rd", "started", 15.0, "2026-03", None),
    )
    # a: worse and overdue; b: a restated figure; c: a status worse, commitments
    assert {pid: r.discuss for pid, r in third.items()} == dict.fromkeys("abc", True)


def test_a_corrected_file_is_a_restatement_naming_its_line(three: Any, project: Path) -> None:
    out, results, _ = three
    changed_by = f"{project / 'data' / 'metrics' / '2026-01.csv'}:4"
    restated = Restatement("2026-01", "b", "fu", "2026-01", 78.0, 80.0, (changed_by,))
    assert reviews(results[2])["b"].restatements == (restated,)
    assert all(r.restatements == () for r in reviews(results[1]).values())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["restatements"] == [
        {
            "kpi_id": "fu",
            "partner_id": "b",
            "period": "2026-01",
            "published_for": "2026-01",
            "was": 78.0,
            "now": 80.0,
            "changed_by": [changed_by],
        }
    ]
    text = page_text(out, "review.html")
    assert (
        "Birch Nursing Follow-up within 7 days 2026-01 2026-01 78.0% 80.0% " + changed_by
    ) in text
    # the archive shows what was published: 78.0%, not the corrected 80.0%
    archived = page_text(out, "periods/2026-01/partners/b.html")
    assert "Follow-up within 7 days ! at risk 78.0%" in archived


def test_the_partner_page_pdf_and_email_say_what_changed(
    three: Any, project: Path, tmp_path: Path
) -> None:
    out, _, _ = three
    text = page_text(out, "partners/a.html")
    since = text[text.index("Since the last review (2026-02)") :]
    # worse first, then news, then better; each says which way in words
    assert since.startswith(
        "Since the last review (2026-02) "
        "Status: Follow-up within 7 days: at risk to missed (2026-02 to 2026-03), worse "
        "Composite: Composite score 75.0 in 2026-02, 50.0 now "
        "Rank: Rank 1 of 3 in 2026-02, 2 of 3 now "
        "Standing: Standing on track in 2026-02, at risk now "
        "Overdue action: Follow-up within 7 days: Call every discharged patient within 48 "
        "hours (due 2026-03-15, Director of Quality), still open"
    )
    # beside the KPI: the action, flagged overdue
    assert (
        "Follow-up within 7 days Overdue. Action for 2026-02, open, due 2026-03-15, overdue: "
        "Call every discharged patient within 48 hours (Director of Quality)"
    ) in text
    c = page_text(out, "partners/c.html")
    assert "Note for 2026-03: Coding backlog; corrected data due in April" in c
    assert "30-day readmission rate: own commitment of 15.0% started (from 2026-03)" in c
    assert "Follow-up within 7 days: own commitment of 80.0% ended (until 2026-02)" in c
    pdf = " ".join((PdfReader(out / "pdf" / "a.pdf").pages[0].extract_text() or "").split())
    assert "Since the last review (2026-02)" in pdf and "Standing on track in 2026-02" in pdf
    outbox = tmp_path / "outbox"
    (project / "sitegen.toml").write_text(
        (project / "sitegen.toml").read_text()
        + '\n[email]\nsender = "scorecards@review.example.org"\n'
    )
    sent = CliRunner().invoke(
        main,
        [
            *("email", "--project", str(project), "--output", str(out), "--dry-run"),
            *("--outbox", str(outbox), "--partner", "a"),
        ],
    )
    assert sent.exit_code == 0, sent.output
    [eml] = list(outbox.glob("*.eml"))
    body = eml.read_text()
    # the email leads with it: right after the title, before the standing
    plain = body[body.index("Alder Hospital: scorecard for 2026-03") :]
    assert plain.index("Since the last review (2026-02):") < plain.index("Standing:")


def test_the_review_page_and_its_board_packet(three: Any) -> None:
    out, _, _ = three
    text = page_text(out, "review.html")
    assert "Review: what changed since 2026-02" in text
    # per KPI: fu a worse, c better; rd b better, c worse
    assert "Follow-up within 7 days 1 1 0 0 30-day readmission rate 1 1 0 0" in text
    assert "3 partners have a change worth discussing" in text and "; 0 have none" in text
    assert "Open actions past their due date Partner KPI Action Owner Due Alder Hospital" in text
    packet = PdfReader(out / "pdf" / "review-2026-03.pdf")
    pages = [" ".join((p.extract_text() or "").split()) for p in packet.pages]
    assert "Review packet: 2026-03 against 2026-02" in pages[0]
    # one page per partner worth discussing, after the alliance's pages
    partner_pages = [p for p in pages if "Since the last review (2026-02)" in p]
    assert [p.split(" Since")[0].split()[-2:] for p in partner_pages] == [
        ["Alder", "Hospital"],
        ["Birch", "Nursing"],
        ["Cedar", "Clinic"],
    ]


def test_board_packets_give_pages_to_the_partners_most_behind_beyond_the_limit(
    three: Any, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Beyond PACKET_PARTNERS_MAX partners a packet gives its pages to those with the most
    changes for the worse (review) or furthest behind (alliance), and says so; here with a
    limit of 2 of the 3 partners, worked from the third night's changes: Alder has four
    changes for the worse (status, composite, rank, standing) and an overdue action, Cedar
    one (readmissions met to missed), Birch none; by standing Alder and Cedar are at risk at
    50, Birch on track at 100."""
    _, results, _ = three
    model = results[2].model
    assert model is not None
    monkeypatch.setattr(review_views, "PACKET_PARTNERS_MAX", 2)
    monkeypatch.setattr(alliance_views, "PACKET_PARTNERS_MAX", 2)
    view = review_views.review_view(model)
    assert [p.name for p in view.discuss] == ["Alder Hospital", "Birch Nursing", "Cedar Clinic"]
    assert [p.name for p in view.packet] == ["Alder Hospital", "Cedar Clinic"]
    assert "Not given a page here: 1 partner more worth discussing" in view.packet_note
    # the packet's sections show each partner's standing from its results, read for them
    # alone (here from the same data, built again)
    full = build.read_model(load_config(project), NIGHTS[model.period][1])
    chosen = alliance_views.packet_cards(model)
    packet = alliance_views.packet_view(
        model, [full.scorecards[c.partner.partner_id] for c in chosen]
    )
    assert [s.name for s in packet.sections] == ["Alder Hospital", "Cedar Clinic"]
    assert "Not given a section here: 1 partner more" in packet.sections_note
    # and typeset: the pages and the line, after the alliance's pages
    config = load_config(project)
    generated = datetime(2026, 4, 5, tzinfo=UTC)
    common = pdf.common_data(config, model.period, generated)
    templates = pdf.read_templates(project)
    setter = pdf.Typesetter(generated, tmp_path / "cache")
    made = setter.pdf(pdf.review_document(view, common, templates, tmp_path))
    (tmp_path / "review.pdf").write_bytes(made)
    pages = [
        " ".join((p.extract_text() or "").split()) for p in PdfReader(tmp_path / "review.pdf").pages
    ]
    text = " ".join(pages)
    assert "3 partners have a change worth discussing; 0 have none." in text
    assert "Not given a page here: 1 partner more worth discussing" in text
    partner_pages = [p for p in pages if "Since the last review (2026-02)" in p]
    assert [p.split(" Since")[0].split()[-2:] for p in partner_pages] == [
        ["Alder", "Hospital"],
        ["Cedar", "Clinic"],
    ]
    svg = {
        packet.ranking.digest: '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    }
    made = setter.pdf(pdf.packet_document(packet, svg, common, templates, tmp_path))
    (tmp_path / "alliance.pdf").write_bytes(made)
    text = " ".join(
        " ".join((p.extract_text() or "").split())
        for p in PdfReader(tmp_path / "alliance.pdf").pages
    )
    assert "Not given a section here: 1 partner more" in text
    assert "Alder Hospital" in text and "Cedar Clinic" in text and "Birch Nursing" not in text


# ------------------------------------------------------------------------------ archive


def test_each_period_is_archived_and_later_builds_leave_its_bytes(three: Any) -> None:
    out, _, archives = three
    live = out.resolve()
    assert sorted(p.name for p in (live / "periods").iterdir()) == [
        "2026-01",
        "2026-02",
        "2026-03",
    ]
    first, second, third = archives
    for older, newer in ((first, second), (second, third)):
        kept = {k: v for k, v in newer.items() if k in older}
        assert kept == older  # every archived file, byte for byte
    # the archive of the live period is the live site itself: the same files (hard links)
    for page in ("index.html", "partners/a.html", "pdf/a.pdf", "static/style.css"):
        assert (live / page).stat().st_ino == (live / "periods" / "2026-03" / page).stat().st_ino
    # a file no period changed is one file on disk for all of them
    inodes = {(live / "periods" / p / "vendor/vega-bundle.js").stat().st_ino for p in NIGHTS}
    assert len(inodes) == 1
    listed = page_text(out, "periods.html")
    assert "2026-03 (this site) 2026-04-05 00:00 UTC 2026-02 2026-03-05 00:00 UTC" in listed
    manifest = json.loads((out / "manifest.json").read_text())
    assert [p["period"] for p in manifest["periods"]] == list(NIGHTS)
    assert not [f for f in manifest["files"] if f["path"].startswith("periods/")]


def test_an_archived_periods_links_stay_inside_it(three: Any) -> None:
    out, _, _ = three
    archived = out.resolve() / "periods" / "2026-01"
    nav = page_text(out, "periods/2026-01/periods.html")
    assert "Scorecards for 2026-01, as published" in nav
    assert "published on 2026-02-05 00:00 UTC" in nav
    html = (archived / "periods.html").read_text()
    assert 'href="../../periods.html"' in html and 'href="../../index.html"' in html
    # the archived dashboard's own header leads to this archive's periods.html
    assert 'href="periods.html"' in (archived / "index.html").read_text()


def test_rebuilding_an_archived_period_says_so_and_keeps_the_archive(
    three: Any, project: Path
) -> None:
    out, _, archives = three
    result = CliRunner().invoke(
        main,
        ["build", "--project", str(project), "--output", str(out), "--period", "2026-01"],
    )
    assert result.exit_code == 0, result.output
    assert (
        "2026-01 is archived as published on 2026-02-05 00:00 UTC: this build is live, "
        "periods/2026-01/ keeps what was published; 1 figure restated since"
    ) in result.output
    # every archive as it was, 2026-01's included; the live site is the rebuild
    assert hashes(out.resolve() / "periods") == archives[2]
    assert json.loads((out / "manifest.json").read_text())["period"] == "2026-01"
    assert "Follow-up within 7 days ! at risk 80.0%" not in page_text(out, "partners/b.html")


def test_sigkill_while_archiving_leaves_the_site_and_archive_whole(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Builds of the next period killed at points from start-up to publishing (one takes
    about 1.1 s here, with no PDFs): whenever the kill comes, the live site is a complete
    build (the old one or the new one), the archive of 2026-01 is as published, and the
    archive of the live period holds the live site's files."""
    out = tmp_path / "site"
    night(project, out, "2026-01", monkeypatch)
    first = hashes(out.resolve() / "periods" / "2026-01")
    for source, name in NIGHTS["2026-02"][0]:
        shutil.copy(project / "later" / source, project / "data" / "metrics" / name)
    command = [sys.executable, "-m", "sitegen", "build", "-q", "--jobs", "1", "--no-pdf"]
    (project / "content").mkdir()
    for delay in (0.2, 0.4, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4):
        (project / "content" / "index.md").write_text(f"Killed after {delay} s.\n")
        running = subprocess.Popen([*command, "--project", str(project), "--output", str(out)])
        time.sleep(delay)
        running.send_signal(signal.SIGKILL)
        running.wait()
        assert consistent(out) == [], delay
        assert hashes(out.resolve() / "periods" / "2026-01") == first, delay
        manifest = json.loads((out / "manifest.json").read_text())
        archive = out.resolve() / "periods" / manifest["period"]
        for entry in manifest["files"]:
            copy = archive / entry["path"]
            if entry["path"] != "periods.html":
                assert hashlib.sha256(copy.read_bytes()).hexdigest() == entry["sha256"], delay


# -------------------------------------------------------------------- special causes


def test_a_special_cause_is_new_only_if_the_last_review_did_not_show_it(tmp_path: Path) -> None:
    """Two series of 14 monthly points, reviewed every month (at the 13th):
    - `up` alternates 10, 12 for 13 points (mean 11, limits 11 ± 2.66 × 2: no pattern), then
      20: over 14 points the mean is 162/14 = 11.571, the mean moving range (12 × 2 + 10)/13
      = 2.615, the upper limit 18.53: 20 is beyond it, a special cause that is new;
    - `down` (lower is better) is 10 five times, then 14 eight times: at the 13th point the
      last 8 are above the mean 162/13 = 12.46 (a shift, concerning) and the 14th, 14 again,
      goes on with it: not new."""
    from tests.test_spc import month, project

    up = [10.0, 12.0] * 6 + [10.0, 20.0]
    down = [10.0] * 5 + [14.0] * 9
    root = project(tmp_path, {("p0", "up"): up, ("p0", "down"): down})
    con = duckdb.connect()
    load_project(con, root / "data", "data", date(2030, 1, 1))
    read_records(con, None, root / "data", "data")
    settings = KpiSettings(period=month(13), today=date(2030, 1, 1), review_every="month")
    compute(con, settings)
    review(con, settings, own_site=False)
    rows = con.execute(
        "SELECT kpi_id::VARCHAR, improving, first, rules FROM review_signals ORDER BY 1"
    ).fetchall()
    assert rows == [("up", True, month(13), ["outside"])]
    # the as-of reading itself still shows the shift that goes on
    [(variation,)] = con.execute(
        "SELECT variation FROM spc WHERE kpi_id::VARCHAR = 'down'"
    ).fetchall()
    assert variation == "special_concerning"


# ------------------------------------------------------------------------------ validate


def test_validate_warns_of_a_miss_with_neither_note_nor_action(project: Path) -> None:
    for source, name in NIGHTS["2026-01"][0] + NIGHTS["2026-02"][0]:
        shutil.copy(project / "later" / source, project / "data" / "metrics" / name)
    result = CliRunner().invoke(main, ["validate", "--project", str(project)])
    # 2026-02: c's follow-up (70) missed, nothing written about it; b's readmissions (20)
    # missed too, but answered by b's action for 2026-02 (done)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[lines.index(MISSES) :] == [
        MISSES,
        "  Cedar Clinic (c), 2026-02: Follow-up within 7 days",
    ]


def test_the_archive_is_published_with_its_period(three: Any) -> None:
    """The generated_at of each archive is its build's, as SOURCE_DATE_EPOCH set it."""
    out, _, _ = three
    for period, epoch in EPOCH.items():
        manifest = json.loads((out / "periods" / period / "manifest.json").read_text())
        assert manifest["generated_at"] == datetime.fromtimestamp(epoch, UTC).isoformat()


# ------------------------------------------------------------------- edges of the rules


def test_a_partner_site_built_where_another_was_never_shows_the_others_archive(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for source, name in NIGHTS["2026-01"][0]:
        shutil.copy(project / "later" / source, project / "data" / "metrics" / name)
    out = tmp_path / "own"
    for pid in ("b", "a"):  # one folder, reused: a's site after b's
        built = CliRunner().invoke(
            main,
            [
                *("build", "--project", str(project), "--partner", pid),
                *("--output", str(out), "--no-pdf", "--jobs", "1"),
            ],
        )
        assert built.exit_code == 0, built.output
    live = out.resolve()
    files = [str(p.relative_to(live)) for p in live.rglob("*") if p.is_file()]
    assert "periods/2026-01/partners/a.html" in files
    assert not [f for f in files if "partners/b." in f]
    record = (live / "periods" / "2026-01" / "figures.json").read_text()
    assert '"partner_id":"a"' in record and '"b"' not in record
    assert not (live / "periods" / "2026-01" / "files.json").exists()  # no file names


def test_a_note_is_never_an_overdue_action(project: Path, tmp_path: Path) -> None:
    (project / "data" / "actions.csv").write_text(
        "partner_id,kpi_id,period,owner,action,due,status,note\n"
        "a,fu,2026-01,,,2026-01-15,open,Waiting for the corrected extract\n"
    )
    for source, name in NIGHTS["2026-01"][0]:
        shutil.copy(project / "later" / source, project / "data" / "metrics" / name)
    result = build.run(load_config(project), tmp_path / "o", 1, today=date(2026, 3, 1))
    assert result.model is not None
    [note] = result.model.scorecards["a"].actions
    assert note.overdue is False and result.model.scorecards["a"].review.overdue == ()


def test_a_yearly_scorecard_is_reviewed_yearly_unless_told(tmp_path: Path) -> None:
    (tmp_path / "sitegen.toml").write_text('[site]\ngrain = "year"\n')
    assert load_config(tmp_path).review.every == "year"
    (tmp_path / "sitegen.toml").write_text('[site]\ngrain = "year"\n[review]\nevery = "month"\n')
    with pytest.raises(ConfigError) as failed:
        load_config(tmp_path)
    assert "[review] every: 'month' is shorter than the scorecard's grain 'year'" in str(
        failed.value.problems
    )


def test_moving_to_quarters_keeps_the_monthly_archives_and_restates_nothing(
    three: Any, project: Path
) -> None:
    out, _, archives = three
    (project / "sitegen.toml").write_text(
        '[site]\ntitle = "Review alliance"\ngrain = "quarter"\n[review]\nevery = "quarter"\n'
    )
    result = build.run(load_config(project), out, 1, today=date(2026, 4, 5))
    assert result.period == "2026-Q1" and result.model is not None
    assert result.model.review.restatements == ()
    periods_now = hashes(out.resolve() / "periods")
    assert {k: v for k, v in periods_now.items() if not k.startswith("2026-Q1/")} == archives[2]
    assert "2026-Q1/index.html" in periods_now


def test_an_output_that_cannot_hard_link_is_one_line(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for source, name in NIGHTS["2026-01"][0]:
        shutil.copy(project / "later" / source, project / "data" / "metrics" / name)

    def no_links(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(archive.os, "link", no_links)
    out = tmp_path / "site"
    result = CliRunner().invoke(
        main, ["build", "--project", str(project), "--output", str(out), "--no-pdf"]
    )
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and len(result.output.splitlines()) == 1
    assert "cannot hard-link files (Invalid cross-device link)" in result.output
    assert not out.exists()  # nothing published


def test_a_quarantined_action_row_reaches_the_build_the_page_and_strict(
    project: Path, tmp_path: Path
) -> None:
    with (project / "data" / "actions.csv").open("a") as actions:
        actions.write("zz,fu,2026-01,,,,,A partner nobody knows\n")
    for source, name in NIGHTS["2026-01"][0]:
        shutil.copy(project / "later" / source, project / "data" / "metrics" / name)
    out = tmp_path / "site"
    args = ["build", "--project", str(project), "--output", str(out), "--no-pdf", "--strict"]
    result = CliRunner().invoke(main, args)
    where = f"{project / 'data' / 'actions.csv'}:5:partner_id"
    assert f"Warning: {where}: unknown partner_id 'zz' (row quarantined)" in result.output
    assert result.exit_code == 1  # --strict: a quarantined row fails the run, as a rejected one
    text = page_text(out, "data-quality.html")
    assert "actions.csv: 4 rows read: 3 accepted, 1 quarantined" in text
    assert f"Quarantined rows of actions.csv Where Reason {where} unknown partner_id 'zz'" in text
    again = CliRunner().invoke(main, args)  # nothing changed: still a failure
    assert again.exit_code == 1 and again.output.startswith("Nothing changed")
