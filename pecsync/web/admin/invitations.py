"""The dashboard's one door to member invitations (the adapter the lead rewires to the
campaign module, ``pecsync invite`` in pecsync/campaign/, at merge).

Two functions only:

* :func:`send_invitation` — "resend invitation": one plain e-mail to the member's PEC address
  with the personal link, through ``[smtp]`` (pecsync.reports.mailer).  Rewire: call the
  campaign module's send-one-invitation instead.
* :func:`invitation_stats` — invitations and reminders sent and opened per member.  Until
  the campaign module exists, only the dashboard's own resends are known (from its audit
  log); "opened" is unknown (None).  Rewire: read the campaign's records instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import anyio

from pecsync.config import Config
from pecsync.errors import ConfigError
from pecsync.model import Secret
from pecsync.reports import mailer
from pecsync.store.admin import ActionCount


@dataclass(frozen=True)
class InvitationStats:
    invitations_sent: int = 0
    #: None: not known (no tracking yet).
    invitations_opened: int | None = None
    reminders_sent: int = 0
    reminders_opened: int | None = None


def invitation_stats(actions: Mapping[tuple[str, str], ActionCount]
                     ) -> dict[str, InvitationStats]:
    """Per member address (HOOK: the campaign module's sent/opened counts go here)."""
    return {address: InvitationStats(invitations_sent=count.count)
            for (address, action), count in actions.items() if action == "invite"}


def _smtp_password(cfg: Config) -> Secret | None:
    assert cfg.smtp is not None
    if cfg.smtp.password_file:
        try:
            return Secret(cfg.smtp.password_file.read_text("utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise ConfigError(f"[smtp] password_file {cfg.smtp.password_file}: "
                              f"{exc.strerror}") from None
    value = os.environ.get("PECSYNC_SMTP_PASSWORD")
    return Secret(value) if value else None


def invitation_message(*, sender: str, address: str, order: str, link: str,
                       contact: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = address
    msg["Subject"] = "Migrazione della sua casella PEC: il suo collegamento personale"
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    body = (f"Gentile iscritto,\n\n{order} trasferisce la sua casella PEC {address} al nuovo "
            f"gestore. Dal suo collegamento personale può vedere lo stato della migrazione e "
            f"inserire la password attuale della casella, se richiesta:\n\n{link}\n\n"
            f"Il collegamento è personale: non lo inoltri.\n"
            + (f"\nPer informazioni: {contact}\n" if contact else ""))
    msg.set_content(body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


async def send_invitation(cfg: Config, *, address: str, order: str, link: str) -> None:
    """Send one invitation with the member's personal *link*; ConfigError without [smtp],
    OSError/smtplib.SMTPException with the server's answer when the send fails."""
    smtp = cfg.smtp
    if smtp is None:
        raise ConfigError("[smtp]: missing table: the dashboard sends invitations through it")
    payload = invitation_message(sender=smtp.from_address, address=address, order=order,
                                 link=link, contact=cfg.intake.contact)
    password = _smtp_password(cfg)
    await anyio.to_thread.run_sync(mailer.send, smtp, password, [address], payload)
