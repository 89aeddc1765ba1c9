"""Pure helpers of the copy path: batching, flag filtering, the content multiset."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable, Sequence

from pecsync.model import MessageInfo

SYSTEM_FLAGS = frozenset({"\\seen", "\\answered", "\\flagged", "\\deleted", "\\draft"})


def make_batches(infos: Sequence[MessageInfo], max_bytes: int,
                 max_messages: int) -> list[list[MessageInfo]]:
    """Split messages (in order) into batches of at most *max_messages* and, unless a single
    message is larger on its own, at most *max_bytes*.

    >>> [len(b) for b in make_batches(msgs_of_sizes([5, 5, 5]), max_bytes=10, max_messages=9)]
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
