"""Email delivery: one message per partner, to that partner's contacts only, with its own PDF.

Messages are made from the model and the live site's PDFs (this module never makes a PDF), and
only when the live site was built from the same figures. A send ledger beside the output
(`.<output>.sent.jsonl`, one JSON line per message accepted by the server, written the moment
the server accepts it) makes a re-run send nothing twice, and a run cut short send exactly
what was not sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import smtplib
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

from jinja2 import Environment, TemplateError

from sitegen import sandbox
from sitegen.config import EMAIL_RE, Config, ConfigError
from sitegen.downloads import scorecard_json
from sitegen.errors import MailError, UnknownPartner
from sitegen.model import Kpi, Model, Scorecard, told_to_owner
from sitegen.narrative import ContentError
from sitegen.publish import write_atomic
from sitegen.templating import mail_environment, render
from sitegen.views.partner import commitments, standing, variation
from sitegen.views.review import partner_review

RETRIES = 3  # further tries after a dropped connection
TEMPORARY_RETRIES = 1  # further tries of a message the server refused for now (4xx)
TEMPORARY_LIMIT = 3  # messages in a row refused for now before the run stops: try later
BACKOFF = 2.0  # seconds before the first retry; doubled for each one after
TIMEOUT = 60.0  # seconds to wait for the server before counting the connection lost


@dataclass(frozen=True)
class Outgoing:
    """One partner's message, ready to send."""

    partner_id: str
    message: EmailMessage
    recipients: list[str]
    pdf_sha256: str


@dataclass
class Report:
    """What a run did, for the user: messages sent, and every partner or address left out."""

    period: str
    sent: list[str] = field(default_factory=list)  # partner ids
    already: list[str] = field(default_factory=list)  # sent before, same PDF
    problems: list[str] = field(default_factory=list)  # one line each
    outbox: list[Path] = field(default_factory=list)  # dry run: the .eml files written
    last_temporary: str = ""  # the last "refused for now" reply, for the message that stops


def ledger_path(output: Path) -> Path:
    """The send ledger, beside the output like its lock: it outlives every build."""
    return output.with_name(f".{output.name}.sent.jsonl")


def read_ledger(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """The last record per (partner, period): `state` is "sent" (the server accepted it),
    "sending" (written before the message went; a run that stopped after it may or may not
    have delivered it) or "not_sent" (refused). A line cut short by a crash is skipped."""
    last: dict[tuple[str, str], dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return last
    for line in lines:
        try:
            record = json.loads(line)
            last[(record["partner"], record["period"])] = {"state": "sent", **record}
        except (ValueError, KeyError, TypeError):
            continue
    return last


def _record(path: Path, record: dict[str, Any]) -> None:
    """Append one record to the ledger, on disk before the run goes on."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def message_context(card: Scorecard, config: Config, kpis: list[Kpi]) -> dict[str, Any]:
    """Everything the subject and bodies show, in the words of the partner's scorecard
    (sitegen.views.partner.standing, views.review.partner_review): templates only place it.
    `kpis`: every KPI, which the review may name."""
    pid = card.partner.partner_id
    base = config.site.base_url
    s = standing(card)
    review = partner_review(told_to_owner(card), kpis)
    return {
        "review": (
            {
                "heading": review.heading,
                "empty": review.empty,
                "changes": [{"kind": c.kind, "text": c.text} for c in review.changes],
            }
            if review
            else None
        ),
        "partner": {
            "id": pid,
            "name": s.name,
            "type": card.partner.partner_type.replace("_", " "),
            "region": s.region,
        },
        "period": s.period,
        "title": config.site.title,
        "organization": config.site.organization,
        "track": {"word": s.track.word, "icon": s.track.icon},
        "composite": s.score,
        "score_change": s.score_change,
        "scored_on": s.scored_on,
        "rank": s.rank,
        "rank_change": s.rank_change,
        "type_rank": s.type_rank,
        "not_ranked": s.not_ranked,
        "no_submission": s.no_submission,
        "commitments": [
            {
                "name": c.name,
                "word": c.status.word,
                "icon": c.status.icon,
                "value": c.value,
                "target": c.target,
                "gap": c.gap,
            }
            for c in commitments(card, own=True)
            if c.status.key in ("missed", "at_risk")
        ],
        "counts": [
            {"word": c.status.word, "icon": c.status.icon, "count": c.count}
            for c in s.headline_counts()
        ],
        "signals": [
            {"name": r.kpi.name, "word": reading.word}
            for r in card.results
            if (reading := variation(r)) is not None and reading.key != "common"
        ],
        "link": f"{base.rstrip('/')}/partners/{pid}.html" if base else "",
        "attachment": attachment_name(card),
    }


def attachment_name(card: Scorecard) -> str:
    return f"{card.partner.partner_id}-scorecard-{card.period}.pdf"


def compose(
    card: Scorecard,
    recipients: list[str],
    pdf: bytes,
    config: Config,
    env: Environment,
    now: datetime,
    kpis: list[Kpi],
) -> EmailMessage:
    """The message for one partner: plain text and HTML from templates/email/, its PDF."""
    context = message_context(card, config, kpis)
    try:  # a subject is plain text: not HTML-escaped
        plain = env.overlay(autoescape=False)
        subject = sandbox.render(plain.from_string(config.email.subject), context)
    except TemplateError as exc:
        raise ContentError(f"[email] subject: {exc.message}") from None
    message = EmailMessage()
    message["From"] = config.email.sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = " ".join(subject.split())  # one line, whatever the template holds
    message["Date"] = format_datetime(now)
    domain = config.email.sender.rpartition("@")[2]
    message["Message-ID"] = make_msgid(card.partner.partner_id, domain=domain)
    message.set_content(render(env, "email/scorecard.txt", context))
    message.add_alternative(render(env, "email/scorecard.html", context), subtype="html")
    message.add_attachment(
        pdf, maintype="application", subtype="pdf", filename=attachment_name(card)
    )
    return message


def prepare(
    model: Model,
    config: Config,
    output: Path,
    partner: str | None,
    resend: bool,
    now: datetime,
    pdf_of: Callable[[str], bytes],
) -> tuple[list[Outgoing], Report]:
    """The messages to send, and every partner left out and why; `pdf_of` gives a
    partner's own PDF (made by the build, as its own site's is).

    Refuses (MailError) when the live site's figures are not the model's: its PDFs would then
    say something other than the message.
    """
    if not config.email.sender:
        raise ConfigError([f"{config.path.name}: [email] sender is required to send email"])
    cards = list(model.scorecards.values())
    if partner is not None:
        if partner not in model.scorecards:
            raise UnknownPartner(partner)
        cards = [model.scorecards[partner]]
    _check_current(cards, output)
    ledger = read_ledger(ledger_path(output))
    env = mail_environment(config.project_dir)
    report = Report(model.period)
    batch = []
    for card in cards:
        pid = card.partner.partner_id
        recipients = _recipients(card, report)
        if not recipients:
            continue
        pdf = pdf_of(pid)
        digest = hashlib.sha256(pdf).hexdigest()
        before = ledger.get((pid, card.period))
        if before and before["state"] != "not_sent" and not resend:
            if before["state"] == "sending":
                report.problems.append(
                    f"{pid}: its message for {card.period} may have been delivered at "
                    f"{before['sent_at']} (a run stopped while sending it); `sitegen email "
                    f"--partner {pid} --resend` sends it again"
                )
            elif before["pdf_sha256"] == digest:
                report.already.append(pid)
            else:
                report.problems.append(
                    f"{pid}: not sent: its scorecard for {card.period} changed since it was "
                    f"sent on {before['sent_at']} (data corrected?); --resend sends it"
                )
            continue
        message = compose(card, recipients, pdf, config, env, now, model.kpis)
        batch.append(Outgoing(pid, message, recipients, digest))
    return batch, report


def _check_current(cards: list[Scorecard], output: Path) -> None:
    """Each partner's JSON in the live site must hold the model's figures, and its PDF be
    there; otherwise the site is older than the data, and the PDFs with it."""
    if not (output / "manifest.json").is_file():
        raise MailError(f"no site in {output}: run `sitegen build` first")
    stale = []
    for card in cards:
        pid = card.partner.partner_id
        if not (output / "pdf" / f"{pid}.pdf").is_file():
            raise MailError(
                f"{output} has no PDF for {pid}: run `sitegen build` (without --no-pdf) first"
            )
        try:
            built = json.loads((output / "partners" / f"{pid}.json").read_text("utf-8"))
        except (OSError, ValueError):
            built = None
        if built != json.loads(json.dumps(scorecard_json(card))):
            stale.append(pid)
    if stale:
        raise MailError(
            f"the site in {output} was built from other figures than the data now holds "
            f"({len(stale)} partners differ, first {stale[0]}): run `sitegen build` first"
        )


def _recipients(card: Scorecard, report: Report) -> list[str]:
    """The partner's valid contact addresses; the invalid ones, or none, are reported."""
    pid = card.partner.partner_id
    valid = []
    for address in card.partner.contact_emails:
        if EMAIL_RE.match(address):
            valid.append(address)
        else:
            report.problems.append(f"{pid}: left out invalid contact address {address!r}")
    if not valid:
        report.problems.append(f"{pid}: not sent: no valid contact address in partners.csv")
    return valid


def outbox_path(output: Path) -> Path:
    """Where a dry run writes by default: beside the output like the ledger, never inside the
    published site (the messages carry each partner's PDF and its contacts' addresses)."""
    return output.with_name(f".{output.name}.outbox")


def write_outbox(batch: list[Outgoing], outbox: Path, report: Report) -> None:
    """--dry-run: the exact messages as .eml files in `outbox`, only this run's: an .eml
    left from an earlier run is removed, nothing else in the folder is touched. A new
    folder is its owner's alone (0700), since it holds every partner's PDF."""
    outbox.mkdir(mode=0o700, parents=True, exist_ok=True)
    names = {f"{item.partner_id}.eml" for item in batch}
    for old in outbox.glob("*.eml"):
        if old.name not in names:
            old.unlink()
    for item in batch:
        path = outbox / f"{item.partner_id}.eml"
        write_atomic(path, item.message.as_bytes())
        report.outbox.append(path)


class _Client(smtplib.SMTP):
    """smtplib's client, keeping the server's reply to each message for the ledger."""

    last_reply = ""

    def data(self, msg: Any) -> tuple[int, bytes]:
        code, reply = super().data(msg)
        self.last_reply = f"{code} {reply.decode('utf-8', 'replace')}"
        return code, reply


Sleep = Callable[[float], None]


class Courier:
    """One SMTP connection, opened when first needed and again after a drop."""

    def __init__(self, config: Config, credentials: tuple[str, str] | None) -> None:
        self.settings = config.email
        self.credentials = credentials
        self.client: _Client | None = None
        self.where = f"{self.settings.smtp_host}:{self.settings.smtp_port}"

    def connect(self) -> _Client:
        if self.client is not None:
            return self.client
        settings = self.settings
        client = _Client(settings.smtp_host, settings.smtp_port, timeout=TIMEOUT)
        try:
            if settings.starttls:
                client.starttls(context=ssl.create_default_context())
            if self.credentials:
                client.login(*self.credentials)
        except BaseException:
            client.close()
            raise
        self.client = client
        return client

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()
            self.client = None

    def drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None


def credentials(config: Config, environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The login from the environment variables the config names, or None to send without."""
    user = environ.get(config.email.username_env, "")
    if not user:
        return None
    password = environ.get(config.email.password_env)
    if password is None:
        raise ConfigError(
            [f"{config.email.username_env} is set but {config.email.password_env} is not"]
        )
    return user, password


def deliver(
    batch: list[Outgoing],
    courier: Courier,
    output: Path,
    report: Report,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Sleep = time.sleep,
) -> None:
    """Send each message: the ledger says "sending" before it goes and "sent" the moment
    the server accepts it, so a run that stops in between never sends it twice unasked.

    A dropped connection is picked up again (RETRIES times, with backoff); a message refused
    for now (4xx) is tried once more; a recipient refused for good (5xx) is reported and the
    others still get the message. When TEMPORARY_LIMIT messages in a row are refused for
    now, the server is busy or broken: the run stops rather than try every message.
    """
    ledger = ledger_path(output)
    refused_for_now = 0
    try:
        if batch:
            _first_connect(courier)
        for done, item in enumerate(batch):
            if _send_one(item, courier, ledger, report, now, sleep, done, len(batch)):
                refused_for_now = 0
                continue
            refused_for_now += 1
            if refused_for_now >= TEMPORARY_LIMIT:
                raise MailError(
                    f"{courier.where} refused {refused_for_now} messages in a row for now "
                    f"({report.last_temporary}): try again later; {len(report.sent)} sent, "
                    f"{len(batch) - done - 1} not tried; `sitegen email` sends the rest"
                )
    finally:
        courier.close()


def _first_connect(courier: Courier) -> None:
    """Open the connection, failing at once with one line: nothing has been sent."""
    try:
        courier.connect()
    except smtplib.SMTPAuthenticationError as exc:
        raise MailError(
            f"{courier.where} refused the login of {courier.credentials[0]!r}: "  # type: ignore[index]
            f"{exc.smtp_code} {_text(exc.smtp_error)}; nothing was sent"
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise MailError(
            f"{courier.where} does not offer STARTTLS (or login); nothing was sent"
        ) from None
    except ssl.SSLCertVerificationError as exc:
        raise MailError(
            f"{courier.where}: its certificate is not trusted ({exc.verify_message}); set "
            "SSL_CERT_FILE to the CA certificate that signed it; nothing was sent"
        ) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise MailError(f"cannot reach {courier.where}: {_reason(exc)}; nothing was sent") from None


def _send_one(
    item: Outgoing,
    courier: Courier,
    ledger: Path,
    report: Report,
    now: Callable[[], datetime],
    sleep: Sleep,
    done: int,
    total: int,
) -> bool:
    """Send one message; False when the server refused it only for now (nothing delivered,
    every refusal temporary), True otherwise."""
    pending = list(item.recipients)
    accepted: list[str] = []
    refused: dict[str, tuple[int, str]] = {}
    reply = ""
    drops = temporary = 0
    _record(ledger, _entry(item, report, "sending", [], {}, "", now))
    while pending:
        try:
            client = courier.connect()
            bad = client.send_message(item.message, to_addrs=pending)
            reply = client.last_reply
        except smtplib.SMTPRecipientsRefused as exc:
            bad = exc.recipients
        except smtplib.SMTPResponseException as exc:  # the sender or the message refused
            if exc.smtp_code == 421:  # the server is closing the connection
                courier.drop()
            if _temporary(exc.smtp_code) and temporary < TEMPORARY_RETRIES:
                sleep(BACKOFF * 2**temporary)
                temporary += 1
                continue
            bad = dict.fromkeys(pending, (exc.smtp_code, exc.smtp_error))
        except (smtplib.SMTPException, OSError) as exc:  # the connection dropped
            courier.drop()
            if drops == RETRIES:
                lost = {a: (0, f"not sent: {_reason(exc)}") for a in pending}
                state = "sent" if accepted else "not_sent"
                _record(ledger, _entry(item, report, state, accepted, refused | lost, reply, now))
                raise MailError(
                    f"lost the connection to {courier.where} after sending {done} of {total} "
                    f"messages ({_reason(exc)}); those are recorded: run `sitegen email` "
                    "again to send the rest"
                ) from None
            sleep(BACKOFF * 2**drops)
            drops += 1
            continue
        accepted += [address for address in pending if address not in bad]
        retry = [a for a, (code, _) in bad.items() if _temporary(code)]
        if retry and temporary < TEMPORARY_RETRIES:
            sleep(BACKOFF * 2**temporary)
            temporary += 1
        else:
            refused |= {a: (code, _text(text)) for a, (code, text) in bad.items()}
            retry = []
        pending = retry
    for address, (code, why) in refused.items():
        kind = "for now" if _temporary(code) else "for good"
        report.problems.append(f"{item.partner_id}: {address} refused {kind}: {code} {why}")
    if not accepted:
        _record(ledger, _entry(item, report, "not_sent", [], refused, reply, now))
        for_now = all(_temporary(code) for code, _ in refused.values())
        if for_now:
            report.last_temporary = " ".join(f"{c} {w}" for c, w in list(refused.values())[:1])
        report.problems.append(
            f"{item.partner_id}: not sent: "
            + (
                "the server refused it for now; run `sitegen email` again later"
                if for_now
                else "every recipient was refused for good"
            )
        )
        return not for_now
    _record(ledger, _entry(item, report, "sent", accepted, refused, reply, now))
    report.sent.append(item.partner_id)
    return True


def _entry(
    item: Outgoing,
    report: Report,
    state: str,
    accepted: list[str],
    refused: dict[str, tuple[int, str]],
    reply: str,
    now: Callable[[], datetime],
) -> dict[str, Any]:
    """A ledger line: the message, what became of it, and when."""
    return {
        "partner": item.partner_id,
        "period": report.period,
        "state": state,
        "pdf_sha256": item.pdf_sha256,
        "recipients": accepted,
        "refused": {address: f"{code} {why}".strip() for address, (code, why) in refused.items()},
        "message_id": item.message["Message-ID"],
        "sent_at": now().isoformat(timespec="seconds"),
        "reply": reply,
    }


def _temporary(code: int) -> bool:
    return 400 <= code < 500


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
