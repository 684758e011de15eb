"""Every configuration environment gives parameters that every pipeline accepts, and the `long`
environment trains the longer recipes the default ones replaced."""

import pytest

from practical_dl import settings  # the project's own: its soft merge of environments, its resolvers
from practical_dl.project.hooks.parameters import check_pipeline_parameters
from practical_dl.project.training_setup import training_config
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
    parameters = _parameters(env)
    checked = 0
    for _name, pipeline in _pipelines(monkeypatch, env):
        check_pipeline_parameters(pipeline, parameters)  # raises naming the parameter at fault
        checked += 1
    assert checked >= 9


def _recipe(parameters: dict, model: str) -> tuple[int, float]:
    config = training_config(parameters["training_defaults"], parameters[model].get("training"), model)
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


def test_a_pipeline_registers_the_check_of_every_block_it_reads(monkeypatch):
    """``kedro run --pipelines X`` imports X's package alone, so X's nodes register the checks of
    every parameter block X reads (:mod:`practical_dl.project.parameter_checks`)."""
    import ast

    from practical_dl.project.parameter_checks import CHECKS

    pipelines = dict(_pipelines(monkeypatch, None))  # every pipeline imported: CHECKS holds every check
    for name, pipeline in pipelines.items():
        nodes = ROOT / "src" / "practical_dl" / "pipelines" / name / "nodes.py"
        calls = ast.walk(ast.parse(nodes.read_text())) if nodes.exists() else ()
        own = {c.args[0].value for c in calls if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "register_check"}
        read = {n.removeprefix("params:") for n in pipeline.inputs() | pipeline.all_inputs() if n.startswith("params:")}
        assert read & set(CHECKS) <= own, f"the {name} pipeline reads {sorted(read & set(CHECKS) - own)} but registers no check of them"
