"""Nodes of the ``lecture`` pipeline: the DCGAN's claims, and the page of every part's claims."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from pydantic import field_validator

from practical_dl.core.params import NonNegativeFloat, PositiveFloat, PositiveInt, Probability, Settings
from practical_dl.project.lecture import LECTURE_PARTS, PART_NAMES
from practical_dl.project.lecture_page import render_lecture_html, thumbnail
from practical_dl.project.reporting import Claim, PartFindings, Report, lecture_summary, render_lecture
from practical_dl.project.run_record import RunRecord

logger = logging.getLogger(__name__)


class GanBar(Settings):
    """What the DCGAN's samples must reach for the lecture's claims on it to hold."""

    inception_score: PositiveFloat = 8.0
    """Inception Score of the generated images (10 at most: every sample one clear digit, the classes even)."""
    min_class_share: Probability = 0.05
    """Every digit drawn: the rarest class the classifier reads among the samples, as a share of them."""


class LectureParameters(Settings):
    """The ``lecture`` block (``parameters_lecture.yml``): the page's settings and the parts' reference times."""

    reference_seconds: dict[str, NonNegativeFloat] = {}
    """Each part's time on the reference machine (2 CPU cores): the progress lines' estimate for nodes not run yet."""
    thumbnail_width: PositiveInt = 480
    """The width (pixels) of each part's figure on the HTML page."""
    gan: GanBar = GanBar()

    @field_validator("reference_seconds")
    @classmethod
    def _known_parts(cls, seconds: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(seconds) - set(PART_NAMES))
        if unknown:
            raise ValueError(f"{unknown} are not parts of the lecture; the parts: {', '.join(PART_NAMES)}")
        return seconds


def report_gan(scores: dict[str, Any], lecture: LectureParameters) -> Report:
    """The DCGAN's claims from its final scores (``gan_scores``): it draws every digit, and its samples reach the bar."""
    bar = lecture.gan
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


def make_lecture_page(lecture: LectureParameters, runs: RunRecord, *reports_and_figures: Report | bytes) -> dict[str, str]:
    """The lecture's page, in markdown and as self-contained HTML: every part's claims with their verdicts, its figure and its time.

    ``reports_and_figures``: for each part of :data:`~practical_dl.project.lecture.LECTURE_PARTS` in order, its report
    (where it has one), then its figure's PNG bytes.
    """
    given = iter(reports_and_figures)
    parts = []
    for part in LECTURE_PARTS:
        report = next(given) if part.report else None
        figure = thumbnail(next(given), lecture.thumbnail_width)
        parts.append(PartFindings(part.name, part.title, part.command, report, runs.part_seconds(part.name), figure, part.note))
    logger.info("The lecture: %s", lecture_summary(parts))
    return {"markdown": render_lecture(parts), "html": render_lecture_html(parts)}
