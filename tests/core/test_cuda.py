"""The training engine on a CUDA GPU with the GPU environment's settings: what ``auto`` picks there
(device, precision, memory format), a SimpLeNet that learns, bit-identical reruns with
deterministic kernels, and predictions that agree with the CPU's."""

import copy
import os

import numpy as np
import pytest
import torch

from practical_dl.core.config import TrainConfig
from practical_dl.core.engine import fit, predict
from practical_dl.core.runtime import resolve_device, resolve_memory_format, resolve_precision
from practical_dl.core.standardise import Standardiser
from practical_dl.models.networks import SimpLeNet
from tests.conftest import shipped_parameters

# cuBLAS reads its workspace setting at its first use in the process, which may come before the
# deterministic test (practical_dl.core.runtime.use_deterministic_kernels); nothing has used CUDA at import
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

#: conf/gpu/parameters.yml's training_defaults, stated here: the bare GPU machine may lack PyYAML
#: (test_the_stated_settings_are_the_gpu_environments checks them against the file where it has it)
GPU_TRAINING_DEFAULTS = {
    "batch_size": 512,
    "lr": 0.2,
    "eval_batch_size": 10000,
    "device": "auto",
    "precision": "auto",
    "memory_format": "auto",
    "compile": False,
    "resident_memory_limit_mb": 16384,
}
#: 0.2 is the rate of the GPU environment's 15-epoch recipes; a budget of a few dozen steps
#: diverges at it (docs/benchmarks.md), so these short runs take conf/base's 0.05
SHORT_RUN = {"lr": 0.05, "epochs": 3, "seed": 1, "progress": False}
STD = Standardiser(mean=(0.2,), std=(0.3,), scale=255.0)


def squares(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28 x 28 uint8 images of 10 classes a small network separates: class k a bright 7 x 7 square
    in cell k of a 4 x 4 grid, on noise."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 1, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = divmod(int(label), 4)
        images[i, 0, 7 * row : 7 * row + 7, 7 * col : 7 * col + 7] += 150
    return images, labels


def gpu_config(**overrides) -> TrainConfig:
    return TrainConfig(**{**GPU_TRAINING_DEFAULTS, **SHORT_RUN, **overrides})


def expected_precision() -> str:
    return "bf16" if torch.cuda.is_bf16_supported() else "fp32"


@pytest.fixture(scope="module")
def trained():
    """SimpLeNet after 3 epochs of 4,096 images on the GPU, and the validation split."""
    val = squares(512, seed=1)
    torch.manual_seed(0)
    return fit(SimpLeNet(), squares(4096, seed=0), val, STD, gpu_config(), name="SimpLeNet"), val


def test_the_stated_settings_are_the_gpu_environments():
    pytest.importorskip("yaml")
    shipped = shipped_parameters("training_defaults", "parameters.yml", env="gpu")
    assert {key: shipped[key] for key in GPU_TRAINING_DEFAULTS} == GPU_TRAINING_DEFAULTS


@pytest.mark.cuda
def test_auto_picks_cuda_its_precision_and_channels_last():
    device = resolve_device("auto")
    assert device.type == "cuda"
    assert resolve_precision("auto", device) == expected_precision()
    assert resolve_memory_format("auto", device, expected_precision()) == torch.channels_last


@pytest.mark.cuda
def test_the_gpu_settings_train_on_the_gpu_and_learn(trained):
    result, _ = trained
    assert result.settings == {
        "device": "cuda",
        "precision": expected_precision(),
        "memory_format": "channels_last",
        "resident": True,
        "processes": 1,
    }
    assert all(p.device.type == "cuda" for p in result.model.parameters())
    conv = result.model.conv2.weight  # 50 x 20 x 5 x 5: its two layouts differ
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert not result.diverged
    losses = [row["train_loss"] for row in result.history]
    assert all(np.isfinite(losses)) and losses[-1] < 0.5 * losses[0]
    assert max(row["val_accuracy"] for row in result.history) > 0.95


@pytest.mark.cuda
def test_predictions_on_the_gpu_agree_with_the_cpus(trained):
    result, (images, labels) = trained
    on_cpu = predict(copy.deepcopy(result.model), images, STD, device="cpu", precision="fp32")
    assert (on_cpu.argmax(1).numpy() == labels).mean() > 0.95
    for precision, tolerance in ((expected_precision(), 2e-2), ("fp32", 1e-3)):  # fp32: TF32 convolutions at most
        on_gpu = predict(result.model, images, STD, device="cuda", precision=precision)
        assert on_gpu.device.type == "cpu" and on_gpu.dtype == torch.float32
        assert torch.equal(on_gpu.argmax(1), on_cpu.argmax(1)), precision
        torch.testing.assert_close(torch.softmax(on_gpu, 1), torch.softmax(on_cpu, 1), rtol=0, atol=tolerance)
    assert next(result.model.parameters()).device.type == "cuda"


@pytest.mark.cuda
def test_deterministic_kernels_rerun_bit_identical_on_the_gpu():
    data, runs = squares(2048, seed=2), []
    for _ in range(2):
        torch.manual_seed(0)
        runs.append(fit(SimpLeNet(), data, None, STD, gpu_config(epochs=1, deterministic=True)))
    assert not torch.are_deterministic_algorithms_enabled()  # switched off again afterwards
    first, second = (run.model.state_dict() for run in runs)
    assert runs[0].settings["device"] == "cuda" and first["conv1.weight"].device.type == "cuda"
    for name, tensor in first.items():
        assert torch.equal(tensor, second[name]), name
    assert runs[0].history[0]["train_loss"] == runs[1].history[0]["train_loss"]


@pytest.mark.cuda
def test_an_explicit_device_fp32_and_contiguous_layout_are_honoured():
    index = torch.cuda.device_count() - 1
    config = gpu_config(epochs=1, device=f"cuda:{index}", precision="fp32", memory_format="contiguous")
    torch.manual_seed(0)
    result = fit(SimpLeNet(), squares(1024, seed=3), None, STD, config)
    assert result.settings["device"] == f"cuda:{index}"
    assert (result.settings["precision"], result.settings["memory_format"]) == ("fp32", "contiguous_format")
    assert all(p.device == torch.device("cuda", index) for p in result.model.parameters())
    assert result.model.conv2.weight.is_contiguous()
