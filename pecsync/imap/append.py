"""APPEND and MULTIAPPEND, sent by pecsync's own code: literal8 (RFC 3516) where a message
has NUL bytes, LITERAL+ / LITERAL- where offered, synchronising literals elsewhere.

The outcome of an APPEND is a value (:class:`pecsync.model.AppendOutcome`): which messages
the destination stored, their UIDs, and which one it refused and why.
"""

from __future__ import annotations

from collections.abc import Sequence

from pecsync.errors import DestinationFull, ImapError, MessageRefused, TransientError
from pecsync.imap.classify import Failure, Phase, classify_response
from pecsync.imap.codes import as_text, parse_appenduid
from pecsync.imap.connection import Connection
from pecsync.imap.wire import format_internaldate, quote
from pecsync.model import AppendItem, AppendOutcome


def append_limit(conn: Connection) -> int | None:
    """The server's APPENDLIMIT (RFC 7889) in bytes, if it announces one."""
    for cap in conn.capabilities:
        if cap.startswith("APPENDLIMIT="):
            value = cap.split("=", 1)[1]
            return int(value) if value.isdigit() else None
    return None


def unstorable(conn: Connection, body: bytes) -> str | None:
    """Why this server cannot store *body* byte-exactly, known before anything is sent
    (None: it can).  The one rule for the importer, which sets such a message aside before
    APPEND, and for :func:`append`, which never puts one on the wire."""
    limit = append_limit(conn)
    if limit is not None and len(body) > limit:
        return f"larger ({len(body)} bytes) than the destination's APPENDLIMIT ({limit} bytes)"
    if b"\x00" in body and not conn.has("BINARY"):
        return ("contains NUL bytes and the destination lacks BINARY: cannot be stored "
                "byte-exactly")
    return None


def append(conn: Connection, folder: str, items: Sequence[AppendItem]) -> AppendOutcome:
    """APPEND *items* to *folder*, in order: one MULTIAPPEND command when the server
    offers it, else one APPEND per message.

    Returns what was stored (see :class:`AppendOutcome`): a tagged NO is a value there
    (``refused``: :class:`DestinationFull` or :class:`MessageRefused`), not an exception.
    Per RFC 3502 a refused MULTIAPPEND stores none of its messages; without MULTIAPPEND
    the messages before the refused one *are* stored.  Messages after a refused one are
    never sent.  A lost connection raises :class:`TransientError`: then it is unknown
    what was stored (reconcile).

    Order matters: a message this server cannot take byte-exactly (:func:`unstorable`: NUL
    bytes without BINARY, over APPENDLIMIT) is found before any byte is sent — refusing it
    halfway through a command would leave the connection out of step.  The messages
    before it are sent (one MULTIAPPEND, or one APPEND each), it is reported refused, and
    those after it are not sent: the same
    shape as a tagged NO at that message, so the caller handles both alike.
    """
    if not items:
        return AppendOutcome()
    sendable = len(items)
    refused: ImapError | None = None
    for n, item in enumerate(items):
        reason = unstorable(conn, item.body)
        if reason is not None:
            sendable = n
            refused = conn.error(MessageRefused, reason, folder=folder)
            break
    head = items[:sendable]
    groups: list[Sequence[AppendItem]]
    groups = ([head] if head else []) if conn.has("MULTIAPPEND") else [[i] for i in head]
    uidvalidity: int | None = None
    uids: list[int] = []
    stored = 0
    for group in groups:
        try:
            v, got = _append_command(conn, folder, group)
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


def _append_command(conn: Connection, folder: str, items: Sequence[AppendItem]
                    ) -> tuple[int | None, list[int]]:
    literal_plus = conn.has("LITERAL+") or (
        conn.has("LITERAL-") and all(len(i.body) <= 4096 for i in items))
    conn.commands += 1
    with conn.guard("APPEND", folder):
        raw = conn.raw
        tag = raw.begin(b"APPEND " + quote(folder))
        for item in items:
            # Order matters: a literal8 only where the bytes need it (NUL), so that
            # servers without BINARY still get plain literals for everything else.
            # (append() has kept NUL bytes away from a server without BINARY.)
            needs8 = b"\x00" in item.body
            flags = " ".join(item.flags).encode()
            head = (b" (" + flags + b') "' + format_internaldate(item.internaldate).encode()
                    + b'" ' + (b"~" if needs8 else b"") + b"{" + str(len(item.body)).encode()
                    + (b"+}" if literal_plus else b"}") + b"\r\n")
            raw.send(head)
            if not literal_plus and not raw.await_continuation(tag):
                break
            raw.send(item.body)
        else:
            raw.send(b"\r\n")
        typ, data = raw.complete("APPEND", tag)
        raw.forget()
    text = as_text(data)
    if typ != "OK":
        failure = classify_response(Phase.APPEND, text, conn.extra_rules)
        if failure == Failure.DESTINATION_FULL:
            raise conn.error(DestinationFull, f"over quota: {text}", folder=folder,
                             hint="free space or raise the quota, then retry",
                             response=text)
        if failure == Failure.TRANSIENT:
            raise conn.error(TransientError, f"refused APPEND: {text}", folder=folder,
                             hint="will retry", response=text)
        raise conn.error(MessageRefused, f"refused APPEND: {text}", folder=folder,
                         response=text)
    parsed = parse_appenduid(text)
    if parsed is None:
        return None, []
    return parsed
