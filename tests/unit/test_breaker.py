"""The circuit breaker's bookkeeping (pure)."""

from __future__ import annotations

from pathlib import Path

from pecsync.config import Config, ServerConfig
from pecsync.engine.breaker import LOGIN, UNREACHABLE, Before, CircuitBreaker, server_failure
from pecsync.errors import AuthenticationFailed, FolderError, TransientError, TwoFactorRequired
from pecsync.store.jobs import Job, JobState


def config() -> Config:
    return Config(path=Path("x.toml"), source=ServerConfig("src.example", 993),
                  destination=ServerConfig("dst.example", 993), database=Path("db"))


def job(n: int, *, attempts: int = 1, next_at: str | None = None) -> Job:
    return Job(n, f"m{n}@pec.it", "O", f"m{n}@pec.it", f"m{n}@pec.it", JobState.RUNNING,
               "login", attempts, "transient" if next_at else None, None, next_at, 0, 0, 0,
               0, 0, "now", None, None)


def refused(side: str = "dst") -> AuthenticationFailed:
    return AuthenticationFailed("login refused", side=side, response="[AUTHENTICATIONFAILED] no")


def test_only_login_and_connection_failures_count() -> None:
    assert server_failure(refused(), "login") is not None
    assert server_failure(TwoFactorRequired("x", side="src"), "login").kind == LOGIN  # type: ignore[union-attr]
    lost = TransientError("connection refused", side="dst")
    assert server_failure(lost, "login").kind == UNREACHABLE  # type: ignore[union-attr]
    assert server_failure(lost, "copy") is None  # mid-copy drops are not the configuration
    assert server_failure(FolderError("x", side="dst"), "login") is None
    assert server_failure(RuntimeError("x"), "login") is None


def test_trips_on_distinct_mailboxes_in_a_row_and_returns_the_streak() -> None:
    breaker = CircuitBreaker(config(), 3)
    failure = server_failure(refused(), "login")
    assert failure is not None
    assert breaker.failed(failure, job(1), Before.of(job(1))) == []
    assert breaker.failed(failure, job(1), Before.of(job(1))) == []  # the same mailbox again
    assert breaker.failed(failure, job(2), Before.of(job(2))) == []
    assert not breaker.open
    back = breaker.failed(failure, job(3), Before.of(job(3)))
    assert [j.address for j, _ in back] == ["m1@pec.it", "m2@pec.it", "m3@pec.it"]
    assert breaker.open and breaker.kind == LOGIN
    assert "3 consecutive login failures at dst.example:993 (destination): check the " \
           "configuration" in breaker.message()
    # Once open, every further failure there goes back too.
    assert [j.address for j, _ in breaker.failed(failure, job(4), Before.of(job(4)))] == \
        ["m4@pec.it"]


def test_a_working_login_resets_the_count_and_sides_are_apart() -> None:
    breaker = CircuitBreaker(config(), 2)
    dst, src = server_failure(refused("dst"), "login"), server_failure(refused("src"), "login")
    assert dst is not None and src is not None
    for n in range(1, 10):
        assert breaker.failed(dst, job(n), Before.of(job(n))) == []
        breaker.succeeded("destination")
    assert breaker.failed(src, job(20), Before.of(job(20))) == []
    assert breaker.failed(dst, job(21), Before.of(job(21))) == []
    assert not breaker.open


def test_off_with_zero_and_before_the_claim() -> None:
    breaker = CircuitBreaker(config(), 0)
    failure = server_failure(refused(), "login")
    assert failure is not None
    assert all(breaker.failed(failure, job(n), Before.of(job(n))) == [] for n in range(50))
    assert Before.of(job(1, attempts=3)).state == JobState.PENDING
    assert Before.of(job(1, attempts=3)).attempts == 2
    due = Before.of(job(1, attempts=2, next_at="2026-01-01T00:00:00+00:00"))
    assert (due.state, due.attempts, due.next_attempt_at) == (
        JobState.RETRY_WAIT, 1, "2026-01-01T00:00:00+00:00")
    resync = Before.of(job(1, attempts=1), was_done=True)  # a re-sync claimed it from done
    assert (resync.state, resync.attempts) == (JobState.DONE, 1)


def test_one_mailbox_that_cannot_connect_again_and_again_trips_it() -> None:
    """A server that cannot be reached is the server's fact: every connection failure
    counts, whatever the mailbox; the mailbox goes back as it was before its first claim."""
    breaker = CircuitBreaker(config(), 3)
    failure = server_failure(TransientError("connection refused", side="dst"), "login")
    assert failure is not None and failure.kind == UNREACHABLE
    first = Before.of(job(1, attempts=1))
    assert breaker.failed(failure, job(1, attempts=1), first) == []
    assert breaker.failed(failure, job(1, attempts=2), Before.of(job(1, attempts=2))) == []
    back = breaker.failed(failure, job(1, attempts=3), Before.of(job(1, attempts=3)))
    assert [(j.address, b) for j, b in back] == [("m1@pec.it", first)]
    assert first.attempts == 0 and first.state == JobState.PENDING
    assert breaker.open and breaker.kind == UNREACHABLE
    assert "3 consecutive failures to reach dst.example:993 (destination)" in breaker.message()


def test_a_working_login_resets_the_connection_failures_too() -> None:
    breaker = CircuitBreaker(config(), 2)
    failure = server_failure(TransientError("connection refused", side="src"), "login")
    assert failure is not None
    for _ in range(5):
        assert breaker.failed(failure, job(1), Before.of(job(1))) == []
        breaker.succeeded("source")
    assert not breaker.open
