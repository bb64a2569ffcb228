"""Telling people: one `source.changed` event per record a changed page backs, for the SIEM,
and one e-mail per changed page to a list, as the vendor card promises ("one note if it
changes")."""

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage

from aiwall.feed.sources import SourceChange, facts_named
from aiwall.telemetry.events import EventLog

SMTP_TIMEOUT = 30.0


@dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    starttls: bool = False
    user: str | None = None
    password: str | None = None


def log_changes(log: EventLog, changes: list[SourceChange]) -> None:
    for change in changes:
        for citation in change.citations:
            log.source_changed(
                vendor=citation.vendor.id,
                url=change.url,
                title=change.title or change.url,
                facts=list(citation.source.covers),
                verified=citation.source.date.isoformat(),
                diff=list(change.diff),
            )


def change_message(change: SourceChange, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    names = sorted({c.vendor.name for c in change.citations})
    message = EmailMessage()
    message["Subject"] = (
        f"aiwall: {', '.join(names)}: a cited page changed: {change.title or change.url}"
    )
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    lines = [
        f"{change.url} changed in substance since aiwall last read it.",
        "",
        "Facts now under review, until someone re-verifies the page and updates the record's"
        " source date:",
    ]
    lines.extend(
        f"  {c.vendor.name} ({c.vendor.id}): {facts_named(c)}; verified {c.source.date}"
        for c in change.citations
    )
    lines += ["", "What changed (start of the text diff):", *(f"  {line}" for line in change.diff)]
    message.set_content("\n".join(lines) + "\n")
    return message


def mail_changes(settings: MailSettings, changes: list[SourceChange]) -> None:
    """One message per changed page, over one SMTP session; raises OSError/SMTPException."""
    if not changes:
        return
    with smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT) as smtp:
        if settings.starttls:
            smtp.starttls()
        if settings.user:
            smtp.login(settings.user, settings.password or "")
        for change in changes:
            smtp.send_message(change_message(change, settings.sender, settings.recipients))
