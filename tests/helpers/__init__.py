"""Helpers the unit tests share, each written once: small synthetic data (:mod:`tests.helpers.data`)
and short CPU trainings (:mod:`tests.helpers.training`).

Fixtures, the project copies and the processes of the integration tests live in ``tests/conftest.py``;
the draw-a-digit page's helpers in ``tests/serving/demo.py``. Like them, these import only torch, numpy
and the package, so that ``core``, ``models`` and ``methods`` tests run where Kedro and MLflow are absent.
"""
