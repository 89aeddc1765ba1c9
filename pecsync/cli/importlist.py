"""``pecsync import``: the mailbox list (CSV) into the state database."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import structlog

from pecsync.cli.common import vault_for
from pecsync.config import Config
from pecsync.intake.mailbox_list import parse_mailbox_list
from pecsync.store.campaign import CampaignStore
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore

log = structlog.get_logger("pecsync.cli")


async def cmd_import(cfg: Config, args: argparse.Namespace) -> int:
    parsed = parse_mailbox_list(Path(args.csv))
    for err in parsed.errors:
        sys.stderr.write(f"{err}\n")
    if parsed.errors and not parsed.rows:
        # The file as a whole (encoding, header, separator) or every row is wrong: no row
        # can be imported, so --skip-invalid would not help.
        sys.stderr.write(f"pecsync import: {args.csv}: nothing imported: fix the file as "
                         f"said above\n")
        return 2
    if parsed.errors and not args.skip_invalid:
        sys.stderr.write(f"pecsync import: {len(parsed.errors)} problem(s) in {args.csv}: "
                         f"nothing imported (fix them, or use --skip-invalid to import the "
                         f"valid rows)\n")
        return 2
    if not parsed.rows:
        sys.stderr.write(f"pecsync import: {args.csv}: no valid rows\n")
        return 2
    vault = vault_for(cfg)
    async with await CheckpointStore.open(cfg.state) as store:
        out = await JobStore(store, vault).import_rows(
            parsed.rows, src_master=bool(cfg.source.master_user),
            dst_master=bool(cfg.destination.master_user))
        if "contact" in parsed.columns:  # where invitations go (pecsync invite)
            await CampaignStore(store).set_contacts((r.address, r.contact) for r in parsed.rows)
    sys.stdout.write(f"imported {args.csv}: {len(out.added)} added, {len(out.new_credentials)} "
                     f"with new credentials ({len(out.requeued)} re-queued), "
                     f"{len(out.unchanged)} unchanged"
                     + (f", {len(parsed.errors)} invalid row(s) skipped" if parsed.errors
                        else "") + "\n")
    for address in out.requeued:
        sys.stdout.write(f"  re-queued: {address}\n")
    log.info("list_imported", file=args.csv, added=len(out.added), requeued=len(out.requeued),
             new_credentials=len(out.new_credentials), unchanged=len(out.unchanged),
             invalid=len(parsed.errors))
    return 0
