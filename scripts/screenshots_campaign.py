#!/usr/bin/env python3
"""Screenshots of one invitation and one reminder (their HTML part, as pecsync composes it),
at 1280 px and 390 px wide, into docs/screenshots/campaign-*.png (docs/guides/campaign.md).

Debian's headless chromium through chromium-driver (Selenium) opens the message's HTML from a
file, as a mail client would show it.

    .venv/bin/python scripts/screenshots_campaign.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

from pecsync.campaign.compose import Letter, compose  # noqa: E402
from pecsync.config.member_provider import BUILT_IN  # noqa: E402

WIDTHS = (1280, 390)
LINK = "https://migrazione.ordine-avvocati.example/i/Vq3kX9pL2mYb7TzR4sWc8nHf1dGj6aKe0uQo5xIy"


def letters() -> dict[str, Letter]:
    common = dict(address="mario.rossi@pec.ordine-avvocati.example", link=LINK,
                  order_name="Ordine degli Avvocati di Esempio", deadline=date(2027, 3, 31),
                  provider=BUILT_IN["aruba"],
                  contacts=("segreteria@ordine-avvocati.example", "06 1234567"),
                  switch_at=datetime(2027, 4, 1, 4, 0, tzinfo=UTC))
    return {
        "invite": Letter(wave="invite", state="waiting_credentials", today=date(2027, 3, 1),
                         **common),  # type: ignore[arg-type]
        "reminder-2fa": Letter(wave="-7d", state="blocked_2fa", today=date(2027, 3, 24),
                               **common),  # type: ignore[arg-type]
    }


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
    print(f"  {path} ({path.stat().st_size // 1024} KB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pecsync-campaign-"))
    pages = {}
    for name, letter in letters().items():
        page = work / f"{name}.html"
        page.write_text(compose(letter).html, "utf-8")
        pages[name] = page
    for width in WIDTHS:
        driver = browser(width)
        try:
            for name, page in pages.items():
                driver.get(page.as_uri())
                shot(driver, out / f"campaign-{name}-{width}.png")
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
