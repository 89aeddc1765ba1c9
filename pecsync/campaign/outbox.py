"""Enqueue a wave, then send what is queued: durable, and once per member and wave.

Enqueuing writes one ``campaign_send`` row per member who still has to act (unique on address
and wave: a second process adds nothing).  Sending claims one row at a time with a lease
(:meth:`pecsync.store.campaign.CampaignStore.claim`), looks at the member again (a member done
or being copied by now is *cancelled*, never sent), issues a new personal link, composes the
message for that member's state, hands it to the SMTP server and records the answer.  Two
processes (or hosts) sending at once share the rows between them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import anyio
import structlog

from pecsync.campaign.audience import Member, members_to_reach, needs_to_act
from pecsync.campaign.compose import Letter, compose, to_email
from pecsync.campaign.smtp import SmtpUnavailable, deliver
from pecsync.campaign.waves import INVITE, Wave, current, schedule
from pecsync.config import Config
from pecsync.errors import ConfigError
from pecsync.model import Secret
from pecsync.store.campaign import CampaignStore, Claimed
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore, process_owner
from pecsync.store.links import LinkStore, token_hash

log = structlog.get_logger("pecsync.campaign")
_ROME = ZoneInfo("Europe/Rome")


def personal_link(public_url: str, token: str) -> str:
    """A member's personal link: the page's public address and the token.

    >>> personal_link("https://migrazione.example/", "abc")
    'https://migrazione.example/i/abc'
    """
    return f"{public_url.rstrip('/')}/i/{token}"


def require_campaign_config(cfg: Config, *, sending: bool) -> None:
    """What every message needs: the deadline, the page's public address, and to send, the
    SMTP server."""
    if cfg.deadline is None:
        raise ConfigError(f"{cfg.path}: [migration] deadline: missing: every invitation and "
                          f"reminder states it (deadline = 2027-03-31)")
    if not cfg.intake.public_url:
        raise ConfigError(f"{cfg.path}: [intake] public_url: missing: the personal links "
                          f"are <public_url>/i/<token>")
    if sending and cfg.smtp is None:
        raise ConfigError(f"{cfg.path}: [smtp]: missing: invitations and reminders are sent "
                          f"through it (or use --dry-run)")


@dataclass
class PassReport:
    """What one sending pass did: (address, wave, recipient or None, the server's answer)."""

    sent: list[tuple[str, str, str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str, str]] = field(default_factory=list)
    retry: list[tuple[str, str, str, str]] = field(default_factory=list)
    cancelled: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: The SMTP server could not be used at all (the rows stay queued).
    unavailable: str | None = None


class Outbox:
    def __init__(self, cfg: Config, store: CheckpointStore, smtp_password: Secret | None,
                 *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.cfg = cfg
        self.store = store
        self.smtp_password = smtp_password
        self.campaign = CampaignStore(store)
        self.jobs = JobStore(store, None)
        self.links = LinkStore(store)
        self.clock = clock

    def waves(self) -> list[Wave]:
        assert self.cfg.deadline is not None
        return schedule(self.cfg.deadline, self.cfg.campaign.reminders)

    async def audience(self, wave: str, order: str | None) -> list[Member]:
        """The members who still have to act and have not had *wave* queued yet."""
        had = {(s.address, s.wave) for s in await self.campaign.sends(order)}
        members = members_to_reach(await self.jobs.jobs(order), await self.campaign.contacts())
        return [m for m in members if (m.address, wave) not in had]

    async def enqueue(self, wave: str, order: str | None) -> list[Member]:
        members = await self.audience(wave, order)
        await self.campaign.enqueue(wave, [(m.address, m.order, m.state.value)
                                           for m in members])
        return members

    def due_wave(self) -> Wave | None:
        return current(self.waves(), self.clock())

    async def enqueue_due(self, order: str | None) -> Wave | None:
        """Enqueue the wave that is due now, if any."""
        wave = self.due_wave()
        if wave is not None:
            members = await self.enqueue(wave.name, order)
            if members:
                log.info("campaign_wave_enqueued", wave=wave.name, members=len(members))
        return wave

    def letter(self, member_address: str, order: str, wave: str, state: str,
               link: str) -> Letter:
        assert self.cfg.deadline is not None
        info = self.cfg.orders.get(order)
        contacts = tuple(info.contacts) if info else ()
        if self.cfg.intake.contact:
            contacts += (self.cfg.intake.contact,)
        return Letter(address=member_address, wave=wave, state=state, link=link,
                      order_name=(info.display_name if info and info.display_name else order),
                      deadline=self.cfg.deadline, today=self.clock().astimezone(_ROME).date(),
                      provider=self.cfg.member_provider, contacts=contacts,
                      switch_at=self.cfg.switch_at)

    async def send_queued(self, order: str | None = None) -> PassReport:
        """One pass over the queued rows (each tried at most once in this pass)."""
        report = PassReport()
        owner = process_owner("campaign ")
        after = 0
        contacts = await self.campaign.contacts()
        while True:
            row = await self.campaign.claim(owner, after=after, order=order)
            if row is None:
                return report
            after = row.id
            try:
                await self._send(row, contacts.get(row.address, row.address), report)
            except SmtpUnavailable as exc:
                await self.campaign.finish(row, "queued", answer=exc.detail)
                report.unavailable = str(exc)
                log.warning("campaign_smtp_unavailable", error=str(exc))
                return report

    async def _send(self, row: Claimed, recipient: str, report: PassReport) -> None:
        assert self.cfg.smtp is not None and self.cfg.intake.public_url
        job = await self.jobs.job(row.address)
        if job is None or not needs_to_act(job.state):
            why = f"no longer needs to act ({job.state.value if job else 'not in the list'})"
            await self.campaign.finish(row, "cancelled", answer=why,
                                       job_state=job.state.value if job else None)
            report.cancelled.append((row.address, row.wave, recipient, why))
            return
        token = await self.links.issue(row.address, row.order)
        message = compose(self.letter(row.address, row.order, row.wave, job.state.value,
                                      personal_link(self.cfg.intake.public_url, token)))
        payload = to_email(message, sender=self.cfg.smtp.from_address, recipient=recipient,
                           wave=row.wave)
        smtp, password = self.cfg.smtp, self.smtp_password
        delivery = await anyio.to_thread.run_sync(
            lambda: deliver(smtp, password, recipient, payload))
        if delivery.outcome == "sent":
            await self.campaign.finish(row, "sent", recipient=recipient,
                                       answer=delivery.answer, token_hash=token_hash(token),
                                       job_state=job.state.value)
            report.sent.append((row.address, row.wave, recipient, delivery.answer))
            log.info("campaign_sent", address=row.address, wave=row.wave, to=recipient,
                     answer=delivery.answer)
        elif delivery.outcome == "failed":
            await self.campaign.finish(row, "failed", recipient=recipient,
                                       answer=delivery.answer, job_state=job.state.value)
            report.failed.append((row.address, row.wave, recipient, delivery.answer))
            log.warning("campaign_refused", address=row.address, wave=row.wave, to=recipient,
                        answer=delivery.answer)
        else:
            await self.campaign.finish(row, "queued", recipient=recipient,
                                       answer=delivery.answer, job_state=job.state.value)
            report.retry.append((row.address, row.wave, recipient, delivery.answer))
            log.info("campaign_deferred", address=row.address, wave=row.wave, to=recipient,
                     answer=delivery.answer)


async def invite(outbox: Outbox, order: str | None) -> PassReport:
    """``pecsync invite``: queue the invitation for every member who has to act and has not
    had one, then send every queued row."""
    await outbox.enqueue(INVITE, order)
    return await outbox.send_queued(order)


async def remind_due(outbox: Outbox, order: str | None) -> tuple[Wave | None, PassReport]:
    """``pecsync remind --due`` and each pass of ``run --follow``: queue the wave due now,
    then send every queued row (retries of earlier passes too)."""
    wave = await outbox.enqueue_due(order)
    return wave, await outbox.send_queued(order)
