"""Messages of the open folder without their bodies: metadata (UID, size, flags,
INTERNALDATE), flags (with CONDSTORE's CHANGEDSINCE), UID SEARCH, and STORE of flags on the
destination."""

from __future__ import annotations

from collections.abc import Sequence

from imapclient.response_parser import parse_fetch_response

from pecsync.errors import ImapError
from pecsync.imap.codes import as_text, uid_set
from pecsync.imap.connection import Connection
from pecsync.imap.wire import META_ITEMS, parse_meta
from pecsync.model import MessageInfo, Side


class Messages:
    """The message commands of one connection, in its selected folder."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def fetch_meta(self, uids: str) -> list[MessageInfo]:
        """UID, size, flags and INTERNALDATE of *uids* (an IMAP UID set like ``"5:*"``),
        sorted by UID.  No body is transferred."""
        conn = self._conn
        folder = conn.selected
        conn.commands += 1
        with conn.guard("FETCH", folder):
            raw = conn.raw
            typ, data = raw.uid("FETCH", uids, META_ITEMS)
            if typ != "OK":
                raise conn.error(ImapError, f"refused FETCH: {as_text(data)}", folder=folder,
                                 response=as_text(data))
            raw.forget("FETCH")
            return parse_meta(data)

    def fetch_flags(self, uids: str, changedsince: int | None = None
                    ) -> dict[int, tuple[str, ...]]:
        """``{uid: flags}`` of *uids* in the selected folder; with *changedsince* (CONDSTORE,
        RFC 7162) only the messages whose flags changed after that mod-sequence."""
        conn = self._conn
        folder = conn.selected
        conn.commands += 1
        with conn.guard("FETCH", folder):
            raw = conn.raw
            args = [uids, "(UID FLAGS)"]
            if changedsince is not None:
                args.append(f"(CHANGEDSINCE {changedsince})")
            typ, data = raw.uid("FETCH", *args)
            if typ != "OK":
                raise conn.error(ImapError, f"refused FETCH FLAGS: {as_text(data)}",
                                 folder=folder, response=as_text(data))
            raw.forget("FETCH")
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
        conn = self._conn
        folder = conn.selected
        found = conn.call("SEARCH", lambda: conn.client.search(["UID", uids]), folder)
        return {int(u) for u in found}

    def change_flags(self, uids: Sequence[int], flags: Sequence[str], *, add: bool) -> None:
        """``UID STORE <uids> +FLAGS.SILENT (<flags>)`` (or ``-FLAGS``): change only these
        flags, leaving every other flag as it is.  Destination only."""
        conn = self._conn
        if conn.side != Side.DST:
            raise ValueError("the source is read-only: no STORE there")
        folder = conn.selected
        fn = conn.client.add_flags if add else conn.client.remove_flags
        conn.call("STORE", lambda: fn(uid_set(list(uids)), list(flags), silent=True), folder)

    def store_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """``UID STORE <uids> FLAGS.SILENT (<flags>)`` in the selected folder: replace the
        flags of those messages with *flags*.  Destination only (the source is read-only)."""
        conn = self._conn
        if conn.side != Side.DST:
            raise ValueError("the source is read-only: no STORE there")
        folder = conn.selected
        conn.call("STORE", lambda: conn.client.set_flags(uid_set(list(uids)), list(flags),
                                                           silent=True), folder)
