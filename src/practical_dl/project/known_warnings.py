"""Known third-party warnings that a person running the project cannot act on, silenced one by one
(the project's own warnings, and every other, still show).

They are silenced twice, by the same function: from ``settings.py`` (any Kedro session of the
project: ``kedro run``, notebooks, tests) and from a ``kedro.init`` entry point (``pyproject.toml``),
which the ``kedro`` command calls before it loads the plugins' commands — kedro-mlflow's import
warns before ``settings.py`` is read.
"""

from __future__ import annotations

import logging
import re
import warnings

#: (a regex found in the message, category, why it is silenced)
KNOWN_WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    (
        r"register_new_resolver\(\) is deprecated",
        UserWarning,
        "Kedro 1.7 and kedro-mlflow 2.0 still call OmegaConf's register_new_resolver(), which OmegaConf now deprecates",
    ),
    (
        r"Add type hints to the `predict` method",  # after a colour code
        UserWarning,
        (
            "MLflow asks every PythonModel subclass for type hints; kedro-mlflow's KedroPipelineModel has none "
            "(ours in practical_dl.serving.mlflow_model has)"
        ),
    ),
    (
        r"The ``noload`` loader strategy is deprecated",
        DeprecationWarning,
        "MLflow's SQLAlchemy store still uses noload() (SQLAlchemy 2.1 deprecates it)",
    ),
)


class KnownWarningsFilter(logging.Filter):
    """Drops the known warnings where they reach logging (Kedro captures warnings into the
    ``py.warnings`` logger). Needed besides the warnings filters: MLflow wraps its type-hint
    check in ``simplefilter("once")``, which overrides them."""

    patterns = tuple(re.compile(message) for message, _category, _why in KNOWN_WARNINGS)

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not any(pattern.search(text) for pattern in self.patterns)


def silence_known_warnings() -> None:
    """Ignore exactly the warnings of :data:`KNOWN_WARNINGS`."""
    for message, category, _why in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=f".*{message}", category=category)  # it matches from the start
    captured = logging.getLogger("py.warnings")
    if not any(isinstance(f, KnownWarningsFilter) for f in captured.filters):
        captured.addFilter(KnownWarningsFilter())


def kedro_init() -> None:
    """The ``kedro.init`` entry point: called by the ``kedro`` command before anything else."""
    silence_known_warnings()
