"""The building blocks of pipelines made of namespaced members: one group per member, the shared
inputs left un-namespaced, the member's identity bound into its node."""

import warnings

import pytest
from kedro.pipeline import Node

from practical_dl.project.namespaces import member_inputs, member_pipelines, name_safe, reading_across_namespaces


def train(train_split, validation_split, block, *, member, lr=0.1):
    """A member's node function: data and parameters by position, its identity by keyword."""
    return member, lr


def _members(outputs="result"):
    members = [("sweep.small", {"member": "small"}), ("sweep.large", {"member": "large", "lr": 1.0})]
    return member_pipelines(train, members, ["train_split", "validation_split", "params:sweep"], "train", outputs=outputs)


def test_each_member_is_a_namespace_reading_the_shared_inputs():
    pipeline = _members()
    nodes = {node.name: node for node in pipeline.nodes}
    assert sorted(nodes) == ["sweep.large.train", "sweep.small.train"]
    for name, node in nodes.items():
        namespace = name.removesuffix(".train")
        assert node.namespace == namespace
        assert node.inputs == ["train_split", "validation_split", "params:sweep"]  # neither data nor parameters namespaced
        assert node.outputs == [f"{namespace}.result"]
    assert pipeline.inputs() == {"train_split", "validation_split", "params:sweep"}


def test_each_member_has_its_identity_bound_and_keeps_the_function_s_name():
    nodes = {node.name: node for node in _members().nodes}
    small, large = nodes["sweep.small.train"].func, nodes["sweep.large.train"].func
    assert small("train", "validation", {}) == ("small", 0.1)
    assert large("train", "validation", {}) == ("large", 1.0)
    assert small.__name__ == "train" and small.__doc__ == train.__doc__  # kedro-viz and Kedro's type check read the function's


def test_members_can_write_several_outputs():
    nodes = {node.name: node for node in _members(outputs=["result", "probabilities"]).nodes}
    assert nodes["sweep.small.train"].outputs == ["sweep.small.result", "sweep.small.probabilities"]


def test_no_members_is_an_empty_pipeline():
    assert not member_pipelines(train, [], ["train_split", "validation_split", "params:sweep"], "train").nodes


def test_member_inputs_are_the_splits_statistics_and_the_blocks_in_argument_order():
    assert member_inputs("tricks") == [
        "train_split",
        "validation_split",
        "test_split",
        "standardisation_stats",
        "params:tricks",
        "params:training_defaults",
        "params:augmentation",
    ]


def test_a_report_reads_other_namespaces_outputs_without_kedro_s_warning():
    def report(*results):
        return results

    kedro_s = "One or more dataset names contain '.' characters, which is not recommended"  # Kedro warns once a process
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with reading_across_namespaces():
            node = Node(report, inputs=["sweep.small.result", "sweep.large.result"], outputs="report", name="report")
            warnings.warn(kedro_s, UserWarning, stacklevel=1)
        assert not caught
        warnings.warn(kedro_s, UserWarning, stacklevel=1)  # outside, the warning is Kedro's to give again
    assert len(caught) == 1
    assert node.inputs == ["sweep.small.result", "sweep.large.result"]


@pytest.mark.parametrize(("value", "name"), [(0.01, "0p01"), (1e-05, "1em05"), (10, "10"), (1000.0, "1000"), (2.5e10, "2p5e10")])
def test_a_number_becomes_a_part_of_a_dataset_name(value, name):
    assert name_safe(value) == name
