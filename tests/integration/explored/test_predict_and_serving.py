"""Using the trained models: the ``predict`` pipeline on a person's images, the registered MLflow
model in a fresh process, and ``mlflow models serve`` over HTTP (``--env test``), in the session's
``explored_project``, where ``predict`` ran right after the default run."""

import base64
import io
import json
import os
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from PIL import Image, ImageDraw

from tests.conftest import ROOT, free_port, run, runs_of, stop_process, wait_until_answers

pytestmark = pytest.mark.integration

MODELS = ["fc64", "fc256_fc256", "simplenet", "simplenet_plus"]  # trained_models


@pytest.fixture(scope="module")
def predicted_project(explored_project):
    return explored_project


def _digit_png(size=(300, 220), offset=(40, 30), ink=(20, 20, 120), paper=(245, 240, 225)) -> bytes:
    image = Image.new("RGB", size, paper)
    draw = ImageDraw.Draw(image)
    x, y = offset
    draw.line([(x, y), (x + 90, y), (x + 35, y + 150)], fill=ink, width=14)  # a 7
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _huge_png(side: int = 20_000) -> bytes:
    """A real, valid grey PNG of side x side pixels (all white), compressed to a few hundred KB."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    compressor, block = zlib.compressobj(9), (b"\x00" + b"\xff" * side) * 100
    body = b"".join(compressor.compress(block) for _ in range(side // 100)) + compressor.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_predict_writes_a_row_per_image_and_model_and_a_contact_sheet(predicted_project):
    shipped = sorted(p.name for p in (ROOT / "data" / "01_raw" / "my_digits").iterdir() if not p.name.startswith("."))
    assert len(shipped) >= 5
    table = pd.read_csv(predicted_project / "data" / "08_reporting" / "predict" / "predictions.csv", dtype={"prediction": str})
    assert sorted(table["image"].unique()) == shipped
    assert (table["status"] == "ok").all()
    assert len(table) == len(shipped) * len(MODELS)
    assert set(table["model"]) == set(MODELS)
    assert list(table["trusted"]) == list(table["model"] == "simplenet_plus")  # predict.trusted_model
    probabilities = table[[f"p_{d}" for d in range(10)]].to_numpy()
    assert np.allclose(probabilities.sum(1), 1, atol=1e-4)
    assert (table["probability"] == probabilities.max(1)).all()
    assert (predicted_project / "data" / "08_reporting" / "predict" / "contact_sheet.png").stat().st_size > 10_000
    client = MlflowClient(tracking_uri=f"sqlite:///{predicted_project / 'mlflow.db'}")
    # the first predict run: the one explored_project made (a test below runs it again on other images)
    experiment_id = client.get_experiment_by_name("practical_dl").experiment_id
    runs = client.search_runs([experiment_id], runs_of("predict"), order_by=["start_time ASC"])
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id, "reports/predict")}
    assert artifacts == {"reports/predict/predictions.csv"}


def test_every_bad_input_gets_its_own_row_and_the_good_image_is_still_predicted(predicted_project, tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    good = _digit_png()
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(good)).save(jpeg, format="JPEG", quality=90)
    blank = io.BytesIO()
    Image.new("L", (400, 300), 255).save(blank, format="PNG")
    files = {
        "good.png": good,
        "notes.png": b"shopping list: milk, eggs\n",
        "truncated.jpg": jpeg.getvalue()[: len(jpeg.getvalue()) // 2],
        "empty.png": b"",
        "blank_page.png": blank.getvalue(),
        "huge.png": _huge_png(),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    reports = tmp_path / "reports"
    start = time.perf_counter()
    run(predicted_project, pipeline_names=["predict"], runtime_params={"predict": {"folder": str(folder), "reports": str(reports)}})
    assert time.perf_counter() - start < 60
    table = pd.read_csv(reports / "predictions.csv", dtype={"prediction": str, "reason": str}).fillna({"reason": ""})
    status = {r["image"]: (r["status"], r["reason"]) for _, r in table.iterrows()}
    assert status["notes.png"][0] == "unreadable" and "not a readable image" in status["notes.png"][1]
    assert status["truncated.jpg"][0] == "unreadable"
    assert status["empty.png"] == ("empty", "the file is empty (0 bytes)")
    assert status["blank_page.png"][0] == "no_ink" and "blank" in status["blank_page.png"][1]
    assert status["huge.png"][0] == "too_large" and "400,000,000" in status["huge.png"][1]
    good_rows = table[table["image"] == "good.png"]
    assert list(good_rows["status"]) == ["ok"] * len(MODELS)
    assert len(table) == 5 + len(MODELS)
    assert (reports / "contact_sheet.png").is_file()


def _env(project: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / 'mlflow.db'}"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # uvicorn for `mlflow models serve`
    return env


def test_the_registered_model_loads_in_a_fresh_process_and_agrees_with_predict(predicted_project):
    folder = ROOT / "data" / "01_raw" / "my_digits"
    script = f"""
import json, sys, pathlib, mlflow
model = mlflow.pyfunc.load_model("models:/practical_dl_simplenet/latest")
files = sorted(p for p in pathlib.Path({str(folder)!r}).iterdir() if not p.name.startswith("."))
out = model.predict({{"image": [p.read_bytes() for p in files]}})
out["image"] = [p.name for p in files]
print(out.to_json(orient="records"))
"""
    done = subprocess.run([sys.executable, "-c", script], env=_env(predicted_project), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    served = pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1])).set_index("image")
    table = pd.read_csv(predicted_project / "data" / "08_reporting" / "predict" / "predictions.csv", dtype={"prediction": str})
    mine = table[table["model"] == "simplenet"].set_index("image").loc[served.index]
    assert list(served["prediction"].astype(str)) == list(mine["prediction"])
    columns = [f"p_{d}" for d in range(10)]
    assert np.allclose(served[columns].to_numpy(float), mine[columns].to_numpy(float), atol=1e-6)


def test_mlflow_models_serve_answers_over_http(predicted_project, tmp_path):
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "-m",
            "models:/practical_dl_simplenet/latest",
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env=_env(predicted_project),
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        wait_until_answers(
            f"http://127.0.0.1:{port}/ping",
            lambda: None if server.poll() is None else (tmp_path / "serve.log").read_text()[-3000:],
            "mlflow models serve",
            90,
            poll_s=0.5,
        )
        seven = base64.b64encode(_digit_png()).decode()
        blank = io.BytesIO()
        Image.new("L", (64, 64), 0).save(blank, format="PNG")
        body = {"dataframe_split": {"columns": ["image"], "data": [[seven], [base64.b64encode(blank.getvalue()).decode()]]}}
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())["predictions"]
        assert [a["status"] for a in answer] == ["ok", "no_ink"]
        assert abs(sum(answer[0][f"p_{d}"] for d in range(10)) - 1) < 1e-4
        assert answer[0]["prediction"] in [str(d) for d in range(10)]
        assert answer[0]["probability"] == max(answer[0][f"p_{d}"] for d in range(10))
    finally:
        stop_process(server)
        log.close()
