"""``max_connections_per_host`` for a fleet: processes (hosts) sharing one state database.

Each process keeps its own :class:`~pecsync.engine.budget.HostBudget` (workers and folder
lanes take connections from it without a database round trip), but its limit per server is
the number of slots it leases in the database (pecsync.store.slots).  A keeper task leases
one more slot when a worker or a lane found none free, gives back slots left idle for two
beats, and renews the rest; the fleet together never holds more than the limit, and the
slots of a host that died come back when their leases expire.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import structlog

from pecsync.config import Config
from pecsync.engine.budget import HostBudget
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import process_owner
from pecsync.store.slots import SlotLeases

log = structlog.get_logger("pecsync.fleet")

#: Seconds between two beats of the keeper.
BEAT = 0.5


def _server(host: tuple[str, int]) -> str:
    return f"{host[0].lower()}:{host[1]}"


class FleetBudget(HostBudget):
    def __init__(self, limit: int, leases: SlotLeases,
                 hosts: tuple[tuple[str, int], ...]) -> None:
        super().__init__(limit)
        self.leases = leases
        self.hosts = tuple(dict.fromkeys(hosts))
        #: Slots leased per host: this process's share of the fleet's limit.
        self.granted: Counter[tuple[str, int]] = Counter()
        #: Connections asked for and refused since the last beat (demand), per host.
        self._missed: Counter[tuple[str, int]] = Counter()
        self._idle_beats: Counter[tuple[str, int]] = Counter()

    def _take_if_free(self, hosts: tuple[tuple[str, int], ...]) -> bool:
        wanted = Counter(hosts)
        short = {h: self._held[h] + n - min(self.limit, self.granted[h])
                 for h, n in wanted.items()}
        if any(n > 0 for n in short.values()):
            for h, n in short.items():
                if n > 0:
                    self._missed[h] = max(self._missed[h], n)
            return False
        for h in wanted:
            self._missed.pop(h, None)
        return super()._take_if_free(hosts)

    def _room(self, host: tuple[str, int]) -> int:
        return min(self.limit, self.granted[host])  # this process's share of the fleet's

    async def beat(self) -> None:
        """Renew, grow where connections were refused, shrink where slots sat idle."""
        have = await self.leases.renew()
        grew = False
        for host in self.hosts:
            server = _server(host)
            self.granted[host] = have[server]
            # A worker waiting for connections (it holds the lock) keeps asking; a lane that
            # found none asked once.
            missed = (self._missed[host] if self._lock.locked()
                      else self._missed.pop(host, 0))
            if missed:
                self._idle_beats[host] = 0
                for _ in range(min(missed, self.limit - self.granted[host])):
                    if not await self.leases.take(server, self.limit):
                        break
                    self.granted[host] += 1
                    grew = True
            elif self.granted[host] > self._held[host]:
                self._idle_beats[host] += 1
                if self._idle_beats[host] >= 2:
                    # Smaller first: from here no worker or lane of this process may take
                    # the slot, so it is idle when another process gets it.
                    self.granted[host] -= 1
                    await self.leases.release(server)
            else:
                self._idle_beats[host] = 0
        if grew:
            self._released.set()  # a worker waiting for a connection looks again

    @asynccontextmanager
    async def kept(self) -> AsyncIterator[None]:
        """Lease, renew and give back slots while the body (the worker pool) runs."""
        for host in self.hosts:
            await self.leases.prepare(_server(host), self.limit)

        async def keeper() -> None:
            while True:
                try:
                    await self.beat()
                except Exception as exc:  # the next beat tries again; leases outlive a few
                    log.warning("slot_renewal_failed", error=str(exc))
                await anyio.sleep(BEAT)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(keeper)
                try:
                    yield
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.leases.release_all()


def budget_for(cfg: Config, store: CheckpointStore) -> HostBudget:
    """Fleet-wide on a shared database (PostgreSQL), per process on SQLite (as before)."""
    limit = cfg.engine.max_connections_per_host
    if not store.shared:
        return HostBudget(limit)
    hosts = ((cfg.source.host, cfg.source.port), (cfg.destination.host, cfg.destination.port))
    return FleetBudget(limit, SlotLeases(store, process_owner("slots:"),
                                         cfg.engine.lease_seconds), hosts)


@asynccontextmanager
async def budget_kept(budget: HostBudget) -> AsyncIterator[None]:
    if isinstance(budget, FleetBudget):
        async with budget.kept():
            yield
    else:
        yield
