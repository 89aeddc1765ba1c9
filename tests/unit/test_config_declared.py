"""Each configuration key is declared once (pecsync/config/settings.py); the example, the
reference page and the loader follow the declarations, and a key declared but missing from the
example or the reference fails here."""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from pecsync.config import load_config
from pecsync.config.declare import Table, declared, setting
from pecsync.config.settings import TABLES, EngineConfig, ServerConfig
from pecsync.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")
REFERENCE = (ROOT / "docs" / "reference" / "configuration.md").read_text(encoding="utf-8")


def _gen() -> ModuleType:
    path = ROOT / "scripts" / "gen_config_reference.py"
    spec = importlib.util.spec_from_file_location("_declared_gen_config_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_declared_key_is_in_the_example_and_the_reference() -> None:
    gen = _gen()
    assert gen.missing_keys(EXAMPLE) == []
    for name, classes in TABLES.items():
        heading = f"## `[{name}]`" if "*" not in name else f"## `[{name.split('.')[0]}."
        assert heading in REFERENCE, name
        for cls in classes:
            for key in declared(cls):
                assert (f"| `{key.name}` |" in REFERENCE  # a row, or a sub-table's heading
                        or f"## `[{name}.{key.name}]`" in REFERENCE), f"[{name}] {key.name}"


def test_a_key_declared_but_not_in_the_example_is_found() -> None:
    """The check above can fail: a planted declaration is reported missing."""

    @dataclass(frozen=True)
    class Planted:
        planted_key: int = setting(1, help="planted")

    gen = _gen()
    tables = {**TABLES, "engine": (EngineConfig, Planted)}
    assert gen.missing_keys(EXAMPLE, tables) == ["[engine] planted_key"]


def test_every_key_has_help_text_and_the_loader_knows_every_table() -> None:
    for classes in TABLES.values():
        for cls in classes:
            for key in declared(cls):
                assert key.setting.help.strip(), f"{cls.__name__}.{key.name}"
    assert len(declared(EngineConfig)) == 17


def _load(tmp_path: Path, extra: str, table: str = "engine") -> str:
    path = tmp_path / "c.toml"
    path.write_text('[source]\nhost = "a"\n[destination]\nhost = "b"\n'
                    f'[state]\ndatabase = "s.sqlite3"\n[{table}]\n{extra}\n', "utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    return str(err.value).split(": ", 1)[1]


@pytest.mark.parametrize(("table", "line", "message"), [
    ("engine", "lease_seconds = 3", "[engine] lease_seconds: must be at least 4 seconds, got 3.0"),
    ("engine", "workers = 0", "[engine] workers: must be greater than 0, got 0"),
    ("engine", "prefetch_batches = -1", "[engine] prefetch_batches: must be at least 0, got -1"),
    ("engine", "verify = 1", "[engine] verify: expected bool, got 1"),
    ("engine", "workers = true", "[engine] workers: expected int, got True"),
    ("intake", "pow_bits = 25", "[intake] pow_bits: must be at least 0 and at most 24, got 25"),
    ("admin", "session_hours = 721", "[admin] session_hours: expected hours, > 0 and at most "
                                     "720 (30 days)"),
    ("smtp", 'host = "m"\nport = 0', "[smtp] port: expected a port from 1 to 65535, got 0"),
    ("intake", "trusted_proxies = [1]", "[intake] trusted_proxies: expected a list of strings"),
    ("intake", 'trusted_proxies = "x"', "[intake] trusted_proxies: expected list, got 'x'"),
    ("state", "pool_size = 3", "[state] pool_size: only for a PostgreSQL database"),
    ("migration", 'resync_every = "soon"', "[migration] resync_every: expected a duration"),
    ("folders", 'rename = {"A" = ""}', "[folders] rename: 'A': expected a folder path"),
])
def test_bounds_and_types_come_from_the_declaration(tmp_path: Path, table: str, line: str,
                                                   message: str) -> None:
    if table == "state":
        path = tmp_path / "c.toml"
        path.write_text('[source]\nhost = "a"\n[destination]\nhost = "b"\n'
                        f'[state]\ndatabase = "s.sqlite3"\n{line}\n', "utf-8")
        with pytest.raises(ConfigError) as err:
            load_config(path)
        assert f"{path}: {message}" in str(err.value)
        return
    assert _load(tmp_path, line, table).startswith(message)


def test_a_default_taken_from_another_key(tmp_path: Path) -> None:
    """``port``'s default follows ``security``; both read from one declaration each."""
    t = Table(tmp_path / "c.toml", "source", {"host": "h", "security": "starttls"},
              ServerConfig)
    assert t.read(ServerConfig).port == 143
    assert Table(tmp_path / "c.toml", "source", {"host": "h"}, ServerConfig).read(
        ServerConfig).port == 993
    assert Table(tmp_path / "c.toml", "source", {"host": "h", "ca_file": ""}, ServerConfig
                 ).read(ServerConfig).ca_file is None  # an empty path is no path
    with pytest.raises(ConfigError, match=r"\[source\] host: missing \(required\)"):
        Table(tmp_path / "c.toml", "source", {"port": 1}, ServerConfig).read(ServerConfig)


def test_type_and_bounds_are_in_the_reference() -> None:
    assert "| `lease_seconds` | number ≥ 4 |" in REFERENCE
    assert "| `host` | string, required |" in REFERENCE
