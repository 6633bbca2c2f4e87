"""The review queue in a real browser (headless Chromium): keyboard review, explanations, no XSS."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from jobtag.records import Job

from .helpers import board_file, trained_tagger

PAYLOADS = [
    "x');window.__xss=1;//",
    '<img src=x onerror="window.__xss=2">',
    '"><script>window.__xss=3</script>',
    "it's <b>bold</b>",
]
MARK = "zz-payload"  # an extra tag on the payload jobs, to filter them


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
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1300,1000"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("JOBTAG_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from jobtag.jobfiles import read_jobs
    from jobtag.service import create_app

    folder = tmp_path_factory.mktemp("page")
    tagger = trained_tagger(folder, jobs=150)
    settings = tagger.settings
    settings.update.every_n_jobs = 10**9
    new = list(read_jobs(board_file(folder, jobs=12, seed=11, start_id=5000)))
    tagger.predict([Job(job_id=j.job_id, title=j.title, description=j.description) for j in new])
    model, version = tagger.load_model()
    sure = min(0.999, float(model.thresholds[model.tags.index("Sales")]) + 0.6)
    payload_jobs = [Job(job_id=p, title=p, description=f"<p>{p}</p> sales quota", company_name=p)
                    for p in PAYLOADS]  # fmt: skip
    tagger.store.record_predictions_many(
        [(j, {p: 0.9, "Sales": sure, MARK: 0.9}, [p, "Sales", MARK])
         for j, p in zip(payload_jobs, PAYLOADS, strict=True)],
        version, "test",
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


def _get(url: str, token: str) -> dict:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:  # noqa: S310 - our own test server
        return json.load(r)


def _login(browser, url: str, token: str):  # noqa: ANN001, ANN202
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url + "/")
    wait = WebDriverWait(browser, 30)
    wait.until(lambda b: b.find_element(By.ID, "login").is_displayed())
    browser.find_element(By.ID, "token").send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#queue article.item")) >= 3)
    return wait


def test_keyboard_review_of_three_jobs_is_stored(server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, token, _settings = server
    before = _get(url + "/review/counts", token)
    queue = _get(url + "/review/queue?limit=3&explain=false", token)["items"]
    doubts = [i["doubt"] for i in queue]
    assert doubts == sorted(doubts)  # least certain first
    browser = _chrome()
    try:
        wait = _login(browser, url, token)
        items = browser.find_elements(By.CSS_SELECTOR, "#queue article.item")
        shown = [i.get_attribute("data-job") for i in items[:3]]
        assert shown == [i["job_id"] for i in queue]
        # an explanation of a suggested tag is shown, made of the job's own words
        because = items[0].find_element(By.CSS_SELECTOR, ".because .for").text
        assert because and "(no word" not in because
        first_words = because.replace("“", "").replace("”", "").replace("(title)", "").lower()
        text = (queue[0]["title"] + " " + queue[0]["description"]).lower()
        assert any(w.strip() in text for w in first_words.split(",") if w.strip())
        keys = ActionChains(browser)
        keys.send_keys("a").perform()  # 1st: accept as is (focus moves on)
        wait.until(lambda b: "accepted" in items[0].find_element(By.CSS_SELECTOR, ".saved").text)
        keys.send_keys("1").perform()  # 2nd: remove its first tag, add one, save
        keys.send_keys("t").perform()
        ActionChains(browser).send_keys("reviewed-by-keys", Keys.ENTER, Keys.ESCAPE).perform()
        ActionChains(browser).send_keys("s").perform()
        wait.until(lambda b: "saved" in items[1].find_element(By.CSS_SELECTOR, ".saved").text)
        ActionChains(browser).send_keys("a").perform()  # 3rd: accept
        wait.until(lambda b: "accepted" in items[2].find_element(By.CSS_SELECTOR, ".saved").text)
        wait.until(lambda b: b.find_element(By.ID, "counts").text.count(" reviewed today") == 1)
        browser.save_screenshot(str(_shots(tmp_path) / "review-queue.png"))
    finally:
        browser.quit()
    stored = [_get(url + "/jobs/" + urllib.request.quote(i["job_id"], safe=""), token)
              for i in queue]  # fmt: skip
    assert stored[0]["tags"] == sorted(queue[0]["predicted"])
    assert stored[1]["tags"] == sorted([*queue[1]["predicted"][1:], "reviewed-by-keys"])
    assert stored[2]["tags"] == sorted(queue[2]["predicted"])
    assert stored[1]["corrections"][-1]["who"] == "reviewer"  # who corrected, from the token
    after = _get(url + "/review/counts", token)
    assert after["waiting"] == before["waiting"] - 3
    assert after["reviewed_today"] == before["reviewed_today"] + 3


def test_script_in_job_data_never_runs(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, token, _settings = server
    browser = _chrome()
    try:
        wait = _login(browser, url, token)
        Select(browser.find_element(By.ID, "state")).select_by_value("all")
        browser.find_element(By.ID, "tagfilter").send_keys(MARK)
        browser.find_element(By.ID, "apply").click()
        shown = (
            "return [...document.querySelectorAll('#queue article.item')].map(a => a.dataset.job)"
        )
        wait.until(lambda b: set(b.execute_script(shown)) == set(PAYLOADS))
        for item in browser.find_elements(By.CSS_SELECTOR, "#queue article.item"):
            item.find_element(By.TAG_NAME, "summary").click()  # open the description
        page = browser.find_element(By.ID, "queue").text
        for p in PAYLOADS:
            assert p in page  # ids, titles, company names and tag names shown as text, exactly
        browser.find_element(By.ID, "t").send_keys(PAYLOADS[1])
        browser.find_element(By.ID, "d").send_keys(PAYLOADS[2] + " sales quota")
        browser.find_element(By.ID, "predict").click()
        wait.until(lambda b: b.find_element(By.ID, "tryout").text)
        assert browser.execute_script("return window.__xss === undefined")
        assert not browser.find_elements(
            By.CSS_SELECTOR, "#queue img, #queue script, #queue b, #tryout img, #tryout script"
        )
        browser.save_screenshot(str(_shots(tmp_path) / "review-payloads.png"))
    finally:
        browser.quit()
