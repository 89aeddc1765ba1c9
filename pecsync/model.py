"""Plain values shared by every layer.  Imports nothing of pecsync."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Secret:
    """A string that never shows itself: ``repr`` and ``str`` are ``***``.

    >>> Secret("hunter2")
    ***
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value: call this only where it is sent to a server or encrypted."""
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


class Side(enum.StrEnum):
    SRC = "src"
    DST = "dst"


@dataclass(frozen=True)
class Credentials:
    """Who to log in as.  ``password`` is the user's, or the master user's password."""

    user: str
    password: Secret
    master_user: str | None = None


@dataclass(frozen=True)
class RemoteFolder:
    """One LIST entry, name already decoded from modified UTF-7.

    ``RemoteFolder(name="INBOX.Sent", delimiter=".", flags=frozenset({"\\\\Sent"}))``
    """

    name: str
    delimiter: str | None
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def selectable(self) -> bool:
        lowered = {f.lower() for f in self.flags}
        return "\\noselect" not in lowered and "\\nonexistent" not in lowered


@dataclass(frozen=True)
class FolderMapping:
    """One folder of the plan: where a source folder goes on the destination."""

    src: str
    dst: str
    #: False for \\Noselect parents: created on the destination, never copied.
    copy: bool = True


@dataclass(frozen=True)
class FolderStatus:
    """What SELECT/EXAMINE told us about an open folder."""

    uidvalidity: int
    uidnext: int
    exists: int
    permanentflags: frozenset[str] = field(default_factory=frozenset)
    #: HIGHESTMODSEQ (RFC 7162) when the server offers CONDSTORE and was asked for it.
    highestmodseq: int | None = None


@dataclass(frozen=True)
class MessageInfo:
    """Metadata of one source message, from a cheap FETCH (no body)."""

    uid: int
    size: int
    flags: tuple[str, ...]
    internaldate: datetime


@dataclass(frozen=True)
class FetchedMessage:
    """A message with its raw bytes as the server returned them."""

    info: MessageInfo
    body: bytes
    sha256: str
    message_id: str | None
    #: Why the bytes could not be proven raw (Dovecot's NUL rewriting), else None.
    note: str | None = None


@dataclass(frozen=True)
class AppendItem:
    """One message to APPEND: raw bytes, flags and INTERNALDATE."""

    body: bytes
    flags: tuple[str, ...]
    internaldate: datetime


@dataclass(frozen=True)
class AppendOutcome:
    """What the destination did with the messages of one ``ImapSession.append`` call.

    Messages are stored in order, and storing stops at the first refusal: ``items[:stored]``
    are stored, ``items[stored:]`` are not.  All stored, with UIDPLUS::

        AppendOutcome(uidvalidity=1700000000, uids=(41, 42, 43), stored=3)

    The second of three refused by a tagged NO (one APPEND per message, no MULTIAPPEND)::

        AppendOutcome(uidvalidity=1700000000, uids=(41,), stored=1, refused_index=1,
                      refused=MessageRefused("destination refused APPEND: ..."))

    A lost connection is not an outcome: ``append`` raises TransientError, and what was
    stored is then unknown (reconcile).
    """

    #: The destination folder's UIDVALIDITY from APPENDUID; None without UIDPLUS.
    uidvalidity: int | None = None
    #: The UIDs of the stored messages, in order (APPENDUID); empty without UIDPLUS.
    uids: tuple[int, ...] = ()
    #: How many messages, from the first, the destination stored.
    stored: int = 0
    #: Index of the refused message: the one refused before any byte was sent (NUL bytes
    #: towards a server without BINARY) or by its own APPEND's tagged NO; for a refused
    #: MULTIAPPEND (RFC 3502: none of it stored, culprit unknown), its first message.
    #: Always equal to *stored*; None when nothing was refused.
    refused_index: int | None = None
    #: Why: a ``MessageRefused`` or ``DestinationFull`` (pecsync.errors) as a value, not
    #: raised; None when nothing was refused.  Typed ``Exception`` here only because model
    #: imports nothing of pecsync.
    refused: Exception | None = None

    def raise_refused(self) -> None:
        """Raise the refusal, if any: for callers that want every message or an error
        (seeding tools, benchmarks), as ``append`` behaved before it returned outcomes."""
        if self.refused is not None:
            raise self.refused


@dataclass
class FolderReport:
    """Counts for one folder after copy or verify."""

    src: str
    dst: str
    src_messages: int = 0
    copied: int = 0
    already_present: int = 0
    skipped: int = 0
    verified: int = 0
    mismatched: int = 0
    #: Copied as served, but the raw bytes could not be proven (see FetchedMessage.note).
    unverifiable: int = 0
    bytes_copied: int = 0
    #: Source messages with no recorded copy yet (verify): not copied, not a mismatch.
    not_copied: int = 0
    #: Recorded copies found missing or changed on the destination and appended again.
    repaired: int = 0
    #: Files written to the quarantine (refused or skipped messages), relative paths.
    quarantined: list[str] = field(default_factory=list)
    dropped_flags: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    #: Re-sync (pecsync.sync.resync): messages whose flags were brought in step with the
    #: source; flag changes made by the member at the destination and kept; copies whose
    #: source message is gone (reported, never deleted at the destination).
    flags_updated: int = 0
    flags_kept: int = 0
    deleted_at_source: int = 0


@dataclass
class MailboxReport:
    """Outcome of copying or verifying one mailbox."""

    src_user: str
    dst_user: str
    folders: list[FolderReport] = field(default_factory=list)
    #: Mailbox-wide notes (folders left out of the plan and why).
    notes: list[str] = field(default_factory=list)

    @property
    def copied(self) -> int:
        return sum(f.copied for f in self.folders)

    @property
    def bytes_copied(self) -> int:
        return sum(f.bytes_copied for f in self.folders)

    @property
    def verified(self) -> int:
        return sum(f.verified for f in self.folders)

    @property
    def mismatched(self) -> int:
        return sum(f.mismatched for f in self.folders)

    @property
    def unverifiable(self) -> int:
        return sum(f.unverifiable for f in self.folders)

    @property
    def skipped(self) -> int:
        return sum(f.skipped for f in self.folders)

    @property
    def not_copied(self) -> int:
        return sum(f.not_copied for f in self.folders)

    @property
    def repaired(self) -> int:
        return sum(f.repaired for f in self.folders)

    @property
    def src_messages(self) -> int:
        return sum(f.src_messages for f in self.folders)


@dataclass(frozen=True)
class MailboxRow:
    """One valid row.  Empty passwords are ``None`` (waiting for credentials)."""

    line: int
    order: str
    address: str
    source_user: str
    source_password: Secret | None
    dest_user: str
    dest_password: Secret | None
    #: Where invitations and reminders go instead of the PEC address (the list's optional
    #: ``contact`` column).
    contact: str | None = None
