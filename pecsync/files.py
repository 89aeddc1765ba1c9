"""Write a file atomically: a crash while it is written leaves the previous file or the new
one, never a truncated one.

Order matters: the bytes go to a temporary file ``.NAME.tmp`` in the file's own directory (so
the rename cannot cross file systems), are fsynced, then renamed over the old file, and the
directory is fsynced so that the rename itself survives a power cut.  A temporary file a
crash leaves is overwritten by the next write.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Replace *path* with *data*.  *mode*: exactly these permissions (e.g. ``0o600`` for a
    member's message); default 0666 less the umask, as a plain write would give."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # an older .tmp keeps its mode through O_CREAT
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
