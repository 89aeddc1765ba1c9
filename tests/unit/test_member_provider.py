"""[source] provider chooses the profile members are told about; [provider_profile]
overrides any field; errors name the file, the table and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pecsync.config import load_config
from pecsync.config.member_provider import BUILT_IN, PROVIDERS
from pecsync.errors import ConfigError

BASE = """
[source]
host = "127.0.0.1"
security = "plain"
{provider}
[destination]
host = "127.0.0.2"
security = "plain"
[state]
database = "state.db"
{extra}
"""


def _cfg(tmp_path: Path, provider: str = "", extra: str = "") -> Path:
    path = tmp_path / "c.toml"
    path.write_text(BASE.format(provider=provider, extra=extra), "utf-8")
    return path


def test_default_is_aruba_with_its_app_passwords_expiring(tmp_path: Path) -> None:
    p = load_config(_cfg(tmp_path)).member_provider
    assert p.key == "aruba" and p.app_passwords and p.app_password_months == 3
    assert "Verifica in 2 passaggi" in p.twofa_path and "app" in p.twofa_confirm
    assert set(PROVIDERS) == set(BUILT_IN)


def test_a_provider_is_chosen_and_overridden(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, 'provider = "namirial"',
                           '[provider_profile]\nwebmail_url = "https://w.example"\n'
                           'twofa_path = ["A", "B"]\napp_password_months = 6\n'))
    p = cfg.member_provider
    assert (p.key, p.webmail_url, p.twofa_path, p.app_password_months) == (
        "namirial", "https://w.example", ("A", "B"), 6)
    assert cfg.source.host == "127.0.0.1"


@pytest.mark.parametrize(("provider", "extra", "message"), [
    ('provider = "gmail"', "", "[source] provider: expected one of aruba"),
    ("", '[provider_profile]\ncolour = "x"\n', "[provider_profile] colour: unknown key"),
    ("", "[provider_profile]\ntwofa_path = [1]\n", "[provider_profile] twofa_path: expected"),
])
def test_errors_name_the_table_and_key(tmp_path: Path, provider: str, extra: str,
                                       message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_config(_cfg(tmp_path, provider, extra))
