"""``sync/`` gets the narrow per-mailbox settings, never the whole configuration."""

from __future__ import annotations

import ast
from pathlib import Path

from pecsync.config import load_config
from pecsync.engine.settings import mailbox_settings
from pecsync.engine.worker import EngineEnv

SYNC = Path(__file__).resolve().parents[2] / "pecsync" / "sync"


def _names_of_config(source: str) -> list[str]:
    """Names imported from ``pecsync.config`` that are the whole configuration."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pecsync.config"):
            found += [a.name for a in node.names if a.name in ("Config", "load_config")]
    return found


def test_no_module_of_sync_takes_the_whole_configuration() -> None:
    assert _names_of_config("from pecsync.config import Config, EngineConfig\n") == ["Config"]
    offenders = {p.name: names for p in SYNC.rglob("*.py")
                 if (names := _names_of_config(p.read_text("utf-8")))}
    assert offenders == {}


def test_the_settings_carry_what_a_mailbox_needs(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[source]\nhost = "a"\n[destination]\nhost = "b"\nport = 1143\n'
                    '[state]\ndatabase = "s.sqlite3"\n[engine]\nworkers = 2\n'
                    '[folders]\nexclude = ["Spam"]\n[providers.x]\ntransient = ["later"]\n'
                    '[migration]\nswitch_at = 2027-03-31T06:00:00+01:00\n', "utf-8")
    cfg = load_config(path)
    s = mailbox_settings(cfg)
    assert (s.source, s.destination, s.engine, s.folders) == (
        cfg.source, cfg.destination, cfg.engine, cfg.folders)
    assert s.providers == cfg.providers and s.switch_at == cfg.switch_at is not None
    env = EngineEnv(cfg=cfg, store=None, jobs=None, budget=None)  # type: ignore[arg-type]
    assert env.settings == s  # built once for the run
