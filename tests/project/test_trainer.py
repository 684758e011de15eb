"""The one trainer of every classifier, and a sweep member trained by it: checkpoint and resume
(a finished member is not trained again, a stopped one goes on bit-identical), the adversary,
and the member's typed summary in its own MLflow run."""

import logging
import math

import mlflow
import numpy as np
import pytest
import torch
from kedro.io import DatasetError

from practical_dl.core.config import AugmentConfig
from practical_dl.core.distributed import SingleProcess
from practical_dl.methods.attack_settings import AdversarialTraining
from practical_dl.project import trainer
from practical_dl.project.datasets import TypedJSONDataset
from practical_dl.project.parameters import ModelSpec, TrainingSettings
from practical_dl.project.sweeps import MemberSummary, SweepData, SweepMember, train_member
from practical_dl.project.trainer import Network, RunIdentity, TrainingData, train_classifier
from practical_dl.project.training_setup import input_standardiser
from tests.helpers.data import tiny_split, two_class_images
from tests.helpers.training import CPU_RUN, NoteEpochs, StopAfter

STATS = {"mean": [0.3], "std": [0.4], "scale": 255.0}
MODEL = ModelSpec(name="mlp", label="MLP16", options={"hidden": [16]})


def settings(tmp_path, **changes) -> TrainingSettings:
    return TrainingSettings(**(CPU_RUN | {"checkpoint_dir": str(tmp_path / "checkpoints")} | changes))


def linear() -> Network:
    return Network(lambda channels, size: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(channels * size * size, 2)), {"n": 1})


def data() -> TrainingData:
    images, labels = two_class_images()
    split = {"images": images, "labels": labels}
    return TrainingData(split, split, input_standardiser(TrainingSettings(), STATS, 1))


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)


def test_a_training_is_checkpointed_and_not_repeated_when_finished(tmp_path, caplog):
    config = settings(tmp_path)
    first = train_classifier(linear(), data(), config, RunIdentity(name="m"))
    assert (tmp_path / "checkpoints" / "m.safetensors").is_file()
    assert [row["epoch"] for row in first.fit.history] == [1, 2, 3]
    with caplog.at_level(logging.INFO):
        again = train_classifier(linear(), data(), config, RunIdentity(name="m"))
    assert "m: already trained (3 of 3 epochs in its checkpoint): not trained again" in caplog.text
    assert_same(weights(first.model), weights(again.model))
    assert again.fit.history == first.fit.history


def test_a_stopped_training_resumes_from_its_checkpoint_bit_identical(tmp_path, caplog):
    whole = train_classifier(linear(), data(), settings(tmp_path / "whole"), RunIdentity(name="m"))
    config = settings(tmp_path / "stopped")
    with pytest.raises(KeyboardInterrupt):
        train_classifier(linear(), data(), config, RunIdentity(name="m"), collaborators=lambda model, std: [StopAfter(2)])
    with caplog.at_level(logging.INFO):
        resumed = train_classifier(linear(), data(), config, RunIdentity(name="m"))
    assert "m: resuming after epoch 1 of 3" in caplog.text
    assert_same(weights(whole.model), weights(resumed.model))
    strip = [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")} for row in whole.fit.history]
    assert [{k: v for k, v in row.items() if k not in ("seconds", "images_per_second")} for row in resumed.fit.history] == strip


def test_other_settings_start_afresh(tmp_path, caplog):
    train_classifier(linear(), data(), settings(tmp_path), RunIdentity(name="m"))
    with caplog.at_level(logging.WARNING):
        other = train_classifier(linear(), data(), settings(tmp_path, lr=0.01), RunIdentity(name="m"))
    assert "was made with other settings" in caplog.text
    assert [row["epoch"] for row in other.fit.history] == [1, 2, 3]


def test_without_checkpoints_nothing_is_written(tmp_path):
    train_classifier(linear(), data(), settings(tmp_path, checkpoint_every=0), RunIdentity(name="m"))
    assert not (tmp_path / "checkpoints").exists()


def test_the_adversary_of_the_training_settings_is_used(tmp_path, monkeypatch):
    calls = []
    attack = AdversarialTraining.__call__

    def counted(self, forward, x, y):
        calls.append(x.shape[0])
        return attack(self, forward, x, y)

    monkeypatch.setattr(AdversarialTraining, "__call__", counted)
    train_classifier(linear(), data(), settings(tmp_path, checkpoint_every=0), RunIdentity(name="plain"))
    assert calls == []
    adversarial = settings(tmp_path, checkpoint_every=0, adversarial=AdversarialTraining(epsilon=0.1, fraction=0.5))
    train_classifier(linear(), data(), adversarial, RunIdentity(name="robust"))
    assert len(calls) == 3 * math.ceil(128 / 32)  # every training batch of every epoch


def sweep_data() -> SweepData:
    return SweepData(tiny_split(200, seed=0), tiny_split(60, seed=1), tiny_split(60, seed=2), STATS)


def who(**changes) -> SweepMember:
    return SweepMember(**{"pipeline": "tricks", "sweep": "lr", "member": "lr_0p05", "where": "tricks", "train_limit": 100} | changes)


def test_a_sweep_member_is_trained_in_its_own_run_and_summarised(tmp_path, store):
    summary, trained = train_member(sweep_data(), MODEL, settings(tmp_path, epochs=2), AugmentConfig(), who(value=0.05))
    assert isinstance(summary, MemberSummary)
    assert (summary.sweep, summary.member, summary.value, summary.train_images, summary.epochs) == ("lr", "lr_0p05", 0.05, 100, 2)
    assert (tmp_path / "checkpoints" / "tricks" / "lr" / "lr_0p05.safetensors").is_file()
    run = store.get_run(summary.mlflow_run_id)
    assert run.info.run_name == "lr/lr_0p05" and run.info.status == "FINISHED"
    assert {"sweep": "lr", "member": "lr_0p05", "pipeline": "tricks", "diverged": "false"}.items() <= run.data.tags.items()
    assert run.data.metrics["test_error_percent"] == summary.test_error_percent
    assert run.data.params["train_images"] == "100" and run.data.params["model.name"] == "mlp"
    assert summary.last("val_accuracy") == summary.history[-1]["val_accuracy"]
    assert math.isnan(summary.last("no such key"))


def test_a_member_summary_is_saved_and_read_back_as_its_type(tmp_path, store):
    summary, _ = train_member(sweep_data(), MODEL, settings(tmp_path, epochs=1), AugmentConfig(), who())
    dataset = TypedJSONDataset(filepath=str(tmp_path / "member.json"), model="practical_dl.project.sweeps.MemberSummary")
    dataset.save(summary)
    assert dataset.load() == summary
    with pytest.raises(DatasetError, match="expected a MemberSummary, got dict"):
        dataset.save(summary.model_dump())


def test_a_stopped_member_resumes_and_a_finished_one_is_not_retrained(tmp_path, store, caplog):
    config = settings(tmp_path, epochs=3)
    whole, _ = train_member(sweep_data(), MODEL, settings(tmp_path / "whole", epochs=3), AugmentConfig(), who())
    with pytest.raises(KeyboardInterrupt):
        train_member(sweep_data(), MODEL, config, AugmentConfig(), who(), collaborators=lambda model, std: [StopAfter(2)])
    with caplog.at_level(logging.INFO):
        resumed, _ = train_member(sweep_data(), MODEL, config, AugmentConfig(), who())
        finished, _ = train_member(sweep_data(), MODEL, config, AugmentConfig(), who())
    assert "lr/lr_0p05: resuming after epoch 1 of 3" in caplog.text
    assert "lr/lr_0p05: already trained (3 of 3 epochs in its checkpoint): not trained again" in caplog.text
    timing = ("seconds", "images_per_second")
    for other in (resumed, finished):
        assert other.test_error_percent == whole.test_error_percent
        assert [{k: v for k, v in r.items() if k not in timing} for r in other.history] == [
            {k: v for k, v in r.items() if k not in timing} for r in whole.history
        ]


def test_a_member_with_adversarial_training_is_trained_adversarially(tmp_path, store, monkeypatch):
    calls = []
    attack = AdversarialTraining.__call__
    monkeypatch.setattr(AdversarialTraining, "__call__", lambda self, f, x, y: calls.append(1) or attack(self, f, x, y))
    config = settings(tmp_path, epochs=1, adversarial=AdversarialTraining(epsilon=0.1))
    train_member(sweep_data(), MODEL, config, AugmentConfig(), who())
    assert len(calls) == math.ceil(100 / 32)


def test_a_diverging_member_ends_its_run_failed_and_the_sweep_goes_on(tmp_path, store):
    summary, _ = train_member(sweep_data(), MODEL, settings(tmp_path, lr=1e6, max_loss=1.0), AugmentConfig(), who())
    assert summary.diverged and summary.divergence_reason.startswith("train loss")
    run = store.get_run(summary.mlflow_run_id)
    assert run.info.status == "FAILED" and run.data.tags["diverged"] == "true"
    assert run.data.tags["divergence_reason"] == summary.divergence_reason
    assert summary.epochs == 1  # stopped at the first epoch, not trained on
    assert run.data.metrics["test_error_percent"] == summary.test_error_percent or np.isnan(summary.test_error_percent)


def test_a_default_model_is_tracked_in_the_active_run_under_its_name(tmp_path, store):
    with mlflow.start_run() as active:
        trained = train_classifier(linear(), data(), settings(tmp_path), RunIdentity(name="m", label="M"))
    run = store.get_run(active.info.run_id)
    assert trained.run_id is None and len(store.search_runs([run.info.experiment_id])) == 1  # no child run
    assert {"m.train_loss", "m.val_accuracy", "m.lr", "m.seconds", "m.best_epoch"} <= set(run.data.metrics)
    assert "m.images_per_second" not in run.data.metrics
    steps = [m.step for m in store.get_metric_history(active.info.run_id, "m.val_accuracy")]
    assert steps == [1, 2, 3] and run.data.metrics["m.best_epoch"] == trained.fit.best_epoch


class OnlyOneOfTwoProcesses:
    """The ``parallel`` of a process that is not rank 0 in a launch of two (only what the trainer asks of it)."""

    is_main, world_size = False, 1

    def main_only(self, callbacks):
        return []

    def __getattr__(self, name):
        return getattr(SingleProcess(), name)


def test_on_another_rank_than_0_only_the_collaborators_run(tmp_path, store, monkeypatch):
    monkeypatch.setattr(trainer, "from_environment", lambda *args: OnlyOneOfTwoProcesses())
    seen = []
    with mlflow.start_run() as active:
        train_classifier(linear(), data(), settings(tmp_path), RunIdentity(name="m"), collaborators=lambda model, std: [NoteEpochs(seen)])
    assert seen == [1, 2, 3]  # the collaborators run on every process
    assert not (tmp_path / "checkpoints" / "m.safetensors").exists()  # rank 0 alone checkpoints ...
    assert "m.train_loss" not in store.get_run(active.info.run_id).data.metrics  # ... and logs each epoch


@pytest.mark.parametrize("change", ["train", "validation"])
def test_a_checkpoint_of_other_training_or_validation_images_is_not_resumed(tmp_path, caplog, change):
    train_classifier(linear(), data(), settings(tmp_path), RunIdentity(name="m"))
    images, labels = two_class_images(96)
    other = {"images": images, "labels": labels}
    changed = TrainingData(other, data().validation, data().standardiser)
    if change == "validation":
        changed = TrainingData(data().train, other, data().standardiser)
    with caplog.at_level(logging.WARNING):
        again = train_classifier(linear(), changed, settings(tmp_path), RunIdentity(name="m"))
    assert "was made with other settings" in caplog.text
    assert [row["epoch"] for row in again.fit.history] == [1, 2, 3]
