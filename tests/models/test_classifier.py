"""The one model artefact: a trained network with its standardisation, saved without pickle."""

import numpy as np
import pytest
import torch
from safetensors.torch import save as save_safetensors

from practical_dl.core.engine import predict
from practical_dl.core.standardise import Standardise, Standardiser
from practical_dl.models.classifier import (
    classifier_from_bytes,
    classifier_to_bytes,
    latest_classifier_file,
    load_classifier,
    make_classifier,
    save_classifier,
)
from practical_dl.models.networks import MLP, SimpLeNet
from practical_dl.project.datasets import ClassifierDataset

STATS = Standardiser(mean=(0.1307,), std=(0.3081,), scale=255.0)


def _classifier(network=None, params=None):
    torch.manual_seed(0)
    network = network or SimpLeNet(batch_norm=True, dropout=0.25)
    params = params or {"name": "simplenet", "label": "SimpLeNet+", "options": {"batch_norm": True, "dropout": 0.25}}
    return make_classifier(network, STATS, params, 1, 28)


def test_standardise_module_computes_exactly_what_the_standardiser_computes():
    x = torch.randint(0, 256, (7, 1, 28, 28), dtype=torch.uint8)
    module = STATS.module()
    assert torch.equal(module.raw(x), STATS(x))
    x01 = x.float() * (1 / 255.0)
    a, b = STATS.affine(x01)
    assert torch.equal(module(x01), torch.addcmul(b, x01 * 255.0, a))
    # and its statistics survive a round trip through float32 buffers unchanged
    assert torch.equal(module.standardiser.module().raw(x), module.raw(x))


def test_round_trip_keeps_everything_and_the_outputs_bit_for_bit(tmp_path):
    classifier = _classifier()
    with torch.no_grad():  # non-trivial batch-norm statistics
        classifier.network.bn1.running_mean.uniform_(-1, 1)
    path = tmp_path / "c.safetensors"
    save_classifier(classifier, path)
    loaded = load_classifier(path)
    assert loaded.label == "SimpLeNet+" and loaded.class_names == [str(d) for d in range(10)]
    assert loaded.input_shape == (1, 28, 28)
    assert loaded.standardise.scale == 255.0
    images = np.random.default_rng(0).integers(0, 256, (9, 28, 28), dtype=np.uint8)
    assert np.array_equal(classifier.probabilities(images), loaded.probabilities(images))
    # the file is plain safetensors: tensors and a JSON description, nothing pickled
    assert path.read_bytes()[8:].lstrip().startswith(b"{")


def test_probabilities_agree_with_the_engine_on_uint8_images():
    classifier = _classifier(MLP(hidden=(32,)), {"name": "mlp", "options": {"hidden": [32]}})
    images = np.random.default_rng(1).integers(0, 256, (5, 1, 28, 28), dtype=np.uint8)
    engine = torch.softmax(predict(classifier.network, images, classifier.standardiser, device="cpu"), 1).numpy()
    assert np.allclose(classifier.probabilities(images), engine, atol=1e-6)
    assert np.allclose(classifier.probabilities(images).sum(1), 1, atol=1e-5)


def test_wrong_image_shape_names_what_the_model_takes():
    with pytest.raises(ValueError, match=r"takes images of 28x28 pixels and 1 channel\(s\), got shape \(2, 1, 32, 32\)"):
        _classifier().probabilities(np.zeros((2, 32, 32), np.uint8))


def test_a_bare_state_dict_from_an_older_version_says_to_retrain(tmp_path):
    path = tmp_path / "old.safetensors"
    path.write_bytes(save_safetensors({k: v.contiguous() for k, v in SimpLeNet().state_dict().items()}))
    with pytest.raises(ValueError, match=r"old\.safetensors: a safetensors file without a classifier description.*retrain"):
        load_classifier(path)


def test_weights_of_another_architecture_are_refused_with_the_file_named(tmp_path):
    data = classifier_to_bytes(_classifier())
    # same description, weights of FC64
    other = make_classifier(MLP(hidden=(64,)), STATS, {"name": "fc64"}, 1, 28)
    tensors = {k: v.contiguous() for k, v in other.state_dict().items()}
    from practical_dl.models.classifier import METADATA_KEY, _header_metadata

    forged = save_safetensors(tensors, metadata={METADATA_KEY: _header_metadata(data, "x")[METADATA_KEY]})
    with pytest.raises(ValueError, match=r"forged: the weights do not fit the architecture"):
        classifier_from_bytes(forged, "forged")
    with pytest.raises(ValueError, match="not a safetensors file"):
        classifier_from_bytes(b"hello, world", "text")


def test_missing_file_and_latest_version(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained simplenet under .*train it first"):
        latest_classifier_file(tmp_path, "simplenet")
    for version in ("2026-01-01T00.00.00.000Z", "2026-02-01T00.00.00.000Z"):
        (tmp_path / "simplenet.safetensors" / version).mkdir(parents=True)
        save_classifier(_classifier(), tmp_path / "simplenet.safetensors" / version / "simplenet.safetensors")
    assert latest_classifier_file(tmp_path, "simplenet").parent.name == "2026-02-01T00.00.00.000Z"


def test_kedro_dataset_saves_versions_and_loads_the_classifier(tmp_path):
    from kedro.io.core import Version

    dataset = ClassifierDataset(filepath=str(tmp_path / "simplenet.safetensors"), version=Version(None, "2026-01-01T00.00.00.000Z"))
    assert not dataset.exists()
    dataset.save(_classifier())
    assert dataset.exists()
    assert isinstance(dataset.load().standardise, Standardise)
