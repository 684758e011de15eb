"""The ``adversarial``, ``patch`` and ``gan`` pipelines end to end on a slice of MNIST (``--env test``),
after the default pipeline has trained the classifiers they use (the session's
``explored_project``, which the notebooks' test reads too)."""

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from practical_dl.core.checkpoint import load_checkpoint
from tests.conftest import run

pytestmark = pytest.mark.integration

ATTACKED = ["fc64", "fc256_fc256", "simplenet", "simplenet_plus", "simplenet_robust"]


@pytest.fixture(scope="module")
def attacked_project(explored_project):
    return explored_project


def test_adversarial_table_report_and_pictures(attacked_project):
    reporting = attacked_project / "data" / "08_reporting" / "adversarial"
    table = pd.read_csv(reporting / "accuracy.csv")
    assert sorted(table["attack"].unique()) == ["fgsm", "pgd"]
    assert len(table) == 2 * len(ATTACKED)
    assert list(table.columns[2:]) == ["ε=0", "ε=0.05", "ε=0.1", "ε=0.15", "ε=0.2", "ε=0.25", "ε=0.3"]
    clean = table.groupby("model")["ε=0"].nunique()
    assert (clean == 1).all()  # ε = 0 is the same clean accuracy under every attack
    for model in ATTACKED:
        assert (reporting / f"{model}_examples.png").is_file()
        result = json.loads((attacked_project / "data" / "07_model_output" / "adversarial" / f"{model}.json").read_text())
        assert result["test_images"] == 100
    assert (reporting / "accuracy.png").is_file()
    assert "Adversarial training makes SimpLeNet-AT more robust to fgsm than SimpLeNet" in (reporting / "report.md").read_text()
    # the robust model was trained adversarially and evaluated like every other model
    robust = json.loads((attacked_project / "data" / "08_reporting" / "simplenet_robust" / "test_metrics.json").read_text())
    assert robust["label"] == "SimpLeNet-AT" and 0 <= robust["test_error_percent"] <= 100


def test_patch_table_report_pictures_and_patches(attacked_project):
    reporting = attacked_project / "data" / "08_reporting" / "patch"
    table = pd.read_csv(reporting / "success.csv")
    assert list(table.columns) == ["model", "4x4", "8x8"]  # conf/test: sizes [4, 8]
    assert len(table) == len(ATTACKED) and table[["4x4", "8x8"]].stack().between(0, 100).all()
    for model in ATTACKED:
        assert (reporting / f"{model}_examples.png").is_file() and (reporting / f"{model}_patches.png").is_file()
        result = json.loads((attacked_project / "data" / "07_model_output" / "patch" / f"{model}.json").read_text())
        assert 80 <= result["test_images"] < 100  # the test subset (100) less the target's own digits
        for size in (4, 8):
            pixels = np.array(result["patches"][str(size)])
            assert pixels.shape == (1, size, size) and pixels.min() >= 0 and pixels.max() <= 1
        assert (result["every_target"] is not None) == (model == "simplenet")  # the bar's model
    every = json.loads((attacked_project / "data" / "07_model_output" / "patch" / "simplenet.json").read_text())["every_target"]
    assert every["size"] == 8 and len(every["success"]) == 10  # a patch of the bar's size for every class
    report = (reporting / "report.md").read_text()
    assert "A patch of at most 8x8 pixels makes SimpLeNet answer its target on at least 80%" in report
    assert "L∞ adversarial training defends against the patch (SimpLeNet-AT" in report
    assert (reporting / "success.png").is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{attacked_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    run_ = next(r for r in client.search_runs([experiment.experiment_id]) if "patch.simplenet.targeted_success" in r.data.metrics)
    assert [m.step for m in client.get_metric_history(run_.info.run_id, "patch.simplenet.targeted_success")] == [4, 8]
    assert len(client.get_metric_history(run_.info.run_id, "patch.simplenet.every_target_success")) == 10
    assert {a.path for a in client.list_artifacts(run_.info.run_id, "reports/patch")} == {
        "reports/patch/report.md",
        "reports/patch/report.json",  # its claims, typed
        "reports/patch/success.csv",
    }


def test_gan_artefacts_scores_and_checkpoints(attacked_project):
    data = attacked_project / "data"
    scores = json.loads((data / "08_reporting" / "gan" / "scores.json").read_text())
    assert 1 <= scores["inception_score"] <= 10 and 1 <= scores["real_test_inception_score"] <= 10
    assert scores["frechet_distance"] > scores["real_validation_frechet_distance"] >= 0
    assert sum(scores["generated_class_shares"]) == 300
    history = pd.read_csv(data / "07_model_output" / "gan" / "training_history.csv")
    assert list(history["epoch"]) == [1, 2]
    assert {"loss_d", "loss_g", "d_real", "d_fake", "inception_score", "frechet_distance"} <= set(history.columns)
    state = load_checkpoint(data / "06_models" / "checkpoints" / "dcgan.safetensors")  # the whole training state, after the last epoch
    assert state.finished and [row["epoch"] for row in state.history] == [1, 2]
    assert {"generator", "discriminator", "opt_g", "opt_d", "progress"} <= set(state.task)
    assert any((data / "06_models" / "dcgan_generator.safetensors").iterdir())
    for plot in ("progress", "training", "samples", "interpolation", "arithmetic"):
        assert (data / "08_reporting" / "gan" / f"{plot}.png").is_file(), plot


def test_mlflow_holds_attack_curves_and_gan_histories(attacked_project):
    client = MlflowClient(tracking_uri=f"sqlite:///{attacked_project / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("practical_dl")
    runs = client.search_runs([experiment.experiment_id])
    adversarial = next(r for r in runs if "adversarial.simplenet.fgsm_accuracy" in r.data.metrics)
    curve = client.get_metric_history(adversarial.info.run_id, "adversarial.simplenet.pgd_accuracy")
    assert sorted(m.step for m in curve) == [0, 5, 10, 15, 20, 25, 30]
    gan = next(r for r in runs if "gan.inception_score" in r.data.metrics)
    assert [m.step for m in client.get_metric_history(gan.info.run_id, "gan.frechet_distance")] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(gan.info.run_id, "plots/gan/progress")}
    assert artifacts == {"plots/gan/progress/epoch_001.png", "plots/gan/progress/epoch_002.png"}


def test_bad_attack_parameter_fails_before_anything_runs(attacked_project):
    with pytest.raises(ValueError, match=r"adversarial\.epsilons\[1\]"):
        run(attacked_project, pipeline_names=["adversarial"], runtime_params={"adversarial": {"epsilons": [0, 1.5]}})
