"""Pure helpers of the copy path: batching, flag filtering, the content multiset."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from datetime import datetime

from pecsync.model import MessageInfo


def make_batches(infos: Sequence[MessageInfo], max_bytes: int,
                 max_messages: int) -> list[list[MessageInfo]]:
    """Split messages (in order) into batches of at most *max_messages* and, unless a single
    message is larger on its own, at most *max_bytes*.

    >>> from datetime import UTC, datetime
    >>> infos = [MessageInfo(uid, 5, (), datetime(2024, 1, 1, tzinfo=UTC)) for uid in (1, 2, 3)]
    >>> [len(b) for b in make_batches(infos, max_bytes=10, max_messages=9)]
    [2, 1]
    """
    batches: list[list[MessageInfo]] = []
    current: list[MessageInfo] = []
    size = 0
    for info in infos:
        if current and (len(current) >= max_messages or size + info.size > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(info)
        size += info.size
    if current:
        batches.append(current)
    return batches


def filter_flags(flags: Iterable[str], permanentflags: frozenset[str]) -> tuple[tuple[str, ...],
                                                                                set[str]]:
    """Split source flags into those the destination keeps and those it would drop.

    ``\\Recent`` is never copied (the server sets it).  An empty PERMANENTFLAGS list means the
    server did not say: then every flag is tried.  ``\\*`` allows any keyword.

    >>> filter_flags(["\\\\Seen", "$Pec", "\\\\Recent"], frozenset({"\\\\Seen"}))
    (('\\\\Seen',), {'$Pec'})
    """
    allowed = {f.lower() for f in permanentflags}
    any_keyword = "\\*" in allowed
    kept: list[str] = []
    dropped: set[str] = set()
    for flag in flags:
        low = flag.lower()
        if low == "\\recent":
            continue
        if (not permanentflags or low in allowed
                or (any_keyword and not low.startswith("\\"))):
            kept.append(flag)
        else:
            dropped.add(flag)
    return tuple(sorted(kept)), dropped


def comparable_flags(flags: Iterable[str]) -> frozenset[str]:
    """Flags as compared in verification: case-folded system flags, no ``\\Recent``."""
    return frozenset(f.lower() if f.startswith("\\") else f for f in flags
                     if f.lower() != "\\recent")


class ContentPool:
    """A multiset of destination messages by SHA-256: k identical copies can be claimed
    exactly k times (three identical source messages never match one destination copy).

    >>> pool = ContentPool(); pool.add("ab", 7); pool.add("ab", 9)
    >>> pool.take("ab"), pool.take("ab"), pool.take("ab")
    (7, 9, None)
    """

    def __init__(self) -> None:
        self._uids: dict[str, deque[int]] = defaultdict(deque)

    def add(self, sha256: str, dst_uid: int) -> None:
        self._uids[sha256].append(dst_uid)

    def take(self, sha256: str) -> int | None:
        uids = self._uids.get(sha256)
        if not uids:
            return None
        return uids.popleft()

    def __len__(self) -> int:
        return sum(len(v) for v in self._uids.values())


class MatchPool:
    """The destination messages a content-matched pass may claim, keyed by SHA-256 *and*
    INTERNALDATE (as an instant).  The legal copy is the bytes and the INTERNALDATE, and IMAP
    cannot change a message's INTERNALDATE: a destination message with the source's bytes but
    another INTERNALDATE is never taken as the copy (a proper copy is appended instead);
    :meth:`others` names it for the report.  Flags are not part of the key: they can be set.

    >>> from datetime import UTC
    >>> at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    >>> pool = MatchPool(); pool.add("ab", MessageInfo(7, 10, (), at))
    >>> pool.take("ab", at.replace(minute=0)), [i.uid for i in pool.others("ab")]
    (None, [7])
    >>> pool.take("ab", at).uid, pool.others("ab")
    (7, [])
    """

    def __init__(self) -> None:
        #: Unclaimed destination messages by SHA-256, then UID (in the order added).
        self._by_sha: dict[str, dict[int, MessageInfo]] = defaultdict(dict)

    def add(self, sha256: str, info: MessageInfo) -> None:
        self._by_sha[sha256][info.uid] = info

    def take(self, sha256: str, internaldate: datetime) -> MessageInfo | None:
        """Claim a destination message with these bytes and this INTERNALDATE (its metadata:
        UID and current flags), or None.  INTERNALDATE has whole seconds, and the same
        instant may come back in another offset: instants are compared."""
        same = self._by_sha.get(sha256, {})
        at = int(internaldate.timestamp())
        uid = next((u for u, i in same.items() if int(i.internaldate.timestamp()) == at), None)
        return None if uid is None else same.pop(uid)

    def others(self, sha256: str) -> list[MessageInfo]:
        """Unclaimed destination messages with these bytes (so another INTERNALDATE)."""
        return list(self._by_sha.get(sha256, {}).values())

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_sha.values())
