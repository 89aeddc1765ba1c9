import pytest

from pecsync.imap.classify import Failure, Phase, Rule, classify_response

ROWS = [
    (Phase.LOGIN, "[AUTHENTICATIONFAILED] Authentication failed.", Failure.INVALID_CREDENTIALS),
    (Phase.LOGIN, "[CONTACTADMIN] Verifica in due passaggi attiva: usa una password per app",
     Failure.TWO_FACTOR),
    (Phase.LOGIN, "[CONTACTADMIN] 2FA enabled", Failure.TWO_FACTOR),
    (Phase.LOGIN, "[ALERT] Two-step verification required", Failure.TWO_FACTOR),
    (Phase.LOGIN, "[CONTACTADMIN] Account suspended", Failure.ACCOUNT_DISABLED),
    (Phase.LOGIN, "[UNAVAILABLE] Temporary authentication failure.", Failure.TRANSIENT),
    (Phase.APPEND, "[OVERQUOTA] Quota exceeded (mailbox for user is full)",
     Failure.DESTINATION_FULL),
    (Phase.APPEND, "Mailbox is full", Failure.DESTINATION_FULL),
    (Phase.APPEND, "[LIMIT] Too many appends", Failure.TRANSIENT),
    (Phase.APPEND, "[TOOBIG] Message too large", Failure.MESSAGE_REFUSED),
    (Phase.APPEND, "Something odd", Failure.MESSAGE_REFUSED),
    (Phase.OTHER, "[UNAVAILABLE] try later", Failure.TRANSIENT),
]


@pytest.mark.parametrize(("phase", "text", "expected"), ROWS)
def test_table(phase: Phase, text: str, expected: Failure) -> None:
    assert classify_response(phase, text) == expected


def test_provider_rule_takes_precedence() -> None:
    rule = Rule(Phase.LOGIN, None, r"accesso bloccato dal pannello", Failure.TWO_FACTOR)
    text = "[AUTHENTICATIONFAILED] accesso bloccato dal pannello"
    assert classify_response(Phase.LOGIN, text) == Failure.INVALID_CREDENTIALS
    assert classify_response(Phase.LOGIN, text, [rule]) == Failure.TWO_FACTOR
