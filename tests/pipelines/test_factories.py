"""Every pipeline factory builds from the parameters it is given: no parameter file read, no network
built, no data loaded; ``conf/test`` shrinks the sweeps, ``trained_models`` and ``predict.models``
choose the models, and a bad member is named at build time by the parameters' types."""

import importlib
import pkgutil
from functools import cache

import pytest
import torch

import practical_dl.pipelines as package
from practical_dl import settings  # the project's own loader and soft merge of environments
from practical_dl.core.params import ParameterError, deep_merge
from practical_dl.project import context
from tests.conftest import ROOT

PIPELINES = sorted(module.name for module in pkgutil.iter_modules(package.__path__) if module.ispkg)


@cache
def _parameters(env: str) -> dict:
    return context.ProjectConfigLoader(conf_source=str(ROOT / "conf"), env=env, **settings.CONFIG_LOADER_ARGS)["parameters"]


def parameters(env: str = "test", **changes) -> dict:
    """The shipped parameters of ``env`` (conf/local: the defaults), with ``changes`` merged key by key as ``--params`` would."""
    return deep_merge(_parameters(env), changes)


def build(name: str, params: dict):
    return importlib.import_module(f"{package.__name__}.{name}.pipeline").create_pipeline(parameters=params)


def namespaces(pipeline, depth: int | None = None) -> set[str]:
    found = {node.namespace for node in pipeline.nodes if node.namespace}
    return {".".join(n.split(".")[:depth]) for n in found} if depth else found


@pytest.fixture(autouse=True)
def nothing_read_built_or_loaded(monkeypatch):
    """A factory that reads a parameter file, builds a network or makes a catalog fails the test."""

    def refused(what):
        def refuse(*args, **kwargs):
            raise AssertionError(f"building a pipeline {what}")

        return refuse

    monkeypatch.setattr(context, "load_project_parameters", refused("read the parameter files"))
    monkeypatch.setattr(torch.nn.Module, "__init__", refused("built a network"))
    monkeypatch.setattr("practical_dl.project.training_setup.model_from_params", refused("built a network"))
    monkeypatch.setattr("kedro.io.DataCatalog.__init__", refused("made a catalog"))
    # which classifiers exist is a stat of the catalog's files (tests/project/test_context.py); here: none yet
    monkeypatch.setattr("practical_dl.pipelines.predict.pipeline.existing_datasets", lambda names: [])


@pytest.mark.parametrize("env", ["local", "test"])
@pytest.mark.parametrize("name", PIPELINES)
def test_every_factory_builds_from_its_arguments_alone(name, env):
    pipeline = build(name, parameters(env))
    assert pipeline.nodes, name


def test_the_test_environment_shrinks_the_sweeps():
    assert namespaces(build("batch_lr", parameters("test"))) == {
        "batch_lr.bs_16.lr_0p01",
        "batch_lr.bs_16.lr_1000",
        "batch_lr.bs_64.lr_0p01",
        "batch_lr.bs_64.lr_1000",
    }
    assert len(namespaces(build("batch_lr", parameters("local")))) == 25  # 5 batch sizes x 5 learning rates
    assert namespaces(build("depth_bn", parameters("test"))) == {
        f"depth_bn.depth_{depth}.{norm}.lr_x1" for depth in (3, 6) for norm in ("plain", "bn")
    }
    assert namespaces(build("dropout_ensemble", parameters("test"))) == {
        "dropout_ensemble.plain_1",
        "dropout_ensemble.plain_2",
        "dropout_ensemble.dropout_1",
        "dropout_ensemble.dropout_2",
    }
    assert namespaces(build("transfer_learning", parameters("test"))) == {
        f"transfer.{strategy}.{budget}"
        for strategy in ("scratch", "fine_tune", "feature_extract")
        for budget in ("n5.s3", "n5.s4", "all.s3")
    }
    assert len(namespaces(build("transfer_learning", parameters("local")))) == 33  # 3 strategies x (3 budgets x 3 seeds + 2 budgets once)
    tricks = namespaces(build("tricks", parameters("test")))
    assert namespaces(build("tricks", parameters("test")), 2) == {
        f"tricks.{sweep}" for sweep in ("batch_size", "learning_rate", "dropout", "batch_norm", "augmentation", "standardisation")
    }
    assert {"tricks.learning_rate.lr_1", "tricks.dropout.on", "tricks.dropout.off"} <= tricks


def test_trained_models_name_the_model_namespaces():
    every = {"fc64", "fc256_fc256", "simplenet", "simplenet_plus"}
    assert namespaces(build("training", parameters())) == every
    assert namespaces(build("evaluation", parameters())) == every
    assert namespaces(build("adversarial", parameters()), 1) == {"adversarial", "simplenet_robust"}
    chosen = parameters(trained_models=["simplenet"])  # --params trained_models=[simplenet]
    assert namespaces(build("training", chosen)) == {"simplenet"}
    assert namespaces(build("evaluation", chosen)) == {"simplenet"}
    assert namespaces(build("patch", chosen)) == {"patch.simplenet", "patch.simplenet_robust"}


def test_predict_reads_the_chosen_models_or_those_trained_so_far(monkeypatch):
    def classifiers(pipeline) -> list[str]:
        return sorted(i for i in pipeline.inputs() if i.endswith(".classifier"))

    assert classifiers(build("predict", parameters(predict={"models": ["fc64"]}))) == ["fc64.classifier"]
    trained = ["simplenet.classifier", "simplenet_plus.classifier"]
    monkeypatch.setattr("practical_dl.pipelines.predict.pipeline.existing_datasets", lambda names: [n for n in names if n in trained])
    assert classifiers(build("predict", parameters())) == trained
    monkeypatch.setattr("practical_dl.pipelines.predict.pipeline.existing_datasets", lambda names: [])
    assert len(classifiers(build("predict", parameters()))) == 4  # none trained yet: every model, and the run says what to run first


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        (
            "tricks",
            {"tricks": {"sweeps": {"dropout": {"members": {"on": {"model": {"options": {"dropout": 1.5}}}}}}}},
            r"invalid parameter tricks\.sweeps\.dropout\.members\.on\.model\.options\.dropout: must be <= 1, got 1\.5",
        ),
        (
            "tricks",
            {"tricks": {"sweeps": {"dropout": {"members": {"on": {"model": {"options": {"dropuot": 0.5}}}}}}}},
            r"tricks\.sweeps\.dropout\.members\.on\.model: options \['dropuot'\] are not options of 'simplenet'",
        ),
        (
            "tricks",
            {"tricks": {"sweeps": {"learning_rate": {"members": {"lr_1": {"training": {"lr": -1}}}}}}},
            r"invalid parameter tricks\.sweeps\.learning_rate\.members\.lr_1\.training\.lr: must be > 0, got -1",
        ),
        ("batch_lr", {"batch_lr": {"model": {"name": "lenet"}}}, r"invalid parameter batch_lr\.model\.name: must be one of deep_convnet,"),
        ("batch_lr", {"batch_lr": {"learning_rates": [0.1, 0.01]}}, r"invalid parameter batch_lr\.learning_rates: must be increasing"),
        ("batch_lr", {"batch_lr": {"training": {"lr": -1}}}, r"invalid parameter batch_lr\.training\.lr: must be > 0, got -1"),
        ("depth_bn", {"depth_bn": {"depths": [2, 6]}}, r"invalid parameter depth_bn\.depths\[0\]: must be >= 3, got 2"),
        ("dropout_ensemble", {"dropout_ensemble": {"model": {"options": {"dropuot": 0.1}}}}, r"options \['dropuot'\] are not options"),
        ("training", {"trained_models": ["fc64", "nosuch"]}, r"trained_models: \['nosuch'\] have no parameter block of their own"),
        ("predict", {"predict": {"models": ["nosuch"]}}, r"invalid parameter predict\.models: \['nosuch'\] are not in trained_models"),
    ],
)
def test_a_bad_member_is_named_when_the_pipeline_is_built(name, changes, message):
    with pytest.raises(ParameterError, match=message):
        build(name, parameters(**changes))


@pytest.fixture(scope="module")
def bootstrapped():
    """Kedro's find_pipelines needs the project configured (before the checks above: Kedro makes a catalog to check its settings)."""
    from kedro.framework.startup import bootstrap_project

    bootstrap_project(ROOT)  # also resets Kedro's --pipelines filter: every pipeline is found


def test_register_pipelines_reads_the_parameters_once_and_hands_them_to_every_factory(bootstrapped, monkeypatch):
    from practical_dl import pipeline_registry

    reads = []
    monkeypatch.setattr(pipeline_registry, "load_project_parameters", lambda: reads.append(1) or parameters("test"))
    registered = pipeline_registry.register_pipelines()
    assert reads == [1]
    assert set(PIPELINES) | {"__default__"} <= set(registered)
    assert len(namespaces(registered["batch_lr"])) == 4  # conf/test's grid
    assert context._building.get() is None  # nothing left behind for a later build
