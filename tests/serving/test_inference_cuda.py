"""The predict path on a CUDA GPU: classifiers moved to the GPU give, for prepared inputs (the shipped
digits of data/01_raw/my_digits and one unreadable file), the table of predictions the CPU gives."""

import copy

import numpy as np
import pytest
import torch

from practical_dl.core.config import TrainConfig
from practical_dl.core.engine import fit
from practical_dl.core.standardise import Standardiser
from practical_dl.models.classifier import make_classifier
from practical_dl.models.networks import SimpLeNet
from practical_dl.serving.inference import prediction_rows, prepare_inputs
from tests.conftest import ROOT

pytestmark = pytest.mark.cuda

STATS = Standardiser(mean=(0.1307,), std=(0.3081,), scale=255.0)
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")  # the shipped files' first words
PROBABILITIES = [f"p_{digit}" for digit in range(10)]


def shipped_digits() -> dict[str, bytes]:
    folder = ROOT / "data" / "01_raw" / "my_digits"
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if not path.name.startswith(".")}


def classifiers_for(inputs) -> dict:
    """An untrained SimpLeNet+ (batch norm, dropout) as the CPU tests build it, and a SimpLeNet fitted
    on the CPU to the prepared inputs themselves (decisive predictions: the digits' names)."""
    torch.manual_seed(0)
    params = {"name": "simplenet", "label": "SimpLeNet+", "options": {"batch_norm": True, "dropout": 0.25}}
    untrained = make_classifier(SimpLeNet(batch_norm=True, dropout=0.25), STATS, params, 1, 28)
    ok = [item for item in inputs if item.ok]
    images = np.stack([item.prepared.image for item in ok])[:, None]
    labels = np.array([DIGITS.index(item.name.split("_")[0]) for item in ok], np.uint8)
    config = TrainConfig(
        epochs=15, batch_size=len(ok), optimizer="adam", lr=2e-3, schedule="constant", device="cpu", precision="fp32", progress=False
    )
    torch.manual_seed(0)
    network = fit(SimpLeNet(), (images, labels), None, STATS, config).model
    trained = make_classifier(network.to("cpu"), STATS, {"name": "simplenet"}, 1, 28)
    return {"untrained": untrained, "trained": trained}


def test_classifiers_on_the_gpu_predict_what_they_predict_on_the_cpu():
    inputs = prepare_inputs({**shipped_digits(), "broken.png": b"not an image"})
    assert [item.ok for item in inputs] == [True] * (len(inputs) - 1) + [False]
    on_cpu = classifiers_for(inputs)
    on_gpu = {name: copy.deepcopy(classifier).to("cuda") for name, classifier in on_cpu.items()}
    expected, table = prediction_rows(on_cpu, inputs), prediction_rows(on_gpu, inputs)
    assert all(next(c.parameters()).device.type == "cuda" for c in on_gpu.values())  # predicting did not move them
    assert all(next(c.parameters()).device.type == "cpu" for c in on_cpu.values())
    assert list(table.columns) == list(expected.columns) and len(table) == len(expected) == 2 * (len(inputs) - 1) + 1
    same = ["image", "model", "label", "status", "reason"]
    assert table[same].fillna("").equals(expected[same].fillna(""))
    trained, trained_cpu = table[table["model"] == "trained"], expected[expected["model"] == "trained"]
    assert list(trained["prediction"]) == list(trained_cpu["prediction"])
    assert list(trained["prediction"]) == [str(DIGITS.index(name.split("_")[0])) for name in trained["image"]]
    ok, ok_cpu = table[table["status"] == "ok"], expected[expected["status"] == "ok"]
    np.testing.assert_allclose(ok[PROBABILITIES].to_numpy(float), ok_cpu[PROBABILITIES].to_numpy(float), rtol=0, atol=1e-3)
    assert np.allclose(ok[PROBABILITIES].to_numpy(float).sum(1), 1, atol=1e-5)
