"""Send report e-mails over SMTP; what fails stays queued in the database for the next run."""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from pecsync.config import SmtpConfig
from pecsync.errors import ConfigError
from pecsync.model import Secret


def smtp_password(smtp: SmtpConfig) -> Secret | None:
    """The SMTP password: ``[smtp] password_file``, else ``$PECSYNC_SMTP_PASSWORD``, else
    none (a server that needs no login).  Reports, ``invite``/``remind`` and the dashboard's
    resend all read it here."""
    if smtp.password_file:
        try:
            return Secret(smtp.password_file.read_text("utf-8").rstrip("\r\n"))
        except OSError as exc:
            raise ConfigError(f"[smtp] password_file {smtp.password_file}: "
                              f"{exc.strerror}") from None
    value = os.environ.get("PECSYNC_SMTP_PASSWORD")
    return Secret(value) if value else None


def build_message(*, sender: str, recipients: list[str], subject: str, html: str,
                  csv_name: str, csv_text: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
    msg.set_content("Il resoconto è nel formato HTML di questo messaggio e nel file CSV "
                    "allegato.\nThe report is in the HTML part and the attached CSV file.\n")
    # Quoted-printable keeps every line under the SMTP limit (the page is one long line).
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    msg.add_attachment(csv_text.encode("utf-8"), maintype="text", subtype="csv",
                       filename=csv_name)
    # SMTP wants CRLF line ends; smtplib sends bytes exactly as given.
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def connect(cfg: SmtpConfig, password: Secret | None) -> smtplib.SMTP:
    """A connection to the [smtp] server, TLS and login done as configured (close it, or use
    it in ``with``); raises OSError/smtplib.SMTPException with the server's answer."""
    ctx = ssl.create_default_context(cafile=str(cfg.ca_file) if cfg.ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    client: smtplib.SMTP
    if cfg.security == "tls":
        client = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=ctx)
    else:
        client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
    try:
        client.ehlo()
        if cfg.security == "starttls":
            client.starttls(context=ctx)
            client.ehlo()
        if cfg.user and password is not None:
            client.login(cfg.user, password.reveal())
    except BaseException:
        client.close()
        raise
    return client


def send(cfg: SmtpConfig, password: Secret | None, recipients: list[str], payload: bytes) -> None:
    """Deliver one message; raises OSError/smtplib.SMTPException with the server's answer."""
    with connect(cfg, password) as client:
        client.sendmail(cfg.from_address, recipients, payload)
