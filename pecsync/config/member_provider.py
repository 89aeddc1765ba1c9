"""What members are told about their old provider: the source provider's profile.

Chosen by ``[source] provider`` (``aruba``, ``legalmail``, ``namirial``, ``poste``, ``other``)
and overridable field by field in ``[provider_profile]``.  The member pages, invitations and
reminders take from it: where the provider's webmail is, the menu path that switches 2-step
verification off, how the provider confirms that (Aruba: a notification in its phone app, not
a code), the password-recovery page, and whether the provider issues app ("program")
passwords and when they expire (Aruba's after three months, which looks exactly like a
password change).  ``pecsync check`` prints the profile in use.

The addresses below are the providers' public pages as known when written; an operator checks
them before inviting members (``check`` prints them) and overrides any that moved.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from pecsync.config.reader import Reader
from pecsync.errors import ConfigError

PROVIDERS = ("aruba", "legalmail", "namirial", "poste", "other")


@dataclass(frozen=True)
class MemberProvider:
    """The old provider as members know it (Italian first; ``*_en`` in English)."""

    key: str
    name: str
    #: The provider's PEC webmail, where 2-step verification is switched off.
    webmail_url: str = ""
    #: The menu path to switch 2-step verification off, one step per item.
    twofa_path: tuple[str, ...] = ()
    twofa_path_en: tuple[str, ...] = ()
    #: How the provider confirms the switch (a phone-app notification, a code, ...).
    twofa_confirm: str = ""
    twofa_confirm_en: str = ""
    #: Where a member recovers a forgotten password.
    recovery_url: str = ""
    #: The provider issues app ("program") passwords, and they expire after this many months
    #: (None: they do not expire, or the provider has none).
    app_passwords: bool = False
    app_password_months: int | None = None


BUILT_IN: dict[str, MemberProvider] = {
    "aruba": MemberProvider(
        key="aruba", name="Aruba PEC", webmail_url="https://webmail.pec.it",
        twofa_path=("Accedi alla webmail PEC di Aruba", "Account", "Sicurezza e password",
                    "Verifica in 2 passaggi", "Disattiva"),
        twofa_path_en=("Log in to Aruba's PEC webmail", "Account", "Sicurezza e password",
                       "Verifica in 2 passaggi", "Disattiva"),
        twofa_confirm="Aruba chiede di confermare con una notifica nell'app «Aruba PEC» sul "
                      "telefono (non con un codice).",
        twofa_confirm_en="Aruba asks you to confirm with a notification in the \"Aruba PEC\" "
                         "phone app (not with a code).",
        recovery_url="https://www.pec.it/recupero-password.aspx",
        app_passwords=True, app_password_months=3),
    "legalmail": MemberProvider(
        key="legalmail", name="InfoCert Legalmail", webmail_url="https://webmail.legalmail.it",
        twofa_path=("Accedi alla webmail Legalmail", "Impostazioni", "Sicurezza",
                    "Autenticazione a due fattori", "Disattiva"),
        twofa_path_en=("Log in to Legalmail's webmail", "Impostazioni", "Sicurezza",
                       "Autenticazione a due fattori", "Disattiva"),
        twofa_confirm="Legalmail chiede di confermare con il codice ricevuto.",
        twofa_confirm_en="Legalmail asks you to confirm with the code you receive.",
        recovery_url="https://www.legalmail.it"),
    "namirial": MemberProvider(
        key="namirial", name="Namirial PEC", webmail_url="https://webmail.sicurezzapostale.it",
        twofa_path=("Accedi alla webmail PEC di Namirial", "Impostazioni", "Sicurezza",
                    "Verifica in due passaggi", "Disattiva"),
        twofa_path_en=("Log in to Namirial's PEC webmail", "Impostazioni", "Sicurezza",
                       "Verifica in due passaggi", "Disattiva"),
        twofa_confirm="Namirial chiede di confermare con il codice ricevuto.",
        twofa_confirm_en="Namirial asks you to confirm with the code you receive.",
        recovery_url="https://www.sicurezzapostale.it"),
    "poste": MemberProvider(
        key="poste", name="Poste Italiane PEC", webmail_url="https://www.postecert.it",
        twofa_path=("Accedi alla webmail PEC di Poste", "Impostazioni", "Sicurezza",
                    "Verifica in due passaggi", "Disattiva"),
        twofa_path_en=("Log in to Poste's PEC webmail", "Impostazioni", "Sicurezza",
                       "Verifica in due passaggi", "Disattiva"),
        twofa_confirm="Poste chiede di confermare con il codice ricevuto.",
        twofa_confirm_en="Poste asks you to confirm with the code you receive.",
        recovery_url="https://www.postecert.it"),
    "other": MemberProvider(
        key="other", name="il gestore PEC attuale",
        twofa_path=("Accedi alla webmail del tuo gestore PEC",
                    "Impostazioni di sicurezza dell'account",
                    "Verifica in due passaggi (o autenticazione a due fattori)", "Disattiva"),
        twofa_path_en=("Log in to your PEC provider's webmail", "Account security settings",
                       "2-step verification (or two-factor authentication)", "Switch off")),
}


def member_provider(path: Path, source: Any, overrides: Any) -> MemberProvider:
    """``[source] provider`` (default ``aruba``) with ``[provider_profile]``'s fields over it."""
    key = "aruba"
    if isinstance(source, dict) and "provider" in source:
        value = source["provider"]
        if not isinstance(value, str) or value not in PROVIDERS:
            raise ConfigError(f"{path}: [source] provider: expected one of "
                              f"{', '.join(PROVIDERS)}, got {value!r}")
        key = value
    profile = BUILT_IN[key]
    if overrides is None:
        return profile
    names = {f.name for f in fields(MemberProvider)} - {"key"}
    r = Reader(path, "provider_profile", overrides, names)
    changed: dict[str, Any] = {}
    for f in fields(MemberProvider):
        if f.name not in r.data:
            continue
        current = getattr(profile, f.name)
        if isinstance(current, tuple):
            items = r.get(f.name, list) or []
            if not all(isinstance(i, str) for i in items):
                raise r.error(f.name, "expected a list of strings")
            changed[f.name] = tuple(items)
        elif isinstance(current, bool):
            changed[f.name] = bool(r.get(f.name, bool))
        elif f.name == "app_password_months":
            changed[f.name] = r.get(f.name, int,
                                    check=lambda v: None if v > 0 else "must be > 0")
        else:
            changed[f.name] = r.get(f.name, str)
    return replace(profile, **changed)
