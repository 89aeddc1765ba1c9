import random
from datetime import UTC, datetime

import pytest

from pecsync.engine.outcome import backoff_seconds, classify_failure
from pecsync.errors import (
    AuthenticationFailed,
    DestinationFull,
    FolderError,
    StopRequested,
    TransientError,
    TwoFactorRequired,
)
from pecsync.store.jobs import JobState

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def outcome(exc: BaseException, worked: bool = False, attempts: int = 1):  # type: ignore[no-untyped-def]
    return classify_failure(exc, credential_worked_before=worked, attempts=attempts,
                            max_attempts=3, retry_initial=10, retry_max=100, now=NOW)


@pytest.mark.parametrize(("exc", "worked", "state"), [
    (AuthenticationFailed("refused", side="src"), False, JobState.BLOCKED_INVALID_CREDENTIALS),
    (AuthenticationFailed("refused", side="src"), True, JobState.BLOCKED_CREDENTIALS_CHANGED),
    (AuthenticationFailed("refused", side="dst"), True, JobState.BLOCKED_INVALID_CREDENTIALS),
    (TwoFactorRequired("2fa", side="src"), False, JobState.BLOCKED_2FA),
    (DestinationFull("full", side="dst"), False, JobState.BLOCKED_DESTINATION_FULL),
    (TransientError("reset", side="dst"), False, JobState.RETRY_WAIT),
    (FolderError("cannot create", side="dst"), False, JobState.FAILED),
    (StopRequested(), False, JobState.PENDING),
    (ValueError("bug"), False, JobState.FAILED),
])
def test_table(exc: BaseException, worked: bool, state: JobState) -> None:
    assert outcome(exc, worked).state == state


def test_transient_gives_up_after_max_attempts() -> None:
    assert outcome(TransientError("x"), attempts=2).state == JobState.RETRY_WAIT
    final = outcome(TransientError("x"), attempts=3)
    assert final.state == JobState.FAILED and "gave up after 3 attempts" in (final.error_text or "")


def test_retry_time_in_the_future_and_internal_errors_marked() -> None:
    o = outcome(TransientError("x"))
    assert o.next_attempt_at is not None and datetime.fromisoformat(o.next_attempt_at) > NOW
    assert outcome(ValueError("bug")).error_class == "internal"


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    waits = [backoff_seconds(a, 10, 100, rng) for a in range(1, 8)]
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 20 and all(w <= 100 for w in waits)
    assert waits[-1] >= 50


def test_encoding_error_text_is_withheld() -> None:
    """A UnicodeError quotes a character and its position: of a password, maybe."""
    try:
        "perché123".encode("ascii")
    except UnicodeEncodeError as exc:
        o = outcome(exc)
    assert o.state == JobState.FAILED and o.error_class == "internal"
    text = o.error_text or ""
    assert "UnicodeEncodeError" in text
    assert "\\xe9" not in text and "é" not in text and "position" not in text


def test_the_recorded_reason_does_not_begin_with_the_mailbox() -> None:
    """Every place a job's reason is shown names the mailbox already (status, its JSON, the
    report): the reason is the error without its leading ``mailbox ADDRESS: ``, while the
    exception's own text (the log's) keeps it."""
    refused = AuthenticationFailed("source login refused: [AUTHENTICATIONFAILED] no",
                                   mailbox="a@pec.it", side="src", hint="check it")
    assert str(refused).startswith("mailbox a@pec.it: ")
    for exc, worked in ((refused, False), (refused, True),
                        (TransientError("destination connection refused", mailbox="a@pec.it",
                                        side="dst"), False),
                        (FolderError("cannot create", mailbox="a@pec.it", folder="X",
                                     side="dst"), False)):
        outcome = classify_failure(exc, credential_worked_before=worked, attempts=1,
                                   max_attempts=3, retry_initial=1, retry_max=2,
                                   address="a@pec.it")
        assert outcome.error_text and not outcome.error_text.startswith("mailbox "), outcome
        assert outcome.error_text.count("a@pec.it") <= 1, outcome  # the next step may name it


def test_a_refused_login_names_the_user_only_when_it_is_not_the_mailbox() -> None:
    from pecsync.config import ServerConfig
    from pecsync.imap import auth
    from pecsync.imap.connection import Connection
    from pecsync.model import Credentials, Secret, Side

    conn = Connection(ServerConfig("imap.example", 993), Side.SRC, mailbox="a@pec.it")
    answer = "[AUTHENTICATIONFAILED] Authentication failed."
    own = auth.login_refusal(conn, answer, Credentials("a@pec.it", Secret("x")))
    assert str(own).startswith("mailbox a@pec.it: source login refused: [AUTH")
    assert isinstance(own, AuthenticationFailed) and own.reason.count("a@pec.it") == 0
    other = auth.login_refusal(conn, answer, Credentials("rossi", Secret("x")))
    assert "source login refused for rossi: [AUTH" in other.reason
    master = auth.login_refusal(conn, answer, Credentials("a@pec.it", Secret("x"), "admin"))
    assert "source login refused (as master user): [AUTH" in master.reason
