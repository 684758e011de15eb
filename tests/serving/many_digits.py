"""Many digit images, made the same way every time, for comparing preparations: what the page sends (MNIST test
digits drawn on its 280x280 canvas), MNIST digits as photos and scans (PNG and JPEG, :func:`photo_of_digit`),
large canvases (shrunk before preparing), 28x28 arrays in both polarities, and the shipped samples.

``fixtures/prepared_before.npz`` holds what the preparation of commit 7a62f51 (before the 8-bit path) made of
them; written with ``PYTHONPATH=<a checkout of 7a62f51>/src python -m tests.serving.many_digits``.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

FIXTURE = Path(__file__).parent / "fixtures" / "prepared_before.npz"
SAMPLES = Path(__file__).resolve().parents[2] / "data" / "01_raw" / "my_digits"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _canvas(digit: np.ndarray, side: int, canvas: int = 280) -> bytes:
    """A dark MNIST digit enlarged to ``side`` px on a white canvas, as PNG bytes (what the page sends)."""
    page = Image.new("RGB", (canvas, canvas), "white")
    ink = Image.fromarray(255 - digit).resize((side, side), Image.Resampling.BILINEAR).convert("RGB")
    page.paste(ink, ((canvas - side) // 2, (canvas - side) // 3))
    return _png(page)


def many_digits(count: int = 150) -> Iterator[tuple[str, bytes | np.ndarray]]:
    """(kind, source) for ``count`` MNIST test digits in several forms (a third of them as photos, the slowest to
    make), and the shipped samples."""
    from practical_dl.tools.digit_images import load_mnist_test, photo_of_digit

    images, _ = load_mnist_test()
    rng = np.random.default_rng(43)
    for k in range(count):
        yield "canvas", _canvas(images[k], 120 + (k * 37) % 160)
        if k % 3 == 0:
            yield "photo", photo_of_digit(images[count + k], rng)[0]
        yield "array", images[2 * count + k]
        yield "array, dark ink", 255 - images[2 * count + k]
        if k % 15 == 0:
            yield "large canvas", _canvas(images[3 * count + k], 1400, canvas=1600)
    for path in sorted(SAMPLES.iterdir()):
        yield "sample", path.read_bytes()


def fingerprint(source: bytes | np.ndarray) -> str:
    data = source if isinstance(source, bytes) else source.tobytes() + str(source.shape).encode()
    return hashlib.sha256(data).hexdigest()[:16]


def write_fixture() -> None:
    """Prepare every image with the preparation importable now and store the results in FIXTURE."""
    from practical_dl.serving.preprocess import ImageRejected, prepare_digit

    kinds, prints, images, inverted, statuses = [], [], [], [], []
    for kind, source in many_digits():
        kinds.append(kind)
        prints.append(fingerprint(source))
        try:
            prepared = prepare_digit(source)
            images.append(prepared.image)
            inverted.append(prepared.inverted)
            statuses.append("ok")
        except ImageRejected as exc:
            images.append(np.zeros((28, 28), np.uint8))
            inverted.append(False)
            statuses.append(exc.status)
    FIXTURE.parent.mkdir(exist_ok=True)
    np.savez_compressed(FIXTURE, kinds=kinds, fingerprints=prints, images=np.stack(images), inverted=np.array(inverted), statuses=statuses)
    print(f"{len(kinds)} images -> {FIXTURE} ({FIXTURE.stat().st_size:,} bytes)", file=sys.stderr)


if __name__ == "__main__":
    write_fixture()
