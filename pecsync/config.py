"""Configuration: one TOML file, validated up front.

Every error names the file, the table and the key, e.g.
``config.toml: [source] port: expected an integer from 1 to 65535, got "imap"``.
Passwords never live in this file: they come from the environment, a file, a
prompt or the credential store.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pecsync.errors import ConfigError

Security = Literal["tls", "starttls", "plain"]
_SECURITY_VALUES = ("tls", "starttls", "plain")
_DEFAULT_PORTS = {"tls": 993, "starttls": 143, "plain": 143}


@dataclass(frozen=True)
class ServerConfig:
    """How to reach one IMAP server (``[source]`` or ``[destination]``)."""

    host: str
    port: int
    security: Security = "tls"
    ca_file: Path | None = None
    tls_verify: bool = True
    master_user: str | None = None
    timeout: float = 60.0
    #: COMPRESS=DEFLATE (RFC 4978) when the server offers it: "auto" only for a server that
    #: is not on this machine (it costs CPU and pays off over slow links), "always", "never".
    compress: str = "auto"


@dataclass(frozen=True)
class EngineConfig:
    """Knobs of the copy engine (``[engine]``)."""

    #: Upper bound of message bytes in one FETCH/APPEND batch (memory and latency trade-off).
    batch_max_bytes: int = 16 * 1024 * 1024
    #: Upper bound of messages in one FETCH/APPEND batch.
    batch_max_messages: int = 100
    #: Batches fetched ahead of the one being appended (memory ~ (2 + this) x batch_max_bytes).
    prefetch_batches: int = 1
    #: Message bytes held in memory at once across all mailboxes of a run (fetched, not yet
    #: appended).  A larger message waits until nothing else is in flight.
    max_inflight_bytes: int = 64 * 1024 * 1024
    #: Fetch the destination copies back and compare hashes after copying.
    verify: bool = True
    #: Retries of a mailbox after a transient failure (connection lost, server unavailable).
    retries: int = 3
    #: Bulk runs: first wait after a transient failure; doubles per attempt, with jitter.
    retry_initial_seconds: float = 60.0
    #: Bulk runs: longest wait between attempts.
    retry_max_seconds: float = 3600.0
    #: Bulk runs: attempts before a job with transient failures becomes ``failed``.
    max_attempts: int = 6
    #: Within one attempt: reconnects in a row without progress after a lost connection
    #: (network error, timeout, BYE) before the job goes to ``retry_wait``.
    reconnect_attempts: int = 5
    #: First wait before such a reconnect; doubles per reconnect in a row (with jitter).
    reconnect_initial_seconds: float = 1.0
    #: Longest wait before such a reconnect.
    reconnect_max_seconds: float = 30.0
    #: Parallel mailboxes (``run`` default).
    workers: int = 4
    #: Upper bound of simultaneous connections to one server, shared by all workers and
    #: their folder lanes (default: 4 workers x 3 lanes).
    max_connections_per_host: int = 12
    #: Folders of one mailbox copied at once, each over its own connection pair, when the
    #: per-host budget has room (round trips over a slow link are the cost this hides).
    folders_in_parallel: int = 3
    #: ``run`` stops claiming mailboxes when this many distinct mailboxes in a row failed to
    #: log in at one server (or to reach it): the configuration is wrong, not their
    #: passwords; they are left as they were.  0 turns the circuit breaker off.
    breaker_failures: int = 5
    #: How long a claimed job belongs to its process without a renewal (it renews every
    #: quarter of it); a killed host's jobs are taken over by the others after this.
    lease_seconds: float = 600.0


@dataclass(frozen=True)
class FolderRulesConfig:
    """``[folders]``: rename and exclude rules on logical folder paths (``/`` separated)."""

    rename: Mapping[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    delimiter_substitute: str = "_"
    #: Copy folders of the "other users" and "shared" namespaces too (default: only the
    #: member's own, personal namespace).
    include_shared: bool = False
    #: Virtual folders that show every message again (besides special-use ``\All``), by
    #: logical path (fnmatch, case-insensitive): skipped with a note in the report.
    virtual: tuple[str, ...] = ("Search/*",)


@dataclass(frozen=True)
class ProviderProfile:
    """``[providers.NAME]``: a provider's own wordings (regular expressions, case-insensitive)
    for refusals the built-in table does not recognise."""

    name: str
    two_factor: tuple[str, ...] = ()
    invalid_credentials: tuple[str, ...] = ()
    destination_full: tuple[str, ...] = ()
    transient: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderInfo:
    """``[orders."NAME"]``: how an order is addressed in reports, and its intake page."""

    name: str
    display_name: str | None = None
    contacts: tuple[str, ...] = ()
    #: The order's intake page is ``/o/<slug>`` (letters, digits, ``-``).
    slug: str | None = None
    #: Its members' address domains: on its page a member may type just the local part.
    domains: tuple[str, ...] = ()


@dataclass(frozen=True)
class IntakeConfig:
    """``[intake]``: the members' self-service page (``pecsync serve``)."""

    #: The page accepts submissions from / until (None: no limit on that side).
    opens_at: datetime | None = None
    closes_at: datetime | None = None
    #: Where members reach the page (for notices and the README's links), e.g.
    #: ``https://migrazione.ordine.example/``.
    public_url: str | None = None
    #: Reverse proxies whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed
    #: (addresses or networks, e.g. ``["127.0.0.1", "10.0.0.0/8"]``).
    trusted_proxies: tuple[str, ...] = ()
    #: Source LOGIN checks per member address per window.
    rate_per_address: int = 5
    #: Submissions per client address per window.
    rate_per_client: int = 30
    rate_window_seconds: int = 3600
    #: How members reach the order (shown on every page), e.g. an e-mail and a phone number.
    contact: str = ""
    #: The old provider's name and its steps to switch 2-step verification off (Italian;
    #: ``*_en`` in English).  Empty: a default for Aruba PEC.
    provider_name: str = "Aruba PEC"
    twofa_steps: tuple[str, ...] = ()
    twofa_steps_en: tuple[str, ...] = ()
    #: Robot check: the browser solves a small proof of work of this many bits (pecsync's own
    #: script, no third party) and the form cannot be sent sooner than this after it was shown.
    pow_bits: int = 16
    min_fill_seconds: float = 3.0
    #: Optional external CAPTCHA (reCAPTCHA/hCaptcha/Turnstile style): the widget's script
    #: and site key, the verification endpoint, the form field its token arrives in, and a
    #: file holding the secret.  All four or none.
    captcha_script_url: str | None = None
    captcha_site_key: str | None = None
    captcha_verify_url: str | None = None
    captcha_field: str = "captcha-response"
    captcha_secret_file: Path | None = None


@dataclass(frozen=True)
class SmtpConfig:
    """``[smtp]``: where daily reports are sent from.  The password comes from
    ``$PECSYNC_SMTP_PASSWORD`` or ``password_file``, never from this file."""

    host: str
    port: int = 587
    security: Security = "starttls"
    user: str | None = None
    password_file: Path | None = None
    from_address: str = "pecsync@localhost"
    ca_file: Path | None = None
    timeout: float = 30.0


@dataclass(frozen=True)
class PostgresTarget:
    """``[state] database = "postgresql://USER@HOST[:PORT]/DB"``: a shared PostgreSQL.  The
    password is never in the URL: ``$PECSYNC_DB_PASSWORD`` or ``[state] password_file``."""

    url: str
    password_file: Path | None = None
    #: libpq's sslmode (disable, prefer, require, verify-ca, verify-full) and CA file.
    sslmode: str | None = None
    sslrootcert: Path | None = None
    #: Connections of one process (its workers share them).
    pool_size: int = 10

    def __str__(self) -> str:
        return self.url


def is_postgres_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class Config:
    path: Path
    source: ServerConfig
    destination: ServerConfig
    database: Path
    key_file: Path | None = None
    purge_after_done: bool = False
    engine: EngineConfig = field(default_factory=EngineConfig)
    folders: FolderRulesConfig = field(default_factory=FolderRulesConfig)
    providers: tuple[ProviderProfile, ...] = ()
    deadline: date | None = None
    #: [migration] resync_every: done mailboxes are re-synced this often by `run --follow`.
    resync_every: timedelta | None = None
    #: [migration] switch_at: the domain switch; after it `run --follow` runs one final sync.
    switch_at: datetime | None = None
    orders: Mapping[str, OrderInfo] = field(default_factory=dict)
    smtp: SmtpConfig | None = None
    intake: IntakeConfig = field(default_factory=IntakeConfig)
    #: Set when ``[state] database`` is a PostgreSQL URL; *database* is then a notional path
    #: in the configuration's directory, beside which local files (certificates) are kept.
    postgres: PostgresTarget | None = None

    @property
    def state(self) -> Path | PostgresTarget:
        """What :meth:`pecsync.store.checkpoints.CheckpointStore.open` opens."""
        return self.postgres if self.postgres is not None else self.database

    def state_exists(self) -> bool:
        """False only for an SQLite file not created yet (a server is assumed to exist)."""
        return self.postgres is not None or self.database.exists()


T = TypeVar("T")


class _Reader:
    """Typed access to one TOML table with precise error messages."""

    def __init__(self, path: Path, table: str, data: Any, known: set[str]) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{path}: [{table}]: expected a table")
        self.path = path
        self.table = table
        self.data = data
        unknown = sorted(set(data) - known)
        if unknown:
            raise self.error(unknown[0], f"unknown key (known keys: {', '.join(sorted(known))})")

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f"{self.path}: [{self.table}] {key}: {message}")

    def get(self, key: str, kind: type[T], default: T | None = None, *, required: bool = False,
            check: Callable[[T], str | None] | None = None) -> T | None:
        if key not in self.data:
            if required:
                raise self.error(key, "missing (required)")
            return default
        value = self.data[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise self.error(key, f"expected {kind.__name__}, got {value!r}")
        if check is not None:
            problem = check(value)
            if problem:
                raise self.error(key, problem)
        return value  # type: ignore[no-any-return]


def _positive(value: int) -> str | None:
    return None if value > 0 else f"must be greater than 0, got {value}"


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else f"expected a port from 1 to 65535, got {value}"


def _server(path: Path, table: str, data: Any) -> ServerConfig:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [{table}]: missing table (host, port, security ...)")
    r = _Reader(path, table, data,
                {"host", "port", "security", "ca_file", "tls_verify", "master_user", "timeout",
                 "compress"})
    host = r.get("host", str, required=True, check=lambda v: None if v.strip() else "is empty")
    assert host is not None
    security = r.get("security", str, "tls",
                     check=lambda v: None if v in _SECURITY_VALUES
                     else f"expected one of {', '.join(_SECURITY_VALUES)}, got {v!r}")
    assert security is not None
    port = r.get("port", int, _DEFAULT_PORTS[security], check=_port)
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


def _engine(path: Path, data: Any) -> EngineConfig:
    if data is None:
        return EngineConfig()
    d = EngineConfig()
    r = _Reader(path, "engine", data, set(EngineConfig.__dataclass_fields__))
    return EngineConfig(
        batch_max_bytes=r.get("batch_max_bytes", int, d.batch_max_bytes, check=_positive) or 1,
        batch_max_messages=r.get("batch_max_messages", int, d.batch_max_messages,
                                 check=_positive) or 1,
        prefetch_batches=r.get("prefetch_batches", int, d.prefetch_batches,
                               check=lambda v: None if v >= 0 else "must be >= 0") or 0,
        max_inflight_bytes=r.get("max_inflight_bytes", int, d.max_inflight_bytes,
                                 check=_positive) or 1,
        verify=bool(r.get("verify", bool, d.verify)),
        retries=r.get("retries", int, d.retries,
                      check=lambda v: None if v >= 0 else "must be >= 0") or 0,
        retry_initial_seconds=r.get("retry_initial_seconds", float, d.retry_initial_seconds,
                                    check=lambda v: None if v >= 0 else "must be >= 0") or 0.0,
        retry_max_seconds=r.get("retry_max_seconds", float, d.retry_max_seconds,
                                check=lambda v: None if v >= 0 else "must be >= 0") or 0.0,
        max_attempts=r.get("max_attempts", int, d.max_attempts, check=_positive) or 1,
        reconnect_attempts=r.get("reconnect_attempts", int, d.reconnect_attempts,
                                 check=lambda v: None if v >= 0 else "must be >= 0") or 0,
        reconnect_initial_seconds=r.get("reconnect_initial_seconds", float,
                                        d.reconnect_initial_seconds,
                                        check=lambda v: None if v >= 0 else "must be >= 0")
        or 0.0,
        reconnect_max_seconds=r.get("reconnect_max_seconds", float, d.reconnect_max_seconds,
                                    check=lambda v: None if v >= 0 else "must be >= 0") or 0.0,
        workers=r.get("workers", int, d.workers, check=_positive) or 1,
        folders_in_parallel=r.get("folders_in_parallel", int, d.folders_in_parallel,
                                  check=_positive) or 1,
        max_connections_per_host=r.get("max_connections_per_host", int,
                                       d.max_connections_per_host, check=_positive) or 1,
        breaker_failures=r.get("breaker_failures", int, d.breaker_failures,
                               check=lambda v: None if v >= 0 else "must be >= 0 (0: off)")
        or 0,
        lease_seconds=r.get("lease_seconds", float, d.lease_seconds,
                            check=lambda v: None if v >= 4 else "must be at least 4 seconds")
        or d.lease_seconds,
    )


def _folders(path: Path, data: Any) -> FolderRulesConfig:
    if data is None:
        return FolderRulesConfig()
    r = _Reader(path, "folders", data, {"rename", "exclude", "delimiter_substitute",
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


def _providers(path: Path, data: Any) -> tuple[ProviderProfile, ...]:
    import re

    if data is None:
        return ()
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [providers]: expected tables like [providers.aruba]")
    keys = ("two_factor", "invalid_credentials", "destination_full", "transient")
    out = []
    for name, table in data.items():
        r = _Reader(path, f"providers.{name}", table, set(keys))
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


def _migration(path: Path, data: Any) -> date | None:
    if data is None:
        return None
    r = _Reader(path, "migration", data, {"deadline", "resync_every", "switch_at"})
    if "deadline" not in data:
        return None
    value = data["deadline"]
    if not isinstance(value, date):
        raise r.error("deadline", f"expected a date like 2026-12-31 (no quotes), got {value!r}")
    return value


def _orders(path: Path, data: Any) -> dict[str, OrderInfo]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: [orders]: expected tables like [orders.\"Ordine X\"]")
    out: dict[str, OrderInfo] = {}
    for name, table in data.items():
        r = _Reader(path, f"orders.{name}", table, {"display_name", "contacts", "slug",
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


def _when(r: _Reader, key: str) -> datetime | None:
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


def _strings(r: _Reader, key: str) -> tuple[str, ...]:
    items = r.get(key, list, []) or []
    for item in items:
        if not isinstance(item, str):
            raise r.error(key, f"expected a list of strings, got {item!r}")
    return tuple(items)


def _intake(path: Path, data: Any) -> IntakeConfig:
    import ipaddress

    if data is None:
        return IntakeConfig()
    d = IntakeConfig()
    r = _Reader(path, "intake", data, set(IntakeConfig.__dataclass_fields__))
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
                               check=_positive) or 1,
        rate_per_client=r.get("rate_per_client", int, d.rate_per_client, check=_positive) or 1,
        rate_window_seconds=r.get("rate_window_seconds", int, d.rate_window_seconds,
                                  check=_positive) or 1,
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


def _smtp(path: Path, data: Any) -> SmtpConfig | None:
    if data is None:
        return None
    r = _Reader(path, "smtp", data, {"host", "port", "security", "user", "password_file",
                                     "from_address", "ca_file", "timeout"})
    host = r.get("host", str, required=True)
    assert host is not None
    security = r.get("security", str, "starttls",
                     check=lambda v: None if v in _SECURITY_VALUES
                     else f"expected one of {', '.join(_SECURITY_VALUES)}, got {v!r}")
    default_port = {"tls": 465, "starttls": 587, "plain": 25}[security or "starttls"]
    pw = r.get("password_file", str)
    ca = r.get("ca_file", str)
    return SmtpConfig(host=host, port=r.get("port", int, default_port, check=_port) or 587,
                      security=security,  # type: ignore[arg-type]
                      user=r.get("user", str), from_address=r.get("from_address", str,
                                                                  "pecsync@localhost") or "",
                      password_file=(path.parent / pw).resolve() if pw else None,
                      ca_file=(path.parent / ca).resolve() if ca else None,
                      timeout=r.get("timeout", float, 30.0) or 30.0)


def _postgres(p: Path, sr: _Reader, database: str) -> PostgresTarget | None:
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
                          pool_size=sr.get("pool_size", int, 10, check=_positive) or 10)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """``"6h"``, ``"30m"``, ``"1d"``, ``"90s"``, ``"1h30m"`` → timedelta; ValueError otherwise."""
    import re

    parts = re.fullmatch(r"(?:\s*(\d+(?:\.\d+)?)\s*([smhd]))+\s*", text.lower())
    if not parts:
        raise ValueError(f"expected a duration like \"6h\", \"30m\" or \"1d\", got {text!r}")
    seconds = sum(float(n) * _DURATION_UNITS[u]
                  for n, u in re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", text.lower()))
    if seconds <= 0:
        raise ValueError(f"must be longer than 0, got {text!r}")
    return timedelta(seconds=seconds)


def _schedule(path: Path, data: Any) -> tuple[timedelta | None, datetime | None]:
    """``[migration] resync_every`` and ``switch_at`` (a TOML date-time; without an offset it
    is the machine's local time)."""
    if not isinstance(data, Mapping):
        return None, None
    r = _Reader(path, "migration", data, {"deadline", "resync_every", "switch_at"})
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
             "providers", "intake"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{p}: [{unknown[0]}]: unknown table (known: {', '.join(sorted(known))})")
    state = data.get("state")
    if not isinstance(state, Mapping):
        raise ConfigError(f"{p}: [state]: missing table (database = \"pecsync.sqlite3\")")
    sr = _Reader(p, "state", state, {"database", "key_file", "purge_after_done",
                                     "password_file", "sslmode", "sslrootcert", "pool_size"})
    database = sr.get("database", str, required=True)
    assert database is not None
    postgres = _postgres(p, sr, database)
    key_file = sr.get("key_file", str)
    source = _server(p, "source", data.get("source"))
    destination = _server(p, "destination", data.get("destination"))
    engine = _engine(p, data.get("engine"))
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
        folders=_folders(p, data.get("folders")),
        providers=_providers(p, data.get("providers")),
        deadline=_migration(p, data.get("migration")),
        resync_every=_schedule(p, data.get("migration"))[0],
        switch_at=_schedule(p, data.get("migration"))[1],
        orders=_orders(p, data.get("orders")),
        smtp=_smtp(p, data.get("smtp")),
        intake=_intake(p, data.get("intake")),
    )
