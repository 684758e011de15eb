"""Small synthetic images: two classes a linear model separates, and random digits to run on, not to learn."""

import numpy as np

from practical_dl.core.standardise import Standardiser

#: the standardiser of :func:`two_class_images`
TWO_CLASS_STD = Standardiser(mean=(0.3,), std=(0.4,), scale=255.0)


def two_class_images(n: int = 128, seed: int = 0, *, size: int = 8, top: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``size`` x ``size`` uint8 images of two classes a linear model separates: noise, class 1 with a
    bright bottom half (``top``: class 0 with a bright top half too)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(np.uint8)
    images = rng.integers(0, 60, size=(n, 1, size, size)).astype(np.uint8)
    images[labels == 1, 0, size // 2 :] += 150
    if top:
        images[labels == 0, 0, : size // 2] += 150
    return images, labels


def random_digits(n: int, seed: int = 0, classes: int = 10, size: int = 28) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random uint8 images (1 x ``size`` x ``size``) and random labels of ``classes`` classes."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 1, size, size), dtype=np.uint8), rng.integers(0, classes, n).astype(np.uint8)


def tiny_split(n: int = 60, classes: int = 10, size: int = 28, seed: int = 0) -> dict[str, np.ndarray]:
    """A split (``{"images", "labels"}``) of :func:`random_digits`'s images, labelled 0, 1, ..., ``classes - 1`` in turn."""
    images, _ = random_digits(n, seed, classes, size)
    return {"images": images, "labels": (np.arange(n) % classes).astype(np.uint8)}
