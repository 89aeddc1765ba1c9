"""Pure rules of the re-sync: the per-flag three-way merge, the schedule, the settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pecsync.cli.status import status_document
from pecsync.config import load_config, parse_duration
from pecsync.engine.schedule import final_sync_done, iso, resync_cutoff
from pecsync.errors import ConfigError
from pecsync.store.jobs import Job, JobState
from pecsync.store.syncstate import JobSync
from pecsync.sync.resync import merge_flags, recorded_after

ANY = frozenset({"\\Seen", "\\Flagged", "\\Answered", "\\Deleted", "\\Draft", "\\*"})


@pytest.mark.parametrize(("base", "src", "dst", "add", "remove", "member"), [
    # nothing changed anywhere
    (["\\Seen"], ["\\Seen"], ["\\Seen"], set(), set(), False),
    # the source read it: carried
    ([], ["\\Seen"], [], {"\\Seen"}, set(), False),
    # the source un-read it: carried
    (["\\Seen"], [], ["\\Seen"], set(), {"\\Seen"}, False),
    # the member flagged it, the source read it: both
    ([], ["\\Seen"], ["\\Flagged"], {"\\Seen"}, set(), True),
    # the member un-read it, the source did nothing: the member wins
    (["\\Seen"], ["\\Seen"], [], set(), set(), True),
    # both read it: nothing to store
    ([], ["\\Seen"], ["\\Seen"], set(), set(), False),
    # keywords like system flags
    ([], ["$Pratica"], [], {"$Pratica"}, set(), False),
    # \Deleted and \Recent are never carried
    ([], ["\\Deleted", "\\Recent"], [], set(), set(), False),
    # case of system flags does not matter
    (["\\SEEN"], ["\\seen", "\\Answered"], ["\\Seen"], {"\\Answered"}, set(), False),
])
def test_per_flag_three_way(base: list[str], src: list[str], dst: list[str], add: set[str],
                            remove: set[str], member: bool) -> None:
    assert merge_flags(base, src, dst, ANY) == (add, remove, member)


def test_flags_the_destination_does_not_keep_are_left_out() -> None:
    # PERMANENTFLAGS without \* : keywords are dropped, like APPEND drops them.
    assert merge_flags([], ["$Pratica", "\\Seen"], [], frozenset({"\\Seen"})) == (
        {"\\Seen"}, set(), False)


def test_recorded_after_keeps_the_recorded_deleted_flag() -> None:
    assert recorded_after(["\\Deleted"], ["\\Seen", "\\Recent"]) == ("\\Deleted", "\\Seen")
    assert recorded_after([], ["\\Seen", "\\Deleted"]) == ("\\Seen",)


T = datetime(2027, 3, 31, 12, tzinfo=UTC)


def test_schedule() -> None:
    six = timedelta(hours=6)
    assert resync_cutoff(T, every=None, switch_at=None, follow=True) is None
    assert resync_cutoff(T, every=six, switch_at=None, follow=False) is None
    assert resync_cutoff(T, every=six, switch_at=None, follow=True) == T - six
    # before the switch: every 6 h; after: the switch time itself (one final sync each)
    assert resync_cutoff(T, every=six, switch_at=T + six, follow=True) == T - six
    assert resync_cutoff(T, every=six, switch_at=T - six, follow=True) == T - six
    assert resync_cutoff(T, every=None, switch_at=T - six, follow=True) == T - six
    assert resync_cutoff(T, every=timedelta(hours=1), switch_at=T - six, follow=True) == T - six
    # --resync: everything synced before the run started
    assert resync_cutoff(T, every=six, switch_at=None, follow=False, once_before=T) == T
    assert final_sync_done(iso(T), T) and not final_sync_done(iso(T - six), T)
    assert not final_sync_done(None, T) and not final_sync_done(iso(T), None)
    assert iso(T) < iso(T + timedelta(microseconds=1))


def test_durations() -> None:
    assert parse_duration("6h") == timedelta(hours=6)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "6", "h", "0s", "6 hours"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def _config(tmp_path: Path, migration: str) -> Path:
    path = tmp_path / "c.toml"
    path.write_text('[source]\nhost = "a"\n[destination]\nhost = "b"\n[state]\n'
                    f'database = "s.sqlite3"\n[migration]\n{migration}\n')
    return path


def test_migration_settings(tmp_path: Path) -> None:
    cfg = load_config(_config(tmp_path, 'resync_every = "6h"\n'
                                        'switch_at = 2027-03-31T06:00:00+01:00'))
    assert cfg.resync_every == timedelta(hours=6)
    assert cfg.switch_at == datetime(2027, 3, 31, 5, tzinfo=UTC)
    local = load_config(_config(tmp_path, "switch_at = 2027-03-31T06:00:00"))
    assert local.switch_at is not None and local.switch_at.tzinfo is not None
    with pytest.raises(ConfigError, match="resync_every"):
        load_config(_config(tmp_path, 'resync_every = "often"'))
    with pytest.raises(ConfigError, match="switch_at"):
        load_config(_config(tmp_path, "switch_at = 2027-03-31"))


def _job(address: str, order: str) -> Job:
    return Job(1, address, order, address, address, JobState.DONE, None, 1, None, None, None,
               1, 1, 1, 1, 0, "2027-01-01T00:00:00+00:00", None, None)


def test_status_json_keys() -> None:
    jobs = [_job("a@x.it", "A"), _job("b@x.it", "A"), _job("c@x.it", "B")]
    syncs = {"a@x.it": JobSync("a@x.it", iso(T), 2), "b@x.it": JobSync("b@x.it", iso(T), 0)}
    switch = datetime(2027, 3, 31, 13, tzinfo=timezone(timedelta(hours=1)))  # = T
    doc = status_document(jobs, syncs=syncs, switch_at=switch)
    by = {m["address"]: m for m in doc["mailboxes"]}
    assert by["a@x.it"]["last_synced_at"] == iso(T) and by["a@x.it"]["final_sync_done"]
    assert by["a@x.it"]["deleted_at_source"] == 2
    assert by["c@x.it"]["last_synced_at"] is None and not by["c@x.it"]["final_sync_done"]
    assert {o["order"]: o["missing_final_sync"] for o in doc["orders"]} == {"A": 0, "B": 1}
    plain = status_document(jobs)
    assert plain["orders"][0]["missing_final_sync"] is None
    assert plain["mailboxes"][0]["final_sync_done"] is False


def test_daily_report_final_sync() -> None:
    from datetime import date

    from pecsync.reports.daily import build_report
    from pecsync.reports.render import order_html, to_json

    jobs = [_job("a@x.it", "A"), _job("b@x.it", "A")]
    report = build_report(jobs, report_date=date(2027, 4, 1), lang="en",
                          synced={"a@x.it": iso(T), "b@x.it": iso(T - timedelta(days=1))},
                          switch_at=T)
    doc = to_json(report)
    assert doc["orders"][0]["missing_final_sync"] == 1
    assert [m["final_sync_done"] for m in doc["mailboxes"]] == [True, False]
    assert doc["mailboxes"][0]["last_synced_at"] == iso(T)
    html = order_html(report.orders[0], report)
    assert "1/2" in html and "2027-03-31 12:00 UTC (final)" in html
    assert to_json(build_report(jobs, report_date=date(2027, 4, 1)))["orders"][0][
        "missing_final_sync"] is None
