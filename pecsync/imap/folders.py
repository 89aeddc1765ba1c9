"""Folders: the namespace, the folder tree with each folder's STATUS, CREATE, and opening a
folder (SELECT, EXAMINE; EXAMINE with the metadata of its messages in one round trip).

Where the server offers it, one round trip does what would take many: NAMESPACE and ``LIST
... RETURN (STATUS ...)`` (LIST-STATUS) pipelined, every CREATE of a tree pipelined.
"""

from __future__ import annotations

import contextlib
import imaplib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import imapclient.exceptions
from imapclient.response_parser import parse_response

from pecsync.errors import FolderError, ImapError
from pecsync.imap import utf7
from pecsync.imap.codes import as_text
from pecsync.imap.connection import Connection
from pecsync.imap.wire import (
    META_ITEMS,
    namespace_prefixes,
    parse_meta,
    parse_statuses,
    personal_namespace,
    quote,
)
from pecsync.model import FolderStatus, MessageInfo, RemoteFolder
from pecsync.retrypolicy import FOLDER_RACE

T = TypeVar("T")

#: Commands sent before their answers are read, at most (pipelined CREATEs).
PIPELINE_CHUNK = 100



def _lost_autocreate_race(exc: BaseException) -> bool:
    return (isinstance(exc, imapclient.exceptions.IMAPClientError)
            and not isinstance(exc, imapclient.exceptions.IMAPClientAbortError)
            and "[ALREADYEXISTS]" in as_text(exc).upper())

class Folders:
    """The folder commands of one connection.  :attr:`foreign_namespaces`: prefixes of the
    "other users" and "shared" namespaces (RFC 2342), known once :meth:`namespace` or
    :meth:`survey` has run."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.foreign_namespaces: tuple[str, ...] = ()

    def namespaces(self) -> dict[str, list[tuple[str, str]]]:
        """Every NAMESPACE group (``pecsync check``): ``{"personal": [("INBOX.", ".")],
        "other users": [...], "shared": [...]}``; empty without NAMESPACE."""
        conn = self._conn
        if not conn.has("NAMESPACE"):
            return {}
        groups = conn.call("NAMESPACE", conn.client.namespace)
        out: dict[str, list[tuple[str, str]]] = {}
        for kind, group in zip(("personal", "other users", "shared"), groups, strict=False):
            out[kind] = [personal_namespace([entry]) for entry in group or ()]
        return out

    def namespace(self) -> tuple[str, str]:
        """Personal namespace ``(prefix, delimiter)``, e.g. ``("INBOX.", ".")``."""
        conn = self._conn
        if not conn.has("NAMESPACE"):
            folders = self.list_folders()
            delim = next((f.delimiter for f in folders if f.delimiter), "/")
            return "", delim or "/"
        ns = conn.call("NAMESPACE", conn.client.namespace)
        self.foreign_namespaces = namespace_prefixes(ns.other, ns.shared)
        return personal_namespace(ns.personal or ns[0])

    def survey(self) -> tuple[tuple[str, str], list[RemoteFolder],
                              dict[str, FolderStatus] | None]:
        """:meth:`namespace`, :meth:`list_folders` and :meth:`statuses` — in one round trip
        when the server offers NAMESPACE and LIST-STATUS (NAMESPACE and ``LIST ... RETURN
        (STATUS ...)`` are pipelined; the LIST answers carry the folder list too)."""
        conn = self._conn
        if not (conn.has("NAMESPACE") and conn.has("LIST-STATUS")):
            return self.namespace(), self.list_folders(), self.statuses()
        ret = "(SPECIAL-USE STATUS" if conn.has("SPECIAL-USE") else "(STATUS"
        conn.commands += 2
        with conn.guard("LIST"):
            raw = conn.raw
            raw.forget("NAMESPACE", "LIST", "STATUS")
            t_ns = raw.command("NAMESPACE")
            t_list = raw.command("LIST", '""', '"*"', "RETURN", ret,
                                 "(MESSAGES", "UIDNEXT", "UIDVALIDITY" + self._modseq_item()
                                 + "))")
            typs = [raw.answer("NAMESPACE", t_ns)[0], raw.answer("LIST", t_list)[0]]
            ns_data = raw.take("NAMESPACE")
            list_rows = raw.take("LIST")
            status_rows = raw.take("STATUS")
        if typs != ["OK", "OK"]:
            return self.namespace(), self.list_folders(), self.statuses()
        parsed = list(parse_response([d for d in ns_data if d is not None]))
        namespace = personal_namespace(parsed[0] if parsed else None)
        self.foreign_namespaces = namespace_prefixes(*parsed[1:3])
        folders = self._remote_folders(raw.folder_list(list_rows))
        return namespace, folders, parse_statuses(status_rows)

    def list_folders(self) -> list[RemoteFolder]:
        """Every folder, names decoded: ``[RemoteFolder("INBOX.Sent", ".", {"\\\\Sent"}), ...]``"""
        conn = self._conn
        return self._remote_folders(conn.call("LIST", lambda: conn.client.list_folders()))

    def _remote_folders(self, rows: Sequence[Any]) -> list[RemoteFolder]:
        conn = self._conn
        out = []
        for flags, delim, name in rows:
            raw = name if isinstance(name, bytes) else str(name).encode()
            try:
                decoded = utf7.decode(raw)
            except ValueError as exc:
                raise conn.error(
                    FolderError, f"folder name {raw!r} is not valid modified UTF-7 ({exc})",
                    hint="rename the folder on the server; pecsync cannot address it "
                         "reliably") from None
            out.append(RemoteFolder(
                name=decoded,
                delimiter=(delim.decode() if isinstance(delim, bytes) else delim) or None,
                flags=frozenset(f.decode() if isinstance(f, bytes) else str(f) for f in flags)))
        return out

    def create_folders(self, names: Sequence[str]) -> None:
        """CREATE each of *names* (parents before children), pipelined: one round trip for
        the whole tree.  Every answer is read before the first refusal is raised."""
        conn = self._conn
        refused: list[tuple[str, str]] = []
        conn.commands += len(names)
        with conn.guard("CREATE", names[0] if len(names) == 1 else None):
            raw = conn.raw
            # In chunks: a few thousand unread answers could fill both socket buffers.
            for start in range(0, len(names), PIPELINE_CHUNK):
                chunk = names[start:start + PIPELINE_CHUNK]
                tags = [(name, raw.command("CREATE", quote(name))) for name in chunk]
                for name, tag in tags:
                    typ, data = conn.answer("CREATE", tag)
                    text = as_text(data)
                    if typ != "OK" and not ("ALREADYEXISTS" in text.upper()
                                            or "already exists" in text.lower()):
                        refused.append((name, text))
        if refused:
            name, text = refused[0]
            raise conn.error(FolderError, f"cannot create folder: {text}", folder=name,
                             response=text)

    def _open(self, name: str, readonly: bool) -> FolderStatus:
        conn = self._conn
        what = "EXAMINE" if readonly else "SELECT"
        conn.commands += 1
        with conn.guard(what, name):
            conn.forget_read_ahead()  # they belong to the folder open until now
            try:
                # Dovecot creates an `auto` folder on first SELECT; two sessions of one user
                # doing so at once give the loser NO [ALREADYEXISTS] ("folder race").
                for attempt in FOLDER_RACE.retrying_sync(_lost_autocreate_race):
                    with attempt:
                        conn.selected = None
                        resp = conn.client.select_folder(utf7.encode(name), readonly=readonly)
            except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError):
                raise  # connection lost: transient (see Connection.guard), not a folder
            except imapclient.exceptions.IMAPClientError as exc:
                text = as_text(exc)
                raise conn.error(FolderError, f"cannot open folder ({what}): {text}",
                                 folder=name, hint="check the folder name and rules",
                                 response=text) from None
        conn.selected = name
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

    def unselect(self, name: str) -> None:
        """Leave *name* (the folder open on this connection) without expunging anything:
        UNSELECT (RFC 3691), never CLOSE; on a server without UNSELECT, *name* is opened
        read-only instead (EXAMINE)."""
        conn = self._conn
        if not conn.has("UNSELECT"):
            self.examine(name)
            return
        conn.commands += 1
        with conn.guard("UNSELECT", name):
            conn.forget_read_ahead()
            conn.client.unselect_folder()
            conn.selected = None

    def select(self, name: str) -> FolderStatus:
        return self._open(name, readonly=False)

    def status(self, name: str) -> FolderStatus:
        """STATUS (UIDVALIDITY UIDNEXT MESSAGES): one round trip, folder not opened."""
        conn = self._conn
        conn.commands += 1
        with conn.guard("STATUS", name):
            try:
                resp = conn.client.folder_status(
                    utf7.encode(name), [b"UIDVALIDITY", b"UIDNEXT", b"MESSAGES"]
                    + ([b"HIGHESTMODSEQ"] if conn.has("CONDSTORE") else []))
            except (imaplib.IMAP4.abort, imapclient.exceptions.IMAPClientAbortError):
                raise  # connection lost: transient (see Connection.guard), not a folder problem
            except imapclient.exceptions.IMAPClientError as exc:
                raise conn.error(FolderError, f"cannot read folder status: {as_text(exc)}",
                                 folder=name, response=as_text(exc)) from None
        modseq = resp.get(b"HIGHESTMODSEQ")
        return FolderStatus(uidvalidity=int(resp.get(b"UIDVALIDITY", 0)),
                            uidnext=int(resp.get(b"UIDNEXT", 0)),
                            exists=int(resp.get(b"MESSAGES", 0)),
                            highestmodseq=None if modseq is None else int(modseq))

    def _modseq_item(self) -> str:
        """`` HIGHESTMODSEQ`` for STATUS item lists when the server offers CONDSTORE."""
        conn = self._conn
        return " HIGHESTMODSEQ" if conn.has("CONDSTORE") else ""

    def statuses(self) -> dict[str, FolderStatus] | None:
        """STATUS of every folder in one round trip (LIST-STATUS, RFC 5819), or None when the
        server does not offer it: ``{"INBOX": FolderStatus(uidvalidity=..., ...), ...}``."""
        conn = self._conn
        if not conn.has("LIST-STATUS"):
            return None
        conn.commands += 1
        with conn.guard("LIST-STATUS"):
            raw = conn.raw
            typ, _ = raw.complete("LIST", raw.command(
                "LIST", '""', '"*"', "RETURN", "(STATUS", "(MESSAGES", "UIDNEXT",
                "UIDVALIDITY" + self._modseq_item() + "))"))
            raw.forget("LIST")
            rows = raw.take("STATUS")
        if typ != "OK":
            return None
        return parse_statuses(rows)

    def examine_then(self, name: str, send: Callable[[], None]) -> FolderStatus:
        """EXAMINE *name* with what *send* sends pipelined behind it (one round trip for
        both): the read-back FETCH of a first batch, whose answer its sender reads later
        (the FETCH answers stay gathered: ``opened_folder`` leaves them).  When the EXAMINE
        is refused, that answer is read here and the FolderError raised."""
        def read_refused(_: None) -> None:
            if self._conn.pipeline is not None:
                self._conn.pipeline.drain()

        status, _ = self._examine_pipelined(name, send, read_refused)
        return status

    def examine_with_meta(self, name: str, first_uid: int, uids: str | None = None
                          ) -> tuple[FolderStatus, list[MessageInfo]]:
        """EXAMINE *name* and fetch the metadata of UIDs ``first_uid:*`` (or of the UID set
        *uids*) in one round trip (the two commands are pipelined).  Like :meth:`examine`
        then ``Messages.fetch_meta``."""
        conn = self._conn
        conn.commands += 1
        raw = conn.raw
        # The server runs the commands in order, so the FETCH applies to the folder the
        # EXAMINE opens (imaplib would refuse UID with no folder open yet).
        status, t_fetch = self._examine_pipelined(
            name, lambda: raw.command("UID", "FETCH", uids or f"{first_uid}:*", META_ITEMS,
                                      selected=True),
            lambda tag: raw.answer("FETCH", tag))
        with conn.guard("FETCH", name):
            raw.forget()
            typ, data = raw.answer("FETCH", t_fetch)
            if typ != "OK":
                raise conn.error(ImapError, f"refused FETCH: {as_text(data)}", folder=name,
                                 response=as_text(data))
            fetched = raw.take("FETCH")
            raw.forget()
        return status, parse_meta(fetched) if status.exists else []

    def _examine_pipelined(self, name: str, send: Callable[[], T],
                           read_refused: Callable[[T], object]) -> tuple[FolderStatus, T]:
        """EXAMINE *name* with what *send* sends behind it, before the EXAMINE's answer is
        read: the folder's status and what *send* returned.  A refused EXAMINE: what was
        sent behind it is refused too, and *read_refused* reads its answer before the
        FolderError is raised (the connection goes on)."""
        conn = self._conn
        conn.commands += 1
        with conn.guard("EXAMINE", name):
            conn.forget_read_ahead()  # they belong to the folder open until now
            raw = conn.raw
            raw.forget()
            t_open = raw.command("EXAMINE", quote(name))
            sent = send()
            typ, data = raw.answer("EXAMINE", t_open)
            if typ != "OK":
                conn.selected = None
                # The refusal of the command behind: the EXAMINE's is the one told.
                with contextlib.suppress(ImapError):
                    read_refused(sent)
                conn.forget_read_ahead()
                raw.forget()
                text = as_text(data)
                raise conn.error(FolderError, f"cannot open folder (EXAMINE): {text}",
                                 folder=name, hint="check the folder name and rules",
                                 response=text)
            status = self._select_status(raw.opened_folder(readonly=True))
            conn.selected = name
        return status, sent
