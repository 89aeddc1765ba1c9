"""Render a :class:`~pecsync.reports.daily.Report` as JSON, CSV and self-contained HTML.

CSV columns (stable, documented in docs/guides/reports.md): see :data:`CSV_COLUMNS`.  HTML pages use
inline CSS and inline SVG only: no JavaScript, no external assets, readable offline.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from pecsync import __version__
from pecsync.reports import campaign as campaign_report
from pecsync.reports.daily import STATES, MailboxLine, OrderReport, Report
from pecsync.state_wording import wording

CSV_COLUMNS = ("order", "address", "state", "state_label", "phase", "reason", "next_step",
               "detail", "messages_copied", "messages_total", "bytes_copied", "bytes_total",
               "attempts", "verified", "at_risk", "updated_at", "credential_source",
               "credential_at")


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "order"


def _order_json(o: OrderReport) -> dict[str, Any]:
    f = o.forecast
    return {
        "order": o.name, "display_name": o.display_name, "mailboxes": o.count,
        "totals": o.totals, "messages_copied": o.messages_copied,
        "messages_total": o.messages_total, "bytes_copied": o.bytes_copied,
        "bytes_total": o.bytes_total, "verified": o.done,
        "mailboxes_without_data": o.without_data,
        "changes": asdict(o.changes),
        "forecast": {"deadline": f.deadline.isoformat() if f.deadline else None,
                     "days_left": f.days_left, "mailboxes_per_day": round(f.mailboxes_per_day, 2),
                     "bytes_per_day": int(f.bytes_per_day),
                     "projected_completion": f.projected.isoformat() if f.projected else None,
                     "excluded_from_projection": f.excluded,
                     "at_risk": [{"address": m.address, "reason": m.at_risk} for m in f.at_risk]},
        "history": [{"date": d.isoformat(), "done": n} for d, n in o.history],
        "needs_action": [m.address for m in o.needs_action],
        "missing_final_sync": o.missing_final_sync,
    }


def to_json(report: Report) -> dict[str, Any]:
    return {
        "report_date": report.report_date.isoformat(), "generated_at": report.generated_at,
        "lang": report.lang, "pecsync_version": __version__,
        "overall": _order_json(report.overall),
        "orders": [_order_json(o) for o in report.orders],
        "mailboxes": [{**{k: getattr(m, k) for k in CSV_COLUMNS},
                       "last_synced_at": m.last_synced_at, "final_sync_done": m.final_sync_done}
                      for m in report.overall.mailboxes],
        "intake_requests": {"count": len(report.intake_requests),
                            "addresses": [asdict(r) for r in report.intake_requests]},
        "self_enrolled": {"count": len(report.self_enrolled),
                          "mailboxes": [asdict(e) for e in report.self_enrolled]},
        "campaign": (campaign_report.to_json(report.campaign) if report.campaign is not None
                     else None),
    }


#: ``--csv-dialect``: RFC 4180 (``,``), or what Excel with an Italian locale opens directly
#: by a double click (``;`` separator, a UTF-8 BOM so accents show right).
CSV_DIALECTS = ("rfc4180", "excel-it")


def csv_writer(out: io.StringIO, dialect: str = "rfc4180") -> Any:
    """A csv writer for *dialect* (the BOM, for excel-it, is written at once)."""
    if dialect == "excel-it":
        out.write("\ufeff")
        return csv.writer(out, delimiter=";", lineterminator="\r\n")
    return csv.writer(out, lineterminator="\r\n")


def to_csv(mailboxes: list[MailboxLine], dialect: str = "rfc4180") -> str:
    out = io.StringIO()
    w = csv_writer(out, dialect)
    w.writerow(CSV_COLUMNS)
    for m in mailboxes:
        w.writerow(["" if getattr(m, k) is None else getattr(m, k) for k in CSV_COLUMNS])
    return out.getvalue()


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem;
color:#1d2433;max-width:70rem}h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;
margin-top:2rem;border-bottom:1px solid #d0d7e2;padding-bottom:.3rem}.muted{color:#5b6678}
.bar{background:#e6eaf0;border-radius:6px;height:1.2rem;overflow:hidden;display:flex;
margin:.4rem 0}.bar span{display:block;height:100%}.done{background:#2e7d32}
.blocked{background:#c62828}.running{background:#1565c0}.waiting{background:#f9a825}
.legend{display:flex;gap:1rem;flex-wrap:wrap;font-size:.85rem;margin:.2rem 0 .8rem}
.legend i{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;
vertical-align:-.1rem}table{border-collapse:collapse;width:100%;
font-size:.92rem}th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #e6eaf0;
vertical-align:top}th{background:#f4f6f9}.kpi{display:flex;gap:1rem;flex-wrap:wrap}
.kpi div{background:#f4f6f9;border-radius:8px;padding:.6rem 1rem;min-width:9rem}
.kpi b{display:block;font-size:1.4rem}.risk{color:#c62828}a{color:#1565c0}
"""


_BAR_PARTS = (("done", "legend_done"), ("running", "legend_running"),
              ("waiting", "legend_waiting"), ("blocked", "legend_blocked"))


def _bar(o: OrderReport, report: Report) -> str:
    n = max(o.count, 1)
    values = {"done": o.totals["done"],
              "running": o.totals["running"] + o.totals["retry_wait"] + o.totals["pending"],
              "waiting": o.totals["waiting_credentials"],
              "blocked": sum(o.totals[s] for s in STATES if s.startswith("blocked"))
              + o.totals["failed"]}
    spans = "".join(f'<span class="{cls}" style="width:{100 * values[cls] / n:.1f}%"></span>'
                    for cls, _ in _BAR_PARTS if values[cls])
    pct = 100 * o.totals["done"] / n
    return (f'<div class="bar" role="img" aria-label="{pct:.0f}%">{spans}</div>'
            f'<div class="muted">{o.totals["done"]}/{o.count} ({pct:.0f}%)</div>')


def _legend(report: Report) -> str:
    """What the bar's colours mean (once per page)."""
    return ("<div class='legend'>" + "".join(
        f"<span><i class='{cls}'></i>{escape(report.text(key))}</span>"
        for cls, key in _BAR_PARTS) + "</div>")


def _chart(o: OrderReport, report: Report) -> str:
    """Cumulative mailboxes done per day as an inline SVG line chart."""
    w, h, pad = 640, 220, 40
    points = o.history
    total = max(o.count, 1)
    span = max(len(points) - 1, 1)
    coords = [(pad + (w - 2 * pad) * i / span, h - pad - (h - 2 * pad) * n / total)
              for i, (_, n) in enumerate(points)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    first, last = _day(points[0][0], report.lang), _day(points[-1][0], report.lang)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" role="img" aria-label="{escape(report.text("progress"))}">'
            f'<rect x="0" y="0" width="{w}" height="{h}" fill="#fbfcfd"/>'
            f'<line x1="{pad}" y1="{h - pad}" x2="{w - pad}" y2="{h - pad}" stroke="#8893a4"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{h - pad}" stroke="#8893a4"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{w - pad}" y2="{pad}" stroke="#c8cfda" '
            f'stroke-dasharray="4 4"/>'
            f'<text x="{pad - 6}" y="{pad + 4}" font-size="11" text-anchor="end">{total}</text>'
            f'<text x="{pad - 6}" y="{h - pad + 4}" font-size="11" text-anchor="end">0</text>'
            f'<text x="{pad}" y="{h - pad + 16}" font-size="11">{first}</text>'
            f'<text x="{w - pad}" y="{h - pad + 16}" font-size="11" text-anchor="end">{last}</text>'
            f'<polyline points="{line}" fill="none" stroke="#2e7d32" stroke-width="2.5"/>'
            + "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2e7d32"/>'
                      for x, y in coords[-30:])
            + "</svg>")


def _num(n: int, lang: str = "it") -> str:
    """``2.940`` in Italian, ``2,940`` in English."""
    text = f"{n:,}"
    return text.replace(",", ".") if lang == "it" else text


def _mb(n: int, lang: str = "it") -> str:
    """``1.159,2 MB`` in Italian, ``1,159.2 MB`` in English."""
    text = f"{n / 1e6:,.1f}"
    if lang == "it":
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{text} MB"


def _day(d: date, lang: str) -> str:
    return d.strftime("%d/%m/%Y") if lang == "it" else d.isoformat()


def _stamp(text: str, lang: str) -> str:
    """A stored UTC time for a reader: ``24/11/2026 06:00`` (Europe/Rome) in Italian,
    ``2026-11-24 05:00`` (UTC, as stored) in English."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text[:16].replace("T", " ")
    if lang == "it" and when.tzinfo is not None:
        return when.astimezone(ZoneInfo("Europe/Rome")).strftime("%d/%m/%Y %H:%M")
    return when.strftime("%Y-%m-%d %H:%M")


def _generated(report: Report) -> str:
    """When the report was made: Italian local time (Europe/Rome) in the Italian report."""
    try:
        when = datetime.fromisoformat(report.generated_at)
    except ValueError:
        return report.generated_at
    if when.tzinfo is None:
        when = when.astimezone()
    if report.lang == "it":
        local = when.astimezone(ZoneInfo("Europe/Rome"))
        return f"{local.strftime('%d/%m/%Y %H:%M')} ({report.text('timezone')})"
    return when.isoformat(timespec="minutes")


def order_html(o: OrderReport, report: Report, *, index_link: bool = True) -> str:
    t = report.text
    lang = report.lang
    f = o.forecast
    no_data = o.without_data
    kpis = [
        (f"{o.done}/{o.count}", f"{t('mailboxes')} {t('verified')}"),
        (f"{_num(o.messages_copied, lang)}/{_num(o.messages_total, lang)}",
         t("messages") + (f" ({no_data} {t('no_data')})" if no_data else "")),
        (f"{_mb(o.bytes_copied, lang)}", f"{t('copied_of')} {_mb(o.bytes_total, lang)}"),
    ]
    if f.deadline:
        kpis.append((_day(f.deadline, lang),
                     f"{t('deadline')}: {f.days_left} {t('days_left')}"))
    projected_label = t("projected_runnable") if f.excluded else t("projected")
    if f.excluded:
        projected_label += f" ({f.excluded} {t('excluded')})"
    kpis.append((_day(f.projected, lang) if f.projected else "—",
                 projected_label if f.projected else t("not_projectable")))
    if o.missing_final_sync is not None:
        kpis.append((f"{o.count - o.missing_final_sync}/{o.count}", t("final_sync")))
    kpi_html = "".join(f"<div><b>{escape(v)}</b>{escape(label)}</div>" for v, label in kpis)
    counts = "".join(f"<tr><td>{escape(wording(s, report.lang).report)}</td><td><code>{s}</code>"
                     f"</td><td>{o.totals[s]}</td></tr>" for s in STATES if o.totals[s])
    ch = o.changes
    if ch.previous_date is None:
        changes = f"<p class='muted'>{escape(t('no_previous'))}</p>"
    else:
        rows = [(t("newly_done"), ch.newly_done), (t("newly_blocked"), ch.newly_blocked),
                (t("newly_failed"), ch.newly_failed), (t("new_mailboxes"), ch.new_mailboxes)]
        changes = (f"<p class='muted'>{escape(t('since'))} {escape(ch.previous_date)}</p><ul>"
                   + "".join(f"<li>{escape(label)}: {len(v)}"
                             + (f" — {escape(', '.join(v[:50]))}" if v else "") + "</li>"
                             for label, v in rows) + "</ul>")
    action_rows = "".join(
        f"<tr><td>{escape(m.address)}</td><td>{escape(m.state_label)}</td>"
        f"<td>{escape(m.reason)}</td><td>{escape(m.next_step)}</td></tr>"
        for m in o.needs_action) or f"<tr><td colspan='4'>{escape(t('none'))}</td></tr>"
    risk_rows = "".join(f"<li class='risk'>{escape(m.address)}: {escape(m.at_risk or '')}</li>"
                        for m in f.at_risk) or f"<li>{escape(t('none'))}</li>"
    all_rows = "".join(
        f"<tr><td>{escape(m.address)}</td><td>{escape(m.state_label)}</td>"
        f"<td>{_num(m.messages_copied, lang)}/{_num(m.messages_total, lang)}</td>"
        f"<td>{_mb(m.bytes_copied, lang)}</td><td>{escape(m.credential_source or '—')}"
        f"{' ' + escape(_stamp(m.credential_at, lang)) if m.credential_at else ''}"
        f"</td><td>{escape(_last_sync(m, t, lang))}</td></tr>" for m in o.mailboxes)
    late = [r for r in report.intake_requests if o.name == "*" or r.order in (None, o.name)]
    late_html = ""
    if late:
        late_html = (f"<h2>{escape(t('late_additions'))}: {len(late)}</h2>"
                     f"<p class='muted'>{escape(t('late_additions_hint'))}</p><ul>"
                     + "".join(f"<li>{escape(r.address)} — {r.requests} {escape(t('requests'))}"
                               f", {escape(t('last_request'))} "
                               f"{escape(_stamp(r.last_at, lang))}</li>" for r in late)
                     + "</ul>")
    enrolled = [e for e in report.self_enrolled if o.name in ("*", e.order)]
    if enrolled:
        late_html += (f"<h2>{escape(t('self_enrolled'))}: {len(enrolled)}</h2>"
                      f"<p class='muted'>{escape(t('self_enrolled_hint'))}</p><ul>"
                      + "".join(f"<li>{escape(e.address)} — {escape(e.state)}, "
                                f"{escape(_stamp(e.enrolled_at, lang))}</li>" for e in enrolled)
                      + "</ul>")
    back = f"<p><a href='index.html'>← {escape(t('overall'))}</a></p>" if index_link else ""
    title = f"{t('title')} — {o.display_name} — {_day(report.report_date, lang)}"
    return (f"<!DOCTYPE html><html lang='{report.lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>{back}"
            f"<h1>{escape(t('title'))}: {escape(o.display_name)}</h1>"
            f"<p class='muted'>{escape(_day(report.report_date, lang))} · "
            f"{escape(t('generated'))} {escape(_generated(report))} · pecsync {__version__}</p>"
            f"{_bar(o, report)}{_legend(report)}"
            f"<div class='kpi'>{kpi_html}</div>"
            f"<h2>{escape(t('state'))}</h2><table>{counts}</table>"
            f"<h2>{escape(t('changes'))}</h2>{changes}"
            f"<h2>{escape(t('needs_action'))}</h2><table><tr><th>{escape(t('mailbox'))}</th>"
            f"<th>{escape(t('state'))}</th><th>{escape(t('reason'))}</th>"
            f"<th>{escape(t('next_step'))}</th></tr>{action_rows}</table>"
            f"<h2>{escape(t('at_risk'))}</h2><ul>{risk_rows}</ul>{late_html}"
            f"{_campaign(o, report)}"
            f"<h2>{escape(t('progress'))}</h2>{_chart(o, report)}"
            f"<h2>{escape(t('all_mailboxes'))}</h2><table><tr><th>{escape(t('mailbox'))}</th>"
            f"<th>{escape(t('state'))}</th><th>{escape(t('messages'))}</th><th>MB</th>"
            f"<th>{escape(t('password_from'))}</th><th>{escape(t('last_sync'))}</th></tr>"
            f"{all_rows}</table></body></html>")


def _campaign(o: OrderReport, report: Report) -> str:
    if report.campaign is None:
        return ""
    return campaign_report.section_html(report.campaign, o.name, report.lang)


def _last_sync(m: MailboxLine, t: Callable[[str], str], lang: str = "en") -> str:
    """``2027-03-31 06:12 UTC (final)`` (``31/03/2027 08:12`` Italian time in the Italian
    report): when the mailbox's last completed sync started."""
    if not m.last_synced_at:
        return "—"
    when = (_stamp(m.last_synced_at, lang) if lang == "it"
            else m.last_synced_at[:16].replace("T", " ") + " UTC")
    return f"{when} ({t('final')})" if m.final_sync_done else when


def index_html(report: Report) -> str:
    t = report.text
    rows = "".join(
        f"<tr><td><a href='order-{slug(o.name)}.html'>{escape(o.display_name)}</a></td>"
        f"<td style='width:40%'>{_bar(o, report)}</td><td>{len(o.needs_action)}</td></tr>"
        for o in report.orders)
    body = order_html(report.overall, report, index_link=False)
    table = (f"<h2>{escape(t('order'))}</h2><table><tr><th>{escape(t('order'))}</th>"
             f"<th>%</th><th>{escape(t('needs_action'))}</th></tr>{rows}</table>")
    return body.replace("<h2>", table + "<h2>", 1)
