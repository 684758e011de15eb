"""Every configuration environment gives parameters that every pipeline accepts, and the `long`
environment trains the longer recipes the default ones replaced."""

import pytest

from practical_dl import settings  # the project's own: its soft merge of environments, its resolvers
from practical_dl.project.parameters import training_settings
from tests.conftest import ROOT

ENVIRONMENTS = sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir() and p.name not in {"base", "local"})


def _parameters(env: str | None) -> dict:
    loader = settings.CONFIG_LOADER_CLASS(conf_source=str(ROOT / "conf"), env=env, **settings.CONFIG_LOADER_ARGS)
    return loader["parameters"]


def _pipelines(monkeypatch, env: str | None):
    import importlib
    import pkgutil

    from kedro.framework.startup import bootstrap_project

    import practical_dl.pipelines as package
    from practical_dl.project import context as project_context

    bootstrap_project(ROOT)  # Kedro's settings are the project's (its soft merge of environments)
    monkeypatch.setattr(project_context, "_active_loader", None)  # not the loader of an earlier run in this process
    monkeypatch.chdir(ROOT)
    if env:
        monkeypatch.setenv("KEDRO_ENV", env)
    else:
        monkeypatch.delenv("KEDRO_ENV", raising=False)
    for module in pkgutil.iter_modules(package.__path__):
        yield module.name, importlib.import_module(f"{package.__name__}.{module.name}").create_pipeline()


def test_the_environments_are_found():
    assert {"gpu", "long", "remote", "test"} <= set(ENVIRONMENTS)


@pytest.mark.parametrize("env", [None, *ENVIRONMENTS])
def test_every_pipeline_accepts_the_parameters_of_every_environment(monkeypatch, env):
    from kedro.validation.parameter_validator import ParameterValidator

    parameters = _parameters(env)
    pipelines = dict(_pipelines(monkeypatch, env))  # values bound while building are validated here
    ParameterValidator(pipelines).validate_raw_params(parameters)  # Kedro's own check of typed params: inputs
    assert len(pipelines) >= 9


def _recipe(parameters: dict, model: str) -> tuple[int, float]:
    config = training_settings(parameters["training_defaults"], parameters[model].get("training"), where=f"{model}.training")
    return config.epochs, config.lr


def test_long_trains_the_longer_recipes_and_base_the_shorter_ones():
    base, long = _parameters(None), _parameters("long")
    assert {m: _recipe(long, m) for m in base["trained_models"]} == {
        "fc64": (20, 0.05),
        "fc256_fc256": (20, 0.05),
        "simplenet": (12, 0.05),
        "simplenet_plus": (20, 0.1),
    }
    for model in base["trained_models"]:
        assert _recipe(base, model)[0] <= _recipe(long, model)[0]
    assert long["simplenet_plus"]["model"] == base["simplenet_plus"]["model"]  # the architecture is the same
    assert long["simplenet_plus"]["training"]["augment"] is True  # the full augmentation; base halves it


def test_every_parameter_input_of_every_node_is_typed(monkeypatch):
    """Kedro validates a ``params:`` input only when its node declares a Pydantic type for it, so
    every one does: no node takes an untyped parameter dict."""
    import inspect
    import typing

    from pydantic import BaseModel

    untyped, seen = [], 0
    for name, pipeline in _pipelines(monkeypatch, None):
        for node in pipeline.nodes:
            hints = typing.get_type_hints(node.func)
            # Kedro orders a node's inputs as its function's arguments (for list and dict inputs alike)
            arguments = [p.name for p in inspect.signature(node.func).parameters.values() if p.kind != p.KEYWORD_ONLY]
            for argument, dataset in zip(arguments, node.inputs):
                if dataset.startswith("params:"):
                    seen += 1
                    hint = hints.get(argument)
                    if not (isinstance(hint, type) and issubclass(hint, BaseModel)):
                        untyped.append(f"{name}: {node.name} reads {dataset} as {argument}: {hint}")
    assert seen > 20
    assert not untyped, "\n".join(untyped)
