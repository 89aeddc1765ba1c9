"""Connection budget per server, shared by every worker of a run."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from pecsync.errors import ConfigError


class HostBudget:
    """At most *limit* simultaneous connections to each (host, port).

    A mailbox needs one source and one destination connection; both are taken under one
    lock so that two workers can never each hold half of what they need.  When source and
    destination are the same server, that is two connections to one host: a budget smaller
    than what one mailbox needs is refused at once (it would wait forever).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = anyio.Lock()
        #: Connections held now, and the most held at once (for tests and reports), per host.
        self._held: Counter[tuple[str, int]] = Counter()
        self.peak: dict[tuple[str, int], int] = {}
        #: Set when connections are given back (the worker waiting under the lock looks again).
        self._released = anyio.Event()
        #: Connection pairs kept for the workers that run or may still start a mailbox (set
        #: by the worker pool, :meth:`keep_for_workers`): not :meth:`spare`.
        self.reserved = 0

    @asynccontextmanager
    async def connections(self, *hosts: tuple[str, int]) -> AsyncIterator[None]:
        """Hold one connection to each of *hosts* (a host named twice counts twice)."""
        for (name, port), n in Counter(hosts).items():
            if n > self.limit:
                raise ConfigError(
                    f"[engine] max_connections_per_host = {self.limit}, but a mailbox needs "
                    f"{n} connections to {name}:{port} (source and destination are the same "
                    f"server): set it to at least {n}")
        taken: tuple[tuple[str, int], ...] = ()
        try:
            async with self._lock:
                # All at once, when all are free: no slot is held idle while waiting for
                # another (nor counted in the peak).
                while not self._take_if_free(hosts):
                    self._released = anyio.Event()
                    await self._released.wait()
                taken = hosts
            yield
        finally:
            self.give_back(*taken)

    def try_take(self, *hosts: tuple[str, int]) -> bool:
        """Take one connection to each of *hosts* only if all are free now and no worker is
        waiting for connections (a worker's mailbox comes before another's extra lane)."""
        return not self._lock.locked() and self._take_if_free(hosts)

    def _take_if_free(self, hosts: tuple[tuple[str, int], ...]) -> bool:
        if any(self._held[h] + n > self.limit for h, n in Counter(hosts).items()):
            return False
        for host in hosts:
            self._held[host] += 1
            self.peak[host] = max(self.peak.get(host, 0), self._held[host])
        return True

    def give_back(self, *hosts: tuple[str, int]) -> None:
        for host in hosts:
            self._held[host] -= 1
        if hosts:
            self._released.set()

    def contended(self) -> bool:
        """True while a worker waits for connections."""
        return self._lock.locked()

    def keep_for_workers(self, workers: int, lanes: int) -> None:
        """*workers* workers run a mailbox or may still start one, each with up to *lanes*
        connection pairs (``[engine] folders_in_parallel``): that many pairs are theirs, not
        :meth:`spare`, whether taken yet or not.  A worker that found no job to claim is not
        counted: at a run's end the last mailboxes may use what the others left."""
        self.reserved = max(0, workers) * lanes

    def spare(self, *hosts: tuple[str, int]) -> int:
        """Connection pairs to *hosts* free now beyond those the workers' mailboxes may take
        (:meth:`keep_for_workers`), and none while a worker waits: what a mailbox may borrow
        beyond ``[engine] folders_in_parallel`` (pecsync.sync.lanes).  With every worker
        busy there is none: the lanes of a run's first mailbox never take what the next
        ones will need."""
        if self._lock.locked():
            return 0
        return min((self._room(h) - max(self._held[h], self.reserved * n)) // n
                   for h, n in Counter(hosts).items())

    def _room(self, host: tuple[str, int]) -> int:
        """Connections to *host* this process may hold."""
        return self.limit

    def slots(self, *hosts: tuple[str, int]) -> HostSlots:
        """Extra connection pairs to *hosts* for folder lanes (see pecsync.sync.lanes)."""
        return HostSlots(self, hosts)


class HostSlots:
    def __init__(self, budget: HostBudget, hosts: tuple[tuple[str, int], ...]) -> None:
        self.budget, self.hosts = budget, hosts

    def try_take(self) -> bool:
        return self.budget.try_take(*self.hosts)

    def give_back(self) -> None:
        self.budget.give_back(*self.hosts)

    def contended(self) -> bool:
        return self.budget.contended()

    def spare(self) -> int:
        return self.budget.spare(*self.hosts)
