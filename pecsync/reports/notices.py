"""Ready-to-send notices for members whose mailbox is blocked (Italian by default).

One register throughout: "Gentile iscritto/a", then the courtesy form ("Lei", "la Sua
casella"), and every notice says where and how to give the password: the intake page
(``[intake] public_url``) when there is one, otherwise the order's contacts
(``[orders."NAME"] contacts``).  Never "send us the password by e-mail".

Templates are ``string.Template`` texts, the notice voice of pecsync.state_wording; an operator
may override any of them by putting ``notices/<state>.txt`` next to the configuration file
(first line: subject).  Fields:
``$address``, ``$order``, ``$state``, ``$reason``, ``$next_step``, ``$detail``, ``$deadline``,
``$how`` (the sentence saying where to give the password), ``$intake_url``, ``$contacts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from string import Template

from pecsync.reports.daily import NEEDS_ACTION, MailboxLine
from pecsync.state_wording import WORDING, wording


def how_to_give_password(intake_url: str | None, contacts: Sequence[str]) -> str:
    """The sentence of a notice that says where the member gives the password.

    >>> how_to_give_password("https://pec.ordine.it/o/avvocati", ["segreteria@ordine.it"])
    'Può farlo alla pagina https://pec.ordine.it/o/avvocati.'
    >>> how_to_give_password(None, ["segreteria@ordine.it"])
    'Per sapere come farlo, contatti la segreteria dell’Ordine: segreteria@ordine.it.'
    """
    if intake_url:
        return f"Può farlo alla pagina {intake_url}."
    if contacts:
        return ("Per sapere come farlo, contatti la segreteria dell’Ordine: "
                f"{', '.join(contacts)}.")
    return "Per sapere come farlo, contatti la segreteria del Suo Ordine."


def _template(state: str, folder: Path | None) -> tuple[str, str] | None:
    if folder is not None:
        custom = folder / f"{state}.txt"
        if custom.is_file():
            subject, _, body = custom.read_text("utf-8").partition("\n")
            return subject.strip(), body.lstrip("\n")
    return wording(state, "it").notice if state in WORDING else None


def render_notice(m: MailboxLine, *, deadline: str, templates: Path | None,
                  intake_url: str | None = None, contacts: Sequence[str] = ()
                  ) -> tuple[str, str] | None:
    """``(subject, body)`` for a member who must act, or None (nothing for the member)."""
    if m.state not in NEEDS_ACTION:
        return None
    tpl = _template(m.state, templates)
    if tpl is None:
        return None
    fields = {"address": m.address, "order": m.order, "state": m.state, "reason": m.reason,
              "next_step": m.next_step, "detail": m.detail or "", "deadline": deadline,
              "how": how_to_give_password(intake_url, contacts), "intake_url": intake_url or "",
              "contacts": ", ".join(contacts)}
    return (Template(tpl[0]).safe_substitute(fields), Template(tpl[1]).safe_substitute(fields))
