"""The progress lines: a run's plan, and after each node how far it is and about how long is left."""

import pytest

from practical_dl.project.progress import Progress, expected_seconds, time_left
from practical_dl.project.reporting import duration

PART = {"a1": "default", "a2": "default", "t1": "tricks", "t2": "tricks", "g": "gan"}


def test_a_node_is_expected_to_take_its_recorded_time_else_its_share_of_what_its_parts_reference_leaves():
    expected = expected_seconds(
        ["a1", "a2", "t1", "t2", "g"],
        PART,
        recorded={"a1": 100.0, "t2": None},
        reference={"default": 300.0, "tricks": 100.0},
        part_nodes={"default": ["a1", "a2"], "tricks": ["t1", "t2"], "gan": ["g"]},
    )
    assert expected == {"a1": 100.0, "a2": 200.0, "t1": 50.0, "t2": 50.0, "g": None}
    over = expected_seconds(["a2"], PART, {"a1": 400.0}, {"default": 300.0}, {"default": ["a1", "a2"]})
    assert over == {"a2": 0.0}  # the part took longer than its reference already


def test_the_plan_and_a_line_per_node_count_down_the_time_left():
    progress = Progress(["a1", "a2", "t1"], PART, {"a1": 30.0, "a2": 90.0, "t1": 600.0})
    assert progress.plan_lines(total_nodes=5) == [
        "Plan: 3 of 5 nodes to run in 2 parts, about 12 min 00 s",
        "  default: 2 nodes, about 2 min 00 s",
        "  tricks: 1 node, about 10 min 00 s",
    ]
    assert progress.finished("a1", 31.24) == "[1/3] default: a1 done in 31.2 s; about 12 min left"
    assert progress.finished("a2", 80.0) == "[2/3] default: a2 done in 80.0 s; about 10 min left"
    assert progress.finished("t1", 5.0) == "[3/3] tricks: t1 done in 5.0 s; under a minute left"


def test_a_plan_with_nothing_to_run_says_so():
    assert Progress([], PART, {}).plan_lines(5) == ["Plan: nothing to run, all 5 nodes are done and up to date"]


def test_nodes_without_an_estimate_are_left_out_of_it_and_none_with_one_is_unknown():
    progress = Progress(["a1", "g"], PART, {"a1": 90.0, "g": None})
    assert progress.plan_lines(2) == [
        "Plan: 2 of 2 nodes to run in 2 parts, about 1 min 30 s",
        "  default: 1 node, about 1 min 30 s",
        "  gan: 1 node",
    ]
    assert progress.finished("a1", 1.0).endswith("; time left unknown")
    assert progress.finished("g", 1.0).endswith("; under a minute left")


@pytest.mark.parametrize(
    ("seconds", "said"),
    [(None, "time left unknown"), (59, "under a minute left"), (150, "about 2 min left"), (7320, "about 2 h 02 min left")],
)
def test_time_left_in_words(seconds, said):
    assert time_left(seconds) == said


@pytest.mark.parametrize(("seconds", "said"), [(None, "—"), (42.4, "42 s"), (329, "5 min 29 s"), (3720, "1 h 02 min")])
def test_durations(seconds, said):
    assert duration(seconds) == said
