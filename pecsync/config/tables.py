"""Each TOML table → its declared dataclasses (pecsync.config.settings), and the checks that
span several keys of a table (a key alone is checked by its declaration)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pecsync.config.declare import Table
from pecsync.config.settings import (
    TABLES,
    IntakeConfig,
    OrderInfo,
    PostgresTarget,
    ProviderProfile,
    ServerConfig,
    SmtpConfig,
    StateConfig,
    is_postgres_url,
)
from pecsync.errors import ConfigError

T = TypeVar("T")


def simple_table(path: Path, name: str, cls: type[T], data: Any, **given: Any) -> T:
    """A table of one dataclass; absent, all its defaults."""
    if data is None:
        return cls(**given)
    return Table(path, name, data, *TABLES[name]).read(cls, **given)


def server_table(path: Path, name: str, data: Any) -> ServerConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [{name}]: missing table (host, port, security ...)")
    return Table(path, name, data, *TABLES[name]).read(ServerConfig)


def providers_table(path: Path, data: Any) -> tuple[ProviderProfile, ...]:
    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [providers]: expected tables like [providers.aruba]")
    return tuple(Table(path, f"providers.{name}", table, ProviderProfile)
                 .read(ProviderProfile, name=name) for name, table in data.items())


def orders_table(path: Path, data: Any) -> dict[str, OrderInfo]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [orders]: expected tables like [orders.\"Ordine X\"]")
    out: dict[str, OrderInfo] = {}
    for name, table in data.items():
        t = Table(path, f"orders.{name}", table, OrderInfo)
        order = t.read(OrderInfo, name=name)
        if order.slug is not None and order.slug in {o.slug for o in out.values()}:
            raise t.error("slug", f"{order.slug!r} is already the slug of another order")
        out[name] = order
    return out


_CAPTCHA = ("captcha_script_url", "captcha_site_key", "captcha_verify_url",
            "captcha_secret_file")


#: Keys [intake] had before the provider profile, and where they went.
_MOVED_INTAKE_KEYS = {"provider_name": "name", "twofa_steps": "twofa_path",
                      "twofa_steps_en": "twofa_path_en"}


def intake_table(path: Path, data: Any) -> IntakeConfig:
    if data is None:
        return IntakeConfig()
    for key, where in _MOVED_INTAKE_KEYS.items():
        if isinstance(data, Mapping) and key in data:
            raise ConfigError(f"{path}: [intake] {key}: no longer read: the old provider's "
                              f"words come from its profile ([source] provider = \"aruba\", "
                              f"...); override them with [provider_profile] {where}")
    t = Table(path, "intake", data, IntakeConfig)
    intake = t.read(IntakeConfig)
    if intake.opens_at and intake.closes_at and intake.closes_at <= intake.opens_at:
        raise t.error("closes_at", "must be after opens_at")
    captcha = [getattr(intake, k) for k in _CAPTCHA]
    if any(captcha) and not all(captcha):
        raise t.error("captcha_verify_url", "an external CAPTCHA needs captcha_script_url, "
                                            "captcha_site_key, captcha_verify_url and "
                                            "captcha_secret_file")
    return intake


def smtp_table(path: Path, data: Any) -> SmtpConfig | None:
    if data is None:
        return None
    return Table(path, "smtp", data, SmtpConfig).read(SmtpConfig)


def state_table(path: Path, data: Any) -> tuple[StateConfig, PostgresTarget | None]:
    """``[state]``: its own keys, and a PostgreSQL target when *database* is a URL."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [state]: missing table (database = \"pecsync.sqlite3\")")
    t = Table(path, "state", data, *TABLES["state"])
    state = t.read(StateConfig)
    database = state.database
    if not is_postgres_url(database):
        for key in t.present(PostgresTarget):
            raise t.error(key, "only for a PostgreSQL database (database = "
                               "\"postgresql://USER@HOST/DB\")")
        return state, None
    from urllib.parse import urlsplit

    parts = urlsplit(database)
    if parts.password is not None:
        raise t.error("database", "no password in the URL: use $PECSYNC_DB_PASSWORD or "
                                  "[state] password_file")
    if not parts.hostname or not parts.path.strip("/"):
        raise t.error("database", f"expected postgresql://USER@HOST[:PORT]/DB, got "
                                  f"{database!r}")
    return state, t.read(PostgresTarget, url=database)
