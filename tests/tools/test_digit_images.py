"""digit_images: photos and typed digits as files, and the samples shipped in data/01_raw/my_digits."""

import io

import numpy as np
import pytest
from PIL import Image

from practical_dl.serving.preprocess import prepare_digit
from practical_dl.tools.digit_images import (
    CANVAS_FACTOR_RANGE,
    DIGIT_SIDE_RANGE,
    MIN_CONTRAST,
    SAMPLES,
    available_fonts,
    font_digit,
    load_mnist_test,
    luminance,
    matplotlib_font_dir,
    photo_of_digit,
    photo_style,
    project_root,
    write_sample_digits,
)

SHIPPED = project_root() / "data" / "01_raw" / "my_digits"


@pytest.fixture(scope="module")
def mnist_test():
    images, labels = load_mnist_test()
    return images[:10], labels[:10]


def decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_photo_of_digit_is_a_png_or_jpeg_of_the_documented_size(mnist_test):
    images, _ = mnist_test
    formats, polarities = set(), set()
    for seed in range(16):
        style = photo_style(np.random.default_rng(seed))  # the same draws as photo_of_digit's
        data, suffix = photo_of_digit(images[seed % 10], np.random.default_rng(seed))
        picture = decode(data)
        assert (picture.format, suffix) in {("PNG", ".png"), ("JPEG", ".jpg")}
        assert picture.mode == "RGB" and picture.size == style.canvas_size
        assert DIGIT_SIDE_RANGE[0] <= style.digit_side <= DIGIT_SIDE_RANGE[1]
        for side in style.canvas_size:
            assert CANVAS_FACTOR_RANGE[0] * style.digit_side - 1 <= side <= CANVAS_FACTOR_RANGE[1] * style.digit_side + 1
        assert abs(luminance(style.paper) - luminance(style.ink)) >= MIN_CONTRAST
        formats.add(picture.format)
        polarities.add(style.light_on_dark)
    assert formats == {"PNG", "JPEG"}
    assert polarities == {True, False}  # light ink on dark paper and dark ink on light paper both occur


def test_photo_of_digit_is_seeded(mnist_test):
    images, _ = mnist_test
    first = photo_of_digit(images[0], np.random.default_rng(7))
    assert photo_of_digit(images[0], np.random.default_rng(7)) == first
    assert photo_of_digit(images[0], np.random.default_rng(8)) != first


def test_photo_of_digit_options_fix_the_style(mnist_test):
    images, _ = mnist_test
    data, suffix = photo_of_digit(
        images[0],
        np.random.default_rng(0),
        digit_side=40,
        canvas_size=(300, 200),
        position=(250, 10),
        light_on_dark=True,
        fmt="PNG",
        noise=0.0,
    )
    picture = np.asarray(decode(data).convert("L"))
    assert suffix == ".png" and picture.shape == (200, 300)
    assert picture[:, :240].max() < 128  # dark paper; the light ink only in the digit's box at the right
    assert picture[10:50, 250:290].max() > 200


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prepare_digit_of_a_photo_gives_back_the_mnist_digit(mnist_test, seed):
    """The MNIST recipe undoes what a photo does (size, position, polarity, colour, noise)."""
    images, _ = mnist_test
    for index in (0, 1, 2, 3):
        data, _ = photo_of_digit(
            images[index], np.random.default_rng([seed, index]), digit_side=int(np.random.default_rng(seed).integers(32, 200))
        )
        prepared = prepare_digit(data).image.astype(float)
        correlation = np.corrcoef(prepared.ravel(), images[index].astype(float).ravel())[0, 1]
        assert correlation > 0.8, (seed, index, correlation)


def test_font_digit_decodes_and_shows_the_digit():
    font = matplotlib_font_dir() / "DejaVuSans.ttf"
    data = font_digit(7, font, np.random.default_rng(0), 64)
    picture = decode(data)
    assert picture.format == "PNG"
    assert 64 * 0.4 < picture.height < 64 * 3
    assert font_digit(7, font, np.random.default_rng(0), 64) == data
    seven, one = (prepare_digit(font_digit(d, font, np.random.default_rng(0), 64, rotation=0.0)).image for d in (7, 1))
    assert np.count_nonzero(seven > 127) > 20 and not np.array_equal(seven, one)
    with pytest.raises(ValueError, match="digit"):
        font_digit(10, font, np.random.default_rng(0))


def test_available_fonts_have_digits_and_no_symbol_fonts():
    fonts = available_fonts()
    names = {f.name for f in fonts}
    assert {"DejaVuSans.ttf", "DejaVuSerif.ttf", "cmr10.ttf", "STIXGeneral.ttf"} <= names
    assert not names & {"cmex10.ttf", "cmsy10.ttf", "LastResortHE-Regular.ttf", "STIXSizOneSymReg.ttf", "STIXNonUni.ttf"}
    assert len(names) == len(fonts)  # each file name once


def test_write_sample_digits_reproduces_the_shipped_samples(tmp_path):
    written = write_sample_digits(tmp_path)
    assert [p.name for p in written] == [name for name, _, _ in SAMPLES]
    assert 8 <= len(written) <= 10
    shipped = sorted(p.name for p in SHIPPED.iterdir() if not p.name.startswith("."))
    assert sorted(p.name for p in written) == shipped
    for path in written:
        # the same pixels (another Pillow or zlib may encode them in other bytes, or round a JPEG differently)
        made = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
        ship = np.asarray(Image.open(SHIPPED / path.name).convert("RGB"), dtype=np.int16)
        assert made.shape == ship.shape and np.abs(made - ship).mean() < 1.0, (
            f"{path.name} differs from the shipped file: rerun `python -m practical_dl.tools.digit_images samples`"
        )
        assert 500 < path.stat().st_size < 100_000
    assert sum(p.stat().st_size for p in written) < 400_000
