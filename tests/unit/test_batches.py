from datetime import UTC, datetime

from pecsync.model import MessageInfo
from pecsync.sync.batches import ContentPool, comparable_flags, filter_flags, make_batches

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
