"""Nodes of the ``lecture`` pipeline: the page of every part's claims."""

from __future__ import annotations

import logging

from pydantic import field_validator

from practical_dl.core.params import NonNegativeFloat, PositiveInt, Settings
from practical_dl.project.lecture import LECTURE_PARTS, PART_NAMES
from practical_dl.project.lecture_page import render_lecture_html, thumbnail
from practical_dl.project.reporting import PartFindings, Report, lecture_summary, render_lecture
from practical_dl.project.run_record import RunRecord

logger = logging.getLogger(__name__)


class LectureParameters(Settings):
    """The ``lecture`` block (``parameters_lecture.yml``): the page's settings and the parts' reference times."""

    reference_seconds: dict[str, NonNegativeFloat] = {}
    """Each part's time on the reference machine (2 CPU cores): the progress lines' estimate for nodes not run yet."""
    thumbnail_width: PositiveInt = 480
    """The width (pixels) of each part's figure on the HTML page."""

    @field_validator("reference_seconds")
    @classmethod
    def _known_parts(cls, seconds: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(seconds) - set(PART_NAMES))
        if unknown:
            raise ValueError(f"{unknown} are not parts of the lecture; the parts: {', '.join(PART_NAMES)}")
        return seconds


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
