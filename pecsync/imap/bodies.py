"""The body pipeline: raw messages fetched in batches, the next batch asked for before this one
is read, with Dovecot's NUL rewriting undone.

Bodies are fetched with pecsync's own code because imapclient does not parse ``~{n}``
literal8 responses (RFC 3516 BINARY): Dovecot rewrites NUL bytes in ``BODY[]`` but not in
``BINARY[]``, so a byte-exact copy of such a message needs both.
"""

from __future__ import annotations

import hashlib
import imaplib
import re
from collections.abc import Callable, Sequence

from pecsync.errors import ImapError, TransientError
from pecsync.imap.codes import as_text, uid_set
from pecsync.imap.connection import Connection
from pecsync.imap.messages import Messages
from pecsync.imap.nul_bytes import resolve_nul
from pecsync.imap.wire import READ_BACK_ITEMS, literals_by_uid, literals_with_meta
from pecsync.model import FetchedMessage, MessageInfo

_MESSAGE_ID_RE = re.compile(rb"^message-id:[ \t]*((?:[^\r\n]|\r?\n[ \t])*)", re.I | re.M)


def message_id_of(body: bytes) -> str | None:
    """The Message-ID header of a raw message (unfolded), or None.

    >>> message_id_of(b"Subject: x\\r\\nMessage-ID:\\r\\n <a@pec.it>\\r\\n\\r\\nMessage-ID: <b>")
    '<a@pec.it>'
    """
    end = body.find(b"\r\n\r\n")
    head = body if end < 0 else body[: end + 2]
    m = _MESSAGE_ID_RE.search(head)
    if not m:
        return None
    value = re.sub(rb"\s+", b" ", m.group(1)).strip()
    return value.decode("utf-8", "replace") or None


def fingerprint(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class BodyPipeline:
    """FETCHes of message bodies on one connection, sent ahead of their reading.

    Owns the pipelining state: the FETCHes in flight and the bodies read (from the selected
    folder) and not handed out yet.  The connection reads them first before any other
    command's answer (it calls :meth:`drain`); opening another folder calls :meth:`forget`.
    *reopen* reconnects, logs in again and re-opens the given folder (after a server dropped
    the connection on a BINARY fetch).
    """

    def __init__(self, conn: Connection, reopen: Callable[[str | None], None]) -> None:
        self._conn = conn
        self._reopen = reopen
        #: Body FETCHes sent and not answered yet: (UIDs asked for, tag, read back), oldest
        #: first.
        self._pending: list[tuple[frozenset[int], bytes, bool]] = []
        #: Bodies read (from the selected folder) and not handed out yet, by UID.
        self._bodies: dict[int, bytes] = {}
        #: The metadata read with them by a read-back FETCH (:data:`READ_BACK_ITEMS`).
        self._metas: dict[int, MessageInfo] = {}
        #: UIDs a FETCH answered (tagged) without them: not in the folder.  A batch with
        #: one is not waited for beyond its own FETCH, nor asked for again.
        self._absent: set[int] = set()

    @property
    def in_flight(self) -> bool:
        return bool(self._pending)

    def forget(self) -> None:
        self._pending.clear()
        self._bodies.clear()
        self._metas.clear()
        self._absent.clear()

    def drain(self) -> None:
        """Read the answers of FETCHes sent ahead, so that another command can be read; the
        bodies are kept for the :meth:`fetch_bodies` call that asks for them."""
        while self._pending:
            self._complete_fetch()

    def request(self, infos: Sequence[MessageInfo], *, read_back: bool = False) -> None:
        """Send the FETCH of *infos* without reading it, unless it is already read or in
        flight; the :meth:`fetch_bodies` call that asks for them reads it.  Also sent behind
        the EXAMINE that opens their folder (``Folders.examine_then``)."""
        uids = [i.uid for i in infos]
        if uids and not self._requested(uids, read_back):
            self._pending.append((frozenset(uids), self._send_fetch(uid_set(uids), read_back),
                                  read_back))

    def fetch_bodies(self, infos: Sequence[MessageInfo], *,
                     then: Sequence[MessageInfo] = (),
                     read_back: bool = False) -> list[FetchedMessage]:
        """Raw bytes of the given messages, in the order given, with SHA-256 and Message-ID.

        ``BODY.PEEK[]`` (PEEK: the source's ``\\Seen`` never changes) is the raw message —
        except that Dovecot serves a NUL byte as 0x80 there.  ``BINARY[]`` keeps NULs but
        decodes base64/quoted-printable parts, so it is not the raw message either.  So only
        a body containing 0x80 is probed with ``BINARY.PEEK[]`` (see :func:`resolve_nul`).

        *then*, the batch the caller will ask for next, is requested before this one is read
        (pipelining: the server works on it while this batch travels and is processed; its
        bytes wait in the socket buffers, not in memory, until that next call).

        *read_back*: the destination's copies read back for verification.  Their metadata
        comes in the same FETCH (:data:`READ_BACK_ITEMS`) and replaces *infos*' (which only
        need the UID and the size the copy should have); a copy not there is left out of the
        result (verification reports it missing) instead of raising; no Message-ID is read.
        """
        if not infos:
            return []
        conn = self._conn
        folder = conn.selected
        uids = [i.uid for i in infos]
        with conn.guard("FETCH", folder, pipelined=True):
            for batch in (infos, then):
                self.request(batch, read_back=read_back)
            # Dovecot runs pipelined FETCHes concurrently: answers of the next batch may come
            # before this one's tagged OK, so bodies are sorted out by UID, not by command.
            while self._pending and not all(u in self._bodies or u in self._absent
                                            for u in uids):
                self._complete_fetch()
            bodies = {u: self._bodies.pop(u) for u in uids if u in self._bodies}
            metas = {u: self._metas.pop(u) for u in uids if u in self._metas}
            self._absent.difference_update(uids)
        if read_back:
            infos = self._read_back_infos(infos, bodies, metas)
        for info in infos:
            if info.uid not in bodies:
                raise conn.error(TransientError,
                                 f"message uid {info.uid} vanished during FETCH",
                                 folder=folder, hint="it was probably expunged; will retry")
        probe = [i.uid for i in infos if b"\x80" in bodies[i.uid]] if conn.has("BINARY") else []
        binaries = self.fetch_binaries(probe) if probe else {}
        out = []
        for info in infos:
            body = bodies[info.uid]
            note = None
            if info.uid in binaries:
                body, note = resolve_nul(body, binaries[info.uid], info.size)
            out.append(FetchedMessage(info=info, body=body, sha256=fingerprint(body),
                                      message_id=None if read_back else message_id_of(body),
                                      note=note))
        return out

    def _read_back_infos(self, infos: Sequence[MessageInfo], bodies: dict[int, bytes],
                         metas: dict[int, MessageInfo]) -> list[MessageInfo]:
        """The server's metadata of the copies read back (those not there left out); a
        copy whose answer did not carry every item has it asked for apart."""
        apart = [u for u in bodies if u not in metas]
        if apart:
            metas.update((m.uid, m) for m in Messages(self._conn).fetch_meta(uid_set(apart)))
        return [metas[i.uid] for i in infos if i.uid in bodies and i.uid in metas]

    def _send_fetch(self, key: str, read_back: bool = False) -> bytes:
        """Send ``UID FETCH key (BODY.PEEK[])`` (*read_back*: :data:`READ_BACK_ITEMS`)
        without waiting; returns the tag."""
        self._conn.commands += 1
        return self._conn.raw.command("UID", "FETCH", key,
                                      READ_BACK_ITEMS if read_back else "(BODY.PEEK[])",
                                      selected=read_back)

    def _requested(self, uids: Sequence[int], read_back: bool = False) -> bool:
        """Every one of *uids* is already read (or known not to be there) or asked for by
        a FETCH in flight of the same items."""
        # A body read without its metadata counts for a read-back too: that metadata is
        # asked for apart (_read_back_infos).
        asked = set(self._bodies) | self._absent
        for wanted, _, meta in self._pending:
            if meta == read_back:
                asked |= wanted
        return all(u in asked for u in uids)

    def _complete_fetch(self) -> None:
        """Read up to the tagged answer of the oldest FETCH in flight; keep every body read
        (whichever FETCH it answers) in ``self._bodies``, and a read-back FETCH's metadata
        in ``self._metas``."""
        conn = self._conn
        wanted, tag, read_back = self._pending.pop(0)
        typ, tagged = conn.raw.answer("FETCH", tag)
        data = conn.raw.take("FETCH")
        if read_back:
            bodies, metas = literals_with_meta(data)
            self._metas.update(metas)
            self._bodies.update(bodies)
        else:
            self._bodies.update(literals_by_uid(data))
        # Every answer to this FETCH came before its tagged OK (an answer of the FETCH
        # sent after it may come first, never one of its own after).
        self._absent.update(u for u in wanted if u not in self._bodies)
        if typ != "OK":
            raise conn.error(ImapError, f"refused FETCH: {as_text(tagged)}",
                             folder=conn.selected, response=as_text(tagged))

    def fetch_binaries(self, uids: Sequence[int]) -> dict[int, bytes | None]:
        """``BINARY.PEEK[]`` of several messages: ``{uid: raw bytes, or None when the server
        cannot decode it}``.  One command for all of them; when that fails (one broken message
        makes Dovecot drop the connection, see :meth:`_binary`), one per message."""
        with self._conn.guard("FETCH", self._conn.selected, pipelined=True):
            self.drain()  # a batch fetched ahead is read first: its failures are this FETCH's
        got = self._binary(uids) if len(uids) > 1 else None
        if got is not None and set(got) >= set(uids):
            return {u: got[u] for u in uids}
        return {u: (self._binary([u]) or {}).get(u) for u in uids}

    def _binary(self, uids: Sequence[int]) -> dict[int, bytes] | None:
        """One ``UID FETCH (BINARY.PEEK[])``: ``{uid: bytes}``, or None when it failed.

        Dovecot answers a BINARY fetch of a message with broken quoted-printable with BYE
        and closes the connection: then reconnect, re-open the folder and return None."""
        folder = self._conn.selected
        raw = self._conn.raw
        self._conn.commands += 1
        try:
            typ, data = raw.uid("FETCH", uid_set(list(uids)), "(BINARY.PEEK[])")
        except (imaplib.IMAP4.abort, OSError):
            self._reopen(folder)
            return None
        except imaplib.IMAP4.error:
            typ, data = "BAD", []
        finally:
            raw.forget("FETCH")  # never read by the next FETCH
        return literals_by_uid(data) if typ == "OK" else None
