"""One IMAP connection's transport: connect (plain, implicit TLS, STARTTLS), COMPRESS, and the
mapping of server refusals and network faults to the typed errors of :mod:`pecsync.errors`.

The other modules of :mod:`pecsync.imap` (auth, folders, bodies, append) send their commands
through a :class:`Connection`; :class:`pecsync.imap.session.ImapSession` puts them together.
Everything here is blocking; the sync layer runs it in worker threads.
"""

from __future__ import annotations

import imaplib
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Protocol, TypeVar

import imapclient
import imapclient.exceptions

from pecsync.config import ServerConfig
from pecsync.errors import ImapError, TlsError, TransientError
from pecsync.imap import compress
from pecsync.imap.classify import Rule
from pecsync.imap.codes import as_text
from pecsync.imap.raw import Answer, Client, RawWire
from pecsync.model import Side

T = TypeVar("T")

READ_BUFFER = 1 << 18


def tls_context(server: ServerConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(server.ca_file) if server.ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not server.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Pipeline(Protocol):
    """Commands sent ahead whose answers are still unread (see :mod:`pecsync.imap.bodies`)."""

    @property
    def in_flight(self) -> bool:
        """Some answers are unread: they must be read before another command's."""

    def drain(self) -> None:
        """Read every answer in flight (keeping what they carry for later)."""

    def forget(self) -> None:
        """Drop what was read ahead and what is in flight (another folder, or no connection)."""


class Connection:
    """The transport of one side of one mailbox, and the state every command needs.

    ``client`` is imapclient's object (None when not connected); the commands pecsync
    writes itself go through :attr:`raw` (:mod:`pecsync.imap.raw`, the one module that
    uses imaplib's internals).
    """

    def __init__(self, server: ServerConfig, side: Side, *, mailbox: str,
                 extra_rules: Sequence[Rule] = ()) -> None:
        self.server = server
        self.side = side
        self.mailbox = mailbox
        self.extra_rules = tuple(extra_rules)
        self._client: Client | None = None
        self._raw: RawWire | None = None
        #: Capabilities after login.
        self.capabilities: frozenset[str] = frozenset()
        #: The folder open (SELECT or EXAMINE), None when none is.
        self.selected: str | None = None
        #: Count of commands sent (for measurements and tests).
        self.commands = 0
        #: True once COMPRESS=DEFLATE is active on this connection.
        self.compressed = False
        #: FETCHes sent ahead, read before any other command's answer (set by the session).
        self.pipeline: Pipeline | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    @property
    def client(self) -> Client:
        """imapclient's object of this connection (connected only)."""
        if self._client is None:
            raise self.error(TransientError, "not connected", hint="will retry")
        return self._client

    @client.setter
    def client(self, client: Client) -> None:  # tests put stand-ins here
        self._client = client

    @property
    def raw(self) -> RawWire:
        """The commands pecsync writes itself on this connection (connected only)."""
        if self._raw is None:
            raise self.error(TransientError, "not connected", hint="will retry")
        return self._raw

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    def forget_read_ahead(self) -> None:
        """Drop the bodies read ahead and the FETCHes in flight: another folder is opened,
        or the connection is gone."""
        if self.pipeline is not None:
            self.pipeline.forget()

    # --- errors -----------------------------------------------------------------------
    def error(self, cls: type[ImapError], message: str, *, folder: str | None = None,
              hint: str | None = None, response: str | None = None) -> ImapError:
        """*cls* naming the mailbox, the folder and the side: ``destination refused ...``."""
        where = "source" if self.side == Side.SRC else "destination"
        return cls(f"{where} {message}", mailbox=self.mailbox, folder=folder, hint=hint,
                   side=self.side.value, response=response)

    @contextmanager
    def guard(self, what: str, folder: str | None = None, *,
              pipelined: bool = False) -> Iterator[None]:
        """Network faults and lost connections become TransientError.  A FETCH sent ahead
        (:meth:`pecsync.imap.bodies.BodyPipeline.fetch_bodies`) is read first, unless
        *pipelined*."""
        try:
            if not pipelined and self.pipeline is not None and self.pipeline.in_flight:
                self.pipeline.drain()
            yield
        except ImapError:
            raise
        except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError) as exc:
            raise self.error(TransientError, f"connection lost during {what}: {as_text(exc)}",
                             folder=folder, hint="will retry") from None
        except imaplib.IMAP4.error as exc:
            # A tagged BAD read by pecsync's own pipelined commands (imapclient's calls map
            # theirs through call()), or a greeting that is not OK ("* BYE too many
            # connections"): the latter is worth retrying.
            cls = TransientError if what == "connect" else ImapError
            raise self.error(cls, f"refused {what}: {as_text(exc)}", folder=folder,
                             response=as_text(exc)) from None
        except ssl.SSLError as exc:
            raise self.error(TransientError, f"TLS failure during {what}: {exc.reason}",
                             folder=folder) from None
        except TimeoutError:
            raise self.error(TransientError, f"timeout during {what}", folder=folder,
                             hint="will retry") from None
        except OSError as exc:
            raise self.error(TransientError,
                             f"network error during {what}: {exc.strerror or exc}",
                             folder=folder, hint="will retry") from None

    def call(self, what: str, fn: Callable[[], T], folder: str | None = None) -> T:
        """*fn* (an imapclient call) as one command: a refusal becomes ImapError."""
        self.commands += 1
        with self.guard(what, folder):
            try:
                return fn()
            except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError):
                raise  # connection lost (BYE): transient (see guard), not a refusal
            except imapclient.exceptions.IMAPClientError as exc:
                raise self.error(ImapError, f"refused {what}: {as_text(exc)}", folder=folder,
                                 response=as_text(exc)) from None

    def answer(self, name: str, tag: bytes) -> Answer:
        """The tagged answer to a command sent through :attr:`raw` (a BAD as a value, see
        :meth:`RawWire.answer`)."""
        return self.raw.answer(name, tag)

    def simple(self, name: str, *args: str | bytes) -> Answer:
        """Send *name* and wait for its tagged answer (see :meth:`answer`)."""
        return self.raw.simple(name, *args)

    # --- connection -------------------------------------------------------------------
    def connect(self) -> None:
        s = self.server
        self.compressed = False
        with self.guard("connect"):
            try:
                use_ssl = s.security == "tls"
                self._client = Client(
                    s.host, port=s.port, ssl=use_ssl,
                    ssl_context=tls_context(s) if use_ssl else None, timeout=s.timeout,
                    use_uid=True)
            except ssl.SSLCertVerificationError as exc:
                raise self.error(
                    TlsError, f"{s.host}:{s.port}: certificate not trusted: {exc.verify_message}",
                    hint="check the host name, or set ca_file to the CA that signed the server "
                         "certificate") from None
            except ssl.SSLError as exc:
                raise self.error(TlsError, f"{s.host}:{s.port}: TLS failed: {exc.reason}",
                                 hint="is this port implicit TLS? (security = \"starttls\" "
                                      "for port 143)") from None
            except ConnectionRefusedError:
                raise self.error(TransientError, f"{s.host}:{s.port}: connection refused",
                                 hint="is the server running? will retry") from None
            except socket.gaierror as exc:
                raise self.error(TransientError, f"{s.host}: host name not found ({exc})",
                                 hint="check host in the configuration") from None
            # Pipelined commands go out in separate writes; with Nagle's algorithm the second
            # one waits for the ACK of the first, which the server sends with its answer: a
            # whole round trip lost on every pipelined pair (measured at +20 ms RTT).
            with suppress(OSError):
                self.client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.client.folder_encode = False
            self.client.normalise_times = False
            self._raw = RawWire(self._client)
            if s.security == "starttls":
                self._starttls()

    def _starttls(self) -> None:
        s = self.server
        if not self.client.has_capability("STARTTLS"):
            raise self.error(
                TlsError, f"{s.host}:{s.port} does not offer STARTTLS",
                hint="refusing to continue without TLS; fix the server or the security "
                     "setting")
        try:
            self.client.starttls(tls_context(s))
        except ssl.SSLCertVerificationError as exc:
            raise self.error(
                TlsError, f"{s.host}:{s.port}: certificate not trusted: {exc.verify_message}",
                hint="check the host name, or set ca_file to the CA that signed the server "
                     "certificate") from None

    def logged_in(self) -> None:
        """After a successful login: read the capabilities, enlarge the read buffer, and
        start COMPRESS when wanted."""
        caps = self.client.capabilities()
        # A larger read buffer.  Safe here: the last command is complete, nothing is left
        # in the old buffer.
        self.raw.read_buffer(READ_BUFFER)
        self.capabilities = frozenset(c.decode().upper() if isinstance(c, bytes) else c.upper()
                                      for c in caps)

    def maybe_compress(self) -> None:
        """COMPRESS=DEFLATE when offered and wanted (``compress`` in the server's table)."""
        mode = self.server.compress
        if mode == "never" or not self.has("COMPRESS=DEFLATE") or self.compressed:
            return
        if mode == "auto" and not compress.worth_it(self.server.host):
            return
        self.commands += 1
        with self.guard("COMPRESS"):
            # Sent by hand: imaplib does not know COMPRESS, and adding it to imaplib's table
            # of commands would change imaplib for the whole process.
            tag = self.raw.begin(b"COMPRESS DEFLATE\r\n")
            if self.raw.answer("COMPRESS", tag)[0] == "OK":  # refused: carry on as is
                self.raw.start_compress(READ_BUFFER)
                self.compressed = True

    def close(self) -> None:
        """Drop the connection without a LOGOUT (it failed or never logged in)."""
        client, self._client, self._raw = self._client, None, None
        self.forget_read_ahead()
        if client is not None:
            with suppress(Exception):
                client.shutdown()

    def logout(self) -> None:
        """Say LOGOUT and close, without waiting for the server's goodbye: every command
        that mattered has been answered, and the wait is a round trip per connection."""
        if self._client is None:
            return
        client, self._client, raw, self._raw = self._client, None, self._raw, None
        self.forget_read_ahead()
        with suppress(Exception):
            if raw is not None:
                raw.logout_and_go()
        with suppress(Exception):
            client.shutdown()

    def greeting_capabilities(self) -> frozenset[str]:
        """Capabilities the server announced before login (greeting or CAPABILITY)."""
        return self.raw.greeting_capabilities()

    def tls_version(self) -> str | None:
        """The TLS version of this connection (``"TLSv1.3"``), None when not encrypted."""
        return self._raw.tls_version() if self._raw is not None else None
