"""Checkpoints of fit's training state: exact round trips, one safetensors file written atomically,
and a run killed after epoch 2 and resumed that ends bit-identical to one never interrupted."""

import errno
import gzip
import json
import logging
import os
import struct
from functools import partial

import pytest
import safetensors.torch
import torch

from practical_dl.core import checkpoint as ckpt
from practical_dl.core.augment import build_augmentation
from practical_dl.core.checkpoint import Checkpointer, TrainingState, load_checkpoint, rng_state, save_checkpoint, settings_fingerprint
from practical_dl.core.config import AugmentConfig
from practical_dl.core.engine import fit
from practical_dl.core.optim import make_optimizer, make_scheduler
from practical_dl.core.standardise import Standardiser
from practical_dl.models.networks import MLP, SimpLeNet
from practical_dl.project.datasets import parse_idx
from tests.conftest import ROOT
from tests.helpers.data import random_digits
from tests.helpers.training import NoteEpochs, StopAfter, cpu_config

RAW = ROOT / "data" / "01_raw" / "mnist"
STD = Standardiser(mean=(0.13,), std=(0.31,), scale=255.0)
AUGMENT = {"rotation_degrees": 10, "translate": 0.1, "scale": [0.9, 1.1]}


@pytest.fixture(scope="module")
def digits():
    """512 MNIST test digits (384 to train, 128 to validate); random images where the files are absent."""
    images_file, labels_file = RAW / "t10k-images-idx3-ubyte.gz", RAW / "t10k-labels-idx1-ubyte.gz"
    if images_file.exists() and labels_file.exists():
        images = parse_idx(gzip.decompress(images_file.read_bytes()))[:512, None]
        labels = parse_idx(gzip.decompress(labels_file.read_bytes()))[:512]
    else:
        images, labels = random_digits(512)
    return (images[:384], labels[:384]), (images[384:], labels[384:])


config = partial(cpu_config, epochs=4, batch_size=64, schedule="onecycle", seed=3, num_workers=0)


def model_for(kind):
    torch.manual_seed(0)
    return SimpLeNet() if kind == "simplenet" else MLP(hidden=(32,))


class Killed(Exception):
    pass


def assert_same_tree(a, b, where="state"):
    """Equal structure, types (any dict for a dict), tensor values, dtypes, shapes and strides."""
    assert type(a) is type(b) or isinstance(a, dict) and isinstance(b, dict), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride(), where
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same_tree(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tree(x, y, f"{where}/{i}")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"


def trained_state(optimizer, schedule, kind="simplenet", steps=5):
    """A TrainingState after a few optimisation steps (channels_last, as fit trains on the CPU)."""
    cfg = config(optimizer=optimizer, schedule=schedule, epochs=2)
    model = model_for(kind).to(memory_format=torch.channels_last)
    opt = make_optimizer(model, cfg)
    sched = make_scheduler(opt, cfg, steps)
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.rand(8, 1, 28, 28, generator=gen).contiguous(memory_format=torch.channels_last)
        loss = torch.nn.functional.cross_entropy(model(x), torch.randint(0, 10, (8,), generator=gen))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    best = {k: v.clone() for k, v in model.state_dict().items()}
    history = [{"epoch": 1, "train_loss": 2.3, "train_accuracy": 0.125, "lr": 0.01, "seconds": 0.5, "val_loss": float("nan")}]
    task = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "best": {"score": 0.5, "epoch": 1, "model": best},
    }
    return TrainingState(1, task, rng_state(gen), history, epochs=2, fingerprint="abc", meta={"mlflow_run_id": "r1"})


@pytest.mark.parametrize("optimizer,schedule", [("sgd", "onecycle"), ("adam", "cosine")])
def test_round_trip_is_exact(tmp_path, optimizer, schedule):
    state = trained_state(optimizer, schedule)
    save_checkpoint(state, tmp_path / "run.ckpt")
    loaded = load_checkpoint(tmp_path / "run.ckpt")
    assert isinstance(loaded, TrainingState)
    assert_same_tree(state.task, loaded.task, "task")  # int keys, betas tuple, 0-d step tensor, best model
    assert_same_tree(state.rng, loaded.rng, "rng")
    assert_same_tree(state.history, loaded.history, "history")
    assert (loaded.epoch, loaded.epochs, loaded.diverged, loaded.fingerprint, loaded.meta) == (1, 2, False, "abc", {"mlflow_run_id": "r1"})
    if optimizer == "adam":
        assert loaded.task["optimizer"]["state"][0]["step"].dtype == torch.float32
        assert loaded.task["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)


def test_the_file_is_plain_safetensors(tmp_path):
    path = save_checkpoint(trained_state("sgd", "onecycle"), tmp_path / "run.ckpt")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask  # like any new file, not mkstemp's 0600
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    metadata = header.pop("__metadata__")
    assert all(isinstance(v, str) for v in metadata.values())
    assert metadata["format"] == ckpt.FORMAT and json.loads(metadata["state"])["epoch"] == 1
    assert 8 + n + max(entry["data_offsets"][1] for entry in header.values()) == len(raw)
    for key in (
        "task/model/conv1.weight",
        "task/optimizer/state/0/momentum_buffer",
        "task/best/model/output.bias",
        "rng/torch",
        "rng/shuffle",
    ):
        assert key in header, key
    assert set(safetensors.torch.load_file(path)) == set(header)  # loads without any pickle


def run(kind, data, augment, callbacks=(), resume=None, **kw):
    train, val = data
    aug = build_augmentation(AugmentConfig.from_dict(AUGMENT)) if augment else None
    torch.manual_seed(7)  # the caller seeds torch (augmentation draws come from its global generator)
    return fit(model_for(kind), train, val, STD, config(**kw), augment=aug, callbacks=callbacks, resume=resume)


def assert_same_result(a, b):
    for (name, p), (_, q) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert torch.equal(p, q), name
    assert a.best_epoch == b.best_epoch and a.diverged == b.diverged
    clock = {"seconds", "images_per_second"}
    assert [{k: v for k, v in r.items() if k not in clock} for r in a.history] == [
        {k: v for k, v in r.items() if k not in clock} for r in b.history
    ]


@pytest.mark.parametrize(
    "kind,augment,kw",
    [
        ("mlp", False, dict(optimizer="adam", schedule="cosine", lr=0.003)),
        ("simplenet", True, dict()),  # SGD, one-cycle, kornia draws from torch's global generator
        ("mlp", True, dict(resident_memory_limit_mb=0, num_workers=2)),  # DataLoader with persistent workers
    ],
)
def test_killed_and_resumed_run_is_bit_identical(tmp_path, digits, kind, augment, kw):
    whole = run(kind, digits, augment, **kw)
    checkpointer = Checkpointer(tmp_path / "run.ckpt", fingerprint="f")
    with pytest.raises(Killed):
        run(kind, digits, augment, callbacks=[checkpointer, StopAfter(2, Killed)], **kw)
    assert checkpointer.saved == [1, 2]
    state = Checkpointer(tmp_path / "run.ckpt", fingerprint="f").resume_state()
    assert state.epoch == 2
    torch.manual_seed(12345)  # whatever the caller did to the global generator, the checkpoint's state wins
    resumed = run(kind, digits, augment, resume=state, **kw)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    assert_same_result(whole, resumed)


def test_a_checkpoint_waits_min_seconds_after_the_last_save_and_the_last_epoch_is_always_saved(tmp_path, digits, monkeypatch):
    now = [0.0]
    monkeypatch.setattr("practical_dl.core.checkpoint.monotonic", lambda: now[0])

    class SixSecondEpochs:
        def on_epoch_end(self, state):
            now[0] += 6.0

    checkpointer = Checkpointer(tmp_path / "run.ckpt", min_seconds=10)
    run("mlp", digits, False, callbacks=[SixSecondEpochs(), checkpointer], epochs=4)
    assert checkpointer.saved == [2, 4]  # 12 s after its making, then the last epoch (6 s after)
    with pytest.raises(ValueError, match="min_seconds must be >= 0, got -1"):
        Checkpointer(tmp_path / "run.ckpt", min_seconds=-1)


def test_resuming_a_finished_run_trains_nothing(tmp_path, digits):
    checkpointer = Checkpointer(tmp_path / "run.ckpt", every=3)
    whole = run("mlp", digits, False, callbacks=[checkpointer], epochs=4)
    assert checkpointer.saved == [3, 4]  # every 3 epochs, and after the last
    calls = []
    again = run("mlp", digits, False, callbacks=[NoteEpochs(calls)], resume=checkpointer.resume_state(), epochs=4)
    assert calls == []
    assert_same_result(whole, again)


def test_checkpointing_does_not_perturb_training(tmp_path, digits):
    plain = run("simplenet", digits, True, epochs=3)
    again = run("simplenet", digits, True, epochs=3)
    assert_same_result(plain, again)  # deterministic: the reference is meaningful
    checkpointed = run("simplenet", digits, True, callbacks=[Checkpointer(tmp_path / "run.ckpt"), object()], epochs=3)
    assert_same_result(plain, checkpointed)


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, caplog):
    save_checkpoint(trained_state("sgd", "onecycle", kind="mlp"), tmp_path / "run.ckpt")  # fingerprint "abc"
    assert Checkpointer(tmp_path / "run.ckpt", fingerprint="abc").resume_state() is not None
    with caplog.at_level(logging.WARNING, logger="practical_dl.core.checkpoint"):
        assert Checkpointer(tmp_path / "run.ckpt", fingerprint="xyz").resume_state() is None
    assert "was made with other settings" in caplog.text and "starting afresh" in caplog.text
    assert Checkpointer(tmp_path / "absent.ckpt").resume_state() is None
    caplog.clear()
    safetensors.torch.save_file({"w": torch.zeros(1)}, tmp_path / "old.ckpt", metadata={"format": "practical_dl.checkpoint/1"})
    with caplog.at_level(logging.WARNING, logger="practical_dl.core.checkpoint"):
        assert Checkpointer(tmp_path / "old.ckpt").resume_state() is None  # an older format: named, then a fresh start
    assert "old.ckpt is not a practical_dl.checkpoint/2 checkpoint" in caplog.text and "starting afresh" in caplog.text
    assert settings_fingerprint({"lr": 0.1}) != settings_fingerprint({"lr": 0.2})


@pytest.mark.parametrize(
    "failing,error,message",
    [
        (
            "replace",
            OSError("killed while saving"),
            r"could not save the checkpoint .*run\.ckpt \(the previous one is kept\): killed while saving",
        ),
        ("serialise", OSError("killed while saving"), "killed while saving"),
        ("write", OSError(errno.ENOSPC, "No space left on device"), r"could not save the checkpoint .*run\.ckpt .*No space left on device"),
        ("write", KeyboardInterrupt(), None),  # Ctrl-C while saving
    ],
    ids=["rename", "serialise", "disk-full", "ctrl-c"],
)
def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch, failing, error, message):
    path = save_checkpoint(trained_state("sgd", "onecycle", kind="mlp"), tmp_path / "run.ckpt")
    before = path.read_bytes()
    newer = trained_state("adam", "cosine", kind="mlp")

    def boom(*args, **kwargs):
        raise error

    if failing == "replace":
        monkeypatch.setattr(os, "replace", boom)
    elif failing == "serialise":
        monkeypatch.setattr(safetensors.torch, "save", boom)
    else:  # the disk fills up (or Ctrl-C comes) while the bytes are written
        monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(type(error), match=message):
        save_checkpoint(newer, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temporary file left


def test_resuming_a_diverged_run_trains_nothing(tmp_path, digits):
    checkpointer = Checkpointer(tmp_path / "run.ckpt", every=5)
    diverged = run("mlp", digits, False, callbacks=[checkpointer], max_loss=1e-6)
    assert diverged.diverged and checkpointer.saved == [1]  # saved when training stopped
    again = run("mlp", digits, False, resume=checkpointer.resume_state(), max_loss=1e-6)
    assert again.diverged and again.divergence_reason == diverged.divergence_reason
    assert_same_result(diverged, again)
