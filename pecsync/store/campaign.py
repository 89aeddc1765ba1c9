"""The invitation campaign's durable outbox and its records (named queries only).

One ``campaign_send`` row per member and wave (``invite`` or a reminder offset such as
``-7d``), unique on (address, wave): enqueuing a wave twice, from two processes or hosts,
adds nothing.  A sender claims a queued row with a lease (one statement; on PostgreSQL
``FOR UPDATE SKIP LOCKED``), sends it, and records the outcome guarded by that lease:

* ``sent``: when, to whom, the server's answer, the personal link (its hash) it carried;
* ``failed``: a permanent SMTP refusal (5xx), with the server's answer;
* ``queued`` again: a temporary refusal (4xx) or a connection problem, for the next pass;
* ``cancelled``: the member no longer needed to act when the row's turn came.

A sender that dies between the server's acceptance and the record leaves its lease to expire;
the row is then sent again (at least once, never twice by two live senders).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pecsync.store.checkpoints import CheckpointStore, now
from pecsync.store.jobs import JobState
from pecsync.store.rows import RowMapper

#: The job states in which the next step is the member's: no password yet, password refused,
#: 2-step verification on, password changed since.  Invitations and reminders go to these
#: only (never to a member who is done or whose mailbox is being copied).
MEMBER_ACTION_STATES: frozenset[JobState] = frozenset({
    JobState.WAITING_CREDENTIALS, JobState.BLOCKED_INVALID_CREDENTIALS, JobState.BLOCKED_2FA,
    JobState.BLOCKED_CREDENTIALS_CHANGED})

#: How long a claimed row belongs to its sender (an SMTP exchange takes seconds).
SEND_LEASE = timedelta(minutes=5)

SendState = Literal["queued", "sent", "failed", "cancelled"]


@dataclass(frozen=True)
class Claimed:
    """A row a sender holds: send it, then :meth:`CampaignStore.finish` it."""

    id: int
    address: str
    wave: str
    order: str
    attempts: int
    owner: str


@dataclass(frozen=True)
class SendRecord:
    """One member and wave, with the response it got (for tracking)."""

    address: str
    wave: str
    order: str
    state: str
    attempts: int
    recipient: str | None
    #: The member's job state when the row was enqueued, then when it was sent.
    job_state: str | None
    #: The SMTP server's answer (sent: its reply to the data; failed/queued: its refusal).
    answer: str | None
    queued_at: str
    sent_at: str | None
    #: The personal link this message carried was opened / used to submit a password.
    opened_at: str | None
    submitted_at: str | None
    #: The member's job state now (None: no job any more).
    current_state: str | None


_SEND = RowMapper(SendRecord, rename={"order": "order_name", "answer": "last_answer"},
                  attempts=int)


class CampaignStore:
    def __init__(self, store: CheckpointStore) -> None:
        self.store = store

    async def set_contacts(self, contacts: Iterable[tuple[str, str | None]]) -> None:
        """Where each member's messages go (the list's ``contact`` column); None: back to
        the PEC address.  One transaction."""
        ts = now()
        stmts: list[tuple[str, dict[str, Any]]] = []
        for address, contact in contacts:
            if contact:
                stmts.append(("upsert_campaign_contact", {"address": address.lower(),
                                                          "contact": contact, "now": ts}))
            else:
                stmts.append(("delete_campaign_contact", {"address": address.lower()}))
        if stmts:
            await self.store._transaction(stmts)

    async def contacts(self) -> dict[str, str]:
        return {str(r["address"]): str(r["contact"])
                for r in await self.store._query("campaign_contacts", {})}

    async def enqueue(self, wave: str, members: Iterable[tuple[str, str, str]]) -> None:
        """Queue *wave* for each (address, order, job state) that has not had it queued
        yet (a member gets a wave once).  One transaction."""
        ts = now()
        stmts = [("enqueue_campaign_send", {"address": address.lower(), "wave": wave,
                                            "order_name": order, "job_state": state,
                                            "now": ts})
                 for address, order, state in members]
        if stmts:
            await self.store._transaction(stmts)

    async def claim(self, owner: str, *, after: int = 0, order: str | None = None
                    ) -> Claimed | None:
        """The next queued row (id above *after*), leased to *owner*; None when none is
        left."""
        ts = datetime.now(UTC)
        rows = await self.store._transaction([("claim_campaign_send", {
            "owner": owner, "after": after, "order_name": order,
            "now": ts.isoformat(timespec="seconds"),
            "lease_until": (ts + SEND_LEASE).isoformat(timespec="seconds")})])
        if not rows:
            return None
        r = rows[0]
        return Claimed(int(r["id"]), str(r["address"]), str(r["wave"]), str(r["order_name"]),
                       int(r["attempts"]), owner)

    async def finish(self, row: Claimed, state: SendState, *, recipient: str | None = None,
                     answer: str | None = None, token_hash: str | None = None,
                     job_state: str | None = None) -> bool:
        """Record what became of a claimed row; False (nothing written) when this sender
        no longer holds its lease."""
        written = await self.store._transaction([("finish_campaign_send", {
            "id": row.id, "owner": row.owner, "state": state, "recipient": recipient,
            "answer": answer, "token_hash": token_hash, "job_state": job_state,
            "now": now()})])
        return bool(written)

    async def sends(self, order: str | None = None) -> list[SendRecord]:
        return _SEND.all(await self.store._query("campaign_sends", {"order_name": order}))
