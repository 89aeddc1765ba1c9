"""The campaign's pure parts: [campaign] configuration, the wave schedule, the messages, the
tracking and its chart; and the outbox's claim on a real SQLite store."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from pecsync.campaign.audience import members_to_reach
from pecsync.campaign.compose import Letter, compose, reminder_step, to_email
from pecsync.campaign.waves import current, schedule
from pecsync.config import load_config
from pecsync.config.member_provider import BUILT_IN
from pecsync.errors import ConfigError
from pecsync.reports.campaign import section_html, summarize, to_json
from pecsync.state_wording import WORDING
from pecsync.store.campaign import CampaignStore, SendRecord
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import Job, JobState
from tests.unit.test_config import GOOD, write


def test_reminders_default_and_configured(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert [n for n, _ in cfg.campaign.reminders] == ["-21d", "-14d", "-7d", "-3d", "-1d"]
    assert not cfg.campaign.configured
    cfg = load_config(write(tmp_path, GOOD + '[campaign]\nreminders = ["-1d", "-12h", "-10d"]\n'
                                              "interval_seconds = 60\n"))
    assert cfg.campaign.configured and cfg.campaign.interval_seconds == 60
    assert cfg.campaign.reminders == (("-10d", timedelta(days=-10)), ("-1d", timedelta(days=-1)),
                                      ("-12h", timedelta(hours=-12)))


@pytest.mark.parametrize(("table", "message"), [
    ('reminders = ["-7x"]', "[campaign] reminders: expected an offset"),
    ('reminders = ["7d"]', "[campaign] reminders: a reminder after the deadline"),
    ('reminders = ["-7d", "-7d"]', "[campaign] reminders: '-7d' is listed twice"),
    ("reminders = [7]", "[campaign] reminders: expected a list of strings"),
    ("interval_seconds = 0", "[campaign] interval_seconds: must be greater than 0"),
    ("every = 3", "[campaign] every: unknown key"),
])
def test_campaign_errors_name_file_table_and_key(tmp_path: Path, table: str,
                                                 message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD + "[campaign]\n" + table + "\n"))
    assert "pecsync.toml: " + message in str(err.value)


def test_only_the_current_wave_is_due() -> None:
    waves = schedule(date(2027, 3, 31), [("-7d", timedelta(days=-7)),
                                         ("-1d", timedelta(days=-1))])
    at = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    assert current(waves, at(2027, 3, 23, 23)) is None
    assert current(waves, at(2027, 3, 24, 0)).name == "-7d"  # type: ignore[union-attr]
    # A process that was not running when -7d fell due sends only -1d, not a burst.
    assert current(waves, at(2027, 3, 30, 9)).name == "-1d"  # type: ignore[union-attr]
    assert current(waves, at(2027, 3, 31, 23)).name == "-1d"  # type: ignore[union-attr]
    assert current(waves, at(2027, 4, 1, 0)) is None  # the deadline's day has ended


def _letter(wave: str, state: str) -> Letter:
    return Letter(address="rossi@pec.ordine.it", wave=wave, state=state,
                  link="https://m.example/i/TOKEN", order_name="Ordine di Prova",
                  deadline=date(2027, 3, 31), today=date(2027, 3, 24),
                  provider=BUILT_IN["aruba"], contacts=("segreteria@ordine.it",),
                  switch_at=datetime(2027, 4, 1, 4, tzinfo=UTC))


STEPS = {s: step for s in WORDING if (step := reminder_step(s)) is not None}


@pytest.mark.parametrize("state", sorted(STEPS))
def test_each_reminder_tells_the_members_own_next_step(state: str) -> None:
    msg = compose(_letter("-7d", state))
    it, en = STEPS[state]
    assert it in msg.text and en in msg.text
    # Italian first, in the subject and the body.
    assert msg.subject.index("Promemoria") < msg.subject.index("Reminder")
    assert msg.text.index(it) < msg.text.index(en)
    assert "mancano 7 giorni" in msg.text and "7 days left" in msg.text
    assert "01/04/2027 alle 06:00" in msg.text  # the switch-over, Italian time
    # Every other state's step is absent: the member is told one thing to do.
    for other, (o_it, _) in STEPS.items():
        assert (o_it in msg.text) == (other == state)


def test_html_is_self_contained_and_escaped() -> None:
    letter = _letter("invite", "waiting_credentials")
    msg = compose(Letter(**{**letter.__dict__, "order_name": "Ordine <b>&</b>"}))
    assert "<b>&</b>" not in msg.html and "Ordine &lt;b&gt;&amp;&lt;/b&gt;" in msg.html
    assert not re.search(r"<(script|img|link)\b", msg.html)
    assert re.findall(r'href="([^"]+)"', msg.html) == ["https://m.example/i/TOKEN"] * 2
    raw = to_email(msg, sender="m@o.it", recipient="rossi@pec.ordine.it", wave="invite")
    assert b"X-Pecsync-Campaign: invite" in raw and b"\r\n" in raw


def _job(i: int, address: str, state: JobState, order: str = "A") -> Job:
    return Job(i, address, order, address, address, state, None, 0, None, None, None, 0, 0, 0,
               0, 0, "2027-03-01T00:00:00+00:00", None, None)


def test_audience_never_done_or_being_copied() -> None:
    jobs = [_job(i, f"m{i}@p.it", s) for i, s in enumerate(JobState)]
    reached = {m.state for m in members_to_reach(jobs, {"m0@p.it": "private@x.it"})}
    assert reached == {JobState.WAITING_CREDENTIALS, JobState.BLOCKED_INVALID_CREDENTIALS,
                       JobState.BLOCKED_2FA, JobState.BLOCKED_CREDENTIALS_CHANGED}
    assert members_to_reach(jobs, {"m0@p.it": "private@x.it"})[0].recipient == "private@x.it"


def test_tracking_per_order_and_wave_and_the_chart() -> None:
    jobs = [_job(1, "a@p.it", JobState.DONE), _job(2, "b@p.it", JobState.BLOCKED_2FA),
            _job(3, "c@p.it", JobState.WAITING_CREDENTIALS, "B")]

    def send(address: str, wave: str, state: str, order: str = "A", opened: bool = False,
             current: str | None = None) -> SendRecord:
        return SendRecord(address, wave, order, state, 1, address, None,
                          "550 5.1.1 unknown" if state == "failed" else "250 ok",
                          "2027-03-01T08:00:00+00:00",
                          "2027-03-01T08:00:05+00:00" if state == "sent" else None,
                          "2027-03-02T09:00:00+00:00" if opened else None,
                          "2027-03-02T09:01:00+00:00" if opened else None, current)

    sends = [send("a@p.it", "invite", "sent", opened=True, current="done"),
             send("b@p.it", "invite", "sent", current="blocked_2fa"),
             send("c@p.it", "invite", "failed", "B"),
             send("b@p.it", "-21d", "queued")]
    c = summarize(jobs, sends, deadline=date(2027, 3, 31),
                  reminders=[("-21d", timedelta(days=-21))], today=date(2027, 3, 11),
                  done_times={"a@p.it": "2027-03-03T10:00:00+00:00"})
    doc = to_json(c)
    assert doc["needs_to_act"] == 2 and doc["days_left"] == 20 and doc["done"] == 1
    a = next(o for o in doc["orders"] if o["order"] == "A")
    invite = next(w for w in a["waves"] if w["wave"] == "invite")
    assert (invite["sent"], invite["opened"], invite["submitted"], invite["done"]) == (2, 1, 1, 1)
    assert next(w for w in a["waves"] if w["wave"] == "-21d")["queued"] == 1
    assert doc["failed"][0]["answer"] == "550 5.1.1 unknown"
    assert doc["done_per_day"][0] == {"date": "2027-03-01", "done": 0}
    assert doc["done_per_day"][-1] == {"date": "2027-03-11", "done": 1}
    page = section_html(c, "A", "it")
    assert "<svg" in page and "scadenza 31/03" in page and "http" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "iscritti devono ancora agire" in page
    assert "550 5.1.1" not in page  # order B's refusal is on order B's page
    assert "550 5.1.1" in section_html(c, "B", "en")


def test_a_claimed_row_is_not_claimed_again_and_writes_are_leased(tmp_path: Path) -> None:
    async def go() -> None:
        async with await CheckpointStore.open(tmp_path / "s.sqlite3") as store:
            c = CampaignStore(store)
            await c.enqueue("invite", [("A@p.it", "O", "waiting_credentials"),
                                       ("b@p.it", "O", "blocked_2fa")])
            await c.enqueue("invite", [("a@p.it", "O", "waiting_credentials")])  # no-op
            first = await c.claim("one")
            second = await c.claim("two")
            assert first and second and first.address == "a@p.it" != second.address
            assert await c.claim("three") is None  # both leased
            # A sender that does not hold the row's lease writes nothing.
            assert not await c.finish(replace(first, owner="two"), "sent")
            assert await c.finish(first, "queued", answer="451 later")
            again = await c.claim("three", after=0)
            assert again is not None and again.id == first.id and again.attempts == 2
            assert await c.claim("four", after=again.id) is None
            assert [s.state for s in await c.sends()] == ["queued", "queued"]
    asyncio.run(go())


def test_list_contact_column_is_optional_and_checked(tmp_path: Path) -> None:
    from pecsync.intake.mailbox_list import parse_mailbox_list

    csv = tmp_path / "l.csv"
    csv.write_text("order,address,contact\nO,a@pec.it,Mario@Example.it\nO,b@pec.it,\n"
                   "O,c@pec.it,not-an-address\n", "utf-8")
    parsed = parse_mailbox_list(csv)
    assert [(r.address, r.contact) for r in parsed.rows] == [("a@pec.it", "mario@example.it"),
                                                             ("b@pec.it", None)]
    assert [str(e) for e in parsed.errors] == [
        f"{csv}:4: column contact: not-an-address is not an e-mail address"]
    csv.write_text("order,address\nO,a@pec.it\n", "utf-8")
    assert "contact" not in parse_mailbox_list(csv).columns
