"""Commands that read the state database for people: report, notices, certificate."""

from __future__ import annotations

import argparse
import io
import json
import smtplib
import sys
from datetime import date
from pathlib import Path

from pecsync.cli.common import unknown_order
from pecsync.config import Config
from pecsync.errors import UsageError
from pecsync.files import write_atomically
from pecsync.model import Secret
from pecsync.reports import mailer
from pecsync.reports.certificate import certificate_json
from pecsync.reports.collect import certificate, load_report, save_snapshot
from pecsync.reports.notices import render_notice
from pecsync.reports.render import csv_writer, index_html, order_html, slug, to_csv, to_json
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from pecsync.store.reporting import Delivery, ReportStore

FORMATS = ("html", "csv", "json")


def _date(text: str | None) -> date:
    if not text:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--date {text!r}: expected YYYY-MM-DD") from None


def _store_must_exist(cfg: Config) -> None:
    if not cfg.state_exists():
        raise UsageError(f"{cfg.database}: no state database yet: import a list first")


def _smtp_password(cfg: Config) -> Secret | None:
    assert cfg.smtp is not None
    return mailer.smtp_password(cfg.smtp)


async def cmd_report(cfg: Config, args: argparse.Namespace) -> int:
    _store_must_exist(cfg)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise UsageError(f"--format {args.format!r}: expected a list of {', '.join(FORMATS)}")
    if args.send and cfg.smtp is None:
        raise UsageError(f"{cfg.path}: --send needs an [smtp] table (host, port, security, "
                         f"user, from_address)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    day = _date(args.date)
    async with await CheckpointStore.open(cfg.state) as store:
        report = await load_report(store, cfg, report_date=day, lang=args.lang, order=args.order)
        if args.order and not report.orders:
            raise unknown_order(args.order, await JobStore(store, None).jobs())
        written = []
        if "json" in formats:
            p = out / "report.json"
            p.write_text(json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n",
                         "utf-8")
            written.append(p)
        if "csv" in formats:
            p = out / "report.csv"
            p.write_text(to_csv(report.overall.mailboxes, args.csv_dialect), "utf-8")
            written.append(p)
            for o in report.orders:
                p = out / f"order-{slug(o.name)}.csv"
                p.write_text(to_csv(o.mailboxes, args.csv_dialect), "utf-8")
                written.append(p)
        if "html" in formats:
            p = out / "index.html"
            p.write_text(index_html(report), "utf-8")
            written.append(p)
            for o in report.orders:
                p = out / f"order-{slug(o.name)}.html"
                p.write_text(order_html(o, report), "utf-8")
                written.append(p)
        await save_snapshot(store, report)
        o = report.overall
        sys.stdout.write(f"report {day.isoformat()}: {o.done}/{o.count} mailboxes done, "
                         f"{len(o.needs_action)} need action; "
                         + (f"deadline {o.forecast.deadline} ({o.forecast.days_left} days), "
                            if o.forecast.deadline else "")
                         + (f"projected completion {o.forecast.projected}" if o.forecast.projected
                            else "no projection yet") + "\n")
        for p in written:
            sys.stdout.write(f"  wrote {p}\n")
        if not args.send:
            return 0
        assert cfg.smtp is not None
        deliveries = []
        for o in report.orders:
            if not o.contacts:
                sys.stderr.write(f"pecsync report: order {o.name}: no contacts in "
                                 f"[orders.\"{o.name}\"]: report not sent\n")
                continue
            subject = (f"{report.text('title')} — {o.display_name} — "
                       f"{report.report_date.isoformat()}")
            payload = mailer.build_message(
                sender=cfg.smtp.from_address, recipients=list(o.contacts), subject=subject,
                html=order_html(o, report, index_link=False),
                csv_name=f"pecsync-{slug(o.name)}-{day.isoformat()}.csv",
                csv_text=to_csv(o.mailboxes, args.csv_dialect))
            deliveries.append(Delivery(day.isoformat(), o.name, tuple(o.contacts), payload))
        reports = ReportStore(store)
        await reports.queue_deliveries(deliveries)
        password = _smtp_password(cfg)
        failures = 0
        for d in await reports.unsent_deliveries():
            recipients = ",".join(d.recipients)
            try:
                mailer.send(cfg.smtp, password, list(d.recipients), d.payload)
            except (OSError, smtplib.SMTPException) as exc:
                failures += 1
                error = str(exc)[:500]
                await reports.mark_delivery_failed(d.id, error)
                sys.stderr.write(f"pecsync report: sending the {d.report_date} report of order "
                                 f"{d.order} to {recipients} failed (attempt {d.attempts + 1}): "
                                 f"{error} — it will be sent again by the next `report --send`\n")
                continue
            await reports.mark_delivery_sent(d.id)
            sys.stdout.write(f"  sent the {d.report_date} report of order {d.order} to "
                             f"{recipients}\n")
        return 3 if failures else 0


def intake_page(cfg: Config, order: str) -> str | None:
    """Where a member of *order* gives the password: ``[intake] public_url``, at the order's
    own page (``/o/<slug>``) when it has one; None without a public URL."""
    base = cfg.intake.public_url
    if not base:
        return None
    info = cfg.orders.get(order)
    if info and info.slug:
        return f"{base.rstrip('/')}/o/{info.slug}"
    return base


async def cmd_notices(cfg: Config, args: argparse.Namespace) -> int:
    _store_must_exist(cfg)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    templates = cfg.path.parent / "notices"
    async with await CheckpointStore.open(cfg.state) as store:
        report = await load_report(store, cfg, report_date=date.today(), lang="it",
                                   order=args.order)
        if args.order and not report.orders:
            raise unknown_order(args.order, await JobStore(store, None).jobs())
    deadline = cfg.deadline.strftime("%d/%m/%Y") if cfg.deadline else "(data da definire)"
    table = io.StringIO()
    w = csv_writer(table, args.csv_dialect)
    w.writerow(("address", "order", "state", "subject", "body"))
    count = 0
    for m in report.overall.mailboxes:
        info = cfg.orders.get(m.order)
        notice = render_notice(m, deadline=deadline,
                               templates=templates if templates.is_dir() else None,
                               intake_url=intake_page(cfg, m.order),
                               contacts=(info.contacts if info and info.contacts
                                         else (cfg.intake.contact,) if cfg.intake.contact
                                         else ()))
        if notice is None:
            continue
        subject, body = notice
        (out / f"{m.address}.txt").write_text(f"Oggetto: {subject}\n\n{body}", "utf-8")
        w.writerow((m.address, m.order, m.state, subject, body))
        count += 1
    (out / "notices.csv").write_text(table.getvalue(), "utf-8")
    sys.stdout.write(f"{count} notice(s) written to {out} (notices.csv for mail merge)\n")
    return 0


async def cmd_certificate(cfg: Config, args: argparse.Namespace) -> int:
    _store_must_exist(cfg)
    async with await CheckpointStore.open(cfg.state) as store:
        job = await JobStore(store, None).job(args.address)
        src_user = job.src_user if job else args.address
        cert = await certificate(store, src_user, address=args.address,
                                 dst_user=job.dst_user if job else None, job=job)
    if cert is None and job is None:
        raise UsageError(f"mailbox {args.address} is not in the list (pecsync import) and was "
                         f"never copied with `pecsync copy`: no certificate")
    if cert is None:
        raise UsageError(f"mailbox {args.address}: nothing copied yet, no certificate")
    text = certificate_json(cert) + "\n"
    if args.out:
        write_atomically(Path(args.out), text.encode())
        sys.stdout.write(f"wrote {args.out} (digest {cert['digest']})\n")
    else:
        sys.stdout.write(text)
    return 0
