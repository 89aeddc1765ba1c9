"""What the dashboard shows, computed from the store: per order a summary (members, done,
needing action, not yet responded, projected completion against the deadline, last
activity), its members' rows in plain words, and the burn-down series.  Pure functions over
typed store values, so the page, the live JSON and the CSV show exactly the same thing."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pecsync.config import Config, OrderInfo
from pecsync.state_wording import wording
from pecsync.store.admin import ActionCount
from pecsync.store.campaign import MEMBER_ACTION_STATES
from pecsync.store.intake import IntakeRequest
from pecsync.store.jobs import CredentialOrigin, Job, JobState
from pecsync.web.admin.invitations import InvitationStats

try:
    LOCAL_TZ: Any = ZoneInfo("Europe/Rome")
except Exception:  # no time zone data: UTC
    LOCAL_TZ = UTC

NEEDS_ACTION = frozenset({JobState.BLOCKED_INVALID_CREDENTIALS, JobState.BLOCKED_2FA,
                          JobState.BLOCKED_CREDENTIALS_CHANGED,
                          JobState.BLOCKED_DESTINATION_FULL, JobState.FAILED})
IN_PROGRESS = frozenset({JobState.PENDING, JobState.RUNNING, JobState.RETRY_WAIT})
#: States the dashboard may put back to pending (store query admin_requeue_job).
REQUEUEABLE = NEEDS_ACTION | {JobState.RETRY_WAIT}
#: The state filter: a group, or one job state (its value).
GROUPS: dict[str, str] = {
    "": "Tutti",
    "needs_action": "Da sistemare (ferme)",
    "not_responded": "Senza risposta (manca la password)",
    "in_progress": "In corso o in coda",
    "done": "Completate",
}
CREDENTIAL_SOURCE = {"csv": "elenco dell'operatore", "web": "inserita dal socio",
                     "stdin": "inserita dall'operatore", "unknown": "non registrata"}


def local(at: str | datetime | None) -> str:
    """``2026-03-01T09:00:00+00:00`` → ``01/03/2026 10:00`` (Italian time); None → ``—``."""
    if not at:
        return "—"
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(LOCAL_TZ).strftime("%d/%m/%Y %H:%M")


def day(d: date | None) -> str:
    return d.strftime("%d/%m/%Y") if d else "—"


def _date(at: str) -> date:
    when = datetime.fromisoformat(at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(LOCAL_TZ).date()


def order_key(order: str, orders: Mapping[str, OrderInfo]) -> str:
    """The order's part of dashboard URLs: its slug when it has one, else its name."""
    info = orders.get(order)
    return info.slug if info and info.slug else order


def order_of_key(key: str, known: Iterable[str], orders: Mapping[str, OrderInfo]) -> str | None:
    for name in known:
        if order_key(name, orders) == key or name == key:
            return name
    return None


@dataclass
class MemberRow:
    """One member of an order, as the table, the live JSON and the CSV show it."""

    address: str
    state: str
    state_label: str
    next_step: str
    credential_source: str
    credential_at: str
    messages_copied: int
    messages_total: int
    last_activity: str
    invitations_sent: int
    invitations_opened: int | None
    reminders_sent: int
    reminders_opened: int | None
    checked: str
    can_requeue: bool
    #: The member's next step is theirs (a password to give, 2-step verification to switch
    #: off): an invitation helps.
    can_invite: bool

    @property
    def messages(self) -> str:
        total = max(self.messages_total, self.messages_copied)
        return f"{self.messages_copied:,} di {total:,}".replace(",", ".")

    @property
    def invitations(self) -> str:
        return _sent_opened(self.invitations_sent, self.invitations_opened)

    @property
    def reminders(self) -> str:
        return _sent_opened(self.reminders_sent, self.reminders_opened)

    def as_json(self) -> dict[str, Any]:
        return {"address": self.address, "state": self.state, "state_label": self.state_label,
                "next_step": self.next_step, "credential": self.credential,
                "messages": self.messages, "messages_copied": self.messages_copied,
                "messages_total": self.messages_total, "last_activity": self.last_activity,
                "invitations": self.invitations, "reminders": self.reminders,
                "can_requeue": self.can_requeue, "can_invite": self.can_invite}

    @property
    def credential(self) -> str:
        if self.credential_source == "—":
            return "—"
        return f"{self.credential_source}, {self.credential_at}"


def _sent_opened(sent: int, opened: int | None) -> str:
    """``2 inviati, 1 aperto`` (opened: None when not known)."""
    text = f"{sent} inviato" if sent == 1 else f"{sent} inviati"
    if opened is not None:
        text += f", {opened} aperto" if opened == 1 else f", {opened} aperti"
    return text


@dataclass
class OrderSummary:
    name: str
    key: str
    display: str
    members: int
    done: int
    needing_action: int
    not_responded: int
    in_progress: int
    totals: dict[str, int]
    deadline: date | None
    projected: date | None
    per_day: float
    last_activity: str | None
    started: date | None
    done_days: list[date] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """Whether the order will make the deadline, in plain words."""
        if self.members and self.done == self.members:
            return "completato"
        if self.projected is None:
            return "non stimabile (nessuna casella completata finora)"
        if self.deadline is None:
            return "nessuna scadenza configurata"
        if self.projected <= self.deadline:
            return f"in tempo ({(self.deadline - self.projected).days} giorni di margine)"
        return f"in ritardo di {(self.projected - self.deadline).days} giorni"

    @property
    def late(self) -> bool:
        return bool(self.deadline and self.projected and self.projected > self.deadline
                    and self.done < self.members)

    def as_json(self) -> dict[str, Any]:
        return {"order": self.name, "members": self.members, "done": self.done,
                "needing_action": self.needing_action, "not_responded": self.not_responded,
                "in_progress": self.in_progress, "totals": self.totals,
                "deadline": self.deadline.isoformat() if self.deadline else None,
                "projected": self.projected.isoformat() if self.projected else None,
                "projected_text": day(self.projected), "verdict": self.verdict,
                "late": self.late, "last_activity": local(self.last_activity)}


def summarize(order: str, jobs: Sequence[Job], *, cfg: Config, done_times: Mapping[str, str],
              last_events: Mapping[int, str], today: date | None = None) -> OrderSummary:
    """An order's line: the projection is the pace so far (members done per day since the
    first copy started) carried on over the members not done yet."""
    today = today or datetime.now(LOCAL_TZ).date()
    counts = Counter(j.state.value for j in jobs)
    done = counts[JobState.DONE.value]
    done_days = sorted(_date(done_times[j.address]) for j in jobs
                       if j.state == JobState.DONE and j.address in done_times)
    starts = [_date(j.started_at) for j in jobs if j.started_at] + done_days
    started = min(starts) if starts else None
    days = (today - started).days + 1 if started else 0
    per_day = done / days if days and done else 0.0
    left = len(jobs) - done
    projected: date | None = None
    if jobs and left == 0:
        projected = done_days[-1] if done_days else today
    elif per_day > 0:
        projected = today + timedelta(days=math.ceil(left / per_day))
    activity = [a for j in jobs for a in (j.updated_at, last_events.get(j.id)) if a]
    info = cfg.orders.get(order)
    return OrderSummary(
        name=order, key=order_key(order, cfg.orders),
        display=(info.display_name if info and info.display_name else order),
        members=len(jobs), done=done,
        needing_action=sum(counts[s.value] for s in NEEDS_ACTION),
        not_responded=counts[JobState.WAITING_CREDENTIALS.value],
        in_progress=sum(counts[s.value] for s in IN_PROGRESS),
        totals={s.value: counts[s.value] for s in JobState},
        deadline=cfg.deadline, projected=projected, per_day=per_day,
        last_activity=max(activity) if activity else None, started=started,
        done_days=done_days)


def member_rows(jobs: Sequence[Job], *, origins: Mapping[tuple[int, str], CredentialOrigin],
                last_events: Mapping[int, str],
                actions: Mapping[tuple[str, str], ActionCount],
                invitations: Mapping[str, InvitationStats]) -> list[MemberRow]:
    rows = []
    for j in jobs:
        words = wording(j.state, "it")
        label, step = words.member, words.member_step
        origin = origins.get((j.id, "src"))
        activity = max(a for a in (j.updated_at, last_events.get(j.id)) if a)
        sent = invitations.get(j.address, InvitationStats())
        checked = actions.get((j.address, "check"))
        rows.append(MemberRow(
            address=j.address, state=j.state.value, state_label=label, next_step=step,
            credential_source=CREDENTIAL_SOURCE.get(origin.source, origin.source)
            if origin else "—", credential_at=local(origin.at) if origin else "—",
            messages_copied=j.messages_copied, messages_total=j.messages_total,
            last_activity=local(activity), invitations_sent=sent.invitations_sent,
            invitations_opened=sent.invitations_opened, reminders_sent=sent.reminders_sent,
            reminders_opened=sent.reminders_opened,
            checked=local(checked.last_at) if checked else "",
            can_requeue=j.state in REQUEUEABLE, can_invite=j.state in MEMBER_ACTION_STATES))
    return rows


def in_group(state: str, group: str) -> bool:
    if not group:
        return True
    if group == "needs_action":
        return state in NEEDS_ACTION
    if group == "not_responded":
        return state == JobState.WAITING_CREDENTIALS
    if group == "in_progress":
        return state in IN_PROGRESS
    return state == group


def valid_filter(group: str) -> str:
    """The ``state`` query parameter as a known group or state, else all."""
    return group if group in GROUPS or group in {s.value for s in JobState} else ""


def filtered(rows: Sequence[MemberRow], group: str, search: str) -> list[MemberRow]:
    needle = search.strip().lower()
    return [r for r in rows if in_group(r.state, group) and needle in r.address.lower()]


@dataclass(frozen=True)
class LateMember:
    """An address asked for on the intake page that is not in the list, for this order."""

    address: str
    order: str | None
    requests: int
    last_at: str
    checked: str


def late_members(requests: Sequence[IntakeRequest], order: str | None,
                 actions: Mapping[tuple[str, str], ActionCount]) -> list[LateMember]:
    """Late additions of *order* (None: the operator's view, every request)."""
    out = []
    for r in requests:
        if order is not None and r.order != order:
            continue
        checked = actions.get((r.address, "check"))
        out.append(LateMember(r.address, r.order, r.count, local(r.last_at),
                              local(checked.last_at) if checked else ""))
    return out
