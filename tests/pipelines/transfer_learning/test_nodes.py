"""The transfer_learning pipeline's nodes: the tasks, their budgets and a target task from folders."""

import numpy as np
import pytest

from practical_dl.core.params import ParameterError
from practical_dl.core.splits import per_class_subset
from practical_dl.pipelines.transfer_learning.nodes import TransferLearningParameters, make_transfer_tasks
from tests.helpers.data import tiny_split

RAW = {
    "source_classes": [0, 1, 2, 3, 4],
    "target_classes": [5, 6, 7, 8, 9],
    "budgets": [2],
    "strategies": ["scratch"],
    "backbone": {"name": "project_vgg"},
}


def transfer(**changes) -> TransferLearningParameters:
    return TransferLearningParameters.from_dict({**RAW, **changes}, "transfer_learning")


def test_tasks_remap_labels_and_budgets_are_per_class():
    train, test = tiny_split(100), tiny_split(50, seed=1)
    source, target, target_test = make_transfer_tasks(train, test, transfer())
    assert set(source["labels"]) == set(range(5)) and set(target["labels"]) == set(range(5))
    np.testing.assert_array_equal(target["images"], train["images"][train["labels"] >= 5])
    small = per_class_subset(target, 2, seed=0)
    assert np.bincount(small["labels"]).tolist() == [2] * 5
    with pytest.raises(ValueError, match="only 10"):
        per_class_subset(target, 11, seed=0)
    with pytest.raises(ParameterError, match=r"invalid parameter transfer_learning: source_classes and target_classes overlap: \[4\]"):
        transfer(target_classes=[4, 5])


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source_classes": [0]}, r"transfer_learning\.source_classes: must have at least 2 item\(s\)"),
        ({"target_classes": []}, r"transfer_learning\.target_classes: must have at least 2 item\(s\)"),
        ({"budgets": [10, 0]}, r"transfer_learning\.budgets\[1\]: must be a positive integer \(images per class\) or 'all', got 0"),
        ({"budgets": ["most"]}, r"transfer_learning\.budgets\[0\]: must be a positive integer \(images per class\) or 'all', got 'most'"),
        ({"budgets": [True]}, r"transfer_learning\.budgets\[0\]: must be a positive integer \(images per class\) or 'all', got True"),
        ({"strategies": ["finetune"]}, r"transfer_learning\.strategies\[0\]: must be one of 'fine_tune', 'feature_extract' or 'scratch'"),
        ({"target": {"channels": 2}}, r"transfer_learning\.target\.channels: must be one of 1 or 3, got 2"),
        ({"backbone": {"name": "vgg"}}, r"transfer_learning\.backbone\.name: must be one of 'project_vgg', 'vgg16' or 'resnet18'"),
        ({"training": {"steps": 0}}, r"transfer_learning\.training\.steps: must be > 0, got 0"),
        ({"pretraining": {"steps": 10}}, r"unknown parameter transfer_learning\.pretraining\.steps"),
        ({"strategy_training": {"fine_tune": {"lr": -1}}}, r"transfer_learning\.strategy_training\.fine_tune\.lr: must be > 0, got -1"),
        ({"strategy_training": {"finetune": {"lr": 0.1}}}, r"transfer_learning\.strategy_training\.finetune: must be one of"),
        ({"seeds": [4, 3]}, r"transfer_learning\.seeds: must be increasing"),
        ({"seeds": []}, r"transfer_learning\.seeds: must be a non-empty list"),
        ({"seeds": [-1]}, r"transfer_learning\.seeds\[0\]: must be >= 0, got -1"),
        ({"repeat_budgets": [50]}, r"transfer_learning: repeat_budgets \[50\] are not among the budgets \[2\]"),
    ],
)
def test_parameters_are_checked_naming_the_parameter(changes, message):
    with pytest.raises(ParameterError, match=message):
        transfer(**changes)


def test_run_overrides_merge_training_then_the_strategy():
    params = transfer(training={"steps": 240, "batch_size": 50}, strategy_training={"fine_tune": {"lr": 0.01, "backbone_lr_factor": 0.1}})
    assert params.training.to_dict() == {"steps": 240, "batch_size": 50}
    assert params.strategy_training["fine_tune"].to_dict() == {"lr": 0.01, "backbone_lr_factor": 0.1}


def test_target_task_from_a_folder_of_class_named_subfolders(tmp_path):
    from kedro_datasets.partitions import PartitionedDataset
    from PIL import Image

    from practical_dl.pipelines.transfer_learning import pipeline as transfer_pipeline
    from practical_dl.pipelines.transfer_learning.nodes import images_from_folders

    rng = np.random.default_rng(0)
    for cls in ("daisy", "rose"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)).save(tmp_path / cls / f"{i}.png")
    partitions = PartitionedDataset(path=str(tmp_path), dataset="pillow.ImageDataset", filename_suffix=".png").load()
    split = images_from_folders(partitions, transfer(target={"channels": 3, "image_size": 16}))
    assert split["images"].shape == (6, 3, 16, 16) and split["images"].dtype == np.uint8
    assert split["labels"].tolist() == [0, 0, 0, 1, 1, 1]  # classes in sorted order
    grey = images_from_folders(partitions, transfer(target={"channels": 1, "image_size": 8}))
    assert grey["images"].shape == (6, 1, 8, 8)
    with pytest.raises(ValueError, match="class-named subfolders"):
        images_from_folders({"a.png": lambda: None, "b.png": lambda: None}, transfer())

    params = {**RAW, "target": {"source": "folders"}, "strategies": ["scratch"], "budgets": ["all"]}
    inputs = transfer_pipeline.create_pipeline(parameters={"transfer_learning": params}).inputs()
    assert {"transfer_target_train_images", "transfer_target_test_images"} <= inputs
    assert "test_split" not in inputs


def test_the_pipeline_is_built_from_a_validated_block():
    from practical_dl.pipelines.transfer_learning import pipeline as transfer_pipeline

    params = {**RAW, "strategies": ["scratch", "fine_tune"], "budgets": [10, "all"]}
    names = {n.name for n in transfer_pipeline.create_pipeline(parameters={"transfer_learning": params}).nodes}
    assert {"transfer.scratch.n10.s0.train_transfer_run", "transfer.fine_tune.all.s0.train_transfer_run"} <= names
    bad = {**params, "budgets": [10, -1]}
    with pytest.raises(ParameterError, match=r"invalid parameter transfer_learning\.budgets\[1\]: must be a positive integer"):
        transfer_pipeline.create_pipeline(parameters={"transfer_learning": bad})


def test_repeated_budgets_run_once_per_seed_and_the_report_reads_every_run():
    from practical_dl.pipelines.transfer_learning import pipeline as transfer_pipeline

    params = {**RAW, "strategies": ["scratch", "fine_tune"], "budgets": [10, 50, "all"], "seeds": [3, 4, 5], "repeat_budgets": [10, 50]}
    assert transfer(**{k: v for k, v in params.items() if k in ("budgets", "seeds", "repeat_budgets")}).seeds_of("all") == [3]
    pipeline = transfer_pipeline.create_pipeline(parameters={"transfer_learning": params})
    runs = {n.namespace: n for n in pipeline.nodes if n.name.endswith(".train_transfer_run")}
    assert set(runs) == {f"transfer.{s}.n{b}.s{seed}" for s in ("scratch", "fine_tune") for b in (10, 50) for seed in (3, 4, 5)} | {
        "transfer.scratch.all.s3",
        "transfer.fine_tune.all.s3",
    }
    assert runs["transfer.fine_tune.n50.s4"].func.keywords == {"strategy": "fine_tune", "budget": 50, "seed": 4}
    (report,) = [n for n in pipeline.nodes if n.name == "report_transfer"]
    assert set(report.inputs) == {f"{namespace}.result" for namespace in runs}
    assert {"transfer_results", "transfer_summary", "transfer_report", "transfer_learning_plot", "transfer_metrics"} == set(report.outputs)


def _run(tmp_path, source_weights, strategy="fine_tune"):
    from practical_dl.pipelines.transfer_learning.nodes import train_transfer_run
    from practical_dl.project.parameters import TrainingSettings

    params = transfer(backbone={"name": "project_vgg", "widths": [4, 8, 8]}, training={"steps": 4, "batch_size": 5})
    defaults = TrainingSettings(device="cpu", precision="fp32", progress=False, checkpoint_dir=str(tmp_path / "checkpoints"))
    target, target_test = tiny_split(50, classes=5, seed=2), tiny_split(20, classes=5, seed=3)
    return train_transfer_run(target, target_test, source_weights, params, defaults, strategy=strategy, budget=2, seed=0)


def _source_weights(seed: int):
    import torch

    from practical_dl.methods.transfer import ProjectVGG

    torch.manual_seed(seed)
    state = ProjectVGG(num_classes=5, in_channels=1, widths=(4, 8, 8), image_size=28).state_dict()
    return {key: tensor.numpy() for key, tensor in state.items()}  # as the catalog gives them


def test_a_target_run_is_checkpointed_and_a_change_of_source_weights_starts_it_afresh(tmp_path, caplog, store):
    import logging

    first = _run(tmp_path, _source_weights(0))
    assert (tmp_path / "checkpoints" / "transfer_learning" / "fine_tune" / "2" / "s0.safetensors").is_file()
    assert (first.labelled_images, first.per_class, first.epochs, first.seed) == (10, 2, 2, 0)
    with caplog.at_level(logging.INFO):
        again = _run(tmp_path, _source_weights(0))
    assert "fine_tune/2/s0: already trained (2 of 2 epochs in its checkpoint): not trained again" in caplog.text
    assert again.model_copy(update={"mlflow_run_id": None}) == first.model_copy(update={"mlflow_run_id": None})
    assert store.get_run(again.mlflow_run_id).data.params["images"] == "10"
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _run(tmp_path, _source_weights(1))
    assert "was made with other settings" in caplog.text
