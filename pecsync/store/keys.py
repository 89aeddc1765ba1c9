"""Key rotation: every stored password re-encrypted under a new key, in one transaction."""

from __future__ import annotations

from typing import Any

from pecsync.store.checkpoints import CheckpointStore
from pecsync.vault import Vault, credential_context


async def reencrypt_credentials(store: CheckpointStore, old: Vault, new: Vault) -> int:
    """Open every stored ciphertext with *old*, seal it with *new*, and forget the CSV
    fingerprints (keyed by the old key: the next import records new ones without replacing a
    password that came from the web or stdin), all in one transaction; the number of
    passwords re-encrypted.  Nothing is written if one ciphertext does not open."""
    rows = await store._query("all_credentials", {})
    stmts: list[tuple[str, dict[str, Any]]] = []
    for job_id, side, version, blob in rows:
        ctx = credential_context(int(job_id), str(side), int(version))
        stmts.append(("replace_ciphertext", {"job_id": job_id, "side": side,
                                             "version": version,
                                             "ciphertext": new.seal(old.open(blob, ctx), ctx)}))
    stmts.append(("forget_csv_fingerprints", {}))
    await store._transaction(stmts)
    return len(rows)
