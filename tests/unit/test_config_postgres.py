"""``[state] database = "postgresql://..."`` selects PostgreSQL; a path keeps SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from pecsync.config import PostgresTarget, load_config
from pecsync.errors import ConfigError

BASE = '[source]\nhost = "a"\n[destination]\nhost = "b"\n'


def _cfg(tmp_path: Path, state: str, engine: str = "") -> Path:
    p = tmp_path / "c.toml"
    p.write_text(BASE + "[state]\n" + state + "\n" + engine, "utf-8")
    return p


def test_url_selects_postgresql(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, 'database = "postgresql://pecsync@db.example/pec"\n'
                                     'password_file = "db.pw"\nsslmode = "verify-full"',
                           "[engine]\nlease_seconds = 120\n"))
    assert isinstance(cfg.state, PostgresTarget)
    assert cfg.state.password_file == (tmp_path / "db.pw").resolve()
    assert cfg.state.sslmode == "verify-full"
    assert cfg.state_exists()
    assert cfg.engine.lease_seconds == 120
    assert cfg.database.parent == tmp_path.resolve()  # local files stay beside the config


def test_path_keeps_sqlite(tmp_path: Path) -> None:
    cfg = load_config(_cfg(tmp_path, 'database = "s.sqlite3"'))
    assert cfg.state == (tmp_path / "s.sqlite3").resolve() and cfg.postgres is None
    assert cfg.engine.lease_seconds == 600


@pytest.mark.parametrize(("state", "message"), [
    ('database = "postgresql://u:secret@h/db"', "no password in the URL"),
    ('database = "postgresql://u@h"', "expected postgresql://"),
    ('database = "s.sqlite3"\nsslmode = "require"', "only for a PostgreSQL database"),
    ('database = "postgresql://u@h/db"\nsslmode = "maybe"', "sslmode"),
])
def test_bad_settings_are_named(tmp_path: Path, state: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_config(_cfg(tmp_path, state))
    assert "secret" not in str(err.value)


def test_commands_open_the_configured_backend() -> None:
    """``CheckpointStore.open(cfg.database)`` would open SQLite even when the configuration
    names a PostgreSQL server: commands open ``cfg.state``."""
    root = Path(__file__).resolve().parents[2] / "pecsync"
    offenders = [str(p.relative_to(root)) for p in root.rglob("*.py")
                 if "CheckpointStore.open(cfg.database" in p.read_text("utf-8")
                 or "cfg.database.exists()" in p.read_text("utf-8")]
    assert not offenders, f"open cfg.state / use cfg.state_exists() in: {offenders}"
