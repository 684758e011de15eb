import pytest
import torch
from torch import nn

from practical_dl.core.engine import fit
from practical_dl.core.params import ParameterError
from practical_dl.core.standardise import Standardiser
from practical_dl.methods.attack_settings import AdversarialParameters, AdversarialTraining, AttackConfig
from practical_dl.methods.attacks import accuracy_under_attack, fgsm, pgd
from practical_dl.models.networks import SimpLeNet
from practical_dl.project.parameters import training_settings
from tests.conftest import shipped_parameters
from tests.helpers.data import two_class_images
from tests.helpers.training import cpu_config, untrained_simplenet

STANDARDISER = Standardiser(mean=(0.13,), std=(0.31,), scale=255.0)


@pytest.fixture
def model_and_batch():
    model = untrained_simplenet()
    x = torch.rand(16, 1, 28, 28)
    x[:4] = 0.0  # saturated pixels: the attack must not leave [0, 1]
    x[4:8] = 1.0
    y = torch.randint(0, 10, (16,))
    return model, x, y


@pytest.mark.parametrize(
    "attack",
    [
        lambda m, x, y, e: fgsm(m, x, y, e),
        lambda m, x, y, e: pgd(m, x, y, e, steps=5, step_size=e / 2),
        lambda m, x, y, e: pgd(m, x, y, e, steps=3, step_size=e, random_start=True, generator=torch.Generator().manual_seed(1)),
        lambda m, x, y, e: AdversarialTraining(epsilon=e, fraction=1.0)(m, x, y),
    ],
    ids=["fgsm", "pgd", "pgd_random_start", "fast_adversarial_training"],
)
@pytest.mark.parametrize("epsilon", [0.05, 0.3])
def test_attacks_stay_in_the_epsilon_ball_and_in_pixel_range(model_and_batch, attack, epsilon):
    model, x, y = model_and_batch
    x_adv = attack(model, x, y, epsilon)
    assert x_adv.shape == x.shape
    assert (x_adv - x).abs().max() <= epsilon + 1e-6  # float rounding of x + epsilon
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv != x).any()  # it did move pixels


def test_pgd_with_one_step_of_epsilon_is_fgsm(model_and_batch):
    model, x, y = model_and_batch
    assert torch.equal(pgd(model, x, y, 0.1, steps=1, step_size=0.1), fgsm(model, x, y, 0.1))


def test_attacks_raise_the_loss(model_and_batch):
    model, x, y = model_and_batch
    with torch.no_grad():
        clean = nn.functional.cross_entropy(model(x), y)
        after_fgsm = nn.functional.cross_entropy(model(fgsm(model, x, y, 0.1)), y)
        after_pgd = nn.functional.cross_entropy(model(pgd(model, x, y, 0.1, steps=10, step_size=0.025)), y)
    assert after_fgsm > clean and after_pgd > clean


def test_attacks_leave_parameter_gradients_alone(model_and_batch):
    model, x, y = model_and_batch
    pgd(model, x, y, 0.1, steps=2, step_size=0.05)
    assert all(p.grad is None for p in model.parameters())


def test_epsilon_zero_leaves_accuracy_unchanged(model_and_batch):
    model, x, y = model_and_batch
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    for kind in ("fgsm", "pgd"):
        assert accuracy_under_attack(model, x, y, AttackConfig(kind=kind), [0.0], batch_size=5) == [pytest.approx(clean)]


def test_accuracy_falls_with_epsilon_on_a_trained_model():
    """A model that has learnt something loses accuracy as epsilon grows, more so under PGD."""
    torch.manual_seed(0)
    images, labels = two_class_images(200, size=16, top=True)  # two well separated classes: bright top half vs bright bottom half
    x, y = torch.from_numpy(images).float() / 255, torch.from_numpy(labels).long()
    net = nn.Sequential(nn.Flatten(), nn.Linear(256, 2))
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    for _ in range(50):
        opt.zero_grad()
        nn.functional.cross_entropy(net(x), y).backward()
        opt.step()
    epsilons = [0.0, 0.1, 0.2, 0.3, 0.5]
    by_fgsm = accuracy_under_attack(net, x, y, AttackConfig(kind="fgsm"), epsilons)
    by_pgd = accuracy_under_attack(net, x, y, AttackConfig(kind="pgd", steps=10, step_fraction=0.25), epsilons)
    assert by_fgsm[0] == 1.0
    assert by_fgsm == sorted(by_fgsm, reverse=True) and by_fgsm[-1] < 0.5
    assert all(p <= f for p, f in zip(by_pgd, by_fgsm))


def test_adversarial_training_replaces_only_its_fraction(model_and_batch):
    model, x, y = model_and_batch
    out = AdversarialTraining(epsilon=0.2, fraction=0.25, random_start=False)(model, x, y)
    assert not torch.equal(out[:4], x[:4]) or not torch.equal(out[4:5], x[4:5])
    assert torch.equal(out[4:], x[4:])


def test_fit_passes_the_adversary_pixel_space_batches_and_labels():
    rng = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 1, 28, 28), generator=rng, dtype=torch.uint8).numpy()
    labels = torch.randint(0, 10, (64,), generator=rng).numpy()
    seen = []

    def adversary(forward, x, y):
        seen.append((float(x.min()), float(x.max()), y.clone()))
        return AdversarialTraining(epsilon=0.1)(forward, x, y)

    config = cpu_config(epochs=1)
    fit(SimpLeNet(), (images, labels), None, STANDARDISER, config, adversary=adversary)
    assert len(seen) == 2
    assert all(0.0 <= lo and hi <= 1.0 for lo, hi, _ in seen)
    assert sorted(torch.cat([y for *_, y in seen]).tolist()) == sorted(labels.tolist())


@pytest.mark.parametrize(
    "block, message",
    [
        ({"epsilon": -0.1}, r"simplenet_robust\.training\.adversarial\.epsilon: must be > 0, got -0\.1"),
        ({"epsilon": 1.5}, r"simplenet_robust\.training\.adversarial\.epsilon: must be <= 1"),
        ({"epsilon": 0.1, "fraction": 0}, r"simplenet_robust\.training\.adversarial\.fraction: must be > 0, got 0"),
        ({"attack": "deepfool"}, r"simplenet_robust\.training\.adversarial\.attack: must be one of 'fgsm' or 'pgd', got 'deepfool'"),
        ({"steps": 0}, r"simplenet_robust\.training\.adversarial\.steps: must be > 0"),
        ({"step_fraction": 3}, r"simplenet_robust\.training\.adversarial\.step_fraction: must be <= 2"),
        ({"eps": 0.1}, r"unknown parameter simplenet_robust\.training\.adversarial\.eps"),
    ],
)
def test_bad_adversarial_training_parameters_name_the_parameter(block, message):
    with pytest.raises(ParameterError, match=message):
        training_settings({}, {"adversarial": block}, where="simplenet_robust.training")


def test_bad_attack_parameters_name_the_parameter():
    with pytest.raises(ParameterError, match=r"adversarial\.attacks\.pgd\.steps: must be > 0, got 0"):
        AttackConfig.from_dict({"kind": "pgd", "steps": 0}, where="adversarial.attacks.pgd")
    with pytest.raises(ParameterError, match=r"adversarial\.attacks\.pgd\.step_fraction: must be <= 1"):
        AttackConfig.from_dict({"kind": "pgd", "step_fraction": 1.5}, where="adversarial.attacks.pgd")


ADVERSARIAL = {"epsilons": [0, 0.1, 0.2], "attacks": {"fgsm": {"kind": "fgsm"}}}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"epsilons": []}, r"adversarial\.epsilons: must be a non-empty list"),
        ({"epsilons": [0.2, 0.1]}, r"adversarial\.epsilons: must be increasing"),
        ({"epsilons": [0, 1.5]}, r"adversarial\.epsilons\[1\]: must be <= 1, got 1\.5"),
        ({"attacks": {}}, r"adversarial\.attacks: must have at least 1 item"),
        ({"attacks": {"pgd": {"kind": "cw"}}}, r"adversarial\.attacks\.pgd\.kind: must be one of 'fgsm' or 'pgd'"),
        ({"test_images": 5}, r"adversarial\.test_images: must be >= 10, got 5"),
        ({"batch_size": 0}, r"adversarial\.batch_size: must be > 0, got 0"),
        ({"examples": {"epsilons": [2]}}, r"adversarial\.examples\.epsilons\[0\]: must be <= 1"),
        ({"epsilon": [0.1]}, r"unknown parameter adversarial\.epsilon:"),
    ],
)
def test_bad_adversarial_parameters_name_the_parameter(change, message):
    with pytest.raises(ParameterError, match=message):
        AdversarialParameters.from_dict(ADVERSARIAL | change, "adversarial")


def test_the_configured_adversarial_parameters_are_valid():
    adversarial = AdversarialParameters.from_dict(shipped_parameters("adversarial"), "adversarial")
    assert adversarial.attacks["pgd"].steps == 10 and adversarial.test_images == 1000
