"""Failure classifier: server answers → failure classes.  A pure, table-driven function.

The table is read top to bottom; the first matching row wins.  Provider wordings
(2-step verification messages of a given provider) can be added from the
configuration as extra rows in front of the built-in ones.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass

from pecsync.imap.codes import find_code


class Failure(enum.StrEnum):
    INVALID_CREDENTIALS = "invalid_credentials"
    TWO_FACTOR = "two_factor"
    ACCOUNT_DISABLED = "account_disabled"
    DESTINATION_FULL = "destination_full"
    TRANSIENT = "transient"
    MESSAGE_REFUSED = "message_refused"
    FATAL = "fatal"


class Phase(enum.StrEnum):
    LOGIN = "login"
    APPEND = "append"
    OTHER = "other"


@dataclass(frozen=True)
class Rule:
    """One row: where it applies, what it looks for, what it means."""

    phase: Phase | None  # None = any phase
    code: str | None  # response code without brackets, e.g. "OVERQUOTA"
    pattern: str | None  # case-insensitive regex searched in the response text
    failure: Failure

    def matches(self, phase: Phase, code: str | None, text: str) -> bool:
        if self.phase is not None and self.phase != phase:
            return False
        if self.code is not None and self.code != code:
            return False
        return self.pattern is None or re.search(self.pattern, text, re.I) is not None


_TWO_FACTOR_WORDS = (
    r"2fa|two[- ]?(factor|step)|2[- ]?step|otp|one[- ]time|app[- ]?password|password per app"
    r"|password per le app|password dell'app|due passaggi|doppio fattore|autenticazione a due"
    r"|verifica in due|secondo fattore"
)

#: An expired password (an app password past its validity, say): the credentials' problem,
#: even when the wording names an app password (which the 2-step words would match).
_EXPIRED_WORDS = r"password\b.{0,40}\b(expired|scadut[ao])|(expired|scadut[ao])\b.{0,40}password"

BUILTIN_RULES: tuple[Rule, ...] = (
    Rule(Phase.LOGIN, "EXPIRED", None, Failure.INVALID_CREDENTIALS),
    Rule(Phase.LOGIN, None, _EXPIRED_WORDS, Failure.INVALID_CREDENTIALS),
    Rule(Phase.LOGIN, None, _TWO_FACTOR_WORDS, Failure.TWO_FACTOR),
    Rule(Phase.LOGIN, "CONTACTADMIN", None, Failure.ACCOUNT_DISABLED),
    Rule(Phase.LOGIN, "AUTHENTICATIONFAILED", None, Failure.INVALID_CREDENTIALS),
    Rule(Phase.LOGIN, "AUTHORIZATIONFAILED", None, Failure.INVALID_CREDENTIALS),
    Rule(None, "OVERQUOTA", None, Failure.DESTINATION_FULL),
    Rule(Phase.APPEND, None, r"quota|mailbox (is )?full|over ?quota|storage.*exceed",
         Failure.DESTINATION_FULL),
    Rule(None, "UNAVAILABLE", None, Failure.TRANSIENT),
    # Dovecot's quota_max_mail_size: "NO [LIMIT] Mail size is larger than the maximum size
    # allowed by server configuration".  This message never fits: skip and list it, do not
    # retry the mailbox for it.
    Rule(Phase.APPEND, "LIMIT", r"size|too (big|large)", Failure.MESSAGE_REFUSED),
    Rule(None, "LIMIT", None, Failure.TRANSIENT),
    Rule(None, "INUSE", None, Failure.TRANSIENT),
    Rule(None, "SERVERBUG", None, Failure.TRANSIENT),
    Rule(Phase.LOGIN, "ALERT", None, Failure.ACCOUNT_DISABLED),
    Rule(Phase.LOGIN, None, r"authentication failed|invalid credentials|login failed"
         r"|password|credenziali", Failure.INVALID_CREDENTIALS),
    Rule(Phase.APPEND, "TOOBIG", None, Failure.MESSAGE_REFUSED),
    Rule(Phase.APPEND, None, r"too (big|large)|size limit|exceeds.*limit|line too long"
         r"|invalid|8bit|nul", Failure.MESSAGE_REFUSED),
)


def classify_response(phase: Phase, text: str,
                      extra_rules: Sequence[Rule] = ()) -> Failure:
    """Class of a server refusal (a tagged ``NO``/``BAD``), e.g.

    >>> classify_response(Phase.LOGIN, "[AUTHENTICATIONFAILED] Authentication failed.")
    <Failure.INVALID_CREDENTIALS: 'invalid_credentials'>
    """
    code = find_code(text)
    for rule in (*extra_rules, *BUILTIN_RULES):
        if rule.matches(phase, code, text):
            return rule.failure
    return Failure.MESSAGE_REFUSED if phase == Phase.APPEND else Failure.FATAL


def provider_rules(profiles: Sequence[object]) -> tuple[Rule, ...]:
    """Rows from ``[providers.NAME]`` profiles (objects with tuples of regexes named
    ``two_factor``, ``invalid_credentials``, ``destination_full``, ``transient``), checked
    before the built-in table."""
    rules: list[Rule] = []
    for profile in profiles:
        for pattern in getattr(profile, "two_factor", ()):
            rules.append(Rule(Phase.LOGIN, None, pattern, Failure.TWO_FACTOR))
        for pattern in getattr(profile, "invalid_credentials", ()):
            rules.append(Rule(Phase.LOGIN, None, pattern, Failure.INVALID_CREDENTIALS))
        for pattern in getattr(profile, "destination_full", ()):
            rules.append(Rule(Phase.APPEND, None, pattern, Failure.DESTINATION_FULL))
        for pattern in getattr(profile, "transient", ()):
            rules.append(Rule(None, None, pattern, Failure.TRANSIENT))
    return tuple(rules)
