"""The draw-a-digit page (practical_dl.serving.demo), with two small untrained classifiers.

The API is tested over HTTP against a real uvicorn server; the page itself is driven in Debian's
headless chromium through Selenium (skipped, saying so, where chromium or chromedriver is missing).
Set DEMO_SCREENSHOT=/path/to/file.png to keep a screenshot of the page after drawing, and
CHROMIUM / CHROMEDRIVER to use binaries other than /usr/bin/chromium and /usr/bin/chromedriver.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import uvicorn

from practical_dl.models.classifier import save_classifier
from practical_dl.serving.demo.app import create_app, load_classifiers, main
from practical_dl.serving.demo.security import SECURITY_HEADERS
from tests.conftest import wait_until_answers
from tests.serving.demo import MODELS, png_data_url, post_json, small_classifier
from tests.serving.demo import seven as draw_seven

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))  # Debian's packages chromium, chromium-driver
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))


@pytest.fixture(scope="module")
def classifiers():
    return {name: small_classifier(seed, label) for seed, (name, label) in enumerate(MODELS.items())}


@pytest.fixture(scope="module")
def server(classifiers):
    """The app on a free loopback port, served by uvicorn in a background thread; yields its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(create_app(classifiers), log_level="warning"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    wait_until_answers(url + "api/models", lambda: None if thread.is_alive() else "its thread ended", "the demo server", 15, poll_s=0.05)
    yield url
    uv.should_exit = True
    thread.join(10)
    sock.close()


# --------------------------------------------------------------------------- the API, without a browser


def test_api(server):
    with urllib.request.urlopen(server, timeout=10) as page:
        for name, value in SECURITY_HEADERS.items():
            assert page.headers[name] == value, name
    models = json.loads(urllib.request.urlopen(server + "api/models", timeout=10).read())["models"]
    assert [(m["name"], m["label"]) for m in models] == list(MODELS.items())

    blank = post_json(server + "api/predict", {"image": png_data_url()})
    assert blank["status"] == "no_ink" and blank["models"] == [] and blank["input28"] is None
    assert "no ink" in blank["reason"]

    seven = post_json(server + "api/predict", {"image": png_data_url(draw_seven)})
    assert seven["status"] == "ok"
    image = np.asarray(seven["input28"])
    assert image.shape == (28, 28) and image.max() == 255 and image.min() == 0
    assert [m["name"] for m in seven["models"]] == list(MODELS)
    for m in seven["models"]:
        assert len(m["probabilities"]) == 10
        assert sum(m["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert m["prediction"] == str(int(np.argmax(m["probabilities"])))

    # plain base64 (no data URL) is accepted too; not-base64 is refused with 422 and a reason, not a server error
    plain = png_data_url(lambda d: d.ellipse((90, 60, 190, 220), outline="black", width=16)).split(",", 1)[1]
    assert post_json(server + "api/predict", {"image": plain})["status"] == "ok"
    broken = post_json(server + "api/predict", {"image": "data:image/png;base64,not base64!"}, expect=422)
    assert broken["status"] == "unreadable" and "base64" in broken["reason"] and set(broken) == {"status", "reason"}


def test_main_needs_trained_models(tmp_path, classifiers):
    with pytest.raises(SystemExit) as exit_info:
        main(["--models-dir", str(tmp_path)])
    message = str(exit_info.value.code)
    assert "simplenet" in message and "simplenet_plus" in message and "kedro run" in message

    # only one trained: that one is loaded, the other reported (main serves the one and warns)
    version = tmp_path / "simplenet.safetensors" / "2024-01-01T00.00.00.000Z"
    version.mkdir(parents=True)
    save_classifier(classifiers["simplenet"], version / "simplenet.safetensors")
    loaded, problems = load_classifiers(tmp_path, ["simplenet", "simplenet_plus"])
    assert list(loaded) == ["simplenet"] and loaded["simplenet"].label == "SimpLeNet"
    assert list(problems) == ["simplenet_plus"] and "kedro run" in problems["simplenet_plus"]


# --------------------------------------------------------------------------- the page, in headless chromium


@pytest.fixture
def browser(tmp_path, monkeypatch):
    missing = [f"{what} ({path})" for what, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not path.exists()]
    if missing:
        pytest.skip(
            "the page's browser test needs Debian's chromium and chromedriver; "
            f"missing: {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not download drivers
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1200,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def shown_probabilities(driver) -> dict[str, list[float]]:
    bars = driver.execute_script(
        "return [...document.querySelectorAll('.bar[data-p]')].map(b => [b.dataset.model, Number(b.dataset.digit), Number(b.dataset.p)]);"
    )
    shown: dict[str, list[float]] = {}
    for model, _digit, p in sorted(bars):
        shown.setdefault(model, []).append(p)
    return shown


def preview_ink(driver) -> int:
    """How many of the 28x28 preview's pixels are not black."""
    return driver.execute_script(
        "const d = document.getElementById('input28').getContext('2d').getImageData(0, 0, 28, 28).data;"
        "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 0) n++; return n;"
    )


def wait_until(condition, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def settled(driver, state: str) -> bool:
    """The page has no prediction request in flight or waiting, and its status is ``state``."""
    status = driver.find_element("id", "status")
    return status.get_attribute("data-busy") == "false" and status.get_attribute("data-state") == state


def draw(driver, canvas, points) -> None:
    """One stroke through ``points`` (offsets from the canvas's centre), as a real mouse.

    Selenium's W3C pointer actions (ActionChains), which chromium turns into trusted
    pointerdown/pointermove/pointerup events: the page's own handlers receive them (the test counts
    them), so no PointerEvents dispatched through execute_script are needed."""
    from selenium.webdriver.common.action_chains import ActionChains

    actions = ActionChains(driver, duration=20)
    (x0, y0), rest = points[0], points[1:]
    actions.move_to_element_with_offset(canvas, x0, y0).click_and_hold()
    x, y = x0, y0
    for px, py in rest:  # a few intermediate moves per segment, as a hand gives
        for k in range(1, 4):
            tx, ty = x0 + (px - x0) * k // 3, y0 + (py - y0) * k // 3
            actions.move_by_offset(tx - x, ty - y)
            x, y = tx, ty
        x0, y0 = px, py
    actions.release().perform()


def test_draw_a_digit_page(server, browser):
    driver = browser
    driver.get(server)
    # the script and style are files of the page (the Content-Security-Policy allows nothing inline), and they load
    wait_until(lambda: driver.execute_script("return document.body.dataset.ready === 'true'"), "the model panels")
    assert driver.execute_script("return getComputedStyle(document.getElementById('pad')).borderTopWidth") == "2px"
    labels = [e.text for e in driver.find_elements("css selector", ".model h2 span:first-child")]
    assert labels == list(MODELS.values())
    assert len(driver.find_elements("css selector", ".bar")) == 20
    assert shown_probabilities(driver) == {}  # nothing predicted yet ...
    assert "draw a digit" in driver.find_element("id", "status").text.lower()  # ... but a hint
    assert preview_ink(driver) == 0

    # count the pointer events the page's canvas receives, to be sure the drawing comes from its handlers
    driver.execute_script(
        "window.seen = {pointerdown: 0, pointermove: 0, pointerup: 0};"
        "for (const t of Object.keys(window.seen)) document.getElementById('pad').addEventListener(t, () => window.seen[t]++);"
    )
    canvas = driver.find_element("id", "pad")
    draw(driver, canvas, [(-60, -80), (60, -80), (-10, 90)])  # a 7
    seen = driver.execute_script("return window.seen")
    assert seen["pointerdown"] == 1 and seen["pointerup"] == 1 and seen["pointermove"] >= 6, seen
    wait_until(lambda: settled(driver, "ok"), "the prediction of the first stroke")
    first = shown_probabilities(driver)
    assert list(first) == sorted(MODELS)
    for model, probabilities in first.items():
        assert len(probabilities) == 10
        assert sum(probabilities) == pytest.approx(1, abs=1e-3), model
    assert preview_ink(driver) > 20
    # the highlighted bar is the largest, and the heading names its digit
    for model in MODELS:
        top = driver.find_element("css selector", f".col.top .bar[data-model='{model}']")
        assert float(top.get_attribute("data-p")) == max(first[model])
    if os.environ.get("DEMO_SCREENSHOT"):
        driver.save_screenshot(os.environ["DEMO_SCREENSHOT"])

    draw(driver, canvas, [(-40, 10), (40, 10)])  # a cross-bar: a different image
    wait_until(lambda: settled(driver, "ok") and shown_probabilities(driver) != first, "the prediction of the second stroke")
    second = shown_probabilities(driver)
    for model in MODELS:
        assert sum(second[model]) == pytest.approx(1, abs=1e-3)
        assert max(abs(a - b) for a, b in zip(first[model], second[model])) > 1e-6

    driver.find_element("id", "clear").click()
    wait_until(lambda: settled(driver, "empty"), "the cleared page")
    assert shown_probabilities(driver) == {}
    assert preview_ink(driver) == 0
    assert "draw a digit" in driver.find_element("id", "status").text.lower()
    blank = driver.execute_script(
        "const d = document.getElementById('pad').getContext('2d').getImageData(0, 0, 280, 280).data; return d.every(v => v === 255);"
    )
    assert blank, "Clear left ink on the drawing canvas"
