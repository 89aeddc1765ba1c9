"""The orders' dashboard (/admin of `pecsync serve`) end to end: a real headless Chromium
against a real uvicorn, the lab's Dovecot servers, a real `pecsync run` copying through a
latency proxy, and a real SMTP server (aiosmtpd) on loopback.  The HTTP-only checks (401,
429, 403, expiry, cookies) use httpx against the same server.

Screenshots of the login page, the overview and an order page at 1280 and 390 px (of a
migration with ten days of history) are written to docs/screenshots/admin-*.png when
PECSYNC_SCREENSHOTS=1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from email import message_from_bytes
from email.message import Message
from email.policy import default
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from bench.latency_proxy import LatencyProxy
from lab.dovecot import free_port
from pecsync.store.checkpoints import CheckpointStore
from pecsync.store.intake import IntakeStore
from tests.helpers import ROOT, cli_env, run_cli, seed, when, write_config
from tests.integration.test_intake_web import Server, browser, needs_browser, status_json

__all__ = ["browser"]  # the fixture, imported for this module's tests

HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"
SHOTS = ROOT / "docs" / "screenshots"
OP_PW = "operatore-segreto-1"
ALFA_PW = "ufficio-alfa-segreto"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server: Any, session_: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos),
                              message_from_bytes(envelope.content, policy=default)))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def dashboard_config(tmp_path: Path, src: Any, dst: Any, *, src_port: int | None = None,
                     smtp_port: int | None = None, admin: str = "",
                     database: str = "state.sqlite3") -> Path:
    """Members log in at the source with their own password (from the CSV), the destination
    by master user; a deadline 20 days ahead; two orders, one with a slug."""
    deadline = date.today() + timedelta(days=20)
    extra = f"""
[engine]
batch_max_messages = 1
prefetch_batches = 0

[migration]
deadline = {deadline.isoformat()}

[intake]
public_url = "https://migrazione.ordine.example/"
contact = "segreteria@alfa.example"

[orders."Ordine Alfa"]
display_name = "Ordine degli Avvocati di Alfa"
slug = "alfa"

[orders."Ordine Beta"]
display_name = "Ordine dei Medici di Beta"
{admin}
"""
    if smtp_port:
        extra += (f'\n[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "plain"\n'
                  f'from_address = "migrazione@operatore.example"\n')
    cfg = write_config(tmp_path, src, dst, master=True, extra=extra, database=database)
    text = cfg.read_text().replace(f'master_user = "{src.master_user}"\n', "", 1)
    if src_port:
        text = text.replace(f"port = {src.port}", f"port = {src_port}", 1)
    cfg.write_text(text)
    return cfg


def add_user(cfg: Path, env: dict[str, str], name: str, password: str, *args: str) -> None:
    r = subprocess.run([sys.executable, "-m", "pecsync", "users", "add", "--config", str(cfg),
                        name, *args, "--password-stdin"], input=password + "\n", env=env,
                       cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr


def record_late(cfg: Path, address: str, order: str) -> None:
    async def go() -> None:
        async with await CheckpointStore.open(cfg.parent / "state.sqlite3") as store:
            await IntakeStore(store).record_request(address, order)

    anyio.run(go)


def resolve_link(cfg: Path, token: str) -> str | None:
    from pecsync.store.links import LinkStore

    async def go() -> str | None:
        async with await CheckpointStore.open(cfg.parent / "state.sqlite3") as store:
            link = await LinkStore(store).resolve(token)
            return link.address if link else None

    return anyio.run(go)


def shoot(driver: Any, name: str, tmp_path: Path) -> list[Path]:
    """The whole page at 1280 and 390 px wide (kept in docs/ with PECSYNC_SCREENSHOTS=1)."""
    out = []
    for width in (1280, 390):
        driver.set_window_size(width, 900)
        time.sleep(0.3)
        height = int(driver.execute_script(
            "return Math.max(document.documentElement.scrollHeight, 600)"))
        driver.set_window_size(width, min(height + 140, 5000))
        time.sleep(0.3)
        path = tmp_path / f"admin-{name}-{width}.png"
        driver.save_screenshot(str(path))
        out.append(path)
        if os.environ.get("PECSYNC_SCREENSHOTS") == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            (SHOTS / path.name).write_bytes(path.read_bytes())
    driver.set_window_size(1280, 900)
    return out


def login(driver: Any, url: str, name: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url + "/admin/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, "enter").click()
    WebDriverWait(driver, 30).until(ec.staleness_of(old))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.TAG_NAME, "h1"))


def click_and_wait(driver: Any, element: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(ec.staleness_of(old))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.TAG_NAME, "h1"))


def row_button(driver: Any, address: str, action: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(
        By.CSS_SELECTOR, f'tr[data-address="{address}"] button[value="{action}"], '
                         f'tr[data-late="{address}"] button[value="{action}"]')


def cell(driver: Any, address: str, field: str) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(
        By.CSS_SELECTOR, f'tr[data-address="{address}"] [data-field="{field}"]').text)


@needs_browser
def test_order_office_in_a_real_browser(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                        tmp_path: Path, browser: Any,
                                        smtp: tuple[int, Inbox]) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    smtp_port, inbox = smtp
    copying = users.pair("giusta-1", "x")
    wrong = users.pair("vera-2", "x")
    silent = users.pair("vera-3", "x")
    beta = users.pair("giusta-4", "x")
    # 40 messages of 40 kB through a 1 Mbit/s link: the copy takes ~15 s, several polls.
    filler = b"x" * 76 + b"\r\n"
    seed(dovecot_src, copying, "INBOX", [(b"Subject: %d\r\n\r\n" % i + filler * 520, (),
                                          when(i)) for i in range(40)])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"Ordine Alfa,{copying},,giusta-1,,\n"
                   f"Ordine Alfa,{wrong},,sbagliata,,\nOrdine Alfa,{silent},,,,\n"
                   f"Ordine Beta,{beta},,giusta-4,,\n")
    late = "tardivo.iscritto@pec.test.it"
    with LatencyProxy(dovecot_src.host, dovecot_src.port, rtt_ms=40, mbit=1.0) as proxy:
        cfg = dashboard_config(tmp_path, dovecot_src, dovecot_dst, src_port=proxy.port,
                               smtp_port=smtp_port)
        env = cli_env(dovecot_src, dovecot_dst)
        assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
        record_late(cfg, late, "Ordine Alfa")
        record_late(cfg, "altro.tardivo@pec.test.it", "Ordine Beta")
        add_user(cfg, env, "ufficio-alfa", ALFA_PW, "--role", "order", "--order",
                 "Ordine Alfa")
        add_user(cfg, env, "operatore", OP_PW, "--role", "operator")
        server = Server(cfg, env)
        run: subprocess.Popen[str] | None = None
        try:
            # The login page, then the order account lands on its own order.
            login(browser, server.url, "ufficio-alfa", ALFA_PW)
            assert browser.current_url.endswith("/admin/orders/alfa"), browser.current_url
            assert browser.find_element(By.ID, "order-name").text == \
                "Ordine degli Avvocati di Alfa"
            html = browser.page_source
            assert copying in html and silent in html
            assert beta not in html and "Ordine Beta" not in html
            assert "altro.tardivo" not in html and late in html
            # Another order's page, its data and the overview never show Beta's members.
            for path in ("/admin/orders/Ordine%20Beta", "/admin/orders/Ordine%20Beta/live.json",
                         "/admin/orders/Ordine%20Beta/members.csv"):
                browser.get(server.url + path)
                assert beta not in browser.page_source
                assert "Pagina non trovata" in browser.page_source
            browser.get(server.url + "/admin/")
            assert browser.current_url.endswith("/admin/orders/alfa")
            assert cell(browser, copying, "messages") == "0 di 0"

            # While `run` copies, the page changes by itself: no reload (the marker stays).
            browser.execute_script("window.__notReloaded = 42;")
            run = subprocess.Popen([sys.executable, "-m", "pecsync", "run", "--config",
                                    str(cfg)], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
            seen: list[str] = []

            def progressed(d: Any) -> bool:
                text = cell(d, copying, "messages")
                if not seen or seen[-1] != text:
                    seen.append(text)
                return bool(re.fullmatch(r"[1-9]\d* di \d+", text)) and text != "40 di 40"

            try:
                WebDriverWait(browser, 90, poll_frequency=0.2).until(progressed)
            except TimeoutException:
                raise AssertionError(f"the page showed {seen}; run: {run.poll()}; "
                                     f"{browser.get_log('browser')}") from None
            # "N di N" with N < 40 is a moment of the copy: the total grows as it goes.
            assert browser.execute_script("return window.__notReloaded") == 42
            out, err = run.communicate(timeout=240)
            assert run.returncode == 1, out + err  # wrong password and no password remain
            WebDriverWait(browser, 30).until(
                lambda d: cell(d, copying, "messages") == "40 di 40")
            WebDriverWait(browser, 30).until(
                lambda d: d.find_element(By.ID, "sum-done").text == "1")
            assert browser.execute_script("return window.__notReloaded") == 42
            assert seen[0] == "0 di 0", seen  # before the run, then part of the copy
            assert "Completata" in cell(browser, copying, "state_label")
            # A done member has nothing to do: no invitation offered.
            assert not browser.find_elements(
                By.CSS_SELECTOR, f'tr[data-address="{copying}"] button[value="invite"]')

            # The counts are those of `status --json`.
            doc = status_json(cfg, env)
            alfa = next(o for o in doc["orders"] if o["order"] == "Ordine Alfa")
            t = alfa["totals"]
            assert browser.find_element(By.ID, "sum-members").text == str(alfa["mailboxes"])
            assert browser.find_element(By.ID, "sum-done").text == str(t["done"])
            needing = sum(v for k, v in t.items() if k.startswith("blocked_") or k == "failed")
            assert browser.find_element(By.ID, "sum-needing").text == str(needing) == "1"
            assert browser.find_element(By.ID, "sum-notresp").text == \
                str(t["waiting_credentials"]) == "1"
            by = {m["address"]: m for m in doc["mailboxes"]}
            assert by[wrong]["state"] == "blocked_invalid_credentials"

            # Re-queue the blocked mailbox (no password here: the stored one is used).
            browser.get(server.url + "/admin/orders/alfa")
            click_and_wait(browser, row_button(browser, wrong, "requeue"))
            assert "rimessa in coda" in browser.find_element(By.ID, "flash").text
            assert {m["address"]: m for m in status_json(cfg, env)["mailboxes"]}[wrong][
                "state"] == "pending"
            assert "ufficio-alfa" in browser.find_element(By.ID, "log").text

            # Resend the silent member's invitation: the SMTP server gets it, with a link.
            browser.get(server.url + "/admin/orders/alfa?state=not_responded")
            assert [e.get_attribute("data-address") for e in browser.find_elements(
                By.CSS_SELECTOR, "tr[data-address]")] == [silent]
            click_and_wait(browser, row_button(browser, silent, "invite"))
            assert "Invito inviato" in browser.find_element(By.ID, "flash").text
            assert cell(browser, silent, "invitations") == "1 inviato"
            assert len(inbox.messages) == 1
            rcpts, msg = inbox.messages[0]
            assert rcpts == [silent] and silent in str(msg["Subject"])
            body = msg.get_body(preferencelist=("plain",))
            assert body is not None
            link = re.search(r"https://migrazione\.ordine\.example/i/([A-Za-z0-9_-]+)",
                             body.get_content())
            assert link is not None
            # The campaign's personal link: its token belongs to this member.
            assert resolve_link(cfg, link.group(1)) == silent

            # Mark the late member as checked.
            browser.get(server.url + "/admin/orders/alfa")
            click_and_wait(browser, row_button(browser, late, "check"))
            assert "verificato" in browser.find_element(By.ID, "flash").text
            browser.get(server.url + "/admin/orders/alfa")
            checked = browser.find_element(By.CSS_SELECTOR, f'tr[data-late="{late}"] .checked')
            assert checked.text != "no"

            # Logout ends the session: the old cookie no longer opens anything.
            cookie = next(c for c in browser.get_cookies() if c["name"] == "pecsync_admin")
            click_and_wait(browser, browser.find_element(By.ID, "logout"))
            assert browser.current_url.endswith("/admin/login")
            browser.get(server.url + "/admin/orders/alfa")
            assert "/admin/login" in browser.current_url
            r = httpx.get(server.url + "/admin/orders/alfa",
                          cookies={"pecsync_admin": cookie["value"]}, timeout=30)
            assert r.status_code == 303 and "/admin/login" in r.headers["location"]

            # The operator sees every order, with the numbers of `status --json`.
            login(browser, server.url, "operatore", OP_PW)
            assert browser.current_url.endswith("/admin/")
            doc = status_json(cfg, env)
            for order in doc["orders"]:
                row = browser.find_element(By.CSS_SELECTOR,
                                           f'tr[data-order="{order["order"]}"]')
                t = order["totals"]
                assert row.find_element(By.CSS_SELECTOR, '[data-field="members"]').text == \
                    str(order["mailboxes"])
                assert row.find_element(By.CSS_SELECTOR, '[data-field="done"]').text == \
                    str(t["done"])
                assert row.find_element(By.CSS_SELECTOR, '[data-field="not_responded"]'
                                        ).text == str(t["waiting_credentials"])
            # The overview follows a run too: the re-queued mailbox is refused again.
            needing = 'tr[data-order="Ordine Alfa"] [data-field="needing_action"]'
            assert browser.find_element(By.CSS_SELECTOR, needing).text == "0"
            browser.execute_script("window.__notReloaded = 7;")
            r = run_cli(["run", "--config", str(cfg)], env)
            assert r.returncode == 1, r.stdout + r.stderr
            WebDriverWait(browser, 30).until(
                lambda d: d.find_element(By.CSS_SELECTOR, needing).text == "1")
            assert browser.execute_script("return window.__notReloaded") == 7
        finally:
            if run is not None and run.poll() is None:
                run.kill()
                run.communicate()
            server.stop()
    assert "Traceback" not in server.output
    for secret in ("giusta-1", "sbagliata", OP_PW, ALFA_PW):
        assert secret not in server.output


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None
    return m.group(1)


def test_logins_limits_csrf_and_expiry_over_http(dovecot_src: Any, dovecot_dst: Any,
                                                 users: Any, tmp_path: Path) -> None:
    alfa, beta = users.pair("a", "x"), users.pair("b", "x")
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"Ordine Alfa,{alfa},,,,\nOrdine Beta,{beta},,,,\n")
    admin = ("\n[admin]\nsession_hours = 0.001\nrate_per_account = 3\nrate_per_client = 8\n"
             "rate_window_seconds = 3600\n")
    cfg = dashboard_config(tmp_path, dovecot_src, dovecot_dst, admin=admin)
    cfg.write_text(cfg.read_text().replace("[intake]", '[intake]\ntrusted_proxies = '
                                                       '["127.0.0.1"]'))
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    add_user(cfg, env, "ufficio-alfa", ALFA_PW, "--role", "order", "--order", "Ordine Alfa")
    add_user(cfg, env, "ufficio-beta", ALFA_PW + "b", "--role", "order", "--order",
             "Ordine Beta")
    r = run_cli(["users", "list", "--config", str(cfg)], env)
    assert "ufficio-alfa\torder\tOrdine Alfa" in r.stdout and ALFA_PW not in r.stdout
    for args, password, words in (
            (["x1", "--role", "operator"], "corta", "shorter than 12"),
            (["x2", "--role", "order", "--order", "Ordine Gamma"], ALFA_PW, "no such order"),
            (["x3", "--role", "order"], ALFA_PW, "at least one --order"),
            (["x4", "--role", "operator", "--order", "Ordine Alfa"], ALFA_PW, "every order"),
            (["ufficio-alfa", "--role", "operator"], ALFA_PW, "exists already")):
        r = subprocess.run([sys.executable, "-m", "pecsync", "users", "add", "--config",
                            str(cfg), *args, "--password-stdin"], input=password + "\n",
                           env=env, cwd=ROOT, capture_output=True, text=True, timeout=60,
                           check=False)
        assert r.returncode == 2 and words in r.stderr, (args, r.stderr)
        assert password not in r.stderr
    assert ALFA_PW.encode() not in (tmp_path / "state.sqlite3").read_bytes()
    server = Server(cfg, env)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            page = c.get("/admin/login")
            assert page.status_code == 200
            csp = page.headers["content-security-policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["cache-control"] == "no-store"
            token = _csrf(page.text)

            def post(name: str, password: str, **extra: str) -> httpx.Response:
                return c.post("/admin/login", data={"csrf": token, "name": name,
                                                    "password": password, **extra})

            # Wrong password and unknown account: the same 401, word for word.
            wrong = post("ufficio-alfa", "non-questa")
            unknown = post("nessuno", "non-questa")
            assert wrong.status_code == unknown.status_code == 401
            assert wrong.text == unknown.text and "non validi" in wrong.text
            # No CSRF token, or a forged one: 403, nothing checked.
            r = c.post("/admin/login", data={"name": "ufficio-alfa", "password": ALFA_PW})
            assert r.status_code == 403
            assert post("ufficio-alfa", ALFA_PW, csrf="forged").status_code == 403
            # The account's limit (3 tries per window): the 3rd failure is the last one
            # checked; then 429, the right password included.
            assert post("ufficio-alfa", "ancora-no").status_code == 401
            assert post("ufficio-alfa", "ancora-no").status_code == 401
            r = post("ufficio-alfa", ALFA_PW)
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 3000
            assert "Troppi tentativi" in r.text
            # Another account from this client still gets in; its session works.
            r = post("ufficio-beta", ALFA_PW + "b")
            assert r.status_code == 303 and r.headers["location"] == "/admin/"
            cookie = r.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie
            assert "__host-" not in cookie  # plain HTTP: no Secure, no prefix
            page = c.get("/admin/", follow_redirects=True)
            assert page.status_code == 200 and beta in page.text and alfa not in page.text
            assert c.get("/admin/orders/alfa").status_code == 404
            assert c.get("/admin/orders/alfa/live.json").status_code == 404
            assert c.get("/admin/orders/alfa/members.csv").status_code == 404
            # An action without the CSRF token: 403, nothing recorded.
            r = c.post("/admin/orders/Ordine%20Beta/action",
                       data={"action": "check", "address": beta})
            assert r.status_code == 403
            # The CSV is the table as shown, for the same filter.
            csv_text = c.get("/admin/orders/Ordine%20Beta/members.csv",
                             params={"state": "not_responded"}).text
            assert csv_text.startswith("\ufeffIndirizzo,Stato") and beta in csv_text
            assert c.get("/admin/orders/Ordine%20Beta/members.csv",
                         params={"state": "done"}).text.count("\n") == 1
            live = c.get("/admin/orders/Ordine%20Beta/live.json").json()
            assert [m["address"] for m in live["members"]] == [beta]
            overview = c.get("/admin/live.json").json()
            assert [o["order"] for o in overview["orders"]] == ["Ordine Beta"]
            assert alfa not in c.get("/admin/live.json").text
            # The session expires ([admin] session_hours = 0.001, 3.6 s): back to login.
            time.sleep(4)
            r = c.get("/admin/orders/Ordine%20Beta")
            assert r.status_code == 303 and r.headers["location"] == "/admin/login?expired=1"
            assert c.get("/admin/orders/Ordine%20Beta/live.json").status_code == 401
            # The client's limit (8 logins per window) holds for every account name.
            for i in range(2):
                assert post(f"altro-{i}", "x").status_code == 401
            assert post("altro-9", "x").status_code == 429
        # Behind a TLS proxy: the __Host- cookie, Secure.
        with httpx.Client(base_url=server.url, timeout=30,
                          headers={"x-forwarded-proto": "https",
                                   "x-forwarded-for": "203.0.113.9"}) as c:
            page = c.get("/admin/login")
            assert "strict-transport-security" in page.headers
            csrf_cookie = re.search(r"pecsync_csrf=([^;]+)", page.headers["set-cookie"])
            assert csrf_cookie is not None
            r = c.post("/admin/login", data={"csrf": _csrf(page.text), "name": "ufficio-beta",
                                             "password": ALFA_PW + "b"},
                       headers={"cookie": f"pecsync_csrf={csrf_cookie.group(1)}"})
            assert r.status_code == 303, r.text
            cookie = r.headers["set-cookie"]
            assert cookie.startswith("__Host-pecsync_admin=") and "Secure" in cookie
            assert "Path=/" in cookie and "Domain" not in cookie
    finally:
        server.stop()
    # Removing an account ends its sessions; its audit lines stay.
    r = run_cli(["users", "remove", "--config", str(cfg), "ufficio-beta"], env)
    assert r.returncode == 0, r.stderr
    assert run_cli(["users", "remove", "--config", str(cfg), "ufficio-beta"],
                   env).returncode == 2
    assert "Traceback" not in server.output and ALFA_PW not in server.output
    assert json.loads(run_cli(["status", "--config", str(cfg), "--json"], env).stdout)


def _history(cfg: Path, members: dict[str, list[str]], today: date) -> None:
    """A migration under way for the pictures: per order, members done over the past days
    (their first 'done' event backdated), some blocked, some not responded, some copying."""
    from tests.helpers import raw_sql

    async def go() -> None:
        async with await CheckpointStore.open(cfg.parent / "state.sqlite3") as store:
            for addresses in members.values():
                for i, address in enumerate(addresses):
                    kind = i % 8
                    if kind in (0, 1, 2, 3, 5):  # done, one or two a day
                        at = (today - timedelta(days=9 - i // 3)).isoformat() + "T10:00:00+00:00"
                        state, copied = "done", 200 + 37 * i
                    elif kind == 4:
                        at, state, copied = None, "blocked_2fa", 0
                    elif kind == 6:
                        at, state, copied = None, "waiting_credentials", 0
                    else:
                        at, state, copied = None, "running", 120
                    start = (today - timedelta(days=10)).isoformat() + "T09:00:00+00:00"
                    await raw_sql(store, "UPDATE job SET state = :s, messages_copied = :c, "
                                  "messages_total = :t, started_at = :st, updated_at = :u "
                                  "WHERE address = :a",
                                  {"s": state, "c": copied, "t": copied + (80 if state ==
                                   "running" else 0), "st": start, "u": at or start,
                                   "a": address})
                    if at:
                        await raw_sql(store, "INSERT INTO job_event (job_id, at, event, "
                                      "state) SELECT id, :at, 'finished', 'done' FROM job "
                                      "WHERE address = :a", {"at": at, "a": address})

    anyio.run(go)


@needs_browser
def test_dashboard_pictures_of_a_migration_under_way(dovecot_src: Any, dovecot_dst: Any,
                                                     tmp_path: Path, browser: Any) -> None:
    """The pages with ten days of history (the docs' screenshots): the overview's numbers,
    the projection and the chart follow from the recorded events."""
    from selenium.webdriver.common.by import By

    today = date.today()
    members = {"Ordine Alfa": [f"avv.rossi{i}@pec.alfa.example" for i in range(24)],
               "Ordine Beta": [f"dott.bianchi{i}@pec.beta.example" for i in range(11)]}
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"{order},{a},,{'' if i % 8 == 6 else 'pw'},,\n"
                                    for order, addresses in members.items()
                                    for i, a in enumerate(addresses)))
    cfg = dashboard_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    _history(cfg, members, today)
    record_late(cfg, "avv.verdi@pec.alfa.example", "Ordine Alfa")
    add_user(cfg, env, "operatore", OP_PW, "--role", "operator")
    server = Server(cfg, env)
    try:
        browser.get(server.url + "/admin/login")
        shoot(browser, "login", tmp_path)
        login(browser, server.url, "operatore", OP_PW)
        browser.get(server.url + "/admin/orders/alfa")
        click_and_wait(browser, row_button(browser, "avv.verdi@pec.alfa.example", "check"))
        browser.get(server.url + "/admin/")
        doc = status_json(cfg, env)
        alfa = next(o for o in doc["orders"] if o["order"] == "Ordine Alfa")
        row = browser.find_element(By.CSS_SELECTOR, 'tr[data-order="Ordine Alfa"]')
        assert row.find_element(By.CSS_SELECTOR, '[data-field="done"]').text == \
            str(alfa["totals"]["done"]) == "15"
        # 15 done in the 11 days since the first copy (today included): 9 left take
        # ceil(9 / (15 / 11)) = 7 more days, well before the deadline (20 days ahead).
        assert (today + timedelta(days=7)).strftime("%d/%m/%Y") in row.text
        assert "in tempo" in row.text
        shoot(browser, "overview", tmp_path)
        browser.get(server.url + "/admin/orders/alfa")
        svg = httpx.get(server.url + "/admin/orders/alfa/chart.svg", timeout=30,
                        cookies={c["name"]: c["value"] for c in browser.get_cookies()})
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        assert "<script" not in svg.text and "scadenza" in svg.text
        assert browser.execute_script(
            "var i = document.getElementById('chart'); return i.complete && i.naturalWidth")
        shoot(browser, "order", tmp_path)
    finally:
        server.stop()
    assert "Traceback" not in server.output


def test_dashboard_on_postgresql(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                 tmp_path: Path, pg_url: str) -> None:
    """The same server on a shared PostgreSQL: login, the order page and its live data,
    a re-queue with its audit line, the login limit."""
    member = users.pair("giusta", "x")
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"Ordine Alfa,{member},,sbagliata,,\n")
    cfg = dashboard_config(tmp_path, dovecot_src, dovecot_dst, database=pg_url,
                           admin="\n[admin]\nrate_per_account = 2\n")
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    assert run_cli(["run", "--config", str(cfg)], env).returncode == 1  # wrong password
    add_user(cfg, env, "ufficio-alfa", ALFA_PW, "--role", "order", "--order", "Ordine Alfa")
    server = Server(cfg, env)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as c:
            token = _csrf(c.get("/admin/login").text)
            r = c.post("/admin/login", data={"csrf": token, "name": "ufficio-alfa",
                                             "password": ALFA_PW})
            assert r.status_code == 303
            page = c.get("/admin/orders/alfa")
            assert page.status_code == 200 and member in page.text
            live = c.get("/admin/orders/alfa/live.json").json()
            assert live["summary"]["needing_action"] == 1
            assert live["members"][0]["state"] == "blocked_invalid_credentials"
            r = c.post("/admin/orders/alfa/action", data={
                "csrf": _csrf(page.text), "action": "requeue", "address": member})
            assert r.status_code == 303 and "msg=requeued" in r.headers["location"]
            page = c.get("/admin/orders/alfa")
            assert "rimessa in coda" in page.text and "ufficio-alfa" in page.text
            doc = status_json(cfg, env)
            assert doc["mailboxes"][0]["state"] == "pending"
            for _ in range(2):
                c.post("/admin/login", data={"csrf": token, "name": "ufficio-alfa",
                                             "password": "no"})
            r = c.post("/admin/login", data={"csrf": token, "name": "ufficio-alfa",
                                             "password": ALFA_PW})
            assert r.status_code == 429
    finally:
        server.stop()
    assert "Traceback" not in server.output
