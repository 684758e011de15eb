"""Screenshot kedro-viz with one dataset selected and its preview in the side panel (headless chromium).

Start kedro-viz in a project whose outputs exist (here a test-env copy), then run this script::

    cd /tmp/vizproj   # e.g. a copy made with tests.conftest.make_project_copy, after `kedro run --env test`
    KEDRO_DISABLE_TELEMETRY=true kedro viz run --env test --no-browser --host 127.0.0.1 --port 4142 &
    cd /work/main && .venv/bin/python notes/kedro_viz_screenshot.py --dataset results_table \
        --out /work/notes_tmp/kedro_viz_preview.png

It asks the API for the dataset's node id, opens ``/?pid=<pipeline>&sid=<node id>`` (kedro-viz
selects that node and opens its side panel), waits for the preview, saves a screenshot, then
clicks "Expand preview" and saves the larger preview to ``<out>_expanded.png``. Datasets of other
pipelines: ``--pipeline tricks --dataset tricks_summary``. Needs Debian's chromium and
chromium-driver (or CHROMIUM / CHROMEDRIVER) and selenium.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")


def node_id(url: str, pipeline: str, dataset: str) -> str:
    with urllib.request.urlopen(urllib.parse.urljoin(url, f"api/pipelines/{pipeline}"), timeout=120) as response:
        nodes = json.loads(response.read())["nodes"]
    ids = {node["name"]: node["id"] for node in nodes if node["type"] == "data"}
    if dataset not in ids:
        raise SystemExit(f"{dataset!r} is not a dataset of pipeline {pipeline!r}: {sorted(ids)}")
    return ids[dataset]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default="http://127.0.0.1:4142/", help="kedro-viz's address")
    parser.add_argument("--pipeline", default="__default__")
    parser.add_argument("--dataset", default="results_table")
    parser.add_argument("--out", type=Path, default=Path("/work/notes_tmp/kedro_viz_preview.png"))
    parser.add_argument("--size", default="1600,1000", help="window width,height in pixels")
    parser.add_argument("--no-expand", action="store_true", help="skip the expanded-preview screenshot")
    args = parser.parse_args()

    sid = node_id(args.url, args.pipeline, args.dataset)
    page = args.url + "?" + urllib.parse.urlencode({"pid": args.pipeline, "sid": sid})
    args.out.parent.mkdir(parents=True, exist_ok=True)

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={args.size}"):
        options.add_argument(flag)
    with tempfile.TemporaryDirectory() as profile:
        options.add_argument(f"--user-data-dir={profile}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            width, height = (int(v) for v in args.size.split(","))
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
            )
            driver.get(page)
            wait = WebDriverWait(driver, 120)
            panel = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".pipeline-metadata")))
            for close in driver.find_elements(By.CSS_SELECTOR, ".feature-hints__close"):  # the "new features" tour
                close.click()
            try:  # and its "you can revisit these hints" toast
                WebDriverWait(driver, 15).until(ec.invisibility_of_element_located((By.CSS_SELECTOR, ".feature-hints__reopen-message")))
            except TimeoutException:
                pass
            # a table's cells, a plot's image or a JSON block: whichever the dataset previews as
            preview = ".pipeline-metadata__preview td, .pipeline-metadata__plot-image, .pipeline-metadata__preview-json, .pipeline-metadata__preview img"
            wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, preview)))
            time.sleep(2)  # the flowchart's zoom-to-node transition
            driver.save_screenshot(str(args.out))
            print(f"{args.out}: {page}\n--- side panel text ---\n{panel.text}")
            if not args.no_expand:
                buttons = driver.find_elements(By.CSS_SELECTOR, "button.pipeline-metadata__link")
                if not buttons:
                    print("no 'Expand preview' button")
                    return
                buttons[0].click()
                modal = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".pipeline-metadata-modal")))
                time.sleep(1)
                expanded = args.out.with_name(args.out.stem + "_expanded" + args.out.suffix)
                driver.save_screenshot(str(expanded))
                print(f"{expanded}\n--- modal text ---\n{modal.text}")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
