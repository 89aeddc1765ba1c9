"""The configuration, declared once: one frozen dataclass per TOML table, one field per key.

Each key is a field made with :func:`~pecsync.config.declare.setting`: its name is the key,
its annotation the type, then the default, the bounds and the help text.  Read by
:func:`pecsync.config.load_config` (pecsync/config/load.py) through
:class:`~pecsync.config.declare.Table`; every other module takes these and never the TOML
itself.  :data:`TABLES` names which dataclasses each table holds: the loader, the reference
page (scripts/gen_config_reference.py) and tests/unit/test_docs.py read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Literal

from pecsync.config import values as v
from pecsync.config.declare import PORT, each, nonblank, setting
from pecsync.config.member_provider import BUILT_IN, MemberProvider, SourceProvider

Security = Literal["tls", "starttls", "plain"]
Compress = Literal["auto", "always", "never"]
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]


@dataclass(frozen=True)
class ServerConfig:
    """How to reach one IMAP server (``[source]`` or ``[destination]``)."""

    host: str = setting(help="the IMAP server's host name", check=nonblank)
    port: int = setting(help="default: 993 for tls, 143 for starttls and plain", gt=0,
                        le=65535, bounds=PORT,
                        default_by=("security", {"tls": 993, "starttls": 143, "plain": 143}))
    security: Security = setting("tls", help="implicit TLS, STARTTLS or plain (loopback only)")
    ca_file: Path | None = setting(None, must_exist=True,
                                   help="trust this CA instead of the system store")
    tls_verify: bool = setting(True, help="false disables certificate checks")
    master_user: str | None = setting(None, parse=v.optional_text,
                                      help="log in as the member with this master user's "
                                           "password (SASL PLAIN authzid)")
    timeout: float = setting(60.0, gt=0, help="seconds without an answer before the "
                                              "connection counts as lost")
    compress: Compress = setting("auto", help="COMPRESS=DEFLATE (RFC 4978) when offered: auto "
                                              "(only for a server not on this machine), "
                                              "always, never")


@dataclass(frozen=True)
class EngineConfig:
    """Knobs of the copy engine (``[engine]``)."""

    batch_max_bytes: int = setting(16 * 1024 * 1024, gt=0,
                                   help="message bytes in one FETCH/APPEND batch")
    batch_max_messages: int = setting(100, gt=0, help="messages in one FETCH/APPEND batch")
    prefetch_batches: int = setting(1, ge=0, help="batches fetched ahead of the one being "
                                                  "appended")
    max_inflight_bytes: int = setting(64 * 1024 * 1024, gt=0,
                                      help="message bytes held in memory at once across all "
                                           "mailboxes of a run")
    verify: bool = setting(True, help="fetch the copies back and compare hashes")
    retries: int = setting(3, ge=0, help="`copy`: retries after a transient failure")
    retry_initial_seconds: float = setting(60.0, ge=0, help="`run`: first wait after a "
                                                            "transient failure; doubles")
    retry_max_seconds: float = setting(3600.0, ge=0, help="`run`: longest wait between "
                                                          "attempts")
    max_attempts: int = setting(6, gt=0, help="`run`: attempts before a job with transient "
                                              "failures is failed")
    reconnect_attempts: int = setting(5, ge=0, help="reconnects in a row without progress "
                                                    "before the job goes to retry_wait")
    reconnect_initial_seconds: float = setting(1.0, ge=0, help="first wait before such a "
                                                               "reconnect; doubles")
    reconnect_max_seconds: float = setting(30.0, ge=0, help="longest wait before such a "
                                                            "reconnect")
    workers: int = setting(4, gt=0, help="mailboxes copied in parallel by `run` (one whose "
                          "folders are all copied makes room for the next while it reads its "
                          "last copies back)")
    max_connections_per_host: int = setting(12, gt=0, help="connections to one server, shared "
                                                           "by all workers and lanes")
    folders_in_parallel: int = setting(3, gt=0, help="folders of one mailbox copied at once (up to "
                                      "twice that from connections no other mailbox of the "
                                      "run can use)")
    breaker_failures: int = setting(5, ge=0, bounds="must be >= 0 (0: off), got {value}",
                                    help="`run` stops claiming after this many mailboxes in "
                                         "a row fail to log in; 0: off")
    lease_seconds: float = setting(600.0, ge=4,
                                   bounds="must be at least 4 seconds, got {value}",
                                   help="a claimed job belongs to its process this long "
                                        "without renewal")


@dataclass(frozen=True)
class FolderRulesConfig:
    """``[folders]``: rename and exclude rules on logical folder paths (``/`` separated)."""

    rename: Mapping[str, str] = setting(default_factory=dict, parse=v.folder_renames,
                                        help="source path → destination path (children "
                                             "move too)")
    exclude: tuple[str, ...] = setting((), help="fnmatch patterns of folders not copied")
    delimiter_substitute: str = setting("_", check=v.one_character,
                                        help="replaces a destination separator inside a name")
    include_shared: bool = setting(False, help="also copy other users' and shared folders")
    virtual: tuple[str, ...] = setting(("Search/*",), help="virtual folders skipped (besides "
                                                           "special-use \\All)")


@dataclass(frozen=True)
class ProviderProfile:
    """``[providers.NAME]``: a provider's own wordings (regular expressions, case-insensitive)
    for refusals the built-in table does not recognise."""

    name: str
    two_factor: tuple[str, ...] = setting((), check=each(v.regex),
                                          help="2-step verification refusals")
    invalid_credentials: tuple[str, ...] = setting((), check=each(v.regex),
                                                   help="wrong password refusals")
    destination_full: tuple[str, ...] = setting((), check=each(v.regex),
                                                help="destination over quota")
    transient: tuple[str, ...] = setting((), check=each(v.regex), help="try again later")


@dataclass(frozen=True)
class OrderInfo:
    """``[orders."NAME"]``: how an order is addressed in reports, and its intake page."""

    name: str
    display_name: str | None = setting(None, help="the order's name in reports")
    contacts: tuple[str, ...] = setting((), check=each(v.email),
                                        help="who receives its daily report")
    slug: str | None = setting(None, check=v.slug, help="its intake page is /o/<slug>")
    domains: tuple[str, ...] = setting((), check=each(v.domain),
                                       help="its members' domains: on its page a member may "
                                            "type just the local part")


@dataclass(frozen=True)
class IntakeConfig:
    """``[intake]``: the members' self-service page (``pecsync serve``)."""

    opens_at: datetime | None = setting(None, parse=v.utc_moment,
                                        help="the page accepts submissions from")
    closes_at: datetime | None = setting(None, parse=v.utc_moment, help="... and until")
    public_url: str | None = setting(None, help="where members reach the page")
    trusted_proxies: tuple[str, ...] = setting((), check=each(v.network),
                                               help="proxies whose X-Forwarded-For/-Proto "
                                                    "are believed")
    rate_per_address: int = setting(5, gt=0, help="failed source LOGIN checks per member "
                                                  "address from one client per window")
    rate_per_address_ceiling: int = setting(20, gt=0, help="failed checks per member address "
                                                           "across every client per window")
    rate_per_link: int = setting(5, gt=0, help="failed checks through one personal link "
                                               "(/i/<token>) per window")
    rate_per_client: int = setting(30, gt=0, help="submissions per client address per window")
    rate_window_seconds: int = setting(3600, gt=0, help="the window of both")
    contact: str = setting("", help="how members reach the order (shown on every page)")
    enrol_verified: bool = setting(True, help="an address in an order's domains, not on the "
                                              "list, whose password the source accepts, is "
                                              "added to that order and queued "
                                              "(self_enrolled); false: only recorded")
    new_webmail_url: str | None = setting(None, parse=v.optional_text,
                                          help="the new provider's webmail, on the status "
                                               "page after the final sync")
    pow_bits: int = setting(16, ge=0, le=24, help="robot check: proof-of-work bits")
    min_fill_seconds: float = setting(3.0, ge=0, help="no form sent sooner than this after "
                                                      "it showed")
    captcha_script_url: str | None = setting(None, check=v.https_url,
                                             help="external CAPTCHA: the widget's script")
    captcha_site_key: str | None = setting(None, help="external CAPTCHA: the site key")
    captcha_verify_url: str | None = setting(None, check=v.https_url,
                                             help="external CAPTCHA: verification endpoint")
    captcha_field: str = setting("captcha-response", help="the form field the widget fills")
    captcha_secret_file: Path | None = setting(None, help="external CAPTCHA: file with the "
                                                          "secret")


@dataclass(frozen=True)
class AdminConfig:
    """``[admin]``: the orders' dashboard under ``/admin`` of ``pecsync serve`` (accounts are
    made with ``pecsync users add``)."""

    session_hours: float = setting(8.0, gt=0, le=24 * 30,
                                   bounds="expected hours, > 0 and at most 720 (30 days)",
                                   help="a session ends this many hours after its login")
    rate_per_account: int = setting(5, gt=0, help="failed logins per account per window")
    rate_per_client: int = setting(20, gt=0, help="failed logins per client address per "
                                                  "window")
    rate_window_seconds: int = setting(900, gt=0, help="the window of both")


@dataclass(frozen=True)
class SmtpConfig:
    """``[smtp]``: where daily reports are sent from.  The password comes from
    ``$PECSYNC_SMTP_PASSWORD`` or ``password_file``, never from this file."""

    host: str = setting(help="the SMTP server")
    port: int = setting(help="default: 587 for starttls, 465 for tls, 25 for plain", gt=0,
                        le=65535, bounds=PORT,
                        default_by=("security", {"tls": 465, "starttls": 587, "plain": 25}))
    security: Security = setting("starttls", help="STARTTLS, implicit TLS or plain")
    user: str | None = setting(None, help="SMTP login")
    password_file: Path | None = setting(None, help="file with the SMTP password")
    from_address: str = setting("pecsync@localhost", help="the reports' From address")
    ca_file: Path | None = setting(None, help="trust this CA instead of the system store")
    timeout: float = setting(30.0, gt=0, help="seconds without an answer")


@dataclass(frozen=True)
class CampaignConfig:
    """``[campaign]``: invitations and reminder waves to members (pecsync.campaign)."""

    #: Wave names (as written, e.g. ``"-7d"``) and their offsets from the deadline, in time
    #: order.
    reminders: tuple[tuple[str, timedelta], ...] = setting(
        v.reminder_waves(list(v.DEFAULT_REMINDERS)), parse=v.reminder_waves,
        help="offsets from [migration] deadline at which a reminder wave falls due")
    interval_seconds: float = setting(300.0, gt=0, help="`run --follow` sends waves that "
                                                        "fell due this often")
    #: The configuration has a ``[campaign]`` table (only then does ``run --follow`` send).
    configured: bool = False


@dataclass(frozen=True)
class MigrationConfig:
    """``[migration]``: the deadline and the re-sync schedule."""

    deadline: date | None = setting(None, parse=v.toml_date,
                                    help="the day the old provider's service ends")
    resync_every: timedelta | None = setting(None, parse=v.duration,
                                             help="`run --follow` re-syncs done mailboxes "
                                                  "this often")
    switch_at: datetime | None = setting(None, parse=v.local_moment,
                                         help="the domain switch: then one final sync")


@dataclass(frozen=True)
class StateConfig:
    """``[state]``: where the checkpoints live, and the key of stored passwords."""

    database: str = setting(help="an SQLite file, or postgresql://USER@HOST[:PORT]/DB")
    key_file: Path | None = setting(None, help="key that encrypts stored member passwords")
    purge_after_done: bool = setting(False, help="erase a member's stored passwords once the "
                                                 "mailbox is verified")


@dataclass(frozen=True)
class PostgresTarget:
    """``[state] database = "postgresql://USER@HOST[:PORT]/DB"``: a shared PostgreSQL.  The
    password is never in the URL: ``$PECSYNC_DB_PASSWORD`` or ``[state] password_file``."""

    url: str
    password_file: Path | None = setting(None, help="PostgreSQL: file with the password")
    sslmode: SslMode | None = setting(None, help="PostgreSQL: libpq's sslmode")
    sslrootcert: Path | None = setting(None, help="PostgreSQL: CA file")
    pool_size: int = setting(10, gt=0, help="PostgreSQL: connections of one process")

    def __str__(self) -> str:
        return self.url


#: Table name → the dataclasses whose keys it holds (``*``: any name, e.g. [orders."X"]).
TABLES: dict[str, tuple[type, ...]] = {
    "source": (ServerConfig, SourceProvider),
    "provider_profile": (MemberProvider,),
    "destination": (ServerConfig,),
    "state": (StateConfig, PostgresTarget),
    "engine": (EngineConfig,),
    "folders": (FolderRulesConfig,),
    "providers.*": (ProviderProfile,),
    "migration": (MigrationConfig,),
    "orders.*": (OrderInfo,),
    "intake": (IntakeConfig,),
    "admin": (AdminConfig,),
    "smtp": (SmtpConfig,),
    "campaign": (CampaignConfig,),
}


def is_postgres_url(value: str) -> bool:
    return value.startswith(("postgresql://", "postgres://"))


@dataclass(frozen=True)
class Config:
    path: Path
    source: ServerConfig
    destination: ServerConfig
    database: Path
    #: [state]'s own keys (key_file, purge_after_done; database is resolved above).
    state_keys: StateConfig = field(default_factory=lambda: StateConfig(database=""))
    engine: EngineConfig = field(default_factory=EngineConfig)
    folders: FolderRulesConfig = field(default_factory=FolderRulesConfig)
    providers: tuple[ProviderProfile, ...] = ()
    migration: MigrationConfig = field(default_factory=MigrationConfig)
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
    def key_file(self) -> Path | None:
        return self.state_keys.key_file

    @property
    def purge_after_done(self) -> bool:
        return self.state_keys.purge_after_done

    @property
    def deadline(self) -> date | None:
        return self.migration.deadline

    @property
    def resync_every(self) -> timedelta | None:
        """Done mailboxes are re-synced this often by ``run --follow``."""
        return self.migration.resync_every

    @property
    def switch_at(self) -> datetime | None:
        """The domain switch; after it ``run --follow`` runs one final sync."""
        return self.migration.switch_at

    @property
    def state(self) -> Path | PostgresTarget:
        """What :meth:`pecsync.store.checkpoints.CheckpointStore.open` opens."""
        return self.postgres if self.postgres is not None else self.database

    def state_exists(self) -> bool:
        """False only for an SQLite file not created yet (a server is assumed to exist)."""
        return self.postgres is not None or self.database.exists()
