"""A circuit breaker per server: many mailboxes in a row that cannot log in at one server
say the configuration is wrong, not the members' passwords; and a server that cannot be
reached is a fact about the server, not about a mailbox: consecutive connection failures
there count whatever the mailbox (one mailbox failing to connect attempt after attempt
trips it as surely as many mailboxes do).

Pure bookkeeping, no I/O (the worker persists what it decides, the pool stops claiming).
One member's wrong password never trips it: refused logins count once per mailbox, and a
login that works at the server resets the count.  When it trips, every mailbox of the
streak — already recorded as blocked, or in ``retry_wait`` with an attempt spent — is to be
put back as it was before its first claim in the streak, and so is every mailbox still in
flight that fails the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pecsync.config import Config
from pecsync.errors import (
    AuthenticationFailed,
    ImapError,
    TlsError,
    TransientError,
    TwoFactorRequired,
)
from pecsync.store.jobs import Job, JobState

#: Failure kinds that count: a refused login, or a server that could not be reached.
LOGIN, UNREACHABLE = "login", "unreachable"


@dataclass(frozen=True)
class Before:
    """A claimed job as it was before the claim (what a trip puts back).  A job is claimed
    from ``pending``, from a due ``retry_wait`` (which carries its next attempt time), or
    from ``done`` for a re-sync (*was_done*; that claim counts its attempts afresh)."""

    state: JobState
    attempts: int
    error_class: str | None
    error_text: str | None
    next_attempt_at: str | None

    @classmethod
    def of(cls, claimed: Job, *, was_done: bool = False) -> Before:
        if was_done:
            return cls(JobState.DONE, claimed.attempts, claimed.error_class,
                       claimed.error_text, claimed.next_attempt_at)
        state = JobState.RETRY_WAIT if claimed.next_attempt_at else JobState.PENDING
        return cls(state, max(claimed.attempts - 1, 0), claimed.error_class,
                   claimed.error_text, claimed.next_attempt_at)


@dataclass(frozen=True)
class ServerFailure:
    """What a failed attempt says about one server."""

    side: str  # "source" | "destination"
    kind: str  # LOGIN | UNREACHABLE
    detail: str


def server_failure(exc: BaseException, phase: str | None) -> ServerFailure | None:
    """The server-level failure *exc* is, when it is one: a refused login, or a connection
    that failed while logging in (refused, timed out, not IMAP, TLS)."""
    if not isinstance(exc, ImapError) or exc.side not in ("src", "dst"):
        return None
    side = "source" if exc.side == "src" else "destination"
    if isinstance(exc, (AuthenticationFailed, TwoFactorRequired)):
        return ServerFailure(side, LOGIN, exc.response or exc.detail)
    if isinstance(exc, (TransientError, TlsError)) and phase in (None, "login"):
        return ServerFailure(side, UNREACHABLE, exc.detail)
    return None


@dataclass
class _Streak:
    #: Mailboxes that failed in a row at this server since its last working login, with
    #: their state before the claim.
    jobs: dict[str, tuple[Job, Before]] = field(default_factory=dict)
    last: ServerFailure | None = None
    #: What counts towards the threshold: every connection failure, and each mailbox once
    #: for refused logins.
    count: int = 0


class CircuitBreaker:
    """``breaker.failed(...)`` after each server-level failure, ``breaker.succeeded(side)``
    after each working login; ``breaker.open`` once *threshold* failures in a row at one
    server count (0: never): each connection failure counts, a refused login counts once per
    mailbox."""

    def __init__(self, cfg: Config, threshold: int) -> None:
        self.cfg = cfg
        self.threshold = threshold
        self._streaks: dict[str, _Streak] = {"source": _Streak(), "destination": _Streak()}
        #: side → the failures that tripped it (set once tripped).
        self.tripped: dict[str, tuple[int, ServerFailure]] = {}

    @property
    def open(self) -> bool:
        return bool(self.tripped)

    @property
    def kind(self) -> str | None:
        """LOGIN if any server tripped on refused logins, else UNREACHABLE (None: closed)."""
        kinds = {f.kind for _, f in self.tripped.values()}
        return LOGIN if LOGIN in kinds else (UNREACHABLE if kinds else None)

    def succeeded(self, side: str) -> None:
        """A login worked at *side*: the failures so far were the members' own."""
        if side not in self.tripped:
            self._streaks[side] = _Streak()

    def failed(self, failure: ServerFailure, job: Job, before: Before
               ) -> list[tuple[Job, Before]]:
        """Count *failure* of *job*; the jobs to put back as they were: none while the
        breaker holds, the whole streak when this failure trips it, *job* alone once it has
        tripped."""
        if self.threshold <= 0:
            return []
        if failure.side in self.tripped:
            return [(job, before)]
        streak = self._streaks[failure.side]
        new_mailbox = job.address not in streak.jobs
        # The state before its first failure of the streak: what a trip puts back.
        streak.jobs.setdefault(job.address, (job, before))
        streak.last = failure
        if failure.kind == UNREACHABLE or new_mailbox:
            streak.count += 1
        if streak.count < self.threshold:
            return []
        self.tripped[failure.side] = (streak.count, failure)
        restore = list(streak.jobs.values())
        self._streaks[failure.side] = _Streak()
        return restore

    def reset(self) -> None:
        """Close it again (``run --follow`` after a wait, for an unreachable server)."""
        self.tripped.clear()
        self._streaks = {"source": _Streak(), "destination": _Streak()}

    def message(self) -> str:
        """``5 consecutive login failures at imap.example:993 (destination): check the
        configuration — ...``, one line per tripped server."""
        lines = []
        for side, (count, failure) in self.tripped.items():
            server = self.cfg.source if side == "source" else self.cfg.destination
            where = f"{server.host}:{server.port} ({side})"
            if failure.kind == LOGIN:
                lines.append(
                    f"{count} consecutive login failures at {where}: check the configuration "
                    f"(host, port, master_user and its password): the last one said "
                    f"\"{failure.detail}\"; those mailboxes are left as they were (not "
                    f"blocked, no attempt spent); `pecsync check` tells more")
            else:
                lines.append(
                    f"{count} consecutive failures to reach {where}: check the configuration "
                    f"(host, port, security) and whether the server is up: {failure.detail}; "
                    f"those mailboxes are left as they were (no attempt spent)")
        return "\n".join(lines)
