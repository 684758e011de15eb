"""The ``adversarial`` and ``gan`` pipelines end to end on a slice of MNIST (``--env test``),
after the default pipeline has trained the classifiers they use (the session's
``explored_project``, which the notebooks' test reads too)."""

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from practical_dl.checkpoint import load_checkpoint
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
