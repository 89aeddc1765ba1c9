"""The dashboard's one door to member invitations: the campaign module (pecsync.campaign,
``pecsync invite``/``remind``) does the work, this adapter only picks what the dashboard needs.

* :func:`send_invitation` — "resend invitation": the campaign's invitation message (its own
  text for the member's state) with a new personal link (``<public_url>/i/<token>``, issued
  by pecsync.store.links), sent now through ``[smtp]``.  It is not a ``campaign_send`` row
  (those are once per member and wave); the dashboard's audit log records it instead.
* :func:`invitation_stats` — per member, invitations and reminders sent and their links
  opened, from the campaign's records, plus the dashboard's own resends.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import anyio

from pecsync.campaign.compose import compose, to_email
from pecsync.campaign.outbox import Outbox, personal_link, require_campaign_config
from pecsync.campaign.smtp import deliver
from pecsync.campaign.waves import INVITE
from pecsync.config import Config
from pecsync.errors import PecsyncError
from pecsync.model import Secret
from pecsync.reports import mailer
from pecsync.store.admin import ActionCount
from pecsync.store.campaign import CampaignStore, SendRecord
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.links import LinkStore


class InvitationRefused(PecsyncError):
    """The SMTP server refused the message (its answer is the text)."""


@dataclass(frozen=True)
class InvitationStats:
    invitations_sent: int = 0
    #: None: not known.
    invitations_opened: int | None = None
    reminders_sent: int = 0
    reminders_opened: int | None = None


async def campaign_sends(store: CheckpointStore, order: str | None) -> list[SendRecord]:
    return await CampaignStore(store).sends(order)


def invitation_stats(sends: Sequence[SendRecord],
                     actions: Mapping[tuple[str, str], ActionCount]
                     ) -> dict[str, InvitationStats]:
    """Per member address: the campaign's messages (invitation wave, reminder waves) that
    were sent and whose link was opened, plus invitations resent from the dashboard (sent
    only: "opened" counts the campaign's messages)."""
    counts: Counter[tuple[str, str]] = Counter()
    #: Whose links are tracked: members with campaign messages (a dashboard resend's link
    #: opening is not counted, so for those alone "opened" stays unknown).
    tracked = {s.address for s in sends if s.sent_at}
    for s in sends:
        kind = "invitations" if s.wave == INVITE else "reminders"
        if s.sent_at:
            counts[(s.address, f"{kind}_sent")] += 1
        if s.opened_at:
            counts[(s.address, f"{kind}_opened")] += 1
    for (address, action), count in actions.items():
        if action == "invite":
            counts[(address, "invitations_sent")] += count.count
    addresses = {a for a, _ in counts}
    return {a: InvitationStats(counts[(a, "invitations_sent")],
                               counts[(a, "invitations_opened")] if a in tracked else None,
                               counts[(a, "reminders_sent")],
                               counts[(a, "reminders_opened")] if a in tracked else None)
            for a in addresses}


def _smtp_password(cfg: Config) -> Secret | None:
    assert cfg.smtp is not None
    return mailer.smtp_password(cfg.smtp)


async def send_invitation(cfg: Config, store: CheckpointStore, *, address: str, order: str,
                          state: str) -> str:
    """Send the member's invitation now, with a new personal link; the recipient.

    ConfigError: [smtp], [intake] public_url or [migration] deadline missing.
    pecsync.campaign.smtp.SmtpUnavailable: the server cannot be used now.
    InvitationRefused: the server refused the message."""
    require_campaign_config(cfg, sending=True)
    assert cfg.smtp is not None and cfg.intake.public_url
    outbox = Outbox(cfg, store, _smtp_password(cfg))
    recipient = (await CampaignStore(store).contacts()).get(address, address)
    token = await LinkStore(store).issue(address, order)
    message = compose(outbox.letter(address, order, INVITE, state,
                                    personal_link(cfg.intake.public_url, token)))
    payload = to_email(message, sender=cfg.smtp.from_address, recipient=recipient,
                       wave=INVITE)
    smtp, password = cfg.smtp, outbox.smtp_password
    delivery = await anyio.to_thread.run_sync(
        lambda: deliver(smtp, password, recipient, payload))
    if delivery.outcome != "sent":
        raise InvitationRefused(delivery.answer)
    return recipient
