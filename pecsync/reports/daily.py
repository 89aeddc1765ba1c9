"""Build the daily report from job records: pure, so it is unit-tested without IMAP.

``build_report(jobs, ...)`` → :class:`Report` with one :class:`OrderReport` per order and one
for all orders, each with totals per state, changes since the previous report, the mailboxes
that need action (reason and next step in plain words) and the deadline forecast.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from pecsync.config import OrderInfo
from pecsync.reports.campaign import CampaignSummary
from pecsync.reports.i18n import DETAIL_IT, TEXT
from pecsync.state_wording import report_state, wording
from pecsync.store.jobs import Job, JobState
from pecsync.store.syncstate import final_sync_done

STATES = [s.value for s in JobState]
BLOCKED = {"blocked_invalid_credentials", "blocked_2fa", "blocked_credentials_changed",
           "blocked_destination_full"}
NEEDS_ACTION = BLOCKED | {"waiting_credentials", "failed"}
#: Mailboxes a run still copies: the projection counts these only.
RUNNABLE = {"pending", "running", "retry_wait"}
_SERVER_ANSWER = re.compile(r"\[[A-Z][A-Z0-9-]*\][^—\n]*")


def detail_text(error_class: str | None, error_text: str | None, lang: str) -> str | None:
    """The ``detail`` column: the engine's text in English; in Italian what happened by
    error class, followed by the server's own answer when the text quotes one.

    >>> print(detail_text("auth_failed", "mailbox a@b: source login refused for a@b: "
    ...                   "[AUTHENTICATIONFAILED] Authentication failed. — check it",
    ...                   "it"))  # doctest: +NORMALIZE_WHITESPACE
    Il vecchio gestore ha rifiutato l'accesso con la password indicata. Risposta del server:
    «[AUTHENTICATIONFAILED] Authentication failed.»
    """
    if lang != "it" or not error_text:
        return error_text
    phrase = DETAIL_IT.get(error_class or "")
    if phrase is None:
        return f"Dettaglio tecnico: {error_text}"
    if error_class == "auth_failed":
        who = "nuovo" if "destination" in error_text.lower() else "vecchio"
        phrase = f"Il {who} gestore ha rifiutato l'accesso con la password indicata."
    answer = _SERVER_ANSWER.search(error_text)
    if answer:
        phrase += f" Risposta del server: «{answer.group(0).strip()}»"
    return phrase


@dataclass
class MailboxLine:
    address: str
    order: str
    state: str
    state_label: str
    phase: str | None
    reason: str
    next_step: str
    detail: str | None
    messages_copied: int
    messages_total: int
    bytes_copied: int
    bytes_total: int
    attempts: int
    verified: bool
    at_risk: str | None
    updated_at: str
    #: Messages refused by the destination and kept in the quarantine ("done with
    #: exceptions" when the state is done).
    quarantined: int = 0
    #: Where the current source password came from (csv, web, stdin) and when.
    credential_source: str | None = None
    credential_at: str | None = None
    #: Re-sync (docs/guides/resync-and-switch.md): when the last sync that ended done
    #: started, and whether one started after [migration] switch_at.
    last_synced_at: str | None = None
    final_sync_done: bool = False


@dataclass
class Forecast:
    deadline: date | None
    days_left: int | None
    mailboxes_per_day: float
    bytes_per_day: float
    projected: date | None
    at_risk: list[MailboxLine] = field(default_factory=list)
    #: Mailboxes left out of the projection (blocked, waiting for a password, failed).
    excluded: int = 0


@dataclass
class Changes:
    previous_date: str | None
    newly_done: list[str] = field(default_factory=list)
    newly_blocked: list[str] = field(default_factory=list)
    newly_failed: list[str] = field(default_factory=list)
    new_mailboxes: list[str] = field(default_factory=list)


@dataclass
class OrderReport:
    name: str
    display_name: str
    contacts: tuple[str, ...]
    totals: dict[str, int]
    mailboxes: list[MailboxLine]
    changes: Changes
    forecast: Forecast
    history: list[tuple[date, int]]
    #: Mailboxes without a final sync after [migration] switch_at (None: no switch_at).
    missing_final_sync: int | None = None

    @property
    def count(self) -> int:
        return len(self.mailboxes)

    @property
    def done(self) -> int:
        return self.totals.get("done", 0)

    @property
    def messages_copied(self) -> int:
        return sum(m.messages_copied for m in self.mailboxes)

    @property
    def messages_total(self) -> int:
        return sum(m.messages_total for m in self.mailboxes)

    @property
    def bytes_copied(self) -> int:
        return sum(m.bytes_copied for m in self.mailboxes)

    @property
    def bytes_total(self) -> int:
        return sum(m.bytes_total for m in self.mailboxes)

    @property
    def without_data(self) -> int:
        """Mailboxes whose messages were never counted (never read: blocked, waiting, not
        started): the message totals leave them out."""
        return sum(1 for m in self.mailboxes if m.state != "done" and m.messages_total == 0)

    @property
    def needs_action(self) -> list[MailboxLine]:
        return [m for m in self.mailboxes if m.state in NEEDS_ACTION or m.quarantined]


@dataclass(frozen=True)
class LateAddition:
    """An address a member asked for on the intake page that is not in the list."""

    address: str
    order: str | None
    requests: int
    first_at: str
    last_at: str


@dataclass(frozen=True)
class SelfEnrolment:
    """A mailbox its member added on the intake page (pecsync.store.jobs.SelfEnrolled)."""

    address: str
    order: str
    enrolled_at: str
    state: str


@dataclass
class Report:
    report_date: date
    generated_at: str
    lang: str
    overall: OrderReport
    orders: list[OrderReport]
    intake_requests: list[LateAddition] = field(default_factory=list)
    self_enrolled: list[SelfEnrolment] = field(default_factory=list)
    #: Invitations and reminders (pecsync.reports.campaign); None: not collected.
    campaign: CampaignSummary | None = None

    def text(self, key: str) -> str:
        return TEXT[self.lang][key]


def _line(job: Job, lang: str, origin: tuple[str, str] | None = None) -> MailboxLine:
    state = job.state.value
    # A done mailbox with messages in the quarantine is "done with exceptions".
    words = wording(report_state(state, job.skipped), lang)
    return MailboxLine(
        address=job.address, order=job.order, state=state,
        state_label=words.report, phase=job.phase,
        reason=words.report_reason or "", next_step=words.report_step or "",
        detail=detail_text(job.error_class, job.error_text, lang),
        messages_copied=job.messages_copied,
        messages_total=job.messages_total, bytes_copied=job.bytes_copied,
        bytes_total=job.bytes_total, attempts=job.attempts, verified=state == "done",
        at_risk=None, updated_at=job.updated_at, quarantined=job.skipped,
        credential_source=origin[0] if origin else None,
        credential_at=origin[1] if origin else None)


def _forecast(lines: list[MailboxLine], done_times: Mapping[str, str], started: datetime | None,
              today: date, deadline: date | None, lang: str) -> Forecast:
    done = [m for m in lines if m.state == "done"]
    days = max((today - started.date()).days + 1, 1) if started else 1
    per_day = len(done) / days if done else 0.0
    bytes_per_day = sum(m.bytes_copied for m in lines) / days if started else 0.0
    left = [m for m in lines if m.state != "done"]
    # Blocked and waiting mailboxes wait for a person, not for the copy: the projection is
    # for the runnable ones only (the others are listed at risk).
    runnable = [m for m in left if m.state in RUNNABLE]
    projected = (today + timedelta(days=int(len(runnable) / per_day + 0.999)) if per_day
                 else None)
    if not runnable:
        projected = today
    days_left = (deadline - today).days if deadline else None
    t = TEXT[lang]
    at_risk = []
    for m in left:
        risk = None
        if m.state == "waiting_credentials":
            risk = t["risk_no_credentials"]
        elif m.state in BLOCKED or m.state == "failed":
            risk = f"{t['risk_blocked']}: {m.state_label}"
        elif (days_left is not None and bytes_per_day > 0
              and (m.bytes_total - m.bytes_copied) > bytes_per_day * max(days_left, 0)):
            risk = t["risk_too_large"]
        if risk:
            m.at_risk = risk
            at_risk.append(m)
    return Forecast(deadline, days_left, per_day, bytes_per_day, projected, at_risk,
                    excluded=len(left) - len(runnable))


def _history(lines: list[MailboxLine], done_times: Mapping[str, str], today: date
             ) -> list[tuple[date, int]]:
    """Cumulative mailboxes done per day, from the first completion to today."""
    days = sorted(d for d in (datetime.fromisoformat(done_times[m.address]).date()
                              for m in lines if m.address in done_times and m.state == "done")
                  if d <= today)  # a report dated in the past ignores later completions
    if not days:
        return [(today, 0)]
    out = []
    day, i, total = days[0], 0, 0
    while day <= today:
        while i < len(days) and days[i] <= day:
            total += 1
            i += 1
        out.append((day, total))
        day += timedelta(days=1)
    return out


def _changes(lines: list[MailboxLine], previous: Mapping[str, str] | None,
             previous_date: str | None) -> Changes:
    c = Changes(previous_date)
    if previous is None:
        return c
    for m in lines:
        before = previous.get(m.address)
        if before is None:
            c.new_mailboxes.append(m.address)
        if m.state == "done" and before != "done":
            c.newly_done.append(m.address)
        if m.state in BLOCKED and before not in BLOCKED:
            c.newly_blocked.append(m.address)
        if m.state == "failed" and before != "failed":
            c.newly_failed.append(m.address)
    return c


def build_report(jobs: Sequence[Job], *, report_date: date, lang: str = "it",
                 deadline: date | None = None, orders: Mapping[str, OrderInfo] | None = None,
                 done_times: Mapping[str, str] | None = None, started: datetime | None = None,
                 previous: Mapping[str, str] | None = None, previous_date: str | None = None,
                 generated_at: str | None = None,
                 origins: Mapping[str, tuple[str, str]] | None = None,
                 intake_requests: Sequence[LateAddition] = (),
                 synced: Mapping[str, str | None] | None = None,
                 switch_at: datetime | None = None,
                 self_enrolled: Sequence[SelfEnrolment] = ()) -> Report:
    """*synced*: address → last_synced_at (``job_sync``); *switch_at*: [migration]."""
    orders = orders or {}
    done_times = done_times or {}
    origins = origins or {}
    lines = [_line(j, lang, origins.get(j.address)) for j in jobs]
    for line in lines:
        line.last_synced_at = (synced or {}).get(line.address)
        line.final_sync_done = final_sync_done(line.last_synced_at, switch_at)

    def section(name: str, display: str, contacts: tuple[str, ...],
                subset: list[MailboxLine]) -> OrderReport:
        counts = Counter(m.state for m in subset)
        return OrderReport(
            name=name, display_name=display, contacts=contacts,
            totals={s: counts[s] for s in STATES}, mailboxes=subset,
            changes=_changes(subset, previous, previous_date),
            forecast=_forecast(subset, done_times, started, report_date, deadline, lang),
            history=_history(subset, done_times, report_date),
            missing_final_sync=(sum(1 for m in subset if not m.final_sync_done)
                                if switch_at is not None else None))

    per_order: dict[str, list[MailboxLine]] = {}
    for m in lines:
        per_order.setdefault(m.order, []).append(m)
    sections = []
    for name in sorted(per_order):
        info = orders.get(name)
        sections.append(section(name, (info.display_name if info and info.display_name
                                       else name), info.contacts if info else (),
                                per_order[name]))
    overall = section("*", TEXT[lang]["overall"], (), lines)
    return Report(report_date=report_date,
                  generated_at=generated_at or datetime.now().astimezone().isoformat(
                      timespec="seconds"),
                  lang=lang, overall=overall, orders=sections,
                  intake_requests=list(intake_requests), self_enrolled=list(self_enrolled))
