from unittest import mock

import numpy as np
import pytest
import torch
from torch import nn

from practical_dl.core import engine, runtime
from practical_dl.core.batches import BatchSource
from practical_dl.core.config import TrainConfig
from practical_dl.core.engine import fit, predict
from practical_dl.core.params import ParameterError
from practical_dl.core.runtime import resolve_memory_format, resolve_precision
from practical_dl.core.standardise import Standardiser
from tests.helpers.data import TWO_CLASS_STD as STD
from tests.helpers.data import two_class_images
from tests.helpers.training import cpu_config


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def test_training_lowers_the_loss_and_learns():
    data = two_class_images(256, top=True)
    result = fit(tiny_model(), data, two_class_images(64, seed=1, top=True), STD, cpu_config(epochs=4))
    losses = [row["train_loss"] for row in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.history[-1]["val_accuracy"] > 0.9
    assert not result.diverged
    assert result.settings["precision"] == "fp32"


def test_resident_and_dataloader_paths_match():
    data, val = two_class_images(256, top=True), two_class_images(64, seed=1, top=True)
    resident = fit(tiny_model(), data, val, STD, cpu_config(resident_memory_limit_mb=100))
    streamed = fit(tiny_model(), data, val, STD, cpu_config(resident_memory_limit_mb=0, num_workers=0))
    assert resident.settings["resident"] and not streamed.settings["resident"]
    for a, b in zip(resident.history, streamed.history):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-6)
        assert a["val_accuracy"] == b["val_accuracy"]
    for p, q in zip(resident.model.parameters(), streamed.model.parameters()):
        torch.testing.assert_close(p, q)


def test_dataloader_path_with_workers_serves_the_same_batches():
    images, labels = two_class_images(100, top=True)
    perm = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    a = BatchSource(images, labels, torch.device("cpu"), 32, memory_limit_mb=100)
    b = BatchSource(images, labels, torch.device("cpu"), 32, memory_limit_mb=0, num_workers=2)
    for (xa, ya), (xb, yb) in zip(a.batches(perm), b.batches(perm), strict=True):
        torch.testing.assert_close(xa, xb)
        torch.testing.assert_close(ya, yb)


def test_same_seed_same_numbers():
    data = two_class_images(256, top=True)
    a = fit(tiny_model(), data, None, STD, cpu_config())
    b = fit(tiny_model(), data, None, STD, cpu_config())
    assert [r["train_loss"] for r in a.history] == [r["train_loss"] for r in b.history]


def test_deterministic_kernels_change_nothing_on_the_cpu_and_are_switched_off_afterwards():
    data = two_class_images(256, top=True)
    plain = fit(tiny_model(), data, None, STD, cpu_config())
    assert not torch.are_deterministic_algorithms_enabled()
    seen = []
    original = engine.train_epochs

    def spy(*args, **kwargs):
        seen.append((torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark))
        return original(*args, **kwargs)

    with mock.patch.object(engine, "train_epochs", spy):
        strict = fit(tiny_model(), data, None, STD, cpu_config(deterministic=True))
    assert seen == [(True, True, False)]
    assert not torch.are_deterministic_algorithms_enabled() and not torch.backends.cudnn.deterministic
    for name, tensor in plain.model.state_dict().items():
        assert torch.equal(tensor, strict.model.state_dict()[name]), name


def test_auto_precision_is_fp32_on_every_cpu():
    cpu = torch.device("cpu")
    for native in (False, True):
        with mock.patch.object(runtime, "cpu_has_native_bf16", return_value=native):
            assert resolve_precision("auto", cpu) == "fp32"
            assert resolve_precision("fp32", cpu) == "fp32"
            assert resolve_precision("bf16", cpu) == "bf16"
    assert resolve_memory_format("auto", cpu, "bf16") == torch.channels_last
    assert resolve_memory_format("auto", cpu, "fp32") == torch.channels_last
    assert resolve_memory_format("contiguous", cpu, "bf16") == torch.contiguous_format
    assert resolve_memory_format("auto", torch.device("mps"), "fp32") == torch.contiguous_format


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ({"fpu", "sse2", "avx2", "avx512f", "avx512_bf16"}, True),  # Cooper Lake, Zen 4
        ({"fpu", "avx2", "avx512f", "amx_tile", "amx_bf16", "amx_int8"}, True),  # Sapphire Rapids
        ({"fpu", "sse2", "avx2", "avx512f", "avx512bw", "avx512_vnni"}, False),  # Cascade Lake
        ({"fpu", "sse2", "avx2", "fma"}, False),  # Zen 2
        (set(), False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(flags, native):
    assert runtime.cpu_has_native_bf16(flags) is native


def test_cpu_flags_are_read_from_cpuinfo_text():
    text = "processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu avx2 avx512_bf16\n"
    assert runtime.cpu_flags(text) == {"fpu", "avx2", "avx512_bf16"}
    assert runtime.cpu_has_native_bf16(runtime.cpu_flags(text))
    assert runtime.cpu_flags("Features\t: fp asimd bf16\n") == {"fp", "asimd", "bf16"}  # arm64 names its flags Features
    assert runtime.cpu_flags("") == frozenset()


def test_explicit_precisions_are_honoured_where_bf16_exists():
    with mock.patch.object(runtime, "cpu_has_native_bf16", return_value=True):
        result = fit(tiny_model(), two_class_images(64, top=True), None, STD, cpu_config(epochs=1, precision="fp32"))
        assert result.settings["precision"] == "fp32"
        result = fit(tiny_model(), two_class_images(64, top=True), None, STD, cpu_config(epochs=1, precision="auto"))
        assert result.settings["precision"] == "fp32"
        result = fit(tiny_model(), two_class_images(64, top=True), None, STD, cpu_config(epochs=1, precision="bf16"))
        assert result.settings["precision"] == "bf16"
        assert result.settings["memory_format"] == "channels_last"


def test_no_step_reads_a_tensor_back_to_the_host():
    """Metrics stay on the device: host read-backs are per epoch, not per step."""
    calls = {"n": 0}
    original_item, original_float = torch.Tensor.item, torch.Tensor.__float__

    def counting(fn):
        def wrapper(self, *a, **k):
            calls["n"] += 1
            return fn(self, *a, **k)

        return wrapper

    data = two_class_images(320, top=True)  # 10 steps per epoch
    with (
        mock.patch.object(torch.Tensor, "item", counting(original_item)),
        mock.patch.object(torch.Tensor, "__float__", counting(original_float)),
    ):
        fit(tiny_model(), data, two_class_images(64, seed=1, top=True), STD, cpu_config(epochs=2, batch_size=32))
    steps = 2 * 10
    assert calls["n"] <= 2 * 4  # four numbers per epoch: train loss/accuracy, validation loss/accuracy
    assert calls["n"] < steps


def test_divergence_stops_training_without_raising():
    images, labels = two_class_images(256, top=True)
    result = fit(tiny_model(), (images, labels), None, STD, cpu_config(epochs=5, lr=1e6, optimizer="sgd", momentum=0.0, max_loss=50))
    assert result.diverged
    assert len(result.history) < 5
    assert "train loss" in result.divergence_reason


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [  # each kind of rule: range, NaN, type, choice (and an unknown key, below)
        ("lr", 0.0, "lr: must be > 0, got 0.0"),
        ("lr", -1e-3, "lr: must be > 0, got -0.001"),
        ("batch_size", 0, "batch_size: must be > 0, got 0"),
        ("batch_size", -8, "batch_size: must be > 0, got -8"),
        ("epochs", 1.5, "epochs: must be an integer, got 1.5"),
        ("optimizer", "rmsprop", "optimizer: must be one of 'sgd', 'adam' or 'adamw', got 'rmsprop'"),
        ("precision", "fp8", "precision: must be one of 'auto', 'fp32' or 'bf16', got 'fp8'"),
        ("deterministic", "yes", "deterministic: must be true or false, got 'yes'"),
        ("lr", float("nan"), "lr: must be a finite number, got nan"),
        ("lr", "fast", "lr: must be a number, got 'fast'"),
        ("weight_decay", -0.1, "weight_decay: must be >= 0, got -0.1"),
        ("checkpoint_every", -1, "checkpoint_every: must be >= 0, got -1"),
        ("resume", "no", "resume: must be true or false, got 'no'"),
        ("device", "tpu", "device: must be one of auto, cpu, cuda, mps or cuda:N, got 'tpu'"),
    ],
)
def test_invalid_configuration_names_the_parameter_the_rule_and_the_value(field, value, message):
    with pytest.raises(ParameterError) as failure:
        TrainConfig.from_dict({field: value}, where="simplenet.training")
    assert str(failure.value) == f"invalid parameter simplenet.training.{message}"


def test_unknown_configuration_key():
    with pytest.raises(ParameterError, match=r"^unknown parameter m\.training\.learning_rate: remove it or check its spelling$"):
        TrainConfig.from_dict({"learning_rate": 0.1}, where="m.training")


def test_every_mistake_of_a_block_is_named_at_once():
    with pytest.raises(ParameterError) as failure:
        TrainConfig.from_dict({"lr": -1, "epochs": 0, "optimiser": "adam"}, where="m.training")
    assert sorted(str(failure.value).splitlines()) == [
        "invalid parameter m.training.epochs: must be > 0, got 0",
        "invalid parameter m.training.lr: must be > 0, got -1",
        "unknown parameter m.training.optimiser: remove it or check its spelling",
    ]


def test_predict_matches_the_model_in_fp32():
    model = tiny_model().eval()
    images, _ = two_class_images(50, top=True)
    logits = predict(model, images, STD, device="cpu", precision="fp32", batch_size=16)
    expected = model(STD(torch.from_numpy(images)))
    torch.testing.assert_close(logits, expected.detach(), rtol=1e-5, atol=1e-5)


def test_regression_task_learns_a_standardised_target():
    """Predict the mean brightness (a float target) with MSE; the score is the mean absolute error."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(256, 1, 8, 8)).astype(np.uint8)
    target = images.mean(axis=(1, 2, 3)).astype(np.float32)
    t = Standardiser(mean=(float(target.mean()),), std=(float(target.std()),), dim=0)
    y = t(torch.from_numpy(target)).numpy()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 1))
    result = fit(model, (images, y), (images, y), STD, cpu_config(epochs=20, lr=0.02, batch_size=16), task="regression")
    assert "val_mae" in result.history[-1] and "val_accuracy" not in result.history[-1]
    assert result.history[-1]["val_mae"] < 0.5 * result.history[0]["val_mae"]
    prediction = t.inverse(predict(result.model, images, STD, device="cpu", precision="fp32")[:, 0])
    assert float((prediction - torch.from_numpy(target)).abs().mean()) < 0.3 * float(target.std())
