"""A deployment as the README describes it and users run it: the crontab line and the systemd
unit exactly as written there, with no terminal and the bare environment those give, and the
site they build served by Debian's nginx, its workers unprivileged, loaded in Chromium."""

from __future__ import annotations

import shutil
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sitegen.cli import main
from tests.support import readme
from tests.support.browser import chromium, visit
from tests.support.deploy import fetched_in_page, nginx, readme_nginx_block, srv_folder

FIXTURES = Path(__file__).parent / "fixtures"
# What cron gives a command (Debian's cron: no terminal, no login shell, this PATH).
CRON_ENV = {"PATH": "/usr/bin:/bin", "SHELL": "/bin/sh", "LANG": "C.UTF-8"}
# What systemd gives a service: its default PATH, no terminal, umask 0022.
SYSTEMD_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG": "C.UTF-8"}
PAGES = ("index.html", "partners/north-hosp.html", "kpis/readmit_30d.html")

pytestmark = pytest.mark.slow


@pytest.fixture
def srv() -> Iterator[Path]:
    with srv_folder() as folder:
        yield folder


@pytest.fixture
def alliance(srv: Path) -> Path:
    """The mini project at /srv/alliance, with sitegen installed in its .venv as the README
    says (the installed entry point of the environment the tests run in)."""
    project = srv / "alliance"
    shutil.copytree(FIXTURES / "mini", project)
    entry = Path(sys.executable).parent / "sitegen"
    assert entry.is_file(), f"no sitegen entry point beside {sys.executable}"
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "sitegen").symlink_to(entry)
    return project


def on_this_server(text: str, srv: Path) -> str:
    """A README command with the server's folders replaced by the test's."""
    return text.replace("/srv/", f"{srv}/").replace("/var/log/", f"{srv}/log/")


def assert_served(base: str, pdf: str = "../pdf/north-hosp.pdf") -> None:
    """The dashboard, a partner page, its PDF and a KPI page, loaded through the server in
    Chromium: 200, no console error, charts drawn."""
    with chromium() as browser:
        for page in PAGES:
            with visit(browser, base + page, base) as report:
                assert report.problems() == []
                if page != "index.html":  # a partner's own dashboard has no chart
                    assert report.page.locator("figure.chart svg").count() > 0
                if page.startswith("partners/"):
                    link = report.page.locator("a[href$='.pdf']").first.get_attribute("href")
                    assert link == pdf
                    assert fetched_in_page(report.page, link) == (200, "application/pdf", "%PDF-")


def test_the_crontab_line_builds_quietly_without_a_terminal(alliance: Path, srv: Path) -> None:
    line = readme.command("30 2 * * * ")
    command = on_this_server(line.split(maxsplit=5)[5], srv)  # the five time fields go
    (srv / "log").mkdir()
    log = srv / "log" / "sitegen.log"
    first = readme.shell(command, cwd=srv, env=CRON_ENV)
    assert first.returncode == 0, first.stdout + first.stderr
    assert (alliance / "output" / "index.html").is_file()
    assert log.read_text() == ""  # a good night writes nothing: cron mails nothing
    kpis = alliance / "data" / "kpis.csv"
    kpis.write_text(kpis.read_text() + "broken\n")
    second = readme.shell(command, cwd=srv, env=CRON_ENV)
    assert second.returncode == 2
    assert log.read_text() == "Error: data/kpis.csv:7: row has 1 fields, the header has 17\n"


def test_the_systemd_unit_builds_a_site_that_nginx_serves(
    alliance: Path, srv: Path, tmp_path: Path
) -> None:
    service = readme.systemd_service()
    assert service["WorkingDirectory"] == "/srv/alliance"
    run = readme.shell(
        on_this_server(service["ExecStart"], srv),
        cwd=Path(on_this_server(service["WorkingDirectory"], srv)),
        env=SYSTEMD_ENV,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == run.stderr == ""  # -q: the journal gets errors only
    block = readme_nginx_block()
    assert "alias /srv/alliance/output/;" in block and "listen 80;" in block
    scratch = tmp_path / "nginx"
    scratch.mkdir()
    with nginx(on_this_server(block, srv), scratch) as base:
        assert_served(base)
        (alliance / "content").mkdir()
        (alliance / "content" / "index.md").write_text("Tonight's build is live.\n")
        again = readme.shell(
            on_this_server(service["ExecStart"], srv), cwd=alliance, env=SYSTEMD_ENV
        )
        assert again.returncode == 0, again.stderr
        with urllib.request.urlopen(base + "index.html") as response:
            assert "Tonight's build is live." in response.read().decode("utf-8")


def test_a_partners_own_site_is_served_by_an_unprivileged_nginx(
    alliance: Path, srv: Path, tmp_path: Path
) -> None:
    out = srv / "partners" / "north-hosp"
    options = ["--partner", "north-hosp", "--output", str(out)]
    result = CliRunner().invoke(main, ["build", "-q", "--project", str(alliance), *options])
    assert result.exit_code == 0, result.output
    scratch = tmp_path / "nginx"
    scratch.mkdir()
    block = readme_nginx_block().replace("/srv/alliance/output/", f"{out}/")
    with nginx(block, scratch) as base:
        assert_served(base)


def test_nothing_private_is_served(alliance: Path) -> None:
    """The records that name the server's folders, count every rejected row or hold every
    partner's mail stay beside the site, where the web server does not look."""
    with (alliance / "sitegen.toml").open("a") as config:
        config.write('\n[email]\nsender = "scorecards@mini.example.org"\n')
    sitegen = alliance / ".venv" / "bin" / "sitegen"
    result = readme.shell(
        f"{sitegen} build -q && {sitegen} email --dry-run -q", cwd=alliance, env=SYSTEMD_ENV
    )
    assert result.returncode == 1, result.stderr  # south-snf has no contact: reported
    site = (alliance / "output").resolve()
    names = {str(p.relative_to(site)) for p in site.rglob("*")}
    assert [n for n in names if n.endswith((".log", ".eml")) or "outbox" in n] == []
    assert sorted(p.name for p in (alliance / ".output.outbox").iterdir()) == [
        "east-clinic.eml",
        "north-hosp.eml",
    ]
    assert "rows read 6" in (alliance / ".output.log").read_text()
    assert str(alliance.parent) not in (site / "manifest.json").read_text()
