"""Connection limits learned from refusals (pecsync.sync.limits) and kept in the state
database (pecsync.store.limits), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from pecsync.errors import AuthenticationFailed, LoginDeferred
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.limits import ServerLimitStore
from pecsync.sync.limits import ConnectionLimits, MailboxLimits, limit_refusal, stated_limit

DOVECOT = ("[LIMIT] Maximum number of connections from user+IP exceeded "
           "(mail_max_userip_connections=3)")


def test_refusals_for_the_limit_are_told_from_other_refusals() -> None:
    assert limit_refusal(LoginDeferred("x", response=DOVECOT))
    assert limit_refusal(AuthenticationFailed("x", response="Too many connections from IP"))
    assert limit_refusal(LoginDeferred("x", response="Troppe connessioni per l'utente"))
    assert not limit_refusal(AuthenticationFailed(
        "x", response="[AUTHENTICATIONFAILED] Authentication failed."))
    assert not limit_refusal(LoginDeferred("x", response="[LIMIT] Mail size is too large"))
    assert not limit_refusal(OSError("connection reset"))
    assert stated_limit(DOVECOT) == 3
    assert stated_limit("Too many connections") is None


async def test_limit_is_the_stated_one_else_the_connections_held() -> None:
    learned: list[tuple[str, int]] = []

    async def persist(server: str, n: int) -> None:
        learned.append((server, n))

    limits = ConnectionLimits(persist=persist)
    box = MailboxLimits(limits, "src:143", "dst:143")
    assert box.lanes(4) == 4
    # A refusal without a number: the connections the mailbox held (or was opening) then.
    assert await box.refused(LoginDeferred("x", side="src", response="Too many sessions"),
                             held=3)
    assert box.lanes(4) == 3 and limits.known == {"src:143": 3}
    # A stated number wins; only a lower limit is learned again (and persisted).
    assert await box.refused(LoginDeferred("x", side="dst", response=DOVECOT), held=1)
    assert await box.refused(LoginDeferred("x", side="src", response="Too many sessions"),
                             held=5)
    assert limits.known == {"src:143": 3, "dst:143": 3}
    assert learned == [("src:143", 3), ("dst:143", 3)]
    # Never fewer than the mailbox's own pair; a refusal of the password is not a limit.
    assert await box.refused(LoginDeferred("x", side="src", response="Too many sessions"),
                             held=0)
    assert box.lanes(4) == 1
    assert not await box.refused(AuthenticationFailed(
        "x", side="src", response="[AUTHENTICATIONFAILED] Authentication failed."), held=2)
    limits.merge({"other:993": 2, "src:143": 9})
    assert limits.known == {"src:143": 1, "dst:143": 3, "other:993": 2}


async def test_learned_limits_are_kept_and_the_lower_wins(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        table = ServerLimitStore(store)
        assert await table.learned() == {}
        await table.learn("imap.pec.it:993", 4)
        await table.learn("imap.pec.it:993", 6)  # another host's higher guess: not taken
        await table.learn("mail.example.it:143", 2)
        await table.learn("mail.example.it:143", 1)
        assert await table.learned() == {"imap.pec.it:993": 4, "mail.example.it:143": 1}
