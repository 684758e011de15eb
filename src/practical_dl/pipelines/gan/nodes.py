"""Nodes of the ``gan`` pipeline (thin: the DCGAN's training, scores and latent space are in
``practical_dl.methods.gan``, its networks in ``practical_dl.models.gan``)."""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from practical_dl.core.distributed import from_environment
from practical_dl.core.lazy import on_first_use
from practical_dl.core.params import NonNegativeFloat, PositiveFloat, PositiveInt, Probability, Settings
from practical_dl.methods.gan.settings import GANConfig, LatentGroup
from practical_dl.pipelines.gan.figures import gan_training_figure
from practical_dl.project.figures import close, image_grid_figure, image_rows_figure
from practical_dl.project.reporting import Claim, Report, metric_values
from practical_dl.project.tracking import EpochMetrics

if TYPE_CHECKING:
    from practical_dl.methods.gan.scores import ClassifierProbe
    from practical_dl.models.gan import Generator

logger = logging.getLogger(__name__)


# imported when Kedro resolves the nodes' annotations before a run, or a node uses them: not when the pipeline is built
torch = on_first_use("torch")
classifier_module = on_first_use("practical_dl.models.classifier")


class GanScores(Settings):
    """How the generator is scored (Inception Score and Fréchet distance with the project's classifier)."""

    samples: PositiveInt = 5000
    """Generated images scored after every epoch."""
    splits: PositiveInt = 10
    """Inception Score: mean over this many splits."""
    final_samples: PositiveInt | None = None
    """Generated images scored at the end; null: as many as the test split."""


class GanSamples(Settings):
    """The grid of generated digits."""

    count: PositiveInt = 100


class GanInterpolation(Settings):
    """Straight lines between latent vectors."""

    pairs: PositiveInt = 8
    steps: PositiveInt = 10


class GanArithmetic(Settings):
    """DCGAN's latent vector arithmetic: mean z of ``a`` - mean z of ``b`` + mean z of ``c``."""

    a: LatentGroup
    b: LatentGroup
    c: LatentGroup
    samples: PositiveInt = 4000
    """Generated candidates the groups are picked from."""
    group_size: PositiveInt = 8
    noise: NonNegativeFloat = 0.25
    """Standard deviation of the noise added to the result's latent vector for its variants."""


class GanClaims(Settings):
    """What the DCGAN's samples must reach for the lecture's claims on it to hold."""

    inception_score: PositiveFloat = 8.0
    """Inception Score of the generated images (10 at most: every sample one clear digit, the classes even)."""
    min_class_share: Probability = 0.05
    """Every digit drawn: the rarest class the classifier reads among the samples, as a share of them."""


class GanParameters(Settings):
    """The ``gan`` block (``parameters_gan.yml``): a DCGAN, how it is trained, scored and explored."""

    classifier: str = "simplenet"
    """A trained model with features() (trained by the training pipeline) that scores the samples."""
    training: GANConfig = GANConfig()
    scores: GanScores = GanScores()
    samples: GanSamples = GanSamples()
    interpolation: GanInterpolation = GanInterpolation()
    arithmetic: GanArithmetic
    claims: GanClaims = GanClaims()
    """What the samples must reach for the lecture's claims on the DCGAN to hold (its report)."""


def _unit(split: dict[str, np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(split["images"]).float() / 255.0


def train_gan(
    train_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    classifier: classifier_module.DigitClassifier,
    gan: GanParameters,
) -> dict[str, Any]:
    """Train the DCGAN on the training split, scored after every epoch by the classifier.

    The scores are against the test split; each epoch's metrics and fixed-noise samples go to MLflow as the epoch ends.

    The training state is saved after every ``gan.training.checkpoint_every`` epochs to
    ``<checkpoint_dir>/dcgan.safetensors``; the next run with the same settings goes on from it
    (a finished training is not repeated), unless ``gan.training.resume`` is off.
    """
    from practical_dl.core.runtime import resolve_device
    from practical_dl.methods.gan.scores import ClassifierProbe, GANScorer
    from practical_dl.methods.gan.training import train_dcgan
    from practical_dl.models.classifier import classifier_to_bytes
    from practical_dl.project.training_setup import data_identity, state_dict_for_saving, training_checkpointer

    config = gan.training
    device = resolve_device(config.device)
    probe = ClassifierProbe(classifier, device)
    scorer = GANScorer(probe, _unit(test_split), gan.scores.samples, gan.scores.splits, config.seed)
    identity = (
        gan.scores.model_dump(exclude_unset=True),  # the block as the parameters give it
        hashlib.sha256(classifier_to_bytes(classifier)).hexdigest(),
        data_identity(train_split["images"], train_split["labels"]),
    )
    checkpointer = training_checkpointer(config, "dcgan", *identity)
    resume = checkpointer.resume_state() if checkpointer is not None and config.resume else None
    collaborators = [EpochMetrics(prefix="gan"), _ProgressFigures(), checkpointer]
    # under torchrun: this process's part of every batch; rank 0 alone scores, checkpoints and tracks
    parallel = from_environment(device=config.device)
    callbacks = parallel.main_only([c for c in collaborators if c is not None])
    result = train_dcgan(train_split["images"], config, score=scorer, callbacks=callbacks, resume=resume, parallel=parallel)
    if result.diverged:
        logger.error("the DCGAN diverged (%s): its weights are those of the last epoch", result.divergence_reason)
    history = pd.DataFrame(result.history)
    history["diverged"] = result.diverged
    shown = min(16, config.fixed_samples)
    progress = image_rows_figure(
        [(f"epoch {r['epoch']}", grid[:shown], [], None) for r, grid in zip(result.history, result.progress)],
        "DCGAN: the same latent vectors after every epoch",
    )
    return {
        "generator": state_dict_for_saving(result.generator),
        "discriminator": state_dict_for_saving(result.discriminator),
        "history": history,
        "progress_plot": progress,
        "training_plot": gan_training_figure(history, scorer.real_inception_score),
    }


class _ProgressFigures:
    """The fixed latent vectors' images of each epoch to MLflow as the epoch ends (a collaborator of the loop)."""

    def on_epoch_end(self, state) -> None:
        if mlflow.active_run() is None:
            return
        grid = state.task["progress"][-1].numpy()
        figure = image_grid_figure(grid, [""] * len(grid), f"DCGAN, fixed latent vectors, after epoch {state.epoch}", columns=16)
        mlflow.log_figure(figure, f"plots/gan/progress/epoch_{state.epoch:03d}.png")
        close(figure)


def explore_generator(
    generator_weights: dict[str, torch.Tensor],
    test_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    classifier: classifier_module.DigitClassifier,
    gan: GanParameters,
) -> dict[str, Any]:
    """Final scores of the trained generator, a sample grid, latent interpolations and DCGAN's latent vector arithmetic.

    The scores stand beside those of real images; each step is a helper below, drawing in turn from one seeded stream.
    """
    from practical_dl.core.runtime import resolve_device
    from practical_dl.methods.gan.scores import ClassifierProbe

    config = gan.training
    device = resolve_device(config.device)
    generator = _saved_generator(generator_weights, config, test_split["images"].shape[1], device)
    probe = ClassifierProbe(classifier, device)
    rng = torch.Generator().manual_seed(config.seed + 10_000)  # one stream, in this order: scores, samples, interpolations
    scores = _final_scores(generator, probe, test_split, validation_split, gan.scores, rng)
    samples_plot = _samples_figure(generator, probe, gan.samples.count, rng, scores["inception_score"])
    interpolation_plot = _interpolation_figure(generator, probe, gan.interpolation, rng)
    scores["arithmetic"], arithmetic_plot = _arithmetic(generator, probe, gan.arithmetic, config.seed)
    mlflow_scores = metric_values(
        {k: scores[k] for k in ("inception_score", "frechet_distance", "real_test_inception_score", "real_validation_frechet_distance")}
    )
    return {
        "scores": scores,
        "scores_mlflow": mlflow_scores,
        "samples_plot": samples_plot,
        "interpolation_plot": interpolation_plot,
        "arithmetic_plot": arithmetic_plot,
    }


def _saved_generator(weights: dict[str, torch.Tensor], config: GANConfig, channels: int, device: torch.device) -> Generator:
    """The trained generator, in evaluation mode on ``device``; a ValueError names the parameters it does not fit."""
    from practical_dl.models.gan import Generator

    generator = Generator(config.latent_dim, config.generator_features, channels)
    try:
        generator.load_state_dict(weights)
    except RuntimeError as exc:
        raise ValueError(
            f"the saved generator does not fit parameters gan.training ({config.model_dump(exclude_unset=True)}); "
            f"rerun `kedro run --pipelines gan`: {exc}"
        ) from None
    return generator.to(device).eval()


def _final_scores(
    generator: Generator,
    probe: ClassifierProbe,
    test_split: dict[str, np.ndarray],
    validation_split: dict[str, np.ndarray],
    settings: GanScores,
    rng: torch.Generator,
) -> dict[str, Any]:
    """Inception Score and Fréchet distance of generated images, beside those of real images.

    The Fréchet distance is against the test split; the scores also give the share of each class among the generated images.
    """
    from practical_dl.methods.gan.scores import FrechetDistance, inception_score

    n = settings.final_samples if settings.final_samples is not None else len(test_split["labels"])
    test_logits, test_features = probe(_unit(test_split))
    _, val_features = probe(_unit(validation_split))
    frechet = FrechetDistance(test_features)
    fake_logits, fake_features = probe(generator.sample(n, rng))
    scores = {
        "generated_images": n,
        "inception_score": inception_score(fake_logits, settings.splits)[0],
        "frechet_distance": frechet(fake_features),
        "real_test_inception_score": inception_score(test_logits, settings.splits)[0],
        "real_validation_frechet_distance": frechet(val_features),  # real against real: the floor
        "generated_class_shares": np.bincount(fake_logits.argmax(1).numpy(), minlength=fake_logits.shape[1]).tolist(),
    }
    logger.info(
        "DCGAN: Inception Score %.2f (real test images %.2f), Fréchet distance %.2f (validation against test %.2f)",
        scores["inception_score"],
        scores["real_test_inception_score"],
        scores["frechet_distance"],
        scores["real_validation_frechet_distance"],
    )
    return scores


def _samples_figure(generator: Generator, probe: ClassifierProbe, count: int, rng: torch.Generator, inception: float) -> Figure:
    """A grid of generated digits, captioned with the classifier's prediction and its confidence."""
    images = generator.sample(count, rng)
    logits, _ = probe(images)
    confidence, predicted = logits.softmax(1).max(1)
    return image_grid_figure(
        (images * 255).round().to(torch.uint8).numpy(),
        [f"{p} ({c:.0%})" for p, c in zip(predicted.tolist(), confidence.tolist())],
        f"DCGAN samples, captioned with the classifier's prediction (confidence); IS {inception:.2f}",
    )


def _interpolation_figure(generator: Generator, probe: ClassifierProbe, settings: GanInterpolation, rng: torch.Generator) -> Figure:
    """Straight lines between pairs of random latent vectors, captioned with the classifier's predictions."""
    from practical_dl.methods.gan.latent import interpolate

    rows = []
    for k in range(settings.pairs):
        z = torch.randn(2, generator.latent_dim, generator=rng)
        line = generator.decode(interpolate(z[0], z[1], settings.steps))
        predicted = probe(line)[0].argmax(1).tolist()
        rows.append((f"pair {k + 1}", (line * 255).round().to(torch.uint8).numpy(), [str(p) for p in predicted], None))
    return image_rows_figure(rows, "DCGAN: straight lines between latent vectors (captions: the classifier's prediction)")


def _arithmetic(generator: Generator, probe: ClassifierProbe, settings: GanArithmetic, seed: int) -> tuple[dict[str, Any], Figure]:
    """DCGAN's latent vector arithmetic: what the result is (share of digit ``c``, mean ink beside the groups') and its picture."""
    from practical_dl.methods.gan.latent import latent_arithmetic

    groups = {"a": settings.a, "b": settings.b, "c": settings.c}
    arithmetic = latent_arithmetic(
        generator,
        probe,
        settings.a,
        settings.b,
        settings.c,
        samples=settings.samples,
        group_size=settings.group_size,
        noise=settings.noise,
        seed=seed,
    )
    result = arithmetic["result"]
    summary = {
        "expression": result["name"],
        "result_share_of_digit_c": float((result["predicted"] == groups["c"].digit).mean()),
        "result_mean_ink": float(result["ink"].mean()),
        **{f"group_{key}_mean_ink": float(arithmetic[key]["ink"].mean()) for key in ("a", "b", "c")},
    }
    figure = image_rows_figure(
        [
            (part["name"], part["images"], [f"{p} · ink {i:.2f}" for p, i in zip(part["predicted"], part["ink"])], None)
            for part in arithmetic.values()
        ],
        (
            f"DCGAN latent arithmetic: mean z of '{groups['a']}' − '{groups['b']}' + '{groups['c']}' "
            "(last row: the result, then noisy variants)"
        ),
    )
    return summary, figure


def report_gan(scores: dict[str, Any], gan: GanParameters) -> Report:
    """The DCGAN's claims from its final scores (``gan_scores``): it draws every digit, and its samples reach the bar."""
    bar = gan.claims
    counts = list(scores.get("generated_class_shares") or [])
    n = int(scores.get("generated_images") or sum(counts) or 0)
    rarest = min(range(len(counts)), key=counts.__getitem__) if counts else None
    share = counts[rarest] / n if counts and n else 0.0
    inception, real = float(scores["inception_score"]), float(scores["real_test_inception_score"])
    claims = [
        Claim.check(
            f"A DCGAN draws digits of every class: the classifier reads each in at least {bar.min_class_share:.0%} of the samples",
            share >= bar.min_class_share,
            f"the rarest, {rarest}, in {share:.1%} of {n} samples" if rarest is not None else "no samples scored",
        ),
        Claim.from_margin(
            f"Its samples reach an Inception Score of {bar.inception_score:g} (10 at most)",
            inception - bar.inception_score,
            0.0,
            f"{inception:.2f}; real test digits {real:.2f}",
        ),
    ]
    table = pd.DataFrame(
        {
            "": ["Inception Score (10 at most)", "Fréchet distance to the test set"],
            "generated": [round(inception, 2), round(float(scores["frechet_distance"]), 2)],
            "real": [round(real, 2), round(float(scores["real_validation_frechet_distance"]), 2)],
        }
    )
    return Report(
        "A DCGAN: what its samples score",
        about=(
            f"{n} generated images scored by the project's own classifier instead of Inception v3 (docs/gan.md); the real column "
            "scores the test split (Inception Score) and the validation split against the test split (Fréchet distance)."
        ),
        claims=claims,
        tables={"Scores": table},
    )
