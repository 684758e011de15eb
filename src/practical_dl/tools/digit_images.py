"""Digit image FILES of the kind a person might have: photos and scans of handwritten digits, and
digits typed in a font. Plain Python (numpy and Pillow), seeded: the same generator state gives the
same bytes.

* :func:`photo_of_digit`: an MNIST 28x28 digit as a "photographed or scanned" image (smoothly
  upscaled, placed off-centre on a larger sheet of paper, either polarity, coloured ink and paper,
  mild lighting gradient and noise, sometimes slightly blurred; PNG or JPEG).
* :func:`font_digit`: a digit typed in a TrueType font, slightly rotated, on paper (PNG);
  :func:`available_fonts` lists the fonts with real digits (those shipped with matplotlib, a
  dependency of the project, so every machine has them, plus any in /usr/share/fonts/truetype).
* :func:`write_sample_digits`: the handful of sample images shipped in ``data/01_raw/my_digits``
  for the ``predict`` pipeline, from fixed MNIST *test* digits and fonts; rerunning writes
  identical files.

Command line::

    python -m practical_dl.tools.digit_images samples [--folder data/01_raw/my_digits]
    python -m practical_dl.tools.digit_images fonts          # the fonts available_fonts() finds

``practical_dl.tools.robustness`` uses these to measure how the classifiers do on such files.
"""

from __future__ import annotations

import argparse
import gzip
import io
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

#: The range of the side of the digit's 28x28 box once upscaled, in pixels (inclusive).
DIGIT_SIDE_RANGE = (32, 512)
#: The sheet of paper is this many times the digit's box, per axis (the margins are random).
CANVAS_FACTOR_RANGE = (1.05, 1.6)
#: The least difference in luminance (0 to 1) between ink and paper.
MIN_CONTRAST = 0.35
#: Photos are PNG or, with this probability, JPEG of quality in JPEG_QUALITY_RANGE.
JPEG_PROBABILITY = 0.5
JPEG_QUALITY_RANGE = (70, 95)
#: Light ink on dark paper (chalk on a blackboard, a screenshot of a dark page) with this probability.
LIGHT_ON_DARK_PROBABILITY = 0.3
#: The largest rotation of a typed digit, in degrees either way.
FONT_MAX_ROTATION = 8.0
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

RGB = tuple[int, int, int]
# paper and ink colours, before a little random jitter of each channel
LIGHT_PAPERS: dict[str, RGB] = {
    "white": (250, 250, 248),
    "cream": (246, 240, 218),
    "grey": (208, 208, 202),
    "yellow": (252, 236, 120),
    "light blue": (200, 224, 245),
    "pink": (250, 212, 222),
    "light green": (208, 236, 200),
}
DARK_INKS: dict[str, RGB] = {"black": (25, 25, 30), "blue": (25, 40, 135), "red": (190, 25, 30), "pencil": (95, 95, 100)}
DARK_PAPERS: dict[str, RGB] = {"blackboard": (38, 42, 40), "green board": (32, 70, 52), "navy": (22, 32, 72), "black": (12, 12, 14)}
LIGHT_INKS: dict[str, RGB] = {
    "chalk": (238, 238, 232),
    "yellow chalk": (250, 240, 150),
    "light blue": (190, 225, 255),
    "white": (255, 255, 255),
}


def luminance(colour: Sequence[float]) -> float:
    """ITU-R 601-2 luma of an RGB colour (0 to 255 per channel), from 0 to 1 (as Pillow's "L")."""
    r, g, b = colour[:3]
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255.0


def _jitter(colour: RGB, rng: np.random.Generator, amount: int = 12) -> RGB:
    return tuple(int(np.clip(c + rng.integers(-amount, amount + 1), 0, 255)) for c in colour)


def random_colours(rng: np.random.Generator, light_on_dark: bool) -> tuple[RGB, RGB]:
    """(paper, ink) for the polarity asked, jittered, with at least MIN_CONTRAST in luminance."""
    papers, inks = (DARK_PAPERS, LIGHT_INKS) if light_on_dark else (LIGHT_PAPERS, DARK_INKS)
    for _ in range(20):
        paper = _jitter(papers[list(papers)[rng.integers(len(papers))]], rng)
        ink = _jitter(inks[list(inks)[rng.integers(len(inks))]], rng)
        if abs(luminance(paper) - luminance(ink)) >= MIN_CONTRAST:
            return paper, ink
    return ((20, 20, 20), (240, 240, 240)) if light_on_dark else ((245, 245, 245), (20, 20, 20))


def _encode(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=int(quality))
    else:
        image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _paint(alpha: np.ndarray, paper: RGB, ink: RGB) -> np.ndarray:
    """Float H x W x 3 (0 to 255): ``ink`` where ``alpha`` is 1, ``paper`` where it is 0."""
    a = alpha[..., None]
    return np.asarray(paper, np.float32) * (1 - a) + np.asarray(ink, np.float32) * a


def _lighting(rgb: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A mild linear gradient of brightness (uneven light) in a random direction."""
    height, width = rgb.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (np.cos(angle) * x / max(width - 1, 1) + np.sin(angle) * y / max(height - 1, 1)) - 0.5
    return rgb * (1 + strength * ramp)[..., None]


def _to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.rint(np.clip(rgb, 0, 255)).astype(np.uint8), "RGB")


@dataclass(frozen=True)
class PhotoStyle:
    """What :func:`photo_of_digit` drew (or was told): for file names and tests."""

    digit_side: int
    canvas_size: tuple[int, int]  # (width, height)
    position: tuple[int, int]  # (left, top) of the digit's box
    light_on_dark: bool
    paper: RGB
    ink: RGB
    noise: float  # standard deviation, 0 to 255
    blur: float  # Gaussian radius in pixels, 0: none
    fmt: str  # "PNG" or "JPEG"
    quality: int


def photo_style(
    rng: np.random.Generator,
    *,
    digit_side: int | None = None,
    canvas_size: tuple[int, int] | None = None,
    position: tuple[int, int] | None = None,
    light_on_dark: bool | None = None,
    paper: RGB | None = None,
    ink: RGB | None = None,
    noise: float | None = None,
    blur: float | None = None,
    fmt: str | None = None,
    quality: int | None = None,
) -> PhotoStyle:
    """Draw a random :class:`PhotoStyle`; any argument given replaces its random value. Every
    random value is drawn whatever is given, so the generator advances the same way."""
    side = int(rng.integers(DIGIT_SIDE_RANGE[0], DIGIT_SIDE_RANGE[1] + 1))
    side = digit_side or side
    factors = rng.uniform(*CANVAS_FACTOR_RANGE, size=2)
    size = canvas_size or (int(round(side * factors[0])), int(round(side * factors[1])))
    where = rng.uniform(size=2)
    pos = position or (int(where[0] * (size[0] - side + 1)), int(where[1] * (size[1] - side + 1)))
    polarity = bool(rng.uniform() < LIGHT_ON_DARK_PROBABILITY)
    polarity = polarity if light_on_dark is None else light_on_dark
    colours = random_colours(rng, polarity)
    sigma = float(rng.uniform(1.0, 5.0))
    radius = float(rng.uniform(0.2, 0.6) * side / 28) if rng.uniform() < 0.3 else 0.0
    jpeg = bool(rng.uniform() < JPEG_PROBABILITY)
    q = int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1))
    return PhotoStyle(
        digit_side=side,
        canvas_size=(int(size[0]), int(size[1])),
        position=(int(pos[0]), int(pos[1])),
        light_on_dark=polarity,
        paper=paper or colours[0],
        ink=ink or colours[1],
        noise=sigma if noise is None else float(noise),
        blur=radius if blur is None else float(blur),
        fmt=fmt or ("JPEG" if jpeg else "PNG"),
        quality=quality or q,
    )


def render_photo(image28: np.ndarray, style: PhotoStyle, rng: np.random.Generator) -> Image.Image:
    """The RGB picture of ``image28`` (uint8, ink bright on black, as MNIST) in ``style``."""
    digit = np.asarray(image28, dtype=np.float32)
    if digit.shape != (28, 28):
        raise ValueError(f"expected a 28x28 digit, got shape {digit.shape}")
    digit = digit / 255.0 if np.asarray(image28).dtype == np.uint8 else np.clip(digit, 0, 1)
    side = style.digit_side
    big = np.clip(np.asarray(Image.fromarray(digit).resize((side, side), Image.Resampling.BICUBIC)), 0, 1)
    width, height = style.canvas_size
    left, top = style.position
    alpha = np.zeros((height, width), np.float32)
    # the part of the digit's box that lies on the sheet
    y0, y1, x0, x1 = max(top, 0), min(top + side, height), max(left, 0), min(left + side, width)
    alpha[y0:y1, x0:x1] = big[y0 - top : y1 - top, x0 - left : x1 - left]
    rgb = _lighting(_paint(alpha, style.paper, style.ink), rng, strength=float(rng.uniform(0.0, 0.08)))
    picture = _to_image(rgb)
    if style.blur > 0:
        picture = picture.filter(ImageFilter.GaussianBlur(style.blur))
    if style.noise > 0:
        noisy = np.asarray(picture, np.float32) + rng.normal(0.0, style.noise, size=(height, width, 3)).astype(np.float32)
        picture = _to_image(noisy)
    return picture


def photo_of_digit(image28: np.ndarray, rng: np.random.Generator, **style: object) -> tuple[bytes, str]:
    """An MNIST 28x28 digit (uint8, ink bright on black) as a photographed or scanned image file.

    The digit's 28x28 box is upscaled smoothly (bicubic) to a random side of 32 to 512 pixels and
    placed at a random position on a sheet 1.05 to 1.6 times as large along each axis; dark ink on
    light paper, or (with probability 0.3) light ink on dark paper, in random colours at least
    0.35 apart in luminance (paper white, cream, grey or coloured; ink black, blue, red or pencil
    grey; chalk on a board); a mild gradient of light, Gaussian noise (standard deviation 1 to 5 of
    255) and, for 30 % of them, a slight blur (0.2 to 0.6 of an MNIST pixel). Saved as PNG or (half
    of them) JPEG of quality 70 to 95. Keyword arguments (see :func:`photo_style`) fix any of
    these. Returns the file's bytes and its suffix (".png" or ".jpg"); the same generator state
    gives the same bytes.
    """
    data, suffix, _ = photo_file(image28, rng, **style)
    return data, suffix


def photo_file(image28: np.ndarray, rng: np.random.Generator, **style: object) -> tuple[bytes, str, PhotoStyle]:
    """:func:`photo_of_digit`'s bytes and suffix, and the :class:`PhotoStyle` it drew."""
    chosen = photo_style(rng, **style)
    picture = render_photo(image28, chosen, rng)
    return _encode(picture, chosen.fmt, chosen.quality), ".jpg" if chosen.fmt == "JPEG" else ".png", chosen


# --------------------------------------------------------------------------- fonts


def matplotlib_font_dir() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


SYSTEM_FONT_DIR = Path("/usr/share/fonts/truetype")


def _digit_glyph_names(path: Path) -> list[str] | None:
    """The names of the glyphs the font maps "0" to "9" to, or None where it cannot be read."""
    try:
        from fontTools.ttLib import TTFont  # a dependency of matplotlib

        with TTFont(str(path), lazy=True) as font:
            cmap = font.getBestCmap() or {}
            return [cmap.get(ord(str(d)), "") for d in range(10)]
    except Exception:
        return None


def _looks_like_digits(names: list[str] | None) -> bool:
    """The character codes of "0" to "9" map to the digits (``zero``, ``zerooldstyle``, ``uni0030``
    ...), not to a symbol font's delimiters or a last-resort box."""
    if names is None:
        return True  # cannot tell: the rendering check decides
    return all(
        n.lower().startswith(word) or n.lower() == f"uni{0x30 + d:04X}".lower() for d, (n, word) in enumerate(zip(names, DIGIT_NAMES))
    )


def _glyph_mask(font: ImageFont.FreeTypeFont, text: str, stroke_width: int = 0) -> np.ndarray:
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke_width)
    if right <= left or bottom <= top:
        return np.zeros((0, 0), np.uint8)
    mask = Image.new("L", (right - left + 2, bottom - top + 2), 0)
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, fill=255, font=font, stroke_width=stroke_width, stroke_fill=255)
    return np.asarray(mask)


def _renders_digits(path: Path) -> bool:
    """Every digit renders with ink, and no two digits render alike (a missing glyph's box)."""
    try:
        font = ImageFont.truetype(str(path), 48)
        masks = [_glyph_mask(font, str(d)) for d in range(10)]
    except Exception:
        return False
    if any(m.size == 0 or np.count_nonzero(m > 127) < 20 for m in masks):
        return False
    shapes = {(m.shape, m.tobytes()) for m in masks}
    return len(shapes) == 10


@lru_cache(maxsize=4)
def _fonts(system: bool) -> tuple[Path, ...]:
    found: dict[str, Path] = {}
    folders = [matplotlib_font_dir()] + ([SYSTEM_FONT_DIR] if system else [])
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*"), key=lambda p: p.as_posix()):
            if path.suffix.lower() not in (".ttf", ".otf") or path.name in found:
                continue  # matplotlib's copy first; the same file name elsewhere is the same font
            if _looks_like_digits(_digit_glyph_names(path)) and _renders_digits(path):
                found[path.name] = path
    return tuple(found.values())


def available_fonts(system: bool = True) -> list[Path]:
    """TrueType fonts whose "0" to "9" are digits: those shipped with matplotlib (DejaVu Sans, Serif
    and Mono in their weights and slants, STIXGeneral, the Computer Modern cmr10, cmb10, cmss10,
    cmtt10, cmti10, and cmmi10's old-style figures) and, with ``system``, those in
    /usr/share/fonts/truetype not already found (a file name counts once, matplotlib's copy
    first). Symbol fonts are left out: those that map the digits' codes to other glyphs
    (cmex10, cmsy10, LastResort) or to none (STIXSize*, STIXNonUnicode, the *Display fonts), and
    any whose digits render empty or alike."""
    return list(_fonts(system))


def font_digit(
    digit: int,
    font_path: str | Path,
    rng: np.random.Generator,
    size_px: int = 64,
    *,
    stroke_width: int = 0,
    light_on_dark: bool | None = None,
    paper: RGB | None = None,
    ink: RGB | None = None,
    rotation: float | None = None,
) -> bytes:
    """The digit typed in the TrueType font at ``font_path`` (``size_px`` pixels to the em; a
    ``stroke_width`` > 0 makes it bolder), rotated by up to 8 degrees either way, at a random
    position on paper 0.2 to 0.9 em wider than the glyph on each side, in random colours (as
    :func:`photo_of_digit`'s; light on dark with probability 0.3). A PNG file's bytes. The
    keyword arguments fix what is otherwise random."""
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"digit must be 0 to 9, got {digit!r}")
    angle = float(rng.uniform(-FONT_MAX_ROTATION, FONT_MAX_ROTATION))
    angle = angle if rotation is None else float(rotation)
    polarity = bool(rng.uniform() < LIGHT_ON_DARK_PROBABILITY)
    polarity = polarity if light_on_dark is None else light_on_dark
    colours = random_colours(rng, polarity)
    paper, ink = paper or colours[0], ink or colours[1]
    margins = rng.uniform(0.2, 0.9, size=4) * size_px  # left, top, right, bottom
    font = ImageFont.truetype(str(font_path), int(size_px))
    mask = Image.fromarray(_glyph_mask(font, str(int(digit)), stroke_width))
    mask = mask.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=0)
    left, top, right, bottom = (int(round(m)) for m in margins)
    alpha = np.zeros((top + mask.height + bottom, left + mask.width + right), np.float32)
    alpha[top : top + mask.height, left : left + mask.width] = np.asarray(mask, np.float32) / 255.0
    return _encode(_to_image(_paint(alpha, paper, ink)), "PNG")


# --------------------------------------------------------------------------- the shipped samples


def project_root() -> Path:
    """The Kedro project at or above the current directory, else the one this file lies in."""
    from kedro.utils import find_kedro_project

    return find_kedro_project(Path.cwd()) or Path(__file__).resolve().parents[2]


def load_mnist_test(mnist_dir: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST test images (10000 x 28 x 28 uint8) and labels, from the shipped gzip IDX files."""
    from practical_dl.project.datasets import parse_idx

    folder = Path(mnist_dir) if mnist_dir is not None else project_root() / "data" / "01_raw" / "mnist"
    images = parse_idx(gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes()), "t10k-images")
    labels = parse_idx(gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes()), "t10k-labels")
    return images, labels


#: (file name, MNIST test index or font file name, options). The file name starts with the true digit.
SAMPLES: tuple[tuple[str, int | str, dict], ...] = (
    (
        "seven_photo.png",
        0,
        {"digit_side": 150, "noise": 1.5, "light_on_dark": False, "paper": (250, 250, 246), "ink": (30, 30, 38), "fmt": "PNG"},
    ),
    ("two_red_on_yellow.png", 1, {"digit_side": 140, "light_on_dark": False, "paper": (252, 234, 118), "ink": (192, 28, 30), "fmt": "PNG"}),
    (
        "four_chalk_on_blackboard.png",
        4,
        {"digit_side": 160, "noise": 1.5, "light_on_dark": True, "paper": (38, 46, 42), "ink": (236, 236, 228), "fmt": "PNG"},
    ),
    (
        "zero_blue_ink_scan.jpg",
        3,
        {"digit_side": 220, "light_on_dark": False, "paper": (246, 240, 220), "ink": (28, 42, 140), "fmt": "JPEG", "quality": 80},
    ),
    (
        "nine_small_off_centre.png",
        16,
        {
            "digit_side": 110,
            "canvas_size": (1200, 900),
            "position": (930, 120),
            "light_on_dark": False,
            "paper": (244, 244, 240),
            "ink": (20, 20, 24),
            "noise": 0.0,
            "blur": 0.0,
            "fmt": "PNG",
        },
    ),
    (
        "six_pencil_on_grey.png",
        11,
        {"digit_side": 120, "light_on_dark": False, "paper": (206, 206, 200), "ink": (92, 92, 98), "blur": 1.5, "fmt": "PNG"},
    ),
    (
        "three_dejavu_serif_bold.png",
        "DejaVuSerif-Bold.ttf",
        {"size_px": 96, "light_on_dark": False, "paper": (255, 255, 255), "ink": (0, 0, 0)},
    ),
    (
        "five_dejavu_sans_oblique.png",
        "DejaVuSans-Oblique.ttf",
        {"size_px": 80, "light_on_dark": False, "paper": (200, 224, 245), "ink": (20, 30, 90)},
    ),
    ("eight_cmr10_white_on_navy.png", "cmr10.ttf", {"size_px": 72, "light_on_dark": True, "paper": (22, 32, 72), "ink": (250, 250, 250)}),
    (
        "one_dejavu_sans_mono.png",
        "DejaVuSansMono.ttf",
        {"size_px": 64, "light_on_dark": False, "paper": (248, 248, 248), "ink": (40, 40, 40)},
    ),
)
SAMPLE_SEED = 20_240


def write_sample_digits(folder: str | Path, mnist_dir: str | Path | None = None) -> list[Path]:
    """Write the sample images (:data:`SAMPLES`) into ``folder``; the same bytes on every run. The
    photos are of fixed MNIST *test* digits (never trained on), the fonts are matplotlib's."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = load_mnist_test(mnist_dir)
    written = []
    for number, (name, source, options) in enumerate(SAMPLES):
        rng = np.random.default_rng([SAMPLE_SEED, number])
        digit = DIGIT_NAMES.index(name.split("_", 1)[0])
        if isinstance(source, int):
            if int(labels[source]) != digit:
                raise ValueError(f"{name}: MNIST test image {source} is a {labels[source]}, not a {digit}")
            data, suffix = photo_of_digit(images[source], rng, **options)
            if not name.endswith(suffix):
                raise ValueError(f"{name}: photo_of_digit wrote a {suffix} file")
        else:
            options = dict(options)
            data = font_digit(digit, matplotlib_font_dir() / source, rng, options.pop("size_px"), **options)
        path = folder / name
        path.write_bytes(data)
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m practical_dl.tools.digit_images", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    samples = commands.add_parser("samples", help="write the sample images shipped in data/01_raw/my_digits")
    samples.add_argument("--folder", default="data/01_raw/my_digits", help="where to write them (default: %(default)s)")
    commands.add_parser("fonts", help="list the fonts with real digits that available_fonts() finds")
    args = parser.parse_args(argv)
    if args.command == "samples":
        for path in write_sample_digits(args.folder):
            print(f"{path}  ({path.stat().st_size:,} bytes)")
    else:
        for path in available_fonts():
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
