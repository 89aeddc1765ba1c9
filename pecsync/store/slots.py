"""Connection slots leased in the state database (fleet-wide max_connections_per_host)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from pecsync.store.checkpoints import CheckpointStore, now
from pecsync.store.connector import Repository


class SlotLeases(Repository):
    """The slots one process holds, per server (``host:port``), renewed like job leases."""

    def __init__(self, store: CheckpointStore, owner: str, lease_seconds: float) -> None:
        super().__init__(store)
        self.store, self.owner, self.lease_seconds = store, owner, lease_seconds
        self.held: dict[str, list[int]] = {}

    def _until(self) -> str:
        return (datetime.now(UTC) + timedelta(seconds=self.lease_seconds)).isoformat(
            timespec="seconds")

    async def prepare(self, server: str, limit: int) -> None:
        await self.connector._transaction([("ensure_host_slot", {"server": server, "slot": n})
                                           for n in range(limit)])

    async def take(self, server: str, limit: int) -> bool:
        rows = await self.connector._transaction([("take_host_slot", {
            "server": server, "limit": limit, "owner": self.owner, "now": now(),
            "lease_until": self._until()})])
        if not rows:
            return False
        self.held.setdefault(server, []).append(int(rows[0]["slot"]))
        return True

    async def renew(self) -> Counter[str]:
        """Renew every slot still ours; how many each server has (a slot lost while this
        process stalled is forgotten)."""
        rows = await self.connector._transaction([("renew_host_slots", {
            "owner": self.owner, "now": now(), "lease_until": self._until()})])
        self.held = {}
        for r in rows:
            self.held.setdefault(str(r["server"]), []).append(int(r["slot"]))
        return Counter({s: len(v) for s, v in self.held.items()})

    async def release(self, server: str) -> None:
        slots = self.held.get(server)
        if slots:
            slot = slots.pop()
            await self.connector._transaction([("release_host_slot", {
                "owner": self.owner, "server": server, "slot": slot})])

    async def release_all(self) -> None:
        self.held = {}
        await self.connector._transaction([("release_all_host_slots", {"owner": self.owner})])
