"""A done mailbox with messages in the quarantine: "done with exceptions" in the report, in
`status --json` and in the run's exit code (issue 13, nothing refused is lost)."""

from __future__ import annotations

from collections import Counter
from datetime import date

from pecsync.cli.status import status_document
from pecsync.engine.pool import RunSummary
from pecsync.reports.certificate import build_certificate
from pecsync.reports.daily import build_report
from pecsync.store.jobs import Job, JobState
from pecsync.store.reporting import MailboxMessage


def job(address: str, skipped: int) -> Job:
    return Job(1, address, "O", address, address, JobState.DONE, None, 1,
               "quarantined" if skipped else None, None, None, 5, 5, 100, 100, skipped,
               "2026-12-01T00:00:00+00:00", None, None)


def test_report_lists_done_with_exceptions_as_needing_action() -> None:
    report = build_report([job("a@pec.it", 2), job("b@pec.it", 0)],
                          report_date=date(2026, 12, 1), lang="it")
    action = report.overall.needs_action
    assert [m.address for m in action] == ["a@pec.it"]
    assert "quarantena" in action[0].state_label and action[0].quarantined == 2
    assert "quarantena" in action[0].next_step


def test_status_json_and_exit_code() -> None:
    doc = status_document([job("a@pec.it", 2), job("b@pec.it", 0)])
    assert [m["quarantined"] for m in doc["mailboxes"]] == [2, 0]
    assert doc["done_with_exceptions"] == 1 and doc["orders"][0]["quarantined"] == 2
    assert RunSummary(Counter({"done": 2}), 2, 0, exceptions=1).exit_code == 1
    assert RunSummary(Counter({"done": 2}), 2, 0).exit_code == 0


def test_certificate_says_incomplete() -> None:
    rows = [MailboxMessage("INBOX", "INBOX", 1, 1, 1, 10, "aa", "<m1>", 5, "appended", None,
                           "t"),
            MailboxMessage("INBOX", "INBOX", 1, 1, 2, 12, "bb", "<m2>", None, "skipped",
                           "refused", None)]
    cert = build_certificate(address="a", src_user="a", dst_user="a", messages=rows,
                             started_at=None, finished_at=None)
    assert cert["complete"] is False and cert["incomplete"] == 1
    assert cert["status"].startswith("incomplete: 1")
