"""The orders' dashboard's parts without a browser: the [admin] table, the store (accounts,
sessions, login limits, re-queue with its audit line) on SQLite and PostgreSQL, the numbers
and projection of an order, the state filter, the CSV and the chart."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from pathlib import Path

import pytest

from pecsync.config import load_config
from pecsync.errors import ConfigError, StoreConflict
from pecsync.model import MailboxRow
from pecsync.store.admin import AdminStore
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import Job, JobState, JobStore
from pecsync.web.admin.chart import burndown_svg, remaining_by_day
from pecsync.web.admin.csvexport import members_csv
from pecsync.web.admin.view import filtered, member_rows, summarize
from tests.helpers import raw_sql
from tests.unit.test_config import GOOD, write


def test_admin_table_defaults_and_errors(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.admin.session_hours == 8 and cfg.admin.rate_per_account == 5
    cfg = load_config(write(tmp_path, GOOD + "[admin]\nsession_hours = 1.5\n"))
    assert cfg.admin.session_hours == 1.5
    for bad, words in (("session_hours = 0", "[admin] session_hours"),
                       ("session_hours = \"8\"", "[admin] session_hours"),
                       ("rate_per_client = 0", "[admin] rate_per_client"),
                       ("sessions = 3", "[admin]")):
        with pytest.raises(ConfigError) as err:
            load_config(write(tmp_path, GOOD + f"[admin]\n{bad}\n"))
        assert words in str(err.value) and "pecsync.toml" in str(err.value), str(err.value)


async def test_accounts_sessions_limits_and_requeue(state_db: Path | str) -> None:
    async with await CheckpointStore.open(state_db) as store:
        admin = AdminStore(store)
        user = await admin.add_user("alfa", "order", ["Ordine Alfa"], "$argon2id$fake")
        assert user.may_see("Ordine Alfa") and not user.may_see("Ordine Beta")
        with pytest.raises(StoreConflict):
            await admin.add_user("alfa", "operator", [], "$argon2id$fake")
        await admin.open_session(user, "h1", timedelta(hours=1))
        await admin.open_session(user, "h0", timedelta(seconds=-1))  # already expired
        assert (await admin.session_user("h1")) is not None
        assert await admin.session_user("h0") is None
        await admin.close_session("h1")
        assert await admin.session_user("h1") is None
        # The limit holds under concurrent tries (SQLite: one statement; PostgreSQL: the
        # advisory lock of the override).
        window = timedelta(minutes=5)
        results = await asyncio.gather(*(admin.take_login_slot("account", "alfa", 3, window)
                                         for _ in range(8)))
        assert sum(r is None for r in results) == 3
        await admin.clear_login_slots("account", "alfa")
        assert await admin.take_login_slot("account", "alfa", 3, window) is None

        jobs = JobStore(store, None)
        await jobs.import_rows([MailboxRow(2, "Ordine Alfa", "a@x.it", "a@x.it", None,
                                           "a@x.it", None)], src_master=True, dst_master=True)
        job = await jobs.job("a@x.it")
        assert job is not None and job.state == JobState.PENDING
        # Pending: nothing to re-queue, and nothing is written to the log.
        assert not await admin.requeue(job.id, job.address, job.order, "alfa", "pending")
        assert await admin.actions() == []
        await raw_sql(store, "UPDATE job SET state = 'failed', error_text = 'x' WHERE id = :i",
                      {"i": job.id})
        assert await admin.requeue(job.id, job.address, job.order, "alfa", "failed")
        after = await jobs.job("a@x.it")
        assert after is not None and after.state == JobState.PENDING and not after.error_text
        [line] = await admin.actions("Ordine Alfa")
        assert (line.user, line.action, line.address) == ("alfa", "requeue", "a@x.it")
        assert await admin.actions("Ordine Beta") == []
        assert (await admin.action_counts())[("a@x.it", "requeue")].count == 1
        assert await admin.remove_user("alfa") and not await admin.remove_user("alfa")
        assert len(await admin.actions()) == 1  # the log outlives the account


def _job(i: int, address: str, state: JobState, copied: int = 0,
         started: str | None = None) -> Job:
    return Job(i, address, "O", address, address, state, None, 0, None, None, None, copied,
               copied, 0, 0, 0, "2026-03-10T10:00:00+00:00", started, None)


def test_summary_projection_and_filters(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD + "[migration]\ndeadline = 2026-03-31\n"))
    today = date(2026, 3, 10)
    jobs = [_job(1, "a@x.it", JobState.DONE, 5, "2026-03-01T09:00:00+00:00"),
            _job(2, "b@x.it", JobState.DONE, 7, "2026-03-01T09:00:00+00:00"),
            _job(3, "c@x.it", JobState.BLOCKED_2FA),
            _job(4, "d@x.it", JobState.WAITING_CREDENTIALS),
            _job(5, "e@x.it", JobState.RUNNING, 3, "2026-03-09T09:00:00+00:00")]
    done = {"a@x.it": "2026-03-02T10:00:00+00:00", "b@x.it": "2026-03-06T10:00:00+00:00"}
    s = summarize("O", jobs, cfg=cfg, done_times=done, last_events={3: "2026-03-10T11:00:00"},
                  today=today)
    assert (s.members, s.done, s.needing_action, s.not_responded, s.in_progress) == \
        (5, 2, 1, 1, 1)
    # 2 done in 10 days (0.2 a day): 3 left take 15 days → 25/03, before the deadline.
    assert s.projected == date(2026, 3, 25) and not s.late and "in tempo" in s.verdict
    assert s.last_activity == "2026-03-10T11:00:00"
    rows = member_rows(jobs, origins={}, last_events={}, actions={}, invitations={})
    assert [r.address for r in filtered(rows, "needs_action", "")] == ["c@x.it"]
    assert [r.address for r in filtered(rows, "not_responded", "")] == ["d@x.it"]
    assert [r.address for r in filtered(rows, "done", "B@")] == ["b@x.it"]
    assert [r.address for r in filtered(rows, "blocked_2fa", "")] == ["c@x.it"]
    assert rows[2].can_requeue and not rows[0].can_requeue
    text = members_csv(filtered(rows, "done", ""))
    assert text.startswith("\ufeffIndirizzo,Stato,") and text.count("\r\n") == 3
    assert "a@x.it" in text and "c@x.it" not in text


def test_csv_cells_never_start_a_formula() -> None:
    row = member_rows([_job(1, "=cmd@x.it", JobState.PENDING)], origins={}, last_events={},
                      actions={}, invitations={})
    assert "'=cmd@x.it" in members_csv(row)


def test_chart_is_plain_svg() -> None:
    start, today = date(2026, 3, 1), date(2026, 3, 10)
    done = [date(2026, 3, 2), date(2026, 3, 6)]
    assert remaining_by_day(5, done, start, date(2026, 3, 3)) == [
        (date(2026, 3, 1), 5), (date(2026, 3, 2), 4), (date(2026, 3, 3), 4)]
    svg = burndown_svg(members=5, done_days=done, start=start, today=today,
                       deadline=date(2026, 3, 31), projected=date(2026, 3, 25),
                       title="Ordine <Alfa>")
    root = ET.fromstring(svg)  # well-formed, the title escaped
    tags = {el.tag.split("}")[1] for el in root.iter()}
    assert tags <= {"svg", "title", "rect", "line", "text", "polyline", "circle"}
    assert "style" not in svg and "script" not in svg and "href" not in svg
    assert "scadenza 31/03" in svg and "Ordine &lt;Alfa&gt;" in svg
    # No deadline, nothing done yet: still a chart.
    ET.fromstring(burndown_svg(members=0, done_days=[], start=None, today=today,
                               deadline=None, projected=None, title="x"))


def test_invitations_and_reminders_from_the_campaign_and_the_dashboard() -> None:
    from pecsync.store.admin import ActionCount
    from pecsync.store.campaign import SendRecord
    from pecsync.web.admin.invitations import invitation_stats

    def send(address: str, wave: str, sent: bool, opened: bool) -> SendRecord:
        at = "2026-03-01T10:00:00+00:00"
        return SendRecord(address, wave, "O", "sent" if sent else "queued", 1, address,
                          "waiting_credentials", None, at, at if sent else None,
                          at if opened else None, None, "waiting_credentials")

    stats = invitation_stats(
        [send("a@x.it", "invite", True, True), send("a@x.it", "-7d", True, False),
         send("a@x.it", "-3d", True, True), send("b@x.it", "invite", False, False)],
        {("a@x.it", "invite"): ActionCount(2, "2026-03-02T10:00:00+00:00"),
         ("c@x.it", "check"): ActionCount(1, "2026-03-02T10:00:00+00:00")})
    a = stats["a@x.it"]
    assert (a.invitations_sent, a.invitations_opened, a.reminders_sent,
            a.reminders_opened) == (3, 1, 2, 1)
    assert "b@x.it" not in stats and "c@x.it" not in stats  # queued only; a check
    rows = member_rows([_job(1, "a@x.it", JobState.WAITING_CREDENTIALS)], origins={},
                       last_events={}, actions={}, invitations=stats)
    assert rows[0].invitations == "3 inviati, 1 aperto"
    assert rows[0].reminders == "2 inviati, 1 aperto"
