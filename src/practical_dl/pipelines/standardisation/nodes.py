"""Nodes of the ``standardisation`` pipeline."""

from __future__ import annotations

import logging

import numpy as np

logger = logging.getLogger(__name__)


def compute_standardisation_statistics(train_split: dict[str, np.ndarray]) -> dict:
    """Mean and standard deviation per channel of the training split only, pixels scaled to [0, 1]."""
    # torch is imported when the node runs, not when the pipeline is built
    from practical_dl.core.standardise import channel_statistics

    stats = channel_statistics(train_split["images"])
    stats["num_images"] = int(len(train_split["images"]))
    logger.info("Standardisation statistics: mean %s, std %s", stats["mean"], stats["std"])
    return stats
