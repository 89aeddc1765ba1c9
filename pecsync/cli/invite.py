"""``pecsync invite`` and ``pecsync remind --due``: the invitation campaign from the command
line (``run --follow`` sends due reminders too: :func:`follow`)."""

from __future__ import annotations

import argparse
import sys

import anyio
import structlog

from pecsync.campaign.audience import Member
from pecsync.campaign.outbox import Outbox, PassReport, invite, remind_due, require_campaign_config
from pecsync.campaign.waves import INVITE
from pecsync.cli.common import unknown_order
from pecsync.cli.reporting import _smtp_password
from pecsync.config import Config
from pecsync.engine.exits import EXIT_BLOCKED, EXIT_OK, EXIT_TRANSIENT
from pecsync.errors import PecsyncError, UsageError
from pecsync.state_wording import wording
from pecsync.store.campaign import CampaignStore
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore

log = structlog.get_logger("pecsync.cli")


def _what(m: Member, wave: str) -> str:
    if wave == INVITE:
        return "invitation"
    return "reminder: " + (wording(m.state, "en").reminder or "the invitation's first step")


def _print_pass(report: PassReport) -> int:
    for address, wave, to, answer in report.sent:
        sys.stdout.write(f"  sent {wave} to {address}" + (f" (at {to})" if to != address
                                                          else "") + f": {answer}\n")
    for address, wave, _, answer in report.retry:
        sys.stdout.write(f"  deferred {wave} to {address}: {answer} (kept queued, tried "
                         f"again next pass)\n")
    for address, wave, to, answer in report.failed:
        sys.stdout.write(f"  REFUSED {wave} to {address} (at {to}): {answer}\n")
    for address, wave, _, why in report.cancelled:
        sys.stdout.write(f"  not sent {wave} to {address}: {why}\n")
    sys.stdout.write(f"{len(report.sent)} sent, {len(report.retry)} deferred, "
                     f"{len(report.failed)} refused, {len(report.cancelled)} cancelled\n")
    if report.unavailable:
        sys.stderr.write(f"pecsync: {report.unavailable}\n")
        return EXIT_TRANSIENT
    if report.retry:
        return EXIT_TRANSIENT
    return EXIT_BLOCKED if report.failed else EXIT_OK


async def _dry_run(outbox: Outbox, wave: str | None, order: str | None) -> int:
    campaign = CampaignStore(outbox.store)
    queued = [s for s in await campaign.sends(order) if s.state == "queued"]
    members = await outbox.audience(wave, order) if wave else []
    for s in queued:
        sys.stdout.write(f"would send {s.wave} (queued, {s.attempts} attempt(s)"
                         + (f", last answer {s.answer}" if s.answer else "")
                         + f") to {s.address}\n")
    for m in members:
        to = f" at {m.recipient}" if m.recipient != m.address else ""
        sys.stdout.write(f"would send {wave} to {m.address}{to} ({m.order}, {m.state.value}): "
                         f"{_what(m, wave or INVITE)}\n")
    sys.stdout.write(f"dry run: {len(members) + len(queued)} message(s) would be sent, none "
                     f"was\n")
    return EXIT_OK


async def _check_order(store: CheckpointStore, order: str | None) -> None:
    if order:
        jobs = JobStore(store, None)
        if not await jobs.jobs(order):
            raise unknown_order(order, await jobs.jobs())


async def cmd_invite(cfg: Config, args: argparse.Namespace) -> int:
    require_campaign_config(cfg, sending=not args.dry_run)
    if not cfg.state_exists():
        raise UsageError(f"{cfg.database}: no state database yet: import a list first")
    password = None if args.dry_run else _smtp_password(cfg)
    async with await CheckpointStore.open(cfg.state) as store:
        await _check_order(store, args.order)
        outbox = Outbox(cfg, store, password)
        if args.dry_run:
            return await _dry_run(outbox, INVITE, args.order)
        report = await invite(outbox, args.order)
    return _print_pass(report)


async def cmd_remind(cfg: Config, args: argparse.Namespace) -> int:
    require_campaign_config(cfg, sending=not args.dry_run)
    if not args.due:
        raise UsageError("pecsync remind: say --due (send every reminder wave that has "
                         "fallen due)")
    if not cfg.state_exists():
        raise UsageError(f"{cfg.database}: no state database yet: import a list first")
    password = None if args.dry_run else _smtp_password(cfg)
    async with await CheckpointStore.open(cfg.state) as store:
        await _check_order(store, args.order)
        outbox = Outbox(cfg, store, password)
        if args.dry_run:
            wave = outbox.due_wave()
            sys.stdout.write(f"wave due now: {wave.name if wave else 'none'}\n")
            return await _dry_run(outbox, wave.name if wave else None, args.order)
        due, report = await remind_due(outbox, args.order)
    sys.stdout.write(f"wave due now: {due.name if due else 'none'}\n")
    return _print_pass(report)


async def follow(cfg: Config, store: CheckpointStore, order: str | None) -> None:
    """``run --follow``: every ``[campaign] interval_seconds``, send the reminder wave that
    fell due (and what earlier passes left queued).  Only with a ``[campaign]`` table; a
    problem is logged, never ends the run."""
    if not cfg.campaign.configured:
        return
    try:
        require_campaign_config(cfg, sending=True)
        outbox = Outbox(cfg, store, _smtp_password(cfg))
    except PecsyncError as exc:  # say it once; the copies go on
        log.error("campaign_not_started", error=str(exc))
        return
    while True:
        try:
            wave, report = await remind_due(outbox, order)
            if report.sent or report.failed or report.retry:
                log.info("campaign_pass", wave=wave.name if wave else None,
                         sent=len(report.sent), refused=len(report.failed),
                         deferred=len(report.retry), cancelled=len(report.cancelled))
        except Exception as exc:
            log.error("campaign_pass_failed", error=str(exc))
        await anyio.sleep(cfg.campaign.interval_seconds)
