"""``pecsync status``: the list's state per order and per mailbox, as text or as the
documented ``--json`` shape."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from pecsync.cli.common import STATES, print_counts, unknown_order
from pecsync.config import Config
from pecsync.engine.outcome import with_next_step
from pecsync.engine.schedule import final_sync_done
from pecsync.errors import UsageError
from pecsync.reports import campaign as campaign_report
from pecsync.store.campaign import CampaignStore
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.intake import IntakeRequest, IntakeStore
from pecsync.store.jobs import CredentialOrigin, Job, JobState, JobStore, SelfEnrolled
from pecsync.store.reporting import ReportStore
from pecsync.store.syncstate import JobSync, SyncStore


def _mailbox_json(job: Job, origins: dict[tuple[int, str], CredentialOrigin]
                  ) -> dict[str, Any]:
    src = origins.get((job.id, "src"))
    dst = origins.get((job.id, "dst"))
    reason = with_next_step(job.state, job.address, job.error_text, job.error_class)
    return {"address": job.address, "order": job.order, "state": job.state.value,
            "phase": job.phase, "reason": reason, "messages_copied": job.messages_copied,
            "messages_total": job.messages_total, "bytes_copied": job.bytes_copied,
            "bytes_total": job.bytes_total, "attempts": job.attempts,
            # Messages refused by the destination and kept in the quarantine: a done mailbox
            # with quarantined > 0 is "done with exceptions" (docs/reference/job-states.md).
            "quarantined": job.skipped,
            "updated_at": job.updated_at,
            # Where the current password came from (csv, web, stdin) and when it was stored.
            "credential_source": src.source if src else None,
            "credential_at": src.at if src else None,
            "dest_credential_source": dst.source if dst else None,
            "dest_credential_at": dst.at if dst else None}


def _sync_json(doc: dict[str, Any], jobs: list[Job], syncs: dict[str, JobSync],
               switch_at: datetime | None) -> None:
    """Re-sync keys of ``status --json``: per mailbox ``last_synced_at``, ``final_sync_done``,
    ``deleted_at_source``; per order ``missing_final_sync`` (null without ``switch_at``)."""
    done: dict[str, bool] = {}
    for m in doc["mailboxes"]:
        sync = syncs.get(m["address"])
        m["last_synced_at"] = sync.last_synced_at if sync else None
        m["final_sync_done"] = done[m["address"]] = final_sync_done(m["last_synced_at"],
                                                                    switch_at)
        m["deleted_at_source"] = sync.deleted_at_source if sync else 0
    doc["switch_at"] = switch_at.isoformat() if switch_at else None
    missing = Counter(j.order for j in jobs if not done[j.address])
    for order in doc["orders"]:
        order["missing_final_sync"] = missing[order["order"]] if switch_at else None


def status_document(jobs: list[Job],
                    origins: dict[tuple[int, str], CredentialOrigin] | None = None,
                    requests: list[IntakeRequest] | None = None, *,
                    syncs: dict[str, JobSync] | None = None,
                    switch_at: datetime | None = None,
                    campaign: campaign_report.CampaignSummary | None = None,
                    self_enrolled: list[SelfEnrolled] | None = None) -> dict[str, Any]:
    """The ``status --json`` shape (documented in docs/reference/status-json.md)."""
    origins = origins or {}
    requests = requests or []
    def totals(js: list[Job]) -> dict[str, int]:
        c = Counter(j.state.value for j in js)
        return {s: c[s] for s in STATES}

    orders: dict[str, list[Job]] = {}
    for j in jobs:
        orders.setdefault(j.order, []).append(j)
    doc: dict[str, Any] = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "totals": totals(jobs),
        "done_with_exceptions": sum(1 for j in jobs if j.state == JobState.DONE and j.skipped),
        "orders": [{"order": name, "totals": totals(js), "mailboxes": len(js),
                    "messages_copied": sum(j.messages_copied for j in js),
                    "messages_total": sum(j.messages_total for j in js),
                    "bytes_copied": sum(j.bytes_copied for j in js),
                    "bytes_total": sum(j.bytes_total for j in js),
                    "quarantined": sum(j.skipped for j in js)}
                   for name, js in sorted(orders.items())],
        "mailboxes": [_mailbox_json(j, origins) for j in jobs],
        # Addresses members asked for on the intake page that are not in the list ("late
        # additions"): add them to the list and re-import.
        "intake_requests": {
            "count": len(requests),
            "addresses": [{"address": r.address, "order": r.order, "requests": r.count,
                           "first_at": r.first_at, "last_at": r.last_at} for r in requests]},
        # Mailboxes their members added on the intake page (in an order's domains, not on
        # the list, password accepted by the source): for the order to check.
        "self_enrolled": _self_enrolled_json(self_enrolled or []),
    }
    _sync_json(doc, jobs, syncs or {}, switch_at)
    # Invitations and reminders per order and wave (docs/guides/campaign.md).
    doc["campaign"] = campaign_report.to_json(campaign or campaign_report.summarize(
        jobs, [], deadline=None, reminders=(), today=datetime.now(UTC).date()))
    return doc


def _self_enrolled_json(entries: list[SelfEnrolled]) -> dict[str, Any]:
    return {"count": len(entries),
            "mailboxes": [{"address": e.address, "order": e.order, "enrolled_at": e.at,
                           "state": e.state} for e in entries]}


def status_json(doc: dict[str, Any]) -> str:
    """*doc* as indented JSON with each mailbox on one line.  ``indent=`` makes :mod:`json`
    use its pure-Python encoder: 3.8 s for 10,000 mailboxes, most of ``status --json``; the
    C encoder writes each mailbox's object."""
    one = json.JSONEncoder(ensure_ascii=False).encode
    parts = []
    for key, value in doc.items():
        if key == "mailboxes" and value:
            rows = ",\n".join("    " + one(m) for m in value)
            parts.append(f'  {one(key)}: [\n{rows}\n  ]')
        else:
            text = json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n  ")
            parts.append(f"  {one(key)}: {text}")
    return "{\n" + ",\n".join(parts) + "\n}"


async def cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    if not cfg.state_exists():
        raise UsageError(f"{cfg.database}: no state database yet: import a list first")
    async with await CheckpointStore.open(cfg.state) as store:
        job_store = JobStore(store, None)
        jobs = await job_store.jobs(args.order)
        if args.order and not jobs:
            raise unknown_order(args.order, await job_store.jobs())
        origins = await job_store.credential_sources()
        requests = await IntakeStore(store).requests()
        syncs = await SyncStore(store).job_syncs(args.order)
        enrolled = await job_store.self_enrolled(args.order)
        campaign = campaign_report.summarize(
            jobs, await CampaignStore(store).sends(args.order), deadline=cfg.deadline,
            reminders=cfg.campaign.reminders, today=datetime.now(UTC).date(),
            done_times=await ReportStore(store).first_done_times())
    if args.order:
        requests = [r for r in requests if r.order in (None, args.order)]
    doc = status_document(jobs, origins, requests, syncs=syncs, switch_at=cfg.switch_at,
                          campaign=campaign, self_enrolled=enrolled)
    if args.json:
        sys.stdout.write(status_json(doc) + "\n")
        return 0
    for order in doc["orders"]:
        t = order["totals"]
        sys.stdout.write(f"{order['order']}: {order['mailboxes']} mailboxes, "
                         f"{order['messages_copied']}/{order['messages_total']} messages, "
                         f"{order['bytes_copied'] / 1e6:.1f} MB\n")
        print_counts(Counter(t))
        if order["missing_final_sync"] is not None:
            sys.stdout.write(f"  final sync after the switch ({doc['switch_at']}): "
                             f"{order['mailboxes'] - order['missing_final_sync']} done, "
                             f"{order['missing_final_sync']} missing\n")
    sys.stdout.write("all orders:\n")
    print_counts(Counter(doc["totals"]))
    attention = [m for m in doc["mailboxes"] if m["state"] not in ("done", "pending", "running")
                 or m["quarantined"]]
    if doc["done_with_exceptions"]:
        sys.stdout.write(f"done with exceptions (messages in quarantine): "
                         f"{doc['done_with_exceptions']}\n")
    if attention:
        sys.stdout.write("needs attention:\n")
        for m in attention:
            sys.stdout.write(f"  {m['address']} ({m['order']}): {m['state']}: {m['reason']}"
                             + _credential_note(m) + "\n")
    sources = Counter(m["credential_source"] or "none" for m in doc["mailboxes"])
    sys.stdout.write("passwords from: " + ", ".join(f"{k} {v}" for k, v in sorted(
        sources.items())) + "\n")
    _campaign_text(doc["campaign"])
    late = doc["intake_requests"]
    if late["count"]:
        sys.stdout.write(f"late additions (asked for on the intake page, not in the list): "
                         f"{late['count']} — add them to the list and re-import\n")
        for r in late["addresses"]:
            sys.stdout.write(f"  {r['address']}" + (f" ({r['order']})" if r["order"] else "")
                             + f": {r['requests']} request(s), last {r['last_at']}\n")
    enrolled_doc = doc["self_enrolled"]
    if enrolled_doc["count"]:
        sys.stdout.write(f"self-enrolled on the intake page (not on the list; the source "
                         f"accepted the password): {enrolled_doc['count']} — check them\n")
        for e in enrolled_doc["mailboxes"]:
            sys.stdout.write(f"  {e['address']} ({e['order']}): {e['state']}, enrolled "
                             f"{e['enrolled_at']}\n")
    return 0


def _credential_note(m: dict[str, Any]) -> str:
    if not m["credential_source"]:
        return ""
    return f" [password from {m['credential_source']}, {m['credential_at']}]"


def _campaign_text(c: dict[str, Any]) -> None:
    """The campaign lines of ``status``: only once anything was queued."""
    waves = [w for w in c["waves"] if any(w[k] for k in campaign_report.COUNTERS)]
    if not waves:
        return
    left = f", {c['days_left']} day(s) to the deadline" if c["days_left"] is not None else ""
    sys.stdout.write(f"campaign: {c['needs_to_act']} member(s) still have to act{left}\n")
    for w in waves:
        sys.stdout.write(f"  {w['wave']}: " + ", ".join(
            f"{k} {w[k]}" for k in campaign_report.COUNTERS if w[k]) + "\n")
    for f in c["failed"]:
        sys.stdout.write(f"  refused: {f['address']} ({f['wave']}) to {f['recipient']}: "
                         f"{f['answer']}\n")
