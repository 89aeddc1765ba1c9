"""Key rotation: every stored password re-encrypted under a new key, in one transaction."""

from __future__ import annotations

from pecsync.store.backend import Statement
from pecsync.store.checkpoints import CheckpointStore
from pecsync.vault import Vault, credential_context


async def reencrypt_credentials(store: CheckpointStore, old: Vault, new: Vault) -> int:
    """Open every stored ciphertext with *old*, seal it with *new*, and forget the CSV
    fingerprints (keyed by the old key: the next import records new ones without replacing a
    password that came from the web or stdin), all in one transaction; the number of
    passwords re-encrypted.  Nothing is written if one ciphertext does not open."""
    connector = store.connector
    rows = await connector._query("all_credentials")
    stmts: list[Statement] = []
    for r in rows:
        job_id, side, version = int(r["job_id"]), str(r["side"]), int(r["version"])
        ctx = credential_context(job_id, side, version)
        stmts.append(("replace_ciphertext", {
            "job_id": job_id, "side": side, "version": version,
            "ciphertext": new.seal(old.open(bytes(r["ciphertext"]), ctx), ctx)}))
    stmts.append(("forget_csv_fingerprints", {}))
    await connector._transaction(stmts)
    return len(rows)
