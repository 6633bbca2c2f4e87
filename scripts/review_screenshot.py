"""Screenshot of the review queue (docs/review-queue.png) from a synthetic demo board, never real data.

jobtag --home /tmp/demo demo && python scripts/review_screenshot.py --home /tmp/demo/demo
"""

from __future__ import annotations

import argparse
import socket
import threading
import time
from pathlib import Path

import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from jobtag.config import load_settings
from jobtag.service import create_app
from jobtag.store import JobStore


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", required=True, type=Path, help="the demo's folder (synthetic jobs)")
    ap.add_argument("--out", type=Path, default=Path("docs/review-queue.png"))
    args = ap.parse_args()
    settings = load_settings(overrides={"home": args.home}, environ={})
    with JobStore(settings.database_url) as store:
        name = f"screenshot-{int(time.time())}"
        token = store.create_token(name, "read")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    opts = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1100"):
        opts.add_argument(arg)
    browser = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    try:
        browser.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(browser, 30)
        wait.until(lambda b: b.find_element(By.ID, "login").is_displayed())
        browser.find_element(By.ID, "token").send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#queue article.item")) >= 3)
        browser.find_elements(By.CSS_SELECTOR, "#queue summary")[0].click()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(args.out))
    finally:
        browser.quit()
        srv.should_exit = True
        with JobStore(settings.database_url) as store:
            store.revoke_token(name)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
