"""The review page in a real browser (headless Chromium): script in data never runs, Save works."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

from jobtag.records import Job
from jobtag.store import JobStore

from .helpers import trained_tagger

PAYLOADS = [
    "x');window.__xss=1;//",
    '<img src=x onerror="window.__xss=2">',
    '"><script>window.__xss=3</script>',
    "it's <b>bold</b>",
]


def _chrome():  # noqa: ANN202 - a selenium WebDriver
    """Headless Chromium, or a skip (a failure in CI) when it is not installed."""
    webdriver = pytest.importorskip("selenium.webdriver")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not binary or not driver:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are needed in CI (.ci/run installs them)")
        pytest.skip(
            "chromium / chromedriver not installed (apt-get install chromium chromium-driver)"
        )
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,900"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from jobtag.service import create_app

    tagger = trained_tagger(tmp_path_factory.mktemp("page"), jobs=150)
    settings = tagger.settings
    settings.update.every_n_jobs = 10**9
    model = tagger.store.active_model()
    jobs = [Job(job_id=p, title=p, description=p, company_name=p) for p in PAYLOADS]
    tagger.store.record_predictions_many(
        [(j, {p: 0.9, "Sales": 0.1}, [p]) for j, p in zip(jobs, PAYLOADS, strict=True)],
        model.version, "test",
    )  # fmt: skip
    token = tagger.store.create_token("reviewer", "write")
    tagger.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(settings)
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token, settings
    srv.should_exit = True
    thread.join(10)


def test_script_in_job_data_never_runs_and_save_works(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    url, token, settings = server
    browser = _chrome()
    try:
        browser.get(url + "/")
        wait = WebDriverWait(browser, 20)
        wait.until(lambda b: b.find_element(By.ID, "login").is_displayed())
        browser.find_element(By.ID, "token").send_keys(token)
        browser.find_element(By.CSS_SELECTOR, "#login button").click()
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#rows tr")) >= len(PAYLOADS))
        rows = browser.find_elements(By.CSS_SELECTOR, "#rows tr")
        shown = {r.find_elements(By.TAG_NAME, "td")[0].text for r in rows}
        assert set(PAYLOADS) <= shown  # shown as text, exactly
        for row in rows:
            if row.find_elements(By.TAG_NAME, "td")[0].text in PAYLOADS:
                field = row.find_element(By.CSS_SELECTOR, "input[type=text]")
                field.clear()
                field.send_keys("Sales, reviewed")
                row.find_element(By.TAG_NAME, "button").click()
        wait.until(lambda b: b.page_source.count(">saved<") >= len(PAYLOADS))
        browser.refresh()  # the token stays for the browser session
        wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#rows tr")) >= len(PAYLOADS))
        assert browser.execute_script("return window.__xss === undefined")
        assert not browser.find_elements(By.CSS_SELECTOR, "#rows img, #rows script, #rows b")
        browser.save_screenshot(
            str(Path(os.environ.get("JOBTAG_SCREENSHOTS", tmp_path)) / "review.png")
        )
        browser.get(url + "/docs")
        wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"))
        browser.save_screenshot(
            str(Path(os.environ.get("JOBTAG_SCREENSHOTS", tmp_path)) / "docs.png")
        )
    finally:
        browser.quit()
    with JobStore(settings.database_url) as store:
        for p in PAYLOADS:
            assert store.get_job(p).tags == frozenset({"Sales", "reviewed"})
