"""The campaign outbox, the dashboard's store and the learned connection limits read their rows
by column name (pecsync.store.rows.RowMapper, ``row["name"]``), on SQLite and PostgreSQL:
every field of what they return holds the column it is named after."""

from __future__ import annotations

from pathlib import Path

from pecsync.model import MailboxRow
from pecsync.store.admin import ActionCount, AdminStore
from pecsync.store.campaign import CampaignStore, Claimed
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobStore
from pecsync.store.limits import ServerLimitStore
from pecsync.store.links import LinkStore, token_hash


async def test_campaign_rows_by_name(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        await JobStore(store, None).import_rows(
            [MailboxRow(2, "Ordine Alfa", "a@p.it", "a@p.it", None, "a@p.it", None)],
            src_master=True, dst_master=True)
        campaign = CampaignStore(store)
        await campaign.set_contacts([("A@p.it", "mario@example.it"), ("b@p.it", None)])
        assert await campaign.contacts() == {"a@p.it": "mario@example.it"}

        await campaign.enqueue("invite", [("a@p.it", "Ordine Alfa", "waiting_credentials")])
        claimed = await campaign.claim("sender-1")
        assert claimed is not None
        assert claimed == Claimed(claimed.id, "a@p.it", "invite", "Ordine Alfa", 1, "sender-1")
        token = await LinkStore(store).issue("a@p.it", "Ordine Alfa")
        assert await campaign.finish(claimed, "sent", recipient="mario@example.it",
                                     answer="250 2.0.0 Ok: queued", token_hash=token_hash(token),
                                     job_state="waiting_credentials")
        await LinkStore(store).mark_opened(token)

        [send] = await campaign.sends()
        assert (send.address, send.wave, send.order, send.state, send.attempts) == \
            ("a@p.it", "invite", "Ordine Alfa", "sent", 1)
        assert (send.recipient, send.job_state, send.answer) == \
            ("mario@example.it", "waiting_credentials", "250 2.0.0 Ok: queued")
        assert send.queued_at and send.sent_at and send.opened_at
        assert send.submitted_at is None
        # The job's own state now (a column of the same name as the row's state, aliased).
        assert send.current_state == "pending" != send.state
        assert await campaign.sends("Ordine Beta") == []


async def test_dashboard_and_limit_rows_by_name(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        jobs = JobStore(store, None)
        await jobs.import_rows(
            [MailboxRow(2, "Ordine Alfa", "a@p.it", "a@p.it", None, "a@p.it", None)],
            src_master=True, dst_master=True)
        job = await jobs.job("a@p.it")
        assert job is not None
        admin = AdminStore(store)
        added = await admin.add_user("alfa", "order", ["Ordine Alfa", "Ordine Beta"], "$h")
        assert (added.name, added.role, added.orders, added.password_hash) == \
            ("alfa", "order", ("Ordine Alfa", "Ordine Beta"), "$h")
        assert added.created_at and added.last_login_at is None
        await admin.add_user("root", "operator", [], "$r")
        assert [(u.name, u.role, u.orders) for u in await admin.users()] == \
            [("alfa", "order", ("Ordine Alfa", "Ordine Beta")), ("root", "operator", ())]

        await admin.record("alfa", "invite", "a@p.it", "Ordine Alfa", "wave invite")
        await admin.record("alfa", "invite", "a@p.it", "Ordine Alfa")
        await admin.record("root", "check", "a@p.it", None)
        latest = await admin.actions()
        assert [(a.user, a.action, a.address, a.order, a.detail) for a in latest] == [
            ("root", "check", "a@p.it", None, None),
            ("alfa", "invite", "a@p.it", "Ordine Alfa", None),
            ("alfa", "invite", "a@p.it", "Ordine Alfa", "wave invite")]
        counts = await admin.action_counts()
        assert counts == {("a@p.it", "invite"): ActionCount(2, latest[1].at),
                          ("a@p.it", "check"): ActionCount(1, latest[0].at)}
        assert await admin.order_names() == ["Ordine Alfa"]
        events = await admin.last_events()  # the import's event
        assert list(events) == [job.id] and events[job.id].startswith("20")

        limits = ServerLimitStore(store)
        await limits.learn("imap.example.it:993", 2)
        assert await limits.learned() == {"imap.example.it:993": 2}
