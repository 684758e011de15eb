import math

import numpy as np
import pytest
import torch

from practical_dl.core.checkpoint import Checkpointer
from practical_dl.core.params import ParameterError
from practical_dl.methods.gan.latent import LatentGroup, interpolate, latent_arithmetic
from practical_dl.methods.gan.scores import ClassifierProbe, FrechetDistance, inception_score
from practical_dl.methods.gan.training import GANConfig, build_gan, gan_step, train_dcgan
from practical_dl.models.gan import Discriminator, Generator, LatentProjection
from practical_dl.pipelines.gan.nodes import GanParameters
from tests.conftest import shipped_parameters
from tests.helpers.training import NoteEpochs, StopAfter, tiny_gan, untrained_simplenet


def test_generator_and_discriminator_shapes():
    g, d = Generator(latent_dim=16, features=8), Discriminator(features=8)
    x = g(torch.randn(5, 16))
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert d(x).shape == (5,)
    samples = g.sample(7, torch.Generator().manual_seed(0))
    assert samples.shape == (7, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1


@pytest.mark.parametrize("bias", [False, True])
def test_the_latent_projection_is_the_transposed_convolution_it_replaces(bias):
    torch.manual_seed(0)
    reference = torch.nn.ConvTranspose2d(16, 12, 7, 1, 0, bias=bias)
    projection = LatentProjection(16, 12, 7, 1, 0, bias=bias)
    projection.load_state_dict(reference.state_dict())  # the same weights and state-dict keys
    z = torch.randn(5, 16, 1, 1, requires_grad=True)
    out, expected = projection(z), reference(z)
    assert out.shape == (5, 12, 7, 7)
    torch.testing.assert_close(out, expected)
    grad = torch.randn_like(out)
    torch.testing.assert_close(
        torch.autograd.grad(out, [z, projection.weight], grad), torch.autograd.grad(expected, [z, reference.weight], grad)
    )
    wider = torch.randn(2, 16, 3, 3)  # not a 1 x 1 input: the transposed convolution itself
    torch.testing.assert_close(projection(wider), reference(wider))
    dilated, reference_dilated = (
        LatentProjection(16, 12, 7, dilation=2, bias=bias),
        torch.nn.ConvTranspose2d(16, 12, 7, dilation=2, bias=bias),
    )
    dilated.load_state_dict(reference_dilated.state_dict())  # a dilated kernel is no plain product: 13 x 13 out
    torch.testing.assert_close(dilated(z), reference_dilated(z))


def test_one_training_step_changes_both_networks():
    torch.manual_seed(0)
    config = GANConfig(latent_dim=16, generator_features=8, discriminator_features=8)
    g, d = build_gan(config)
    before_g = [p.detach().clone() for p in g.parameters()]
    before_d = [p.detach().clone() for p in d.parameters()]
    opt_g = torch.optim.Adam(g.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=config.lr, betas=(config.beta1, config.beta2))
    sums = gan_step(g, d, opt_g, opt_d, torch.rand(8, 1, 28, 28) * 2 - 1)
    assert torch.isfinite(sums).all()
    assert all(not torch.equal(a, b) for a, b in zip(before_g, g.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before_d, d.parameters()))


def test_inception_score_of_constant_predictions_is_one():
    logits = torch.tensor([[5.0, 1.0, 0.0]]).repeat(300, 1)
    assert inception_score(logits, splits=3)[0] == pytest.approx(1.0, abs=1e-9)


def test_inception_score_of_confident_even_predictions_is_the_number_of_classes():
    # confident to float64 precision (p = 1 - 9 e^-40), 100 images per class
    logits = torch.full((1000, 10), -20.0)
    logits[torch.arange(1000), torch.arange(1000) % 10] = 20.0
    assert inception_score(logits, splits=1)[0] == pytest.approx(10.0, rel=1e-9)


def test_inception_score_of_confident_predictions_over_half_the_classes_is_five():
    logits = torch.full((1000, 10), -20.0)
    logits[torch.arange(1000), torch.arange(1000) % 5] = 20.0
    assert inception_score(logits, splits=1)[0] == pytest.approx(5.0, rel=1e-9)


def test_frechet_distance_known_values():
    torch.manual_seed(0)
    real = torch.randn(4000, 6)
    distance = FrechetDistance(real)
    assert distance(real) == pytest.approx(0.0, abs=1e-6)
    shift = torch.tensor([1.0, 2.0, 0.0, 0.0, 0.0, 0.0])
    assert distance(real + shift) == pytest.approx(5.0, abs=1e-6)  # same covariance: |mu1 - mu2|^2
    assert distance(real * 2) > distance(real * 1.1) > 0


def without_clock(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def assert_same_gan(a, b):
    for net in ("generator", "discriminator"):
        for (name, p), (_, q) in zip(getattr(a, net).state_dict().items(), getattr(b, net).state_dict().items(), strict=True):
            assert torch.equal(p, q), f"{net}.{name}"
    assert without_clock(a.history) == without_clock(b.history)
    assert all(np.array_equal(x, y) for x, y in zip(a.progress, b.progress, strict=True))


def test_training_is_reproducible_and_keeps_history_and_progress():
    images, config = tiny_gan()
    calls = []
    first = train_dcgan(images, config, score=lambda g, epoch: {"score": float(epoch)}, callbacks=[NoteEpochs(calls)])
    second = train_dcgan(images, config, score=lambda g, epoch: {"score": float(epoch)})
    assert [r["epoch"] for r in first.history] == [1, 2, 3] and calls == [1, 2, 3]
    assert first.history[0]["score"] == 1.0
    assert_same_gan(first, second)  # the same seed: the same weights, history and progress images
    assert all(math.isfinite(r["loss_g"]) for r in first.history)
    assert len(first.progress) == 3 and first.progress[0].shape == (6, 1, 28, 28) and first.progress[0].dtype == np.uint8


@pytest.mark.parametrize(
    "average, schedule", [(0.0, "constant"), (0.9, "constant"), (0.0, "linear")], ids=["last weights", "averaged generator", "linear decay"]
)
def test_a_killed_and_resumed_dcgan_ends_bit_identical(tmp_path, average, schedule):
    images, config = tiny_gan(generator_average=average, schedule=schedule)
    score = lambda g, epoch: {"score": float(g.sample(4, torch.Generator().manual_seed(epoch)).mean())}  # noqa: E731
    whole = train_dcgan(images, config, score=score)

    class Killed(Exception):
        pass

    checkpointer = Checkpointer(tmp_path / "dcgan.safetensors", fingerprint="f")
    with pytest.raises(Killed):
        train_dcgan(images, config, score=score, callbacks=[checkpointer, StopAfter(1, Killed)])
    assert checkpointer.saved == [1]
    torch.manual_seed(999)  # whatever happened to the global generator meanwhile
    resumed = train_dcgan(images, config, score=score, callbacks=[checkpointer], resume=checkpointer.resume_state())
    assert checkpointer.saved == [1, 2, 3]
    assert_same_gan(whole, resumed)
    again = train_dcgan(images, config, score=score, resume=checkpointer.resume_state())  # finished: nothing trained
    assert_same_gan(whole, again)


def test_the_averaged_generator_is_kept_and_averaging_does_not_change_training():
    images, config = tiny_gan(generator_average=0.9)
    averaged, plain = train_dcgan(images, config), train_dcgan(images, tiny_gan()[1])
    # the average only watches the training: the discriminators end identical...
    for p, q in zip(averaged.discriminator.parameters(), plain.discriminator.parameters(), strict=True):
        assert torch.equal(p, q)
    # ...and what is kept is the average, not the last weights
    kept, last = dict(averaged.generator.named_parameters()), dict(plain.generator.named_parameters())
    assert kept.keys() == last.keys() and any(not torch.equal(kept[name], last[name]) for name in last)
    assert all(torch.isfinite(t).all() for t in kept.values())


def test_the_linear_schedule_takes_both_learning_rates_down_to_zero_at_the_last_step():
    images, config = tiny_gan(schedule="linear", lr=0.001)  # 3 steps per epoch, 3 epochs
    result = train_dcgan(images, config)
    assert [row["lr"] for row in result.history] == pytest.approx([0.001 * 6 / 9, 0.001 * 3 / 9, 0.0])
    constant = train_dcgan(images, tiny_gan(lr=0.001)[1])
    assert [row["lr"] for row in constant.history] == [0.001] * 3
    # the same first update, smaller ones after it: other weights at the end
    assert not torch.equal(next(result.generator.parameters()), next(constant.generator.parameters()))


def test_training_refuses_images_of_the_wrong_size():
    with pytest.raises(ValueError, match="28 x 28"):
        train_dcgan(np.zeros((10, 1, 32, 32), dtype=np.uint8), GANConfig(epochs=1))


def test_interpolation_runs_from_one_vector_to_the_other():
    a, b = torch.zeros(4), torch.ones(4)
    line = interpolate(a, b, 5)
    assert line.shape == (5, 4)
    assert torch.equal(line[0], a) and torch.equal(line[-1], b) and torch.allclose(line[2], torch.full((4,), 0.5))


def test_latent_arithmetic_picks_groups_by_digit_and_ink():
    torch.manual_seed(0)
    generator = Generator(latent_dim=8, features=4)
    probe = ClassifierProbe(untrained_simplenet(seed=None))
    out = latent_arithmetic(
        generator,
        probe,
        LatentGroup(digit=7, style="bold"),
        LatentGroup(digit=7, style="thin"),
        LatentGroup(digit=1, style="thin"),
        samples=200,
        group_size=4,
    )
    assert set(out) == {"a", "b", "c", "result"}
    assert all(out[k]["images"].shape == (4, 1, 28, 28) for k in out)
    assert out["a"]["ink"].mean() >= out["b"]["ink"].mean()  # same candidates (digit 7), most against least ink


ARITHMETIC = {"a": {"digit": 7, "style": "bold"}, "b": {"digit": 7, "style": "thin"}, "c": {"digit": 1, "style": "thin"}}


@pytest.mark.parametrize(
    "gan, message",
    [
        ({"training": {"lr": -1.0}}, r"gan\.training\.lr: must be > 0, got -1\.0"),
        ({"training": {"lr": 1.0}}, r"gan\.training\.lr: must be < 1"),
        ({"training": {"epochs": 0}}, r"gan\.training\.epochs: must be > 0, got 0"),
        ({"training": {"batch_size": 2.5}}, r"gan\.training\.batch_size: must be an integer"),
        ({"training": {"real_label": 0.3}}, r"gan\.training\.real_label: must be > 0\.5, got 0\.3"),
        ({"training": {"beta1": 1.0}}, r"gan\.training\.beta1: must be < 1"),
        ({"training": {"learning_rate": 0.1}}, r"unknown parameter gan\.training\.learning_rate"),
        ({"training": {"checkpoint_every": -1}}, r"gan\.training\.checkpoint_every: must be >= 0, got -1"),
        ({"training": {"resume": "yes"}}, r"gan\.training\.resume: must be true or false, got 'yes'"),
        ({"training": {"generator_average": 1.0}}, r"gan\.training\.generator_average: must be < 1, got 1\.0"),
        ({"training": {"generator_average": True}}, r"gan\.training\.generator_average: must be a decay in \[0, 1\)"),
        ({"training": {"schedule": "cosine"}}, r"gan\.training\.schedule: must be one of 'constant' or 'linear', got 'cosine'"),
        ({"training": {"precision": "fp16"}}, r"gan\.training\.precision: must be one of"),
        ({"scores": {"samples": 0}}, r"gan\.scores\.samples: must be > 0, got 0"),
        ({"interpolation": {"steps": 0}}, r"gan\.interpolation\.steps: must be > 0"),
        (
            {"arithmetic": {**ARITHMETIC, "a": {"digit": 7, "style": "italic"}}},
            r"gan\.arithmetic\.a\.style: must be one of 'bold' or 'thin'",
        ),
        ({"arithmetic": {**ARITHMETIC, "b": {"digit": -1, "style": "thin"}}}, r"gan\.arithmetic\.b\.digit: must be >= 0"),
        ({"arithmetic": {"a": ARITHMETIC["a"]}}, r"missing parameter gan\.arithmetic\.b"),
        ({"generator": {}}, r"unknown parameter gan\.generator"),
    ],
)
def test_bad_gan_parameters_name_the_parameter(gan, message):
    with pytest.raises(ParameterError, match=message):
        GanParameters.from_dict({"arithmetic": ARITHMETIC, **gan}, "gan")


def test_the_configured_gan_parameters_are_valid():
    gan = GanParameters.from_dict(shipped_parameters("gan"), "gan")
    assert gan.training.discriminator_features == 16 and gan.arithmetic.c == LatentGroup(digit=1, style="thin")
    assert str(gan.arithmetic.a) == "bold 7"
