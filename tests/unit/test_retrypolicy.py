"""The named retry policies (pecsync.retrypolicy), and a state database that goes away."""

from __future__ import annotations

import ast
import random
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite
import psycopg
import pytest
from psycopg_pool import PoolTimeout

from pecsync import retrypolicy
from pecsync.engine.outcome import classify_failure
from pecsync.errors import StoreConflict, StoreError, StoreUnavailable, TransientError
from pecsync.retrypolicy import DATABASE, DATABASE_BUSY, WRITE_RACE, Policy
from pecsync.store.jobs import JobState
from pecsync.store.postgres_backend import connection_lost
from pecsync.store.sqlite_backend import SqliteBackend

PACKAGE = Path(__file__).resolve().parents[2] / "pecsync"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


async def _run(policy: Policy, failures: list[BaseException],
               retry_on: type[BaseException]) -> tuple[int, list[float]]:
    """Tries of a call that raises *failures* one by one, then succeeds; the waits."""
    calls, slept = 0, []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async for attempt in policy.retrying(lambda e: isinstance(e, retry_on), sleep=sleep):
        with attempt:
            calls += 1
            if failures:
                raise failures.pop(0)
    return calls, slept


async def test_database_busy_tries_six_times_waiting_a_little_longer_each_time() -> None:
    calls, slept = await _run(DATABASE_BUSY, [StoreError("locked")] * 5, StoreError)
    assert calls == 6 and slept == pytest.approx([0.05, 0.10, 0.15, 0.20, 0.25])
    with pytest.raises(StoreError):  # the sixth failure is raised as itself
        await _run(DATABASE_BUSY, [StoreError("locked")] * 6, StoreError)


async def test_what_a_policy_does_not_retry_is_raised_at_once() -> None:
    with pytest.raises(ValueError):
        await _run(WRITE_RACE, [ValueError("bug"), StoreConflict("x")], StoreConflict)


async def test_write_race_retries_at_once() -> None:
    calls, slept = await _run(WRITE_RACE, [StoreConflict("v")] * 3, StoreConflict)
    assert calls == 4 and slept == [0.0, 0.0, 0.0]


async def _run_first_plain(policy: Policy, failures: list[BaseException],
                          retry_on: type[BaseException]) -> tuple[int, list[float]]:
    """:func:`_run` through Policy.run (the first try a plain await)."""
    calls, slept = 0, []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def call() -> str:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        return "done"

    assert await policy.run(call, lambda e: isinstance(e, retry_on), sleep=sleep) == "done"
    return calls, slept


@pytest.mark.parametrize("failures", [0, 1, 2, 5])
async def test_run_tries_and_waits_as_the_loop_does(failures: int) -> None:
    assert await _run_first_plain(DATABASE_BUSY, [StoreError("locked")] * failures,
                                  StoreError) == \
        await _run(DATABASE_BUSY, [StoreError("locked")] * failures, StoreError)
    with pytest.raises(StoreError):  # the sixth failure is raised as itself
        await _run_first_plain(DATABASE_BUSY, [StoreError("locked")] * 6, StoreError)
    with pytest.raises(ValueError):  # what the policy does not retry: at once
        await _run_first_plain(DATABASE_BUSY, [ValueError("bug")], StoreError)


async def test_run_builds_no_retry_loop_when_the_first_try_succeeds(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_loop(*_: object, **__: object) -> None:
        raise AssertionError("a retry loop was built")
    monkeypatch.setattr(Policy, "retrying", no_loop)
    assert await _run_first_plain(DATABASE_BUSY, [], StoreError) == (1, [])


def test_the_database_policy_waits_for_a_minute_with_growing_waits() -> None:
    assert DATABASE.within == 60 and DATABASE.tries is None
    assert [DATABASE.delay(n) for n in range(1, 7)] == [0.25, 0.5, 1, 2, 4, 5]


def test_reconnect_and_job_backoff_keep_their_formulas() -> None:
    rc = retrypolicy.reconnect(5, 1.0, 10.0)
    assert rc.name == "reconnect" and rc.tries == 6
    for n, base in ((1, 1), (2, 2), (3, 4)):
        assert all(base <= rc.delay(n) <= base + 1 for _ in range(20))
    assert rc.delay(9) == 10
    jb = retrypolicy.job_backoff(6, 10, 100, random.Random(1))
    waits = [jb.delay(n) for n in range(1, 8)]
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and all(w <= 100 for w in waits)


def test_no_module_outside_retrypolicy_sleeps_between_tries_by_hand() -> None:
    """The loops named in issue 25 wait through a policy: none of them calls anyio.sleep
    with a hand-made backoff any more."""
    for rel in ("engine/foreground.py", "store/sqlite_backend.py", "store/jobs.py",
                "imap/folders.py"):
        tree = ast.parse((PACKAGE / rel).read_text("utf-8"))
        loops = [n for n in ast.walk(tree) if isinstance(n, (ast.For, ast.While))
                 and any(isinstance(c, ast.Call) and getattr(c.func, "attr", "") == "sleep"
                         for c in ast.walk(n))]
        assert loops == [], rel
    text = (PACKAGE / "store/postgres_backend.py").read_text("utf-8")
    assert "range(_RETRIES" not in text and "DATABASE.retrying" in text


@pytest.mark.parametrize(("exc", "lost"), [
    (psycopg.OperationalError("consuming input failed: server closed the connection "
                              "unexpectedly"), True),
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
     True),
    (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
    (PoolTimeout("couldn't get a connection after 60.00 sec"), True),
    (psycopg.errors.DeadlockDetected("deadlock detected"), False),
    (psycopg.errors.UniqueViolation("duplicate key"), False),
    (psycopg.errors.SyntaxError("syntax error"), False),
])
def test_what_is_a_lost_database_connection(exc: BaseException, lost: bool) -> None:
    assert connection_lost(exc) is lost


def test_a_database_still_locked_after_the_busy_policy_is_unavailable_not_broken() -> None:
    backend = SqliteBackend.__new__(SqliteBackend)
    backend.path = Path("/x/state.sqlite3")
    locked = backend._error("write", aiosqlite.OperationalError("database is locked"))
    assert isinstance(locked, StoreUnavailable)
    assert str(locked) == "/x/state.sqlite3: write failed: database is locked"
    other = backend._error("write", aiosqlite.OperationalError("disk I/O error"))
    assert type(other) is StoreError


def test_a_state_database_that_went_away_puts_the_mailbox_back_uncounted() -> None:
    out = classify_failure(StoreUnavailable("pg: write failed: server closed the connection"),
                           credential_worked_before=True, attempts=6, max_attempts=6,
                           retry_initial=10, retry_max=100, now=NOW)
    # Even at its last attempt: not the mailbox's fault, never failed.
    assert out.state == JobState.RETRY_WAIT and out.counted is False
    assert out.error_class == "store_unavailable" and out.next_attempt_at is not None
    spent = classify_failure(TransientError("reset"), credential_worked_before=True,
                             attempts=1, max_attempts=6, retry_initial=10, retry_max=100,
                             now=NOW)
    assert spent.state == JobState.RETRY_WAIT and spent.counted is True
    broken = classify_failure(StoreError("pg: write failed: syntax error"),
                              credential_worked_before=True, attempts=1, max_attempts=6,
                              retry_initial=10, retry_max=100, now=NOW)
    assert broken.state == JobState.FAILED


async def test_an_uncounted_attempt_is_given_back_in_the_finish(state_db: Path | str) -> None:
    import base64

    from pecsync.model import MailboxRow, Secret
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.store.jobs import JobStore
    from pecsync.vault import Vault, new_key

    async with await CheckpointStore.open(state_db) as store:
        jobs = JobStore(store, Vault(base64.b64decode(new_key())), lease_seconds=30)
        await jobs.import_rows([MailboxRow(2, "O", "a@pec.it", "a@pec.it", Secret("p"),
                                           "a@pec.it", Secret("q"))],
                               src_master=False, dst_master=False)
        job = await jobs.claim_next("w1", None)
        assert job is not None and job.attempts == 1
        assert await jobs.finish(job, JobState.RETRY_WAIT, error_class="store_unavailable",
                                 next_attempt_at=NOW.isoformat(), counted=False)
        after = await jobs.job("a@pec.it")
        assert after is not None and after.state == JobState.RETRY_WAIT
        assert after.attempts == 0  # the claim counted it; the finish gave it back
        again = await jobs.claim_next("w1", None)
        assert again is not None and again.attempts == 1
        assert await jobs.finish(again, JobState.RETRY_WAIT, next_attempt_at=NOW.isoformat())
        counted = await jobs.job("a@pec.it")
        assert counted is not None and counted.attempts == 1
