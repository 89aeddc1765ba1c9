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

import typing
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pecsync.config.declare import Table, setting

Provider = Literal["aruba", "legalmail", "namirial", "poste", "other"]
PROVIDERS: tuple[str, ...] = typing.get_args(Provider)


@dataclass(frozen=True)
class MemberProvider:
    """The old provider as members know it (Italian first; ``*_en`` in English).  Every field
    but *key* is a key of ``[provider_profile]``, which overrides the built-in profile."""

    key: str
    name: str = setting(help="the provider's name as members know it")
    webmail_url: str = setting("", help="the provider's PEC webmail, where 2-step "
                                        "verification is switched off")
    twofa_path: tuple[str, ...] = setting((), help="the menu path to switch 2-step "
                                                   "verification off, one step per item")
    twofa_path_en: tuple[str, ...] = setting((), help="the same in English")
    twofa_confirm: str = setting("", help="how the provider confirms the switch")
    twofa_confirm_en: str = setting("", help="the same in English")
    recovery_url: str = setting("", help="where a member recovers a forgotten password")
    app_passwords: bool = setting(False, help="the provider issues app passwords ...")
    app_password_months: int | None = setting(None, gt=0, help="... which expire after this "
                                                               "many months")


@dataclass(frozen=True)
class SourceProvider:
    """``[source] provider``: which built-in profile members are told about."""

    provider: Provider = setting("aruba", help="the provider members are leaving")


BUILT_IN: dict[str, MemberProvider] = {
    "aruba": MemberProvider(
        key="aruba", name="Aruba PEC", webmail_url="https://webmail.pec.it",
        twofa_path=("Acceda alla webmail PEC di Aruba", "Account", "Sicurezza e password",
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
        twofa_path=("Acceda alla webmail Legalmail", "Impostazioni", "Sicurezza",
                    "Autenticazione a due fattori", "Disattiva"),
        twofa_path_en=("Log in to Legalmail's webmail", "Impostazioni", "Sicurezza",
                       "Autenticazione a due fattori", "Disattiva"),
        twofa_confirm="Legalmail chiede di confermare con il codice ricevuto.",
        twofa_confirm_en="Legalmail asks you to confirm with the code you receive.",
        recovery_url="https://www.legalmail.it"),
    "namirial": MemberProvider(
        key="namirial", name="Namirial PEC", webmail_url="https://webmail.sicurezzapostale.it",
        twofa_path=("Acceda alla webmail PEC di Namirial", "Impostazioni", "Sicurezza",
                    "Verifica in due passaggi", "Disattiva"),
        twofa_path_en=("Log in to Namirial's PEC webmail", "Impostazioni", "Sicurezza",
                       "Verifica in due passaggi", "Disattiva"),
        twofa_confirm="Namirial chiede di confermare con il codice ricevuto.",
        twofa_confirm_en="Namirial asks you to confirm with the code you receive.",
        recovery_url="https://www.sicurezzapostale.it"),
    "poste": MemberProvider(
        key="poste", name="Poste Italiane PEC", webmail_url="https://www.postecert.it",
        twofa_path=("Acceda alla webmail PEC di Poste", "Impostazioni", "Sicurezza",
                    "Verifica in due passaggi", "Disattiva"),
        twofa_path_en=("Log in to Poste's PEC webmail", "Impostazioni", "Sicurezza",
                       "Verifica in due passaggi", "Disattiva"),
        twofa_confirm="Poste chiede di confermare con il codice ricevuto.",
        twofa_confirm_en="Poste asks you to confirm with the code you receive.",
        recovery_url="https://www.postecert.it"),
    "other": MemberProvider(
        key="other", name="il gestore PEC attuale",
        twofa_path=("Acceda alla webmail del suo gestore PEC",
                    "Impostazioni di sicurezza dell'account",
                    "Verifica in due passaggi (o autenticazione a due fattori)", "Disattiva"),
        twofa_path_en=("Log in to your PEC provider's webmail", "Account security settings",
                       "2-step verification (or two-factor authentication)", "Switch off")),
}


def member_provider(path: Path, source: Any, overrides: Any) -> MemberProvider:
    """``[source] provider`` (default ``aruba``) with ``[provider_profile]``'s keys over it."""
    key = "aruba"
    if isinstance(source, Mapping) and "provider" in source:
        key = Table(path, "source", {"provider": source["provider"]},
                    SourceProvider).read(SourceProvider).provider
    profile = BUILT_IN[key]
    if overrides is None:
        return profile
    return replace(profile, **Table(path, "provider_profile", overrides,
                                    MemberProvider).present(MemberProvider))
