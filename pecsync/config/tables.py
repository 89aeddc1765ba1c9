"""One parser per TOML table: a table's raw data → its dataclass (pecsync.config.settings),
or a ConfigError naming the file, the table and the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pecsync.config.reader import Reader, parse_duration, positive, valid_port
from pecsync.config.settings import (
    DEFAULT_REMINDERS,
    AdminConfig,
    CampaignConfig,
    EngineConfig,
    FolderRulesConfig,
    IntakeConfig,
    OrderInfo,
    PostgresTarget,
    ProviderProfile,
    ServerConfig,
    SmtpConfig,
    is_postgres_url,
)
from pecsync.errors import ConfigError

_SECURITY_VALUES = ("tls", "starttls", "plain")
_DEFAULT_PORTS = {"tls": 993, "starttls": 143, "plain": 143}


def server_table(path: Path, table: str, data: Any) -> ServerConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [{table}]: missing table (host, port, security ...)")
    r = Reader(path, table, data,
                {"host", "port", "security", "ca_file", "tls_verify", "master_user", "timeout",
                 "compress"})
    host = r.get("host", str, required=True, check=lambda v: None if v.strip() else "is empty")
    assert host is not None
    security = r.get("security", str, "tls",
                     check=lambda v: None if v in _SECURITY_VALUES
                     else f"expected one of {', '.join(_SECURITY_VALUES)}, got {v!r}")
    assert security is not None
    port = r.get("port", int, _DEFAULT_PORTS[security], check=valid_port)
    assert port is not None
    ca = r.get("ca_file", str)
    ca_file = None
    if ca:
        ca_file = (path.parent / ca).resolve()
        if not ca_file.is_file():
            raise r.error("ca_file", f"file not found: {ca_file}")
    master = r.get("master_user", str) or None
    timeout = r.get("timeout", float, 60.0, check=lambda v: None if v > 0 else "must be > 0")
    verify = r.get("tls_verify", bool, True)
    compress = r.get("compress", str, "auto",
                     check=lambda v: None if v in ("auto", "always", "never")
                     else f"expected one of auto, always, never, got {v!r}")
    return ServerConfig(host=host, port=port, security=security,  # type: ignore[arg-type]
                        ca_file=ca_file, tls_verify=bool(verify), master_user=master,
                        timeout=float(timeout or 60.0), compress=compress or "auto")


def engine_table(path: Path, data: Any) -> EngineConfig:
    if data is None:
        return EngineConfig()
    d = EngineConfig()
    r = Reader(path, "engine", data, set(EngineConfig.__dataclass_fields__))
    return EngineConfig(
        batch_max_bytes=r.get("batch_max_bytes", int, d.batch_max_bytes, check=positive) or 1,
        batch_max_messages=r.get("batch_max_messages", int, d.batch_max_messages,
                                 check=positive) or 1,
        prefetch_batches=r.get("prefetch_batches", int, d.prefetch_batches,
                               check=lambda v: None if v >= 0 else "must be >= 0") or 0,
        max_inflight_bytes=r.get("max_inflight_bytes", int, d.max_inflight_bytes,
                                 check=positive) or 1,
        verify=bool(r.get("verify", bool, d.verify)),
        retries=r.get("retries", int, d.retries,
                      check=lambda v: None if v >= 0 else "must be >= 0") or 0,
        retry_initial_seconds=r.get("retry_initial_seconds", float, d.retry_initial_seconds,
                                    check=lambda v: None if v >= 0 else "must be >= 0") or 0.0,
        retry_max_seconds=r.get("retry_max_seconds", float, d.retry_max_seconds,
                                check=lambda v: None if v >= 0 else "must be >= 0") or 0.0,
        max_attempts=r.get("max_attempts", int, d.max_attempts, check=positive) or 1,
        reconnect_attempts=r.get("reconnect_attempts", int, d.reconnect_attempts,
                                 check=lambda v: None if v >= 0 else "must be >= 0") or 0,
        reconnect_initial_seconds=r.get("reconnect_initial_seconds", float,
                                        d.reconnect_initial_seconds,
                                        check=lambda v: None if v >= 0 else "must be >= 0")
        or 0.0,
        reconnect_max_seconds=r.get("reconnect_max_seconds", float, d.reconnect_max_seconds,
                                    check=lambda v: None if v >= 0 else "must be >= 0") or 0.0,
        workers=r.get("workers", int, d.workers, check=positive) or 1,
        folders_in_parallel=r.get("folders_in_parallel", int, d.folders_in_parallel,
                                  check=positive) or 1,
        max_connections_per_host=r.get("max_connections_per_host", int,
                                       d.max_connections_per_host, check=positive) or 1,
        breaker_failures=r.get("breaker_failures", int, d.breaker_failures,
                               check=lambda v: None if v >= 0 else "must be >= 0 (0: off)")
        or 0,
        lease_seconds=r.get("lease_seconds", float, d.lease_seconds,
                            check=lambda v: None if v >= 4 else "must be at least 4 seconds")
        or d.lease_seconds,
    )


def folders_table(path: Path, data: Any) -> FolderRulesConfig:
    if data is None:
        return FolderRulesConfig()
    r = Reader(path, "folders", data, {"rename", "exclude", "delimiter_substitute",
                                        "include_shared", "virtual"})
    rename = r.get("rename", dict, {}) or {}
    for k, v in rename.items():
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{path}: [folders.rename] {k!r}: expected a folder path, got {v!r}")
    exclude = r.get("exclude", list, []) or []
    for item in exclude:
        if not isinstance(item, str):
            raise r.error("exclude", f"expected a list of strings, got {item!r}")
    sub = r.get("delimiter_substitute", str, "_",
                check=lambda v: None if len(v) == 1 else "expected one character") or "_"
    include_shared = r.get("include_shared", bool, False)
    virtual = r.get("virtual", list, list(FolderRulesConfig.virtual))
    for item in virtual or ():
        if not isinstance(item, str):
            raise r.error("virtual", f"expected a list of strings, got {item!r}")
    return FolderRulesConfig(rename=dict(rename), exclude=tuple(exclude), delimiter_substitute=sub,
                             include_shared=bool(include_shared), virtual=tuple(virtual or ()))


def providers_table(path: Path, data: Any) -> tuple[ProviderProfile, ...]:
    import re

    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [providers]: expected tables like [providers.aruba]")
    keys = ("two_factor", "invalid_credentials", "destination_full", "transient")
    out = []
    for name, table in data.items():
        r = Reader(path, f"providers.{name}", table, set(keys))
        lists: dict[str, tuple[str, ...]] = {}
        for key in keys:
            items = r.get(key, list, []) or []
            for item in items:
                if not isinstance(item, str):
                    raise r.error(key, f"expected a list of regular expressions, got {item!r}")
                try:
                    re.compile(item)
                except re.error as exc:
                    raise r.error(key, f"invalid regular expression {item!r}: {exc}") from None
            lists[key] = tuple(items)
        out.append(ProviderProfile(name=name, **lists))
    return tuple(out)


def migration_deadline(path: Path, data: Any) -> date | None:
    if data is None:
        return None
    r = Reader(path, "migration", data, {"deadline", "resync_every", "switch_at"})
    if "deadline" not in data:
        return None
    value = data["deadline"]
    if not isinstance(value, date):
        raise r.error("deadline", f"expected a date like 2026-12-31 (no quotes), got {value!r}")
    return value


def orders_table(path: Path, data: Any) -> dict[str, OrderInfo]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [orders]: expected tables like [orders.\"Ordine X\"]")
    out: dict[str, OrderInfo] = {}
    for name, table in data.items():
        r = Reader(path, f"orders.{name}", table, {"display_name", "contacts", "slug",
                                                    "domains"})
        contacts = r.get("contacts", list, []) or []
        for c in contacts:
            if not isinstance(c, str) or "@" not in c:
                raise r.error("contacts", f"expected e-mail addresses, got {c!r}")
        slug = r.get("slug", str, check=lambda v: None if re.fullmatch(r"[a-z0-9][a-z0-9-]*", v)
                      else f"expected lower-case letters, digits and -, got {v!r}")
        domains = r.get("domains", list, []) or []
        for d in domains:
            if not isinstance(d, str) or not re.fullmatch(r"[a-z0-9.-]+\.[a-z]+", d):
                raise r.error("domains", f"expected lower-case domain names, got {d!r}")
        if slug in {o.slug for o in out.values()}:
            raise r.error("slug", f"{slug!r} is already the slug of another order")
        out[name] = OrderInfo(name=name, display_name=r.get("display_name", str),
                              contacts=tuple(contacts), slug=slug, domains=tuple(domains))
    return out


def _when(r: Reader, key: str) -> datetime | None:
    """A TOML date or date-time; without an offset it is UTC (a date: its start)."""
    if key not in r.data:
        return None
    value = r.data[key]
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise r.error(key, f"expected a date or date-time like 2027-01-31T09:00:00+01:00 (no "
                       f"quotes), got {value!r}")


def _strings(r: Reader, key: str) -> tuple[str, ...]:
    items = r.get(key, list, []) or []
    for item in items:
        if not isinstance(item, str):
            raise r.error(key, f"expected a list of strings, got {item!r}")
    return tuple(items)


def intake_table(path: Path, data: Any) -> IntakeConfig:
    import ipaddress

    if data is None:
        return IntakeConfig()
    d = IntakeConfig()
    r = Reader(path, "intake", data, set(IntakeConfig.__dataclass_fields__))
    opens, closes = _when(r, "opens_at"), _when(r, "closes_at")
    if opens and closes and closes <= opens:
        raise r.error("closes_at", "must be after opens_at")
    proxies = _strings(r, "trusted_proxies")
    for p in proxies:
        try:
            ipaddress.ip_network(p, strict=False)
        except ValueError:
            raise r.error("trusted_proxies", f"expected IP addresses or networks, got {p!r}"
                          ) from None
    captcha = {k: r.get(k, str) for k in ("captcha_script_url", "captcha_site_key",
                                          "captcha_verify_url", "captcha_secret_file")}
    if any(captcha.values()) and not all(captcha.values()):
        raise r.error("captcha_verify_url", "an external CAPTCHA needs captcha_script_url, "
                                            "captcha_site_key, captcha_verify_url and "
                                            "captcha_secret_file")
    for key in ("captcha_script_url", "captcha_verify_url", "public_url"):
        value = r.get(key, str)
        if value and not value.startswith("https://") and key != "public_url":
            raise r.error(key, f"expected an https:// URL, got {value!r}")
    secret = captcha["captcha_secret_file"]
    return IntakeConfig(
        opens_at=opens, closes_at=closes, public_url=r.get("public_url", str),
        trusted_proxies=proxies,
        rate_per_address=r.get("rate_per_address", int, d.rate_per_address,
                               check=positive) or 1,
        rate_per_client=r.get("rate_per_client", int, d.rate_per_client, check=positive) or 1,
        rate_window_seconds=r.get("rate_window_seconds", int, d.rate_window_seconds,
                                  check=positive) or 1,
        contact=r.get("contact", str, "") or "",
        provider_name=r.get("provider_name", str, d.provider_name) or d.provider_name,
        twofa_steps=_strings(r, "twofa_steps"), twofa_steps_en=_strings(r, "twofa_steps_en"),
        pow_bits=r.get("pow_bits", int, d.pow_bits,
                       check=lambda v: None if 0 <= v <= 24 else "expected 0 to 24") or 0,
        min_fill_seconds=r.get("min_fill_seconds", float, d.min_fill_seconds,
                               check=lambda v: None if v >= 0 else "must be >= 0") or 0.0,
        captcha_script_url=captcha["captcha_script_url"],
        captcha_site_key=captcha["captcha_site_key"],
        captcha_verify_url=captcha["captcha_verify_url"],
        captcha_field=r.get("captcha_field", str, d.captcha_field) or d.captcha_field,
        captcha_secret_file=(path.parent / secret).resolve() if secret else None)


def admin_table(path: Path, data: Any) -> AdminConfig:
    if data is None:
        return AdminConfig()
    d = AdminConfig()
    r = Reader(path, "admin", data, set(AdminConfig.__dataclass_fields__))
    hours = r.get("session_hours", float, d.session_hours,
                  check=lambda v: None if 0 < v <= 24 * 30 else "expected hours, > 0 and "
                                                               "at most 720 (30 days)")
    return AdminConfig(
        session_hours=float(hours or d.session_hours),
        rate_per_account=r.get("rate_per_account", int, d.rate_per_account,
                               check=positive) or 1,
        rate_per_client=r.get("rate_per_client", int, d.rate_per_client, check=positive) or 1,
        rate_window_seconds=r.get("rate_window_seconds", int, d.rate_window_seconds,
                                  check=positive) or 1)


def smtp_table(path: Path, data: Any) -> SmtpConfig | None:
    if data is None:
        return None
    r = Reader(path, "smtp", data, {"host", "port", "security", "user", "password_file",
                                     "from_address", "ca_file", "timeout"})
    host = r.get("host", str, required=True)
    assert host is not None
    security = r.get("security", str, "starttls",
                     check=lambda v: None if v in _SECURITY_VALUES
                     else f"expected one of {', '.join(_SECURITY_VALUES)}, got {v!r}")
    default_port = {"tls": 465, "starttls": 587, "plain": 25}[security or "starttls"]
    pw = r.get("password_file", str)
    ca = r.get("ca_file", str)
    return SmtpConfig(host=host, port=r.get("port", int, default_port, check=valid_port) or 587,
                      security=security,  # type: ignore[arg-type]
                      user=r.get("user", str), from_address=r.get("from_address", str,
                                                                  "pecsync@localhost") or "",
                      password_file=(path.parent / pw).resolve() if pw else None,
                      ca_file=(path.parent / ca).resolve() if ca else None,
                      timeout=r.get("timeout", float, 30.0) or 30.0)


def postgres_target(p: Path, sr: Reader, database: str) -> PostgresTarget | None:
    if not is_postgres_url(database):
        for key in ("password_file", "sslmode", "sslrootcert", "pool_size"):
            if key in sr.data:
                raise sr.error(key, "only for a PostgreSQL database (database = "
                                    "\"postgresql://USER@HOST/DB\")")
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(database)
    if parts.password is not None:
        raise sr.error("database", "no password in the URL: use $PECSYNC_DB_PASSWORD or "
                                   "[state] password_file")
    if not parts.hostname or not parts.path.strip("/"):
        raise sr.error("database", f"expected postgresql://USER@HOST[:PORT]/DB, got "
                                   f"{database!r}")
    sslmode = sr.get("sslmode", str, check=lambda v: None if v in (
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full")
        else f"expected a libpq sslmode (require, verify-full, ...), got {v!r}")
    pw = sr.get("password_file", str)
    ca = sr.get("sslrootcert", str)
    return PostgresTarget(url=database,
                          password_file=(p.parent / pw).resolve() if pw else None,
                          sslmode=sslmode,
                          sslrootcert=(p.parent / ca).resolve() if ca else None,
                          pool_size=sr.get("pool_size", int, 10, check=positive) or 10)


def migration_schedule(path: Path, data: Any) -> tuple[timedelta | None, datetime | None]:
    """``[migration] resync_every`` and ``switch_at`` (a TOML date-time; without an offset it
    is the machine's local time)."""
    if not isinstance(data, Mapping):
        return None, None
    r = Reader(path, "migration", data, {"deadline", "resync_every", "switch_at"})
    every: timedelta | None = None
    if "resync_every" in data:
        value = data["resync_every"]
        try:
            every = (timedelta(seconds=float(value)) if isinstance(value, int | float)
                     and not isinstance(value, bool) and value > 0
                     else parse_duration(str(value)))
        except ValueError as exc:
            raise r.error("resync_every", str(exc)) from None
    switch: datetime | None = None
    if "switch_at" in data:
        value = data["switch_at"]
        if isinstance(value, str):
            with suppress(ValueError):
                value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise r.error("switch_at", f"expected a date and time like "
                                       f"2027-03-31T06:00:00+01:00, got {value!r}")
        switch = value if value.tzinfo is not None else value.astimezone()
    return every, switch


def _offset(text: str) -> timedelta:
    """A reminder offset from the deadline: ``"-7d"``, ``"-12h"``, ``"0d"`` (the deadline's
    day); ValueError otherwise."""
    m = re.fullmatch(r"(-?)(\d+)([smhd])", text.strip())
    if not m:
        raise ValueError(f"expected an offset before the deadline like \"-7d\" or \"-12h\", "
                         f"got {text!r}")
    seconds = int(m.group(2)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(3)]
    if seconds and not m.group(1):
        raise ValueError(f"a reminder after the deadline reaches nobody in time: {text!r} "
                         f"(write it with a minus: \"-{text.strip()}\")")
    return -timedelta(seconds=seconds)


def campaign_table(path: Path, data: Any) -> CampaignConfig:
    if data is None:
        return CampaignConfig()
    d = CampaignConfig()
    r = Reader(path, "campaign", data, {"reminders", "interval_seconds"})
    names = list(_strings(r, "reminders")) if "reminders" in data else list(DEFAULT_REMINDERS)
    waves: list[tuple[str, timedelta]] = []
    for name in names:
        try:
            offset = _offset(name)
        except ValueError as exc:
            raise r.error("reminders", str(exc)) from None
        if name.strip() in {w for w, _ in waves} or offset in {o for _, o in waves}:
            raise r.error("reminders", f"{name!r} is listed twice")
        waves.append((name.strip(), offset))
    waves.sort(key=lambda w: w[1])
    return CampaignConfig(
        reminders=tuple(waves),
        interval_seconds=r.get("interval_seconds", float, d.interval_seconds,
                               check=lambda v: None if v > 0 else "must be greater than 0")
        or d.interval_seconds,
        configured=True)
