"""Read and validate the TOML configuration file, up front and whole."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from pecsync.config.member_provider import member_provider
from pecsync.config.reader import Reader
from pecsync.config.settings import Config
from pecsync.config.tables import (
    admin_table,
    campaign_table,
    engine_table,
    folders_table,
    intake_table,
    migration_deadline,
    migration_schedule,
    orders_table,
    postgres_target,
    providers_table,
    server_table,
    smtp_table,
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
    known = {"source", "destination", "state", "engine", "folders", "migration", "orders", "smtp",
             "providers", "intake", "provider_profile", "campaign",
             "admin"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{p}: [{unknown[0]}]: unknown table (known: {', '.join(sorted(known))})")
    state = data.get("state")
    if not isinstance(state, Mapping):
        raise ConfigError(f"{p}: [state]: missing table (database = \"pecsync.sqlite3\")")
    sr = Reader(p, "state", state, {"database", "key_file", "purge_after_done",
                                     "password_file", "sslmode", "sslrootcert", "pool_size"})
    database = sr.get("database", str, required=True)
    assert database is not None
    postgres = postgres_target(p, sr, database)
    key_file = sr.get("key_file", str)
    raw_source = data.get("source")
    provider = member_provider(p, raw_source, data.get("provider_profile"))
    if isinstance(raw_source, Mapping) and "provider" in raw_source:
        raw_source = {k: v for k, v in raw_source.items() if k != "provider"}
    source = server_table(p, "source", raw_source)
    destination = server_table(p, "destination", data.get("destination"))
    engine = engine_table(p, data.get("engine"))
    if (source.host.lower(), source.port) == (destination.host.lower(), destination.port) \
            and engine.max_connections_per_host < 2:
        # One mailbox holds a source and a destination connection: here both to one server.
        raise ConfigError(f"{p}: [engine] max_connections_per_host: source and destination are "
                          f"the same server ({source.host}:{source.port}), so a mailbox needs "
                          f"2 connections to it; got {engine.max_connections_per_host}, set "
                          f"at least 2")
    return Config(
        path=p,
        source=source,
        destination=destination,
        database=((p.parent / "pecsync-postgresql").resolve() if postgres
                  else (p.parent / database).resolve()),
        postgres=postgres,
        key_file=(p.parent / key_file).resolve() if key_file else None,
        purge_after_done=bool(sr.get("purge_after_done", bool, False)),
        engine=engine,
        folders=folders_table(p, data.get("folders")),
        providers=providers_table(p, data.get("providers")),
        deadline=migration_deadline(p, data.get("migration")),
        resync_every=migration_schedule(p, data.get("migration"))[0],
        switch_at=migration_schedule(p, data.get("migration"))[1],
        orders=orders_table(p, data.get("orders")),
        smtp=smtp_table(p, data.get("smtp")),
        intake=intake_table(p, data.get("intake")),
        member_provider=provider,
        campaign=campaign_table(p, data.get("campaign")),
        admin=admin_table(p, data.get("admin")),
    )
