"""Connection limits learned from servers' refusals (:mod:`pecsync.sync.limits`), kept in the
state database: a later run, or another host on the same PostgreSQL database, starts from
them instead of being refused again."""

from __future__ import annotations

from pecsync.store.checkpoints import CheckpointStore, now


class ServerLimitStore:
    """Named queries of the ``server_limit`` table, on the shared :class:`CheckpointStore`."""

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store

    async def learned(self) -> dict[str, int]:
        """Every server's limit (``host:port`` → connections one mailbox may hold)."""
        rows = await self.store._query("list_server_limits", {})
        return {str(r["server"]): int(r["max_connections"]) for r in rows}

    async def learn(self, server: str, max_connections: int) -> None:
        """Record *server*'s limit (a lower one already recorded stays)."""
        await self.store._transaction([("learn_server_limit", {
            "server": server, "max_connections": max_connections, "now": now()})])
