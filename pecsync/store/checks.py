"""Which credential versions ``pecsync check`` has tried (never the same password twice)."""

from __future__ import annotations

from pecsync.store.checkpoints import CheckpointStore, now


class CredentialChecks:
    def __init__(self, store: CheckpointStore) -> None:
        self.store = store

    async def result(self, job_id: int, side: str, version: int) -> str | None:
        """What the check of this credential version found (None: never checked)."""
        rows = await self.store._query("credential_checked", {"job_id": job_id, "side": side,
                                                              "version": version})
        return str(rows[0][0]) if rows else None

    async def record(self, job_id: int, side: str, version: int, result: str) -> None:
        await self.store._transaction([("record_credential_check", {
            "job_id": job_id, "side": side, "version": version, "result": result,
            "now": now()})])
