"""Training throughput of the project's engine against plain PyTorch loops, side by side.

    python -m practical_dl.tools.benchmark                  # CPU (or CUDA if present)
    python -m practical_dl.tools.benchmark --device cuda --images 60000

On the same data, in one process, for SimpLeNet at each batch size it measures training
images per second of

  (a) the engine (``practical_dl.core.engine.fit``) in fp32, with its ``auto`` settings, with
      on-device augmentation on, and in bf16 autocast where ``auto`` is fp32 (``--skip-bf16``),
  (b) a minimal hand-written loop over pre-standardised float tensors on the device,
  (c) the textbook loop: a ``torchvision.datasets``-style data set with per-sample
      ``ToTensor`` + ``Normalize`` transforms through a ``DataLoader``,

then what augmenting a 256-image batch costs beside one training step on it, the time the
engine (``auto``) takes to reach 99.2% test accuracy with the default SimpLeNet recipe, and
what ``deterministic: true`` costs and buys: two trainings with the same seed, compared weight
for weight, with and without it. Not part of the test suite: run it by hand.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from practical_dl.core.augment import build_augmentation
from practical_dl.core.config import AugmentConfig, TrainConfig
from practical_dl.core.engine import fit, predict
from practical_dl.core.runtime import cpu_has_native_bf16, resolve_device, resolve_memory_format, resolve_precision, set_seed
from practical_dl.core.standardise import Standardiser, channel_statistics
from practical_dl.models.networks import SimpLeNet
from practical_dl.project.datasets import IDXDataset

logger = logging.getLogger("practical_dl.tools.benchmark")
RAW = Path("data/01_raw/mnist")


def load_mnist(raw: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    def idx(name: str) -> np.ndarray:
        return IDXDataset(filepath=str(raw / name)).load()

    return (
        idx("train-images-idx3-ubyte.gz")[:, None],
        idx("train-labels-idx1-ubyte.gz"),
        idx("t10k-images-idx3-ubyte.gz")[:, None],
        idx("t10k-labels-idx1-ubyte.gz"),
    )


def _sgd(model: torch.nn.Module, lr: float = 0.05) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True)


def engine_throughput(images, labels, std, device, batch_size, precision, epochs, augment=None, memory_format="auto") -> float:
    """Images per second of ``fit`` (best epoch after a warm-up epoch)."""
    set_seed(0)
    config = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=0.05,
        schedule="constant",
        device=str(device),
        precision=precision,
        memory_format=memory_format,
        progress=False,
        select_best=False,
    )
    result = fit(SimpLeNet(), (images, labels), None, std, config, augment=augment, name=f"engine-{precision}")
    return max(row["images_per_second"] for row in result.history[1:] or result.history)


def minimal_throughput(images, labels, std, device, batch_size, epochs) -> float:
    """(b): pre-standardised float32 tensors on the device, a plain loop."""
    set_seed(0)
    x = std(torch.from_numpy(images)).to(device)
    y = torch.from_numpy(labels.astype(np.int64)).to(device)

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        perm = torch.randperm(len(y), device=device)
        for i in range(0, len(y), batch_size):
            idx = perm[i : i + batch_size]
            yield x[idx], y[idx]

    return _plain_loop_throughput(batches, len(y), device, epochs)


def _plain_loop_throughput(batches: Callable[[], Iterable], n: int, device: torch.device, epochs: int) -> float:
    """Images per second of a plain SGD loop over ``batches()`` (best epoch)."""
    model = SimpLeNet().to(device)
    opt = _sgd(model)
    best = 0.0
    for _ in range(epochs):
        start = time.perf_counter()
        for xb, yb in batches():
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        _sync(device)
        best = max(best, n / (time.perf_counter() - start))
    return best


class _TorchvisionStyleMNIST(torch.utils.data.Dataset):
    """What ``torchvision.datasets.MNIST`` does per item: a PIL image through the transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, transform: Callable) -> None:
        self.images, self.labels, self.transform = images[:, 0], labels.astype(np.int64), transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.images[i], mode="L")), int(self.labels[i])


def textbook_throughput(images, labels, std, device, batch_size, epochs, workers) -> float:
    """(c): per-sample ``ToTensor`` + ``Normalize`` through a shuffling ``DataLoader``."""
    from torchvision import transforms

    set_seed(0)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(std.mean, std.std)])
    loader = torch.utils.data.DataLoader(
        _TorchvisionStyleMNIST(images, labels, transform),
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
    )
    return _plain_loop_throughput(lambda: loader, len(labels), device, epochs)


def augmentation_cost(images, std, device, batch_size: int = 256, repeats: int = 30) -> tuple[float, float]:
    """Milliseconds to augment one batch on the device, and to run one SimpLeNet training step on it."""
    augment = build_augmentation(AugmentConfig())
    x = torch.from_numpy(images[:batch_size]).to(device).float() / 255
    y = torch.zeros(batch_size, dtype=torch.int64, device=device)
    model = SimpLeNet().to(device=device, memory_format=torch.channels_last)
    opt = _sgd(model)

    def step() -> None:
        loss = F.cross_entropy(model(std(x * 255).contiguous(memory_format=torch.channels_last)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    timings = []
    for fn in (lambda: augment(x), step):
        for _ in range(5):
            fn()
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        _sync(device)
        timings.append(1000 * (time.perf_counter() - start) / repeats)
    return timings[0], timings[1]


def time_to_accuracy(data, std, device, target: float, max_epochs: int, batch_size: int, lr: float) -> tuple[float | None, int, float]:
    """Training wall time (evaluation excluded) until test accuracy >= target, one epoch at a time."""
    x_train, y_train, x_test, y_test = data
    set_seed(2022)
    model = SimpLeNet()
    elapsed, accuracy = 0.0, 0.0
    for epochs in range(1, max_epochs + 1):
        # retrain from scratch with a schedule sized for `epochs` epochs: a one-cycle schedule
        # only reaches its best at its end, so each budget is its own run
        set_seed(2022)
        model = SimpLeNet()
        # seed 42: the shuffling the published times were measured with (the engine's default was 42 then)
        config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, seed=42, device=str(device), progress=False, select_best=False)
        result = fit(model, (x_train, y_train), None, std, config, name=f"{epochs}-epoch budget")
        elapsed = sum(row["seconds"] for row in result.history)
        logits = predict(result.model, x_test, std, device=device)
        accuracy = float((logits.argmax(1).numpy() == y_test).mean())
        logger.info("%d epoch(s): %.2f s of training, test accuracy %.4f", epochs, elapsed, accuracy)
        if accuracy >= target:
            return elapsed, epochs, accuracy
    return None, max_epochs, accuracy


def reproducibility(images, labels, std, device, batch_size: int, epochs: int) -> list[dict]:
    """For ``deterministic`` off and on: train SimpLeNet twice with the same seed and settings,
    and report whether the weights are bit-identical, their largest difference, and the seconds
    per epoch (the first epoch, warm-up, left out). An op without a deterministic kernel is
    reported, not raised."""
    rows = []
    for deterministic in (False, True):
        runs, error = [], ""
        for attempt in range(2):
            set_seed(0)
            config = TrainConfig(
                epochs=epochs,
                batch_size=batch_size,
                lr=0.05 * batch_size / 128,
                device=str(device),
                progress=False,
                select_best=False,
                deterministic=deterministic,
            )
            try:
                runs.append(fit(SimpLeNet(), (images, labels), None, std, config, name=f"deterministic={deterministic} #{attempt + 1}"))
            except RuntimeError as exc:  # e.g. an op that has no deterministic CUDA kernel
                error = str(exc).splitlines()[0]
                break
        if error:
            rows.append({"deterministic": deterministic, "error": error})
            continue
        a, b = (r.model.state_dict() for r in runs)
        timed = [row["seconds"] for r in runs for row in r.history[1:]] or [row["seconds"] for r in runs for row in r.history]
        rows.append(
            {
                "deterministic": deterministic,
                "identical": all(torch.equal(a[k], b[k]) for k in a),
                "max_abs_difference": max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].numel()),
                "seconds_per_epoch": min(timed),
                "final_train_loss": [r.history[-1]["train_loss"] for r in runs],
            }
        )
    return rows


class _Timed:
    """Wraps a loop collaborator and keeps the seconds each of its ``on_epoch_end`` calls took."""

    def __init__(self, inner) -> None:
        self.inner, self.seconds = inner, []

    def on_epoch_end(self, state) -> None:
        start = time.perf_counter()
        self.inner.on_epoch_end(state)
        self.seconds.append(time.perf_counter() - start)


def collaborator_costs(images, labels, std, device, batch_size: int, epochs: int) -> dict[str, float]:
    """What the training loop's collaborators cost per epoch for SimpLeNet: writing the checkpoint
    (``Checkpointer``) and logging the epoch to a SQLite MLflow store (``EpochMetrics``), beside
    the epoch's own time."""
    import tempfile

    import mlflow

    from practical_dl.core.checkpoint import Checkpointer
    from practical_dl.project.tracking import EpochMetrics

    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=0.05, device=str(device), progress=False)
    with tempfile.TemporaryDirectory() as folder:
        before = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        try:
            mlflow.set_experiment("benchmark")
            checkpointer, tracker = _Timed(Checkpointer(f"{folder}/simplenet.safetensors")), _Timed(EpochMetrics("simplenet"))
            set_seed(0)
            with mlflow.start_run():
                result = fit(SimpLeNet(), (images, labels), None, std, config, name="collaborators", callbacks=[tracker, checkpointer])
        finally:
            mlflow.set_tracking_uri(before)
    epoch = float(np.median([row["seconds"] for row in result.history]))
    return {
        "epoch_seconds": epoch,
        "checkpoint_ms": 1000 * float(np.median(checkpointer.seconds)),
        "mlflow_ms": 1000 * float(np.median(tracker.seconds)),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda (default: auto)")
    parser.add_argument("--images", type=int, default=None, help="training images per epoch (default: 12800 on CPU, 60000 on CUDA)")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument(
        "--epochs", type=int, default=None, help="epochs per measurement, the first is warm-up (default: 2 on CPU, 3 on CUDA)"
    )
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers of the textbook loop (default: 0 on CPU, 4 on CUDA)")
    parser.add_argument("--target", type=float, default=0.992, help="test accuracy for the time-to-accuracy run")
    parser.add_argument(
        "--max-epochs", type=int, default=None, help="largest epoch budget tried for the target (default 8 on CPU, 15 on CUDA)"
    )
    parser.add_argument(
        "--tta-batch-size", type=int, default=None, help="batch size of the time-to-accuracy run (default 128 on CPU, 512 on CUDA)"
    )
    parser.add_argument("--skip-time-to-accuracy", action="store_true")
    parser.add_argument("--skip-bf16", action="store_true", help="leave out the bf16 autocast row (slow on CPUs without native bf16)")
    parser.add_argument(
        "--collaborator-epochs", type=int, default=2, help="epochs of the run timing checkpoints and MLflow logging (0: skip it)"
    )
    parser.add_argument(
        "--reproducibility-epochs", type=int, default=3, help="epochs of each of the four reproducibility trainings (0: skip them)"
    )
    parser.add_argument("--raw", type=Path, default=RAW, help="folder of the MNIST IDX files")
    args = parser.parse_args(argv)
    # cuBLAS reads its workspace setting once, at its first use in the process: set it before any
    # CUDA work so that the deterministic trainings below are deterministic (see practical_dl.core.runtime.use_deterministic_kernels)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    for name in ("practical_dl.core.engine", "practical_dl.core.loop", "practical_dl.core.checkpoint"):
        logging.getLogger(name).setLevel(logging.WARNING)

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    n = args.images or (60_000 if cuda else 12_800)
    epochs = args.epochs or (3 if cuda else 2)
    workers = args.workers if args.workers is not None else (4 if cuda else 0)
    data = load_mnist(args.raw)
    images, labels = data[0][:n], data[1][:n]
    std = Standardiser.from_stats(channel_statistics(data[0]))
    auto = resolve_precision("auto", device)
    auto_format = str(resolve_memory_format("auto", device, auto)).split(".")[-1]
    native = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    name = torch.cuda.get_device_name(device) if cuda else f"CPU, {torch.get_num_threads()} threads, {native}"
    print(f"\nDevice: {device} ({name}); torch {torch.__version__}; engine 'auto' = {auto}; {n} images per epoch, best of {epochs} epochs")

    rows = []
    for bs in args.batch_sizes:
        b = minimal_throughput(images, labels, std, device, bs, epochs)
        c = textbook_throughput(images, labels, std, device, bs, epochs, workers)
        a32 = engine_throughput(images, labels, std, device, bs, "fp32", epochs, memory_format="contiguous")
        a_auto = engine_throughput(images, labels, std, device, bs, "auto", epochs)
        a_aug = engine_throughput(images, labels, std, device, bs, "auto", epochs, augment=build_augmentation(AugmentConfig()))
        a_bf16 = None if args.skip_bf16 or auto == "bf16" else engine_throughput(images, labels, std, device, bs, "bf16", epochs)
        for label, value in (
            ("(a) engine fp32, contiguous (as b)", a32),
            (f"(a) engine auto ({auto}, {auto_format})", a_auto),
            (f"(a) engine bf16 autocast, {auto_format}", a_bf16),
            ("(a) engine auto + augmentation", a_aug),
            ("(b) minimal loop fp32", b),
            ("(c) DataLoader + per-sample transforms", c),
        ):
            if value is None:
                continue
            rows.append({"batch": bs, "method": label, "images_per_second": value, "vs_b": value / b, "vs_c": value / c})
    print(f"\n{'batch':>5}  {'method':<44} {'images/s':>10} {'vs (b)':>7} {'vs (c)':>7}")
    for r in rows:
        print(f"{r['batch']:>5}  {r['method']:<44} {r['images_per_second']:>10.0f} {r['vs_b']:>6.2f}x {r['vs_c']:>6.2f}x")

    result: dict = {"device": str(device), "device_name": name, "auto_precision": auto, "rows": rows}
    aug_ms, step_ms = augmentation_cost(images, std, device)
    result["augmentation_ms"], result["step_ms"] = aug_ms, step_ms
    print(f"\nAugmenting a 256-image batch: {aug_ms:.1f} ms; one SimpLeNet training step on it: {step_ms:.1f} ms ({aug_ms / step_ms:.0%})")
    if not args.skip_time_to_accuracy:
        tta_bs = args.tta_batch_size or (512 if cuda else 128)
        lr = 0.05 * tta_bs / 128 if tta_bs > 128 else 0.05
        seconds, epochs_needed, acc = time_to_accuracy(data, std, device, args.target, args.max_epochs or (15 if cuda else 8), tta_bs, lr)
        result["time_to_accuracy"] = {"seconds": seconds, "epochs": epochs_needed, "accuracy": acc, "batch_size": tta_bs}
        if seconds is None:
            print(f"\nTest accuracy {args.target:.1%} not reached within {epochs_needed} epochs (best {acc:.2%})")
        else:
            print(
                f"\nTime to {args.target:.1%} test accuracy: {seconds:.1f} s of training "
                f"({epochs_needed} epochs of 60,000 images, batch {tta_bs}; reached {acc:.2%})"
            )
    if args.collaborator_epochs:
        costs = collaborator_costs(images, labels, std, device, min(args.batch_sizes), args.collaborator_epochs)
        result["collaborators"] = costs
        print(
            f"\nPer epoch of SimpLeNet ({n} images, batch {min(args.batch_sizes)}; {costs['epoch_seconds']:.2f} s): writing the checkpoint "
            f"{costs['checkpoint_ms']:.1f} ms ({costs['checkpoint_ms'] / 10 / costs['epoch_seconds']:.2f}%), logging the epoch to MLflow "
            f"(SQLite) {costs['mlflow_ms']:.1f} ms ({costs['mlflow_ms'] / 10 / costs['epoch_seconds']:.2f}%)"
        )
    if args.reproducibility_epochs:
        bs = max(args.batch_sizes)
        rows = reproducibility(images, labels, std, device, bs, args.reproducibility_epochs)
        result["reproducibility"] = rows
        print(f"\nThe same seed twice ({n} images, batch {bs}, {args.reproducibility_epochs} epochs), SimpLeNet, engine 'auto':")
        for r in rows:
            if "error" in r:
                print(f"  deterministic={r['deterministic']}: failed: {r['error']}")
            else:
                print(
                    f"  deterministic={r['deterministic']}: weights {'bit-identical' if r['identical'] else 'differ'}"
                    f" (largest difference {r['max_abs_difference']:.3g}), {r['seconds_per_epoch']:.2f} s per epoch"
                )
    return result


if __name__ == "__main__":
    main()
