"""``copy`` and ``verify``: one mailbox given on the command line (no job row)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import structlog

from pecsync.cli import keys
from pecsync.cli.passwords import read_password
from pecsync.cli.progress import ProgressLine
from pecsync.config import Config
from pecsync.engine.exits import EXIT_BLOCKED, EXIT_OK
from pecsync.engine.foreground import copy_foreground
from pecsync.engine.settings import mailbox_settings
from pecsync.errors import UsageError
from pecsync.model import Credentials, MailboxReport
from pecsync.reports.certificate import compare_with_destination
from pecsync.store.checkpoints import CheckpointStore
from pecsync.sync.mailbox import destination_fingerprints, verify_mailbox

log = structlog.get_logger("pecsync.cli")


def _credentials(cfg: Config, args: argparse.Namespace) -> tuple[Credentials, Credentials]:
    src_user = args.source_user
    dst_user = args.dest_user or src_user
    src_pw = read_password(env="PECSYNC_SOURCE_PASSWORD", file=args.source_password_file,
                           prompt=f"Source password for {src_user}: ", what="source")
    dst_pw = read_password(env="PECSYNC_DEST_PASSWORD", file=args.dest_password_file,
                           prompt=f"Destination password for {dst_user}: ", what="destination")
    return (Credentials(src_user, src_pw, cfg.source.master_user),
            Credentials(dst_user, dst_pw, cfg.destination.master_user))


def _print_report(report: MailboxReport, *, title: str, elapsed: float) -> None:
    out = sys.stdout
    out.write(f"{title}: {report.src_user} -> {report.dst_user}\n")
    for note in report.notes:
        out.write(f"  - {note}\n")
    width = max([len(f.src) for f in report.folders] + [6])
    out.write(f"  {'folder':<{width}}  {'source':>7} {'copied':>7} {'present':>7} "
              f"{'skipped':>7} {'verified':>8} {'mismatch':>8}\n")
    for f in report.folders:
        out.write(f"  {f.src:<{width}}  {f.src_messages:>7} {f.copied:>7} {f.already_present:>7} "
                  f"{f.skipped:>7} {f.verified:>8} {f.mismatched:>8}\n")
        for note in f.notes[:20]:
            out.write(f"    - {note}\n")
        if f.dropped_flags:
            out.write(f"    - flags the destination does not keep: "
                      f"{' '.join(sorted(f.dropped_flags))}\n")
    mb = report.bytes_copied / 1e6
    rate = report.copied / elapsed if elapsed > 0 else 0.0
    out.write(f"  total: {report.src_messages} source messages, {report.copied} copied "
              f"({mb:.1f} MB, {rate:.0f} msg/s, {mb / elapsed if elapsed else 0:.1f} MB/s), "
              f"{report.verified} verified, {report.skipped} skipped, {report.mismatched} "
              f"mismatched, {report.unverifiable} not verifiable, {report.not_copied} not copied "
              f"yet, {report.repaired} copied again, {elapsed:.1f} s\n")
    if report.skipped:
        out.write(f"  INCOMPLETE: {report.skipped} message(s) refused or skipped by the "
                  f"destination, kept byte for byte in the quarantine (see the notes above)\n")



async def cmd_copy(cfg: Config, args: argparse.Namespace) -> int:
    src, dst = _credentials(cfg, args)
    progress = ProgressLine(enabled=not args.quiet)
    started = time.monotonic()
    async with await CheckpointStore.open(cfg.state) as store:
        with progress:
            result = await copy_foreground(cfg, store, src, dst,
                                           verify=cfg.engine.verify and not args.no_verify,
                                           progress=progress.callbacks())
        if result.certificate is not None:
            cert = json.loads(result.certificate.read_text("utf-8"))
            sys.stdout.write(f"certificate: {result.certificate} (digest {cert['digest']}"
                             + (f"; INCOMPLETE: {cert['incomplete']} message(s) in "
                                f"quarantine" if cert.get("incomplete") else "") + ")\n")
    report = result.report
    elapsed = time.monotonic() - started
    _print_report(report, title="copied", elapsed=elapsed)
    log.info("mailbox_copied", mailbox=src.user, copied=report.copied,
             bytes=report.bytes_copied, verified=report.verified, skipped=report.skipped,
             mismatched=report.mismatched, seconds=round(elapsed, 2))
    return result.exit_code


async def cmd_verify(cfg: Config, args: argparse.Namespace) -> int:
    if args.certificate:
        return await _verify_certificate(cfg, args)
    src, dst = _credentials(cfg, args)
    started = time.monotonic()
    async with await CheckpointStore.open(cfg.state) as store:
        report = await verify_mailbox(mailbox_settings(cfg), store, src, dst)
    _print_report(report, title="verified", elapsed=time.monotonic() - started)
    if report.mismatched or report.not_copied:
        sys.stdout.write("  next step: run `pecsync copy` again (`pecsync retry ADDRESS` for a "
                         "mailbox of the list): it appends what is missing or changed, leaves "
                         "the bad copies alone and verifies\n")
    return EXIT_BLOCKED if report.mismatched or report.not_copied else EXIT_OK


async def _verify_certificate(cfg: Config, args: argparse.Namespace) -> int:
    """The destination against a completeness certificate: only the destination is read."""
    try:
        cert = json.loads(Path(args.certificate).read_text("utf-8"))
        folders = [f["destination"] for f in cert["folders"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{args.certificate}: not a pecsync certificate ({exc})") from None
    dst_user = args.dest_user or cert.get("destination_user") or args.source_user
    dst_pw = None
    if not (args.dest_password_file or cfg.destination.master_user):
        dst_pw = await keys.stored_dest_password(cfg, args.source_user, dst_user)
    if dst_pw is None:
        dst_pw = read_password(env="PECSYNC_DEST_PASSWORD", file=args.dest_password_file,
                               prompt=f"Destination password for {dst_user}: ",
                               what="destination")
    found = await destination_fingerprints(
        mailbox_settings(cfg), Credentials(dst_user, dst_pw, cfg.destination.master_user), folders)
    problems = []
    for folder in folders:
        problems += compare_with_destination(cert, folder, found[folder])
    total = sum(len(v) for v in found.values())
    if problems:
        sys.stdout.write(f"certificate check FAILED for {cert.get('mailbox')}: "
                         f"{len(problems)} problem(s)\n")
        for p in problems:
            sys.stdout.write(f"  - {p}\n")
        return EXIT_BLOCKED
    sys.stdout.write(f"certificate check passed for {cert.get('mailbox')}: {total} message(s) "
                     f"in {len(folders)} folder(s) match (digest {cert.get('digest')})\n")
    return EXIT_OK
