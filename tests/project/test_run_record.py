"""The run record's decisions: what a rerun with ``--only-missing-outputs`` must do again, and why, and
Kedro's own rule for which nodes run, checked against Kedro's runner."""

import math
from types import SimpleNamespace

from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import Node, Pipeline
from kedro.runner import SequentialRunner
from pydantic import BaseModel

from practical_dl.project.lecture import LECTURE_PARTS, PAGE_TAG, page_inputs, part_of
from practical_dl.project.run_record import NodeRun, RunRecord, changed_keys, digest, nodes_to_run, out_of_date, plain


def node(name, inputs=(), outputs=()):
    return SimpleNamespace(name=name, inputs=list(inputs), outputs=list(outputs))


#: params:train -> train -> model -> report -> page; params:report -> report
NODES = [
    node("train", ["params:train"], ["model"]),
    node("report", ["model", "params:report"], ["report"]),
    node("page", ["report"], ["page"]),
]


def _record(values: dict, finished=(1.0, 2.0, 3.0)) -> tuple[RunRecord, dict, dict]:
    """The record of a run of NODES with these parameter values, and the digests and values of those parameters."""
    digests = {name: digest(plain(value)) for name, value in values.items()}
    record = RunRecord()
    for n, t in zip(NODES, finished):
        params = {i: digests[i] for i in n.inputs if i in digests}
        record.finish(
            n.name, NodeRun(seconds=1.0, finished=t, params=params, outputs=n.outputs), {digests[k]: plain(v) for k, v in values.items()}
        )
    return record, digests, {digests[k]: plain(v) for k, v in values.items()}


def test_nothing_is_out_of_date_when_nothing_changed():
    values = {"params:train": {"lr": 0.1, "epochs": 2}, "params:report": {"bar": 1}}
    record, digests, known = _record(values)
    assert out_of_date(NODES, record, digests, known, lambda n: False) == {}


def test_a_changed_parameter_reruns_its_node_and_all_that_reads_from_it_naming_the_key():
    record, _, _ = _record({"params:train": {"lr": 0.1, "epochs": 2}, "params:report": {"bar": 1}})
    now = {"params:train": {"lr": 0.1, "epochs": 3}, "params:report": {"bar": 1}}
    digests = {k: digest(plain(v)) for k, v in now.items()}
    reasons = out_of_date(NODES, record, digests, {digests[k]: plain(v) for k, v in now.items()}, lambda n: False)
    assert reasons == {
        "train": "parameters changed: train.epochs",
        "report": "it reads model, made again in this run",
        "page": "it reads report, made again in this run",
    }


def test_an_input_made_again_since_a_node_ran_reruns_it():
    values = {"params:train": {"lr": 0.1}, "params:report": {"bar": 1}}
    record, digests, known = _record(values, finished=(1.0, 5.0, 3.0))  # report was made again after page ran
    assert out_of_date(NODES, record, digests, known, lambda n: False) == {"page": "it reads report, made again since it ran"}


def test_a_node_with_missing_outputs_reruns_what_reads_from_it_and_an_unrecorded_node_is_left_to_kedro():
    values = {"params:train": {"lr": 0.1}, "params:report": {"bar": 1}}
    record, digests, known = _record(values)
    assert out_of_date(NODES, record, digests, known, lambda n: n.name == "report") == {"page": "it reads report, made again in this run"}
    del record.nodes["page"]
    assert out_of_date(NODES, record, digests, known, lambda n: n.name == "report") == {}


def test_changed_keys_name_the_leaves_that_differ():
    before = {"a": {"b": 1, "c": [1, 2]}, "d": math.nan, "gone": 1}
    after = {"a": {"b": 1, "c": [1, 3]}, "d": math.nan, "new": 2}
    assert changed_keys(before, after, "x") == ["x.a.c", "x.gone", "x.new"]


class Block(BaseModel):
    lr: float = 0.1
    sizes: tuple[int, ...] = (4, 8)


def test_a_typed_block_is_digested_by_its_fields():
    assert plain(Block()) == {"lr": 0.1, "sizes": [4, 8]}
    assert digest(plain(Block())) == digest({"sizes": [4, 8], "lr": 0.1}) != digest(plain(Block(lr=0.2)))
    assert len(digest({})) == 16


def test_the_record_keeps_only_the_values_it_names_and_adds_up_a_parts_time():
    record = RunRecord()
    record.finish("a", NodeRun(part="p", seconds=2.0, finished=1.0, params={"params:x": "d1"}, outputs=["o"]), {"d1": 1, "d0": 0})
    record.finish("b", NodeRun(part="p", seconds=3.0, finished=4.0, params={}, outputs=["o"]), {})
    assert record.values == {"d1": 1} and record.part_seconds("p") == 5.0 and record.part_seconds("q") is None
    assert record.made_at("o") == 4.0 and record.made_at("nothing") is None


def test_nodes_to_run_is_kedros_own_rule(tmp_path):
    """The plan of the progress lines: the nodes Kedro's runner runs with only_missing_outputs, for each set of missing outputs."""
    from kedro_datasets.json import JSONDataset

    ran = []

    def step(name):
        def run(*args):
            ran.append(name)
            return 1

        run.__name__ = name
        return run

    pipeline = Pipeline(
        [
            Node(step("a"), None, "x", name="a"),  # x: on disk
            Node(step("b"), "x", "y", name="b"),  # y: in memory
            Node(step("c"), "y", "z", name="c"),  # z: on disk
            Node(step("d"), "x", "w", name="d"),  # w: on disk
        ]
    )
    for missing in ({"x", "z", "w"}, {"z"}, {"w"}, set()):
        files = {name: JSONDataset(filepath=str(tmp_path / f"{name}.json")) for name in ("x", "z", "w")}
        for name, dataset in files.items():
            dataset.save(1) if name not in missing else (tmp_path / f"{name}.json").unlink(missing_ok=True)
        catalog = DataCatalog(datasets=files)
        ran.clear()
        SequentialRunner().run(pipeline, catalog, only_missing_outputs=True)
        expected = nodes_to_run(
            pipeline.nodes, missing.__contains__, lambda o, files=files: not isinstance(files.get(o, MemoryDataset()), JSONDataset)
        )
        assert ran == expected, (missing, ran, expected)


def test_each_part_is_named_once_and_the_page_reads_each_parts_report_and_figure():
    assert len({part.name for part in LECTURE_PARTS}) == len(LECTURE_PARTS)
    assert part_of({"x", "lecture.tricks"}) == "tricks" and part_of({PAGE_TAG}) == "page" and part_of(set()) is None
    reports = [part.report for part in LECTURE_PARTS if part.report]
    assert page_inputs() == [name for part in LECTURE_PARTS for name in ([part.report] if part.report else []) + [part.figure]]
    assert len(page_inputs()) == len(reports) + len(LECTURE_PARTS)
    assert LECTURE_PARTS[0].command == "kedro run" and LECTURE_PARTS[-1].command == "kedro run --pipelines gan"
