"""Reconnect budget and backoff, what is reconnected, and how a refused re-login is classified."""

from __future__ import annotations

import imaplib
import time
from datetime import UTC, datetime
from typing import Any

import anyio
import pytest

from pecsync.config import ServerConfig
from pecsync.engine.outcome import classify_failure, with_next_step
from pecsync.errors import (
    AuthenticationFailed,
    FolderError,
    LoginDeferred,
    StopRequested,
    TransientError,
    TwoFactorRequired,
)
from pecsync.imap import auth
from pecsync.imap.session import ImapSession
from pecsync.model import Credentials, Secret, Side
from pecsync.store.jobs import JobState
from pecsync.sync.lanes import FixedSlots, copy_in_lanes
from pecsync.sync.reconnect import (
    ReconnectBudget,
    Reconnector,
    ReconnectPolicy,
    reconnectable,
)
from tests.unit.test_lanes import FakeCopier, Opener, context

NOW = datetime(2026, 12, 6, 3, 0, tzinfo=UTC)
DOVECOT_REFUSAL = "[AUTHENTICATIONFAILED] Authentication failed."


def test_budget_is_spent_after_n_reconnects_in_a_row_without_progress() -> None:
    budget = ReconnectBudget(ReconnectPolicy(attempts=3, initial_seconds=1, max_seconds=60))
    waits = [budget.after_failure(progressed=False) for _ in range(3)]
    assert all(w is not None for w in waits)
    assert budget.after_failure(progressed=False) is None
    assert budget.after_failure(progressed=False) is None  # stays spent without progress


def test_progress_resets_the_count_but_not_the_total() -> None:
    budget = ReconnectBudget(ReconnectPolicy(attempts=2, initial_seconds=1, max_seconds=60))
    for _ in range(10):  # a link that drops often, but the copy moves on every time
        assert budget.after_failure(progressed=False) is not None
        assert budget.after_failure(progressed=True) is not None
        assert budget.in_a_row == 1
    assert budget.total == 20
    assert budget.after_failure(progressed=False) is not None
    assert budget.after_failure(progressed=False) is None


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    budget = ReconnectBudget(ReconnectPolicy(attempts=9, initial_seconds=1, max_seconds=10))
    for n, base in ((1, 1), (2, 2), (3, 4), (4, 8)):
        for _ in range(20):
            assert base <= budget.delay(n) <= base + 1
    assert all(budget.delay(n) <= 10 for n in range(1, 12))
    assert len({budget.delay(2) for _ in range(20)}) > 1  # jittered: not all at once


def test_no_reconnect_at_all_when_attempts_is_zero() -> None:
    budget = ReconnectBudget(ReconnectPolicy(attempts=0))
    assert budget.after_failure(progressed=True) is None


@pytest.mark.parametrize(("exc", "expected"), [
    (TransientError("source network error during FETCH: Connection reset by peer"), True),
    (TransientError("source connection lost during FETCH: BYE Server shutting down."), True),
    (TransientError("destination timeout during APPEND"), True),
    (LoginDeferred("source login failed: [UNAVAILABLE] try later"), False),
    (AuthenticationFailed("login refused", response=DOVECOT_REFUSAL), False),
    (TwoFactorRequired("login refused: [CONTACTADMIN] OTP"), False),
    (FolderError("cannot open folder"), False),
    (ValueError("bug"), False),
])
def test_what_is_reconnected(exc: BaseException, expected: bool) -> None:
    assert reconnectable(exc) is expected


def _login_refusal(text: str) -> BaseException:
    session = ImapSession(ServerConfig(host="127.0.0.1", port=1), Side.SRC, mailbox="m@pec.it")
    with pytest.raises(Exception) as err:
        raise auth.login_refusal(session.connection, text, Credentials("m@pec.it", Secret("pw")))
    return err.value


def test_a_temporary_no_to_login_is_a_refused_login_never_retried_in_the_attempt() -> None:
    exc = _login_refusal("[UNAVAILABLE] Temporary authentication failure")
    assert isinstance(exc, LoginDeferred) and isinstance(exc, TransientError)
    assert not reconnectable(exc)


@pytest.mark.parametrize("answer", [DOVECOT_REFUSAL,
                                    "[EXPIRED] The app password has expired"])
def test_refused_relogin_of_a_password_that_worked_is_credentials_changed(answer: str) -> None:
    exc = _login_refusal(answer)
    assert isinstance(exc, AuthenticationFailed)
    out = classify_failure(exc, credential_worked_before=True, attempts=1, max_attempts=6,
                           retry_initial=60, retry_max=3600, now=NOW, address="rossi@pec.it")
    assert out.state == JobState.BLOCKED_CREDENTIALS_CHANGED
    assert out.next_attempt_at is None  # blocked at once, no retry_wait
    text = out.error_text or ""
    assert answer in text  # the server's words
    assert "enter the new password on the intake page or " \
           "`pecsync retry rossi@pec.it --password-stdin`" in text
    assert "pw" not in text.replace("password", "")
    # status adds no second copy of the next step
    assert with_next_step(out.state, "rossi@pec.it", text) == text
    # the same refusal of a password that never worked is a wrong password
    first = classify_failure(exc, credential_worked_before=False, attempts=1, max_attempts=6,
                             retry_initial=60, retry_max=3600, now=NOW, address="rossi@pec.it")
    assert first.state == JobState.BLOCKED_INVALID_CREDENTIALS


class _RefusingLane:
    def __init__(self, exc: Exception) -> None:
        self.exc, self.calls = exc, 0

    async def __call__(self) -> tuple[Any, Any]:
        self.calls += 1
        raise self.exc


async def test_a_lane_refused_for_its_password_stops_the_mailbox_after_one_login() -> None:
    """The password changed while the mailbox copies: the first lane whose LOGIN is refused
    stops the mailbox with that refusal; no other lane tries the password."""
    refused = AuthenticationFailed("source login refused for m: " + DOVECOT_REFUSAL,
                                   side="src", response=DOVECOT_REFUSAL)
    copiers = [FakeCopier("INBOX", seconds=0.2)] + [FakeCopier(f"F{i}", seconds=0.05)
                                                     for i in range(4)]
    opener = _RefusingLane(refused)
    slots = FixedSlots(2)
    with pytest.raises(AuthenticationFailed) as err:
        await copy_in_lanes(context({}), copiers, verify=True, lanes=3,  # type: ignore[arg-type]
                            slots=slots, open_lane=opener)
    assert err.value is refused
    assert opener.calls == 1 and slots.free == 2


async def test_a_lane_refused_by_a_connection_limit_is_simply_not_used() -> None:
    limit = AuthenticationFailed("source login refused for m: Too many connections",
                                 side="src", response="Too many connections")
    copiers = [FakeCopier(f"F{i}", seconds=0.01) for i in range(4)]
    slots = FixedSlots(2)
    await copy_in_lanes(context({}), copiers, verify=True, lanes=3,  # type: ignore[arg-type]
                        slots=slots, open_lane=_RefusingLane(limit))
    assert all(c.done for c in copiers) and slots.free == 2



@pytest.mark.parametrize("answer", ["[EXPIRED] The app password has expired",
                                    "La password per app è scaduta",
                                    "Your app password expired, create a new one"])
def test_an_expired_app_password_is_a_credentials_problem_not_2fa(answer: str) -> None:
    exc = _login_refusal(answer)
    assert isinstance(exc, AuthenticationFailed) and not isinstance(exc, TwoFactorRequired)


class _ByeClient:
    """An imapclient whose server has just said BYE (imaplib raises its abort)."""

    def folder_status(self, *args: object) -> None:
        raise imaplib.IMAP4.abort("command: STATUS => Server shutting down.")

    def list_folders(self, *args: object) -> None:
        raise imaplib.IMAP4.abort("command: LIST => Server shutting down.")


def test_bye_during_status_or_list_is_a_lost_connection_not_a_refusal() -> None:
    """imaplib's abort is a subclass of its error: it must not be read as a folder problem
    or a refused command (the job would fail instead of reconnecting)."""
    session = ImapSession(ServerConfig(host="127.0.0.1", port=1), Side.SRC, mailbox="m@pec.it")
    session.connection.client = _ByeClient()
    with pytest.raises(TransientError) as err:
        session.status("INBOX")
    assert not isinstance(err.value, FolderError) and reconnectable(err.value)
    with pytest.raises(TransientError):
        session.connection.call("LIST", session.connection.client.list_folders)


class _Rounds:
    """Rounds of a fake copy: each entry of *script* is what one round does (an exception to
    raise, or "ok"); "login" marks that the round's LOGIN worked, "progress" a checkpoint."""

    def __init__(self, rounds: Reconnector, script: list[tuple[str, ...]]) -> None:
        self.rounds, self.script, self.calls = rounds, script, 0

    async def __call__(self) -> str:
        steps = self.script[self.calls]
        self.calls += 1
        for step in steps:
            if step == "login":
                self.rounds.established = True
            elif step == "progress":
                self.rounds.checkpoint()
            elif step == "drop":
                raise TransientError("source network error during FETCH: reset")
            elif step == "refused":
                raise AuthenticationFailed("login refused", side="src",
                                           response=DOVECOT_REFUSAL)
        return "done"


FAST = ReconnectPolicy(attempts=2, initial_seconds=0.001, max_seconds=0.002)


async def test_a_dropped_round_is_run_again_until_done() -> None:
    rounds = Reconnector(FAST, "m")
    fake = _Rounds(rounds, [("login", "progress", "drop"), ("login", "drop"),
                            ("login", "progress", "drop"), ("login", "drop"), ("login",)])
    assert await rounds.run(fake) == "done"
    assert fake.calls == 5 and rounds.budget.total == 4


async def test_rounds_without_progress_spend_the_budget() -> None:
    rounds = Reconnector(FAST, "m")
    fake = _Rounds(rounds, [("login", "drop")] * 5)
    with pytest.raises(TransientError):
        await rounds.run(fake)
    assert fake.calls == 3  # the first round and 2 reconnects


async def test_a_refused_relogin_is_raised_after_one_try() -> None:
    rounds = Reconnector(FAST, "m")
    fake = _Rounds(rounds, [("login", "progress", "drop"), ("refused",), ("login",)])
    with pytest.raises(AuthenticationFailed):
        await rounds.run(fake)
    assert fake.calls == 2


async def test_a_failure_before_the_first_login_is_not_reconnected() -> None:
    rounds = Reconnector(FAST, "m")
    fake = _Rounds(rounds, [("drop",), ("login",)])
    with pytest.raises(TransientError):
        await rounds.run(fake)
    assert fake.calls == 1


async def test_a_stop_request_ends_the_backoff() -> None:
    stop = {"now": False}
    rounds = Reconnector(ReconnectPolicy(attempts=3, initial_seconds=30, max_seconds=30), "m",
                         should_stop=lambda: stop["now"])
    fake = _Rounds(rounds, [("login", "drop"), ("login",)])

    async def press_ctrl_c() -> None:
        await anyio.sleep(0.2)
        stop["now"] = True

    started = time.monotonic()
    async with anyio.create_task_group() as tg:
        tg.start_soon(press_ctrl_c)
        with pytest.raises(StopRequested):
            await rounds.run(fake)
    assert time.monotonic() - started < 2 and fake.calls == 1


class _DroppingCopier(FakeCopier):
    """Loses its connection the first time it runs on an extra lane."""

    def __init__(self, name: str, seconds: float = 0.05) -> None:
        super().__init__(name, seconds)
        self.drops = 0
        #: Runs after the drop: each one re-reads the folder's checkpoint (copy_folder does).
        self.resumes = 0

    async def copy_folder(self, ctx: Any, *, verify: bool) -> None:
        if self.drops:
            self.resumes += 1
        if ctx.src.name != "lane0" and not self.drops:
            await anyio.sleep(self.seconds / 2)
            self.drops += 1
            raise TransientError("source network error during FETCH: Connection reset by peer")
        await super().copy_folder(ctx, verify=verify)


async def test_a_lane_that_loses_its_connection_hands_its_folder_back() -> None:
    """The mailbox goes on: the folder resumes (checkpoint re-read) on another lane, the
    dropped lane is logged out and its slot given back; no error."""
    copiers = [FakeCopier("INBOX", seconds=0.02), _DroppingCopier("A"), _DroppingCopier("B")]
    slots = FixedSlots(2)
    opener = Opener()
    await copy_in_lanes(context({"INBOX": 9, "A": 5, "B": 4}), copiers,  # type: ignore[arg-type]
                        verify=True, lanes=3, slots=slots, open_lane=opener)
    assert all(c.done for c in copiers) and slots.free == 2
    dropped = [c for c in copiers if isinstance(c, _DroppingCopier) and c.drops]
    assert dropped and all(c.resumes == 1 for c in dropped)
    assert all(s.logged_out for pair in opener.opened for s in pair)


async def test_a_lost_connection_on_lane_0_ends_the_round() -> None:
    failing = FakeCopier("INBOX", seconds=0.02,
                         fail=TransientError("source connection lost: BYE"))
    with pytest.raises(TransientError):
        await copy_in_lanes(context({"INBOX": 9}), [failing],  # type: ignore[list-item]
                            verify=True, lanes=1, slots=None, open_lane=Opener())
