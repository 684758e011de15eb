"""Classifier-based scores of generated digits: Inception Score and Fréchet distance.

Quality is measured with a classifier trained on the same digits instead of Inception v3 (whose
weights a closed machine cannot download, and which knows nothing of digits): the Inception
Score of its predicted class probabilities (10 classes, so at most 10) and the Fréchet distance
between its penultimate features of generated and of real images. torchmetrics computes both
from the logits and features handed to it.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from practical_dl.models.gan import Generator


class _Given(nn.Module):
    """Hands torchmetrics the logits or features we computed (its "feature extractor")."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def inception_score(logits: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) from class logits, mean and standard deviation over ``splits``.

    1 when every image gets the same prediction; the number of classes when the predictions are
    confident and spread evenly over the classes.
    """
    with warnings.catch_warnings():
        # "will save all extracted features": we hand it the logits, which are small
        warnings.filterwarnings("ignore", message=".*will save all extracted features.*")
        from torchmetrics.image.inception import InceptionScore  # here, not at the top: it takes seconds to import

        metric = InceptionScore(feature=_Given(logits.shape[1]), splits=splits)
    metric.update(logits.double())
    with torch.random.fork_rng(devices=[]), warnings.catch_warnings():  # torchmetrics shuffles with the global generator
        warnings.filterwarnings("ignore", message=".*degrees of freedom.*")  # the std of a single split
        torch.manual_seed(0)
        mean, std = metric.compute()
    return float(mean), float(std) if splits > 1 else 0.0


class FrechetDistance:
    """Fréchet distance between Gaussians fitted to features of real and of generated images;
    the real statistics are computed once and kept."""

    def __init__(self, real_features: torch.Tensor) -> None:
        from torchmetrics.image.fid import FrechetInceptionDistance  # here, not at the top: it takes seconds to import

        self.metric = FrechetInceptionDistance(feature=_Given(real_features.shape[1]), reset_real_features=False)
        self.metric.update(real_features.double(), real=True)

    def __call__(self, fake_features: torch.Tensor) -> float:
        self.metric.reset()
        self.metric.update(fake_features.double(), real=False)
        return float(self.metric.compute())


class ClassifierProbe:
    """Class logits and penultimate features of a trained classifier for images in [0, 1].

    ``classifier`` is a :class:`~practical_dl.models.classifier.DigitClassifier` (the trained network with
    the standardisation it was trained with); its network must have ``features(x)`` and an
    ``output`` layer (SimpLeNet has both).
    """

    def __init__(self, classifier: nn.Module, device: torch.device | str = "cpu", batch_size: int = 1000) -> None:
        model = classifier.network
        if not callable(getattr(model, "features", None)) or not isinstance(getattr(model, "output", None), nn.Module):
            raise ValueError(
                f"the scoring classifier must have features() and an output layer (e.g. simplenet), got {type(model).__name__}"
            )
        self.device = torch.device(device)
        self.classifier = classifier.to(self.device).eval()
        self.batch_size = batch_size

    @torch.no_grad()
    def __call__(self, images01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, features = [], []
        model = self.classifier.network
        for i in range(0, len(images01), self.batch_size):
            f = model.features(self.classifier.standardise(images01[i : i + self.batch_size].to(self.device).float()))
            features.append(f.float().cpu())
            logits.append(model.output(f).float().cpu())
        return torch.cat(logits), torch.cat(features)


class GANScorer:
    """Inception Score and Fréchet distance of ``samples`` generated images, against real features
    (``real_inception_score``: the score of the real images themselves, for scale)."""

    def __init__(self, probe: ClassifierProbe, real_images01: torch.Tensor, samples: int = 5000, splits: int = 10, seed: int = 0) -> None:
        self.probe = probe
        self.samples = samples
        self.splits = splits
        self.seed = seed
        real_logits, real_features = probe(real_images01)
        self.frechet = FrechetDistance(real_features)
        self.real_inception_score = inception_score(real_logits, splits)[0]

    def __call__(self, generator: Generator, epoch: int = 0) -> dict[str, float]:
        images = generator.sample(self.samples, torch.Generator().manual_seed(self.seed + epoch))
        logits, features = self.probe(images)
        mean, std = inception_score(logits, self.splits)
        return {"inception_score": mean, "inception_score_std": std, "frechet_distance": self.frechet(features)}
