"""A DCGAN on MNIST, scored with the project's own classifier, and a look at its latent space."""

from practical_dl.pipelines.gan.pipeline import create_pipeline

__all__ = ["create_pipeline"]
