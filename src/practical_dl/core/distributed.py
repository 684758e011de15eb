"""Data-parallel training with ``torch.distributed``: one collaborator of the training loop.

Launched by ``torchrun``, which starts one process per device and sets ``RANK``, ``LOCAL_RANK``,
``WORLD_SIZE`` and the rendezvous address; every process runs the same ``kedro run``::

    torchrun --standalone --nproc-per-node 2 -m kedro run --pipelines training        # one machine
    torchrun --nnodes 2 --node-rank 0 --nproc-per-node 4 \\
             --rdzv-backend c10d --rdzv-endpoint HOST:29400 -m kedro run ...          # each machine

Without ``WORLD_SIZE`` (a plain ``kedro run``, a notebook, the tests) :func:`from_environment`
gives :class:`SingleProcess`, whose every method is the identity: the engine computes exactly what
it computed before this module existed. Under ``torchrun`` it gives :class:`DataParallel`:

* the device is ``cuda:LOCAL_RANK`` (NCCL) on GPU machines, the CPU (gloo) elsewhere;
* the model is wrapped in ``DistributedDataParallel`` (gradients all-reduced during the backward
  pass), its batch norms optionally made ``SyncBatchNorm`` (``sync_batchnorm``);
* ``batch_size`` stays the *global* batch: every process holds the whole uint8 set, draws the same
  permutation from the same seed, and trains on its own slice of each global batch
  (:class:`EpochShard`): no sample twice in an epoch, which it counts and checks every epoch. The
  loss of each slice is weighted by its share of the global batch, so the averaged gradient is the
  gradient of the global batch and the learning rate (set for the global batch) needs no scaling;
* the sums of loss and correct predictions (training and validation) are all-reduced, so every
  process sees the same history, best epoch and divergence;
* only rank 0 writes: the callers give it alone the tracker and the checkpointer
  (:meth:`DataParallel.main_only`), and :class:`practical_dl.project.hooks.distributed.DistributedRunHook` keeps the
  other ranks' datasets in memory and leaves MLflow to rank 0.
"""

from __future__ import annotations

import atexit
import datetime
import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

# torch is imported where it is used: settings.py asks is_main_process() of every kedro command
logger = logging.getLogger(__name__)

BACKENDS = ("auto", "gloo", "nccl")


def launched_ranks() -> int:
    """``WORLD_SIZE`` as ``torchrun`` sets it; 0 outside ``torchrun`` (the variable not set)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "0"))
    except ValueError:
        raise ValueError(f"environment variable WORLD_SIZE must be an integer, got {os.environ['WORLD_SIZE']!r}") from None


def rank() -> int:
    """This process's global rank (0 outside ``torchrun``)."""
    return int(os.environ.get("RANK", "0") or 0)


def is_main_process() -> bool:
    """True for the process that writes (rank 0, and every process outside ``torchrun``)."""
    return rank() == 0


class SingleProcess:
    """One process: no sharding, no reduction, the model as it is."""

    rank, world_size, is_main = 0, 1, True

    def device(self, device: torch.device) -> torch.device:
        return device

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def epoch_shard(self, n: int, device: torch.device) -> None:
        return None

    def loss_weight(self, n_local: int, n_global: int) -> float:
        return 1.0

    def part(self, batch: torch.Tensor) -> torch.Tensor:
        return batch

    def total(self, *values: torch.Tensor | int | float) -> list[float]:
        return [float(v) for v in values]

    def check_epoch(self, shard: Any, name: str, epoch: int, trained: int | None = None) -> None:
        return None

    def main_only(self, callbacks: Sequence[Any]) -> list[Any]:
        return list(callbacks)

    def agree_on_resume(self, epoch: int, name: str) -> None:
        return None


def part_of(batch: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank ``rank``'s part of a global batch: ``tensor_split`` into ``world_size`` nearly equal,
    consecutive parts (one may be empty when the batch is smaller than the number of processes)."""
    return batch.tensor_split(world_size)[rank]


class EpochShard:
    """This rank's slice of every global batch of one epoch, counting what it hands out."""

    def __init__(self, n: int, rank: int, world_size: int, device: torch.device) -> None:
        import torch

        self.rank, self.world_size = rank, world_size
        self.counts = torch.zeros(n, dtype=torch.int32, device=device)

    def __call__(self, indices: torch.Tensor) -> torch.Tensor:
        """The slice of a global batch's indices that this rank trains on: ``tensor_split`` into
        ``world_size`` nearly equal parts (a part may be empty when the last global batch is
        smaller than the number of processes)."""
        mine = part_of(indices, self.rank, self.world_size)
        self.counts[mine.to(self.counts.device)] += 1  # indices of a permutation: no repeats in one batch
        return mine


class DataParallel:
    """Training on ``world_size`` processes of an initialised default process group."""

    def __init__(self, sync_batchnorm: bool = False) -> None:
        import torch.distributed as dist

        if not dist.is_initialized():
            raise RuntimeError("DataParallel needs an initialised process group: use from_environment() under torchrun")
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.is_main = self.rank == 0
        self.sync_batchnorm = sync_batchnorm
        self.backend = dist.get_backend()

    def device(self, device: torch.device) -> torch.device:
        """``cuda:LOCAL_RANK`` where the configuration asks for CUDA, else the device as asked."""
        import torch

        return torch.device("cuda", self.local_rank) if device.type == "cuda" else device

    def wrap(self, model: nn.Module) -> nn.Module:
        """``DistributedDataParallel`` around ``model`` (its parameters broadcast from rank 0), with
        ``SyncBatchNorm`` in place of its batch norms when asked. The module inside stays the one
        the caller holds, so its ``state_dict`` is the plain model's."""
        from torch import nn

        if self.sync_batchnorm:
            if model_device(model).type != "cuda":
                raise ValueError(
                    "parameter sync_batchnorm: PyTorch's SyncBatchNorm runs on CUDA devices only; "
                    "set it to false for processes on the CPU (each then keeps the batch statistics of its own part)"
                )
            converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
            if converted is not model:
                raise ValueError("sync_batchnorm: the model itself is a batch norm; wrap it in a module")
        device_ids = [model_device(model).index] if model_device(model).type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def epoch_shard(self, n: int, device: torch.device) -> EpochShard:
        return EpochShard(n, self.rank, self.world_size, device)

    def part(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's part of a tensor made whole on every rank (e.g. a batch's latent vectors)."""
        return part_of(batch, self.rank, self.world_size)

    def loss_weight(self, n_local: int, n_global: int) -> float:
        """``DistributedDataParallel`` averages the ranks' gradients; weighting each rank's mean
        loss by ``world_size * n_local / n_global`` makes that average the global batch's."""
        return self.world_size * n_local / n_global

    def total(self, *values: torch.Tensor | int | float) -> list[float]:
        """The sums over all ranks of ``values`` (one all-reduce), as floats."""
        import torch
        import torch.distributed as dist

        stacked = self._communicable(torch.tensor([float(v) for v in values], dtype=torch.float64))
        dist.all_reduce(stacked)
        return stacked.tolist()

    def _communicable(self, tensor: torch.Tensor) -> torch.Tensor:
        """``tensor`` on the device the backend communicates from (CUDA for NCCL, else the CPU)."""
        import torch

        return tensor.to(torch.device("cuda", self.local_rank) if self.backend == "nccl" else "cpu")

    def check_epoch(self, shard: EpochShard, name: str, epoch: int, trained: int | None = None) -> None:
        """All-reduce the epoch's per-sample counts and check that the ranks together trained on
        ``trained`` samples (default: all), none twice."""
        import torch.distributed as dist

        counts = self._communicable(shard.counts.clone())
        dist.all_reduce(counts)
        n, seen, once = counts.numel(), int(counts.sum()), int((counts == 1).sum())
        trained = n if trained is None else trained
        if seen != trained or once != trained:
            raise RuntimeError(
                f"{name} epoch {epoch}: {self.world_size} processes trained on {seen} samples, {once} of {trained} exactly once"
            )
        if self.is_main:
            logger.info(
                "%s epoch %d: %d processes shared the %d training samples%s, each trained on once",
                name,
                epoch,
                self.world_size,
                trained,
                "" if trained == n else f" (of {n})",
            )

    def main_only(self, callbacks: Sequence[Any]) -> list[Any]:
        """The collaborators that write (checkpoints, MLflow) run on rank 0 only."""
        return list(callbacks) if self.is_main else []

    def agree_on_resume(self, epoch: int, name: str) -> None:
        """Every rank must go on from the same epoch (a checkpoint seen by all, or by none)."""
        import torch
        import torch.distributed as dist

        both = self._communicable(torch.tensor([epoch, -epoch], dtype=torch.int64))
        dist.all_reduce(both, op=dist.ReduceOp.MAX)
        highest, lowest = int(both[0]), -int(both[1])
        if highest != lowest:
            raise RuntimeError(
                f"{name}: the processes found different checkpoints (epochs {lowest} to {highest}); "
                "checkpoint_dir must be on storage every node shares, or set resume: false"
            )


def model_device(model: nn.Module) -> torch.device:
    import torch

    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def from_environment(
    backend: str = "auto", sync_batchnorm: bool = False, device: str = "auto", timeout_s: float = 600.0
) -> SingleProcess | DataParallel:
    """:class:`DataParallel` under ``torchrun`` (``WORLD_SIZE`` set, one process included: the same
    code path, e.g. NCCL on one GPU; the default process group
    initialised on first use, NCCL for CUDA devices and gloo otherwise when ``backend`` is
    ``auto``), else :class:`SingleProcess`."""
    import torch
    import torch.distributed as dist

    if backend not in BACKENDS:
        raise ValueError(f"distributed_backend must be one of {BACKENDS}, got {backend!r}")
    if launched_ranks() == 0:
        return SingleProcess()
    if not dist.is_initialized():
        wants_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        chosen = backend if backend != "auto" else ("nccl" if wants_cuda else "gloo")
        if chosen == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(chosen, timeout=datetime.timedelta(seconds=timeout_s))
        atexit.register(_destroy)
        logger.info("process %d of %d joined the %s process group", dist.get_rank(), dist.get_world_size(), chosen)
    return DataParallel(sync_batchnorm=sync_batchnorm)


def _destroy() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()
