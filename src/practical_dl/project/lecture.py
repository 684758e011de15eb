"""The lecture's parts, named once: what ``kedro run --pipelines lecture`` runs, in order, and what its page shows.

A part is one or more registered pipelines (the default run is four), the catalog entry of its
report (a :class:`~practical_dl.project.reporting.Report` saved by
:class:`~practical_dl.project.datasets.ReportDataset`; None: a part with no claim of its own) and of
its figure (the PNG's bytes, :class:`~practical_dl.project.datasets.FigureDataset`). The registry
composes the ``lecture`` pipeline from these parts, each tagged ``lecture.<part>`` (kedro-viz filters
by tag; the run record and the progress lines name a node's part by it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: the tags of the lecture's nodes: ``lecture.<part>``
TAG_PREFIX = "lecture."
#: the tag of the lecture's own page
PAGE_TAG = f"{TAG_PREFIX}page"


@dataclass(frozen=True)
class LecturePart:
    """One part of the lecture: the pipelines that make it, its report and its figure."""

    name: str
    title: str
    pipelines: tuple[str, ...]
    figure: str
    """The catalog entry of its figure (read back as the PNG's bytes)."""
    report: str | None = None
    """The catalog entry of its report; None: the part has no claim of its own (``note`` says why)."""
    note: str = ""

    @property
    def tag(self) -> str:
        return f"{TAG_PREFIX}{self.name}"

    @property
    def command(self) -> str:
        """The command that runs this part alone."""
        return "kedro run" if self.name == "default" else f"kedro run --pipelines {','.join(self.pipelines)}"


LECTURE_PARTS: tuple[LecturePart, ...] = (
    LecturePart(
        "default",
        "The lecture's table",
        ("data_ingestion", "standardisation", "training", "evaluation"),
        figure="training_curves_plot",
        report="results_markdown",
    ),
    LecturePart(
        "augmentation",
        "Data augmentation",
        ("augmentation",),
        figure="augmentation_preview_plot",
        note="Shows what the augmentation does to digits; whether it helps is a sweep of the tricks of the trade.",
    ),
    LecturePart("tricks", "Tricks of the trade", ("tricks",), figure="tricks_learning_rate_plot", report="tricks_report"),
    LecturePart(
        "transfer_learning", "Transfer learning", ("transfer_learning",), figure="transfer_learning_plot", report="transfer_report"
    ),
    LecturePart("adversarial", "Adversarial examples", ("adversarial",), figure="adversarial_accuracy_plot", report="adversarial_report"),
    LecturePart("depth_bn", "Depth and batch norm", ("depth_bn",), figure="depth_bn_plot", report="depth_bn_report"),
    LecturePart("batch_lr", "Batch size × learning rate", ("batch_lr",), figure="batch_lr_plot", report="batch_lr_report"),
    LecturePart(
        "dropout_ensemble",
        "Dropout as an ensemble",
        ("dropout_ensemble",),
        figure="dropout_ensemble_plot",
        report="dropout_ensemble_report",
    ),
    LecturePart("patch", "An adversarial patch", ("patch",), figure="patch_success_plot", report="patch_report"),
    LecturePart("gan", "A DCGAN", ("gan",), figure="gan_samples_plot", report="gan_report"),
)

PART_NAMES: tuple[str, ...] = tuple(part.name for part in LECTURE_PARTS)


def part_of(tags: Iterable[str]) -> str | None:
    """The lecture part a node belongs to, from its ``lecture.<part>`` tag (``page`` for the page; None: not a lecture node)."""
    for tag in sorted(tags):
        if tag.startswith(TAG_PREFIX):
            return tag.removeprefix(TAG_PREFIX)
    return None


def page_inputs() -> list[str]:
    """The page node's inputs after its parameters and the run record: each part's report (where it has one), then its figure."""
    return [name for part in LECTURE_PARTS for name in ((part.report,) if part.report else ()) + (part.figure,)]
