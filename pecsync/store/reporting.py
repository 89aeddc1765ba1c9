"""What reports read from and keep in the state database: first completion times, the
snapshot each report saw, report e-mails until they are sent, and a mailbox's recorded
messages for its certificate.  Named queries only; typed values out."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from pecsync.store.checkpoints import CheckpointStore, now
from pecsync.store.connector import Repository
from pecsync.store.rows import RowMapper, opt_int, opt_str


@dataclass(frozen=True)
class Snapshot:
    """What an earlier report saw: ``Snapshot("2026-03-01", {"rossi@pec.it": "done"})``."""

    report_date: str
    states: dict[str, str]


@dataclass(frozen=True)
class Delivery:
    """One order's report e-mail, to be kept until it is sent."""

    report_date: str
    order: str
    recipients: tuple[str, ...]
    payload: bytes


@dataclass(frozen=True)
class PendingDelivery:
    """A report e-mail not sent yet (*attempts*: sends tried so far)."""

    id: int
    report_date: str
    order: str
    recipients: tuple[str, ...]
    payload: bytes
    attempts: int


@dataclass(frozen=True)
class MailboxMessage:
    """One recorded message of a mailbox, with its folder (what a certificate lists)::

        MailboxMessage("INBOX", "INBOX", 1, 7, 12, 3301, "ab12…", "<m1@x>", 40, "appended",
                       None, "2026-03-01T10:00:00+00:00")
    """

    src_name: str
    dst_name: str
    src_uidvalidity: int | None
    dst_uidvalidity: int | None
    src_uid: int
    size: int
    sha256: str
    message_id: str | None
    dst_uid: int | None
    state: str
    note: str | None
    verified_at: str | None


_DELIVERY = RowMapper(PendingDelivery, rename={"order": "order_name"},
                      recipients=lambda v: tuple(str(v).split(",")), payload=bytes)
_MAILBOX_MESSAGE = RowMapper(MailboxMessage, src_uidvalidity=opt_int, dst_uidvalidity=opt_int,
                             dst_uid=opt_int, message_id=opt_str)


class ReportStore(Repository):
    def __init__(self, store: CheckpointStore) -> None:
        super().__init__(store)
        #: What it was built from (the statements run on ``self.connector``).
        self.store = store

    async def first_done_times(self) -> dict[str, str]:
        """When each mailbox first reached ``done``: ``{"rossi@pec.it": "2026-03-01T…"}``."""
        rows = await self.connector._query("first_done_times")
        return {str(r["address"]): str(r["done_at"]) for r in rows}

    async def last_snapshot(self, before: date) -> Snapshot | None:
        """The newest snapshot of a report dated before *before*, or None."""
        row = await self.connector._one("last_snapshot", {"report_date": before.isoformat()})
        if row is None:
            return None
        return Snapshot(str(row["report_date"]), dict(json.loads(row["states"])))

    async def save_snapshot(self, report_date: date, states: Mapping[str, str]) -> None:
        await self.connector._transaction([("insert_snapshot", {
            "now": now(), "report_date": report_date.isoformat(),
            "states": json.dumps(dict(states))})])

    async def queue_deliveries(self, deliveries: Sequence[Delivery]) -> None:
        """Keep each e-mail until it is sent; one already sent for that date and order stays
        sent (its text is updated)."""
        if not deliveries:
            return
        await self.connector._transaction([("upsert_delivery", {
            "report_date": d.report_date, "order_name": d.order,
            "recipients": ",".join(d.recipients), "payload": d.payload, "now": now()})
            for d in deliveries])

    async def unsent_deliveries(self) -> list[PendingDelivery]:
        rows = await self.connector._query("unsent_deliveries")
        return _DELIVERY.all(rows)

    async def mark_delivery_sent(self, delivery_id: int) -> None:
        await self.connector._transaction([("mark_delivery", {
            "id": delivery_id, "status": "sent", "last_error": None, "now": now()})])

    async def mark_delivery_failed(self, delivery_id: int, error: str) -> None:
        await self.connector._transaction([("mark_delivery", {
            "id": delivery_id, "status": "failed", "last_error": error, "now": now()})])

    async def mailbox_messages(self, mailbox_id: int) -> list[MailboxMessage]:
        """Every recorded message of the mailbox in its folders' current UIDVALIDITY, by
        folder then source UID."""
        rows = await self.connector._query("mailbox_messages", {"mailbox_id": mailbox_id})
        return _MAILBOX_MESSAGE.all(rows)
