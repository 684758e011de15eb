"""Gradient norms watched while a network trains: measured on a copy, and kept across a resume."""

import pytest
import torch

from practical_dl.core.checkpoint import Checkpointer
from practical_dl.core.diagnostics import GradientNorms
from practical_dl.core.engine import fit
from tests.helpers.data import TWO_CLASS_STD as STD
from tests.helpers.data import two_class_images
from tests.helpers.training import StopAfter, cpu_config

CONFIG = cpu_config()


def network() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def watch(model: torch.nn.Module) -> GradientNorms:
    images, labels = two_class_images(16)
    return GradientNorms(model, lambda m: [m[1], m[3]], images, labels, STD)


def test_the_norms_of_every_epoch_survive_a_resume(tmp_path):
    data = two_class_images()
    model = network()
    whole = watch(model)
    fit(model, data, None, STD, CONFIG, callbacks=[whole])
    assert [row["epoch"] for row in whole.history] == [0, 1, 2, 3]

    checkpointer = Checkpointer(tmp_path / "m.safetensors", fingerprint="f")
    model = network()
    with pytest.raises(KeyboardInterrupt):
        fit(model, data, None, STD, CONFIG, callbacks=[watch(model), StopAfter(2), checkpointer])
    model = network()
    resumed = watch(model)
    fit(model, data, None, STD, CONFIG, callbacks=[resumed, checkpointer], resume=checkpointer.resume_state())
    assert resumed.history == whole.history
