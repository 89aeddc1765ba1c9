"""Ready-to-send notices for members whose mailbox is blocked (Italian by default).

Templates are ``string.Template`` texts; an operator may override any of them by putting
``notices/<state>.txt`` next to the configuration file (first line: subject).  Fields:
``$address``, ``$order``, ``$state``, ``$reason``, ``$next_step``, ``$detail``, ``$deadline``.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from pecsync.reports.daily import NEEDS_ACTION, MailboxLine

DEFAULT = {
    "waiting_credentials": (
        "Migrazione della casella PEC $address: manca la password",
        "Gentile iscritto/a,\n\nper trasferire la sua casella PEC $address al nuovo gestore "
        "abbiamo bisogno della password attuale della casella. $next_step\n\n"
        "Il vecchio servizio sarà disattivato il $deadline: dopo quella data la posta non "
        "trasferita andrà persa.\n\nCordiali saluti,\n$order\n"),
    "blocked_invalid_credentials": (
        "Migrazione della casella PEC $address: password non valida",
        "Gentile iscritto/a,\n\n$reason $next_step\n\nIl vecchio servizio sarà disattivato il "
        "$deadline.\n\nCordiali saluti,\n$order\n"),
    "blocked_2fa": (
        "Migrazione della casella PEC $address: verifica in due passaggi attiva",
        "Gentile iscritto/a,\n\n$reason\n\n$next_step Le istruzioni si trovano nel pannello di "
        "gestione della casella, alla voce sicurezza.\n\nIl vecchio servizio sarà disattivato "
        "il $deadline.\n\nCordiali saluti,\n$order\n"),
    "blocked_credentials_changed": (
        "Migrazione della casella PEC $address: la password è cambiata",
        "Gentile iscritto/a,\n\n$reason $next_step Nessun messaggio già copiato andrà perso."
        "\n\nIl vecchio servizio sarà disattivato il $deadline.\n\nCordiali saluti,\n$order\n"),
}


def _template(state: str, folder: Path | None) -> tuple[str, str] | None:
    if folder is not None:
        custom = folder / f"{state}.txt"
        if custom.is_file():
            subject, _, body = custom.read_text("utf-8").partition("\n")
            return subject.strip(), body.lstrip("\n")
    return DEFAULT.get(state)


def render_notice(m: MailboxLine, *, deadline: str, templates: Path | None
                  ) -> tuple[str, str] | None:
    """``(subject, body)`` for a member who must act, or None (nothing for the member)."""
    if m.state not in NEEDS_ACTION:
        return None
    tpl = _template(m.state, templates)
    if tpl is None:
        return None
    fields = {"address": m.address, "order": m.order, "state": m.state, "reason": m.reason,
              "next_step": m.next_step, "detail": m.detail or "", "deadline": deadline}
    return (Template(tpl[0]).safe_substitute(fields), Template(tpl[1]).safe_substitute(fields))
