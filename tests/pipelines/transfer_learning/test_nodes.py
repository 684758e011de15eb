"""The transfer_learning pipeline's nodes: the tasks, their budgets and a target task from folders."""

import numpy as np
import pytest

from practical_dl.core.splits import per_class_subset
from practical_dl.pipelines.transfer_learning.nodes import check_transfer_parameters, make_transfer_tasks
from tests.conftest import tiny_split


def test_tasks_remap_labels_and_budgets_are_per_class():
    train, test = tiny_split(100), tiny_split(50, seed=1)
    params = {"source_classes": [0, 1, 2, 3, 4], "target_classes": [5, 6, 7, 8, 9], "budgets": [2], "strategies": ["scratch"]}
    source, target, target_test = make_transfer_tasks(train, test, params)
    assert set(source["labels"]) == set(range(5)) and set(target["labels"]) == set(range(5))
    np.testing.assert_array_equal(target["images"], train["images"][train["labels"] >= 5])
    small = per_class_subset(target, 2, seed=0)
    assert np.bincount(small["labels"]).tolist() == [2] * 5
    with pytest.raises(ValueError, match="only 10"):
        per_class_subset(target, 11, seed=0)
    with pytest.raises(ValueError, match="overlap"):
        check_transfer_parameters({**params, "target_classes": [4, 5]})


def test_target_task_from_a_folder_of_class_named_subfolders(tmp_path, monkeypatch):
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
    split = images_from_folders(partitions, {"target": {"channels": 3, "image_size": 16}})
    assert split["images"].shape == (6, 3, 16, 16) and split["images"].dtype == np.uint8
    assert split["labels"].tolist() == [0, 0, 0, 1, 1, 1]  # classes in sorted order
    grey = images_from_folders(partitions, {"target": {"channels": 1, "image_size": 8}})
    assert grey["images"].shape == (6, 1, 8, 8)
    with pytest.raises(ValueError, match="class-named subfolders"):
        images_from_folders({"a.png": lambda: None, "b.png": lambda: None}, {})

    params = {"target": {"source": "folders"}, "strategies": ["scratch"], "budgets": ["all"]}
    monkeypatch.setattr(transfer_pipeline, "load_project_parameters", lambda: {"transfer_learning": params})
    inputs = transfer_pipeline.create_pipeline().inputs()
    assert {"transfer_target_train_images", "transfer_target_test_images"} <= inputs
    assert "test_split" not in inputs
