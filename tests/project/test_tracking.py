"""Per-epoch MLflow tracking as a collaborator of the training loop, against a real (SQLite) MLflow
store: metrics as each epoch ends, and Ctrl-C while logging, then a resumed run that names the run
it went on from and holds the whole history, step for step."""

import mlflow
import pytest
import torch

from practical_dl.core.checkpoint import Checkpointer
from practical_dl.core.engine import fit
from practical_dl.project.tracking import EpochMetrics
from tests.helpers.data import TWO_CLASS_STD as STD
from tests.helpers.data import two_class_images
from tests.helpers.training import cpu_config, linear_classifier

CONFIG = cpu_config(epochs=4)


def steps_and_values(client, run_id, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_each_epoch_is_logged_as_it_ends(store):
    seen = []

    class Look:  # after the tracker: what the store holds when epoch k has just ended
        def on_epoch_end(self, state):
            seen.append([m.step for m in store.get_metric_history(mlflow.active_run().info.run_id, "m.train_loss")])

    with mlflow.start_run() as run:
        result = fit(linear_classifier(), two_class_images(), two_class_images(), STD, CONFIG, callbacks=[EpochMetrics("m"), Look()])
    assert seen == [[1], [1, 2], [1, 2, 3], [1, 2, 3, 4]]
    assert steps_and_values(store, run.info.run_id, "m.val_accuracy") == [(r["epoch"], r["val_accuracy"]) for r in result.history]


def test_ctrl_c_while_logging_then_the_resumed_run_carries_on(store, tmp_path, monkeypatch):
    data = two_class_images()
    whole = fit(linear_classifier(), data, data, STD, CONFIG)  # never interrupted, not tracked
    checkpointer = Checkpointer(tmp_path / "m.safetensors", fingerprint="f")
    log_metrics, calls = mlflow.log_metrics, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # Ctrl-C while epoch 3's metrics are being logged
            raise KeyboardInterrupt
        return log_metrics(*args, **kwargs)

    first = mlflow.start_run()
    monkeypatch.setattr(mlflow, "log_metrics", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fit(linear_classifier(), data, data, STD, CONFIG, callbacks=[EpochMetrics("m"), checkpointer])
    monkeypatch.setattr(mlflow, "log_metrics", log_metrics)
    mlflow.end_run("KILLED")  # what practical_dl.project.hooks.interrupt.InterruptHook does in a kedro run
    assert checkpointer.saved == [1, 2]  # epoch 3 was not checkpointed: it is trained again

    with mlflow.start_run() as second:
        resumed = fit(
            linear_classifier(), data, data, STD, CONFIG, callbacks=[EpochMetrics("m"), checkpointer], resume=checkpointer.resume_state()
        )
    tags = store.get_run(second.info.run_id).data.tags
    assert tags["resumed_from"] == first.info.run_id
    assert tags["resumed_from.m"] == f"{first.info.run_id} after epoch 2"
    assert store.get_run(first.info.run_id).info.status == "KILLED"
    for key in ("train_loss", "val_loss", "val_accuracy", "lr"):
        assert steps_and_values(store, second.info.run_id, f"m.{key}") == [(r["epoch"], r[key]) for r in whole.history], key
    for name, tensor in whole.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_without_an_active_run_nothing_is_logged(store):
    result = fit(linear_classifier(), two_class_images(), None, STD, CONFIG, callbacks=[EpochMetrics("m")])
    assert len(result.history) == 4 and mlflow.active_run() is None


def test_sweep_members_are_tracked_by_rank_0_only(store, monkeypatch):
    """Under torchrun only rank 0 tracks: another rank's sweep member opens no MLflow run."""
    from practical_dl.project.tracking import member_run

    monkeypatch.setenv("RANK", "1")
    with member_run("bs_4", {"sweep": "batch_size"}, {"lr": 0.1}) as run:
        assert run.run_id is None
        assert mlflow.active_run() is None
    monkeypatch.setenv("RANK", "0")
    with member_run("bs_4", {"sweep": "batch_size"}, {"lr": 0.1}) as run:
        assert run.run_id is not None
    assert len(store.search_runs([store.get_experiment_by_name("tracking-test").experiment_id])) == 1
