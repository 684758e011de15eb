"""prepare_digit: a person's own digit image -> a 28x28 MNIST-like digit (images drawn here)."""

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw

from practical_dl.serving.preprocess import STEP_NAMES, ImageRejected, PreparedDigit, naive_resize, prepare_digit
from practical_dl.tools.preprocess import preprocessing_steps_figure

SEVEN = [(0.15, 0.1), (0.85, 0.1), (0.75, 0.3), (0.45, 0.9)]  # a hand-drawn-looking 7, in units of its box


def draw(size=(400, 300), box=(100, 50, 250, 250), ink=(0, 0, 0), paper=(255, 255, 255), width=12, points=SEVEN, mode="RGB") -> Image.Image:
    """A polyline (default: a 7) inside ``box`` = (left, top, right, bottom) of a ``size`` canvas."""
    image = Image.new(mode, size, paper)
    left, top, right, bottom = box
    xy = [(left + u * (right - left), top + v * (bottom - top)) for u, v in points]
    ImageDraw.Draw(image).line(xy, fill=ink, width=width, joint="curve")
    return image


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def ink_box(image: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) rows/columns holding ink, inclusive."""
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    x = image.astype(float)
    return (x.sum(axis=1) @ np.arange(x.shape[0])) / x.sum(), (x.sum(axis=0) @ np.arange(x.shape[1])) / x.sum()


def diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(int) - b.astype(int))


@pytest.fixture(scope="module")
def reference() -> PreparedDigit:
    """Black 7 on white paper, near the middle."""
    return prepare_digit(draw())


def test_output_is_an_mnist_like_digit(reference):
    image = reference.image
    assert image.shape == (28, 28) and image.dtype == np.uint8
    assert image.max() == 255
    assert (image == 0).mean() > 0.6  # a black background
    top, bottom, left, right = ink_box(image)
    assert max(bottom - top + 1, right - left + 1) in (19, 20, 21)  # the long side fitted to 20 px (+ anti-aliasing)
    assert bottom - top + 1 <= 21 and right - left + 1 <= 21
    cy, cx = centre_of_mass(image)
    assert 13.5 <= cy <= 14.5 and 13.5 <= cx <= 14.5
    assert reference.original_size == (400, 300) and reference.steps == {}


def test_a_symmetric_digit_fills_the_central_20x20_box():
    ring = Image.new("L", (300, 300), 255)
    ImageDraw.Draw(ring).ellipse((60, 40, 240, 260), outline=0, width=15)
    image = prepare_digit(ring).image
    top, bottom, left, right = ink_box(image > 20)
    assert (top, bottom) == (4, 23)  # 20 rows, centred
    assert 5 <= left and right <= 22  # narrower than tall: the aspect ratio is kept


def test_polarity_is_detected_and_both_give_the_same_digit(reference):
    light_on_dark = prepare_digit(draw(ink=(255, 255, 255), paper=(0, 0, 0)))
    assert reference.inverted and not light_on_dark.inverted
    assert diff(reference.image, light_on_dark.image).max() <= 2


@pytest.mark.parametrize(
    "ink, paper",
    [((25, 35, 140), (246, 242, 228)), ((190, 30, 30), (250, 230, 90)), ((235, 235, 220), (40, 80, 50))],
    ids=["blue on off-white", "red on yellow", "chalk on a green board"],
)
def test_coloured_ink_on_coloured_paper(reference, ink, paper):
    prepared = prepare_digit(draw(ink=ink, paper=paper))
    assert prepared.inverted == (sum(paper) > sum(ink))
    assert diff(reference.image, prepared.image).mean() < 3


def test_dark_ink_on_dimly_lit_paper_is_inverted(reference):
    prepared = prepare_digit(draw(ink=(15, 15, 20), paper=(100, 95, 90)))  # the paper is darker than 0.5
    assert prepared.inverted and diff(reference.image, prepared.image).mean() < 3


def test_grey_paper_noise_is_not_ink(reference):
    rng = np.random.default_rng(0)
    grey = np.asarray(draw(ink=(60, 60, 60), paper=(170, 170, 170)).convert("L"), dtype=float)
    noisy = np.clip(grey + rng.normal(0, 8, grey.shape), 0, 255).astype(np.uint8)
    assert diff(reference.image, prepare_digit(noisy).image).mean() < 6


def test_aspect_ratio_is_kept():
    tall = prepare_digit(draw(points=[(0.5, 0.0), (0.5, 1.0)], box=(150, 40, 150, 240), width=10)).image
    top, bottom, left, right = ink_box(tall > 20)
    assert bottom - top + 1 >= 19 and right - left + 1 <= 3  # 200x10 -> 20x1
    wide = prepare_digit(draw(points=[(0.0, 0.5), (1.0, 0.5)], box=(50, 150, 350, 150), width=60)).image
    top, bottom, left, right = ink_box(wide > 20)
    assert right - left + 1 >= 19 and 3 <= bottom - top + 1 <= 6  # 300x60 -> 20x4


def test_position_and_size_on_the_page_do_not_matter(reference):
    corner = prepare_digit(draw(size=(1000, 800), box=(760, 560, 910, 760))).image  # off-centre, large margins
    assert diff(reference.image, corner).max() <= 2
    larger = prepare_digit(draw(size=(900, 700), box=(40, 300, 340, 700), width=24)).image  # twice as large, at the edge
    assert diff(reference.image, larger).mean() < 3


@pytest.mark.parametrize("fmt, options", [("PNG", {}), ("JPEG", {"quality": 85}), ("BMP", {}), ("GIF", {}), ("WEBP", {"quality": 85})])
def test_encoded_files_decode(reference, fmt, options):
    prepared = prepare_digit(encode(draw(ink=(25, 35, 140), paper=(246, 242, 228)), fmt, **options))
    assert prepared.inverted and prepared.image.shape == (28, 28)
    assert diff(reference.image, prepared.image).mean() < 4


def test_transparent_background_is_white_paper(reference):
    image = draw(ink=(0, 0, 0, 255), paper=(0, 0, 0, 0), mode="RGBA")  # black ink on transparent black
    for source in (encode(image, "PNG"), image, np.asarray(image)):
        prepared = prepare_digit(source)
        assert prepared.inverted and diff(reference.image, prepared.image).max() <= 2
    palette = encode(image.convert("P"), "GIF", transparency=0)
    assert diff(reference.image, prepare_digit(palette).image).mean() < 3


def test_first_frame_of_an_animation_and_exif_orientation(reference):
    frames = [draw(), Image.new("RGB", (400, 300), "white")]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert diff(reference.image, prepare_digit(gif).image).mean() < 3
    turned = draw().rotate(90, expand=True)  # stored turned; orientation 6 says "turn 90 degrees clockwise to show"
    exif = Image.Exif()
    exif[0x0112] = 6
    prepared = prepare_digit(encode(turned, "JPEG", quality=95, exif=exif))
    assert prepared.original_size == (400, 300)
    assert diff(reference.image, prepared.image).mean() < 4


def test_numpy_arrays(reference):
    grey = np.asarray(draw().convert("L"))
    assert diff(reference.image, prepare_digit(grey).image).max() <= 2
    assert diff(reference.image, prepare_digit(grey / 255.0).image).max() <= 2
    colour = np.asarray(draw(ink=(25, 35, 140), paper=(246, 242, 228)))
    prepared = prepare_digit(colour)
    assert prepared.original_size == (400, 300) and diff(reference.image, prepared.image).mean() < 3


def test_keep_steps_and_figure():
    prepared = prepare_digit(draw(size=(800, 500), ink=(25, 35, 140), paper=(246, 242, 228)), keep_steps=True)
    assert tuple(prepared.steps) == STEP_NAMES
    assert all(step.dtype == np.uint8 for step in prepared.steps.values())
    assert prepared.steps["as given"].shape == (160, 256, 3)
    assert prepared.steps["fitted into 20x20"].shape[0] == 20
    np.testing.assert_array_equal(prepared.steps["centred in 28x28"], prepared.image)
    fig = preprocessing_steps_figure(prepared, "a 7")
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == list(STEP_NAMES)
    with pytest.raises(ValueError, match="keep_steps"):
        preprocessing_steps_figure(prepare_digit(draw()), "no steps")


def test_naive_resize_is_the_whole_page_squeezed(reference):
    page = draw(size=(1000, 800), box=(760, 560, 910, 760))
    naive = naive_resize(page)
    assert naive.shape == (28, 28) and naive.dtype == np.uint8
    top, bottom, left, right = ink_box(naive > 20)
    assert top > 14 and left > 14  # the digit stays small, in the corner
    prepared = prepare_digit(page).image
    assert (naive > 20).sum() < (prepared > 20).sum() / 4 and diff(naive, prepared).mean() > 10


def huge_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A real grey 8-bit PNG of width x height white pixels, written cheaply: the rows are
    compressed in blocks of 100 with a full flush after each, which resets the compressor,
    so every block compresses to the same bytes and one is repeated (about 440 kB)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    block = (b"\x00" + b"\xff" * width) * 100
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)  # raw deflate; zlib header and checksum added here
    first = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH) == first
    checksum = 1
    for _ in range(height // 100):
        checksum = zlib.adler32(block, checksum)
    stream = b"\x78\xda" + first * (height // 100) + deflate.flush() + struct.pack(">I", checksum)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", stream) + chunk(b"IEND", b"")


def test_a_huge_png_is_rejected_before_decoding():
    data = huge_png()
    assert len(data) < 1_000_000
    start = time.perf_counter()
    with pytest.raises(ImageRejected) as rejected:
        prepare_digit(data)
    assert time.perf_counter() - start < 0.5
    assert rejected.value.status == "too_large" and "400,000,000" in rejected.value.reason
    assert str(rejected.value) == rejected.value.reason and isinstance(rejected.value, ValueError)


def test_our_own_pixel_limit():
    with pytest.raises(ImageRejected, match=r"400x300 pixels \(120,000\) is more than the limit of 100,000") as rejected:
        prepare_digit(encode(draw(), "PNG"), max_pixels=100_000)
    assert rejected.value.status == "too_large"
    for source in (draw(), np.asarray(draw())):
        with pytest.raises(ImageRejected, match="400x300"):
            naive_resize(source, max_pixels=100_000)


def white_page_jpeg() -> bytes:
    rng = np.random.default_rng(1)
    page = np.clip(250 + rng.normal(0, 3, (300, 400)), 0, 255).astype(np.uint8)
    return encode(Image.fromarray(page), "JPEG", quality=85)


@pytest.mark.parametrize(
    "make, status",
    [
        (lambda: b"", "empty"),
        (lambda: b"Dear diary, today I wrote a 7.\n" * 20, "unreadable"),
        (lambda: (lambda data: data[: len(data) // 2])(encode(draw(), "JPEG", quality=85)), "unreadable"),
        (lambda: encode(Image.new("RGB", (400, 300), "white"), "PNG"), "no_ink"),
        (lambda: encode(Image.new("RGB", (400, 300), (120, 140, 200)), "PNG"), "no_ink"),
        (white_page_jpeg, "no_ink"),
        (lambda: np.zeros((0, 5), np.uint8), "empty"),
        (lambda: np.zeros((4, 4), np.int64), "unreadable"),
    ],
    ids=["0 bytes", "text", "truncated JPEG", "white page", "blue page", "noisy white JPEG", "empty array", "int64 array"],
)
def test_rejections(make, status):
    with pytest.raises(ImageRejected) as rejected:
        prepare_digit(make())
    assert rejected.value.status == status
    assert "Image" not in rejected.value.reason and "0x" not in rejected.value.reason  # a sentence, no Pillow object


@pytest.mark.parametrize("fmt", ["PPM", "TGA", "ICO", "PCX"])
def test_formats_outside_the_accepted_ones_are_not_decoded(fmt):
    with pytest.raises(ImageRejected) as rejected:
        prepare_digit(encode(draw(size=(64, 64), box=(10, 10, 50, 50), width=5), fmt))
    assert rejected.value.status == "unreadable" and "accepted formats" in rejected.value.reason


# --------------------------------------------------------------------------- the 8-bit path: the same numbers as before


def test_every_image_is_prepared_as_before_the_8_bit_path():
    """520 images (the page's canvases, photos and scans, large canvases, arrays, the samples) give the
    28x28 digit and polarity that commit 7a62f51's preparation gave them, to the bit."""
    from tests.serving.many_digits import FIXTURE, fingerprint, many_digits

    before = np.load(FIXTURE)
    made = list(many_digits())
    assert [fingerprint(source) for _, source in made] == list(before["fingerprints"]), "the images differ from the fixture's"
    for k, (kind, source) in enumerate(made):
        prepared = prepare_digit(source)
        assert before["statuses"][k] == "ok", (k, kind)
        assert prepared.inverted == before["inverted"][k], (k, kind)
        np.testing.assert_array_equal(prepared.image, before["images"][k], err_msg=f"image {k} ({kind})")


def test_the_8_bit_path_is_the_float_recipe_to_the_bit():
    """On 8-bit images the ink comes from histograms and a table of 256 levels; the float recipe gives the same numbers."""
    from practical_dl.serving.preprocess import LEVELS, _ink_bright_on_black, _ink_table, _load
    from tests.serving.many_digits import many_digits

    checked = 0
    for kind, source in many_digits(count=40):
        grey, _, _ = _load(source, 40_000_000, keep_steps=False)
        assert grey.dtype == np.uint8, kind
        table, inverted = _ink_table(grey)
        ink, inverted_float = _ink_bright_on_black(LEVELS[grey])
        assert inverted == inverted_float, kind
        np.testing.assert_array_equal(table[grey], ink, err_msg=kind)
        checked += 1
    rng = np.random.default_rng(5)
    for _ in range(40):  # noisy pages with a stroke: medians and percentiles over many distinct levels
        page = np.clip(rng.normal(rng.uniform(80, 230), rng.uniform(1, 20), (90, 120)), 0, 255).astype(np.uint8)
        page[30:60, 20:100] = rng.integers(0, 40)
        table, inverted = _ink_table(page)
        ink, inverted_float = _ink_bright_on_black(LEVELS[page])
        assert inverted == inverted_float
        np.testing.assert_array_equal(table[page], ink)
        checked += 1
    assert checked == 40 * 3 + 14 + 3 + 10 + 40


def test_histogram_medians_and_percentiles_are_numpys():
    from practical_dl.serving.preprocess import LEVELS, _median, _percentiles

    rng = np.random.default_rng(0)
    for size in (1, 2, 3, 4, 7, 100, 1001, 5000):
        for _ in range(20):
            levels = rng.integers(0, 256, size) if size < 100 else rng.binomial(255, rng.uniform(0.05, 0.95), size)
            counts = np.bincount(levels, minlength=256)
            values = LEVELS[levels]
            assert _median(LEVELS, counts) == np.median(values)
            assert _median(1.0 - LEVELS, counts) == np.median(1.0 - values)
            q = [0.05, 99.95, 50, 12.5]
            np.testing.assert_array_equal(_percentiles(LEVELS, counts, q), np.percentile(values, q))


def test_8_bit_arrays_and_steps_take_the_8_bit_path(reference):
    grey = np.asarray(draw().convert("L"))
    prepared = prepare_digit(grey, keep_steps=True)
    np.testing.assert_array_equal(prepared.image, reference.image)
    np.testing.assert_array_equal(prepared.steps["grey"], grey)  # the levels are the grey step, unchanged
    as_floats = prepare_digit(grey.astype(np.float32) / 255.0, keep_steps=True)  # the float recipe
    for name in STEP_NAMES[1:]:
        np.testing.assert_array_equal(prepared.steps[name], as_floats.steps[name], err_msg=name)
    np.testing.assert_array_equal(naive_resize(grey), naive_resize(grey.astype(np.float32) / 255.0))
