"""Read and validate the TOML configuration file, up front and whole."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pecsync.config.member_provider import member_provider
from pecsync.config.settings import (
    TABLES,
    AdminConfig,
    CampaignConfig,
    Config,
    EngineConfig,
    FolderRulesConfig,
    MigrationConfig,
)
from pecsync.config.tables import (
    intake_table,
    orders_table,
    providers_table,
    server_table,
    simple_table,
    smtp_table,
    state_table,
)
from pecsync.errors import ConfigError


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML configuration file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read configuration file: {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    known = {name.split(".")[0] for name in TABLES}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{p}: [{unknown[0]}]: unknown table (known: "
                          f"{', '.join(sorted(known))})")
    state, postgres = state_table(p, data.get("state"))
    raw_source = data.get("source")
    provider = member_provider(p, raw_source, data.get("provider_profile"))
    source = server_table(p, "source", raw_source)
    destination = server_table(p, "destination", data.get("destination"))
    engine = simple_table(p, "engine", EngineConfig, data.get("engine"))
    if (source.host.lower(), source.port) == (destination.host.lower(), destination.port) \
            and engine.max_connections_per_host < 2:
        # One mailbox holds a source and a destination connection: here both to one server.
        raise ConfigError(f"{p}: [engine] max_connections_per_host: source and destination are "
                          f"the same server ({source.host}:{source.port}), so a mailbox needs "
                          f"2 connections to it; got {engine.max_connections_per_host}, set "
                          f"at least 2")
    campaign = data.get("campaign")
    return Config(
        path=p,
        source=source,
        destination=destination,
        database=((p.parent / "pecsync-postgresql").resolve() if postgres
                  else (p.parent / state.database).resolve()),
        postgres=postgres,
        state_keys=state,
        engine=engine,
        folders=simple_table(p, "folders", FolderRulesConfig, data.get("folders")),
        providers=providers_table(p, data.get("providers")),
        migration=simple_table(p, "migration", MigrationConfig, data.get("migration")),
        orders=orders_table(p, data.get("orders")),
        smtp=smtp_table(p, data.get("smtp")),
        intake=intake_table(p, data.get("intake")),
        member_provider=provider,
        campaign=simple_table(p, "campaign", CampaignConfig, campaign,
                              configured=campaign is not None),
        admin=simple_table(p, "admin", AdminConfig, data.get("admin")),
    )
