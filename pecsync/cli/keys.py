"""Keys and stored passwords: ``init-key``, ``rotate-key``, ``purge-credentials``, and the
stored destination password that ``copy`` may use."""

from __future__ import annotations

import argparse
import os
import sys

from pecsync.cli.common import vault_for
from pecsync.config import Config
from pecsync.engine.pool import EXIT_TRANSIENT
from pecsync.errors import PecsyncError, UsageError
from pecsync.model import Secret
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from pecsync.store.keys import reencrypt_credentials
from pecsync.vault import Vault, load_key, write_key_file


async def stored_dest_password(cfg: Config, address: str, dst_user: str) -> Secret | None:
    """The destination password stored for *address* (a mailbox of the list), when it is
    there, its destination user is *dst_user* and the key opens it; None otherwise (the
    caller then asks for ``$PECSYNC_DEST_PASSWORD``)."""
    if not cfg.state_exists():
        return None
    try:
        vault = vault_for(cfg)
    except PecsyncError:
        return None
    async with await CheckpointStore.open(cfg.state) as store:
        jobs = JobStore(store, vault)
        job = await jobs.job(address)
        if job is None or job.dst_user != dst_user:
            return None
        return (await jobs.credentials(job)).dst


async def cmd_init_key(cfg: Config, args: argparse.Namespace) -> int:
    if cfg.key_file is None:
        raise UsageError(f"{cfg.path}: [state] key_file is not set: add key_file = "
                         f"\"pecsync.key\" (or use $PECSYNC_KEY)")
    write_key_file(cfg.key_file)
    sys.stdout.write(f"created {cfg.key_file} (mode 0600): back it up apart from the "
                     f"database\n")
    return 0


async def cmd_purge(cfg: Config, args: argparse.Namespace) -> int:
    async with await CheckpointStore.open(cfg.state) as store:
        await JobStore(store, None).purge_credentials(only_done=args.done)
        compacted = await store.compact()
    sys.stdout.write("stored passwords erased" + (" for verified mailboxes" if args.done
                                                  else "") + "\n")
    if not compacted:
        sys.stderr.write(f"pecsync purge-credentials: another process has {cfg.database} "
                         f"open, so its write-ahead log could not be emptied: the erased "
                         f"passwords may still be in {cfg.database}-wal (encrypted) until that "
                         f"process ends; run purge-credentials again then\n")
        return EXIT_TRANSIENT
    return 0


async def cmd_rotate_key(cfg: Config, args: argparse.Namespace) -> int:
    """Re-encrypt every stored password under a new key.

    Order matters: the new key is written beside the old one first, then the database is
    re-encrypted in one transaction, then the new key replaces the old file.  A crash in
    between leaves ``KEYFILE.new`` holding the key that opens the database."""

    if cfg.key_file is None:
        raise UsageError("rotate-key needs [state] key_file (with $PECSYNC_KEY, re-import "
                         "the list under a new key instead)")
    old = Vault(load_key(cfg.key_file))
    new_path = cfg.key_file.with_name(cfg.key_file.name + ".new")
    if new_path.exists():
        new_path.unlink()
    write_key_file(new_path)
    new = Vault(load_key(new_path))
    async with await CheckpointStore.open(cfg.state) as store:
        count = await reencrypt_credentials(store, old, new)
        # The old ciphertexts must not stay in free pages or the WAL (the old key opens them).
        await store.compact()
    os.replace(new_path, cfg.key_file)
    sys.stdout.write(f"re-encrypted {count} stored password(s); {cfg.key_file} now holds "
                     f"the new key\n")
    return 0
