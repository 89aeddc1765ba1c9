#!/usr/bin/env python3
"""Screenshots of every member page of the intake page, at 1280 px and 390 px wide, into
docs/screenshots/ (shown in docs/guides/member-page.md).

Starts two lab Dovecot servers, imports a small list, runs `pecsync serve` and drives Debian's
headless chromium through chromium-driver (Selenium), as a member would.

    .venv/bin/python scripts/screenshots_intake.py [--out docs/screenshots]
    .venv/bin/python scripts/screenshots_intake.py --listen 127.0.0.1:8080   # open the page
    .venv/bin/python scripts/screenshots_intake.py --listen                  # a free port

With --listen it takes no screenshots (and needs no chromium): it prints the page's address
and the lab members' passwords to try; the vault key and the destination master password
go to a mode-0600 file whose path it prints.  Every temporary folder (the lab servers', the
database, the browsers' profiles) is removed when it ends, Ctrl-C and SIGTERM included.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lab.dovecot import free_port, lab_pair, servers_toml  # noqa: E402
from pecsync.config import ServerConfig  # noqa: E402
from pecsync.imap.session import ImapSession  # noqa: E402
from pecsync.model import AppendItem, Credentials, Secret, Side  # noqa: E402
from pecsync.vault import new_key  # noqa: E402

WIDTHS = (1280, 390)
SECRETS_FILE = "lab-secrets.env"
DOMAIN = "pec.avvocati-esempio.it"
#: The lab's members: name → (source password, what to try with it).
MEMBERS = {"mario.rossi": ("Password-Giusta1", "right password (42 messages)"),
           "anna.bianchi": ("Vera-Password2", "try a wrong one first"),
           "luca.verdi": ("Password-3", "2-step verification on"),
           "paola.neri": ("Password-4", "right password (an empty mailbox)"),
           "giulia.russo": ("Password-5", "right password (the personal-link shot)"),
           "marco.gallo": ("Password-6", "right password (the ceiling shot)")}
#: At the provider in the order's domain but not on the list: late members enrol themselves.
LATE = {width: f"nuovo.iscritto{width}@{DOMAIN}" for width in WIDTHS}
LATE_PASSWORD = "Password-Tardi"


def config(work: Path, src: Any, dst: Any, extra: str, name: str | None = None,
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
domains = ["{DOMAIN}"]
"""
    path = work / (name or ("closed.toml" if extra else "pecsync.toml"))
    path.write_text(text)
    return path


def serve(cfg: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "pecsync", "serve", "--config", str(cfg),
                             "--listen", f"127.0.0.1:{port}"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.1)
    raise SystemExit("pecsync serve did not start")


def browser(width: int, work: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--hide-scrollbars",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=work)}",
                 f"--window-size={width},900"):
        options.add_argument(flag)
    if width < 500:  # a phone: its own viewport and pixel ratio 1 (small files)
        options.add_experimental_option("mobileEmulation", {
            "deviceMetrics": {"width": width, "height": 844, "pixelRatio": 1.0}})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def shot(driver: Any, path: Path) -> None:
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    width = int(driver.execute_script("return document.documentElement.clientWidth"))
    data = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": max(height, 300), "scale": 1}})
    path.write_bytes(base64.b64decode(data["data"]))
    print(f"  {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} "
          f"({path.stat().st_size // 1024} KB)")


def send(driver: Any, url: str, address: str | None, password: str) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

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


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (port 0: a free one)."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:8080")
    return host, int(port) or free_port()


def write_secrets(work: Path, key: str, dst_master_password: str) -> Path:
    """The key and the destination master password, in a file only its owner can read."""
    path = work / SECRETS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("# lab secrets of scripts/screenshots_intake.py (removed when it stops)\n"
                  f"PECSYNC_KEY={key}\nPECSYNC_DEST_PASSWORD={dst_master_password}\n")
    return path


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--listen", nargs="?", const="127.0.0.1:0", type=listen_address,
                    metavar="HOST:PORT",
                    help="no screenshots: keep the page on HOST:PORT (without a value, or "
                         "port 0: a free port on 127.0.0.1) with the lab servers until "
                         "Ctrl-C, to try the member procedure in a browser")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pecsync-shots-"))
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        return run(args, work)
    except KeyboardInterrupt:
        print("\nstopped: the page and the lab servers are down, temporary folders removed",
              flush=True)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> int:
    env = dict(os.environ, PECSYNC_KEY=new_key())
    with lab_pair(work / "lab") as (src, dst):
        members = {name: f"{name}@{DOMAIN}" for name in MEMBERS}
        for name, (password, _) in MEMBERS.items():
            if name == "luca.verdi":
                src.add_2fa_user(members[name], password, "Verifica in due passaggi attiva")
            else:
                src.add_user(members[name], password)
            dst.add_user(members[name], "x")
        for address in LATE.values():
            src.add_user(address, LATE_PASSWORD)
            dst.add_user(address, "x")
        s = ImapSession(ServerConfig(host=src.host, port=src.port, security="plain"), Side.SRC,
                        mailbox="seed")
        s.login(Credentials(members["mario.rossi"], Secret(src.master_password),
                            src.master_user))
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
        subprocess.run([sys.executable, "-m", "pecsync", "import", "--config", str(cfg),
                        str(csv)], env=env, cwd=ROOT, check=True, capture_output=True)
        if args.listen:
            return listen(args.listen, work, cfg, env, members)
        closed = config(work, src, dst, 'closes_at = 2026-01-01T00:00:00+01:00\n')
        # The same database after the switch-over (and with a low ceiling of failed checks
        # per address across clients, to show that page).
        after = config(work, src, dst, "rate_per_address = 5\nrate_per_address_ceiling = 2\n",
                       "after.toml", switch_at="2026-01-01T06:00:00+01:00")
        return screenshots(Path(args.out), work, cfg, closed, env, members, after)


def listen(where: tuple[str, int], work: Path, cfg: Path, env: dict[str, str],
           members: dict[str, str]) -> int:
    """The page on *where* until Ctrl-C: its address and the members' passwords on the
    terminal, the key and the master password in a mode-0600 file."""
    host, port = where
    url = f"http://{host}:{port}"
    secrets = write_secrets(work, env["PECSYNC_KEY"], env["PECSYNC_DEST_PASSWORD"])
    print(f"\nintake page: {url}/  (order page: {url}/o/avvocati-esempio)")
    for name, (password, what) in MEMBERS.items():
        print(f"  {name} / {password}".ljust(38) + what)
    print(f"  {LATE[WIDTHS[0]]} / {LATE_PASSWORD}".ljust(38)
          + "not on the list, in the order's domain: enrols")
    print("  an address @ another domain".ljust(38) + "not for this procedure")
    print(f"the vault key and the destination master password: {secrets} (mode 0600)\n"
          f"then copy what was accepted: (set -a; . {secrets}; .venv/bin/pecsync run "
          f"--config {cfg})\nCtrl-C stops the page and the lab servers and removes "
          f"{work}.", flush=True)
    subprocess.run([sys.executable, "-m", "pecsync", "serve", "--config", str(cfg),
                    "--listen", f"{host}:{port}"], env=env, cwd=ROOT, check=False)
    return 0


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


def screenshots(out: Path, work: Path, cfg: Path, closed: Path, env: dict[str, str],
                members: dict[str, str], after: Path) -> int:
    from selenium.webdriver.common.by import By

    out.mkdir(parents=True, exist_ok=True)
    server, url = serve(cfg, env)
    closed_server, closed_url = serve(closed, env)
    after_server, after_url = serve(after, env)
    try:
        for width in WIDTHS:
            print(f"{width} px:")
            d = browser(width, work)
            try:
                d.get(url + "/")
                shot(d, out / f"01-form-{width}.png")
                d.get(url + "/o/avvocati-esempio")
                shot(d, out / f"02-order-form-{width}.png")
                send(d, url + "/o/avvocati-esempio", "mario.rossi", MEMBERS["mario.rossi"][0])
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
                send(d, url + "/", members["luca.verdi"], MEMBERS["luca.verdi"][0])
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
                send(d, url + "/o/avvocati-esempio", LATE[width].split("@")[0], LATE_PASSWORD)
                shot(d, out / f"14-enrolled-{width}.png")
                for _ in range(2):
                    send(d, after_url + "/", members["marco.gallo"], "no")
                send(d, after_url + "/", members["marco.gallo"], MEMBERS["marco.gallo"][0])
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
