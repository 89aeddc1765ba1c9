"""Report contents for a fixture database with every state (no IMAP)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pecsync.config import Config, MigrationConfig, OrderInfo, ServerConfig
from pecsync.intake.mailbox_list import MailboxRow
from pecsync.model import Secret
from pecsync.reports.collect import load_report, save_snapshot
from pecsync.reports.notices import render_notice
from pecsync.reports.render import CSV_COLUMNS, index_html, order_html, to_csv, to_json
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobState, JobStore
from pecsync.vault import Vault, new_key

PASSWORDS = {s.value: f"pw-{i}-\"segreta à%\\" for i, s in enumerate(JobState)}


class Checker(HTMLParser):
    """Fails on unbalanced tags or anything loaded from outside the page."""

    VOID = frozenset({"meta", "br", "img", "input", "link", "hr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.external: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts += 1
        for name, value in attrs:
            if name in ("src", "href") and value and ("//" in value or value.startswith("data:")):
                self.external.append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


async def fixture_db(tmp_path: Path) -> tuple[CheckpointStore, Config]:
    cfg = Config(path=tmp_path / "c.toml", source=ServerConfig("a", 993),
                 destination=ServerConfig("b", 993), database=tmp_path / "state.sqlite3",
                 migration=MigrationConfig(deadline=date(2026, 12, 15)),
                 orders={"Ordine Avvocati": OrderInfo("Ordine Avvocati", "Ordine degli Avvocati",
                                                      ("segreteria@ordine.example",))})
    store = await CheckpointStore.open(cfg.database)
    try:
        await _fill(store)
    except BaseException:
        await store.close()  # an open store's thread would keep pytest from exiting
        raise
    return store, cfg


async def _fill(store: CheckpointStore) -> None:
    jobs = JobStore(store, Vault(__import__("base64").b64decode(new_key())))
    rows = [MailboxRow(i + 2, "Ordine Avvocati" if i % 2 else "Ordine Ingegneri",
                       f"{state}@pec.example.it", f"{state}@pec.example.it",
                       Secret(PASSWORDS[state]), f"{state}@pec.example.it",
                       Secret(PASSWORDS[state][::-1]))
            for i, state in enumerate(PASSWORDS)]
    await jobs.import_rows(rows, src_master=False, dst_master=False)
    for state in PASSWORDS:
        job = await jobs.job(f"{state}@pec.example.it")
        assert job is not None
        await jobs.finish(job, JobState(state), error_text=f"server said something ({state})")
        await store._transaction([("set_job_progress", {
            "id": job.id, "messages_copied": 10, "messages_total": 20, "bytes_copied": 1000,
            "bytes_total": 2000, "skipped": 0, "phase": None, "owner": None,
            "now": "2026-11-24T10:00:00+00:00", "lease_until": None})])


@pytest.mark.parametrize("lang", ["it", "en"])
async def test_report_with_every_state(tmp_path: Path, lang: str) -> None:
    store, cfg = await fixture_db(tmp_path)
    async with store:
        report = await load_report(store, cfg, report_date=date(2026, 11, 24), lang=lang)
        await save_snapshot(store, report)
    o = report.overall
    assert o.count == 10 and all(o.totals[s.value] == 1 for s in JobState)
    assert o.forecast.days_left == 21 and o.forecast.deadline == date(2026, 12, 15)
    assert {m.address.split("@")[0] for m in o.needs_action} == {
        "waiting_credentials", "blocked_invalid_credentials", "blocked_2fa",
        "blocked_credentials_changed", "blocked_destination_full", "failed"}
    twofa = next(m for m in o.mailboxes if m.state == "blocked_2fa")
    if lang == "it":
        assert "verifica in due passaggi" in twofa.reason
        assert "password per le app" in twofa.next_step
    else:
        assert "2-step verification" in twofa.reason and "app password" in twofa.next_step
    changed = next(m for m in o.mailboxes if m.state == "blocked_credentials_changed")
    assert ("riprende" if lang == "it" else "resumes") in changed.next_step
    assert [x.name for x in report.orders] == ["Ordine Avvocati", "Ordine Ingegneri"]
    assert report.orders[0].display_name == "Ordine degli Avvocati"

    outputs = [json.dumps(to_json(report), ensure_ascii=False), to_csv(o.mailboxes),
               index_html(report)] + [order_html(x, report) for x in report.orders]
    table = list(csv.reader(io.StringIO(outputs[1])))
    assert tuple(table[0]) == CSV_COLUMNS and len(table) == 11
    for page in outputs[2:]:
        checker = Checker()
        checker.feed(page)
        checker.close()
        assert checker.stack == [] and checker.scripts == 0 and checker.external == []
        assert "<svg" in page and "<polyline" in page
    for text in outputs:
        for pw in PASSWORDS.values():
            assert pw not in text and pw[::-1] not in text


async def test_changes_since_previous_report(tmp_path: Path) -> None:
    store, cfg = await fixture_db(tmp_path)
    async with store:
        # Completions are stamped with the real clock: the second report is dated today.
        today = datetime.now(UTC).date()
        first = await load_report(store, cfg, report_date=today - timedelta(days=1), lang="en")
        assert first.overall.changes.previous_date is None
        await save_snapshot(store, first)
        jobs = JobStore(store, None)
        pending = await jobs.job("pending@pec.example.it")
        assert pending is not None
        await jobs.finish(pending, JobState.DONE)
        await jobs.finish(pending, JobState.DONE)
        second = await load_report(store, cfg, report_date=today, lang="en")
    c = second.overall.changes
    assert c.previous_date == (today - timedelta(days=1)).isoformat()
    assert c.newly_done == ["pending@pec.example.it"] and c.new_mailboxes == []
    assert second.overall.history[-1][1] == 2  # done and pending@ are done today


def test_notices_only_for_members_who_must_act(tmp_path: Path) -> None:
    from pecsync.reports.daily import MailboxLine

    def line(state: str) -> MailboxLine:
        return MailboxLine("rossi@pec.example.it", "Ordine", state, state, None, "motivo.",
                           "Cosa fare.", None, 0, 0, 0, 0, 0, False, None, "")

    subject, body = render_notice(line("blocked_2fa"), deadline="15/12/2026",
                                  templates=None) or ("", "")
    assert "verifica in due passaggi" in subject and "15/12/2026" in body
    assert render_notice(line("done"), deadline="x", templates=None) is None
    custom = tmp_path / "notices"
    custom.mkdir()
    (custom / "blocked_2fa.txt").write_text("Oggetto su misura per $address\n\nCiao $order\n")
    subject, body = render_notice(line("blocked_2fa"), deadline="x", templates=custom) or ("", "")
    assert subject == "Oggetto su misura per rossi@pec.example.it" and body == "Ciao Ordine\n"
