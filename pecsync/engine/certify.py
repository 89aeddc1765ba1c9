"""Write a mailbox's completeness certificate, atomically: a crash while it is written leaves
the previous certificate or the new one, never a truncated file.

Order matters: the bytes go to a temporary file in the certificate's own directory (so the
rename cannot cross file systems), are fsynced, then renamed over the old certificate, and
the directory is fsynced so that the rename itself survives a power cut.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from pecsync.config import Config
from pecsync.reports.collect import certificate, certificate_path
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import Job
from pecsync.sync.quarantine import Quarantine, quarantine_dir


def write_atomically(path: Path, data: bytes) -> None:
    """Replace *path* with *data*: readers (and a later run after a crash) see the old bytes
    or the new ones, whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        # mkstemp makes it 0600; a certificate is as readable as any file the user writes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
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
