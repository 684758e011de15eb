"""The MLflow model on a batch with bad images: each bad image is a row with its status, never an echo of the input."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from practical_dl.serving.mlflow_model import DigitClassifierModel
from tests.serving.demo import small_classifier


def png(draw=None, size=(120, 120)) -> bytes:
    image = Image.new("L", size, 255)
    if draw is not None:
        draw(ImageDraw.Draw(image))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_bad_images_in_a_batch_are_rows_with_their_status_and_the_good_ones_are_predicted():
    model = DigitClassifierModel(small_classifier(0, "SimpLeNet"))
    seven = png(lambda d: d.line([(30, 20), (90, 20), (50, 100)], fill=0, width=10))
    hostile = "<script>alert('x')</script> not base64 at all"
    truncated = base64.b64encode(seven[: len(seven) // 2]).decode()
    inputs = [
        base64.b64encode(seven).decode(),
        hostile,
        base64.b64encode(b"GIF89a" + b"\x00" * 40).decode(),
        truncated,
        "",
        base64.b64encode(png()).decode(),
        seven,
    ]
    table = model.predict(None, pd.DataFrame({"image": inputs}))
    assert len(table) == len(inputs)
    assert list(table["status"]) == ["ok", "unreadable", "unreadable", "unreadable", "empty", "no_ink", "ok"]
    assert table.loc[0, "prediction"] == table.loc[6, "prediction"]
    np.testing.assert_allclose(
        table.loc[0, [f"p_{d}" for d in range(10)]].astype(float), table.loc[6, [f"p_{d}" for d in range(10)]].astype(float)
    )
    for k in (1, 2, 3, 4, 5):
        row = table.loc[k]
        assert row["reason"] and row["prediction"] == "" and row["probability"] == 0.0
    text = " ".join(str(v) for v in table.to_numpy().ravel())
    for bad in (hostile, truncated):
        assert bad[:16] not in text  # the output never carries the input back
