"""Nodes of the ``augmentation`` pipeline."""

from __future__ import annotations

import logging

import numpy as np
from matplotlib.figure import Figure

from practical_dl.core.config import AugmentConfig
from practical_dl.project.figures import image_grid_figure

logger = logging.getLogger(__name__)


def preview_augmentation(train_split: dict[str, np.ndarray], config: AugmentConfig) -> Figure:
    """A grid: each row an original training digit (left) and several random augmented draws."""
    # torch is imported when the node runs, not when the pipeline is built
    from practical_dl.core.augment import preview as augmentation_preview

    grid = augmentation_preview(train_split["images"], config)
    labels = train_split["labels"][: config.preview_images]
    captions = [f"original ({labels[i]})" if j == 0 else f"draw {j}" for i in range(len(labels)) for j in range(config.preview_draws + 1)]
    spec = (
        f"rotation ±{config.rotation_degrees:g}°, translation ±{config.translate:.0%}, scale {config.scale[0]:g}–{config.scale[1]:g}, "
        f"reflection {'on' if config.reflect else 'off'}, p={config.p:g}"
    )
    logger.info("Augmentation: %s", spec)
    return image_grid_figure(grid, captions, f"Augmentation preview: {spec}", columns=config.preview_draws + 1)
