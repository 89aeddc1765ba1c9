"""Ready-to-send notices for members whose mailbox is blocked (Italian by default).

One register throughout: "Gentile iscritto/a", then the courtesy form ("Lei", "la Sua
casella"), and every notice says where and how to give the password: the intake page
(``[intake] public_url``) when there is one, otherwise the order's contacts
(``[orders."NAME"] contacts``).  Never "send us the password by e-mail".

Templates are ``string.Template`` texts; an operator may override any of them by putting
``notices/<state>.txt`` next to the configuration file (first line: subject).  Fields:
``$address``, ``$order``, ``$state``, ``$reason``, ``$next_step``, ``$detail``, ``$deadline``,
``$how`` (the sentence saying where to give the password), ``$intake_url``, ``$contacts``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from string import Template

from pecsync.reports.daily import NEEDS_ACTION, MailboxLine

_CLOSING = ("\n\nLa preghiamo di non inviare la password per posta elettronica.\n\n"
            "Il vecchio servizio sarà disattivato il $deadline: la posta non trasferita entro "
            "quella data andrà persa.\n\nCordiali saluti,\n$order\n")

DEFAULT = {
    "waiting_credentials": (
        "Migrazione della Sua casella PEC $address: serve la password",
        "Gentile iscritto/a,\n\nper trasferire la Sua casella PEC $address al nuovo gestore "
        "abbiamo bisogno della password attuale della casella. $how" + _CLOSING),
    "blocked_invalid_credentials": (
        "Migrazione della Sua casella PEC $address: password non valida",
        "Gentile iscritto/a,\n\nil vecchio gestore ha rifiutato la password indicata per la "
        "Sua casella PEC $address, quindi la copia dei Suoi messaggi non è potuta iniziare. "
        "Verifichi la password (ad esempio accedendo alla webmail del vecchio gestore) e la "
        "indichi di nuovo. $how" + _CLOSING),
    "blocked_2fa": (
        "Migrazione della Sua casella PEC $address: verifica in due passaggi attiva",
        "Gentile iscritto/a,\n\nsulla Sua casella PEC $address è attiva la verifica in due "
        "passaggi: finché è attiva, il vecchio gestore non consente la copia dei Suoi "
        "messaggi. La disattivi dal pannello di gestione della casella (alla voce sicurezza), "
        "poi indichi di nuovo la password. $how Potrà riattivare la verifica in due passaggi "
        "sulla nuova casella, a migrazione conclusa." + _CLOSING),
    "blocked_credentials_changed": (
        "Migrazione della Sua casella PEC $address: la password è cambiata",
        "Gentile iscritto/a,\n\nla password della Sua casella PEC $address è stata cambiata "
        "dopo l'avvio della copia, che si è quindi fermata. Indichi la nuova password: la "
        "copia riprenderà da dove si era fermata e nessun messaggio già copiato andrà perso. "
        "$how Per evitare altre interruzioni, non modifichi la password fino al passaggio al "
        "nuovo gestore." + _CLOSING),
}


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
    return DEFAULT.get(state)


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
