"""The members' intake page end to end: a real headless Chromium (Selenium) against a real
uvicorn (`pecsync serve`) and the lab's Dovecot servers.

Skips with the reason when Debian's chromium / chromium-driver are not installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.dovecot import free_port
from tests.helpers import ROOT, cli_env, run_cli, seed, when, write_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HEADER = "order,address,source_user,source_password,dest_user,dest_password\n"

needs_browser = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
           "chromium-driver; scripts/setup.sh does it)")

INTAKE = """
[intake]
contact = "segreteria@ordine.example, 06 1234567"
pow_bits = 16  # the default: the real browser solves it in the test
min_fill_seconds = 1
rate_per_address = 3
rate_per_client = 1000

[orders."Ordine Test"]
slug = "ordine-test"
domains = ["pec.test.it"]
"""


def intake_config(tmp_path: Path, src: Any, dst: Any, extra: str = INTAKE) -> Path:
    """Members log in at the source with their own password; the destination by master."""
    cfg = write_config(tmp_path, src, dst, master=True, extra=extra)
    text = cfg.read_text().replace(f'master_user = "{src.master_user}"\n', "", 1)
    cfg.write_text(text)
    return cfg


class Server:
    def __init__(self, cfg: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pecsync", "serve", "--config", str(cfg), "--listen",
             f"127.0.0.1:{self.port}"], env=env, cwd=ROOT, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"pecsync serve did not start: {self.output}")

    output = ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.output = self.proc.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output = self.proc.communicate()[0]


@pytest.fixture
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pecsync-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--window-size=1280,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def fill_and_send(driver: Any, url: str, address: str | None, password: str) -> str:
    """Open *url*, fill the form like a person, send it, and return the result page's text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    if address is not None:
        driver.find_element(By.ID, "address").send_keys(address)
    driver.find_element(By.ID, "password").send_keys(password)
    page = driver.find_element(By.TAG_NAME, "html")  # before the click: a fast answer (no
    driver.find_element(By.ID, "send").click()       # LOGIN) may come before a find after it
    WebDriverWait(driver, 30).until(ec.staleness_of(page))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.TAG_NAME, "h1"))
    return str(driver.find_element(By.TAG_NAME, "body").text)


def status_json(cfg: Path, env: dict[str, str]) -> dict[str, Any]:
    r = run_cli(["status", "--config", str(cfg), "--json"], env)
    assert r.returncode == 0, r.stderr
    doc: dict[str, Any] = json.loads(r.stdout)
    return doc


@needs_browser
def test_member_procedure_in_a_real_browser(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                            tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    good = users.pair("giusta-1", "x")
    wrong = users.pair("vera-2", "x")
    twofa = users.name()
    dovecot_src.add_2fa_user(twofa, "giusta-3", "Verifica in due passaggi attiva")
    dovecot_dst.add_user(twofa, "x")
    seed(dovecot_src, good, "INBOX", [(b"Subject: %d\r\n\r\nciao\r\n" % i, (), when(i))
                                      for i in range(5)])
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"Ordine Test,{u},,,,\n" for u in (good, wrong, twofa)))
    cfg = intake_config(tmp_path, dovecot_src, dovecot_dst)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    server = Server(cfg, env)
    try:
        # Right password, typing only the part before the @ on the order's page.
        text = fill_and_send(browser, server.url + "/o/ordine-test", good.split("@")[0],
                             "giusta-1")
        assert "L'importazione dei suoi messaggi PEC è iniziata" in text, text
        assert "non modifichi la password fino al passaggio al nuovo gestore" in text
        link = browser.find_element(By.ID, "status-link").get_attribute("href")
        assert re.search(r"/s/[A-Za-z0-9_-]{40,}$", link), link
        doc = {m["address"]: m for m in status_json(cfg, env)["mailboxes"]}
        assert doc[good]["state"] == "pending" and doc[good]["credential_source"] == "web"
        r = run_cli(["run", "--config", str(cfg)], env)
        assert r.returncode == 1, r.stdout + r.stderr  # the other two still wait
        browser.get(link)
        assert "Completata" in browser.find_element(By.ID, "state").text
        assert browser.find_element(By.ID, "messages").text == "5 di 5"
        assert browser.find_element(By.ID, "mailbox").text == good

        # The member changes the password after all: the next sync is refused, and the
        # status page takes the new one (the circular's "avviare nuovamente la procedura").
        dovecot_src.set_password(good, "nuova-1")
        r = run_cli(["retry", "--config", str(cfg), good], env)
        assert r.returncode == 1 and "blocked_credentials_changed" in r.stdout, r.stdout
        browser.get(link)
        assert "password è stata cambiata" in browser.find_element(By.ID, "state").text
        text = fill_and_send(browser, link, None, "nuova-1")
        assert "L'importazione dei suoi messaggi PEC è iniziata" in text, text
        assert browser.find_element(By.ID, "status-link").get_attribute("href") == link
        doc = {m["address"]: m for m in status_json(cfg, env)["mailboxes"]}
        assert doc[good]["state"] == "pending" and doc[good]["credential_source"] == "web"

        # Wrong password: "Credenziali non valide", nothing stored.
        text = fill_and_send(browser, server.url + "/", wrong, "sbagliata")
        assert "Credenziali non valide" in text
        doc = {m["address"]: m for m in status_json(cfg, env)["mailboxes"]}
        assert doc[wrong]["state"] == "waiting_credentials"
        assert doc[wrong]["credential_source"] is None

        # 2-step verification: the guidance page, nothing stored.
        text = fill_and_send(browser, server.url + "/", twofa, "giusta-3")
        assert "Verifica in due passaggi attiva" in text and "Aruba PEC" in text
        assert "torni a questa pagina" in text
        assert {m["address"]: m for m in status_json(cfg, env)["mailboxes"]}[twofa][
            "credential_source"] is None

        # An address in the order's domain, not on the list, that the provider refuses:
        # "invalid credentials", nothing recorded (late members enrol only by a password the
        # source accepts: tests/integration/test_member_page.py).
        late = "nuovo.iscritto@pec.test.it"
        text = fill_and_send(browser, server.url + "/?lang=en", late, "qualsiasi-pw")
        assert "Invalid credentials" in text and "segreteria@ordine.example" in text
        # An address of no order's domain: said so, nothing recorded.
        text = fill_and_send(browser, server.url + "/?lang=en", "evil@gmail.com", "x")
        assert "only for mailboxes @pec.test.it" in text and "need do nothing" in text
        doc = status_json(cfg, env)
        assert doc["intake_requests"]["count"] == 0 and doc["self_enrolled"]["count"] == 0

        # Rate limit per address (3 per hour here): the 4th check gets 429 and no LOGIN.
        for _ in range(2):
            assert "Credenziali non valide" in fill_and_send(browser, server.url + "/", wrong,
                                                              "ancora-no")
        logins = dovecot_src.login_count(wrong)
        text = fill_and_send(browser, server.url + "/", wrong, "vera-2")
        assert "Troppi tentativi" in text, text
        assert dovecot_src.login_count(wrong) == logins
        assert httpx.get(server.url + "/").headers["x-frame-options"] == "DENY"
        r = run_cli(["report", "--config", str(cfg), "--out", str(tmp_path / "rep")], env)
        assert r.returncode == 0, r.stderr
        report = json.loads((tmp_path / "rep" / "report.json").read_text())
        assert report["intake_requests"]["count"] == 0
        assert {m["address"]: m for m in report["mailboxes"]}[good]["credential_source"] == "web"
        assert late not in (tmp_path / "rep" / "index.html").read_text()
    finally:
        server.stop()
    for pw in ("giusta-1", "sbagliata", "giusta-3", "qualsiasi-pw", "ancora-no"):
        assert pw not in server.output
        assert pw.encode() not in b"".join(p.read_bytes() for p in
                                           tmp_path.glob("state.sqlite3*"))


def _form_fields(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf|challenge)" value="([^"]+)"', html))


def test_csrf_rate_limit_and_bad_input_over_http(dovecot_src: Any, dovecot_dst: Any,
                                                 users: Any, tmp_path: Path) -> None:
    """What no browser sends: forged or missing CSRF tokens (403), the rate limit (429
    without a LOGIN), oversized and non-UTF-8 fields (4xx, never a 500), a form posted
    twice (409), security headers."""
    from pecsync.web.security import solve_pow

    member = users.pair("pw-1", "x")
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"Ordine Test,{member},,,,\n")
    extra = INTAKE.replace("min_fill_seconds = 1", "min_fill_seconds = 0")
    cfg = intake_config(tmp_path, dovecot_src, dovecot_dst, extra=extra)
    env = cli_env(dovecot_src, dovecot_dst)
    assert run_cli(["import", "--config", str(cfg), str(csv)], env).returncode == 0
    server = Server(cfg, env)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            page = client.get("/")
            assert page.status_code == 200
            csp = page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
            assert page.headers["referrer-policy"] == "no-referrer"
            fields = _form_fields(page.text)

            def post(**data: str) -> httpx.Response:
                return client.post("/", data=data)

            def fresh() -> dict[str, str]:
                f = _form_fields(client.get("/").text)
                return {**f, "pow": solve_pow(f["challenge"], 16)}

            # Missing and wrong CSRF tokens: 403, nothing checked.
            before = dovecot_src.login_count(member)
            r = post(address=member, password="pw-1", challenge=fields["challenge"])
            assert r.status_code == 403 and "scaduta" in r.text
            r = post(address=member, password="pw-1", csrf="forged", **{
                k: v for k, v in fresh().items() if k != "csrf"})
            assert r.status_code == 403
            # ...and without the cookie, a valid-looking token is useless.
            r = httpx.post(server.url + "/", data={"address": member, "password": "pw-1",
                                                   **fresh()})
            assert r.status_code == 403
            # Bad input: clear page, 4xx, never a traceback.
            assert post(**fresh(), address=member).status_code == 400
            assert post(**fresh(), address=member, password="x" * 5000).status_code == 413
            r = client.post("/", content=b"address=%ff%fe&password=a",
                            headers={"content-type": "application/x-www-form-urlencoded"})
            assert r.status_code in (400, 403) and "Traceback" not in r.text
            assert post(**fresh(), address="not an address", password="a").status_code == 400
            r = post(**{**fresh(), "pow": "1"}, address=member, password="a")
            assert r.status_code == 400 and "anti-robot" in r.text
            r = post(**fresh(), address=member, password="a", website="http://spam")
            assert r.status_code == 400 and "anti-robot" in r.text
            assert client.post("/", content=b"x" * 100_000).status_code == 413
            assert dovecot_src.login_count(member) == before
            # A form posted twice: the second gets 409 and no second LOGIN.
            form = fresh()
            first = post(**form, address=member, password="wrong-1")
            assert first.status_code == 400 and "Credenziali non valide" in first.text
            assert post(**form, address=member, password="wrong-1").status_code == 409
            assert dovecot_src.login_count(member) == before + 1
            # The rate limit: 3 checks per address per hour, then 429 without a LOGIN.
            for _ in range(2):
                post(**fresh(), address=member, password="wrong-2")
            after = dovecot_src.login_count(member)
            r = post(**fresh(), address=member, password="pw-1")
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 3000
            assert "Troppi tentativi" in r.text
            assert dovecot_src.login_count(member) == after
            assert client.get("/s/" + "A" * 43).status_code == 404
            assert client.get("/o/nessuno").status_code == 404
    finally:
        server.stop()
    # A restart keeps the limit: it lives in the database.
    server = Server(cfg, env)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            f = _form_fields(client.get("/").text)
            r = client.post("/", data={**f, "pow": solve_pow(f["challenge"], 16),
                                       "address": member, "password": "pw-1"})
            assert r.status_code == 429
    finally:
        server.stop()
    assert "Traceback" not in server.output


def test_closed_window_unreachable_source_and_tls_cookies(dovecot_src: Any, dovecot_dst: Any,
                                                          users: Any, tmp_path: Path) -> None:
    from pecsync.web.security import solve_pow

    member = users.pair("pw-1", "x")
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + f"Ordine Test,{member},,,,\n")
    env = cli_env(dovecot_src, dovecot_dst)
    extra = INTAKE.replace("min_fill_seconds = 1", "min_fill_seconds = 0")
    closed = intake_config(tmp_path, dovecot_src, dovecot_dst,
                           extra=extra.replace("[intake]", "[intake]\ncloses_at = 2020-01-01"))
    assert run_cli(["import", "--config", str(closed), str(csv)], env).returncode == 0
    server = Server(closed, env)
    try:
        page = httpx.get(server.url + "/")
        assert page.status_code == 200 and "Procedura chiusa" in page.text
        assert 'name="password"' not in page.text
        assert httpx.post(server.url + "/", data={"address": member}).status_code == 403
    finally:
        server.stop()
    # The source down: "try again later" (503), nothing stored.
    cfg = intake_config(tmp_path, dovecot_src, dovecot_dst,
                        extra=extra + '\n').read_text()
    cfg = cfg.replace(f"port = {dovecot_src.port}", f"port = {free_port()}", 1)
    cfg = cfg.replace("[intake]", '[intake]\ntrusted_proxies = ["127.0.0.1"]')
    (tmp_path / "pecsync.toml").write_text(cfg)
    server = Server(tmp_path / "pecsync.toml", env)
    try:
        with httpx.Client(base_url=server.url, timeout=60,
                          headers={"x-forwarded-proto": "https"}) as client:
            page = client.get("/")
            cookie = page.headers["set-cookie"].lower()
            assert "secure" in cookie and "httponly" in cookie and "samesite=strict" in cookie
            assert "strict-transport-security" in page.headers
            f = _form_fields(page.text)
            # A Secure cookie travels over TLS only: the proxy's side is plain HTTP, so the
            # browser's cookie is handed on by hand here, as the proxy would.
            value = re.search(r"pecsync_csrf=([^;]+)", page.headers["set-cookie"])
            assert value is not None
            r = client.post("/", data={**f, "pow": solve_pow(f["challenge"], 16),
                                       "address": member, "password": "pw-1"},
                            headers={"cookie": f"pecsync_csrf={value.group(1)}"})
            assert r.status_code == 503 and "Riprovi più tardi" in r.text
    finally:
        server.stop()
    doc = status_json(tmp_path / "pecsync.toml", env)
    assert doc["mailboxes"][0]["credential_source"] is None
    assert doc["mailboxes"][0]["state"] == "waiting_credentials"
