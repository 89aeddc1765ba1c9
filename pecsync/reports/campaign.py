"""Response tracking of the invitation campaign: per order and per wave, how many messages
were sent, refused (with the server's answer), whose link was opened, who submitted a
password through it and who is done since; how many members still have to act and how many
days are left; members done per day against the deadline (a server-rendered SVG, no scripts,
no third-party assets).

``status --json`` shows :func:`to_json` under the key ``campaign``; the daily report shows
:func:`section_html` on every order's page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from html import escape
from typing import Any

from pecsync.store.campaign import MEMBER_ACTION_STATES, SendRecord
from pecsync.store.jobs import Job, JobState

#: The per-wave counters, in the order tables show them.
COUNTERS = ("queued", "sent", "failed", "cancelled", "opened", "submitted", "done")
INVITE = "invite"


@dataclass
class WaveStats:
    wave: str
    due_at: str | None
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))


@dataclass
class OrderCampaign:
    order: str
    members: int
    needs_to_act: int
    done: int
    waves: list[WaveStats]
    done_per_day: list[tuple[date, int]] = field(default_factory=list)


@dataclass
class CampaignSummary:
    deadline: date | None
    days_left: int | None
    members: int
    needs_to_act: int
    done: int
    waves: list[WaveStats]
    orders: list[OrderCampaign]
    failed: list[SendRecord]
    #: Cumulative members done per day, from the campaign's first day to today.
    done_per_day: list[tuple[date, int]]
    #: Wave name → the day it fell (or falls) due, for the chart.
    wave_days: dict[str, date]


def _due(deadline: date | None, offset: timedelta) -> datetime | None:
    if deadline is None:
        return None
    return datetime.combine(deadline, time(0, 0), tzinfo=UTC) + offset


def _wave_stats(names: Sequence[str], due: Mapping[str, str | None],
                sends: Sequence[SendRecord]) -> list[WaveStats]:
    out = {n: WaveStats(n, due.get(n)) for n in names}
    for s in sends:
        stats = out.setdefault(s.wave, WaveStats(s.wave, due.get(s.wave)))
        stats.counts[s.state] = stats.counts.get(s.state, 0) + 1
        if s.state == "sent":
            stats.counts["opened"] += s.opened_at is not None
            stats.counts["submitted"] += s.submitted_at is not None
            stats.counts["done"] += s.current_state == JobState.DONE.value
    return list(out.values())


def _done_per_day(jobs: Sequence[Job], done_times: Mapping[str, str], first: date | None,
                  today: date) -> list[tuple[date, int]]:
    days = Counter(datetime.fromisoformat(done_times[j.address]).date() for j in jobs
                   if j.state == JobState.DONE and j.address in done_times)
    start = min([*days, *([first] if first else []), today])
    out: list[tuple[date, int]] = []
    total = sum(n for d, n in days.items() if d < start)
    day = start
    while day <= today:
        total += days.get(day, 0)
        out.append((day, total))
        day += timedelta(days=1)
    return out


def summarize(jobs: Sequence[Job], sends: Sequence[SendRecord], *, deadline: date | None,
              reminders: Sequence[tuple[str, timedelta]], today: date,
              done_times: Mapping[str, str] | None = None) -> CampaignSummary:
    """The campaign's tracking from the jobs, the sends and when each job was first done."""
    names = [INVITE, *(n for n, _ in reminders)]
    due: dict[str, str | None] = {INVITE: None}
    wave_days: dict[str, date] = {}
    for name, offset in reminders:
        at = _due(deadline, offset)
        due[name] = at.isoformat() if at else None
        if at:
            wave_days[name] = at.date()
    invited = [datetime.fromisoformat(s.sent_at).date() for s in sends
               if s.wave == INVITE and s.sent_at]
    if invited:
        wave_days[INVITE] = min(invited)
    first_sent = min((datetime.fromisoformat(s.sent_at).date() for s in sends if s.sent_at),
                     default=None)

    def acting(js: Sequence[Job]) -> int:
        return sum(1 for j in js if j.state in MEMBER_ACTION_STATES)

    per_order: dict[str, list[Job]] = {}
    for j in jobs:
        per_order.setdefault(j.order, []).append(j)
    all_days = _done_per_day(jobs, done_times or {}, first_sent, today)
    first = all_days[0][0]
    orders = [OrderCampaign(name, len(js), acting(js),
                            sum(1 for j in js if j.state == JobState.DONE),
                            _wave_stats(names, due, [s for s in sends if s.order == name]),
                            _done_per_day(js, done_times or {}, first, today))
              for name, js in sorted(per_order.items())]
    return CampaignSummary(
        deadline=deadline, days_left=(deadline - today).days if deadline else None,
        members=len(jobs), needs_to_act=acting(jobs),
        done=sum(1 for j in jobs if j.state == JobState.DONE),
        waves=_wave_stats(names, due, sends), orders=orders,
        failed=[s for s in sends if s.state == "failed"],
        done_per_day=all_days,
        wave_days=wave_days)


def _waves_json(waves: Sequence[WaveStats]) -> list[dict[str, Any]]:
    return [{"wave": w.wave, "due_at": w.due_at, **{k: w.counts.get(k, 0) for k in COUNTERS}}
            for w in waves]


def to_json(c: CampaignSummary) -> dict[str, Any]:
    """The ``campaign`` key of ``status --json`` (documented in docs/guides/campaign.md)."""
    return {
        "deadline": c.deadline.isoformat() if c.deadline else None,
        "days_left": c.days_left,
        "members": c.members,
        "needs_to_act": c.needs_to_act,
        "done": c.done,
        "waves": _waves_json(c.waves),
        "orders": [{"order": o.order, "members": o.members, "needs_to_act": o.needs_to_act,
                    "done": o.done, "waves": _waves_json(o.waves)} for o in c.orders],
        "failed": [{"address": s.address, "order": s.order, "wave": s.wave,
                    "recipient": s.recipient, "answer": s.answer, "attempts": s.attempts}
                   for s in c.failed],
        "done_per_day": [{"date": d.isoformat(), "done": n} for d, n in c.done_per_day],
    }


_TEXT = {
    "it": {"title": "Inviti e promemoria", "needs": "iscritti devono ancora agire",
           "days": "giorni alla scadenza", "wave": "Invio", "due": "Previsto",
           "invite": "Invito", "queued": "in coda", "sent": "inviati",
           "failed": "rifiutati", "cancelled": "annullati", "opened": "link aperto",
           "submitted": "password inserita", "done": "completati",
           "refused": "Messaggi rifiutati dal server SMTP", "chart": "Caselle completate per "
           "giorno, fino alla scadenza", "deadline": "scadenza", "members": "iscritti",
           "none": "Nessuno"},
    "en": {"title": "Invitations and reminders", "needs": "members still have to act",
           "days": "days to the deadline", "wave": "Wave", "due": "Due",
           "invite": "Invitation", "queued": "queued", "sent": "sent", "failed": "refused",
           "cancelled": "cancelled", "opened": "link opened", "submitted": "password entered",
           "done": "done", "refused": "Messages refused by the SMTP server",
           "chart": "Mailboxes done per day, up to the deadline", "deadline": "deadline",
           "members": "members", "none": "None"},
}


def _day(d: date, lang: str) -> str:
    return d.strftime("%d/%m") if lang == "it" else d.strftime("%m-%d")


def _due_day(due_at: str | None, lang: str) -> str:
    if not due_at:
        return "—"
    day = datetime.fromisoformat(due_at).date()
    return day.strftime("%d/%m/%Y") if lang == "it" else day.isoformat()


def chart_svg(c: CampaignSummary, members: int, done_per_day: Sequence[tuple[date, int]],
              lang: str) -> str:
    """Cumulative members done per day (green), the deadline (red dashed) and the day each
    wave fell due (grey ticks), on one time axis up to the deadline."""
    t = _TEXT[lang]
    w, h, left, right, top, bottom = 640, 240, 44, 20, 24, 44
    start = done_per_day[0][0]
    end = max(c.deadline or done_per_day[-1][0], done_per_day[-1][0], start + timedelta(1))
    span = (end - start).days or 1
    total = max(members, 1)

    def x(d: date) -> float:
        return left + (w - left - right) * (d - start).days / span

    def y(n: int) -> float:
        return h - bottom - (h - top - bottom) * n / total

    pts = " ".join(f"{x(d):.1f},{y(n):.1f}" for d, n in done_per_day)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {w} {h}" '
        f'style="max-width:{w}px" role="img" aria-label="{escape(t["chart"])}">',
        f'<rect width="{w}" height="{h}" fill="#fbfcfd"/>',
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" '
        f'stroke="#8893a4"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" stroke="#8893a4"/>',
        f'<line x1="{left}" y1="{y(total):.1f}" x2="{w - right}" y2="{y(total):.1f}" '
        f'stroke="#c8cfda" stroke-dasharray="4 4"/>',
        f'<text x="{left - 6}" y="{y(total) + 4:.1f}" font-size="11" '
        f'text-anchor="end">{total}</text>',
        f'<text x="{left - 6}" y="{h - bottom + 4}" font-size="11" text-anchor="end">0</text>',
        f'<text x="{left}" y="{h - bottom + 16}" font-size="11">{_day(start, lang)}</text>',
    ]
    for name, day in sorted(c.wave_days.items(), key=lambda i: i[1]):
        if start <= day <= end:
            label = t["invite"] if name == INVITE else name
            parts.append(f'<line x1="{x(day):.1f}" y1="{h - bottom}" x2="{x(day):.1f}" '
                         f'y2="{h - bottom + 5}" stroke="#5b6678"/>'
                         f'<text x="{x(day):.1f}" y="{h - bottom + 28}" font-size="10" '
                         f'fill="#5b6678" text-anchor="middle">{escape(label)}</text>')
    if c.deadline:
        dx = x(c.deadline)
        parts.append(f'<line x1="{dx:.1f}" y1="{top}" x2="{dx:.1f}" y2="{h - bottom}" '
                     f'stroke="#c62828" stroke-width="2" stroke-dasharray="6 3"/>'
                     f'<text x="{dx - 4:.1f}" y="{top - 8}" font-size="11" fill="#c62828" '
                     f'text-anchor="end">{escape(t["deadline"])} '
                     f'{_day(c.deadline, lang)}</text>')
    parts.append(f'<polyline points="{pts}" fill="none" stroke="#2e7d32" stroke-width="2.5"/>')
    last_d, last_n = done_per_day[-1]
    parts.append(f'<circle cx="{x(last_d):.1f}" cy="{y(last_n):.1f}" r="4" fill="#2e7d32"/>'
                 f'<text x="{x(last_d) + 6:.1f}" y="{y(last_n) - 6:.1f}" font-size="11" '
                 f'fill="#2e7d32">{last_n}/{total}</text>')
    parts.append("</svg>")
    return "".join(parts)


def section_html(c: CampaignSummary, order: str, lang: str) -> str:
    """The campaign's part of an order's report page (*order* ``*``: every order)."""
    t = _TEXT[lang]
    if order == "*":
        waves, needs, members = c.waves, c.needs_to_act, c.members
        failed, per_day = c.failed, c.done_per_day
    else:
        o = next((o for o in c.orders if o.order == order), None)
        if o is None:
            return ""
        waves, needs, members = o.waves, o.needs_to_act, o.members
        failed, per_day = [s for s in c.failed if s.order == order], o.done_per_day
    if not any(sum(w.counts.values()) for w in waves) and c.deadline is None:
        return ""
    e = escape
    kpi = f"<div><b>{needs}</b>{e(t['needs'])}</div>"
    if c.days_left is not None:
        kpi += f"<div><b>{c.days_left}</b>{e(t['days'])}</div>"
    head = "".join(f"<th>{e(t[k])}</th>" for k in COUNTERS)
    rows = "".join(
        f"<tr><td>{e(t['invite'] if w.wave == INVITE else w.wave)}</td>"
        f"<td>{_due_day(w.due_at, lang)}</td>"
        + "".join(f"<td>{w.counts.get(k, 0)}</td>" for k in COUNTERS) + "</tr>"
        for w in waves)
    refused = "".join(f"<li>{e(s.address)} ({e(s.wave)}): {e(s.recipient or '')} — "
                      f"<code>{e(s.answer or '')}</code></li>" for s in failed)
    refused_html = (f"<h3>{e(t['refused'])}: {len(failed)}</h3><ul>{refused}</ul>"
                    if failed else "")
    return (f"<h2>{e(t['title'])}</h2><div class='kpi' style='margin-bottom:.8rem'>{kpi}</div>"
            f"<div style='overflow-x:auto'><table><tr><th>{e(t['wave'])}</th>"
            f"<th>{e(t['due'])}</th>{head}</tr>{rows}</table></div>{refused_html}"
            f"<h3>{e(t['chart'])}</h3>{chart_svg(c, members, per_day, lang)}")
