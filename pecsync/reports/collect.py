"""Read what reports need from the state database, and remember what each report saw."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from pecsync.config import Config
from pecsync.reports.campaign import summarize
from pecsync.reports.certificate import build_certificate
from pecsync.reports.daily import LateAddition, Report, SelfEnrolment, build_report
from pecsync.store.campaign import CampaignStore
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.intake import IntakeStore
from pecsync.store.jobs import Job, JobStore
from pecsync.store.reporting import ReportStore
from pecsync.store.syncstate import SyncStore


async def load_report(store: CheckpointStore, cfg: Config, *, report_date: date, lang: str,
                      order: str | None = None) -> Report:
    job_store = JobStore(store, None)
    jobs = await job_store.jobs(order)
    sources = await job_store.credential_sources()
    origins = {j.address: (sources[(j.id, "src")].source, sources[(j.id, "src")].at)
               for j in jobs if (j.id, "src") in sources}
    late = [LateAddition(r.address, r.order, r.count, r.first_at, r.last_at)
            for r in await IntakeStore(store).requests()
            if order is None or r.order in (None, order)]
    enrolled = [SelfEnrolment(e.address, e.order, e.at, e.state)
                for e in await job_store.self_enrolled(order)]
    reports = ReportStore(store)
    done_times = await reports.first_done_times()
    starts = [j.started_at for j in jobs if j.started_at]
    started = datetime.fromisoformat(min(starts)) if starts else None
    prev = await reports.last_snapshot(report_date)
    synced = {a: s.last_synced_at for a, s in (await SyncStore(store).job_syncs(order)).items()}
    report = build_report(jobs, report_date=report_date, lang=lang, deadline=cfg.deadline,
                          orders=cfg.orders, done_times=done_times, started=started,
                          previous=prev.states if prev else None,
                          previous_date=prev.report_date if prev else None,
                          origins=origins, intake_requests=late,
                          synced=synced, switch_at=cfg.switch_at,
                          self_enrolled=enrolled)
    report.campaign = summarize(jobs, await CampaignStore(store).sends(order),
                                deadline=cfg.deadline, reminders=cfg.campaign.reminders,
                                today=report_date, done_times=done_times)
    return report


async def save_snapshot(store: CheckpointStore, report: Report) -> None:
    states = {m.address: m.state for m in report.overall.mailboxes}
    await ReportStore(store).save_snapshot(report.report_date, states)


async def certificate(store: CheckpointStore, src_user: str, *, address: str | None = None,
                      dst_user: str | None = None, job: Job | None = None
                      ) -> dict[str, Any] | None:
    """The completeness certificate of one mailbox, or None if it was never copied."""
    mailbox_id = await store.find_mailbox(src_user)
    if mailbox_id is None:
        return None
    messages = await ReportStore(store).mailbox_messages(mailbox_id)
    return build_certificate(address=address or src_user, src_user=src_user,
                             dst_user=dst_user or src_user, messages=messages,
                             started_at=job.started_at if job else None,
                             finished_at=job.finished_at if job else None)


def certificate_path(cfg: Config, address: str) -> Path:
    return cfg.database.parent / "certificates" / f"{address}.json"
