#!/usr/bin/env python3
"""Screenshots of every member page of the intake page, at 1280 px and 390 px wide, into
docs/screenshots/ (shown in docs/guides/member-page.md).

Starts two lab Dovecot servers, imports a small list, runs `pecsync serve` and drives Debian's
headless chromium through chromium-driver (Selenium), as a member would.

    .venv/bin/python scripts/screenshots_intake.py [--out docs/screenshots]
    .venv/bin/python scripts/screenshots_intake.py --serve    # open the page yourself
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from lab.dovecot import free_port, lab_pair, servers_toml  # noqa: E402

KEY = "q3Jd0mFf1y3oN0K2mU4n1v3rS4lK3yF0rT3sTs0nLy0="
WIDTHS = (1280, 390)


def config(work: Path, src: Any, dst: Any, extra: str, name: str = "pecsync.toml",
           switch_at: str = "2027-03-31T06:00:00+02:00") -> Path:
    limit = "" if "rate_per_address =" in extra else "rate_per_address = 2"
    text = servers_toml(src, dst) + f"""
[migration]
deadline = 2027-03-31
switch_at = {switch_at}

[intake]
contact = "segreteria@ordine-avvocati.example · 06 1234567"
pow_bits = 12
min_fill_seconds = 1
{limit}
new_webmail_url = "https://webmail.nuovo-gestore.example/"
{extra}
[orders."Ordine degli Avvocati di Esempio"]
slug = "avvocati-esempio"
domains = ["pec.avvocati-esempio.it"]
"""
    path = work / name
    path.write_text(text)
    return path


def personal_link(cfg: Path, address: str) -> str:
    """A personal link token, as `pecsync invite` issues one (pecsync.store.links)."""
    import anyio

    from pecsync.config import load_config
    from pecsync.store.checkpoints import CheckpointStore
    from pecsync.store.links import LinkStore

    config_ = load_config(cfg)

    async def go() -> str:
        async with await CheckpointStore.open(config_.state) as store:
            return await LinkStore(store).issue(address, "Ordine degli Avvocati di Esempio")

    return anyio.run(go)


def serve(cfg: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "serve", "--config", str(cfg),
                             "--listen", f"127.0.0.1:{port}"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit("pecsync serve did not start")


def browser(width: int) -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--hide-scrollbars",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='pecsync-shots-')}",
                 f"--window-size={width},900"):
        options.add_argument(flag)
    if width < 500:  # a phone: its own viewport and pixel ratio 1 (small files)
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": 844, "pixelRatio": 1.0}})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def shot(driver: webdriver.Chrome, path: Path) -> None:
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    width = int(driver.execute_script("return document.documentElement.clientWidth"))
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": max(height, 300), "scale": 1}})
    path.write_bytes(base64.b64decode(data["data"]))
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({path.stat().st_size // 1024} KB)")


def send(driver: webdriver.Chrome, url: str, address: str | None, password: str) -> None:
    driver.get(url)
    if address is not None:
        driver.find_element(By.ID, "address").send_keys(address)
    driver.find_element(By.ID, "password").send_keys(password)
    html = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.ID, "send").click()

    def gone(_: Any) -> bool:  # chromium sometimes says "not in the document" otherwise
        try:
            return bool(ec.staleness_of(html)(driver))
        except WebDriverException:
            return True

    WebDriverWait(driver, 30).until(gone)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--serve", action="store_true",
                    help="no screenshots: keep the page on http://127.0.0.1:8080/ with the lab "
                         "servers until Ctrl-C, to try the member procedure in a browser")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pecsync-shots-"))
    env = dict(os.environ, PECSYNC_KEY=KEY)
    with lab_pair() as (src, dst):
        domain = "pec.avvocati-esempio.it"
        members = {name: f"{name}@{domain}" for name in ("mario.rossi", "anna.bianchi",
                                                         "luca.verdi", "paola.neri",
                                                         "giulia.russo", "marco.gallo")}
        src.add_user(members["mario.rossi"], "Password-Giusta1")
        src.add_user(members["anna.bianchi"], "Vera-Password2")
        src.add_2fa_user(members["luca.verdi"], "Password-3", "Verifica in due passaggi attiva")
        src.add_user(members["paola.neri"], "Password-4")
        src.add_user(members["giulia.russo"], "Password-5")
        src.add_user(members["marco.gallo"], "Password-6")
        # Not on the list, but at the provider in the order's domain: late members.
        late = {w: f"nuovo.iscritto{w}@{domain}" for w in WIDTHS}
        for address in late.values():
            src.add_user(address, "Password-Tardi")
            dst.add_user(address, "x")
        for m in members.values():
            dst.add_user(m, "x")
        from pecsync.config import ServerConfig
        from pecsync.imap.session import ImapSession
        from pecsync.model import AppendItem, Credentials, Secret, Side

        s = ImapSession(ServerConfig(host=src.host, port=src.port, security="plain"), Side.SRC,
                        mailbox="seed")
        s.login(Credentials(members["mario.rossi"], Secret(src.master_password),
                            src.master_user))
        from datetime import UTC, datetime, timedelta
        s.append("INBOX", [AppendItem(b"Subject: PEC %d\r\n\r\nTesto\r\n" % i, ("\\Seen",),
                                      datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=i))
                           for i in range(1, 43)]).raise_refused()
        s.logout()
        csv = work / "list.csv"
        csv.write_text("order,address,source_user,source_password,dest_user,dest_password\n"
                       + "".join(f"Ordine degli Avvocati di Esempio,{m},,,,\n"
                                 for m in members.values()))
        env["PECSYNC_DEST_PASSWORD"] = dst.master_password
        cfg = config(work, src, dst, "")
        closed = config(work, src, dst, 'closes_at = 2026-01-01T00:00:00+01:00\n', "closed.toml")
        # The same database after the switch-over (and with a low ceiling of failed checks
        # per address across clients, to show that page).
        after = config(work, src, dst, "rate_per_address = 5\nrate_per_address_ceiling = 2\n",
                       "after.toml", switch_at="2026-01-01T06:00:00+01:00")
        subprocess.run([sys.executable, "-m", "pecsync", "import", "--config", str(cfg),
                        str(csv)], env=env, cwd=ROOT, check=True, capture_output=True)
        if args.serve:
            print("\nintake page: http://127.0.0.1:8080/  (order page: "
                  "http://127.0.0.1:8080/o/avvocati-esempio)\n"
                  "  mario.rossi / Password-Giusta1      right password (42 messages)\n"
                  "  anna.bianchi / Vera-Password2       try a wrong one first\n"
                  "  luca.verdi / Password-3             2-step verification on\n"
                  "  any other address                   not in the list\n"
                  f"then copy what was accepted: PECSYNC_KEY={KEY} PECSYNC_DEST_PASSWORD="
                  f"{dst.master_password} .venv/bin/pecsync run --config {cfg}\n"
                  "Ctrl-C stops the page and the lab servers.")
            with contextlib.suppress(KeyboardInterrupt):
                subprocess.run([sys.executable, "-m", "pecsync", "serve", "--config", str(cfg)],
                               env=env, cwd=ROOT, check=False)
            return 0
        server, url = serve(cfg, env)
        closed_server, closed_url = serve(closed, env)
        after_server, after_url = serve(after, env)
        try:
            for width in WIDTHS:
                print(f"{width} px:")
                d = browser(width)
                try:
                    d.get(url + "/")
                    shot(d, out / f"01-form-{width}.png")
                    d.get(url + "/o/avvocati-esempio")
                    shot(d, out / f"02-order-form-{width}.png")
                    send(d, url + "/o/avvocati-esempio", "mario.rossi", "Password-Giusta1")
                    shot(d, out / f"03-accepted-{width}.png")
                    status = d.find_element(By.ID, "status-link").get_attribute("href")
                    d.get(status)
                    shot(d, out / f"04-status-pending-{width}.png")
                    if width == WIDTHS[0]:
                        subprocess.run([sys.executable, "-m", "pecsync", "run", "--config",
                                        str(cfg)], env=env, cwd=ROOT, capture_output=True)
                    d.get(status)
                    shot(d, out / f"05-status-done-{width}.png")
                    send(d, url + "/", members["anna.bianchi"], "sbagliata")
                    shot(d, out / f"06-invalid-{width}.png")
                    send(d, url + "/", members["luca.verdi"], "Password-3")
                    shot(d, out / f"07-twofa-{width}.png")
                    send(d, url + "/", "mario.rossi@gmail.com", "qualsiasi")
                    shot(d, out / f"08-unknown-{width}.png")
                    for _ in range(3):
                        send(d, url + "/", members["paola.neri"], "no")
                    shot(d, out / f"09-rate-limited-{width}.png")
                    d.get(closed_url + "/")
                    shot(d, out / f"10-closed-{width}.png")
                    d.get(url + "/?lang=en")
                    shot(d, out / f"11-form-en-{width}.png")
                    token = personal_link(cfg, members["giulia.russo"])
                    d.get(f"{url}/i/{token}")
                    shot(d, out / f"12-personal-link-{width}.png")
                    d.get(f"{url}/i/{token[:20]}")
                    shot(d, out / f"13-link-unknown-{width}.png")
                    send(d, url + "/o/avvocati-esempio", late[width].split("@")[0],
                         "Password-Tardi")
                    shot(d, out / f"14-enrolled-{width}.png")
                    for _ in range(2):
                        send(d, after_url + "/", members["marco.gallo"], "no")
                    send(d, after_url + "/", members["marco.gallo"], "Password-6")
                    shot(d, out / f"15-ceiling-{width}.png")
                    d.get(status.replace(url, after_url))
                    shot(d, out / f"16-status-switched-{width}.png")
                    send(d, url + "/?lang=en", members["giulia.russo"], "wrong")
                    shot(d, out / f"17-invalid-en-{width}.png")
                finally:
                    d.quit()
        finally:
            for proc in (server, closed_server, after_server):
                proc.terminate()
                proc.wait(timeout=15)
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
