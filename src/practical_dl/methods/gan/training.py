"""Training a DCGAN (Radford et al. 2015) on small grey images, in the project's one loop.

Plain PyTorch, usable without Kedro::

    from practical_dl.methods.gan.training import GANConfig, train_dcgan
    result = train_dcgan(uint8_images, GANConfig(epochs=5))
    samples = result.generator.sample(64)            # N x 1 x 28 x 28 in [0, 1]

The paper's training recipe: Adam with beta1 = 0.5 for both networks, one discriminator step
and one generator step per batch; the networks follow its guidelines
(:mod:`practical_dl.models.gan`). Scores of the samples: :mod:`practical_dl.methods.gan.scores`.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from practical_dl.core.checkpoint import TrainingState
from practical_dl.core.distributed import DataParallel, SingleProcess, from_environment
from practical_dl.core.loop import train_epochs
from practical_dl.core.runtime import autocast_context, resolve_device, resolve_precision
from practical_dl.methods.gan.settings import GANConfig
from practical_dl.models.gan import Discriminator, Generator, init_dcgan_weights

logger = logging.getLogger(__name__)


@dataclass
class GANResult:
    generator: Generator
    discriminator: Discriminator
    history: list[dict[str, float]]
    progress: list[np.ndarray]  # the fixed latent vectors' images after every epoch (uint8)
    diverged: bool = False
    divergence_reason: str = ""


def build_gan(config: GANConfig, channels: int = 1) -> tuple[Generator, Discriminator]:
    """A generator and a discriminator with DCGAN's initial weights (seeded by the caller)."""
    generator = Generator(config.latent_dim, config.generator_features, channels)
    discriminator = Discriminator(config.discriminator_features, channels)
    generator.apply(init_dcgan_weights)
    discriminator.apply(init_dcgan_weights)
    return generator, discriminator


def to_tanh_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 (0..255) -> float in [-1, 1], the range of the generator's tanh."""
    return images.float() * (2.0 / 255.0) - 1.0


def gan_step(
    generator: Generator,
    discriminator: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    real: torch.Tensor,
    real_label: float = 1.0,
    autocast=None,
    z: torch.Tensor | None = None,
    critic: nn.Module | None = None,
    weight: float = 1.0,
) -> torch.Tensor:
    """One update of the discriminator, then one of the generator (non-saturating loss).

    Returns ``[loss_d, loss_g, D(x), D(G(z))]`` summed over the batch, as a device tensor.

    Data-parallel (:mod:`practical_dl.core.distributed`): ``generator`` and ``discriminator`` are the
    ``DistributedDataParallel`` wrappers, ``critic`` the plain discriminator inside (the
    generator's step needs no all-reduce of its gradients), ``z`` this process's part of the
    batch's latent vectors and ``weight`` its losses' share of the global batch.
    """
    autocast = autocast or (lambda: autocast_context(real.device, "fp32"))
    n = real.shape[0]
    if z is None:
        z = torch.randn(n, generator.latent_dim, device=real.device)
    critic = critic if critic is not None else discriminator
    with autocast():
        fake = generator(z)
        d_real = discriminator(real).float()
        d_fake = discriminator(fake.detach()).float()
        loss_d = F.binary_cross_entropy_with_logits(d_real, torch.full_like(d_real, real_label)) + F.binary_cross_entropy_with_logits(
            d_fake, torch.zeros_like(d_fake)
        )
    opt_d.zero_grad(set_to_none=True)
    (loss_d if weight == 1.0 else loss_d * weight).backward()
    opt_d.step()
    critic.requires_grad_(False)  # the generator's step needs no gradients of D's weights
    with autocast():
        d_on_fake = critic(fake).float()
        loss_g = F.binary_cross_entropy_with_logits(d_on_fake, torch.ones_like(d_on_fake))
    opt_g.zero_grad(set_to_none=True)
    (loss_g if weight == 1.0 else loss_g * weight).backward()
    opt_g.step()
    critic.requires_grad_(True)
    return torch.stack(
        [loss_d.detach() * n, loss_g.detach() * n, torch.sigmoid(d_real.detach()).sum(), torch.sigmoid(d_fake.detach()).sum()]
    )


def train_dcgan(
    images: np.ndarray,
    config: GANConfig,
    score: Callable[[Generator, int], dict[str, float]] | None = None,
    callbacks: Sequence[Any] = (),
    resume: TrainingState | None = None,
    parallel: SingleProcess | DataParallel | None = None,
) -> GANResult:
    """Train a DCGAN on uint8 ``N x C x H x W`` images (H = W = 28), through the project's one
    epoch loop (:func:`practical_dl.core.loop.train_epochs`), like the classifiers.

    After every epoch: the losses, the discriminator's mean outputs D(x) and D(G(z)), and
    ``score(generator, epoch)`` (e.g. Inception Score and Fréchet distance) go into the history;
    the fixed latent vectors' images are kept (``state.task["progress"]``); the ``callbacks`` are
    called (e.g. a :class:`~practical_dl.core.checkpoint.Checkpointer`; the run goes on from its
    ``resume_state()``). A non-finite loss stops training (``diverged``) with what was learnt so far.

    Under ``torchrun`` (``parallel``, by default the environment's, see
    :mod:`practical_dl.core.distributed`) every process trains on its part of each batch of
    ``batch_size`` images and latent vectors, the gradients of both networks all-reduced; rank 0
    alone scores the generator (give it alone the callbacks that write: ``parallel.main_only``).
    """
    if images.ndim != 4 or images.shape[-2:] != (28, 28):
        raise ValueError(f"the DCGAN is built for N x C x 28 x 28 images, got shape {images.shape}")
    if parallel is None:
        parallel = from_environment(device=config.device)
    parallel.agree_on_resume(resume.epoch if resume is not None else 0, "DCGAN")
    device = parallel.device(resolve_device(config.device))
    precision = resolve_precision(config.precision, device)
    torch.manual_seed(config.seed)
    generator, discriminator = build_gan(config, images.shape[1])
    data = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    task = DCGANTask(generator.to(device), discriminator.to(device), data, config, device, precision, score, parallel)
    logger.info("Training the DCGAN on %s (%s), %d images, %d steps per epoch", device, precision, len(data), task.steps)
    result = train_epochs(task, config.epochs, config.seed, "DCGAN", callbacks, resume)
    generator = task.output.eval()  # the averaged weights when generator_average is on
    discriminator.eval()
    progress = [grid.numpy() for grid in task.progress]
    return GANResult(generator, discriminator, result.history, progress, result.diverged, result.divergence_reason)


def gan_scheduler(optimizer: torch.optim.Optimizer, schedule: str, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning rate of one of the DCGAN's optimizers, stepped after every update: constant,
    or ``linear``: from the configured rate down to zero at the last of ``total_steps`` updates."""
    if schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / total_steps))
    return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)


class DCGANTask:
    """One epoch of DCGAN training (alternating updates of D and G on every batch, see
    :func:`gan_step`) for :func:`practical_dl.core.loop.train_epochs`."""

    def __init__(
        self, generator, discriminator, data: torch.Tensor, config: GANConfig, device, precision, score=None, parallel=None
    ) -> None:
        self.generator, self.discriminator, self.data = generator.train(), discriminator.train(), data
        self.config, self.device, self.precision, self.score = config, device, precision, score
        self.parallel = parallel if parallel is not None else SingleProcess()
        # the training steps go through the data-parallel wrappers (the modules themselves in one process)
        self.step_generator, self.step_discriminator = self.parallel.wrap(generator), self.parallel.wrap(discriminator)
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
        self.fixed_z = torch.randn(config.fixed_samples, config.latent_dim, generator=torch.Generator().manual_seed(config.seed + 1))
        self.steps = len(data) // config.batch_size  # the last, smaller batch is dropped: batch norm wants full ones
        if self.steps == 0:
            raise ValueError(f"gan.training.batch_size={config.batch_size} is larger than the {len(data)} training images")
        self.schedulers = [gan_scheduler(opt, config.schedule, self.steps * config.epochs) for opt in (self.opt_g, self.opt_d)]
        self.progress: list[torch.Tensor] = []  # uint8 grids of the fixed latent vectors, one per epoch
        # the moving average of the generator's weights (its batch-norm statistics follow the generator's)
        self.average = copy.deepcopy(generator).requires_grad_(False) if config.generator_average > 0 else None
        self.updates = 0

    @property
    def output(self) -> Generator:
        """The generator that is scored, drawn and kept: the average of the weights, or the weights."""
        return self.average if self.average is not None else self.generator

    @torch.no_grad()
    def _update_average(self) -> None:
        """One step of the moving average; its decay ramps up over the first steps, so that the
        average does not remember the random initialisation."""
        self.updates += 1
        decay = min(self.config.generator_average, (1 + self.updates) / (10 + self.updates))
        for averaged, current in zip(self.average.parameters(), self.generator.parameters()):
            averaged.lerp_(current, 1 - decay)
        for averaged, current in zip(self.average.buffers(), self.generator.buffers()):
            averaged.copy_(current)

    def train_epoch(self, epoch: int, shuffle: torch.Generator) -> tuple[dict[str, Any], str]:
        config, device, size = self.config, self.device, self.config.batch_size
        start = time.perf_counter()
        perm = torch.randperm(len(self.data), generator=shuffle).to(device)
        sums = torch.zeros(4, device=device)
        shard = self.parallel.epoch_shard(len(self.data), device)
        disable = not config.progress or not self.parallel.is_main
        with tqdm(total=self.steps, desc=f"DCGAN epoch {epoch}/{config.epochs}", leave=False, disable=disable, unit="batch") as bar:
            for i in range(self.steps):
                batch = perm[i * size : (i + 1) * size]
                mine = shard(batch) if shard is not None else batch
                z = self.parallel.part(torch.randn(size, config.latent_dim, device=device))  # the global batch's, as in one process
                sums += gan_step(
                    self.step_generator,
                    self.step_discriminator,
                    self.opt_g,
                    self.opt_d,
                    to_tanh_range(self.data.index_select(0, mine)),
                    config.real_label,
                    lambda: autocast_context(device, self.precision),
                    z=z,
                    critic=self.discriminator,
                    weight=self.parallel.loss_weight(len(mine), size),
                )
                for scheduler in self.schedulers:
                    scheduler.step()
                if self.average is not None:
                    self._update_average()
                bar.update(1)
        seen = self.steps * size
        if shard is not None:
            self.parallel.check_epoch(shard, "DCGAN", epoch, trained=seen)  # the last, partial batch is dropped
        loss_d, loss_g, d_x, d_gz = (v / seen for v in self.parallel.total(*sums))  # the one read-back of the epoch
        row = {
            "loss_d": loss_d,
            "loss_g": loss_g,
            "d_real": d_x,
            "d_fake": d_gz,
            "lr": self.opt_g.param_groups[0]["lr"],
            "seconds": time.perf_counter() - start,
        }
        reason = ""
        if not all(math.isfinite(v) for v in (loss_d, loss_g)):
            reason = f"non-finite loss at epoch {epoch} (discriminator {loss_d}, generator {loss_g})"
        if self.score is not None and not reason and self.parallel.is_main:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                row |= self.score(self.output, epoch)
        self.progress.append((self.output.decode(self.fixed_z) * 255).round().to(torch.uint8))
        return row, reason

    def state(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scheduler_g": self.schedulers[0].state_dict(),
            "scheduler_d": self.schedulers[1].state_dict(),
            "progress": list(self.progress),
            **(
                {"generator_average": self.average.state_dict(), "average_updates": torch.tensor(self.updates)}
                if self.average is not None
                else {}
            ),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.schedulers[0].load_state_dict(state["scheduler_g"])
        self.schedulers[1].load_state_dict(state["scheduler_d"])
        self.progress = list(state["progress"])
        if self.average is not None:
            self.average.load_state_dict(state["generator_average"])
            self.updates = int(state["average_updates"])

    def summary(self, row: dict[str, Any]) -> str:
        scores = "".join(f" | {k} {row[k]:.3f}" for k in row if k not in {"epoch", "loss_d", "loss_g", "d_real", "d_fake", "lr", "seconds"})
        return (
            f"loss D {row['loss_d']:.3f} G {row['loss_g']:.3f} | D(x) {row['d_real']:.2f} D(G(z)) {row['d_fake']:.2f}"
            f"{scores} | {row['seconds']:.1f}s"
        )
