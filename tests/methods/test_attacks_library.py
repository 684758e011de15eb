"""The project's FGSM and PGD against the Adversarial Robustness Toolbox's, and AutoAttack's core
(practical_dl.methods.autoattack) against our PGD, on a small trained model of real MNIST digits, in fp32."""

import numpy as np
import pytest
import torch

from practical_dl.core.engine import fit
from practical_dl.core.standardise import Standardiser, channel_statistics
from practical_dl.methods.attack_settings import AUTOATTACK, AutoAttackConfig
from practical_dl.methods.attacks import fgsm, pgd
from practical_dl.methods.autoattack import art_fgsm, art_pgd, autoattack_accuracy
from practical_dl.models.classifier import make_classifier
from practical_dl.models.networks import build_model
from practical_dl.tools.digit_images import load_mnist_test
from tests.helpers.training import cpu_config

#: attacked images; the model is trained on other test digits (what it learns does not matter here, only that it has learnt)
ATTACKED = 300
EPSILON = 0.05  # FC64 keeps 36-40 % under PGD and FGSM here (none at 0.3), so the accuracies compared are not all zero
#: images on which the project's attack and ART's may disagree: float32 rounding can flip the sign of a near-zero gradient
#: component, which moves a pixel by 2 epsilon (measured: the same prediction on every image; pixels equal to 1e-8)
TOLERANCE = 0.01


@pytest.fixture(scope="module")
def fc64_and_digits():
    """FC64 trained for 2 epochs on 3,000 MNIST test digits, and ``ATTACKED`` other test digits in [0, 1]."""
    images, labels = load_mnist_test()
    images = images[:, None]
    standardiser = Standardiser.from_stats(channel_statistics(images[:3000]))
    torch.manual_seed(0)
    trained = fit(build_model("fc64"), (images[:3000], labels[:3000]), None, standardiser, cpu_config(epochs=2, batch_size=64)).model
    model = make_classifier(trained, standardiser, {"name": "fc64"}, 1, 28).float().eval()
    x = torch.from_numpy(images[-ATTACKED:]).float() / 255
    return model, x, torch.from_numpy(labels[-ATTACKED:].astype(np.int64))


def predictions(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def assert_same_attack(model, ours, theirs, y):
    """The two attacks' images agree to float rounding, and the model answers the same on (almost) all of them."""
    same = (predictions(model, ours) == predictions(model, theirs)).float().mean().item()
    accuracy_ours = (predictions(model, ours) == y).float().mean().item()
    accuracy_theirs = (predictions(model, theirs) == y).float().mean().item()
    assert same >= 1 - TOLERANCE
    assert accuracy_ours == pytest.approx(accuracy_theirs, abs=TOLERANCE)
    assert ((ours - theirs).abs() > 1e-4).float().mean().item() <= TOLERANCE  # pixels: equal but for a rare flipped sign


def test_the_model_has_learnt_and_the_attack_bites(fc64_and_digits):
    model, x, y = fc64_and_digits
    assert (predictions(model, x) == y).float().mean() > 0.75
    assert (predictions(model, fgsm(model, x, y, EPSILON)) == y).float().mean() < 0.6


def test_our_fgsm_is_art_s(fc64_and_digits):
    model, x, y = fc64_and_digits
    assert_same_attack(model, fgsm(model, x, y, EPSILON), art_fgsm(model, x, y, EPSILON), y)


def test_our_pgd_is_art_s(fc64_and_digits):
    """10 steps of epsilon / 4 from the clean image: the adversarial pipeline's PGD."""
    model, x, y = fc64_and_digits
    ours = pgd(model, x, y, EPSILON, steps=10, step_size=EPSILON / 4)
    assert_same_attack(model, ours, art_pgd(model, x, y, EPSILON, steps=10, step_size=EPSILON / 4), y)


def test_autoattack_is_at_least_as_strong_as_pgd(fc64_and_digits):
    """On 100 images, with small budgets (25 APGD steps, 2 targets, 100 Square queries) to keep the test short."""
    model, x, y = fc64_and_digits
    x, y = x[:100], y[:100]
    by_pgd = (predictions(model, pgd(model, x, y, EPSILON, steps=10, step_size=EPSILON / 4)) == y).float().mean().item()
    result = autoattack_accuracy(model, x, y, EPSILON, apgd_steps=25, target_classes=2, square_queries=100, seed=0)
    assert result.n == 100 and result.epsilon == EPSILON
    assert result.clean_accuracy == pytest.approx((predictions(model, x) == y).float().mean().item())
    assert [a.attack for a in result.attacks] == list(AUTOATTACK)
    left = [a.accuracy for a in result.attacks]  # each attack on what the ones before it left
    assert left == sorted(left, reverse=True) and left[-1] == result.robust_accuracy and left[0] <= result.clean_accuracy
    assert result.robust_accuracy <= by_pgd and result.accuracy_of("APGD-CE") <= by_pgd


def test_autoattack_is_seeded_and_leaves_the_global_generators_alone(fc64_and_digits):
    """Each attack alone here: AutoAttack's figure is the images none of them breaks."""
    model, x, y = fc64_and_digits
    config = AutoAttackConfig(epsilon=EPSILON, apgd_steps=5, target_classes=1, square_queries=20, seed=3, alone=True)
    np.random.seed(11)
    before = np.random.get_state()[1].copy(), torch.random.get_rng_state()
    first, second = config(model, x[:60], y[:60]), config(model, x[:60], y[:60])
    assert [a.accuracy for a in first.attacks] == [a.accuracy for a in second.attacks]
    assert first.robust_accuracy <= min(a.accuracy for a in first.attacks) and first.accuracy_of("Square") < first.clean_accuracy
    assert np.array_equal(np.random.get_state()[1], before[0]) and torch.equal(torch.random.get_rng_state(), before[1])


@pytest.mark.parametrize(
    "images, message",
    [(torch.full((2, 1, 28, 28), 2.0), r"\[0, 1\]"), (torch.zeros(2, 28, 28), "N x C x H x W")],
)
def test_autoattack_refuses_images_outside_pixel_range_or_shape(fc64_and_digits, images, message):
    model, *_ = fc64_and_digits
    with pytest.raises(ValueError, match=message):
        autoattack_accuracy(model, images, torch.zeros(2, dtype=torch.long))
