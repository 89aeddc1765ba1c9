"""What the web intake page keeps in the state database: rate limits, used forms, status
links and the addresses asked for that are not in the list.  Named queries only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pecsync.store.checkpoints import CheckpointStore, now
from pecsync.store.connector import Repository
from pecsync.store.rows import RowMapper


@dataclass(frozen=True)
class IntakeRequest:
    """An address a member entered that is not in the list (a "late addition")."""

    address: str
    order: str | None
    count: int
    first_at: str
    last_at: str


_REQUEST = RowMapper(IntakeRequest, rename={"order": "order_name"})


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


class IntakeStore(Repository):
    def __init__(self, store: CheckpointStore) -> None:
        super().__init__(store)
        #: What it was built from (the statements run on ``self.connector``).
        self.store = store

    async def take_slot(self, kind: str, key: str, limit: int, window: timedelta
                        ) -> datetime | None:
        """Count one attempt of *key* (a member address or a client address) against
        *limit* per *window*; None when allowed, else when the next attempt will be.

        The count and the insert are one statement (``take_intake_slot``), so the limit
        holds across concurrent requests and server processes; a restart keeps it."""
        current = datetime.now(UTC)
        since = _iso(current - window)
        rows = await self.connector._transaction([
            ("prune_intake_attempts", {"kind": kind, "before": _iso(current - 2 * window)}),
            ("take_intake_slot", {"kind": kind, "key": key, "now": _iso(current),
                                   "since": since, "limit": limit})])
        if rows:
            return None
        oldest = await self.connector._value("oldest_intake_slot", {"kind": kind, "key": key,
                                                                    "since": since})
        first = datetime.fromisoformat(str(oldest)) if oldest else current
        return first + window + timedelta(seconds=1)

    async def clear_slots(self, kind: str, key: str) -> None:
        """Forget every attempt of *key* (a dashboard login that succeeded: the account's
        earlier failures no longer count against it)."""
        await self.connector._transaction([("clear_intake_slots", {"kind": kind, "key": key})])

    async def release_slot(self, kind: str, key: str) -> None:
        """Give back the latest slot of *key* (taken before a check that did not fail): the
        limits count failed checks, so a right password costs the member nothing."""
        await self.connector._transaction([("release_intake_slot", {"kind": kind, "key": key})])

    async def use_form(self, form_hash: str) -> bool:
        """True the first time a form (its one-time challenge) is submitted, False after."""
        current = datetime.now(UTC)
        rows = await self.connector._transaction([
            ("prune_intake_forms", {"before": _iso(current - timedelta(days=2))}),
            ("use_intake_form", {"form_hash": form_hash, "now": _iso(current)})])
        return bool(rows)

    async def record_request(self, address: str, order: str | None) -> None:
        await self.connector._transaction([("insert_intake_request", {
            "address": address, "order_name": order, "now": now()})])

    async def requests(self) -> list[IntakeRequest]:
        """Late additions still missing from the list, oldest first."""
        return _REQUEST.all(await self.connector._query("intake_requests"))

    async def save_token(self, token_hash: str, job_id: int) -> None:
        await self.connector._transaction([("insert_intake_token", {
            "token_hash": token_hash, "job_id": job_id, "now": now()})])

    async def address_of_token(self, token_hash: str) -> str | None:
        address = await self.connector._value("job_of_intake_token", {"token_hash": token_hash})
        return None if address is None else str(address)
