"""The parameters pipelines are built from: read once per run, from the run's loader or
``$KEDRO_ENV``'s, handed to the factories, and "what has been made" told by a stat."""

from pathlib import Path

import pytest
import yaml

from practical_dl import settings  # the project's own: its loader class, its soft merge of environments
from practical_dl.project import context
from tests.conftest import ROOT


def _conf(root: Path, parameters: dict, catalog: dict | None = None, env: dict | None = None) -> Path:
    (root / "conf" / "base").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "practical_dl"\nproject_name = "practical_dl"\n')
    (root / "conf" / "base" / "parameters.yml").write_text(yaml.safe_dump(parameters))
    (root / "conf" / "base" / "catalog.yml").write_text(yaml.safe_dump(catalog or {}))
    (root / "conf" / "local").mkdir()
    if env:
        (root / "conf" / "test").mkdir()
        (root / "conf" / "test" / "parameters.yml").write_text(yaml.safe_dump(env))
    return root


def _loader(root: Path, env: str | None = None, runtime_params: dict | None = None) -> context.ProjectConfigLoader:
    return context.ProjectConfigLoader(
        conf_source=str(root / "conf"), env=env, runtime_params=runtime_params, **settings.CONFIG_LOADER_ARGS
    )


@pytest.fixture
def no_run(monkeypatch):
    """No context of an earlier run in this process: parameters come from the files."""
    monkeypatch.setattr(context, "_active_loader", None)
    monkeypatch.setattr(context, "_active_project", None)
    monkeypatch.delenv("KEDRO_ENV", raising=False)


def test_the_project_loads_with_its_own_loader_class():
    assert settings.CONFIG_LOADER_CLASS is context.ProjectConfigLoader
    assert settings.CONTEXT_CLASS is context.ProjectContext


def test_the_loader_reads_the_parameter_files_once_and_hands_out_copies(tmp_path):
    root = _conf(tmp_path, {"block": {"lr": 0.1}}, env={"block": {"epochs": 1}})
    loader = _loader(root, env="test", runtime_params={"block": {"lr": 0.5}})
    first = loader["parameters"]
    assert first == {"block": {"lr": 0.5, "epochs": 1}}  # the environment merged key by key, --params on top
    (root / "conf" / "base" / "parameters.yml").write_text(yaml.safe_dump({"other": 1}))
    first["block"]["lr"] = -1
    assert loader["parameters"] == {"block": {"lr": 0.5, "epochs": 1}}  # not read again, and not changed by a caller
    assert _loader(root, env="test")["parameters"] == {"other": 1, "block": {"epochs": 1}}  # a new loader reads again


def test_a_key_set_on_the_loader_is_answered_as_kedro_answers_it(tmp_path):
    loader = _loader(_conf(tmp_path, {"a": 1}))
    loader["parameters"] = {"set": True}
    assert loader["parameters"] == {"set": True}


def test_the_context_records_its_loader_for_the_pipelines(tmp_path, no_run):
    root = _conf(tmp_path, {"trained_models": ["a"]}, env={"trained_models": ["b"]})
    loader = _loader(root, env="test")
    context.ProjectContext(project_path=root, config_loader=loader, env="test", package_name="practical_dl", hook_manager=None)
    assert context._loader_and_root() == (loader, root)
    assert context.load_project_parameters() == {"trained_models": ["b"]}


def test_outside_a_run_the_parameters_are_those_of_kedro_env(tmp_path, monkeypatch, no_run):
    root = _conf(tmp_path, {"sweep": {"members": [1, 2, 3]}}, env={"sweep": {"members": [1]}})
    monkeypatch.chdir(root)
    assert context.load_project_parameters() == {"sweep": {"members": [1, 2, 3]}}
    monkeypatch.setenv("KEDRO_ENV", "test")
    assert context.load_project_parameters() == {"sweep": {"members": [1]}}
    assert context.load_project_parameters(ROOT)["trained_models"]  # another project's, by its folder


def test_outside_a_project_the_message_says_where_to_run(tmp_path, monkeypatch, no_run):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="no Kedro project found at or above"):
        context.load_project_parameters()


def test_factories_build_from_what_they_are_given_else_from_the_registry_s_reading(monkeypatch):
    def not_read():
        raise AssertionError("the parameter files were read")

    monkeypatch.setattr(context, "load_project_parameters", not_read)
    given, building = {"given": 1}, {"building": 1}
    with context.parameters_for_pipelines(building):
        assert context.pipeline_parameters(given) is given
        assert context.pipeline_parameters() is building
    monkeypatch.setattr(context, "load_project_parameters", lambda: {"project": 1})
    assert context.pipeline_parameters() == {"project": 1}  # nothing left behind by the build


def test_the_reading_of_a_build_is_left_behind_even_when_it_fails():
    with pytest.raises(ValueError), context.parameters_for_pipelines({"a": 1}):
        raise ValueError("a factory failed")
    assert context._building.get() is None


CATALOG = {
    "{model}.classifier": {
        "type": "nosuch.NeverImportedDataset",  # a stat resolves the entry, it never builds the dataset
        "versioned": True,
        "dataset": {"type": "nosuch.Inner", "filepath": "data/06_models/{model}.safetensors"},
    },
    "table": {"type": "nosuch.Table", "filepath": "data/08_reporting/table.csv"},
    "remote": {"type": "nosuch.Table", "filepath": "s3://bucket/table.csv"},
    "folder": {"type": "partitions.PartitionedDataset", "path": "data/01_raw/images", "dataset": "pillow.ImageDataset"},
}


def test_existing_datasets_is_a_stat_of_each_entry_s_file(tmp_path, no_run):
    root = _conf(tmp_path, {}, catalog=CATALOG)
    names = ["fc64.classifier", "simplenet.classifier", "table", "remote", "folder", "not_in_the_catalog"]
    assert context.existing_datasets(names, root) == ["remote"]  # a remote file is the run's to find
    version = root / "data" / "06_models" / "simplenet.safetensors" / "2026-01-01T00.00.00.000Z"
    version.mkdir(parents=True)
    assert context.existing_datasets(names, root) == ["remote"]  # a version folder without its file is no version
    (version / "simplenet.safetensors").write_bytes(b"")
    (root / "data" / "08_reporting").mkdir(parents=True)
    (root / "data" / "08_reporting" / "table.csv").write_text("")
    (root / "data" / "01_raw" / "images").mkdir(parents=True)
    assert context.existing_datasets(names, root) == ["simplenet.classifier", "table", "remote", "folder"]
