"""The validated configuration: one frozen dataclass per TOML table, with its defaults.

Read by :func:`pecsync.config.load_config` (pecsync/config/load.py); every other module
takes these and never the TOML itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pecsync.config.member_provider import BUILT_IN, MemberProvider

Security = Literal["tls", "starttls", "plain"]


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
class AdminConfig:
    """``[admin]``: the orders' dashboard under ``/admin`` of ``pecsync serve`` (accounts are
    made with ``pecsync users add``)."""

    #: A session ends this many hours after its login.
    session_hours: float = 8.0
    #: Failed logins per account and per client address per window; then HTTP 429.
    rate_per_account: int = 5
    rate_per_client: int = 20
    rate_window_seconds: int = 900


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


#: ``[campaign] reminders``: offsets from ``[migration] deadline`` at which a reminder wave falls
#: due.
DEFAULT_REMINDERS = ("-21d", "-14d", "-7d", "-3d", "-1d")


@dataclass(frozen=True)
class CampaignConfig:
    """``[campaign]``: invitations and reminder waves to members (pecsync.campaign)."""

    #: Wave names (as written, e.g. ``"-7d"``) and their offsets from the deadline, in time
    #: order.
    reminders: tuple[tuple[str, timedelta], ...] = tuple(
        (r, -timedelta(days=int(r[1:-1]))) for r in DEFAULT_REMINDERS)
    #: ``run --follow`` sends waves that fell due every this many seconds; only when the
    #: configuration has a ``[campaign]`` table (*configured*).
    interval_seconds: float = 300.0
    configured: bool = False


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
    admin: AdminConfig = field(default_factory=AdminConfig)
    #: Set when ``[state] database`` is a PostgreSQL URL; *database* is then a notional path
    #: in the configuration's directory, beside which local files (certificates) are kept.
    postgres: PostgresTarget | None = None
    #: [source] provider and [provider_profile]: what members are told about the old provider.
    member_provider: MemberProvider = field(
        default_factory=lambda: BUILT_IN["aruba"])
    #: [campaign]: invitations and reminder waves.
    campaign: CampaignConfig = field(default_factory=CampaignConfig)

    @property
    def state(self) -> Path | PostgresTarget:
        """What :meth:`pecsync.store.checkpoints.CheckpointStore.open` opens."""
        return self.postgres if self.postgres is not None else self.database

    def state_exists(self) -> bool:
        """False only for an SQLite file not created yet (a server is assumed to exist)."""
        return self.postgres is not None or self.database.exists()
