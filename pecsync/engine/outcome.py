"""From what happened to a job's next state: the failure table of docs/design/architecture.md §4.

Pure: unit-tested row by row.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pecsync.config import EngineConfig
from pecsync.errors import (
    AuthenticationFailed,
    DestinationFull,
    PecsyncError,
    StopRequested,
    TransientError,
    TwoFactorRequired,
    VerificationFailed,
)
from pecsync.model import MailboxReport
from pecsync.state_wording import DONE_WITH_EXCEPTIONS, NO_DEST_PASSWORD_STEP, wording
from pecsync.store.jobs import JobState

#: error_class of a mailbox waiting for its destination password (the source one is there).
NO_DEST_PASSWORD = "no_dest_credentials"


@dataclass(frozen=True)
class Outcome:
    state: JobState
    error_class: str | None = None
    error_text: str | None = None
    next_attempt_at: str | None = None
    #: Seconds to wait before the next attempt (with ``retry_wait``): *next_attempt_at*
    #: for a caller that waits in the foreground.
    retry_in: float | None = None


@dataclass(frozen=True)
class RetryPolicy:
    """When a transient failure is tried again, and after how long: the one policy of
    ``run``/``retry`` (a job back to ``retry_wait``) and ``copy`` (waits in the foreground).
    Attempt *n* waits about *initial_seconds* × 2^(n−1), never above *max_seconds*; after
    *max_attempts* attempts the mailbox is ``failed``."""

    max_attempts: int
    initial_seconds: float
    max_seconds: float

    @classmethod
    def for_jobs(cls, engine: EngineConfig) -> RetryPolicy:
        """``run``/``retry``: ``[engine] max_attempts``, ``retry_initial_seconds``,
        ``retry_max_seconds``."""
        return cls(engine.max_attempts, engine.retry_initial_seconds, engine.retry_max_seconds)

    @classmethod
    def for_foreground(cls, engine: EngineConfig) -> RetryPolicy:
        """``copy``, whose operator waits at the terminal: ``[engine] retries`` more
        attempts, from one second up to thirty."""
        return cls(engine.retries + 1, 1.0, 30.0)

    def classify(self, exc: BaseException, *, attempts: int, credential_worked_before: bool,
                 address: str | None = None, now: datetime | None = None) -> Outcome:
        """:func:`classify_failure` under this policy (*attempts*: this one included)."""
        return classify_failure(exc, credential_worked_before=credential_worked_before,
                                attempts=attempts, max_attempts=self.max_attempts,
                                retry_initial=self.initial_seconds,
                                retry_max=self.max_seconds, now=now, address=address)


def report_outcome(report: MailboxReport, address: str) -> Outcome:
    """The state a mailbox is in after an attempt that ran to its end: ``failed`` when a
    copy differs from the source, else ``done`` (with the messages the destination refused
    in the quarantine: "done with exceptions")."""
    if report.mismatched:
        exc = VerificationFailed(f"{report.mismatched} message(s) differ on the destination",
                                 mailbox=address, hint="run `pecsync verify` for the list")
        return Outcome(JobState.FAILED, exc.kind, exc.reason)
    skipped = report.skipped
    step = str(wording(DONE_WITH_EXCEPTIONS, "en").operator_step).replace("ADDRESS", address)
    text = (f"done with exceptions: {skipped} message(s) refused or skipped by the "
            f"destination, kept in quarantine/{address}/ — next step: {step}"
            if skipped else None)
    return Outcome(JobState.DONE, "quarantined" if skipped else None, text)


def backoff_seconds(attempt: int, initial: float, maximum: float,
                    rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter on the upper half: attempt 1 waits about
    *initial*, each further attempt doubles, never above *maximum*."""
    base = min(maximum, initial * (2 ** max(attempt - 1, 0)))
    r = rng or random.Random()
    return float(base / 2 + r.uniform(0, base / 2))


def next_step(state: JobState, address: str | None = None,
              error_class: str | None = None) -> str | None:
    """What to do about a job in *state*, naming its address: the operator voice of
    pecsync.state_wording, in English (the CLI's language).  A mailbox waiting for its
    destination password (*error_class* ``no_dest_credentials``) is told about
    ``--dest-password-stdin``, not ``--password-stdin``.

    >>> print(next_step(JobState.WAITING_CREDENTIALS, "a@b.it", NO_DEST_PASSWORD))
    ... # doctest: +NORMALIZE_WHITESPACE
    no destination password yet: add dest_password to the list and re-import, or run
    `pecsync retry a@b.it --dest-password-stdin` (or set [destination] master_user)
    """
    if state == JobState.WAITING_CREDENTIALS and error_class == NO_DEST_PASSWORD:
        step: str | None = NO_DEST_PASSWORD_STEP["en"]
    else:
        step = wording(state, "en").operator_step
    if step is not None and address is not None:
        step = step.replace("ADDRESS", address)
    return step


def with_next_step(state: JobState, address: str, error_text: str | None,
                   error_class: str | None = None) -> str | None:
    """A job's reason for status and retry: its text and the next step (once)."""
    step = next_step(state, address, error_class) if state != JobState.DONE else None
    if step is None:
        return error_text
    if error_text and step in error_text:
        return error_text
    return f"{error_text or state.value} — next step: {step}"


def credentials_changed_text(exc: AuthenticationFailed, address: str | None) -> str:
    """Why a job is ``blocked_credentials_changed``, quoting the server, with the next step:
    the LOGIN after a dropped connection refused a password that had logged in before."""
    where = "source" if exc.side != "dst" else "destination"
    who = address or exc.mailbox or "ADDRESS"
    answer = exc.response or exc.detail
    return (f"the {where} refused the password that worked before "
            f"(\"{answer}\") — next step: "
            f"{next_step(JobState.BLOCKED_CREDENTIALS_CHANGED, who)}")


def classify_failure(exc: BaseException, *, credential_worked_before: bool, attempts: int,
                     max_attempts: int, retry_initial: float, retry_max: float,
                     now: datetime | None = None, address: str | None = None) -> Outcome:
    """The job state after *exc* ended an attempt (*address*: the job's, for the next
    step).  The recorded text is the error's :attr:`~pecsync.errors.PecsyncError.reason`:
    without the leading ``mailbox ADDRESS: `` that the log line keeps."""
    text = exc.reason if isinstance(exc, PecsyncError) else str(exc)
    if isinstance(exc, StopRequested):
        return Outcome(JobState.PENDING, exc.kind, "stopped by the operator; resumes next run")
    if isinstance(exc, TwoFactorRequired):
        return Outcome(JobState.BLOCKED_2FA, exc.kind, text)
    if isinstance(exc, AuthenticationFailed):
        if exc.side == "src" and credential_worked_before:
            return Outcome(JobState.BLOCKED_CREDENTIALS_CHANGED, "credentials_changed",
                           credentials_changed_text(exc, address))
        return Outcome(JobState.BLOCKED_INVALID_CREDENTIALS, exc.kind, text)
    if isinstance(exc, DestinationFull):
        return Outcome(JobState.BLOCKED_DESTINATION_FULL, exc.kind, text)
    if isinstance(exc, TransientError):
        if attempts >= max_attempts:
            return Outcome(JobState.FAILED, exc.kind,
                           f"{text} (gave up after {attempts} attempts)")
        wait = backoff_seconds(attempts, retry_initial, retry_max)
        at = (now or datetime.now(UTC)) + timedelta(seconds=wait)
        return Outcome(JobState.RETRY_WAIT, exc.kind, text, at.isoformat(timespec="seconds"),
                       retry_in=wait)
    if isinstance(exc, (VerificationFailed, PecsyncError)):
        return Outcome(JobState.FAILED, exc.kind, text)
    if isinstance(exc, UnicodeError):
        # Its text quotes a character of what was being encoded, and where: a piece of the
        # password when that is what it was.  The log has the traceback (without it either).
        return Outcome(JobState.FAILED, "internal", f"internal error: {type(exc).__name__} "
                                                    f"(details withheld: they may quote a "
                                                    f"password)")
    return Outcome(JobState.FAILED, "internal", f"internal error: {type(exc).__name__}: {exc}")
