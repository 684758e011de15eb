"""practical_dl.core.distributed: the shards of a global batch, the loss weights, and two real gloo
processes training like one (in-process spawn; the torchrun launch is in tests/integration)."""

import os

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from practical_dl.core import distributed
from practical_dl.core.config import TrainConfig
from practical_dl.core.distributed import EpochShard, SingleProcess
from practical_dl.core.engine import fit
from practical_dl.core.standardise import Standardiser
from tests.conftest import free_port
from tests.helpers.data import random_digits
from tests.helpers.training import CPU_RUN


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("n", [1, 7, 129, 1000])
def test_shards_of_an_epoch_cover_every_sample_once(world_size, n):
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(n))
    shards = [EpochShard(n, rank, world_size, torch.device("cpu")) for rank in range(world_size)]
    for start in range(0, n, 64):
        batch = perm[start : start + 64]
        parts = [shard(batch) for shard in shards]
        assert torch.equal(torch.cat(parts), batch)  # every rank its own slice, in order
        assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1
    counts = sum(shard.counts for shard in shards)
    assert torch.equal(counts, torch.ones(n, dtype=torch.int32))


def test_single_process_is_the_identity():
    one = SingleProcess()
    model = nn.Linear(2, 2)
    assert one.wrap(model) is model
    assert one.epoch_shard(10, torch.device("cpu")) is None
    assert one.loss_weight(64, 64) == 1.0
    assert one.total(torch.tensor(2.5), 3) == [2.5, 3.0]
    assert one.main_only(["tracker"]) == ["tracker"]


def test_outside_torchrun_the_environment_gives_one_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv("RANK", raising=False)
    assert isinstance(distributed.from_environment(), SingleProcess)
    assert distributed.is_main_process()
    monkeypatch.setenv("RANK", "1")
    assert not distributed.is_main_process()


def test_bad_settings_are_named(monkeypatch):
    with pytest.raises(ValueError, match="distributed_backend"):
        TrainConfig(distributed_backend="mpi")
    with pytest.raises(ValueError, match="sync_batchnorm"):
        TrainConfig(sync_batchnorm="yes")
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE"):
        distributed.from_environment()


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 3))


CONFIG = CPU_RUN | {"epochs": 2, "batch_size": 64, "lr": 0.1, "seed": 3}
STD = Standardiser.identity(1)


def _worker(rank: int, port: int, n: int, out: str, sync_batchnorm: bool) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    images, labels = random_digits(n, classes=3, size=8)
    model = _model()
    if sync_batchnorm:
        model = nn.Sequential(nn.BatchNorm2d(1), model)
    try:
        result = fit(model, (images, labels), (images[:50], labels[:50]), STD, TrainConfig(**CONFIG, sync_batchnorm=sync_batchnorm))
    except ValueError as exc:
        torch.save({"error": str(exc)}, f"{out}.{rank}")
        return
    torch.save({"state": result.model.state_dict(), "history": result.history}, f"{out}.{rank}")
    dist.destroy_process_group()


@pytest.mark.parametrize("n", [129, 131])  # last global batch of 1 (one rank gets nothing) and of 3
def test_two_gloo_processes_compute_the_one_process_gradient(tmp_path, n):
    """The ranks' weighted losses average to the global batch's: the weights after two epochs are
    those of one process, up to summation order, also when the last batch splits unevenly."""
    torch.set_num_threads(1)
    images, labels = random_digits(n, classes=3, size=8)
    alone = fit(_model(), (images, labels), (images[:50], labels[:50]), STD, TrainConfig(**CONFIG), parallel=SingleProcess())
    out = str(tmp_path / "result")
    mp.spawn(_worker, args=(free_port(), n, out, False), nprocs=2, join=True)
    ranks = [torch.load(f"{out}.{rank}", weights_only=True) for rank in (0, 1)]
    for key, value in alone.model.state_dict().items():
        assert torch.equal(ranks[0]["state"][key], ranks[1]["state"][key])  # the ranks agree exactly
        torch.testing.assert_close(ranks[0]["state"][key], value, rtol=1e-5, atol=1e-6)
    assert ranks[0]["history"][-1]["train_loss"] == pytest.approx(alone.history[-1]["train_loss"], rel=1e-5)
    assert ranks[0]["history"][-1]["val_loss"] == pytest.approx(alone.history[-1]["val_loss"], rel=1e-5)


def test_sync_batchnorm_on_cpu_processes_is_refused_by_name(tmp_path):
    out = str(tmp_path / "result")
    mp.spawn(_worker, args=(free_port(), 64, out, True), nprocs=2, join=True)
    assert "sync_batchnorm" in torch.load(f"{out}.0", weights_only=True)["error"]


def _gan_worker(rank: int, port: int, out: str) -> None:
    from practical_dl.methods.gan.training import GANConfig, train_dcgan

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    images = np.random.default_rng(0).integers(0, 256, size=(100, 1, 28, 28), dtype=np.uint8)
    config = GANConfig(
        epochs=2, batch_size=33, latent_dim=8, generator_features=4, discriminator_features=4, fixed_samples=4, progress=False, device="cpu"
    )
    result = train_dcgan(images, config, score=lambda generator, epoch: {"scored_on_rank": float(rank)})
    torch.save({"generator": result.generator.state_dict(), "history": result.history}, f"{out}.{rank}")
    dist.destroy_process_group()


def test_the_dcgan_trains_on_two_gloo_processes_as_one_model(tmp_path):
    """Both networks' gradients are all-reduced: the ranks end with the same generator weights (batches of
    33 split 17/16, the last partial batch dropped, as in one process); rank 0 alone scores."""
    out = str(tmp_path / "gan")
    mp.spawn(_gan_worker, args=(free_port(), out), nprocs=2, join=True)
    ranks = [torch.load(f"{out}.{rank}", weights_only=True) for rank in (0, 1)]
    weights = [key for key in ranks[0]["generator"] if not key.endswith(("running_mean", "running_var", "num_batches_tracked"))]
    assert weights
    for key in weights:  # batch-norm statistics are each rank's own (rank 0's are kept)
        assert torch.equal(ranks[1]["generator"][key], ranks[0]["generator"][key]), key
    assert [row["scored_on_rank"] for row in ranks[0]["history"]] == [0.0, 0.0]
    assert all("scored_on_rank" not in row for row in ranks[1]["history"])
    assert ranks[0]["history"][-1]["loss_d"] == ranks[1]["history"][-1]["loss_d"]
