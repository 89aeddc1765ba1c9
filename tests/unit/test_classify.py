from pathlib import Path

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
    (Phase.APPEND, "[LIMIT] Mail size is larger than the maximum size allowed by server "
     "configuration (0.001 + 0.000 secs).", Failure.MESSAGE_REFUSED),
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


def test_provider_profiles_from_config(tmp_path: Path) -> None:
    from pecsync.config import load_config
    from pecsync.imap.classify import provider_rules

    cfg = tmp_path / "c.toml"
    cfg.write_text('[source]\nhost = "a"\n[destination]\nhost = "b"\n[state]\ndatabase = "s"\n'
                   '[providers.aruba]\ntwo_factor = ["accesso con OTP richiesto"]\n'
                   'destination_full = ["casella piena"]\n')
    rules = provider_rules(load_config(cfg).providers)
    assert classify_response(Phase.LOGIN, "NO accesso con OTP richiesto", rules) == \
        Failure.TWO_FACTOR
    assert classify_response(Phase.APPEND, "NO casella piena", rules) == Failure.DESTINATION_FULL
    cfg.write_text(cfg.read_text().replace('"casella piena"', '"casella ("'))
    import pytest as _pytest

    from pecsync.errors import ConfigError
    with _pytest.raises(ConfigError, match=r"\[providers.aruba\] destination_full: invalid"):
        load_config(cfg)
