"""sitegen email against a real SMTP server on 127.0.0.1 (aiosmtpd, in this process), with
STARTTLS on a certificate made for the test and AUTH LOGIN; every message is parsed back from
the bytes the server received."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from click.testing import CliRunner

from sitegen import build, mail
from sitegen.cli import main
from sitegen.config import load_config
from sitegen.model import Scorecard, filled, load_model
from sitegen.templating import environment
from tests.support import readme

FIXTURES = Path(__file__).parent / "fixtures"
USER, PASSWORD = "scorecards", "s3cret-Pa55"
CONTACTS = {
    "north-hosp": ["ceo@north.example.org", "quality@north.example.org"],
    "south-snf": ["director@south.example.net"],
    "east-clinic": ["admin@east.example.com"],
}
NAMES = {
    "north-hosp": "North General Hospital",
    "south-snf": "South Shore Nursing",
    "east-clinic": "East Family Clinic",
}


class Mailbox:
    """What the server accepted; and ways to misbehave that a test switches on."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.refuse: set[str] = set()  # addresses refused for good (550)
        self.busy = 0  # answer the next n messages 451 (try again later)
        self.drop_at: int | None = None  # close the connection when this message arrives
        self.stop_at: int | None = None  # stop the whole server when this message arrives
        self.controller: Controller | None = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        arriving = len(self.received) + 1
        if self.busy:
            self.busy -= 1
            return "451 4.3.0 Try again later"
        if self.drop_at == arriving:
            self.drop_at = None
            server.transport.close()
            return "421 closing"
        if self.stop_at == arriving:
            self.stop_at = None
            threading.Thread(target=self.controller.stop).start()  # type: ignore[union-attr]
            await asyncio.sleep(30)  # cancelled by the stop: no reply ever goes out
        message = BytesParser(policy=policy.default).parsebytes(envelope.original_content)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 2.0.0 Message accepted for delivery"

    def by_partner(self) -> dict[str, list[tuple[list[str], EmailMessage]]]:
        found: dict[str, list] = {}
        for rcpts, message in self.received:
            attachment = next(message.iter_attachments())
            pid = attachment.get_filename().split("-scorecard-")[0]
            found.setdefault(pid, []).append((rcpts, message))
        return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def authenticate(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)  # the server replies 535 on failure


class Server:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS and AUTH LOGIN; can be stopped and restarted
    on the same port."""

    def __init__(self, ca: trustme.CA, mailbox: Mailbox) -> None:
        self.port = free_port()
        self.mailbox = mailbox
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self.context)
        self.start()

    def start(self) -> None:
        controller = Controller(
            self.mailbox,
            hostname="127.0.0.1",
            port=self.port,
            tls_context=self.context,
            require_starttls=True,
            authenticator=authenticate,
            auth_required=True,
            auth_exclude_mechanism=["PLAIN", "CRAM-MD5"],
        )
        controller.start()
        self.mailbox.controller = controller

    def stop(self) -> None:
        controller = self.mailbox.controller
        if controller is not None and controller._thread is not None:
            controller.stop()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The mini project with contacts for every partner, built once (site and PDFs)."""
    project = tmp_path_factory.mktemp("built") / "mini"
    shutil.copytree(FIXTURES / "mini", project)
    partners = project / "data" / "partners.csv"
    lines = partners.read_text().splitlines()
    rewritten = [lines[0]]
    for line in lines[1:]:
        pid = line.split(",")[0]
        rewritten.append(",".join([*line.split(",")[:5], ";".join(CONTACTS[pid])]))
    partners.write_text("\n".join(rewritten) + "\n")
    result = CliRunner().invoke(main, ["build", "-q", "--project", str(project), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    return project


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def server(
    ca: trustme.CA, mailbox: Mailbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Server]:
    # the client trusts the test's CA as it would an intranet's, through SSL_CERT_FILE
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.setenv("SITEGEN_SMTP_USER", USER)
    monkeypatch.setenv("SITEGEN_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setattr(mail, "BACKOFF", 0.01)
    running = Server(ca, mailbox)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def project(built: Path, tmp_path: Path, server: Server) -> Path:
    """A copy of the built project whose [email] points at the test server."""
    project = tmp_path / "mini"
    shutil.copytree(built, project, symlinks=True)
    with (project / "sitegen.toml").open("a") as config:
        config.write(
            "\n[email]\n"
            'sender = "scorecards@mini.example.org"\n'
            'smtp_host = "127.0.0.1"\n'
            f"smtp_port = {server.port}\n"
            "starttls = true\n"
            'subject = "{{ partner.name }} scorecard — {{ period }}"\n'
        )
    return project


def email(project: Path, *extra: str) -> Any:
    return CliRunner().invoke(main, ["email", "--project", str(project), *extra])


def ledger(project: Path, state: str = "sent") -> list[dict[str, Any]]:
    """The ledger's records in one state (every record for state=None)."""
    path = project / ".output.sent.jsonl"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if state is None or r["state"] == state]


def test_each_partner_gets_its_own_message_and_pdf(project: Path, mailbox: Mailbox) -> None:
    result = email(project)
    assert result.exit_code == 0, result.output
    assert result.output == "Sent 3 messages for 2025-09 via 127.0.0.1:{}.\n".format(
        project.joinpath("sitegen.toml").read_text().split("smtp_port = ")[1].split()[0]
    )
    received = mailbox.by_partner()
    assert sorted(received) == sorted(CONTACTS)
    for pid, [(rcpts, message)] in received.items():
        # to this partner's contacts only: the envelope and the headers agree
        assert rcpts == CONTACTS[pid]
        assert [a.addr_spec for a in message["To"].addresses] == CONTACTS[pid]
        assert message["Cc"] is None and message["Bcc"] is None
        assert message["List-Unsubscribe"] is None
        assert message["From"] == "scorecards@mini.example.org"
        assert message["Subject"] == f"{NAMES[pid]} scorecard — 2025-09"
        assert message["Message-ID"].endswith("@mini.example.org>")
        assert message["Date"].datetime is not None
        # its own PDF, byte for byte the one its own site holds (its own small figures
        # shown), and nothing of any other partner's
        [attachment] = list(message.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_filename() == f"{pid}-scorecard-2025-09.pdf"
        own = project.parent / f"own-{pid}"
        built = CliRunner().invoke(
            main, ["build", "-q", "--project", str(project), "--partner", pid, "--output", str(own)]
        )
        assert built.exit_code == 0, built.output
        assert attachment.get_content() == (own / "pdf" / f"{pid}.pdf").read_bytes()
        raw = message.as_bytes()
        for other in set(NAMES) - {pid}:
            assert other.encode() not in raw and NAMES[other].encode() not in raw
        assert message.get_body(("html",)) is not None
    # north-hosp: readmission and HCAHPS at risk, cost and margin missed; composite
    # (2 × 50 + 0 + 50 + 0) / 5 = 30.0, first of the 2 partners scored
    text = received["north-hosp"][0][1].get_body(("plain",)).get_content()
    # 3 × 30 = 90, under a third of the points: off track; days to an appointment is not on
    # a hospital's scorecard (it has never reported it): scored on 4 of 4
    assert "Standing: ✗ off track" in text
    assert "Composite score: 30.0 out of 100 (scored on 4 of 4 KPIs)" in text
    assert "Rank: 1 of 2\r\n" in text  # the only hospital: no rank within its type
    assert "KPIs ✓ met: 0, ! at risk: 2, ✗ missed: 2" in text
    # its own readmission commitment (14.0 from 2025-07, lower is better): 14.2 is within
    # 5 % (0.7) on the wrong side
    assert "30-day readmission rate: ! at risk, 14.2% against 14.0% (+0.2 pts, worse)" in text
    html = received["north-hosp"][0][1].get_body(("html",)).get_content()
    assert "30.0" in html and "1 of 2" in html
    # the ledger: "sending" before each message went, "sent" with the server's reply after
    assert [r["state"] for r in ledger(project, None)] == ["sending", "sent"] * 3
    records = ledger(project)
    assert sorted(r["partner"] for r in records) == sorted(CONTACTS)
    for record in records:
        assert record["period"] == "2025-09"
        assert record["recipients"] == CONTACTS[record["partner"]]
        assert record["reply"].startswith("250 ")
        pid = record["partner"]
        pdf = project.parent / f"own-{pid}" / "pdf" / f"{pid}.pdf"  # the one it was sent
        assert record["pdf_sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()


def test_the_password_is_never_written(project: Path, mailbox: Mailbox) -> None:
    assert email(project).exit_code == 0
    assert email(project, "--dry-run", "--resend").exit_code == 0
    for path in [*project.rglob("*"), *project.joinpath("output").resolve().rglob("*")]:
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


def test_a_rerun_sends_nothing_and_resend_sends_again(project: Path, mailbox: Mailbox) -> None:
    assert email(project).exit_code == 0
    again = email(project)
    assert again.exit_code == 0, again.output
    assert "Nothing to send for 2025-09." in again.output
    assert "Already sent before: 3" in again.output
    assert len(mailbox.received) == 3
    resent = email(project, "--resend", "--partner", "east-clinic")
    assert resent.exit_code == 0, resent.output
    assert len(mailbox.received) == 4
    assert sorted(mailbox.by_partner()["east-clinic"][1][0]) == CONTACTS["east-clinic"]


def test_a_corrected_scorecard_is_held_until_resend(project: Path, mailbox: Mailbox) -> None:
    assert email(project).exit_code == 0
    (project / "content" / "partners").mkdir(parents=True, exist_ok=True)
    (project / "content" / "partners" / "south-snf.md").write_text("Figures corrected.\n")
    rebuilt = CliRunner().invoke(main, ["build", "-q", "--project", str(project), "--jobs", "1"])
    assert rebuilt.exit_code == 0, rebuilt.output
    held = email(project)
    assert held.exit_code == 1
    assert "Problem: south-snf: not sent: its scorecard for 2025-09 changed" in held.output
    assert len(mailbox.received) == 3
    sent = email(project, "--resend", "--partner", "south-snf")
    assert sent.exit_code == 0, sent.output
    assert len(mailbox.by_partner()["south-snf"]) == 2


def test_dry_run_writes_the_exact_messages_and_sends_nothing(
    project: Path, mailbox: Mailbox
) -> None:
    result = email(project, "--dry-run")
    assert result.exit_code == 0, result.output
    # beside the published site, never in it: the web server must not serve them
    outbox = project / ".output.outbox"
    assert result.output == (
        f"Dry run: wrote 3 messages for 2025-09 to {outbox}; nothing was sent.\n"
    )
    assert not (project / "output" / "outbox").exists()
    assert outbox.stat().st_mode & 0o777 == 0o700  # every partner's PDF: the owner's alone
    assert sorted(p.name for p in outbox.iterdir()) == sorted(f"{p}.eml" for p in CONTACTS)
    message = BytesParser(policy=policy.default).parsebytes(
        (outbox / "north-hosp.eml").read_bytes()
    )
    assert [a.addr_spec for a in message["To"].addresses] == CONTACTS["north-hosp"]
    assert (
        next(message.iter_attachments()).get_content()
        == (project / "output" / "pdf" / "north-hosp.pdf").read_bytes()
    )
    assert mailbox.received == [] and ledger(project, None) == []


def test_dry_run_writes_to_the_outbox_given_and_only_its_own_messages(
    project: Path, mailbox: Mailbox, tmp_path: Path
) -> None:
    chosen = tmp_path / "review"
    chosen.mkdir()
    (chosen / "notes.txt").write_text("mine")
    (chosen / "gone-partner.eml").write_text("from an earlier run")
    result = email(project, "--dry-run", "--outbox", str(chosen), "--partner", "north-hosp")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in chosen.iterdir()) == ["north-hosp.eml", "notes.txt"]
    assert mailbox.received == []


@pytest.mark.parametrize("inside", ["output/outbox", "output", ".output.builds/x"])
def test_an_outbox_inside_the_published_site_is_refused(
    project: Path, mailbox: Mailbox, inside: str
) -> None:
    result = email(project, "--dry-run", "--outbox", str(project / inside))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: --outbox {project / inside}: must not be inside the published site\n"
    )


def test_outbox_without_dry_run_is_a_usage_error(project: Path, mailbox: Mailbox) -> None:
    result = email(project, "--outbox", str(project / "x"))
    assert result.exit_code == 2
    assert result.stderr == "Error: --outbox is where --dry-run writes: add --dry-run\n"
    assert mailbox.received == []


def test_partner_option_limits_the_run(project: Path, mailbox: Mailbox) -> None:
    result = email(project, "--partner", "north-hosp")
    assert result.exit_code == 0, result.output
    assert list(mailbox.by_partner()) == ["north-hosp"]
    unknown = email(project, "--partner", "../x")
    assert unknown.exit_code == 2
    assert unknown.output == "Error: --partner: no partner with id '../x' in partners.csv\n"


def test_partners_without_valid_contacts_are_reported_and_skipped(
    project: Path, mailbox: Mailbox
) -> None:
    partners = project / "data" / "partners.csv"
    text = partners.read_text()
    text = text.replace("director@south.example.net", "")
    text = text.replace("quality@north.example.org", "quality(at)north")
    partners.write_text(text)
    result = email(project)
    assert result.exit_code == 1
    problems = [line for line in result.output.splitlines() if line.startswith("Problem:")]
    assert problems == [
        "Problem: north-hosp: left out invalid contact address 'quality(at)north'",
        "Problem: south-snf: not sent: no valid contact address in partners.csv",
    ]
    received = mailbox.by_partner()
    assert sorted(received) == ["east-clinic", "north-hosp"]
    assert received["north-hosp"][0][0] == ["ceo@north.example.org"]


def test_a_refused_recipient_is_reported_and_the_others_still_get_it(
    project: Path, mailbox: Mailbox
) -> None:
    mailbox.refuse = {"quality@north.example.org"}
    result = email(project)
    assert result.exit_code == 1
    assert (
        "Problem: north-hosp: quality@north.example.org refused for good: 550 5.1.1 No such "
        "user here" in result.output
    )
    received = mailbox.by_partner()
    assert received["north-hosp"][0][0] == ["ceo@north.example.org"]
    assert len(received) == 3
    [north] = [r for r in ledger(project) if r["partner"] == "north-hosp"]
    assert north["recipients"] == ["ceo@north.example.org"]
    assert list(north["refused"]) == ["quality@north.example.org"]
    assert email(project).exit_code == 0 and len(mailbox.received) == 3  # nothing twice


def test_a_temporary_reply_is_retried(project: Path, mailbox: Mailbox) -> None:
    mailbox.busy = 1  # the first message is answered 451 once, then accepted
    result = email(project)
    assert result.exit_code == 0, result.output
    assert sorted(mailbox.by_partner()) == sorted(CONTACTS)
    assert len(mailbox.received) == 3


def test_a_message_refused_for_now_is_told_apart_and_sent_by_the_next_run(
    project: Path, mailbox: Mailbox
) -> None:
    mailbox.busy = 2  # the first message is answered 451 twice: refused for now
    result = email(project)
    assert result.exit_code == 1
    first = ledger(project, "not_sent")[0]["partner"]
    assert (
        f"Problem: {first}: not sent: the server refused it for now; run `sitegen email` "
        "again later" in result.output
    )
    assert len(mailbox.received) == 2
    again = email(project)
    assert again.exit_code == 0, again.output
    assert {pid: len(m) for pid, m in mailbox.by_partner().items()} == dict.fromkeys(CONTACTS, 1)


def test_a_server_that_refuses_everything_for_now_stops_the_run(
    project: Path, mailbox: Mailbox, server: Server
) -> None:
    mailbox.busy = 1_000  # 451 to everything, as a server over its quota answers
    result = email(project)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert errors == [
        f"Error: 127.0.0.1:{server.port} refused 3 messages in a row for now (451 4.3.0 Try "
        "again later): try again later; 0 sent, 0 not tried; `sitegen email` sends the rest"
    ]
    assert mailbox.busy == 1_000 - 3 * 2  # each message tried twice, no more
    assert mailbox.received == [] and len(ledger(project, "not_sent")) == 3


def test_a_run_killed_while_sending_does_not_send_that_message_twice(
    project: Path, mailbox: Mailbox
) -> None:
    """As a SIGKILL between the server's 250 and the ledger's "sent" leaves it: the message
    may have been delivered. The next run says so and sends it only when asked."""
    assert email(project, "--partner", "north-hosp").exit_code == 0
    path = project / ".output.sent.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # the "sent" line never got written
    rerun = email(project)
    assert rerun.exit_code == 1
    problem = [line for line in rerun.output.splitlines() if "north-hosp" in line]
    sending = json.loads(lines[0])
    assert problem == [
        f"Problem: north-hosp: its message for 2025-09 may have been delivered at "
        f"{sending['sent_at']} (a run stopped while sending it); `sitegen email --partner "
        "north-hosp --resend` sends it again"
    ]
    assert len(mailbox.by_partner()["north-hosp"]) == 1  # not sent again
    assert email(project, "--partner", "north-hosp", "--resend").exit_code == 0
    assert len(mailbox.by_partner()["north-hosp"]) == 2


def test_a_421_is_a_temporary_refusal_and_the_connection_is_opened_again(
    project: Path, mailbox: Mailbox
) -> None:
    mailbox.drop_at = 1  # the server answers 421 to the first message and hangs up
    result = email(project)
    assert result.exit_code == 0, result.output
    assert "connect()" not in result.output
    assert {pid: len(m) for pid, m in mailbox.by_partner().items()} == dict.fromkeys(CONTACTS, 1)


def test_a_dropped_connection_is_picked_up_again(project: Path, mailbox: Mailbox) -> None:
    mailbox.drop_at = 2
    result = email(project)
    assert result.exit_code == 0, result.output
    assert {pid: len(m) for pid, m in mailbox.by_partner().items()} == dict.fromkeys(CONTACTS, 1)


def test_server_stopped_mid_run_then_a_rerun_sends_exactly_the_rest(
    project: Path, mailbox: Mailbox, server: Server
) -> None:
    mailbox.stop_at = 2  # the server goes away as the second message arrives
    result = email(project)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: lost the connection to 127.0.0.1:{server.port} after sending 1 of 3 messages"
    )
    assert len(mailbox.received) == 1 and len(ledger(project)) == 1
    server.start()  # back again on the same port
    rerun = email(project)
    assert rerun.exit_code == 0, rerun.output
    assert "Already sent before: 1" in rerun.output
    assert {pid: len(m) for pid, m in mailbox.by_partner().items()} == dict.fromkeys(CONTACTS, 1)
    assert len(ledger(project)) == 3


def test_wrong_password_is_one_line_and_nothing_sent(
    project: Path, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SITEGEN_SMTP_PASSWORD", "wrong-guess")
    result = email(project)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: 127.0.0.1:")
    assert "refused the login of 'scorecards': 535" in result.output
    assert "nothing was sent" in result.output and "wrong-guess" not in result.output
    assert mailbox.received == [] and ledger(project, None) == []


def test_unreachable_server_is_one_line_and_nothing_recorded(project: Path, server: Server) -> None:
    server.stop()
    result = email(project)
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot reach 127.0.0.1:{server.port}: Connection refused; nothing was sent\n"
    )
    assert ledger(project) == []


def test_an_untrusted_certificate_is_one_line(
    project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    monkeypatch.setenv("SSL_CERT_FILE", str(other))
    result = email(project)
    assert result.exit_code == 1
    assert "its certificate is not trusted" in result.output
    assert result.output.count("\n") == 1


def test_a_site_older_than_the_data_is_not_sent(project: Path, mailbox: Mailbox) -> None:
    month = project / "data" / "metrics" / "2025-09.csv"
    month.write_text(
        month.read_text().replace(
            "east-clinic,appt_lead_days,2025-09,18.5", "east-clinic,appt_lead_days,2025-09,12.0"
        )
    )
    result = email(project)
    assert result.exit_code == 1
    assert "was built from other figures than the data now holds" in result.output
    assert "run `sitegen build` first" in result.output
    assert mailbox.received == []


def test_no_site_is_one_line(tmp_path: Path) -> None:
    project = tmp_path / "mini"
    shutil.copytree(FIXTURES / "mini", project)
    with (project / "sitegen.toml").open("a") as config:
        config.write('\n[email]\nsender = "a@mini.example.org"\n')
    result = email(project)
    assert result.exit_code == 1
    assert result.output == f"Error: no site in {project / 'output'}: run `sitegen build` first\n"


def test_the_subject_is_plain_text_and_a_broken_one_is_one_line(
    project: Path, mailbox: Mailbox
) -> None:
    config = project / "sitegen.toml"
    text = config.read_text()
    config.write_text(
        text.replace("{{ partner.name }} scorecard", "{{ partner.name }} & Co's scorecard")
    )
    assert email(project, "--partner", "east-clinic").exit_code == 0
    [(_, message)] = mailbox.received
    assert message["Subject"] == "East Family Clinic & Co's scorecard — 2025-09"
    config.write_text(text.replace("{{ partner.name }} scorecard", "{{ partner.nmae }} scorecard"))
    broken = email(project, "--partner", "east-clinic", "--resend")
    assert broken.exit_code == 2
    assert broken.output == "Error: [email] subject: 'dict object' has no attribute 'nmae'\n"


def test_the_readme_email_commands(project: Path, mailbox: Mailbox) -> None:
    """The README's email commands, run in a shell as a user types them: a dry run first
    (what would go), then the nightly pair, then one partner's message again."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    dry = readme.shell(readme.command("sitegen email --dry-run"), project, env)
    assert dry.returncode == 0, dry.stderr
    assert sorted(p.name for p in (project / ".output.outbox").iterdir()) == sorted(
        f"{p}.eml" for p in CONTACTS
    )
    assert mailbox.received == []
    nightly = readme.shell(readme.command("sitegen build -q && sitegen email -q"), project, env)
    assert (nightly.returncode, nightly.stdout, nightly.stderr) == (0, "", "")
    assert sorted(mailbox.by_partner()) == sorted(CONTACTS)
    resend = readme.command("sitegen email --partner north-hosp --resend")
    again = readme.shell(resend, project, env)
    assert again.returncode == 0, again.stderr
    assert len(mailbox.by_partner()["north-hosp"]) == 2 and len(mailbox.received) == 4


# ------------------------------------------------------------------ what a message tells


@pytest.fixture(scope="module")
def mini_model() -> tuple[Any, Any]:
    """The mini project's model and config, for messages composed without sending."""
    config = load_config(FIXTURES / "mini")
    with build.load(config, date(2026, 1, 1)) as (con, summary):
        build.score(con, config, date(2026, 1, 1))
        model = filled(con, load_model(con, summary), series=False)
    return model, config


def body(card: Scorecard, config: Any) -> str:
    message = mail.compose(
        card,
        ["ceo@north.example.org"],
        b"%PDF-",
        config,
        environment(config.project_dir),
        datetime(2026, 1, 1, tzinfo=UTC),
        [r.kpi for r in card.results],
    )
    return message.get_body(("plain",)).get_content()


def test_a_message_gives_the_score_change_beside_the_rank_move(mini_model: Any) -> None:
    """A rank can rise while the score falls (others fell further): both are said."""
    model, config = mini_model
    card = model.scorecards["north-hosp"]
    moved = dataclasses.replace(card.composite, rank=34, of=38, change_prev=-2.94, rank_prev=36)
    text = body(dataclasses.replace(card, composite=moved), config)
    # 30.0 − 2.94 on the previous month: "down 2.9 points"; rank 36 → 34: up 2 places
    assert (
        "Composite score: 30.0 out of 100, down 2.9 points on the previous month "
        "(scored on 4 of 4 KPIs)"
    ) in text
    assert "Rank: 34 of 38, up 2 places since the previous period" in text


def test_a_message_says_why_a_partner_is_not_ranked(mini_model: Any) -> None:
    model, config = mini_model
    card = model.scorecards["north-hosp"]
    silent = dataclasses.replace(
        card, submitted=False, composite=dataclasses.replace(card.composite, rank=None)
    )
    text = body(silent, config)
    assert "No submission for 2025-09: its KPIs without data for 2025-09 show as no data." in text
    assert "Rank: not ranked" in text and "Not ranked: no submission for 2025-09." in text
    # a partner that submitted with one KPI judged and three without data (rank and score
    # withheld, kpi_composite.sql): the share scored is the reason
    counts = {"met": 0, "at_risk": 1, "missed": 0, "no_data": 3, "suppressed": 0}
    composite = dataclasses.replace(card.composite, score=None, rank=None, scored=1, counts=counts)
    text = body(dataclasses.replace(card, composite=composite), config)
    assert "No submission" not in text
    assert (
        "Not ranked: scored on 1 of 4 KPIs, under half of their weight (the rest had no data "
        "or were suppressed)."
    ) in text
