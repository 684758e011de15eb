"""One exportable model artefact: a trained network with the standardisation it was trained with.

Plain PyTorch, usable without Kedro::

    from practical_dl.models.classifier import load_classifier
    classifier = load_classifier("data/06_models/simplenet.safetensors/<version>/simplenet.safetensors")
    probabilities = classifier.probabilities(images)   # uint8 N x 28 x 28 (or N x 1 x 28 x 28)
    logits = classifier(x01)                            # float N x 1 x 28 x 28 in [0, 1]

A :class:`DigitClassifier` takes images in [0, 1] and standardises them itself (its statistics
are buffers), so what is trained, evaluated, attacked, served over HTTP and shown on the
draw-a-digit page is one object, loaded from one file. The file is safetensors: the tensors of
the module and, in the header's metadata, a JSON description (architecture, options, input
size, class names, label) from which the network is rebuilt; nothing is unpickled.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load as load_safetensors
from safetensors.torch import save as save_safetensors
from torch import nn

from practical_dl.core.standardise import Standardise, Standardiser
from practical_dl.models.networks import build_model

#: Key of the JSON description in the safetensors header's ``__metadata__``.
METADATA_KEY = "practical_dl.classifier"
FORMAT_VERSION = 1
MNIST_CLASSES = tuple(str(d) for d in range(10))


class DigitClassifier(nn.Module):
    """``network(standardise(x))`` for images ``x`` in [0, 1], N x C x H x W, with what is needed
    to rebuild it: ``spec`` holds ``architecture`` (``name``, ``options``), ``in_channels``,
    ``image_size``, ``class_names`` and ``label``."""

    def __init__(self, network: nn.Module, standardise: Standardise, spec: dict[str, Any]) -> None:
        super().__init__()
        self.network = network
        self.standardise = standardise
        self.spec = dict(spec)

    # -- what it is
    @property
    def label(self) -> str:
        return str(self.spec.get("label") or self.spec["architecture"]["name"])

    @property
    def class_names(self) -> list[str]:
        return list(self.spec["class_names"])

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """C x H x W of the images it takes."""
        return int(self.spec["in_channels"]), int(self.spec["image_size"]), int(self.spec["image_size"])

    @property
    def standardiser(self) -> Standardiser:
        return self.standardise.standardiser

    # -- what it does
    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        return self.network(self.standardise(x01))

    def as_batch(self, images: np.ndarray | Sequence[np.ndarray]) -> torch.Tensor:
        """uint8 images (N x H x W, N x C x H x W, or a list of H x W arrays) -> float N x C x H x W in [0, 1]."""
        array = np.stack([np.asarray(i) for i in images]) if isinstance(images, (list, tuple)) else np.asarray(images)
        if array.ndim == 3:
            array = array[:, None]
        expected = self.input_shape
        if array.ndim != 4 or tuple(array.shape[1:]) != expected:
            raise ValueError(
                f"{self.label} takes images of {expected[1]}x{expected[2]} pixels and {expected[0]} channel(s), got shape {array.shape}"
            )
        x = torch.from_numpy(np.ascontiguousarray(array)).float()
        return x / self.standardise.scale if array.dtype == np.uint8 else x

    @torch.inference_mode()
    def probabilities(self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 1000) -> np.ndarray:
        """Class probabilities (N x classes, float32) for prepared images (see :meth:`as_batch`)."""
        self.eval()
        x = self.as_batch(images)
        device = next(self.parameters()).device
        out = [torch.softmax(self(x[i : i + batch_size].to(device)).float(), 1).cpu() for i in range(0, len(x), batch_size)]
        return torch.cat(out).numpy() if out else np.zeros((0, len(self.class_names)), np.float32)


def network_from_spec(spec: dict[str, Any]) -> nn.Module:
    """The (untrained) network a spec describes."""
    architecture = spec["architecture"]
    options = dict(architecture.get("options") or {})
    options.setdefault("num_classes", len(spec["class_names"]))
    return build_model(architecture["name"], in_channels=int(spec["in_channels"]), image_size=int(spec["image_size"]), **options)


def make_classifier(
    network: nn.Module,
    standardiser: Standardiser,
    model_params: dict[str, Any],
    in_channels: int,
    image_size: int,
    class_names: Sequence[str] = MNIST_CLASSES,
) -> DigitClassifier:
    """Wrap a trained ``network`` built from the ``model`` parameter block (name, label, options)."""
    spec = {
        "format": FORMAT_VERSION,
        "label": model_params.get("label", model_params["name"]),
        "architecture": {"name": model_params["name"], "options": dict(model_params.get("options") or {})},
        "in_channels": int(in_channels),
        "image_size": int(image_size),
        "class_names": [str(c) for c in class_names],
    }
    return DigitClassifier(network, standardiser.module(), spec).eval()


# --------------------------------------------------------------------------- safetensors file


def classifier_to_bytes(classifier: DigitClassifier) -> bytes:
    """The classifier as safetensors bytes (CPU, contiguous tensors; the spec in the metadata)."""
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in classifier.state_dict().items()}
    spec = {**classifier.spec, "scale": classifier.standardise.scale}
    return save_safetensors(tensors, metadata={METADATA_KEY: json.dumps(spec, sort_keys=True)})


def _header_metadata(data: bytes, source: str) -> dict[str, str]:
    if len(data) < 8:
        raise ValueError(f"{source}: not a safetensors file ({len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise ValueError(f"{source}: not a safetensors file (header of {size} bytes in a file of {len(data)})")
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{source}: not a safetensors file ({exc})") from None
    return header.get("__metadata__") or {}


def classifier_from_bytes(data: bytes, source: str = "<bytes>") -> DigitClassifier:
    """Rebuild a :class:`DigitClassifier` (eval mode, CPU) from :func:`classifier_to_bytes`'s output."""
    metadata = _header_metadata(data, source)
    if METADATA_KEY not in metadata:
        raise ValueError(
            f"{source}: a safetensors file without a classifier description (a bare state_dict from an older "
            "version of the project?); retrain with `kedro run --pipelines training`"
        )
    spec = json.loads(metadata[METADATA_KEY])
    if int(spec.get("format", 0)) > FORMAT_VERSION:
        raise ValueError(f"{source}: classifier format {spec['format']} is newer than this project reads ({FORMAT_VERSION})")
    scale = float(spec.pop("scale", 255.0))
    tensors = load_safetensors(data)
    standardise = Standardise(tensors["standardise.mean"].tolist(), tensors["standardise.std"].tolist(), scale)
    classifier = DigitClassifier(network_from_spec(spec), standardise, spec)
    try:
        classifier.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ValueError(f"{source}: the weights do not fit the architecture {spec['architecture']}: {exc}") from None
    return classifier.eval()


def save_classifier(classifier: DigitClassifier, path: str | Path) -> None:
    Path(path).write_bytes(classifier_to_bytes(classifier))


def load_classifier(path: str | Path) -> DigitClassifier:
    """Load a classifier saved by the training pipeline (or :func:`save_classifier`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no classifier at {path}")
    return classifier_from_bytes(path.read_bytes(), str(path))


def latest_classifier_file(models_dir: str | Path, model: str) -> Path:
    """The newest version of ``<models_dir>/<model>.safetensors/<version>/<model>.safetensors``
    (Kedro's versioned layout; versions sort by time)."""
    root = Path(models_dir) / f"{model}.safetensors"
    versions = sorted(p for p in root.glob(f"*/{model}.safetensors") if p.is_file()) if root.is_dir() else []
    if not versions:
        raise FileNotFoundError(f"no trained {model} under {root}; train it first with `kedro run` (or `kedro run --pipelines training`)")
    return versions[-1]
