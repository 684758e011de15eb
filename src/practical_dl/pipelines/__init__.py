"""The project's pipelines, one package each (``nodes.py``, ``pipeline.py``, and ``figures.py``
where it draws figures of its own); Kedro finds them. No pipeline imports another."""
