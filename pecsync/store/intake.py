"""What the web intake page keeps in the state database: rate limits, used forms, status
links and the addresses asked for that are not in the list.  Named queries only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pecsync.store.checkpoints import CheckpointStore, now


@dataclass(frozen=True)
class IntakeRequest:
    """An address a member entered that is not in the list (a "late addition")."""

    address: str
    order: str | None
    count: int
    first_at: str
    last_at: str


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


class IntakeStore:
    def __init__(self, store: CheckpointStore) -> None:
        self.store = store

    async def take_slot(self, kind: str, key: str, limit: int, window: timedelta
                        ) -> datetime | None:
        """Count one attempt of *key* (a member address or a client address) against
        *limit* per *window*; None when allowed, else when the next attempt will be.

        The count and the insert are one statement (``take_intake_slot``), so the limit
        holds across concurrent requests and server processes; a restart keeps it."""
        current = datetime.now(UTC)
        since = _iso(current - window)
        rows = await self.store._transaction([
            ("prune_intake_attempts", {"before": _iso(current - 2 * window)}),
            ("take_intake_slot", {"kind": kind, "key": key, "now": _iso(current),
                                   "since": since, "limit": limit})])
        if rows:
            return None
        oldest = await self.store._query("oldest_intake_slot", {"kind": kind, "key": key,
                                                                "since": since})
        first = datetime.fromisoformat(oldest[0][0]) if oldest and oldest[0][0] else current
        return first + window + timedelta(seconds=1)

    async def release_slot(self, kind: str, key: str) -> None:
        """Give back the latest slot of *key* (taken before a check that did not fail): the
        limits count failed checks, so a right password costs the member nothing."""
        await self.store._transaction([("release_intake_slot", {"kind": kind, "key": key})])

    async def use_form(self, form_hash: str) -> bool:
        """True the first time a form (its one-time challenge) is submitted, False after."""
        current = datetime.now(UTC)
        rows = await self.store._transaction([
            ("prune_intake_forms", {"before": _iso(current - timedelta(days=2))}),
            ("use_intake_form", {"form_hash": form_hash, "now": _iso(current)})])
        return bool(rows)

    async def record_request(self, address: str, order: str | None) -> None:
        await self.store._transaction([("insert_intake_request", {
            "address": address, "order_name": order, "now": now()})])

    async def requests(self) -> list[IntakeRequest]:
        """Late additions still missing from the list, oldest first."""
        return [IntakeRequest(str(r[0]), r[1], int(r[2]), str(r[3]), str(r[4]))
                for r in await self.store._query("intake_requests", {})]

    async def save_token(self, token_hash: str, job_id: int) -> None:
        await self.store._transaction([("insert_intake_token", {
            "token_hash": token_hash, "job_id": job_id, "now": now()})])

    async def address_of_token(self, token_hash: str) -> str | None:
        rows = await self.store._query("job_of_intake_token", {"token_hash": token_hash})
        return str(rows[0][0]) if rows else None
