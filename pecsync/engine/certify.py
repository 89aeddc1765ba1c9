"""Write a mailbox's completeness certificate, atomically: a crash while it is written leaves
the previous certificate or the new one, never a truncated file.

Order matters: the bytes go to a temporary file in the certificate's own directory (so the
rename cannot cross file systems), are fsynced, then renamed over the old certificate, and
the directory is fsynced so that the rename itself survives a power cut.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pecsync.config import Config
from pecsync.reports.collect import certificate, certificate_path
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import Job
from pecsync.sync.quarantine import Quarantine, quarantine_dir


def write_atomically(path: Path, data: bytes) -> None:
    """Replace *path* with *data*: readers (and a later run after a crash) see the old bytes
    or the new ones, whole.  The temporary file ``.NAME.tmp`` a crash may leave is
    overwritten by the next write."""
    tmp = path.with_name(f".{path.name}.tmp")
    # Mode 0666 less the umask: as readable as the plain write this replaces.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dirfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


async def write_certificate(store: CheckpointStore, cfg: Config, src_user: str, dst_user: str,
                            *, address: str | None = None, job: Job | None = None
                            ) -> Path | None:
    """Write the certificate of *address* (default: *src_user*) under ``certificates/`` next
    to the database; None when the mailbox was never copied.  Call only right after a
    verification found every recorded copy intact (README "Certificates")."""
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
    write_atomically(path, (json.dumps(cert, indent=2, ensure_ascii=False) + "\n").encode())
    return path
