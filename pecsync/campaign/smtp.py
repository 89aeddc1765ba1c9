"""One campaign message to the ``[smtp]`` server, with the server's answer classified.

* accepted (250 to the message data): ``sent``, with that answer (it usually names the queue
  id, which is how a delivery is traced in the server's log);
* refused with a 5xx (mailbox unknown, policy): ``failed``, the answer kept and shown;
* refused with a 4xx (greylisting, 451 local error, too many messages): ``retry``, kept
  queued for the next pass;
* the server cannot be reached or refuses the login: :class:`SmtpUnavailable`, the pass stops
  (every further message would meet the same), the row stays queued.

The connection itself (TLS, login) is :func:`pecsync.reports.mailer.connect`.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from typing import Literal

from pecsync.config import SmtpConfig
from pecsync.errors import TransientError
from pecsync.model import Secret
from pecsync.reports.mailer import connect


class SmtpUnavailable(TransientError):
    """The SMTP server cannot take messages now (unreachable, TLS, login refused)."""


@dataclass(frozen=True)
class Delivery:
    outcome: Literal["sent", "retry", "failed"]
    #: ``250 2.0.0 Ok: queued as 4F3A1`` or the refusal, code first.
    answer: str


def _answer(code: int, text: bytes | str) -> str:
    msg = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(msg.split())}"


def _refused(code: int, text: bytes | str) -> Delivery:
    return Delivery("failed" if code >= 500 else "retry", _answer(code, text))


def deliver(cfg: SmtpConfig, password: Secret | None, recipient: str,
            payload: bytes) -> Delivery:
    """Send *payload* to *recipient* (blocking: run it in a thread)."""
    try:
        client = connect(cfg, password)
    except smtplib.SMTPResponseException as exc:
        raise SmtpUnavailable(f"SMTP server {cfg.host}:{cfg.port} refused the session: "
                              f"{_answer(exc.smtp_code, exc.smtp_error)}",
                              hint="check [smtp] (user, password, security)") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise SmtpUnavailable(f"SMTP server {cfg.host}:{cfg.port} cannot be reached: {exc}",
                              hint="the messages stay queued for the next pass") from None
    try:
        with client:
            code, text = client.mail(cfg.from_address)
            if code != 250:
                client.rset()
                return _refused(code, text)
            code, text = client.rcpt(recipient)
            if code not in (250, 251):
                client.rset()
                return _refused(code, text)
            code, text = client.data(payload)  # the answer to the data itself
            if code != 250:
                return _refused(code, text)
            return Delivery("sent", _answer(code, text))
    except smtplib.SMTPDataError as exc:
        return _refused(exc.smtp_code, exc.smtp_error)
    except smtplib.SMTPResponseException as exc:
        return _refused(exc.smtp_code, exc.smtp_error)
    except (OSError, smtplib.SMTPException) as exc:
        # The connection broke mid-message: not delivered as far as we know.
        return Delivery("retry", f"connection lost: {exc}")
