"""Nodes of the ``gan`` pipeline (thin: the DCGAN's training, scores and latent space are in
``practical_dl.methods.gan``, its networks in ``practical_dl.models.gan``)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import torch

from practical_dl.core.distributed import from_environment
from practical_dl.core.params import check_known_keys
from practical_dl.core.runtime import resolve_device
from practical_dl.methods.gan.latent import LatentGroup, interpolate, latent_arithmetic
from practical_dl.methods.gan.scores import ClassifierProbe, FrechetDistance, GANScorer, inception_score
from practical_dl.methods.gan.training import GANConfig, train_dcgan
from practical_dl.models.classifier import DigitClassifier, classifier_to_bytes
from practical_dl.models.gan import Generator
from practical_dl.pipelines.gan.figures import gan_training_figure
from practical_dl.project.figures import close, image_grid_figure, image_rows_figure
from practical_dl.project.parameter_checks import register_check
from practical_dl.project.reporting import metric_values
from practical_dl.project.tracking import EpochMetrics
from practical_dl.project.training_setup import data_identity, state_dict_for_saving, training_checkpointer

logger = logging.getLogger(__name__)

KNOWN_KEYS = {"classifier", "training", "scores", "samples", "interpolation", "arithmetic"}


def check_gan_parameters(gan: dict[str, Any]) -> GANConfig:
    """Validate the ``gan`` block; errors name the parameter."""
    check_known_keys(gan, KNOWN_KEYS, "gan")
    config = GANConfig.from_dict(gan.get("training"), "gan.training")
    for block, keys in (
        ("scores", ("samples", "splits")),
        ("samples", ("count",)),
        ("interpolation", ("pairs", "steps")),
        ("arithmetic", ("samples", "group_size")),
    ):
        for key in keys:
            value = (gan.get(block) or {}).get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"parameter gan.{block}.{key} must be a positive integer, got {value!r}")
    for key in ("a", "b", "c"):
        spec = (gan.get("arithmetic") or {}).get(key)
        if spec is not None:
            try:
                LatentGroup(**spec)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"invalid parameter gan.arithmetic.{key}: {exc}") from None
    return config


register_check("gan", lambda p: check_gan_parameters(p.get("gan") or {}))


def _unit(split: dict[str, np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(split["images"]).float() / 255.0


def train_gan(
    train_split: dict[str, np.ndarray],
    test_split: dict[str, np.ndarray],
    classifier: DigitClassifier,
    gan: dict[str, Any],
) -> dict[str, Any]:
    """Train the DCGAN on the training split, scored after every epoch by the classifier against
    the test split; each epoch's metrics and fixed-noise samples go to MLflow as the epoch ends.

    The training state is saved after every ``gan.training.checkpoint_every`` epochs to
    ``<checkpoint_dir>/dcgan.safetensors``; the next run with the same settings goes on from it
    (a finished training is not repeated), unless ``gan.training.resume`` is off.
    """
    config = check_gan_parameters(gan)
    scores = gan.get("scores") or {}
    device = resolve_device(config.device)
    probe = ClassifierProbe(classifier, device)
    scorer = GANScorer(probe, _unit(test_split), int(scores.get("samples", 5000)), int(scores.get("splits", 10)), config.seed)
    identity = (
        scores,
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
    classifier: DigitClassifier,
    gan: dict[str, Any],
) -> dict[str, Any]:
    """Final scores (beside those of real images), a sample grid, latent interpolations and
    DCGAN's latent vector arithmetic."""
    config = check_gan_parameters(gan)
    device = resolve_device(config.device)
    generator = Generator(config.latent_dim, config.generator_features, test_split["images"].shape[1])
    try:
        generator.load_state_dict(generator_weights)
    except RuntimeError as exc:
        raise ValueError(
            f"the saved generator does not fit parameters gan.training ({gan.get('training')}); rerun `kedro run --pipelines gan`: {exc}"
        ) from None
    generator.to(device).eval()
    probe = ClassifierProbe(classifier, device)
    scores_params = gan.get("scores") or {}
    splits = int(scores_params.get("splits", 10))
    n = int(scores_params.get("final_samples", len(test_split["labels"])))
    test_logits, test_features = probe(_unit(test_split))
    val_logits, val_features = probe(_unit(validation_split))
    frechet = FrechetDistance(test_features)
    rng = torch.Generator().manual_seed(config.seed + 10_000)
    fake_logits, fake_features = probe(generator.sample(n, rng))
    scores = {
        "generated_images": n,
        "inception_score": inception_score(fake_logits, splits)[0],
        "frechet_distance": frechet(fake_features),
        "real_test_inception_score": inception_score(test_logits, splits)[0],
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

    count = int((gan.get("samples") or {}).get("count", 100))
    images = generator.sample(count, rng)
    logits, _ = probe(images)
    confidence, predicted = logits.softmax(1).max(1)
    samples_plot = image_grid_figure(
        (images * 255).round().to(torch.uint8).numpy(),
        [f"{p} ({c:.0%})" for p, c in zip(predicted.tolist(), confidence.tolist())],
        f"DCGAN samples, captioned with the classifier's prediction (confidence); IS {scores['inception_score']:.2f}",
    )

    interp = gan.get("interpolation") or {}
    pairs, steps = int(interp.get("pairs", 8)), int(interp.get("steps", 10))
    rows = []
    for k in range(pairs):
        z = torch.randn(2, config.latent_dim, generator=rng)
        line = generator.decode(interpolate(z[0], z[1], steps))
        predicted = probe(line)[0].argmax(1).tolist()
        rows.append((f"pair {k + 1}", (line * 255).round().to(torch.uint8).numpy(), [str(p) for p in predicted], None))
    interpolation_plot = image_rows_figure(rows, "DCGAN: straight lines between latent vectors (captions: the classifier's prediction)")

    arithmetic_params = gan.get("arithmetic") or {}
    groups = {key: LatentGroup(**arithmetic_params[key]) for key in ("a", "b", "c")}
    arithmetic = latent_arithmetic(
        generator,
        probe,
        groups["a"],
        groups["b"],
        groups["c"],
        samples=int(arithmetic_params.get("samples", 4000)),
        group_size=int(arithmetic_params.get("group_size", 8)),
        noise=float(arithmetic_params.get("noise", 0.25)),
        seed=config.seed,
    )
    result = arithmetic["result"]
    scores["arithmetic"] = {
        "expression": result["name"],
        "result_share_of_digit_c": float((result["predicted"] == groups["c"].digit).mean()),
        "result_mean_ink": float(result["ink"].mean()),
        **{f"group_{key}_mean_ink": float(arithmetic[key]["ink"].mean()) for key in ("a", "b", "c")},
    }
    arithmetic_plot = image_rows_figure(
        [
            (part["name"], part["images"], [f"{p} · ink {i:.2f}" for p, i in zip(part["predicted"], part["ink"])], None)
            for part in arithmetic.values()
        ],
        (
            f"DCGAN latent arithmetic: mean z of '{groups['a']}' − '{groups['b']}' + '{groups['c']}' "
            "(last row: the result, then noisy variants)"
        ),
    )
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
