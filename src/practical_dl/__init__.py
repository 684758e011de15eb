"""practical-deep-learning: the lecture "Practical Deep Learning" as Kedro pipelines."""

__version__ = "0.1.0"
