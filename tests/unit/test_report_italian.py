"""The Italian report reads as Italian (issue 14, item 7): detail in Italian, local time,
Italian numbers, a legend for the bar, a projection that leaves blocked mailboxes out,
totals that say how many mailboxes have no data, an Excel-it CSV, and notices in one
register that say where to give the password."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from pathlib import Path

import pytest

from pecsync.reports.daily import build_report
from pecsync.reports.notices import render_notice
from pecsync.reports.render import _mb, _num, order_html, to_csv
from pecsync.state_wording import WORDING
from pecsync.store.jobs import Job, JobState

TODAY = date(2026, 11, 24)


def job(n: int, state: JobState, copied: int = 0, error_class: str | None = None,
        error_text: str | None = None) -> Job:
    return Job(id=n, address=f"m{n}@pec.ordine.it", order="Ordine A", src_user=f"m{n}",
               dst_user=f"m{n}", state=state, phase=None, attempts=1, error_class=error_class,
               error_text=error_text, next_attempt_at=None, messages_copied=copied,
               messages_total=copied, bytes_copied=copied * 100_000,
               bytes_total=copied * 100_000, skipped=0, updated_at="",
               started_at="2026-11-24T08:00:00+00:00", finished_at=None)


def jobs() -> list[Job]:
    refused = ("mailbox m3@pec.ordine.it: source login refused for m3@pec.ordine.it: "
               "[AUTHENTICATIONFAILED] Authentication failed. — check the user name")
    return [job(1, JobState.DONE, 1470), job(2, JobState.DONE, 1470),
            job(3, JobState.BLOCKED_INVALID_CREDENTIALS, 0, "auth_failed", refused),
            job(4, JobState.WAITING_CREDENTIALS, 0, "no_credentials",
                "mailbox m4@pec.ordine.it: no source password yet"),
            job(5, JobState.BLOCKED_2FA), job(6, JobState.PENDING)]


def test_italian_numbers() -> None:
    assert _num(2940, "it") == "2.940" and _num(2940, "en") == "2,940"
    assert _mb(159_200_000, "it") == "159,2 MB" and _mb(1_159_200_000, "it") == "1.159,2 MB"
    assert _mb(1_159_200_000, "en") == "1,159.2 MB"


def test_italian_page() -> None:
    from datetime import datetime

    report = build_report(jobs(), report_date=TODAY, lang="it", deadline=date(2026, 12, 31),
                          done_times={"m1@pec.ordine.it": "2026-11-24T09:00:00+00:00",
                                      "m2@pec.ordine.it": "2026-11-24T10:00:00+00:00"},
                          started=datetime.fromisoformat("2026-11-24T08:00:00+00:00"),
                          generated_at="2026-11-24T05:00:00+00:00")
    o = report.overall
    html = order_html(o, report)
    # Generated time in Italian local time (CET in November: UTC+1), dates as dd/mm/yyyy.
    assert "24/11/2026 06:00 (ora italiana)" in html
    assert "2026-11-24T05:00:00" not in html and "31/12/2026" in html
    # Numbers Italian style, consistently.
    assert "2.940/2.940" in html and "294,0 MB" in html and "294.0 MB" not in html
    # The totals say that 4 mailboxes have no data (2.940/2.940 is not the whole order).
    assert o.without_data == 4 and "4 caselle senza dati" in html
    # A legend for the bar's colours.
    for label in ("completate e verificate", "in attesa della password",
                  "bloccate o non riuscite"):
        assert label in html
    # The projection counts the 1 runnable mailbox (2 done per day: tomorrow), not the 3
    # blocked or waiting ones.
    assert o.forecast.excluded == 3
    assert o.forecast.projected == date(2026, 11, 25)
    assert "25/11/2026" in html and "3 escluse dalla stima" in html
    # The detail column in Italian, with the server's own answer.
    details = {m.address: m.detail for m in o.mailboxes}
    assert details["m3@pec.ordine.it"] == (
        "Il vecchio gestore ha rifiutato l'accesso con la password indicata. Risposta del "
        "server: «[AUTHENTICATIONFAILED] Authentication failed.»")
    assert details["m4@pec.ordine.it"] == "Manca la password della vecchia casella."
    english = build_report(jobs(), report_date=TODAY, lang="en")
    assert "source login refused" in (english.overall.mailboxes[2].detail or "")


def test_csv_for_italian_excel() -> None:
    report = build_report(jobs(), report_date=TODAY, lang="it")
    text = to_csv(report.overall.mailboxes, "excel-it")
    assert text.startswith("\ufefforder;address;state;")
    assert "\r\n" in text
    rows = list(csv.reader(io.StringIO(text[1:]), delimiter=";"))
    assert len(rows) == 7 and rows[1][1] == "m1@pec.ordine.it"
    assert not to_csv(report.overall.mailboxes).startswith("\ufeff")


@pytest.mark.parametrize("state", sorted(s for s, w in WORDING.items() if w["it"].notice))
def test_notices_one_register_and_where_to_give_the_password(state: str) -> None:
    report = build_report([*jobs(), job(7, JobState.BLOCKED_CREDENTIALS_CHANGED)],
                          report_date=TODAY, lang="it")
    line = next(m for m in report.overall.mailboxes if m.state == state)
    _subject, body = render_notice(line, deadline="31/12/2026", templates=None,
                                   intake_url="https://pec.ordine.it/o/a") or ("", "")
    assert body.startswith("Gentile iscritto/a,\n\n")
    assert "https://pec.ordine.it/o/a" in body and "Sua casella" in body
    # Not the report's third person ("L'iscritto invii ...") nor a familiar "tu".
    assert not re.search(r"L'iscritto|\btuo\b|\btua\b|\binvia\b", body), body
    assert "non inviare la password per posta elettronica" in body
    _, by_contact = render_notice(line, deadline="31/12/2026", templates=None,
                                  contacts=["segreteria@ordine.it"]) or ("", "")
    assert "contatti la segreteria dell’Ordine: segreteria@ordine.it" in by_contact


def test_intake_page_per_order(tmp_path: Path) -> None:
    from pecsync.cli.reporting import intake_page
    from pecsync.config import load_config

    base = ('[source]\nhost = "a"\n[destination]\nhost = "b"\n[state]\ndatabase = "s"\n'
            '[orders."Ordine A"]\nslug = "ordine-a"\n[orders."Ordine B"]\ncontacts = ["x@y.it"]\n')
    p = tmp_path / "c.toml"
    p.write_text(base, "utf-8")
    assert intake_page(load_config(p), "Ordine A") is None  # no public page: contact the order
    p.write_text(base + '[intake]\npublic_url = "https://pec.example.it/"\n', "utf-8")
    cfg = load_config(p)
    assert intake_page(cfg, "Ordine A") == "https://pec.example.it/o/ordine-a"
    assert intake_page(cfg, "Ordine B") == "https://pec.example.it/"
