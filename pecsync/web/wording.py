"""The member pages' facts in the member's words: the provider profile in the page's
language, the deadline and the switch-over as dates people read, the order's domains.  Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo

from pecsync.config.member_provider import MemberProvider
from pecsync.web.i18n import TEXT


@dataclass(frozen=True)
class ProviderWords:
    """What the templates show of the old provider (``[source] provider``)."""

    name: str
    webmail_url: str
    #: The 2-step menu path: the first item is where to log in, the rest the menu.
    path: tuple[str, ...]
    confirm: str
    recovery_url: str
    #: Months after which the provider's app passwords expire (None: no such passwords).
    app_password_months: int | None


def provider_words(p: MemberProvider, lang: str) -> ProviderWords:
    """The profile in *lang* (English fields fall back to the Italian ones).

    >>> from pecsync.config.member_provider import BUILT_IN
    >>> provider_words(BUILT_IN["aruba"], "en").path[-1]
    'Disattiva'
    """
    name = p.name
    if p.key == "other" and lang == "en" and name == "il gestore PEC attuale":
        name = "your current PEC provider"
    return ProviderWords(
        name=name, webmail_url=p.webmail_url,
        path=(p.twofa_path_en or p.twofa_path) if lang == "en" else p.twofa_path,
        confirm=(p.twofa_confirm_en or p.twofa_confirm) if lang == "en" else p.twofa_confirm,
        recovery_url=p.recovery_url,
        app_password_months=p.app_password_months if p.app_passwords else None)


def long_date(day: date, lang: str) -> str:
    """A date as people write it.

    >>> long_date(date(2027, 3, 31), "it"), long_date(date(2027, 3, 31), "en")
    ('31 marzo 2027', '31 March 2027')
    """
    t = TEXT[lang]
    return t["date_format"].format(day=day.day, month=t["months"].split()[day.month - 1],
                                   year=day.year)


def long_time(at: datetime, lang: str, tz: tzinfo) -> str:
    """A moment in *tz*, as people write it.

    >>> long_time(datetime(2027, 3, 31, 5, 0, tzinfo=UTC), "it", UTC)
    '31 marzo 2027, ore 05:00'
    """
    local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(tz)
    return TEXT[lang]["time_format"].format(date=long_date(local.date(), lang),
                                            time=local.strftime("%H:%M"))


def domains_text(domains: Iterable[str]) -> str:
    """The domains as the pages name them.

    >>> domains_text(["pec.a.it", "pec.b.it"])
    '@pec.a.it, @pec.b.it'
    """
    return ", ".join(f"@{d}" for d in domains)
