from datetime import UTC, datetime, timedelta, timezone

from pecsync.model import MessageInfo
from pecsync.sync.batches import (
    ContentPool,
    MatchPool,
    comparable_flags,
    filter_flags,
    make_batches,
)

WHEN = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


def infos(*sizes: int) -> list[MessageInfo]:
    return [MessageInfo(uid=i + 1, size=s, flags=(), internaldate=WHEN)
            for i, s in enumerate(sizes)]


def test_batches_bounded_by_bytes_and_count() -> None:
    got = make_batches(infos(5, 5, 5, 5, 5), max_bytes=10, max_messages=9)
    assert [[m.uid for m in b] for b in got] == [[1, 2], [3, 4], [5]]
    got = make_batches(infos(1, 1, 1, 1, 1), max_bytes=100, max_messages=2)
    assert [len(b) for b in got] == [2, 2, 1]


def test_oversized_message_goes_alone() -> None:
    got = make_batches(infos(3, 30, 3), max_bytes=10, max_messages=9)
    assert [[m.size for m in b] for b in got] == [[3], [30], [3]]
    assert make_batches([], 10, 10) == []


def test_filter_flags_respects_permanentflags() -> None:
    kept, dropped = filter_flags(["\\Seen", "$PecRicevuta", "\\Recent", "\\Flagged"],
                                 frozenset({"\\Seen", "\\Flagged"}))
    assert kept == ("\\Flagged", "\\Seen") and dropped == {"$PecRicevuta"}
    kept, dropped = filter_flags(["\\Seen", "$PecRicevuta"], frozenset({"\\Seen", "\\*"}))
    assert kept == ("$PecRicevuta", "\\Seen") and not dropped
    kept, _ = filter_flags(["\\Seen", "x"], frozenset())
    assert kept == ("\\Seen", "x")


def test_comparable_flags_ignores_recent_and_case_of_system_flags() -> None:
    assert comparable_flags(["\\SEEN", "\\Recent", "$Label"]) == {"\\seen", "$Label"}


def test_content_pool_is_a_multiset() -> None:
    pool = ContentPool()
    for uid in (4, 5, 6):
        pool.add("same", uid)
    pool.add("other", 9)
    assert [pool.take("same") for _ in range(4)] == [4, 5, 6, None]
    assert pool.take("missing") is None
    assert len(pool) == 1


def test_match_pool_needs_the_same_bytes_and_internaldate() -> None:
    at = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    pool = MatchPool()
    pool.add("same", MessageInfo(4, 10, ("\\Seen",), at))
    pool.add("same", MessageInfo(5, 10, (), at.replace(hour=9)))
    pool.add("same", MessageInfo(6, 10, (), at))
    # Another INTERNALDATE is not the copy; the same instant in another offset is.
    assert pool.take("same", at.replace(minute=0)) is None
    assert [i.uid for i in pool.others("same")] == [4, 5, 6]
    got = pool.take("same", at.astimezone(timezone(timedelta(hours=2))))
    assert got is not None and got.uid == 4 and got.flags == ("\\Seen",)
    got = pool.take("same", at)
    assert got is not None and got.uid == 6
    assert pool.take("same", at) is None and pool.take("other", at) is None
    assert [i.uid for i in pool.others("same")] == [5] and len(pool) == 1
