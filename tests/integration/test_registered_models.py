"""Models registered before the package had layers still load from the registry and predict."""

import io
import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from PIL import Image

FIXTURE = Path(__file__).parent / "fixtures" / "model_registered_at_e3bb22f"


def bar_png() -> bytes:
    """The image the fixture's expected answer was computed for: a vertical bar."""
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_model_registered_by_the_flat_package_loads_and_predicts_as_it_did(tmp_path):
    code = (FIXTURE / "model" / "mlflow_model_code.py").read_text()
    assert "from practical_dl.serving import DigitClassifierModel" in code  # the old module path, as logged
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    try:
        mlflow.set_experiment("registered_before_the_layers")
        with mlflow.start_run() as run:
            mlflow.log_artifacts(str(FIXTURE / "model"), "classifier_model")
        version = mlflow.register_model(f"runs:/{run.info.run_id}/classifier_model", "practical_dl_fc16")
        model = mlflow.pyfunc.load_model(f"models:/practical_dl_fc16/{version.version}")
        answer = model.predict(pd.DataFrame({"image": [bar_png()]}))
    finally:
        mlflow.set_tracking_uri(None)
    expected = json.loads((FIXTURE / "expected.json").read_text())
    assert answer["status"].tolist() == expected["status"]
    assert answer["prediction"].tolist() == expected["prediction"]
    for digit in range(10):
        np.testing.assert_allclose(answer[f"p_{digit}"], expected[f"p_{digit}"], rtol=1e-6)
