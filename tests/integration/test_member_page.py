"""The member page of issue 23 against real parts: `pecsync serve` (uvicorn), the lab's
Dovecot servers, httpx for what a browser cannot fake (client addresses behind a trusted
proxy) and headless Chromium for the personal link.

* the form says what the circulars said (deadline and its consequence, the 2-step
  preliminary from the provider profile, the address does not change, only the order's
  domains); the wrong-password page names 2-step verification and the recovery link;
* the personal link ``/i/<token>`` shows the form with the address filled in;
* late members in an order's domain enrol themselves by a password the source accepts, and
  `run` copies them; a wrong password, or an address of no order's domain, records nothing;
* failed checks are counted per address *and* client under a per-address ceiling: one
  client's wrong tries do not stop the member on another client, nor on the personal link;
* after the final sync the status page gives the new webmail and no password form.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import anyio
import httpx

from tests.helpers import cli_env, run_cli, seed, when
from tests.integration.test_intake_web import (  # noqa: F401  (browser: a fixture)
    HEADER,
    Server,
    browser,
    intake_config,
    needs_browser,
    status_json,
)

PAGE = """
[migration]
deadline = 2027-03-31

[intake]
contact = "segreteria@ordine.example"
pow_bits = 8
min_fill_seconds = 0
rate_per_address = 5
rate_per_address_ceiling = 8
rate_per_link = 5
rate_per_client = 1000
trusted_proxies = ["127.0.0.1"]
new_webmail_url = "https://webmail.nuovo.example/"

[orders."Ordine Test"]
slug = "ordine-test"
domains = ["pec.test.it"]
"""


def logins(server: Any, user: str) -> int:
    """LOGINs of *user* in Dovecot's log, once the log has caught up with the last answer."""
    time.sleep(0.5)
    return int(server.login_count(user))


def issue_link(cfg: Path, address: str, order: str | None = "Ordine Test") -> str:
    """A personal link token, as `invite` issues it (LinkStore, the contract on main)."""
    from pecsync.config import load_config
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.store.links import LinkStore

    config = load_config(cfg)

    async def go() -> str:
        async with await CheckpointStore.open(config.state) as store:
            return await LinkStore(store).issue(address, order)

    return anyio.run(go)


def link_of(cfg: Path, token: str) -> Any:
    from pecsync.config import load_config
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.store.links import LinkStore

    config = load_config(cfg)

    async def go() -> Any:
        async with await CheckpointStore.open(config.state) as store:
            return await LinkStore(store).resolve(token)

    return anyio.run(go)


class Member:
    """One browser-less client behind the trusted proxy (its own cookie jar and address)."""

    def __init__(self, url: str, ip: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=60, headers={"x-forwarded-for": ip})

    def fields(self, path: str) -> dict[str, str]:
        from pecsync.web.security import solve_pow

        page = self.http.get(path)
        assert page.status_code == 200, page.text
        f = dict(re.findall(r'name="(csrf|challenge)" value="([^"]+)"', page.text))
        return {**f, "pow": solve_pow(f["challenge"], 8)}

    def send(self, path: str, password: str, address: str | None = None) -> httpx.Response:
        data = {**self.fields(path), "password": password}
        if address is not None:
            data["address"] = address
        return self.http.post(path, data=data)

    def close(self) -> None:
        self.http.close()


def setup(tmp_path: Path, src: Any, dst: Any, members: list[str], extra: str = PAGE
          ) -> tuple[Path, dict[str, str]]:
    csv = tmp_path / "list.csv"
    csv.write_text(HEADER + "".join(f"Ordine Test,{u},,,,\n" for u in members))
    cfg = intake_config(tmp_path, src, dst, extra=extra)
    env = cli_env(src, dst)
    r = run_cli(["import", "--config", str(cfg), str(csv)], env)
    assert r.returncode == 0, r.stderr
    return cfg, env


def test_the_form_says_what_the_circulars_say(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                              tmp_path: Path) -> None:
    member = users.pair("giusta", "x")
    cfg, env = setup(tmp_path, dovecot_src, dovecot_dst, [member])
    server = Server(cfg, env)
    try:
        it = httpx.get(server.url + "/o/ordine-test").text
        assert "Scadenza: 31 marzo 2027" in it
        assert "la posta ancora presente va persa e la nuova casella resta vuota" in it
        assert "Il suo indirizzo PEC non cambia" in it
        assert "solo le caselle @pec.test.it" in it and "non deve fare nulla" in it
        # The 2-step preliminary, before starting, from the Aruba profile (the default).
        assert "Prima di iniziare: disattivi la verifica in 2 passaggi" in it
        assert "Sicurezza e password → Verifica in 2 passaggi → Disattiva" in it
        assert "notifica nell&#39;app «Aruba PEC»" in it
        assert "Potrà riattivarla sulla nuova casella" in it
        en = httpx.get(server.url + "/?lang=en").text
        assert "Deadline: 31 March 2027" in en and "the new mailbox stays empty" in en
        assert "Before you start: switch 2-step verification off" in en
        client = Member(server.url, "10.0.0.9")
        try:
            r = client.send("/", "sbagliata", member)
            assert r.status_code == 400 and "Credenziali non valide" in r.text
            assert "attivata in passato senza ricordarlo" in r.text
            assert "scadere dopo 3 mesi" in r.text  # Aruba's program passwords
            assert 'href="https://www.pec.it/recupero-password.aspx"' in r.text
            r = client.send("/", "giusta", member)
            assert r.status_code == 200 and "Cosa succede ora" in r.text
            assert "Può chiudere questa pagina" in r.text
            assert "Se dovesse farlo, ripeta la procedura con la nuova password" in r.text
        finally:
            client.close()
    finally:
        server.stop()


def test_personal_link_and_late_members(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                        tmp_path: Path) -> None:
    listed = users.pair("pw-listed", "x")
    late = users.pair("pw-late", "x")  # at the provider, in the order's domain, not listed
    seed(dovecot_src, late, "INBOX", [(b"Subject: %d\r\n\r\ntardi\r\n" % i, (), when(i))
                                      for i in range(4)])
    cfg, env = setup(tmp_path, dovecot_src, dovecot_dst, [listed])
    token = issue_link(cfg, listed)
    server = Server(cfg, env)
    client = Member(server.url, "10.0.0.1")
    try:
        # The personal link: the form with the address filled in (read-only, not a field).
        page = client.http.get(f"/i/{token}")
        assert page.status_code == 200
        assert re.search(rf'id="address"[^>]*>{re.escape(listed)}</output>', page.text)
        assert 'name="address"' not in page.text
        assert "collegamento personale" in page.text
        assert link_of(cfg, token).open_count == 1
        # An unknown token: a clear 404 that offers the normal form.
        r = client.http.get("/i/" + "x" * 43)
        assert r.status_code == 404 and "Collegamento non valido" in r.text
        assert 'id="to-form"' in r.text
        # The right password through the link: pending, the link marked submitted.
        r = client.send(f"/i/{token}", "pw-listed")
        assert r.status_code == 200 and "Importazione avviata" in r.text, r.text
        assert link_of(cfg, token).submitted_at is not None
        doc = {m["address"]: m for m in status_json(cfg, env)["mailboxes"]}
        assert doc[listed]["state"] == "pending"

        # A late member, wrong password: nothing recorded.
        r = client.send("/", "non-questa", late)
        assert r.status_code == 400 and "Credenziali non valide" in r.text
        doc = status_json(cfg, env)
        assert late not in {m["address"] for m in doc["mailboxes"]}
        assert doc["intake_requests"]["count"] == 0 and doc["self_enrolled"]["count"] == 0
        # An address of no order's domain: no LOGIN, nothing recorded, and the page says so.
        before = logins(dovecot_src, "evil@gmail.com")
        r = client.send("/", "whatever", "evil@gmail.com")
        assert r.status_code == 404
        assert "solo le caselle @pec.test.it" in r.text and "non deve fare nulla" in r.text
        assert logins(dovecot_src, "evil@gmail.com") == before
        doc = status_json(cfg, env)
        assert doc["intake_requests"]["count"] == 0 and len(doc["mailboxes"]) == 1
        # The late member's right password, typing only the local part on the order's page:
        # added to the order, queued, marked self-enrolled.
        r = client.send("/o/ordine-test", "pw-late", late.split("@")[0])
        assert r.status_code == 200 and "è stata aggiunta" in r.text, r.text
        doc = status_json(cfg, env)
        mailboxes = {m["address"]: m for m in doc["mailboxes"]}
        assert mailboxes[late]["state"] == "pending" and mailboxes[late]["order"] == "Ordine Test"
        assert mailboxes[late]["credential_source"] == "web"
        assert doc["self_enrolled"]["count"] == 1
        assert doc["self_enrolled"]["mailboxes"][0]["address"] == late
        text = run_cli(["status", "--config", str(cfg)], env).stdout
        assert "self-enrolled" in text and late in text
    finally:
        client.close()
        server.stop()
    # `run` copies the late member like any other.
    r = run_cli(["run", "--config", str(cfg)], env)
    assert r.returncode == 0, r.stdout + r.stderr
    mailboxes = {m["address"]: m for m in status_json(cfg, env)["mailboxes"]}
    assert mailboxes[late]["state"] == "done" and mailboxes[late]["messages_copied"] == 4
    r = run_cli(["report", "--config", str(cfg), "--out", str(tmp_path / "rep")], env)
    assert r.returncode == 0, r.stderr
    import json
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["self_enrolled"]["count"] == 1
    assert "Caselle aggiunte dagli iscritti" in (tmp_path / "rep" / "index.html").read_text()
    for pw in ("pw-listed", "pw-late", "non-questa", "whatever"):
        assert pw not in server.output


def test_wrong_tries_from_one_client_lock_nobody_else_out(dovecot_src: Any, dovecot_dst: Any,
                                                          users: Any, tmp_path: Path) -> None:
    member = users.pair("giusta-m", "x")
    other = users.pair("giusta-o", "x")
    cfg, env = setup(tmp_path, dovecot_src, dovecot_dst, [member, other])
    token = issue_link(cfg, member)
    server = Server(cfg, env)
    a, b, c = (Member(server.url, ip) for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"))
    try:
        # Five wrong tries for M from client A: A is stopped (429, no LOGIN)...
        for _ in range(5):
            assert a.send("/", "sbagliata", member).status_code == 400
        count = logins(dovecot_src, member)
        r = a.send("/", "giusta-m", member)
        assert r.status_code == 429 and "Troppi tentativi" in r.text
        assert logins(dovecot_src, member) == count
        # ...but not M on client B, nor through M's personal link.
        r = b.send("/", "giusta-m", member)
        assert r.status_code == 200 and "Importazione avviata" in r.text, r.text
        r = a.send(f"/i/{token}", "giusta-m")
        assert r.status_code == 200 and "Importazione avviata" in r.text, r.text
        # The ceiling across clients (8 here): A's 5 failures + 3 from B exhaust it; then
        # even the right password from a third client waits, and the page says when and that
        # the personal link still works; the link does work.
        for _ in range(3):
            assert b.send("/", "sbagliata", member).status_code == 400
        count = logins(dovecot_src, member)
        r = c.send("/", "giusta-m", member)
        assert r.status_code == 429 and "Casella protetta" in r.text
        assert "collegamento personale" in r.text and int(r.headers["retry-after"]) > 3000
        assert logins(dovecot_src, member) == count
        r = c.send(f"/i/{token}", "giusta-m")
        assert r.status_code == 200 and "Importazione avviata" in r.text, r.text
        # Another member is not touched by any of it.
        r = a.send("/", "giusta-o", other)
        assert r.status_code == 200 and "Importazione avviata" in r.text
        # The link's own limit: 5 failures through it, then 429 there too.
        for _ in range(5):
            assert c.send(f"/i/{token}", "sbagliata").status_code == 400
        assert c.send(f"/i/{token}", "giusta-m").status_code == 429
    finally:
        for m in (a, b, c):
            m.close()
        server.stop()


def test_status_page_after_the_final_sync(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                          tmp_path: Path) -> None:
    member = users.pair("pw-s", "x")
    seed(dovecot_src, member, "INBOX", [(b"Subject: 1\r\n\r\nx\r\n", (), when(1))])
    extra = PAGE.replace("deadline = 2027-03-31",
                         "deadline = 2027-03-31\nswitch_at = 2027-03-31T06:00:00+02:00")
    cfg, env = setup(tmp_path, dovecot_src, dovecot_dst, [member], extra=extra)
    server = Server(cfg, env)
    client = Member(server.url, "10.0.0.1")
    try:
        r = client.send("/", "pw-s", member)
        assert r.status_code == 200
        assert "fino al passaggio al nuovo gestore (31 marzo 2027, ore 06:00)" in r.text
        status = re.search(r'id="status-link" href="([^"]+)"', r.text)
        assert status is not None
        link = status.group(1)
        assert run_cli(["run", "--config", str(cfg)], env).returncode == 0
        # Done, but the switch has not happened: "do not change your password" stays, and so
        # does the form for a new password (re-syncs need it).
        page = client.http.get(link).text
        assert "Completata" in page and 'id="keep-password"' in page
        assert "31 marzo 2027, ore 06:00" in page and 'name="password"' in page
    finally:
        client.close()
        server.stop()
    # The switch is past and the final sync done: the new webmail, no form any more.
    text = cfg.read_text().replace("switch_at = 2027-03-31T06:00:00+02:00",
                                   "switch_at = 2020-01-01T06:00:00+01:00")
    cfg.write_text(text)
    assert run_cli(["run", "--config", str(cfg)], env).returncode == 0
    assert status_json(cfg, env)["mailboxes"][0]["final_sync_done"] is True
    server = Server(cfg, env)
    client = Member(server.url, "10.0.0.1")
    try:
        page = client.http.get(link).text
        assert "Passaggio completato" in page and 'name="password"' not in page
        assert 'href="https://webmail.nuovo.example/"' in page
        assert 'id="keep-password"' not in page
        r = client.http.post(link, data={"password": "pw-s"})
        assert r.status_code == 409 and 'name="password"' not in r.text
    finally:
        client.close()
        server.stop()


@needs_browser
def test_personal_link_in_a_real_browser(dovecot_src: Any, dovecot_dst: Any, users: Any,
                                         tmp_path: Path, browser: Any) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    member = users.pair("giusta-b", "x")
    cfg, env = setup(tmp_path, dovecot_src, dovecot_dst, [member],
                     extra=PAGE.replace("pow_bits = 8", "pow_bits = 12"))
    token = issue_link(cfg, member)
    server = Server(cfg, env)
    try:
        browser.get(f"{server.url}/i/{token}")
        field = browser.find_element(By.ID, "address")
        assert field.get_attribute("value") == member  # an <output>: shown, not editable
        assert field.tag_name == "output"
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        browser.find_element(By.ID, "password").send_keys("giusta-b")
        html = browser.find_element(By.TAG_NAME, "html")  # before the click: a fast answer
        browser.find_element(By.ID, "send").click()       # would otherwise be missed
        WebDriverWait(browser, 30).until(ec.staleness_of(html))
        text = browser.find_element(By.TAG_NAME, "body").text
        assert "L'importazione dei suoi messaggi PEC è iniziata" in text, text
        assert "Può chiudere questa pagina" in text
        doc = {m["address"]: m for m in status_json(cfg, env)["mailboxes"]}
        assert doc[member]["state"] == "pending" and doc[member]["credential_source"] == "web"
    finally:
        server.stop()


def test_enrol_verified_off_records_only_the_verified_address(
        dovecot_src: Any, dovecot_dst: Any, users: Any, tmp_path: Path) -> None:
    listed = users.pair("pw-1", "x")
    late = users.pair("pw-late", "x")
    extra = PAGE.replace("[intake]\n", "[intake]\nenrol_verified = false\n")
    cfg, env = setup(tmp_path, dovecot_src, dovecot_dst, [listed], extra=extra)
    server = Server(cfg, env)
    client = Member(server.url, "10.0.0.1")
    try:
        assert client.send("/", "wrong", late).status_code == 400
        assert status_json(cfg, env)["intake_requests"]["count"] == 0
        r = client.send("/", "pw-late", late)
        assert r.status_code == 202 and "Indirizzo verificato" in r.text, r.text
    finally:
        client.close()
        server.stop()
    doc = status_json(cfg, env)
    assert late not in {m["address"] for m in doc["mailboxes"]}
    assert doc["self_enrolled"]["count"] == 0
    assert [a["address"] for a in doc["intake_requests"]["addresses"]] == [late]
    assert "pw-late" not in server.output
