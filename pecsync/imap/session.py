"""One IMAP connection to one side of one mailbox: the facade the other layers use.

:mod:`pecsync.imap` is the only package that imports imapclient (and imaplib).  The work is
split by job, and :class:`ImapSession` puts the pieces together:

- :mod:`~pecsync.imap.connection`: transport (plain, TLS, STARTTLS, COMPRESS) and the mapping
  of refusals and network faults to the typed errors of :mod:`pecsync.errors`, naming the
  mailbox, the folder and the side;
- :mod:`~pecsync.imap.auth`: the four login paths and how a refusal is classified;
- :mod:`~pecsync.imap.folders`: namespace, folder tree, STATUS, CREATE, SELECT/EXAMINE;
- :mod:`~pecsync.imap.messages`: metadata and flags of the open folder's messages;
- :mod:`~pecsync.imap.bodies`: the pipelined body FETCH and Dovecot's NUL rewriting;
- :mod:`~pecsync.imap.append`: APPEND / MULTIAPPEND and their outcome;
- :mod:`~pecsync.imap.wire`: IMAP syntax (INTERNALDATE, FETCH/STATUS answers, quoting);
- :mod:`~pecsync.imap.raw`: the one door to imaplib's internals, for the commands pecsync
  writes itself (pipelined, APPEND with literal8, COMPRESS ...; docs/design/wire.md).

Everything here is blocking; the sync layer runs it in worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence

from pecsync.config import ServerConfig
from pecsync.imap import append as appending
from pecsync.imap import auth
from pecsync.imap.bodies import BodyPipeline
from pecsync.imap.classify import Rule
from pecsync.imap.connection import Connection
from pecsync.imap.folders import Folders
from pecsync.imap.messages import Messages
from pecsync.model import (
    AppendItem,
    AppendOutcome,
    Credentials,
    FetchedMessage,
    FolderStatus,
    MessageInfo,
    RemoteFolder,
    Side,
)


class ImapSession:
    """A logged-in connection to one side of one mailbox.

    ``ImapSession(cfg.source, Side.SRC, mailbox="rossi@pec.example")`` then
    :meth:`login`.  Not thread-safe: one thread at a time.
    """

    def __init__(self, server: ServerConfig, side: Side, *, mailbox: str,
                 extra_rules: Sequence[Rule] = ()) -> None:
        #: The transport and the state every command needs (for the modules of
        #: :mod:`pecsync.imap` and for tests that talk to the server directly).
        self.connection = Connection(server, side, mailbox=mailbox, extra_rules=extra_rules)
        self._bodies = BodyPipeline(self.connection, self._reopen)
        self.connection.pipeline = self._bodies
        self._folders = Folders(self.connection)
        self._messages = Messages(self.connection)
        self._creds: Credentials | None = None

    # --- what the other layers read -------------------------------------------------
    @property
    def server(self) -> ServerConfig:
        return self.connection.server

    @property
    def side(self) -> Side:
        return self.connection.side

    @property
    def mailbox(self) -> str:
        return self.connection.mailbox

    @property
    def extra_rules(self) -> tuple[Rule, ...]:
        return self.connection.extra_rules

    @property
    def capabilities(self) -> frozenset[str]:
        """Capabilities after login."""
        return self.connection.capabilities

    @property
    def selected(self) -> str | None:
        """The folder open, None when none is."""
        return self.connection.selected

    @property
    def commands(self) -> int:
        """Count of commands sent (for measurements and tests)."""
        return self.connection.commands

    @property
    def compressed(self) -> bool:
        """True once COMPRESS=DEFLATE is active on this connection."""
        return self.connection.compressed

    @property
    def foreign_namespaces(self) -> tuple[str, ...]:
        """Prefixes of the "other users" and "shared" namespaces (RFC 2342), known once
        :meth:`namespace` or :meth:`survey` has run."""
        return self._folders.foreign_namespaces

    def has(self, capability: str) -> bool:
        return self.connection.has(capability)

    # --- connection -------------------------------------------------------------------
    def connect(self) -> None:
        self.connection.connect()

    def login(self, creds: Credentials) -> None:
        """Connect and log in; refusals are classified (wrong password, 2-step verification)."""
        self._creds = creds
        auth.log_in(self.connection, creds)

    def logout(self) -> None:
        """Say LOGOUT and close, without waiting for the server's goodbye."""
        self.connection.logout()

    def _reopen(self, folder: str | None) -> None:
        """Reconnect after the server closed the connection, back to the same folder."""
        creds = self._creds
        self.connection.close()
        assert creds is not None
        self.login(creds)
        if folder is not None:
            self.examine(folder)

    def greeting_capabilities(self) -> frozenset[str]:
        """Capabilities the server announced before login (greeting or CAPABILITY), for
        ``pecsync check``."""
        return self.connection.greeting_capabilities()

    def tls_version(self) -> str | None:
        """The TLS version of this connection (``"TLSv1.3"``), None when not encrypted."""
        return self.connection.tls_version()

    def unstorable(self, body: bytes) -> str | None:
        """Why this server cannot store *body* byte-exactly (None: it can)."""
        return appending.unstorable(self.connection, body)

    # --- folders (see pecsync.imap.folders) -------------------------------------------
    def namespaces(self) -> dict[str, list[tuple[str, str]]]:
        """Every NAMESPACE group (``pecsync check``): ``{"personal": [("INBOX.", ".")],
        "other users": [...], "shared": [...]}``; empty without NAMESPACE."""
        return self._folders.namespaces()

    def namespace(self) -> tuple[str, str]:
        """Personal namespace ``(prefix, delimiter)``, e.g. ``("INBOX.", ".")``."""
        return self._folders.namespace()

    def survey(self) -> tuple[tuple[str, str], list[RemoteFolder],
                              dict[str, FolderStatus] | None]:
        """:meth:`namespace`, :meth:`list_folders` and :meth:`statuses`, in one round trip
        when the server offers NAMESPACE and LIST-STATUS."""
        return self._folders.survey()

    def list_folders(self) -> list[RemoteFolder]:
        """Every folder, names decoded: ``[RemoteFolder("INBOX.Sent", ".", {"\\\\Sent"}), ...]``"""
        return self._folders.list_folders()

    def create_folder(self, name: str) -> None:
        self._folders.create_folders([name])

    def create_folders(self, names: Sequence[str]) -> None:
        """CREATE each of *names* (parents before children), pipelined."""
        self._folders.create_folders(names)

    def examine(self, name: str) -> FolderStatus:
        """Open read-only: the source is only ever EXAMINEd, never SELECTed."""
        return self._folders.examine(name)

    def select(self, name: str) -> FolderStatus:
        return self._folders.select(name)

    def unselect(self, name: str) -> None:
        """Leave the open folder *name* without expunging (UNSELECT, else EXAMINE)."""
        self._folders.unselect(name)

    def status(self, name: str) -> FolderStatus:
        """STATUS (UIDVALIDITY UIDNEXT MESSAGES): one round trip, folder not opened."""
        return self._folders.status(name)

    def statuses(self) -> dict[str, FolderStatus] | None:
        """STATUS of every folder in one round trip (LIST-STATUS), or None without it."""
        return self._folders.statuses()

    def examine_with_meta(self, name: str, first_uid: int, uids: str | None = None
                          ) -> tuple[FolderStatus, list[MessageInfo]]:
        """EXAMINE *name* and fetch the metadata of UIDs ``first_uid:*`` (or of the UID set
        *uids*, e.g. ``"5:9,12"``) in one round trip.  Like :meth:`examine` then
        :meth:`fetch_meta`."""
        return self._folders.examine_with_meta(name, first_uid, uids)

    def examine_for_read_back(self, name: str, first: Sequence[MessageInfo]) -> FolderStatus:
        """EXAMINE *name* with the read-back FETCH of *first* pipelined behind it: a
        read-back round on another lane's connection opens the folder and starts reading in
        one round trip; ``fetch_bodies(first, read_back=True)`` reads the answer."""
        return self._folders.examine_then(
            name, lambda: self._bodies.request(first, read_back=True))

    # --- messages (see pecsync.imap.messages and pecsync.imap.bodies) ------------------
    def fetch_meta(self, uids: str) -> list[MessageInfo]:
        """UID, size, flags and INTERNALDATE of *uids* (an IMAP UID set like ``"5:*"``),
        sorted by UID.  No body is transferred."""
        return self._messages.fetch_meta(uids)

    def fetch_flags(self, uids: str, changedsince: int | None = None
                    ) -> dict[int, tuple[str, ...]]:
        """``{uid: flags}`` of *uids*; with *changedsince* (CONDSTORE) only the messages
        whose flags changed after that mod-sequence."""
        return self._messages.fetch_flags(uids, changedsince)

    def search_uids(self, uids: str) -> set[int]:
        """The UIDs of *uids* (a UID set) that exist in the selected folder (UID SEARCH)."""
        return self._messages.search_uids(uids)

    def change_flags(self, uids: Sequence[int], flags: Sequence[str], *, add: bool) -> None:
        """Add (or remove) only these flags.  Destination only."""
        self._messages.change_flags(uids, flags, add=add)

    def store_flags(self, uids: Sequence[int], flags: Sequence[str]) -> None:
        """Replace the flags of those messages with *flags*.  Destination only."""
        self._messages.store_flags(uids, flags)

    def fetch_bodies(self, infos: Sequence[MessageInfo], *,
                     then: Sequence[MessageInfo] = (),
                     read_back: bool = False) -> list[FetchedMessage]:
        """Raw bytes of the given messages, in the order given, with SHA-256 and Message-ID;
        *then*, the batch asked for next, is requested before this one is read.
        *read_back*: copies read back for verification, with the server's metadata in the
        same FETCH (see :meth:`pecsync.imap.bodies.BodyPipeline.fetch_bodies`)."""
        return self._bodies.fetch_bodies(infos, then=then, read_back=read_back)

    def fetch_binaries(self, uids: Sequence[int]) -> dict[int, bytes | None]:
        """``BINARY.PEEK[]`` of several messages: ``{uid: raw bytes, or None}``."""
        return self._bodies.fetch_binaries(uids)

    # --- append (see pecsync.imap.append) ---------------------------------------------
    def append(self, folder: str, items: Sequence[AppendItem]) -> AppendOutcome:
        """APPEND *items* to *folder* in order (MULTIAPPEND when offered): what was stored,
        and the refused message and why, as a value; a lost connection raises
        :class:`~pecsync.errors.TransientError` (reconcile)."""
        return appending.append(self.connection, folder, items)
