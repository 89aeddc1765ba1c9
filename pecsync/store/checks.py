"""Which credential versions ``pecsync check`` has tried (never the same password twice)."""

from __future__ import annotations

from pecsync.store.checkpoints import CheckpointStore, now
from pecsync.store.connector import Repository


class CredentialChecks(Repository):
    def __init__(self, store: CheckpointStore) -> None:
        super().__init__(store)
        #: What it was built from (the statements run on ``self.connector``).
        self.store = store

    async def result(self, job_id: int, side: str, version: int) -> str | None:
        """What the check of this credential version found (None: never checked)."""
        found = await self.connector._value("credential_checked", {
            "job_id": job_id, "side": side, "version": version})
        return None if found is None else str(found)

    async def record(self, job_id: int, side: str, version: int, result: str) -> None:
        await self.connector._transaction([("record_credential_check", {
            "job_id": job_id, "side": side, "version": version, "result": result,
            "now": now()})])
