"""The adversarial patch: in [0, 1], inside its square, pasting changes only that square, and its
optimisation does what it is for on a model that can be fooled."""

import pytest
import torch
from torch import nn

from practical_dl.core.params import ParameterError
from practical_dl.methods.patch import PatchConfig, _placed, paste, random_positions, targeted_success, train_patch


def test_the_patch_stays_in_its_square_and_in_unit_range():
    def forward(x):
        return torch.zeros(len(x), 10, requires_grad=True) + x.mean((1, 2, 3)).unsqueeze(1) * torch.arange(10.0)

    images = torch.rand(32, 1, 28, 28)
    patch = train_patch(forward, images, PatchConfig(size=6, target=9, steps=20, batch_size=8))
    assert patch.shape == (1, 1, 6, 6)
    assert patch.min() >= 0 and patch.max() <= 1
    assert patch.mean() > 0.75  # from about 0.5: asking for class 9 here means as bright as possible


@pytest.mark.parametrize("size", [1, 4, 10, 28])
def test_pasting_changes_only_that_square(size):
    generator = torch.Generator().manual_seed(size)
    images = torch.rand(16, 1, 28, 28, generator=generator)
    patch = torch.rand(1, 1, size, size, generator=generator)
    where = random_positions(16, 28, size, generator)
    out = paste(images, patch, where)
    for i, (row, col) in enumerate(where.tolist()):
        inside = torch.zeros(28, 28, dtype=torch.bool)
        inside[row : row + size, col : col + size] = True
        assert torch.equal(out[i, 0][inside].view(size, size), patch[0, 0])
        assert torch.equal(out[i, 0][~inside], images[i, 0][~inside])


def test_a_patch_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match="does not fit"):
        random_positions(3, 28, 29)
    with pytest.raises(ValueError, match="leaves"):
        paste(torch.zeros(1, 1, 28, 28), torch.ones(1, 1, 4, 4), torch.tensor([[25, 0]]))


def test_training_placements_draw_the_patch_and_keep_the_rest():
    generator = torch.Generator().manual_seed(0)
    images = torch.zeros(64, 1, 28, 28)
    placed = _placed(images, torch.ones(1, 1, 8, 8), generator, PatchConfig(size=8))
    area = placed.sum((1, 2, 3))
    assert placed.min() >= 0 and placed.max() <= 1 + 1e-6
    assert (area > 0.5 * 64 * 0.8**2).all() and (area < 1.5 * 64 * 1.2**2).all()  # about an 8x8 square, scaled 0.8-1.2
    centres = (placed[:, 0] > 0.5).nonzero()[:, 1:].float()
    assert centres.std(0).min() > 2  # at many positions


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"size": 0}, r"patch\.size: must be > 0, got 0"),
        ({"target": -1}, r"patch\.target: must be >= 0, got -1"),
        ({"steps": True}, r"patch\.steps: must be an integer"),
        ({"scale": (1.2, 0.8)}, r"patch\.scale: must be \[low, high\] with 0 < low <= high"),
        ({"scale": (0, 0.8)}, r"patch\.scale\[0\]: must be > 0"),
        ({"step_size": 0}, r"patch\.step_size: must be > 0, got 0"),
        ({"step_size": 1.5}, r"patch\.step_size: must be <= 1"),
        ({"rotation_degrees": 200}, r"patch\.rotation_degrees: must be <= 180"),
    ],
)
def test_bad_settings_are_named(bad, message):
    with pytest.raises(ParameterError, match=message):
        PatchConfig.from_dict(bad, "patch")


def test_a_patch_fools_a_model_that_looks_at_one_pixel_anywhere():
    """A model that answers 3 when a few pixels are at full brightness and 7 otherwise: the patch's
    random start does not fool it, the trained patch does, wherever it is pasted."""
    torch.manual_seed(0)

    class BrightSpot(nn.Module):
        def forward(self, x):
            score = torch.logsumexp(20 * x.flatten(1), 1) / 20
            logits = torch.zeros(len(x), 10)
            return logits.index_put((torch.arange(len(x)), torch.full((len(x),), 3)), 10 * (score - 0.97)) + torch.nn.functional.one_hot(
                torch.full((len(x),), 7), 10
            )

    model = BrightSpot()
    images = torch.rand(64, 1, 28, 28) * 0.3
    labels = torch.full((64,), 7)
    assert (model(images).argmax(1) == 7).all()
    config = PatchConfig(size=4, target=3, steps=30, batch_size=16, step_size=0.2)
    start = torch.rand(1, 1, 4, 4, generator=torch.Generator().manual_seed(config.seed))  # where training starts
    assert targeted_success(model, images, labels, start, target=3) == 0.0
    patch = train_patch(model, images, config)
    assert targeted_success(model, images, labels, patch, target=3) == 1.0
    assert targeted_success(model, images, labels, torch.zeros(1, 1, 4, 4), target=3) == 0.0
