import pandas as pd
import pytest
from PIL import Image

from practical_dl.tools.readme_pictures import PICTURES, write_readme_pictures


def _reporting(folder, skip=()):
    pd.DataFrame(
        {
            "model": ["FC64", "SimpLeNet"],
            "test error (%)": [2.13, 0.69],
            "lecture error (%)": [2.85, 0.79],
            "parameters": [50890, 233196],
            "training time (s)": [13.5, 176.0],
        }
    ).to_csv(folder / "results.csv", index=False)
    for source, _ in PICTURES.values():
        if source not in skip:
            (folder / source).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (1400, 500), "white").save(folder / source)
    return folder


def test_every_picture_is_written_no_wider_than_asked(tmp_path):
    written = write_readme_pictures(_reporting(tmp_path), tmp_path / "docs", width=500)
    assert sorted(p.name for p in written) == sorted(["results_table.png", *PICTURES])
    for path in written:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width <= 500
    with Image.open(tmp_path / "docs" / "gan_samples.png") as image:
        assert image.size == (500, round(500 * 500 / 1400))  # aspect kept


def test_a_missing_output_is_named_with_the_command_that_makes_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"gan/samples\.png \(made by `kedro run --pipelines gan`\)"):
        write_readme_pictures(_reporting(tmp_path, skip={"gan/samples.png"}), tmp_path / "docs")
    assert not (tmp_path / "docs").exists()  # nothing half-written


def test_the_claims_pictures_are_drawn_where_their_pipeline_has_run(tmp_path, caplog):
    from practical_dl.tools.readme_pictures import CLAIMS_PICTURES, CLAIMS_WIDTH

    reporting = _reporting(tmp_path)
    source = CLAIMS_PICTURES["batch_lr.png"][0]
    (reporting / source).parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (2000, 600), "white").save(reporting / source)
    with caplog.at_level("INFO"):
        written = write_readme_pictures(reporting, tmp_path / "docs", width=500)
    assert "batch_lr.png" in [p.name for p in written] and "depth_bn.png" not in [p.name for p in written]
    with Image.open(tmp_path / "docs" / "batch_lr.png") as image:
        assert image.width == CLAIMS_WIDTH  # the wide figures keep their labels readable
    assert "kedro run --pipelines depth_bn" in caplog.text  # what was not redrawn, and how to make it


def test_the_red_captions_of_a_grey_picture_stay_red(tmp_path):
    """The adversarial examples: grey digits, a few captions in red where the model is wrong."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    from practical_dl.project.figures import adversarial_examples_figure, close
    from practical_dl.tools.readme_pictures import scaled_png

    rng = np.random.default_rng(0)
    images, labels = (rng.random((10, 1, 28, 28)) > 0.7).astype(np.uint8) * 255, np.arange(10)
    rows = [(f"attack {k}", images, np.where(rng.random(10) < 0.4, (labels + 1) % 10, labels)) for k in range(7)]
    figure = adversarial_examples_figure(rows, labels, "red: wrong")
    figure.savefig(tmp_path / "source.png", dpi=100)
    close(figure)
    scaled_png(tmp_path / "source.png", tmp_path / "scaled.png", width=760)
    with Image.open(tmp_path / "scaled.png") as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    assert ((rgb[..., 0] - rgb[..., 1]) > 60).sum() > 50  # red caption pixels survive the palette
