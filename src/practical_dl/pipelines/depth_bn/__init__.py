"""Deep networks with and without batch norm: the lecture's claim that batch norm lets you build deeper networks."""

from practical_dl.pipelines.depth_bn.pipeline import create_pipeline

__all__ = ["create_pipeline"]
