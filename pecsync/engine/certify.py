"""Write a mailbox's completeness certificate, atomically (:mod:`pecsync.files`): a crash
while it is written leaves the previous certificate or the new one, never a truncated file."""

from __future__ import annotations

from pathlib import Path

from pecsync.config import Config
from pecsync.files import write_atomically
from pecsync.reports.certificate import certificate_json
from pecsync.reports.collect import certificate, certificate_path
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import Job
from pecsync.sync.quarantine import Quarantine, quarantine_dir


async def write_certificate(store: CheckpointStore, cfg: Config, src_user: str, dst_user: str,
                            *, address: str | None = None, job: Job | None = None
                            ) -> Path | None:
    """Write the certificate of *address* (default: *src_user*) under ``certificates/`` next
    to the database; None when the mailbox was never copied.  Call only right after a
    verification found every recorded copy intact (docs/guides/reports.md)."""
    address = address or src_user
    cert = await certificate(store, src_user, address=address, dst_user=dst_user, job=job)
    if cert is None:
        return None
    if cert["skipped"]:
        qdir = quarantine_dir(cfg.database, address)
        for item in cert["skipped"]:
            item["quarantine"] = str(Quarantine(qdir).path(item["folder"], item["source_uid"]))
    path = certificate_path(cfg, address)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, (certificate_json(cert) + "\n").encode())
    return path
