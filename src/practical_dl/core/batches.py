"""Batches on the training device: uint8 images served in a given order, then prepared as model input."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from practical_dl.core.standardise import Standardiser


class _ArrayDataset(torch.utils.data.Dataset):
    """uint8 images and labels served a whole batch at a time (``__getitems__``)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = _targets(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[i], self.labels[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices)
        return self.images[idx], self.labels[idx]


def _targets(labels: np.ndarray) -> torch.Tensor:
    """Class labels as int64, regression targets as float32."""
    labels = np.ascontiguousarray(labels)
    return torch.from_numpy(labels.astype(np.float32 if labels.dtype.kind == "f" else np.int64))


def _whole_batch(batch: Any) -> Any:
    return batch


class _EpochBatchSampler(torch.utils.data.Sampler):
    """Yields consecutive slices of the permutation set for the current epoch."""

    def __init__(self, n: int, batch_size: int) -> None:
        self.n, self.batch_size = n, batch_size
        self.perm = torch.arange(n)
        self.shard: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        for i in range(0, self.n, self.batch_size):
            idx = self.perm[i : i + self.batch_size]
            yield (self.shard(idx) if self.shard is not None else idx).tolist()


class BatchSource:
    """Serves uint8 image batches and int64 label batches on ``device`` in a given order.

    ``resident`` keeps the whole set on the device; otherwise a ``DataLoader`` with pinned
    memory and workers streams it. Both give the same batches for the same permutation.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        device: torch.device,
        batch_size: int,
        memory_limit_mb: float = 4096,
        num_workers: int = 2,
    ) -> None:
        if images.ndim != 4:
            raise ValueError(f"expected N x C x H x W images, got shape {images.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.n = len(labels)
        self.device = device
        self.batch_size = batch_size
        size_mb = (images.nbytes + labels.size * 8) / 2**20
        self.resident = size_mb <= memory_limit_mb
        if self.resident:
            self.images = torch.from_numpy(np.ascontiguousarray(images)).to(device)
            self.labels = _targets(labels).to(device)
        else:
            self._sampler = _EpochBatchSampler(self.n, batch_size)
            self._loader = torch.utils.data.DataLoader(
                _ArrayDataset(images, labels),
                batch_sampler=self._sampler,
                collate_fn=_whole_batch,
                num_workers=num_workers,
                pin_memory=device.type == "cuda",
                persistent_workers=num_workers > 0,
            )

    def __len__(self) -> int:
        return math.ceil(self.n / self.batch_size)

    def batches(
        self, perm: torch.Tensor | None = None, shard: Callable[[torch.Tensor], torch.Tensor] | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate over batches in the order of ``perm`` (a CPU index permutation) or in order.
        ``shard`` maps the indices of each batch to the part of it this process takes
        (:class:`practical_dl.core.distributed.EpochShard`); without it, the whole batch."""
        if shard is not None and perm is None:
            perm = torch.arange(self.n)
        if self.resident:
            if perm is None:
                for i in range(0, self.n, self.batch_size):
                    yield self.images[i : i + self.batch_size], self.labels[i : i + self.batch_size]
                return
            perm = perm.to(self.device, non_blocking=True)
            for i in range(0, self.n, self.batch_size):
                idx = perm[i : i + self.batch_size]
                if shard is not None:
                    idx = shard(idx)
                yield self.images.index_select(0, idx), self.labels.index_select(0, idx)
        else:
            self._sampler.perm = perm if perm is not None else torch.arange(self.n)
            self._sampler.shard = shard
            for x, y in self._loader:
                yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    def start_workers(self) -> None:
        """Start persistent DataLoader workers now. Their start draws a seed from torch's global
        generator once per run; a resumed run calls this before restoring that generator so
        that its later draws match those of a run never interrupted."""
        if not self.resident and self._loader.persistent_workers:
            iter(self._loader)


class BatchPreparer:
    """uint8 batch -> float, optional augmentation and adversarial examples in [0, 1],
    standardisation (:class:`~practical_dl.core.standardise.Standardise`), memory format."""

    def __init__(self, standardiser: Standardiser, device: torch.device, memory_format, augment=None, adversary=None) -> None:
        self.standardise = standardiser.module().to(device)
        self.inv_scale = 1.0 / standardiser.scale
        self.memory_format = memory_format
        self.augment = augment
        self.adversary = adversary

    def _in_format(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=self.memory_format)

    def __call__(self, x: torch.Tensor, train: bool, forward=None, y: torch.Tensor | None = None) -> torch.Tensor:
        """``forward`` (model input -> logits) and labels ``y`` are needed by the adversary only."""
        if not train or (self.augment is None and self.adversary is None):
            return self._in_format(self.standardise.raw(x))
        x01 = x.float() * self.inv_scale
        if self.augment is not None:
            x01 = self.augment(x01)
        if self.adversary is not None:
            x01 = self.adversary(lambda z: forward(self._in_format(self.standardise(z))), x01, y)
        return self._in_format(self.standardise(x01))
