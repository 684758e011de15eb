"""The ``lecture`` pipeline as the registry composes it: every part's pipelines, each node tagged with its part, then the page."""

from kedro.framework.project import find_pipelines
from kedro.framework.startup import bootstrap_project

from practical_dl import settings  # noqa: F401  (as in a session: its hooks import kedro-mlflow, its known warnings silenced)
from practical_dl.pipeline_registry import lecture_pipeline
from practical_dl.pipelines.lecture import create_pipeline
from practical_dl.project.context import load_project_parameters, parameters_for_pipelines
from practical_dl.project.lecture import LECTURE_PARTS, PAGE_TAG, part_of
from tests.conftest import ROOT


def test_every_part_is_in_the_lecture_each_node_tagged_with_its_part(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("KEDRO_ENV", "test")
    bootstrap_project(ROOT)
    with parameters_for_pipelines(load_project_parameters(ROOT)):
        alone = lecture_pipeline({"lecture": create_pipeline()})  # `--pipelines lecture`: the parts are built here
        everything = find_pipelines(raise_errors=True)
        loaded = lecture_pipeline(everything)  # `kedro run`, kedro viz: the parts Kedro found
    assert {n.name for n in alone.nodes} == {n.name for n in loaded.nodes}
    for part in LECTURE_PARTS:
        names = {n.name for pipeline in part.pipelines for n in everything[pipeline].nodes}
        tagged = {n.name for n in alone.nodes if part_of(n.tags) == part.name}
        assert names <= tagged, part.name
    assert [n.name for n in alone.nodes if PAGE_TAG in n.tags] == ["make_lecture_page"]
    assert all(sum(tag.startswith("lecture.") for tag in n.tags) == 1 for n in alone.nodes)
    assert "predict" not in {part_of(n.tags) for n in alone.nodes}
