"""One IMAP connection: the only module that imports imapclient (and imaplib).

Everything here is blocking; the sync layer runs it in worker threads.  Each
method maps server refusals and network faults to the typed errors of
:mod:`pecsync.errors`, naming the mailbox, the folder and the side.

Bodies are fetched and appended with pecsync's own code because imapclient
neither parses ``~{n}`` literal8 responses (RFC 3516 BINARY) nor sends them:
Dovecot rewrites NUL bytes in ``BODY[]`` but not in ``BINARY[]``, so a
byte-exact copy of such a message needs both.
"""

from __future__ import annotations

import base64
import hashlib
import imaplib
import re
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import imapclient
import imapclient.exceptions
import imapclient.imap4
import imapclient.tls
from imapclient.response_parser import parse_fetch_response, parse_response

from pecsync.config import ServerConfig
from pecsync.errors import (
    AuthenticationFailed,
    DestinationFull,
    FolderError,
    ImapError,
    LoginDeferred,
    MessageRefused,
    TlsError,
    TransientError,
    TwoFactorRequired,
)
from pecsync.imap import compress, utf7
from pecsync.imap.classify import Failure, Phase, Rule, classify_response
from pecsync.imap.codes import as_text, parse_appenduid, uid_set
from pecsync.imap.nul_bytes import raw_message
from pecsync.model import (
    AppendItem,
    AppendOutcome,
    Credentials,
    FetchedMessage,
    FolderStatus,
    MessageInfo,
    RemoteFolder,
    Secret,
    Side,
)

T = TypeVar("T")

# Raise imaplib's line limit: a 200 KB folded header arrives inside a literal, but some
# servers send long untagged lines (LIST, SEARCH results) too.
imaplib._MAXLINE = 50_000_000  # type: ignore[attr-defined]
# imaplib only sends the commands it knows.
imaplib.Commands.setdefault("COMPRESS", ("AUTH", "SELECTED"))

_READ_BUFFER = 1 << 18
#: Commands sent before their answers are read, at most (pipelined CREATEs).
_PIPELINE_CHUNK = 100
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_UID_RE = re.compile(rb"\bUID (\d+)")
_MESSAGE_ID_RE = re.compile(rb"^message-id:[ \t]*((?:[^\r\n]|\r?\n[ \t])*)", re.I | re.M)


class _GreetingCapabilities(imaplib.IMAP4):
    """imaplib asks for CAPABILITY right after the greeting, even when the greeting already
    lists them (``* OK [CAPABILITY ...]``, as Dovecot's does): one round trip per connection
    for nothing.  Use the greeting's list when there is one.  Only the first time: after
    STARTTLS the list must be asked for again over TLS (RFC 3501 6.2.1), and it is —
    imapclient (>= 4.1) has imaplib's ``starttls`` call this again, which then sends
    CAPABILITY."""

    _greeted = False

    def _get_capabilities(self) -> None:
        if not self._greeted:
            self._greeted = True
            listed = self.untagged_responses.pop("CAPABILITY", None)
            if listed and isinstance(listed[-1], bytes):
                self.capabilities = tuple(listed[-1].decode("ascii", "replace").upper().split())
                return
        super()._get_capabilities()  # type: ignore[misc]


class _PlainImap(_GreetingCapabilities, imapclient.imap4.IMAP4WithTimeout):  # type: ignore[misc]
    pass


class _TlsImap(_GreetingCapabilities, imapclient.tls.IMAP4_TLS):  # type: ignore[misc]
    pass


class _Client(imapclient.IMAPClient):  # type: ignore[misc]
    """imapclient, connecting with :class:`_GreetingCapabilities`."""

    def _create_IMAP4(self) -> imaplib.IMAP4:
        connect_timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _TlsImap(self.host, self.port, self.ssl_context,  # type: ignore[call-arg]
                            connect_timeout)
        return _PlainImap(self.host, self.port, connect_timeout)


def format_internaldate(dt: datetime) -> str:
    """``datetime(2024, 3, 1, 9, 5, 7, tzinfo=+01:00)`` → ``"01-Mar-2024 09:05:07 +0100"``."""
    if dt.tzinfo is None:
        dt = dt.astimezone()
    offset = dt.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return (f"{dt.day:02d}-{_MONTHS[dt.month - 1]}-{dt.year:04d} "
            f"{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d} "
            f"{sign}{minutes // 60:02d}{minutes % 60:02d}")


def message_id_of(body: bytes) -> str | None:
    """The Message-ID header of a raw message (unfolded), or None."""
    end = body.find(b"\r\n\r\n")
    head = body if end < 0 else body[: end + 2]
    m = _MESSAGE_ID_RE.search(head)
    if not m:
        return None
    value = re.sub(rb"\s+", b" ", m.group(1)).strip()
    return value.decode("utf-8", "replace") or None


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def resolve_nul(body: bytes, binary: bytes | None, size: int) -> tuple[bytes, str | None]:
    """The raw message, given its ``BODY[]`` (NUL served as 0x80) and ``BINARY[]`` outputs.

    Returns ``(raw, None)`` when the raw bytes are known, or ``(body, reason)`` when they
    cannot be: the message is copied as served and listed as not verifiable.

    >>> resolve_nul(b"a\\x80b", b"a\\x00b", 3)
    (b'a\\x00b', None)
    """
    if binary is None:
        return body, ("unverifiable: the source server cannot serve this message in BINARY; "
                      "NUL bytes, if any, may have been served as 0x80")
    if binary == body or b"\x00" not in binary:
        # No NUL survived even in BINARY: BODY[] was the raw message.
        return body, None
    if len(binary) == size:
        # Same size as stored: nothing was decoded, so BINARY[] is the raw message.
        return binary, None
    # Some parts were decoded: NULs can only be in the parts BINARY[] left as they are.
    raw = raw_message(body, binary)
    if raw is not None and len(raw) == size:
        return raw, None
    return body, ("unverifiable: the source server serves NUL bytes as 0x80 and this "
                  "message's parts could not be lined up with its BINARY form")


_META_ITEMS = "(UID RFC822.SIZE FLAGS INTERNALDATE)"


_FETCH_LINE_RE = re.compile(rb"^\d+ \((.*)\)\s*$", re.S)
_META_UID_RE = re.compile(rb"(?:^|[ (])UID (\d+)")
_META_SIZE_RE = re.compile(rb"(?:^|[ (])RFC822\.SIZE (\d+)")
_META_FLAGS_RE = re.compile(rb"(?:^|[ (])FLAGS \(([^()]*)\)")
_META_DATE_RE = re.compile(rb'(?:^|[ (])INTERNALDATE "([^"]+)"')
_DATE_RE = re.compile(
    rb"\s*(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d\d):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)$")
_MONTH_NO = {m.encode().lower(): n for n, m in enumerate(_MONTHS, 1)}
_ZONES: dict[bytes, timezone] = {}


def parse_internaldate(raw: bytes) -> datetime:
    """``b"27-Nov-2026 05:54:12 +0100"`` → an aware datetime (offset kept as sent).

    >>> parse_internaldate(b" 7-Mar-2024 09:05:07 -0130").isoformat()
    '2024-03-07T09:05:07-01:30'
    """
    m = _DATE_RE.match(raw)
    if not m:
        raise ValueError(f"not an IMAP date-time: {raw!r}")
    day, mon, year, hh, mi, ss, sign, zh, zm = m.groups()
    zone = _ZONES.get(sign + zh + zm)
    if zone is None:
        minutes = int(zh) * 60 + int(zm)
        zone = timezone(timedelta(minutes=-minutes if sign == b"-" else minutes))
        _ZONES[sign + zh + zm] = zone
    return datetime(int(year), _MONTH_NO[mon.lower()], int(day), int(hh), int(mi), int(ss),
                    tzinfo=zone)


def _parse_meta(data: Sequence[Any]) -> list[MessageInfo]:
    """MessageInfo of each FETCH answer carrying our metadata items, sorted by UID.

    A plain-regex reading of the usual one-line answers (imapclient's general parser cost
    15% of pecsync's CPU in a profile); anything unusual goes to imapclient's parser."""
    out: list[MessageInfo] = []
    try:
        for line in data:
            if line is None:
                continue
            if not isinstance(line, bytes):
                raise ValueError("literal in a metadata answer")
            m = _FETCH_LINE_RE.match(line)
            if not m:
                raise ValueError("unexpected FETCH line")
            items = m.group(1)
            size = _META_SIZE_RE.search(items)
            date = _META_DATE_RE.search(items)
            if size is None or date is None:
                continue  # an unsolicited FLAGS update, not our answer
            uid = _META_UID_RE.search(items)
            flags = _META_FLAGS_RE.search(items)
            if uid is None or flags is None:
                raise ValueError("UID or FLAGS missing")
            out.append(MessageInfo(
                uid=int(uid.group(1)), size=int(size.group(1)),
                flags=tuple(sorted(f.decode("ascii") for f in flags.group(1).split())),
                internaldate=parse_internaldate(date.group(1))))
    except (ValueError, KeyError, UnicodeDecodeError):
        return _parse_meta_general(data)
    out.sort(key=lambda i: i.uid)
    return out


def _parse_meta_general(data: Sequence[Any]) -> list[MessageInfo]:
    resp = parse_fetch_response([d for d in data if d is not None], False, True)
    out = []
    for uid, item in resp.items():
        if b"RFC822.SIZE" not in item or b"INTERNALDATE" not in item:
            continue  # an unsolicited FLAGS update, not our answer
        flags = tuple(sorted(f.decode() if isinstance(f, bytes) else str(f)
                             for f in item.get(b"FLAGS", ())))
        out.append(MessageInfo(uid=int(uid), size=int(item[b"RFC822.SIZE"]), flags=flags,
                               internaldate=item[b"INTERNALDATE"]))
    out.sort(key=lambda m: m.uid)
    return out


def _personal_namespace(personal: Any) -> tuple[str, str]:
    """``(prefix, delimiter)`` of the first personal namespace (``("", "/")`` if none)."""
    if not personal:
        return "", "/"
    prefix, delim = personal[0]
    prefix_s = utf7.decode(prefix) if isinstance(prefix, bytes) else str(prefix)
    delim_s = delim.decode() if isinstance(delim, bytes) else (delim or "/")
    return prefix_s, delim_s


def _namespace_prefixes(*groups: Any) -> tuple[str, ...]:
    """Every prefix of the given NAMESPACE groups (other users', shared), decoded."""
    out: list[str] = []
    for group in groups:
        for entry in group or ():
            prefix = entry[0] if entry else None
            if prefix is None:
                continue
            out.append(utf7.decode(prefix) if isinstance(prefix, bytes) else str(prefix))
    return tuple(out)


def _parse_statuses(rows: Sequence[Any]) -> dict[str, FolderStatus] | None:
    """``{folder: FolderStatus}`` from untagged STATUS answers; None if one is not understood
    (the caller then asks STATUS per folder)."""
    out: dict[str, FolderStatus] = {}
    for row in rows:
        try:
            if isinstance(row, tuple):  # the name came as a literal
                name_raw, rest = row[1], row[2] if len(row) > 2 else b""
                parsed = [name_raw, *parse_response([rest])]
            else:
                parsed = list(parse_response([row]))
            name = parsed[0] if isinstance(parsed[0], bytes) else str(parsed[0]).encode()
            items = parsed[1]
            values = {items[i].upper(): int(items[i + 1]) for i in range(0, len(items), 2)}
        except (ValueError, IndexError, TypeError, AttributeError):
            return None  # an answer we do not understand: fall back to STATUS per folder
        out[utf7.decode(name)] = FolderStatus(uidvalidity=values.get(b"UIDVALIDITY", 0),
                                              uidnext=values.get(b"UIDNEXT", 0),
                                              exists=values.get(b"MESSAGES", 0),
                                              highestmodseq=values.get(b"HIGHESTMODSEQ"))
    return out


def _literals_by_uid(data: Sequence[Any]) -> dict[int, bytes]:
    """``{uid: literal}`` from imaplib's FETCH data (the UID may come before or after the
    literal)."""
    out: dict[int, bytes] = {}
    last_literal: bytes | None = None
    for part in data:
        if isinstance(part, tuple):
            m = _UID_RE.search(part[0])
            if m:
                out[int(m.group(1))] = part[1]
                last_literal = None
            else:
                last_literal = part[1]  # UID comes after the literal
        elif isinstance(part, bytes) and last_literal is not None:
            m = _UID_RE.search(part)
            if m:
                out[int(m.group(1))] = last_literal
            last_literal = None
    return out


def _quote(name: str) -> bytes:
    raw: bytes = utf7.encode(name)
    return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def tls_context(server: ServerConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(server.ca_file) if server.ca_file else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if not server.tls_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ImapSession:
    """A logged-in connection to one side of one mailbox.

    ``ImapSession(cfg.source, Side.SRC, mailbox="rossi@pec.example")`` then
    :meth:`login`.  Not thread-safe: one thread at a time.
    """

    def __init__(self, server: ServerConfig, side: Side, *, mailbox: str,
                 extra_rules: Sequence[Rule] = ()) -> None:
        self.server = server
        self.side = side
        self.mailbox = mailbox
        self.extra_rules = tuple(extra_rules)
        self._client: Any = None
        self.capabilities: frozenset[str] = frozenset()
        self.selected: str | None = None
        self._creds: Credentials | None = None
        #: Count of commands sent (for measurements and tests).
        self.commands = 0
        #: True once COMPRESS=DEFLATE is active on this connection.
        self.compressed = False
        #: Body FETCHes sent and not answered yet: (UIDs asked for, tag), oldest first.
        self._pending: list[tuple[frozenset[int], bytes]] = []
        #: Bodies read (from the selected folder) and not handed out yet, by UID.
        self._bodies: dict[int, bytes] = {}
        #: Prefixes of the "other users" and "shared" namespaces (RFC 2342), known once
        #: :meth:`namespace` or :meth:`survey` has run.
        self.foreign_namespaces: tuple[str, ...] = ()

    # --- errors -----------------------------------------------------------------------
    def _error(self, cls: type[ImapError], message: str, *, folder: str | None = None,
               hint: str | None = None, response: str | None = None) -> ImapError:
        where = "source" if self.side == Side.SRC else "destination"
        return cls(f"{where} {message}", mailbox=self.mailbox, folder=folder, hint=hint,
                   side=self.side.value, response=response)

    @contextmanager
    def _guard(self, what: str, folder: str | None = None, *,
               pipelined: bool = False) -> Iterator[None]:
        """Network faults and lost connections become TransientError.  A FETCH sent ahead
        (:meth:`fetch_bodies`) is read first, unless *pipelined*."""
        try:
            if self._pending and not pipelined:
                self._drain()
            yield
        except ImapError:
            raise
        except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError) as exc:
            raise self._error(TransientError, f"connection lost during {what}: {as_text(exc)}",
                              folder=folder, hint="will retry") from None
        except imaplib.IMAP4.error as exc:
            # A tagged BAD read by pecsync's own pipelined commands (imapclient's calls map
            # theirs through _call), or a greeting that is not OK ("* BYE too many
            # connections"): the latter is worth retrying.
            cls = TransientError if what == "connect" else ImapError
            raise self._error(cls, f"refused {what}: {as_text(exc)}", folder=folder,
                              response=as_text(exc)) from None
        except ssl.SSLError as exc:
            raise self._error(TransientError, f"TLS failure during {what}: {exc.reason}",
                              folder=folder) from None
        except TimeoutError:
            raise self._error(TransientError, f"timeout during {what}", folder=folder,
                              hint="will retry") from None
        except OSError as exc:
            raise self._error(TransientError,
                              f"network error during {what}: {exc.strerror or exc}",
                              folder=folder, hint="will retry") from None

    def _call(self, what: str, fn: Callable[[], T], folder: str | None = None) -> T:
        self.commands += 1
        with self._guard(what, folder):
            try:
                return fn()
            except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError):
                raise  # connection lost (BYE): transient (see _guard), not a refusal
            except imapclient.exceptions.IMAPClientError as exc:
                raise self._error(ImapError, f"refused {what}: {as_text(exc)}", folder=folder,
                                  response=as_text(exc)) from None

    # --- connection -------------------------------------------------------------------
    def connect(self) -> None:
        s = self.server
        self.compressed = False
        with self._guard("connect"):
            try:
                use_ssl = s.security == "tls"
                self._client = _Client(
                    s.host, port=s.port, ssl=use_ssl,
                    ssl_context=tls_context(s) if use_ssl else None, timeout=s.timeout,
                    use_uid=True)
            except ssl.SSLCertVerificationError as exc:
                raise self._error(
                    TlsError, f"{s.host}:{s.port}: certificate not trusted: {exc.verify_message}",
                    hint="check the host name, or set ca_file to the CA that signed the server "
                         "certificate") from None
            except ssl.SSLError as exc:
                raise self._error(TlsError, f"{s.host}:{s.port}: TLS failed: {exc.reason}",
                                  hint="is this port implicit TLS? (security = \"starttls\" "
                                       "for port 143)") from None
            except ConnectionRefusedError:
                raise self._error(TransientError, f"{s.host}:{s.port}: connection refused",
                                  hint="is the server running? will retry") from None
            except socket.gaierror as exc:
                raise self._error(TransientError, f"{s.host}: host name not found ({exc})",
                                  hint="check host in the configuration") from None
            # Pipelined commands go out in separate writes; with Nagle's algorithm the second
            # one waits for the ACK of the first, which the server sends with its answer: a
            # whole round trip lost on every pipelined pair (measured at +20 ms RTT).
            with suppress(OSError):
                self._client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._client.folder_encode = False
            self._client.normalise_times = False
            # imapclient sets imaplib's debug level to 5, which makes imaplib build a repr()
            # of every response — every message body — only for a logger that drops it: more
            # than half of pecsync's CPU time in a profile.  pecsync never wants that trace
            # (it would carry message content, and the LOGIN command).
            self._client._imap.debug = 0
            if s.security == "starttls":
                if not self._client.has_capability("STARTTLS"):
                    raise self._error(
                        TlsError, f"{s.host}:{s.port} does not offer STARTTLS",
                        hint="refusing to continue without TLS; fix the server or the security "
                             "setting")
                try:
                    self._client.starttls(tls_context(s))
                except ssl.SSLCertVerificationError as exc:
                    raise self._error(
                        TlsError,
                        f"{s.host}:{s.port}: certificate not trusted: {exc.verify_message}",
                        hint="check the host name, or set ca_file to the CA that signed the "
                             "server certificate") from None

    def login(self, creds: Credentials) -> None:
        """Connect and log in; refusals are classified (wrong password, 2-step verification)."""
        self._creds = creds
        try:
            self._login(creds)
        except BaseException:
            self._close()
            raise

    def _close(self) -> None:
        """Drop the connection without a LOGOUT (it failed or never logged in)."""
        client, self._client = self._client, None
        if client is not None:
            with suppress(Exception):
                client.shutdown()

    def _login(self, creds: Credentials) -> None:
        if self._client is None:
            self.connect()
        client = self._client
        self.commands += 1
        # imaplib sends LOGIN's arguments as ASCII: other characters go by SASL PLAIN (UTF-8,
        # RFC 4616) when the server offers it, else as UTF-8 literals of LOGIN.
        ascii_only = creds.user.isascii() and creds.password.reveal().isascii()
        plain = self._pre_auth("AUTH=PLAIN")
        literal = False
        with self._guard("login"):
            try:
                sasl = bool(creds.master_user) or not ascii_only
                if sasl and plain and self._pre_auth("SASL-IR"):
                    self._plain_login_ir(creds.user if creds.master_user else "",
                                         creds.master_user or creds.user, creds.password)
                elif sasl and (plain or creds.master_user):
                    client.plain_login(creds.master_user or creds.user, creds.password.reveal(),
                                       authorization_identity=creds.user if creds.master_user
                                       else None)
                elif ascii_only:
                    client.login(creds.user, creds.password.reveal())
                else:
                    literal = True
                    self._login_literal(creds.user, creds.password)
            except imapclient.exceptions.LoginError as exc:
                text = as_text(exc)
                self._raise_login_refusal(text, creds, literal=literal)
            except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError):
                raise  # connection lost during LOGIN: transient, not a refused password
            except imapclient.exceptions.IMAPClientError as exc:
                self._raise_login_refusal(as_text(exc), creds, literal=literal)
            except UnicodeError:
                # Never the exception's text: it quotes a character of the password and
                # its position.  (A str that is not UTF-8 text: an undecodable byte read
                # from the environment or a terminal, kept as a lone surrogate.)
                raise self._error(
                    AuthenticationFailed,
                    f"cannot log in as {self._who(creds)}: the password or user name is not "
                    f"valid text (an undecodable byte?), so it cannot be sent",
                    hint="enter the password again as UTF-8 text") from None
            caps = client.capabilities()
            # A larger read buffer: literals of megabytes arrive in far fewer reads.  Safe
            # here: the last command is complete, nothing is left in the old buffer.
            imap = client._imap
            old = imap.file
            imap.file = imap.sock.makefile("rb", buffering=_READ_BUFFER)
            old.close()
        self.capabilities = frozenset(c.decode().upper() if isinstance(c, bytes) else c.upper()
                                      for c in caps)
        self._maybe_compress()

    def _maybe_compress(self) -> None:
        """COMPRESS=DEFLATE when offered and wanted (``compress`` in the server's table)."""
        mode = self.server.compress
        if mode == "never" or not self.has("COMPRESS=DEFLATE") or self.compressed:
            return
        if mode == "auto" and not compress.worth_it(self.server.host):
            return
        self.commands += 1
        with self._guard("COMPRESS"):
            if self._simple("COMPRESS", "DEFLATE")[0] == "OK":  # refused: carry on as is
                compress.start(self._client._imap, _READ_BUFFER)
                self.compressed = True

    def _answer(self, name: str, tag: bytes) -> tuple[str, list[Any]]:
        """The tagged answer to a command sent with imaplib's ``_command``: a BAD comes back
        as ``("BAD", [text])`` like a NO, instead of an exception; a lost connection still
        raises (``_guard`` makes it transient)."""
        try:
            typ, data = self._client._imap._command_complete(name, tag)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as exc:
            return "BAD", [str(exc).encode()]
        return str(typ), list(data)

    def _simple(self, name: str, *args: str | bytes) -> tuple[str, list[Any]]:
        """Send *name* and wait for its tagged answer (see :meth:`_answer`)."""
        return self._answer(name, self._client._imap._command(name, *args))

    def _pre_auth(self, capability: str) -> bool:
        """A capability the server announced before login (greeting or CAPABILITY)."""
        caps = self._client._imap.capabilities
        return capability.upper() in {c.upper() for c in caps}

    def _plain_login_ir(self, authzid: str, authcid: str, password: Secret) -> None:
        """``AUTHENTICATE PLAIN <initial response>`` (SASL-IR, RFC 4959): one round trip
        instead of two.  A refusal raises imapclient's LoginError, as its own login does."""
        token = base64.b64encode(f"{authzid}\0{authcid}\0{password.reveal()}".encode())
        try:
            typ, data = self._simple("AUTHENTICATE", "PLAIN", token)
        finally:
            del token
        if typ != "OK":
            raise imapclient.exceptions.LoginError(as_text(data))
        self._client._imap.state = "AUTH"

    def _login_literal(self, user: str, password: Secret) -> None:
        """``LOGIN`` with both arguments as UTF-8 literals, for a server that offers no SASL
        PLAIN (imaplib would send them as ASCII only).  A NO raises imapclient's LoginError,
        as its own login does; a BAD (the server does not take these bytes) raises
        :class:`AuthenticationFailed` without the server's words, which could quote them."""
        imap = self._client._imap
        tag = imap._new_tag()
        imap.send(tag + b" LOGIN")
        args = [user.encode(), password.reveal().encode()]
        try:
            for arg in args:
                imap.send(b" {" + str(len(arg)).encode() + b"}\r\n")
                if not self._await_continuation(imap, tag):
                    break
                imap.send(arg)
            else:
                imap.send(b"\r\n")
        finally:
            del args
        typ, data = self._answer("LOGIN", tag)
        if typ == "BAD":
            raise self._error(
                AuthenticationFailed,
                f"login refused for {user}: the password has characters (not ASCII) that this "
                f"server's LOGIN cannot take, and it offers no AUTHENTICATE PLAIN",
                hint="use a password of ASCII characters only, or a master user")
        if typ != "OK":
            raise imapclient.exceptions.LoginError(as_text(data))
        imap.state = "AUTH"

    @staticmethod
    def _who(creds: Credentials) -> str:
        return creds.user if not creds.master_user else f"{creds.user} (as master user)"

    def _raise_login_refusal(self, text: str, creds: Credentials, *, literal: bool = False
                             ) -> None:
        text = re.sub(r"^b['\"](.*)['\"]$", r"\1", text.strip())
        who = self._who(creds)
        failure = classify_response(Phase.LOGIN, text, self.extra_rules)
        if failure == Failure.TWO_FACTOR:
            raise self._error(TwoFactorRequired, f"login refused for {who}: {text}",
                              hint="2-step verification is on: turn it off or use an app "
                                   "password", response=text)
        if failure in (Failure.INVALID_CREDENTIALS, Failure.ACCOUNT_DISABLED, Failure.FATAL):
            hint = "check the user name and password"
            if literal:
                hint += ("; the password has characters that are not ASCII, which a server "
                         "without AUTHENTICATE PLAIN may not take over LOGIN")
            raise self._error(AuthenticationFailed, f"login refused for {who}: {text}",
                              hint=hint, response=text)
        raise self._error(LoginDeferred, f"login failed for {who}: {text}", hint="will retry",
                          response=text)

    def logout(self) -> None:
        """Say LOGOUT and close, without waiting for the server's goodbye: every command
        that mattered has been answered, and the wait is a round trip per connection."""
        if self._client is None:
            return
        client, self._client = self._client, None
        self._pending.clear()
        with suppress(Exception):
            imap = client._imap
            imap.send(imap._new_tag() + b" LOGOUT\r\n")
        with suppress(Exception):
            client.shutdown()

    def has(self, capability: str) -> bool:
        return capability.upper() in self.capabilities

    def greeting_capabilities(self) -> frozenset[str]:
        """Capabilities the server announced before login (greeting or CAPABILITY), for
        ``pecsync check``."""
        return frozenset(str(c).upper() for c in self._client._imap.capabilities)

    def tls_version(self) -> str | None:
        """The TLS version of this connection (``"TLSv1.3"``), None when not encrypted."""
        sock = self._client._imap.sock if self._client is not None else None
        return sock.version() if isinstance(sock, ssl.SSLSocket) else None

    def namespaces(self) -> dict[str, list[tuple[str, str]]]:
        """Every NAMESPACE group (``pecsync check``): ``{"personal": [("INBOX.", ".")],
        "other users": [...], "shared": [...]}``; empty without NAMESPACE."""
        if not self.has("NAMESPACE"):
            return {}
        groups = self._call("NAMESPACE", self._client.namespace)
        out: dict[str, list[tuple[str, str]]] = {}
        for kind, group in zip(("personal", "other users", "shared"), groups, strict=False):
            out[kind] = [_personal_namespace([entry]) for entry in group or ()]
        return out

    def append_limit(self) -> int | None:
        """The server's APPENDLIMIT (RFC 7889) in bytes, if it announces one."""
        for cap in self.capabilities:
            if cap.startswith("APPENDLIMIT="):
                value = cap.split("=", 1)[1]
                return int(value) if value.isdigit() else None
        return None

    # --- folders ----------------------------------------------------------------------
    def namespace(self) -> tuple[str, str]:
        """Personal namespace ``(prefix, delimiter)``, e.g. ``("INBOX.", ".")``."""
        if not self.has("NAMESPACE"):
            folders = self.list_folders()
            delim = next((f.delimiter for f in folders if f.delimiter), "/")
            return "", delim or "/"
        ns = self._call("NAMESPACE", self._client.namespace)
        self.foreign_namespaces = _namespace_prefixes(ns.other, ns.shared)
        return _personal_namespace(ns.personal or ns[0])

    def survey(self) -> tuple[tuple[str, str], list[RemoteFolder],
                              dict[str, FolderStatus] | None]:
        """:meth:`namespace`, :meth:`list_folders` and :meth:`statuses` — in one round trip
        when the server offers NAMESPACE and LIST-STATUS (NAMESPACE and ``LIST ... RETURN
        (STATUS ...)`` are pipelined; the LIST answers carry the folder list too)."""
        if not (self.has("NAMESPACE") and self.has("LIST-STATUS")):
            return self.namespace(), self.list_folders(), self.statuses()
        ret = "(SPECIAL-USE STATUS" if self.has("SPECIAL-USE") else "(STATUS"
        self.commands += 2
        with self._guard("LIST"):
            imap = self._client._imap
            for key in ("NAMESPACE", "LIST", "STATUS"):
                imap.untagged_responses.pop(key, None)
            t_ns = imap._command("NAMESPACE")
            t_list = imap._command("LIST", '""', '"*"', "RETURN", ret,
                                   "(MESSAGES", "UIDNEXT", "UIDVALIDITY" + self._modseq_item()
                                   + "))")
            typs = [self._answer("NAMESPACE", t_ns)[0], self._answer("LIST", t_list)[0]]
            ns_data = imap.untagged_responses.pop("NAMESPACE", [])
            list_rows = imap.untagged_responses.pop("LIST", [])
            status_rows = imap.untagged_responses.pop("STATUS", [])
        if typs != ["OK", "OK"]:
            return self.namespace(), self.list_folders(), self.statuses()
        parsed = list(parse_response([d for d in ns_data if d is not None]))
        namespace = _personal_namespace(parsed[0] if parsed else None)
        self.foreign_namespaces = _namespace_prefixes(*parsed[1:3])
        folders = self._remote_folders(self._client._proc_folder_list(list_rows))
        return namespace, folders, _parse_statuses(status_rows)

    def list_folders(self) -> list[RemoteFolder]:
        """Every folder, names decoded: ``[RemoteFolder("INBOX.Sent", ".", {"\\\\Sent"}), ...]``"""
        return self._remote_folders(self._call("LIST", lambda: self._client.list_folders()))

    def _remote_folders(self, rows: Sequence[Any]) -> list[RemoteFolder]:
        out = []
        for flags, delim, name in rows:
            raw = name if isinstance(name, bytes) else str(name).encode()
            try:
                decoded = utf7.decode(raw)
            except ValueError as exc:
                raise self._error(
                    FolderError, f"folder name {raw!r} is not valid modified UTF-7 ({exc})",
                    hint="rename the folder on the server; pecsync cannot address it "
                         "reliably") from None
            out.append(RemoteFolder(
                name=decoded,
                delimiter=(delim.decode() if isinstance(delim, bytes) else delim) or None,
                flags=frozenset(f.decode() if isinstance(f, bytes) else str(f) for f in flags)))
        return out

    def create_folder(self, name: str) -> None:
        self.create_folders([name])

    def create_folders(self, names: Sequence[str]) -> None:
        """CREATE each of *names* (parents before children), pipelined: one round trip for
        the whole tree.  Every answer is read before the first refusal is raised."""
        refused: list[tuple[str, str]] = []
        self.commands += len(names)
        with self._guard("CREATE", names[0] if len(names) == 1 else None):
            imap = self._client._imap
            # In chunks: a few thousand unread answers could fill both socket buffers.
            for start in range(0, len(names), _PIPELINE_CHUNK):
                chunk = names[start:start + _PIPELINE_CHUNK]
                tags = [(name, imap._command("CREATE", _quote(name))) for name in chunk]
                for name, tag in tags:
                    typ, data = self._answer("CREATE", tag)
                    text = as_text(data)
                    if typ != "OK" and not ("ALREADYEXISTS" in text.upper()
                                            or "already exists" in text.lower()):
                        refused.append((name, text))
        if refused:
            name, text = refused[0]
            raise self._error(FolderError, f"cannot create folder: {text}", folder=name,
                              response=text)

    def _open(self, name: str, readonly: bool) -> FolderStatus:
        what = "EXAMINE" if readonly else "SELECT"
        self.commands += 1
        with self._guard(what, name):
            self._bodies.clear()
            try:
                resp = self._client.select_folder(utf7.encode(name), readonly=readonly)
            except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError):
                raise  # connection lost: transient (see _guard), not a folder problem
            except imapclient.exceptions.IMAPClientError as exc:
                self.selected = None
                raise self._error(FolderError, f"cannot open folder ({what}): {as_text(exc)}",
                                  folder=name, hint="check the folder name and rules",
                                  response=as_text(exc)) from None
        self.selected = name
        return self._select_status(resp)

    @staticmethod
    def _select_status(resp: dict[bytes, Any]) -> FolderStatus:
        perm = resp.get(b"PERMANENTFLAGS", ())
        return FolderStatus(
            uidvalidity=int(resp.get(b"UIDVALIDITY", 0)),
            uidnext=int(resp.get(b"UIDNEXT", 0)),
            exists=int(resp.get(b"EXISTS", 0)),
            permanentflags=frozenset(f.decode() if isinstance(f, bytes) else str(f)
                                     for f in perm))

    def examine(self, name: str) -> FolderStatus:
        """Open read-only: the source is only ever EXAMINEd, never SELECTed."""
        return self._open(name, readonly=True)

    def select(self, name: str) -> FolderStatus:
        return self._open(name, readonly=False)

    def status(self, name: str) -> FolderStatus:
        """STATUS (UIDVALIDITY UIDNEXT MESSAGES): one round trip, folder not opened."""
        self.commands += 1
        with self._guard("STATUS", name):
            try:
                resp = self._client.folder_status(
                    utf7.encode(name), [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"]
                    + ([b"HIGHESTMODSEQ"] if self.has("CONDSTORE") else []))
            except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError):
                raise  # connection lost: transient (see _guard), not a folder problem
            except imapclient.exceptions.IMAPClientError as exc:
                raise self._error(FolderError, f"cannot read folder status: {as_text(exc)}",
                                  folder=name, response=as_text(exc)) from None
        modseq = resp.get(b"HIGHESTMODSEQ")
        return FolderStatus(uidvalidity=int(resp.get(b"UIDVALIDITY", 0)),
                            uidnext=int(resp.get(b"UIDNEXT", 0)),
                            exists=int(resp.get(b"MESSAGES", 0)),
                            highestmodseq=None if modseq is None else int(modseq))

    def _modseq_item(self) -> str:
        """`` HIGHESTMODSEQ`` for STATUS item lists when the server offers CONDSTORE."""
        return " HIGHESTMODSEQ" if self.has("CONDSTORE") else ""

    def statuses(self) -> dict[str, FolderStatus] | None:
        """STATUS of every folder in one round trip (LIST-STATUS, RFC 5819), or None when the
        server does not offer it: ``{"INBOX": FolderStatus(uidvalidity=..., ...), ...}``."""
        if not self.has("LIST-STATUS"):
            return None
        self.commands += 1
        with self._guard("LIST-STATUS"):
            imap = self._client._imap
            typ, _ = imap._simple_command("LIST", '""', '"*"', "RETURN",
                                             "(STATUS", "(MESSAGES", "UIDNEXT",
                                             "UIDVALIDITY" + self._modseq_item() + "))")
            imap.untagged_responses.pop("LIST", None)
            rows = imap.untagged_responses.pop("STATUS", [])
        if typ != "OK":
            return None
        return _parse_statuses(rows)

    # --- messages ---------------------------------------------------------------------
    def fetch_meta(self, uids: str) -> list[MessageInfo]:
        """UID, size, flags and INTERNALDATE of *uids* (an IMAP UID set like ``"5:*"``),
        sorted by UID.  No body is transferred."""
        folder = self.selected
        self.commands += 1
        with self._guard("FETCH", folder):
            imap = self._client._imap
            typ, data = imap.uid("FETCH", uids, _META_ITEMS)
            if typ != "OK":
                raise self._error(ImapError, f"refused FETCH: {as_text(data)}", folder=folder,
                                  response=as_text(data))
            imap.untagged_responses.pop("FETCH", None)
            return _parse_meta(data)

    def fetch_flags(self, uids: str, changedsince: int | None = None
                    ) -> dict[int, tuple[str, ...]]:
        """``{uid: flags}`` of *uids* in the selected folder; with *changedsince* (CONDSTORE,
        RFC 7162) only the messages whose flags changed after that mod-sequence."""
        folder = self.selected
        self.commands += 1
        with self._guard("FETCH", folder):
            imap = self._client._imap
            args = [uids, "(UID FLAGS)"]
            if changedsince is not None:
                args.append(f"(CHANGEDSINCE {changedsince})")
            typ, data = imap.uid("FETCH", *args)
            if typ != "OK":
                raise self._error(ImapError, f"refused FETCH FLAGS: {as_text(data)}",
                                  folder=folder, response=as_text(data))
            imap.untagged_responses.pop("FETCH", None)
        # Keyed by sequence number, so that an answer's UID is read from the answer itself.
        resp = parse_fetch_response([d for d in data if d is not None], False, False)
        out: dict[int, tuple[str, ...]] = {}
        for item in resp.values():
            if b"UID" not in item:
                continue  # an unsolicited FETCH (another session's change): no UID to trust
            out[int(item[b"UID"])] = tuple(sorted(f.decode() if isinstance(f, bytes) else str(f)
                                         for f in item.get(b"FLAGS", ())))
        return out

    def search_uids(self, uids: str) -> set[int]:
        """The UIDs of *uids* (a UID set) that exist in the selected folder (UID SEARCH)."""
        folder = self.selected
        found = self._call("SEARCH", lambda: self._client.search(["UID", uids]), folder)
        return {int(u) for u in found}

    def change_flags(self, uids: Sequence[int], flags: Sequence[str], *, add: bool) -> None:
        """``UID STORE <uids> +FLAGS.SILENT (<flags>)`` (or ``-FLAGS``): change only these
        flags, leaving every other flag as it is.  Destination only."""
        if self.side != Side.DST:
            raise ValueError("the source is read-only: no STORE there")
        folder = self.selected
        fn = self._client.add_flags if add else self._client.remove_flags
        self._call("STORE", lambda: fn(uid_set(list(uids)), list(flags), silent=True), folder)

    def examine_with_meta(self, name: str, first_uid: int
                          ) -> tuple[FolderStatus, list[MessageInfo]]:
        """EXAMINE *name* and fetch the metadata of UIDs ``first_uid:*`` in one round trip
        (the two commands are pipelined).  Like :meth:`examine` then :meth:`fetch_meta`."""
        self.commands += 2
        with self._guard("EXAMINE", name):
            self._bodies.clear()
            imap = self._client._imap
            imap.untagged_responses = {}
            # imaplib refuses UID outside SELECTED state; the server runs the commands in
            # order, so the FETCH applies to the folder the EXAMINE opens.
            state, imap.state = imap.state, "SELECTED"
            try:
                t_open = imap._command("EXAMINE", _quote(name))
                t_fetch = imap._command("UID", "FETCH", f"{first_uid}:*", _META_ITEMS)
            finally:
                imap.state = state
            typ, data = self._answer("EXAMINE", t_open)
            if typ != "OK":
                self._answer("FETCH", t_fetch)  # refused too (no folder open): read it
                imap.untagged_responses = {}
                self.selected = None
                text = as_text(data)
                raise self._error(FolderError, f"cannot open folder (EXAMINE): {text}",
                                  folder=name, hint="check the folder name and rules",
                                  response=text)
            status = self._select_status(self._client._process_select_response(
                {k: v for k, v in imap.untagged_responses.items() if k != "FETCH"}))
            imap.state = "SELECTED"
            imap.is_readonly = True
            self.selected = name
            imap.untagged_responses = {}
            typ, data = self._answer("FETCH", t_fetch)
            if typ != "OK":
                raise self._error(ImapError, f"refused FETCH: {as_text(data)}", folder=name,
                                  response=as_text(data))
            fetched = imap.untagged_responses.pop("FETCH", [])
            imap.untagged_responses = {}
        return status, _parse_meta(fetched) if status.exists else []

    def fetch_bodies(self, infos: Sequence[MessageInfo], *,
                     then: Sequence[MessageInfo] = ()) -> list[FetchedMessage]:
        """Raw bytes of the given messages, in the order given, with SHA-256 and Message-ID.

        ``BODY.PEEK[]`` (PEEK: the source's ``\\Seen`` never changes) is the raw message —
        except that Dovecot serves a NUL byte as 0x80 there.  ``BINARY[]`` keeps NULs but
        decodes base64/quoted-printable parts, so it is not the raw message either.  So only
        a body containing 0x80 is probed with ``BINARY.PEEK[]`` (see :func:`resolve_nul`).

        *then*, the batch the caller will ask for next, is requested before this one is read
        (pipelining: the server works on it while this batch travels and is processed; its
        bytes wait in the socket buffers, not in memory, until that next call).
        """
        if not infos:
            return []
        folder = self.selected
        uids = [i.uid for i in infos]
        with self._guard("FETCH", folder, pipelined=True):
            for batch in (uids, [i.uid for i in then]):
                if batch and not self._requested(batch):
                    self._pending.append((frozenset(batch), self._send_fetch(uid_set(batch))))
            # Dovecot runs pipelined FETCHes concurrently: answers of the next batch may come
            # before this one's tagged OK, so bodies are sorted out by UID, not by command.
            while self._pending and not all(u in self._bodies for u in uids):
                self._complete_fetch()
            bodies = {u: self._bodies.pop(u) for u in uids if u in self._bodies}
        for info in infos:
            if info.uid not in bodies:
                raise self._error(TransientError,
                                  f"message uid {info.uid} vanished during FETCH",
                                  folder=folder, hint="it was probably expunged; will retry")
        probe = [i.uid for i in infos if b"\x80" in bodies[i.uid]] if self.has("BINARY") else []
        binaries = self.fetch_binaries(probe) if probe else {}
        out = []
        for info in infos:
            body = bodies[info.uid]
            note = None
            if info.uid in binaries:
                body, note = resolve_nul(body, binaries[info.uid], info.size)
            out.append(FetchedMessage(info=info, body=body, sha256=fingerprint(body),
                                      message_id=message_id_of(body), note=note))
        return out

    def _send_fetch(self, key: str) -> bytes:
        """Send ``UID FETCH key (BODY.PEEK[])`` without waiting; returns the tag."""
        self.commands += 1
        tag: bytes = self._client._imap._command("UID", "FETCH", key, "(BODY.PEEK[])")
        return tag

    def _requested(self, uids: Sequence[int]) -> bool:
        """Every one of *uids* is already read or asked for by a FETCH in flight."""
        asked = set(self._bodies)
        for wanted, _ in self._pending:
            asked |= wanted
        return all(u in asked for u in uids)

    def _complete_fetch(self) -> None:
        """Read up to the tagged answer of the oldest FETCH in flight; keep every body read
        (whichever FETCH it answers) in ``self._bodies``."""
        _, tag = self._pending.pop(0)
        typ, tagged = self._answer("FETCH", tag)
        imap = self._client._imap
        self._bodies.update(_literals_by_uid(imap.untagged_responses.pop("FETCH", [])))
        if typ != "OK":
            raise self._error(ImapError, f"refused FETCH: {as_text(tagged)}",
                              folder=self.selected, response=as_text(tagged))

    def _drain(self) -> None:
        """Read the answers of FETCHes sent ahead, so that another command can be read; the
        bodies are kept for the :meth:`fetch_bodies` call that asks for them."""
        while self._pending:
            self._complete_fetch()

    def fetch_binaries(self, uids: Sequence[int]) -> dict[int, bytes | None]:
        """``BINARY.PEEK[]`` of several messages: ``{uid: raw bytes, or None when the server
        cannot decode it}``.  One command for all of them; when that fails (one broken message
        makes Dovecot drop the connection, see :meth:`_binary`), one per message."""
        with self._guard("FETCH", self.selected, pipelined=True):
            self._drain()  # a batch fetched ahead is read first: its failures are this FETCH's
        got = self._binary(uids) if len(uids) > 1 else None
        if got is not None and set(got) >= set(uids):
            return {u: got[u] for u in uids}
        return {u: (self._binary([u]) or {}).get(u) for u in uids}

    def _binary(self, uids: Sequence[int]) -> dict[int, bytes] | None:
        """One ``UID FETCH (BINARY.PEEK[])``: ``{uid: bytes}``, or None when it failed.

        Dovecot answers a BINARY fetch of a message with broken quoted-printable with BYE
        and closes the connection: then reconnect, re-open the folder and return None."""
        folder = self.selected
        imap = self._client._imap
        self.commands += 1
        try:
            typ, data = imap.uid("FETCH", uid_set(list(uids)), "(BINARY.PEEK[])")
        except (imaplib.IMAP4.abort, OSError):
            self._reopen(folder)
            return None
        except imaplib.IMAP4.error:
            typ, data = "BAD", []
        finally:
            imap.untagged_responses.pop("FETCH", None)  # never read by the next FETCH
        return _literals_by_uid(data) if typ == "OK" else None

    def _reopen(self, folder: str | None) -> None:
        """Reconnect after the server closed the connection, back to the same folder."""
        creds = self._creds
        with suppress(Exception):
            self._client.shutdown()
        self._client = None
        self._pending.clear()
        assert creds is not None
        self.login(creds)
        if folder is not None:
            self.examine(folder)

    def append(self, folder: str, items: Sequence[AppendItem]) -> AppendOutcome:
        """APPEND *items* to *folder*, in order: one MULTIAPPEND command when the server
        offers it, else one APPEND per message.

        Returns what was stored (see :class:`AppendOutcome`): a tagged NO is a value there
        (``refused``: :class:`DestinationFull` or :class:`MessageRefused`), not an exception.
        Per RFC 3502 a refused MULTIAPPEND stores none of its messages; without MULTIAPPEND
        the messages before the refused one *are* stored.  Messages after a refused one are
        never sent.  A lost connection raises :class:`TransientError`: then it is unknown
        what was stored (reconcile).

        Order matters: a message this server cannot take byte-exactly (NUL bytes, no BINARY)
        is found before any byte is sent — refusing it halfway through a command would leave
        the connection out of step.  The messages before it are sent (one MULTIAPPEND, or
        one APPEND each), it is reported refused, and those after it are not sent: the same
        shape as a tagged NO at that message, so the caller handles both alike.
        """
        if not items:
            return AppendOutcome()
        sendable = len(items)
        refused: ImapError | None = None
        if not self.has("BINARY"):
            nul = next((n for n, item in enumerate(items) if b"\x00" in item.body), None)
            if nul is not None:
                sendable = nul
                refused = self._error(
                    MessageRefused, "cannot store a message containing NUL bytes without BINARY",
                    folder=folder, hint="kept in the quarantine")
        head = items[:sendable]
        groups: list[Sequence[AppendItem]]
        groups = ([head] if head else []) if self.has("MULTIAPPEND") else [[i] for i in head]
        uidvalidity: int | None = None
        uids: list[int] = []
        stored = 0
        for group in groups:
            try:
                v, got = self._append_command(folder, group)
            except (DestinationFull, MessageRefused) as exc:
                return AppendOutcome(uidvalidity, tuple(uids), stored, refused_index=stored,
                                     refused=exc)
            stored += len(group)
            uidvalidity = v if v is not None else uidvalidity
            uids.extend(got)
        if refused is not None:
            return AppendOutcome(uidvalidity, tuple(uids), stored, refused_index=stored,
                                 refused=refused)
        return AppendOutcome(uidvalidity, tuple(uids), stored)

    def store_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """``UID STORE <uids> FLAGS.SILENT (<flags>)`` in the selected folder: replace the
        flags of those messages with *flags*.  Destination only (the source is read-only)."""
        if self.side != Side.DST:
            raise ValueError("the source is read-only: no STORE there")
        folder = self.selected
        self._call("STORE", lambda: self._client.set_flags(uid_set(list(uids)), list(flags),
                                                           silent=True), folder)

    def _append_command(self, folder: str, items: Sequence[AppendItem]
                        ) -> tuple[int | None, list[int]]:
        literal_plus = self.has("LITERAL+") or (
            self.has("LITERAL-") and all(len(i.body) <= 4096 for i in items))
        self.commands += 1
        with self._guard("APPEND", folder):
            imap = self._client._imap
            tag = imap._new_tag()
            imap.send(tag + b" APPEND " + _quote(folder))
            for item in items:
                # Order matters: a literal8 only where the bytes need it (NUL), so that
                # servers without BINARY still get plain literals for everything else.
                # (append() has kept NUL bytes away from a server without BINARY.)
                needs8 = b"\x00" in item.body
                flags = " ".join(item.flags).encode()
                head = (b" (" + flags + b') "' + format_internaldate(item.internaldate).encode()
                        + b'" ' + (b"~" if needs8 else b"") + b"{" + str(len(item.body)).encode()
                        + (b"+}" if literal_plus else b"}") + b"\r\n")
                imap.send(head)
                if not literal_plus and not self._await_continuation(imap, tag):
                    break
                imap.send(item.body)
            else:
                imap.send(b"\r\n")
            typ, data = imap._command_complete("APPEND", tag)
            imap.untagged_responses.clear()
        text = as_text(data)
        if typ != "OK":
            failure = classify_response(Phase.APPEND, text, self.extra_rules)
            if failure == Failure.DESTINATION_FULL:
                raise self._error(DestinationFull, f"over quota: {text}", folder=folder,
                                  hint="free space or raise the quota, then retry",
                                  response=text)
            if failure == Failure.TRANSIENT:
                raise self._error(TransientError, f"refused APPEND: {text}", folder=folder,
                                  hint="will retry", response=text)
            raise self._error(MessageRefused, f"refused APPEND: {text}", folder=folder,
                              response=text)
        parsed = parse_appenduid(text)
        if parsed is None:
            return None, []
        return parsed

    @staticmethod
    def _await_continuation(imap: Any, tag: bytes) -> bool:
        """Wait for ``+`` before sending a synchronising literal; False if the server
        answered the command instead (a NO before the literal, e.g. over quota)."""
        while imap._get_response():
            if imap.tagged_commands.get(tag):
                return False
        return True
