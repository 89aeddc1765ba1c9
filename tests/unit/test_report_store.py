"""The store's named methods for reports and key rotation, on both backends: typed values
out (no rows by position), the same answers from SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime
from pathlib import Path

from pecsync.model import FetchedMessage, MailboxRow, MessageInfo, Secret
from pecsync.store.checkpoints import Appended, CheckpointStore
from pecsync.store.jobs import JobState, JobStore
from pecsync.store.keys import reencrypt_credentials
from pecsync.store.reporting import Delivery, MailboxMessage, ReportStore, Snapshot
from pecsync.vault import Vault, new_key

ADDRESS = "rossi@pec.example.it"


def _msg(uid: int) -> FetchedMessage:
    info = MessageInfo(uid, 3, ("\\Seen",), datetime(2026, 3, 1, 10, tzinfo=UTC))
    return FetchedMessage(info, b"abc", f"sha{uid}", f"<{uid}@x>")


async def test_snapshots_the_newest_before_the_date(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        reports = ReportStore(store)
        assert await reports.last_snapshot(date(2026, 3, 5)) is None
        await reports.save_snapshot(date(2026, 3, 1), {ADDRESS: "pending"})
        await reports.save_snapshot(date(2026, 3, 3), {ADDRESS: "done"})
        await reports.save_snapshot(date(2026, 3, 5), {ADDRESS: "failed"})
        assert await reports.last_snapshot(date(2026, 3, 5)) == Snapshot(
            "2026-03-03", {ADDRESS: "done"})


async def test_deliveries_until_sent(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        reports = ReportStore(store)
        await reports.queue_deliveries([])  # nothing to keep: no write
        await reports.queue_deliveries([
            Delivery("2026-03-01", "B", ("b@x.it",), b"mail b"),
            Delivery("2026-03-01", "A", ("a1@x.it", "a2@x.it"), b"mail a")])
        pending = await reports.unsent_deliveries()
        assert [(d.order, d.recipients, d.payload, d.attempts) for d in pending] == [
            ("A", ("a1@x.it", "a2@x.it"), b"mail a", 0), ("B", ("b@x.it",), b"mail b", 0)]
        assert all(isinstance(d.id, int) and d.report_date == "2026-03-01" for d in pending)
        await reports.mark_delivery_failed(pending[0].id, "connection refused")
        await reports.mark_delivery_sent(pending[1].id)
        again = await reports.unsent_deliveries()
        assert [(d.order, d.attempts) for d in again] == [("A", 1)]
        # Queued again (the next report of the same day): a sent one stays sent.
        await reports.queue_deliveries([Delivery("2026-03-01", "B", ("b@x.it",), b"new b")])
        assert [d.order for d in await reports.unsent_deliveries()] == ["A"]


async def test_mailbox_messages_and_first_done_times(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        reports = ReportStore(store)
        mailbox = await store.mailbox_id(ADDRESS, ADDRESS)
        folder = await store.add_folder(mailbox, "INBOX", "INBOX", 11, 22)
        await store.record_batch(folder.id, 11, intents=[_msg(1), _msg(2)],
                                 dst_uidnext_before=5,
                                 skipped=[(_msg(3), "refused: too big")])
        await store.mark_appended(folder.id, 11, 22, [Appended(1, 5)], None)
        messages = await reports.mailbox_messages(mailbox)
        assert messages == [
            MailboxMessage("INBOX", "INBOX", 11, 22, 1, 3, "sha1", "<1@x>", 5, "appended", None,
                           None),
            MailboxMessage("INBOX", "INBOX", 11, 22, 2, 3, "sha2", "<2@x>", None, "intent",
                           None, None),
            MailboxMessage("INBOX", "INBOX", 11, 22, 3, 3, "sha3", "<3@x>", None, "skipped",
                           "refused: too big", None)]
        assert await reports.first_done_times() == {}
        jobs = JobStore(store, Vault(base64.b64decode(new_key())))
        await jobs.import_rows([MailboxRow(2, "O", ADDRESS, ADDRESS, Secret("p"), ADDRESS,
                                           Secret("q"))], src_master=False, dst_master=False)
        job = await jobs.claim_next("w1", None)
        assert job is not None
        await jobs.finish(job, JobState.DONE)
        done = await reports.first_done_times()
        assert list(done) == [ADDRESS] and datetime.fromisoformat(done[ADDRESS])


async def test_rotation_reencrypts_every_password(state_db: Path | str) -> None:
    old = Vault(base64.b64decode(new_key()))
    new = Vault(base64.b64decode(new_key()))
    async with await CheckpointStore.open(state_db) as store:
        await JobStore(store, old).import_rows(
            [MailboxRow(2, "O", ADDRESS, ADDRESS, Secret("src-pw"), ADDRESS, Secret("dst-pw"))],
            src_master=False, dst_master=False)
        assert await reencrypt_credentials(store, old, new) == 2
        jobs = JobStore(store, new)
        job = await jobs.job(ADDRESS)
        assert job is not None
        creds = await jobs.credentials(job)
        assert creds.src is not None and creds.dst is not None
        assert (creds.src.reveal(), creds.dst.reveal()) == ("src-pw", "dst-pw")
