"""The upload page in a real browser (Debian's headless Chromium) against the local API."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    with chromium(tmp_path_factory) as driver:
        yield driver


@contextmanager
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    """Debian's headless Chromium under selenium, quit on exit."""
    if not (Path(CHROMEDRIVER).exists() and shutil.which("chromium")):
        pytest.fail("Debian's chromium and chromium-driver are missing: run `make browser`")
    options = webdriver.ChromeOptions()
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=900,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.mark.slow
@pytest.mark.parametrize(("photo", "label"), [("kitten", "cat"), ("dog", "dog")])
def test_choosing_a_photo_shows_its_label(
    browser: webdriver.Chrome, local_api_url: str, photos: dict[str, Path], photo: str, label: str
) -> None:
    browser.get(local_api_url + "/")
    WebDriverWait(browser, 10).until(lambda _: browser.title == "Cat or dog?")  # from GET model
    assert browser.find_element(By.ID, "heading").text == "Cat or dog?"
    result = browser.find_element(By.ID, "result")
    browser.find_element(By.ID, "file").send_keys(str(photos[photo]))  # the page submits on change
    WebDriverWait(browser, 30).until(
        lambda _: result.text and result.text != "Thinking..."
    )
    assert result.text.split(" ")[0] == label, result.text
    assert "error" not in (result.get_attribute("class") or "")
    rows = [li.text.split() for li in browser.find_elements(By.CSS_SELECTOR, "#probabilities li")]
    assert [r[0] for r in rows] == [label, ({"cat", "dog"} - {label}).pop()], rows
    percents = [float(r[-1].rstrip("%")) for r in rows]
    assert percents[0] >= percents[1] and sum(percents) == pytest.approx(100, abs=0.2)
    preview = browser.find_element(By.ID, "preview")
    WebDriverWait(browser, 10).until(expected_conditions.visibility_of(preview))
    assert browser.execute_script("return arguments[0].naturalWidth", preview) > 0
    browser.save_screenshot(str(SCREENSHOT_DIR / f"upload-page-{photo}.png"))


@pytest.mark.slow
def test_heading_follows_the_served_models_labels(browser: webdriver.Chrome, seed_handler) -> None:
    """The seed model (labels horizontal, vertical) gets its own question, not "Cat or dog?"."""
    from infra.local_api import serve

    with serve(seed_handler) as url:
        browser.get(url + "/")
        WebDriverWait(browser, 10).until(lambda _: browser.title == "Horizontal or vertical?")
    assert browser.find_element(By.ID, "heading").text == "Horizontal or vertical?"


@pytest.mark.slow
def test_a_tensor_model_page_shows_its_signature_and_a_curl_that_works(
    browser: webdriver.Chrome, tmp_path: Path
) -> None:
    """A model that takes no images: no upload form; its inputs and outputs, and a curl example
    whose JSON body the API accepts as it stands."""
    import json
    import shlex
    import urllib.request

    from handler.adapter import lambda_handler
    from handler.api import create_app
    from handler.config import Settings
    from handler.loader import load_model
    from infra.local_api import serve
    from tests.tensor_models import multi_io

    model = load_model(Settings.from_env({"MODEL_DIR": str(multi_io(tmp_path / "multi"))}))
    with serve(lambda_handler(create_app(model))) as url:
        browser.get(url + "/")
        example = browser.find_element(By.ID, "example")
        WebDriverWait(browser, 10).until(lambda _: example.text.startswith("curl"))
        assert not browser.find_elements(By.CSS_SELECTOR, "input[type=file]")
        rows = [tr.text.split() for tr in browser.find_elements(By.CSS_SELECTOR, "#inputs tbody tr")]
        assert rows == [["features", "float32", "[?,", "3]"], ["ids", "int32", "[?,", "?]"],
                        ["flag", "bool", "[?]"]]
        outputs = browser.find_elements(By.CSS_SELECTOR, "#outputs tbody tr")
        assert [tr.text.split()[0] for tr in outputs] == ["total", "doubled", "scores"]
        words = shlex.split(example.text)
        body, target = words[words.index("-d") + 1], words[-1]
        request = urllib.request.Request(target, body.encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            answer = json.loads(response.read())
        assert set(answer["outputs"]) == {"total", "doubled", "scores"}
        browser.save_screenshot(str(SCREENSHOT_DIR / "tensor-model-page.png"))
