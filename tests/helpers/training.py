"""Short, seeded trainings on the CPU: their settings, small models, and a collaborator that stops one."""

import torch

from practical_dl.core.config import TrainConfig
from practical_dl.core.standardise import Standardiser
from practical_dl.methods.gan.training import GANConfig
from practical_dl.models.classifier import make_classifier
from practical_dl.models.networks import SimpLeNet

#: a short, seeded, quiet fp32 training on the CPU (the settings :func:`cpu_config` changes)
CPU_RUN = dict(epochs=3, batch_size=32, lr=0.05, schedule="constant", device="cpu", precision="fp32", progress=False, seed=1)


def cpu_config(**changes) -> TrainConfig:
    """:data:`CPU_RUN` with ``changes``, as the engine's settings."""
    return TrainConfig(**(CPU_RUN | changes))


def linear_classifier() -> torch.nn.Module:
    """A seeded linear model for :func:`tests.helpers.data.two_class_images`."""
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))


def untrained_simplenet(seed: int | None = 0):
    """An untrained SimpLeNet as an exported classifier (the probe of attacks and GAN scores), initialised
    after ``torch.manual_seed(seed)`` (None: from the global generator as it stands)."""
    if seed is not None:
        torch.manual_seed(seed)
    return make_classifier(SimpLeNet(), Standardiser(mean=(0.13,), std=(0.31,), scale=255.0), {"name": "simplenet"}, 1, 28)


def tiny_gan(**changes):
    """96 random 28 x 28 images and the settings of a tiny DCGAN (3 epochs of 3 steps on the CPU), with ``changes``."""
    images = torch.randint(0, 256, (96, 1, 28, 28), generator=torch.Generator().manual_seed(0), dtype=torch.uint8).numpy()
    base = dict(
        epochs=3, batch_size=32, latent_dim=8, generator_features=4, discriminator_features=4, progress=False, fixed_samples=6, device="cpu"
    )
    return images, GANConfig(**(base | changes))


class NoteEpochs:
    """A collaborator of a training loop that appends each epoch to ``into`` as it ends."""

    def __init__(self, into: list[int]) -> None:
        self.into = into

    def on_epoch_end(self, state) -> None:
        self.into.append(state.epoch)


class StopAfter:
    """A collaborator of a training loop that raises ``error`` (Ctrl-C's KeyboardInterrupt, or a kill's
    stand-in) once epoch ``epoch`` has ended: before the checkpointer, that epoch is not saved; after it, it is."""

    def __init__(self, epoch: int, error: type[BaseException] = KeyboardInterrupt) -> None:
        self.epoch, self.error = epoch, error

    def on_epoch_end(self, state) -> None:
        if state.epoch == self.epoch:
            raise self.error
