"""Invitations and reminder waves end to end: the real `pecsync` command, a real SMTP server
on loopback (aiosmtpd), the state database on SQLite and PostgreSQL, and (for the link) a real
headless Chromium against `pecsync serve`."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from lab.dovecot import free_port
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.jobs import JobState, JobStore
from pecsync.store.links import LinkStore
from tests.helpers import ROOT, TEST_KEY, cli_env, run_cli, write_config

PUBLIC = "https://migrazione.ordine.test/"
LINK = re.compile(r"https://migrazione\.ordine\.test/i/([A-Za-z0-9_-]{30,})")


class Smtp:
    """aiosmtpd on loopback that keeps every message; *answers* scripts the reply to a
    recipient's message, one answer per attempt (then 250)."""

    def __init__(self, answers: dict[str, list[str]] | None = None, delay: float = 0.0) -> None:
        self.port = free_port()
        self.messages: list[tuple[str, EmailMessage]] = []
        self.answers = {k: list(v) for k, v in (answers or {}).items()}
        self.delay = delay
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        rcpt = envelope.rcpt_tos[0]
        scripted = self.answers.get(rcpt)
        if scripted:
            return scripted.pop(0)
        if self.delay:
            await asyncio.sleep(self.delay)
        msg = message_from_bytes(envelope.content, policy=default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((rcpt, msg))
        return f"250 2.0.0 Ok: queued as T{len(self.messages)}"

    def __enter__(self) -> Smtp:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def by_wave(self) -> Counter[tuple[str, str]]:
        return Counter((rcpt, str(m["X-Pecsync-Campaign"])) for rcpt, m in self.messages)


def campaign_config(tmp_path: Path, smtp_port: int, *, database: str = "state.sqlite3",
                    deadline: date | None = None, reminders: str = "",
                    src: Any = None, dst: Any = None) -> Path:
    deadline = deadline or (datetime.now(UTC).date() + timedelta(days=20))
    extra = (f"[migration]\ndeadline = {deadline.isoformat()}\n\n"
             '[orders."Ordine Test"]\ndisplay_name = "Ordine di Prova"\n'
             'contacts = ["segreteria@ordine.test"]\n\n'
             f'[intake]\npublic_url = "{PUBLIC}"\ncontact = "06 1234567"\n\n'
             f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "plain"\n'
             'from_address = "migrazione@ordine.test"\ntimeout = 10\n\n' + reminders)
    if src is not None:
        return write_config(tmp_path, src, dst, master=False, database=database, extra=extra)
    text = ("[source]\nhost = \"127.0.0.1\"\nport = 1\nsecurity = \"plain\"\n\n"
            "[destination]\nhost = \"127.0.0.1\"\nport = 2\nsecurity = \"plain\"\n\n"
            f"[state]\ndatabase = \"{database}\"\n\n" + extra)
    path = tmp_path / "pecsync.toml"
    path.write_text(text, "utf-8")
    return path


def env_for() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PECSYNC_KEY"] = TEST_KEY
    env.pop("PECSYNC_SMTP_PASSWORD", None)
    return env


def import_list(cfg: Path, tmp_path: Path, rows: list[str], env: dict[str, str],
                header: str = "order,address") -> None:
    csv = tmp_path / "list.csv"
    csv.write_text(header + "\n" + "\n".join(rows) + "\n", "utf-8")
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stdout + r.stderr


def set_state(target: Path | str, address: str, state: JobState) -> None:
    """Give a member's job *state* through the store's own claim and finish."""
    async def go() -> None:
        async with await CheckpointStore.open(target) as store:
            jobs = JobStore(store, None)
            job = await jobs.job(address)
            assert job is not None
            claimed = await jobs.claim(job, "test")
            assert claimed is not None
            assert await jobs.finish(claimed, state)
    asyncio.run(go())


def resolve(target: Path | str, token: str) -> str | None:
    async def go() -> str | None:
        async with await CheckpointStore.open(target) as store:
            link = await LinkStore(store).resolve(token)
            return link.address if link else None
    return asyncio.run(go())


def mark_link(target: Path | str, token: str) -> None:
    async def go() -> None:
        async with await CheckpointStore.open(target) as store:
            await LinkStore(store).mark_opened(token)
            await LinkStore(store).mark_submitted(token)
    asyncio.run(go())


def status_campaign(cfg: Path, env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)["campaign"]
    return doc


def wave_row(doc: dict[str, Any], wave: str, order: str | None = None) -> dict[str, Any]:
    waves = doc["waves"] if order is None else next(
        o for o in doc["orders"] if o["order"] == order)["waves"]
    row: dict[str, Any] = next(w for w in waves if w["wave"] == wave)
    return row


def test_invite_sends_one_personal_link_per_member(tmp_path: Path) -> None:
    env = env_for()
    with Smtp() as smtp:
        cfg = campaign_config(tmp_path, smtp.port)
        import_list(cfg, tmp_path, [
            "Ordine Test,rossi@pec.test.it,",
            "Ordine Test,bianchi@pec.test.it,mario.bianchi@posta.test",
            "Ordine Test,verdi@pec.test.it,",
            "Ordine Test,neri@pec.test.it,"], env, header="order,address,contact")
        db = tmp_path / "state.sqlite3"
        set_state(db, "verdi@pec.test.it", JobState.DONE)
        set_state(db, "neri@pec.test.it", JobState.BLOCKED_2FA)

        dry = run_cli(["invite", "--config", str(cfg), "--dry-run"], env)
        assert dry.returncode == 0, dry.stderr
        assert "would send invite to bianchi@pec.test.it at mario.bianchi@posta.test" \
            in dry.stdout
        assert "verdi@pec.test.it" not in dry.stdout and not smtp.messages

        r = run_cli(["invite", "--config", str(cfg)], env)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "3 sent" in r.stdout
        # One message per member who has to act, to the list's contact when it has one;
        # never to the member who is done.
        rcpts = sorted(rcpt for rcpt, _ in smtp.messages)
        assert rcpts == ["mario.bianchi@posta.test", "neri@pec.test.it", "rossi@pec.test.it"]
        tokens: dict[str, str] = {}
        for _, msg in smtp.messages:
            text = msg.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            html = msg.get_body(("html",)).get_content()  # type: ignore[union-attr]
            found = set(LINK.findall(text))
            assert len(found) == 1 and found == set(LINK.findall(html))
            token = found.pop()
            member = re.search(r"casella (\S+@pec\.test\.it) è nell'elenco", text)
            assert member is not None
            tokens[member.group(1)] = token
            # Italian first, then English; the deadline, 2-step first, the password, contacts.
            assert text.index("Scadenza") < text.index("Deadline")
            assert "la posta ancora presente nella vecchia casella va persa" in text
            assert "Verifica in 2 passaggi" in text and "«Aruba PEC»" in text
            assert "Non cambi la password" in text and "Do not change" in text
            assert "segreteria@ordine.test" in text and "06 1234567" in text
            assert "scadono dopo 3 mesi" in text
            assert msg["X-Pecsync-Campaign"] == "invite"
        # Each link's token resolves (LinkStore) to its own member's address.
        assert set(tokens) == {"rossi@pec.test.it", "bianchi@pec.test.it", "neri@pec.test.it"}
        for address, token in tokens.items():
            assert resolve(db, token) == address
        assert len(set(tokens.values())) == 3

        # Once per member: a second invite sends nothing.
        r = run_cli(["invite", "--config", str(cfg)], env)
        assert r.returncode == 0 and "0 sent" in r.stdout and len(smtp.messages) == 3

        # Tracking: the member opens the link and submits; the mailbox is then done.
        mark_link(db, tokens["rossi@pec.test.it"])
        set_state(db, "rossi@pec.test.it", JobState.DONE)
        doc = status_campaign(cfg, env)
        invite = wave_row(doc, "invite", "Ordine Test")
        assert (invite["sent"], invite["failed"], invite["opened"], invite["submitted"],
                invite["done"]) == (3, 0, 1, 1, 1)
        assert doc["needs_to_act"] == 2 and doc["days_left"] == 20
        assert [w["wave"] for w in doc["waves"]] == ["invite", "-21d", "-14d", "-7d", "-3d",
                                                     "-1d"]


def test_smtp_451_retried_next_pass_550_recorded_and_shown(tmp_path: Path) -> None:
    env = env_for()
    with Smtp({"late@pec.test.it": ["451 4.3.0 Temporary local problem, try later"],
               "gone@pec.test.it": ["550 5.1.1 <gone@pec.test.it>: Recipient unknown"] * 5}
              ) as smtp:
        # No reminder due for 19 days: remind --due only sends what is queued.
        cfg = campaign_config(tmp_path, smtp.port, reminders='[campaign]\nreminders = ["-1d"]\n')
        import_list(cfg, tmp_path, ["Ordine Test,ok@pec.test.it", "Ordine Test,late@pec.test.it",
                                    "Ordine Test,gone@pec.test.it"], env)
        r = run_cli(["invite", "--config", str(cfg)], env)
        assert r.returncode == 3, r.stdout + r.stderr  # a message is still queued
        assert "deferred invite to late@pec.test.it: 451 4.3.0" in r.stdout
        assert "REFUSED invite to gone@pec.test.it" in r.stdout and "550 5.1.1" in r.stdout
        assert [rcpt for rcpt, _ in smtp.messages] == ["ok@pec.test.it"]
        doc = status_campaign(cfg, env)
        invite = wave_row(doc, "invite")
        assert (invite["sent"], invite["queued"], invite["failed"]) == (1, 1, 1)
        assert doc["failed"] == [{"address": "gone@pec.test.it", "order": "Ordine Test",
                                  "wave": "invite", "recipient": "gone@pec.test.it",
                                  "answer": "550 5.1.1 <gone@pec.test.it>: Recipient unknown",
                                  "attempts": 1}]
        text = run_cli(["status", "--config", str(cfg)], env).stdout
        assert "refused: gone@pec.test.it (invite)" in text and "550 5.1.1" in text

        # The next pass (remind --due sends what is queued) delivers the 451 one; the 550 one
        # is not tried again.
        r = run_cli(["remind", "--due", "--config", str(cfg)], env)
        assert r.returncode == 0, r.stdout + r.stderr
        invites = [rcpt for rcpt, m in smtp.messages if m["X-Pecsync-Campaign"] == "invite"]
        assert sorted(invites) == ["late@pec.test.it", "ok@pec.test.it"]
        doc = status_campaign(cfg, env)
        invite = wave_row(doc, "invite")
        assert (invite["sent"], invite["queued"], invite["failed"]) == (2, 0, 1)
        assert smtp.answers["gone@pec.test.it"] and len(smtp.answers["gone@pec.test.it"]) == 4


def _due_offsets(deadline: date, *delays: float) -> str:
    """``[campaign]`` whose waves fall due *delays* seconds from now (before *deadline*)."""
    start = datetime.combine(deadline, datetime.min.time(), tzinfo=UTC)
    now = datetime.now(UTC)
    names = [f'"-{int((start - now).total_seconds() - d) + 2}s"' for d in delays]
    return f"[campaign]\nreminders = [{', '.join(names)}]\ninterval_seconds = 0.5\n"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_two_concurrent_remind_processes_send_each_member_once(
        tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    env = env_for()
    database = ("state.sqlite3" if backend == "sqlite"
                else str(request.getfixturevalue("pg_url")))
    target: Path | str = tmp_path / "state.sqlite3" if backend == "sqlite" else database
    deadline = datetime.now(UTC).date() + timedelta(days=3)
    with Smtp(delay=0.02) as smtp:
        cfg = campaign_config(tmp_path, smtp.port, database=database, deadline=deadline,
                              reminders=_due_offsets(deadline, 0))
        members = [f"m{i:02d}@pec.test.it" for i in range(24)]
        import_list(cfg, tmp_path, [f"Ordine Test,{m}" for m in members], env)
        set_state(target, members[0], JobState.DONE)
        set_state(target, members[1], JobState.RUNNING)
        set_state(target, members[2], JobState.BLOCKED_CREDENTIALS_CHANGED)
        procs = [subprocess.Popen([sys.executable, "-m", "pecsync", "-q", "remind", "--due",
                                   "--config", str(cfg)], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        counts = smtp.by_wave()
        assert all(n == 1 for n in counts.values()), counts
        assert sorted(r for r, _ in counts) == sorted(members[2:])
        # Between them the two processes sent each row once.
        sent = [int(re.search(r"(\d+) sent", o).group(1)) for o, _ in outs]  # type: ignore
        assert sum(sent) == len(members) - 2, outs
        changed = next(m for r, m in smtp.messages if r == members[2])
        assert "inserisca la nuova password" in changed.get_body(  # type: ignore[union-attr]
            ("plain",)).get_content()


def test_run_follow_sends_each_wave_once_never_to_a_done_member(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """Two `run --follow` at once; a second wave falls due while they run."""
    env = cli_env(dovecot_src, dovecot_dst)
    env.pop("PECSYNC_SMTP_PASSWORD", None)
    deadline = datetime.now(UTC).date() + timedelta(days=3)
    members = [users.name() for _ in range(6)]
    for m in members:
        dovecot_src.add_user(m, "pw")
        dovecot_dst.add_user(m, "pw")
    with Smtp() as smtp:
        cfg = campaign_config(tmp_path, smtp.port, deadline=deadline,
                              reminders=_due_offsets(deadline, 0, 20),
                              src=dovecot_src, dst=dovecot_dst)
        import_list(cfg, tmp_path, [f"Ordine Test,{m}" for m in members], env)
        db = tmp_path / "state.sqlite3"
        set_state(db, members[0], JobState.DONE)
        procs = [subprocess.Popen([sys.executable, "-m", "pecsync", "-q", "run", "--follow",
                                   "--config", str(cfg)], env=env, cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                 for _ in range(2)]
        try:
            def wait_for(n: int) -> None:
                limit = time.monotonic() + 90
                while len(smtp.messages) < n and time.monotonic() < limit:
                    time.sleep(0.3)
            wait_for(len(members) - 1)  # the first wave: everyone but the done member
            first = {r for r, _ in smtp.by_wave()}
            assert first == set(members[1:]), smtp.by_wave()
            # A member done before the second wave falls due never gets it.
            set_state(db, members[1], JobState.DONE)
            wait_for(2 * (len(members) - 1) - 1)
            time.sleep(2)  # anything more would be a duplicate
            waves = {w for _, w in smtp.by_wave()}
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            outputs = [p.communicate(timeout=60)[0] for p in procs]
        counts = smtp.by_wave()
        assert len(waves) == 2, (counts, outputs)
        assert all(n == 1 for n in counts.values()), counts
        first_wave, second_wave = sorted(waves, key=lambda w: -int(w[1:-1]))
        assert sorted(counts) == sorted([(m, first_wave) for m in members[1:]]
                                        + [(m, second_wave) for m in members[2:]])
        assert all(members[0] != r for r, _ in counts)
        assert "Traceback" not in "".join(outputs)


def test_personal_link_opens_the_form_with_the_address(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    """The invitation's link, opened in headless Chromium, shows the form with the member's
    address filled in; the right password makes the mailbox pending.  Needs the member
    pages' /i/<token> route: skipped only when that route answers 404."""
    from tests.integration.test_intake_web import CHROMEDRIVER, CHROMIUM, fill_and_send

    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver")
    member = users.name()
    dovecot_src.add_user(member, "giusta-1")
    dovecot_dst.add_user(member, "x")
    env = cli_env(dovecot_src, dovecot_dst)
    env.pop("PECSYNC_SMTP_PASSWORD", None)
    port = free_port()
    with Smtp() as smtp:
        # Members log in at the source with their own password; the destination by master.
        cfg = campaign_config(tmp_path, smtp.port, src=dovecot_src, dst=dovecot_dst)
        cfg.write_text(cfg.read_text()
                       .replace(PUBLIC, f"http://127.0.0.1:{port}/")
                       .replace("[intake]\n", "[intake]\nmin_fill_seconds = 1\n")
                       .replace("[destination]\n", f'[destination]\nmaster_user = '
                                                   f'"{dovecot_dst.master_user}"\n'))
        import_list(cfg, tmp_path, [f"Ordine Test,{member}"], env)
        r = run_cli(["invite", "--config", str(cfg)], env)
        assert r.returncode == 0, r.stdout + r.stderr
        text = smtp.messages[0][1].get_body(("plain",)).get_content()  # type: ignore
    link = re.search(rf"http://127\.0\.0\.1:{port}/i/[A-Za-z0-9_-]+", text)
    assert link is not None
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "serve", "--config", str(cfg),
                             "--listen", f"127.0.0.1:{port}"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        limit = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > limit:
                    raise
                time.sleep(0.2)
        if httpx.get(link.group(0), timeout=10).status_code == 404:
            pytest.skip("needs the /i/<token> route")
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--no-first-run",
                     f"--user-data-dir={tmp_path / 'chromium'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            driver.get(link.group(0))
            assert driver.find_element(By.ID, "address").get_attribute("value") == member
            fill_and_send(driver, link.group(0), None, "giusta-1")
        finally:
            driver.quit()
        doc = json.loads(run_cli(["status", "--config", str(cfg), "--json"], env).stdout)
        state = next(m["state"] for m in doc["mailboxes"] if m["address"] == member)
        assert state == "pending", doc["mailboxes"]
        invite = wave_row(doc["campaign"], "invite")
        assert (invite["sent"], invite["opened"], invite["submitted"]) == (1, 1, 1)
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
