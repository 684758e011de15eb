"""Known third-party warnings are silenced one by one; every other warning still shows."""

import logging
import warnings
from importlib.metadata import entry_points

from practical_dl.project.known_warnings import KnownWarningsFilter, silence_known_warnings


def test_known_warnings_are_silenced_and_others_still_show():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_known_warnings()
        warnings.warn("register_new_resolver() is deprecated. Use ...", UserWarning, stacklevel=1)
        warnings.warn("The ``noload`` loader strategy is deprecated and will be removed", DeprecationWarning, stacklevel=1)
        warnings.warn("a warning of the project's own", UserWarning, stacklevel=1)
        warnings.warn("register_new_resolver() is deprecated", RuntimeWarning, stacklevel=1)  # another category: shown
    assert [str(w.message) for w in caught] == ["a warning of the project's own", "register_new_resolver() is deprecated"]


def test_the_logging_filter_drops_mlflow_s_type_hint_warning_only():
    def record(text):
        return logging.LogRecord("py.warnings", logging.WARNING, "x.py", 1, text, None, None)

    known = "mlflow/pyfunc/utils/data_validation.py:187: UserWarning: \x1b[33mAdd type hints to the `predict` method to enable ..."
    assert not KnownWarningsFilter().filter(record(known))
    assert KnownWarningsFilter().filter(record("practical_dl/core/engine.py:1: UserWarning: something else"))


def test_the_kedro_command_silences_them_before_loading_plugins():
    names = {ep.value for ep in entry_points(group="kedro.init")}
    assert "practical_dl.project.known_warnings:kedro_init" in names
