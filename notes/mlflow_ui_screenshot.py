"""Screenshot the MLflow UI on the project's experiment in headless chromium, and check what it shows.

Start the UI on a store that holds a finished ``kedro run`` (here a test-env copy), then run this::

    cd /tmp/mlfproj   # e.g. a copy made with tests.conftest.make_project_copy, after `kedro run --env test`
    mlflow ui --backend-store-uri sqlite:////tmp/mlfproj/mlflow.db --host 127.0.0.1 --port 5055 &
    cd /work/main && .venv/bin/python notes/mlflow_ui_screenshot.py --url http://127.0.0.1:5055 \\
        --out-dir /work/notes_tmp

(the UI takes up to a minute to answer on two cores; the script waits for it). In a fresh browser
profile it saves:

- ``mlflow_ui_1_plain.png``: ``#/experiments/<id>``, the address the UI's experiment list links to;
- ``mlflow_ui_2_runs.png``: ``#/experiments/<id>?workflowType=machine_learning``, the runs table with
  the UI's default columns (the run names), and ``mlflow_ui_2b_views_menu.png``: its "Views" menu open;
- ``mlflow_ui_3_view.png``: the address a ``kedro run`` logs at its end and ``make mlflow-ui`` prints,
  ``#/experiments/<id>/runs?workflowType=machine_learning&viewStateShareKey=test_error_per_model``:
  the saved view "Test error per model".

It prints the address each page ended on, the run names and the column headers, and exits non-zero
if the runs table or the view's test-error columns do not show. The UI opens its "MLflow Assistant"
panel on a first visit; the script closes it (one click, remembered by the browser) before the
second and third screenshots so that the table has the width. Needs Debian's chromium and
chromium-driver (or CHROMIUM / CHROMEDRIVER) and selenium.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from practical_dl.project.tracking import COMPARISON_VIEW_KEY, comparison_view_url

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def experiment_id(url: str, name: str, wait_s: float = 120) -> str:
    """The id of experiment ``name``, asked of the UI's server (waiting until it answers)."""
    query = urllib.parse.urlencode({"experiment_name": name})
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/2.0/mlflow/experiments/get-by-name?{query}", timeout=10) as response:
                return json.loads(response.read())["experiment"]["experiment_id"]
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def browser(profile: Path, size: str) -> webdriver.Chrome:
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must not download drivers
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={size}",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def texts(driver, selector: str) -> list[str]:
    """The texts of the elements that match, left to right, then top to bottom (the grid places its
    cells by position, not in the order of the page)."""
    elements = [e for e in driver.find_elements(By.CSS_SELECTOR, selector) if e.text.strip()]
    return [e.text.strip() for e in sorted(elements, key=lambda e: (e.location["y"], e.location["x"]))]


def close_assistant(driver) -> None:
    for button in driver.find_elements(By.CSS_SELECTOR, '[data-component-id="mlflow.assistant.chat_panel.close"]'):
        button.click()
        time.sleep(1)


def open_page(driver, url: str, ready: str, wait_s: float) -> bool:
    """Open ``url`` and wait until an element matching the CSS selector ``ready`` shows."""
    driver.get(url)
    try:
        WebDriverWait(driver, wait_s).until(lambda d: d.find_elements(By.CSS_SELECTOR, ready))
    except TimeoutException:
        return False
    time.sleep(2)  # the grid sizes its columns after the rows arrive
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default="http://127.0.0.1:5055", help="where the MLflow UI answers")
    parser.add_argument("--experiment", default="practical_dl")
    parser.add_argument("--out-dir", type=Path, default=Path("/work/notes_tmp"))
    parser.add_argument("--window-size", default="1600,1000")
    parser.add_argument("--wait", type=float, default=90, help="seconds to wait for each page to render")
    args = parser.parse_args()
    args.out_dir.mkdir(parents=True, exist_ok=True)
    url = args.url.rstrip("/")
    eid = experiment_id(url, args.experiment)
    table = '[col-id="attributes.`Run Name`"]'
    ok = True
    with tempfile.TemporaryDirectory() as profile:
        driver = browser(Path(profile), args.window_size)
        try:
            # 1. the experiment's plain address: what the UI's experiment list opens
            open_page(driver, f"{url}/#/experiments/{eid}", f"{table}, [data-component-id]", args.wait)
            time.sleep(8)  # let it settle on the tab it redirects to
            driver.save_screenshot(str(args.out_dir / "mlflow_ui_1_plain.png"))
            print("1 plain address ended on", driver.current_url)

            # 2. the runs table in the UI's model-training mode, default columns
            ok &= open_page(driver, f"{url}/#/experiments/{eid}?workflowType=machine_learning", table, args.wait)
            close_assistant(driver)
            driver.save_screenshot(str(args.out_dir / "mlflow_ui_2_runs.png"))
            print("2 runs table ended on", driver.current_url)
            print("  run names:", [t.splitlines()[-1] for t in texts(driver, '.ag-row [col-id="attributes.`Run Name`"]')])

            # 2b. the same page's "Views" menu, which lists the saved view by name
            for trigger in driver.find_elements(By.CSS_SELECTOR, '[data-testid="saved-views-trigger"]'):
                trigger.click()
                time.sleep(2)
                driver.save_screenshot(str(args.out_dir / "mlflow_ui_2b_views_menu.png"))
                print("  views menu:", texts(driver, '[role="menu"]'))

            # 3. the saved view of each model's test error
            view = comparison_view_url(url, eid)
            ok &= open_page(driver, view, '[col-id^="metrics.`"]', args.wait)
            close_assistant(driver)
            driver.save_screenshot(str(args.out_dir / "mlflow_ui_3_view.png"))
            headers = texts(driver, ".ag-header-cell")
            print("3 saved view", COMPARISON_VIEW_KEY, "ended on", driver.current_url)
            print("  columns:", headers)
            ok &= any(h.endswith(".test_error_percent") for h in headers)
        finally:
            driver.quit()
    print("screenshots in", args.out_dir, "" if ok else "- but the runs table or the test-error columns did not show")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
