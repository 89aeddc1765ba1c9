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


class BatchSizer:
    """How large one lane's next batch is: about *seconds* of the lane's own measured
    throughput, between *min_bytes* and the configured maximum (``[engine] batch_max_bytes``
    and ``batch_max_messages``).

    A batch is fetched whole before it is appended, and appended whole before its copies are
    recorded: over a link shared by many connections, a 5 MB batch kept the destination's
    upstream idle for seconds at a folder's start and the source's downstream at its end.
    Sized by time, batches are small where the lane's share of the link is small and as large
    as configured on a fast link (the first one is small: the rate is not known yet; on
    loopback the second is already the largest).

    >>> s = BatchSizer(max_bytes=16_000_000, max_messages=100, seconds=0.5, min_bytes=250_000)
    >>> s.max_bytes()
    250000
    >>> s.observed(1_000_000, 2.0); s.max_bytes()  # 0.5 MB/s: the floor
    250000
    >>> s.observed(99_000_000, 0.5); s.max_bytes()  # a fast link: as configured
    16000000

    The rate is the lane's, learnt over every folder it copies; each folder's first batch is
    a quarter of the size (:meth:`begin`), so that its APPEND starts while the rest is still
    being fetched: a folder of one or two batches was fetched whole, then appended whole.

    >>> s.begin(); s.max_bytes(), s.max_bytes()
    (4000000, 16000000)
    """

    def __init__(self, max_bytes: int, max_messages: int, *, seconds: float = 0.3,
                 min_bytes: int = 64 * 1024) -> None:
        self.max_messages = max_messages
        self._max = max_bytes
        self._min = min(min_bytes, max_bytes)
        self._seconds = seconds
        self._bytes = 0
        self._time = 0.0
        self._first = False

    def begin(self) -> None:
        """A folder (or a share of one) starts: its first batch is a quarter of the size."""
        self._first = True

    def max_bytes(self) -> int:
        if not self._bytes:
            return self._min
        rate = self._bytes / max(self._time, 1e-3)
        size = min(self._max, rate * self._seconds)
        if self._first:
            self._first = False
            size /= 4
        return int(max(self._min, size))

    def observed(self, nbytes: int, seconds: float) -> None:
        """A batch of *nbytes* took *seconds* of the lane's time (waits included).  The rate
        is the lane's whole throughput so far, not the last batch's: a batch requested ahead
        (pipelined) arrives in less time than it took the link to carry it."""
        self._bytes += nbytes
        self._time += seconds


def cut_batch(infos: Iterable[MessageInfo], max_bytes: int, max_messages: int) -> int:
    """How many of *infos* (from the first) make one batch: at most *max_messages* and, unless
    the first message is larger on its own, at most *max_bytes*.

    >>> from datetime import UTC, datetime
    >>> infos = [MessageInfo(uid, 5, (), datetime(2024, 1, 1, tzinfo=UTC)) for uid in (1, 2, 3)]
    >>> cut_batch(infos, max_bytes=10, max_messages=9), cut_batch(infos, 1, 9)
    (2, 1)
    """
    n = size = 0
    for info in infos:
        if n and (n >= max_messages or size + info.size > max_bytes):
            break
        n += 1
        size += info.size
    return n
