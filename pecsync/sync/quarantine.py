"""Nothing refused is lost: messages the destination will not store are kept byte for byte.

``quarantine/<address>/<folder>/<source uid>.eml`` beside the state database (mode 0600, the
directories 0700), with ``<source uid>.json`` beside it: SHA-256, size, flags, INTERNALDATE,
Message-ID and the server's reason.  Written (atomically) before the message is recorded as
skipped, so a crash in between only means it is written again by the next pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pecsync.files import write_atomically
from pecsync.model import FetchedMessage


def _component(text: str) -> str:
    """One safe path component for an address or a folder name (no separators, no ``..``)."""
    out = "".join("_" if c in "/\\\x00" or ord(c) < 32 else c for c in text)
    return "_" + out if out in ("", ".", "..") or out.startswith(".") else out


def quarantine_dir(database: Path, address: str) -> Path:
    """Where the refused messages of *address* are kept."""
    return database.parent / "quarantine" / _component(address)


@dataclass(frozen=True)
class Quarantine:
    """The quarantine directory of one mailbox."""

    root: Path

    def path(self, folder: str, src_uid: int) -> Path:
        return self.root / _component(folder) / f"{src_uid}.eml"

    def save(self, folder: str, msg: FetchedMessage, reason: str) -> Path:
        """Write *msg*'s bytes and its sidecar; returns the ``.eml`` path."""
        target = self.path(folder, msg.info.uid)
        for d in (self.root.parent, self.root, target.parent):
            d.mkdir(mode=0o700, exist_ok=True)
        sidecar = {
            "folder": folder, "source_uid": msg.info.uid, "sha256": msg.sha256,
            "size": len(msg.body),
            "flags": [f for f in msg.info.flags if f.lower() != r"\recent"],
            "internaldate": msg.info.internaldate.isoformat(),
            "message_id": msg.message_id, "reason": reason,
            "quarantined_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        write_atomically(target, msg.body, mode=0o600)
        write_atomically(target.with_suffix(".json"),
                         (json.dumps(sidecar, indent=2, ensure_ascii=False) + "\n").encode(),
                         mode=0o600)
        return target
