"""The time-to-accuracy watch: it stops training at the first epoch whose validation error reaches
the target, with that epoch's weights and the training seconds until then."""

import pytest

from practical_dl.core.engine import fit
from practical_dl.tools.time_to_accuracy import TargetReached, TargetWatch, _runtime_params, markdown
from tests.helpers.data import TWO_CLASS_STD as STD
from tests.helpers.data import two_class_images
from tests.helpers.training import cpu_config, linear_classifier

CONFIG = cpu_config(epochs=6, lr=0.01)


def test_the_watch_stops_at_the_first_epoch_reaching_the_target():
    full = fit(linear_classifier(), two_class_images(256), two_class_images(256), STD, CONFIG)
    errors = [100 * (1 - r["val_accuracy"]) for r in full.history]
    target = sorted(errors)[len(errors) // 2]  # reached somewhere in the middle
    first = next(i for i, e in enumerate(errors) if e <= target) + 1
    watch = TargetWatch(target)
    with pytest.raises(TargetReached):
        fit(linear_classifier(), two_class_images(256), two_class_images(256), STD, CONFIG, callbacks=[watch])
    assert watch.epoch == first and watch.val_error == pytest.approx(errors[first - 1])
    assert watch.seconds > 0 and set(watch.weights) == set(full.model.state_dict())
    going_on = TargetWatch(target, stop=False)
    again = fit(linear_classifier(), two_class_images(256), two_class_images(256), STD, CONFIG, callbacks=[going_on])
    assert going_on.epoch == first and len(again.history) == 6


def test_the_table_says_when_a_target_is_not_reached():
    rows = [
        {
            "model": "A",
            "target_percent": 1.0,
            "epochs_configured": 5,
            "epochs_to_target": 3,
            "seconds_to_target": 9.5,
            "val_error_percent": 0.9,
            "test_error_percent_at_target": 1.1,
        },
        {"model": "B", "target_percent": 0.1, "epochs_configured": 5, "best_val_error_percent": 0.4},
    ]
    table = markdown(rows)
    assert "| A | 1.00 | 5 | 3 | 9.5 | 0.90 | 1.10 | — |" in table
    assert "| B | 0.10 | 5 | not reached | — | best 0.40 | — | — |" in table


def test_set_builds_nested_runtime_parameters():
    assert _runtime_params(["simplenet.training.epochs=8", "simplenet.training.lr=0.1", "trained_models=[fc64]"]) == {
        "simplenet": {"training": {"epochs": 8, "lr": 0.1}},
        "trained_models": ["fc64"],
    }
    with pytest.raises(SystemExit, match="expected KEY=VALUE"):
        _runtime_params(["simplenet.training.epochs"])
