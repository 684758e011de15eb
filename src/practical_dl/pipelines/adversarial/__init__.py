"""Adversarial examples (FGSM, PGD) against every trained classifier, and a robust SimpLeNet."""

from practical_dl.pipelines.adversarial.pipeline import create_pipeline

__all__ = ["create_pipeline"]
