"""Known third-party warnings are silenced one by one; every other warning still shows. In the tests
(pyproject.toml's filterwarnings) the project's own warnings are errors."""

import logging
import warnings
from importlib.metadata import entry_points

import pytest
from pandas.errors import Pandas4Warning
from pydantic.warnings import PydanticDeprecatedSince211
from sqlalchemy.exc import SADeprecationWarning

from practical_dl.project.known_warnings import KnownWarningsFilter, silence_known_warnings

#: (message, category, the module that issues it) of the third-party warnings pyproject.toml's
#: filterwarnings ignore in the tests, as their libraries word them
IGNORED_IN_THE_TESTS = (
    (
        "register_new_resolver() is deprecated and will be removed in a future release.\nUse register_resolver() instead.\n",
        UserWarning,
        "kedro.config.omegaconf_config",
    ),
    (
        "register_new_resolver() is deprecated and will be removed in a future release.\nUse register_resolver() instead.\n",
        UserWarning,
        "kedro_mlflow.framework.hooks.mlflow_hook",
    ),
    (
        "Accessing the 'model_fields' attribute on the instance is deprecated. Instead, you should access ...",
        PydanticDeprecatedSince211,
        "kedro.validation.utils",
    ),
    (
        "The ``noload`` loader strategy is deprecated and will be removed in a future release.  This option ...",
        SADeprecationWarning,
        "mlflow.store.tracking.sqlalchemy_store",
    ),
    ("Operation with range is deprecated. In a future version ...", Pandas4Warning, "mlflow.models.utils"),
)


def warn_from(module: str, message: str, category: type[Warning] = UserWarning) -> None:
    """Warn as code of ``module`` does (warnings.warn passes the issuing module's name, which the
    filters' module field matches, to warn_explicit)."""
    warnings.warn_explicit(message, category, module.replace(".", "/") + ".py", 1, module=module, registry={})


@pytest.fixture
def suite_filters(request):
    if request.config.getoption("pythonwarnings"):
        pytest.skip("-W on pytest's command line overrides pyproject.toml's filterwarnings")


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


def test_the_project_s_own_warnings_fail_the_tests(suite_filters):
    for module, category in (("practical_dl", UserWarning), ("practical_dl.core.engine", DeprecationWarning)):
        with pytest.raises(category, match="a warning of the project's own"):
            warn_from(module, "a warning of the project's own", category)
    with pytest.warns(UserWarning, match="expected"):  # a test that expects one still catches it
        warn_from("practical_dl.core.engine", "expected")
    with warnings.catch_warnings(record=True) as caught:  # other packages' warnings: shown, not errors
        warn_from("practical_dl_extras", "not ours")
        warn_from("kedro.runner", "not ours")
    assert [str(w.message) for w in caught] == ["not ours", "not ours"]


def test_the_tests_ignore_exactly_the_known_third_party_warnings(suite_filters):
    with warnings.catch_warnings(record=True) as caught:
        for message, category, module in IGNORED_IN_THE_TESTS:
            warn_from(module, message, category)
        assert caught == []
        for message, category, module in IGNORED_IN_THE_TESTS:
            warn_from("elsewhere", message, category)  # the same message from another module
            warn_from(module, "another message", category)
    assert len(caught) == 2 * len(IGNORED_IN_THE_TESTS)
