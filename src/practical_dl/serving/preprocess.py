"""Prepare a person's own digit image the way MNIST itself was made.

The MNIST README (LeCun, Cortes, Burges) describes the recipe: "The original black and white
(bilevel) images from NIST were size normalized to fit in a 20x20 pixel box while preserving
their aspect ratio. The resulting images contain grey levels as a result of the anti-aliasing
technique used by the normalization algorithm. the images were centered in a 28x28 image by
computing the center of mass of the pixels, and translating the image so as to position this
point at the center of the 28x28 field."

:func:`prepare_digit` does that to a photo or scan: decode (EXIF orientation, first frame,
transparency on white paper), grey, detect the polarity from the border and make the ink bright
on black, crop to the ink, fit into 20x20 keeping the aspect ratio (area-averaged), and shift by
whole pixels so that the centre of mass lies at pixel (14, 14), where it lies in MNIST (its
training digits have their centre of mass at rows and columns 13.5 to 14.5).
:func:`naive_resize` is the contrast baseline: the whole image squeezed into 28x28.
Inputs that cannot be predicted raise :class:`ImageRejected` with a reason meant for the user.

An 8-bit image (what Pillow decodes PNG, JPEG, GIF, ... to, and 2-D uint8 arrays) is prepared on
its 256 grey levels: the border's and the image's medians and percentiles come from histograms and
the "ink bright on black" step is a table of 256 values, looked up only for the pixels of the crop.
The numbers are those of the float recipe (:func:`_ink_bright_on_black`, still used for 16-bit,
float and colour arrays) to the bit; ``tests/serving/test_preprocess.py`` compares both, and the
outputs of the code before the 8-bit path (commit 7a62f51), on many images.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # larger images are rejected before their pixels are decoded


#: The only formats decoded: photos, scans and drawings come in these. Pillow knows many more (EPS runs
#: Ghostscript, PSD and the like are rarely a digit), and an input in any of them is "unreadable".
ACCEPTED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")


WORKING_SIDE = 1024  # larger images are shrunk (area-averaged) to about this long side first


DISPLAY_SIDE = 256  # the long side of the "as given" step


STEP_NAMES = ("as given", "grey", "ink bright on black", "cropped to the ink", "fitted into 20x20", "centred in 28x28")


class ImageRejected(ValueError):
    """An input that cannot be predicted. ``status`` is one of "empty", "unreadable", "too_large",
    "no_ink"; ``reason`` is a sentence for the user (and ``str(exc)``)."""

    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class PreparedDigit:
    """A 28x28 uint8 digit, ink bright (255) on black (0) as in MNIST, and how it was made."""

    image: np.ndarray
    inverted: bool  # the input was dark ink on light paper
    original_size: tuple[int, int]  # (width, height) as given (after EXIF orientation)
    steps: dict[str, np.ndarray] = field(default_factory=dict)  # uint8, in STEP_NAMES order; only with keep_steps


Source = bytes | bytearray | memoryview | Image.Image | np.ndarray


def _too_large(width: int, height: int, max_pixels: int) -> ImageRejected:
    return ImageRejected(
        "too_large", f"the image is too large: {width}x{height} pixels ({width * height:,}) is more than the limit of {max_pixels:,} pixels"
    )


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Open encoded bytes, reading only the header; reject empty, unknown and too large files."""
    if len(data) == 0:
        raise ImageRejected("empty", "the file is empty (0 bytes)")
    try:
        with warnings.catch_warnings():  # we decide on the size ourselves, just below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except Image.DecompressionBombError as exc:  # above Pillow's own limit (about 179 million pixels)
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(found[1]):,} pixels" if found else "its number of pixels"
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
        raise ImageRejected("too_large", f"the image is too large: {pixels} is more than the limit of {limit:,} pixels") from None
    except UnidentifiedImageError:
        accepted = ", ".join(ACCEPTED_FORMATS)
        raise ImageRejected("unreadable", f"not a readable image: not a file in one of the accepted formats ({accepted})") from None
    except Exception as exc:  # whatever a plugin raises on a malformed header
        raise ImageRejected("unreadable", f"not a readable image: {exc or type(exc).__name__}") from None
    if image.width * image.height > max_pixels:
        raise _too_large(image.width, image.height, max_pixels)
    return image


def _decode(image: Image.Image, keep_steps: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey (transparency composited on white paper) and the display image: 8-bit levels (uint8, the grey
    value of level k being k / 255), or float32 in [0, 1] for 16-bit and float images."""
    if image.getexif().get(ExifTags.Base.Orientation, 1) in (2, 3, 4, 5, 6, 7, 8):
        image = ImageOps.exif_transpose(image)  # loads the pixels (of the first frame of an animation), turned upright
    else:
        image.load()  # the same without the copy that exif_transpose makes of an image it leaves as it is
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):  # 16-bit or float grey
        grey = np.asarray(image, dtype=np.float32)
        full = 65535.0 if image.mode.startswith("I;16") else next((f for f in (1.0, 255.0) if grey.max() <= f), 65535.0)
        grey = np.clip(grey / full, 0, 1)
        return _shrink(grey), _display(Image.fromarray(_to_uint8(grey))) if keep_steps else None
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        image = Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA"))
    target = "L" if image.mode in ("1", "L", "LA", "La") else "RGB"
    if image.mode != target:  # (converting to its own mode would only copy it)
        image = image.convert(target)
    grey = image if image.mode == "L" else image.convert("L")
    if max(grey.size) > WORKING_SIDE:
        grey = grey.reduce(-(-max(grey.size) // WORKING_SIDE))  # box filter: every pixel counts
    return np.asarray(grey), _display(image) if keep_steps else None  # 8-bit levels: grey = levels / 255


def _from_array(array: np.ndarray, keep_steps: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """HxW grey or HxWxC (C = 1, 2 grey+alpha, 3 RGB, 4 RGBA), uint8, uint16, bool or float in [0, 1]."""
    if array.dtype == np.uint8 and (array.ndim == 2 or array.shape[2] == 1) and max(array.shape[:2]) <= WORKING_SIDE:
        levels = np.ascontiguousarray(array.reshape(array.shape[:2]))  # 8-bit grey: prepared on its levels, as decoded images
        return levels, _display(Image.fromarray(levels)) if keep_steps else None
    if array.dtype in (np.uint8, np.uint16):
        x = array.astype(np.float32) / np.iinfo(array.dtype).max
    elif array.dtype == np.bool_ or np.issubdtype(array.dtype, np.floating):
        x = np.clip(np.nan_to_num(array.astype(np.float32)), 0, 1)
    else:
        raise ImageRejected("unreadable", f"not a readable image: an array of dtype {array.dtype} (expected uint8 or float in [0, 1])")
    if x.ndim == 3 and x.shape[2] in (2, 4):  # composite on white paper
        x = x[..., :-1] * x[..., -1:] + (1 - x[..., -1:])
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[..., 0]
    colour = x
    if x.ndim == 3 and x.shape[2] == 3:
        x = x @ np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601-2 luma, as Pillow's "L"
    if x.ndim != 2:
        raise ImageRejected("unreadable", f"not a readable image: an array of shape {array.shape} (expected HxW, HxWx3 or HxWx4)")
    return _shrink(x), _display(Image.fromarray(_to_uint8(colour))) if keep_steps else None


def _shrink(grey: np.ndarray) -> np.ndarray:
    """Area-average a float image down to at most about WORKING_SIDE on its long side."""
    factor = -(-max(grey.shape) // WORKING_SIDE)
    return np.asarray(Image.fromarray(grey.astype(np.float32)).reduce(factor)) if factor > 1 else grey.astype(np.float32)


def _display(image: Image.Image) -> np.ndarray:
    """The "as given" step: a copy at most DISPLAY_SIDE pixels on its long side."""
    image = image.copy()
    image.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.BOX)
    return np.asarray(image)


def _load(source: Source, max_pixels: int, keep_steps: bool) -> tuple[np.ndarray, tuple[int, int], np.ndarray | None]:
    """Any accepted source -> (grey: 8-bit levels or float32 in [0, 1], (width, height) as given, display image or None)."""
    if isinstance(source, np.ndarray):
        if source.size == 0:
            raise ImageRejected("empty", f"the image is empty (an array of shape {source.shape})")
        if source.ndim not in (2, 3):
            raise ImageRejected("unreadable", f"not a readable image: an array of shape {source.shape} (expected HxW, HxWx3 or HxWx4)")
        height, width = source.shape[:2]
        if width * height > max_pixels:
            raise _too_large(width, height, max_pixels)
        grey, display = _from_array(source, keep_steps)
        return grey, (width, height), display
    if isinstance(source, Image.Image):
        if source.width * source.height > max_pixels:
            raise _too_large(source.width, source.height, max_pixels)
        image = source
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = _open(bytes(source), max_pixels)
    else:
        raise TypeError(f"expected encoded bytes, a PIL image or a numpy array, not {type(source).__name__}")
    try:
        width, height = image.size
        if image.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8):  # shown turned by 90 degrees
            width, height = height, width
        if image is not source:  # never change the caller's image
            image.draft(None, (WORKING_SIDE, WORKING_SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8 scale, still >= 1024 px
        grey, display = _decode(image, keep_steps)
    except Exception as exc:  # truncated or corrupt pixel data, broken EXIF, an unconvertible mode
        raise ImageRejected("unreadable", f"not a readable image: {exc or type(exc).__name__}") from None
    return grey, (width, height), display


def _ink_bright_on_black(grey: np.ndarray) -> tuple[np.ndarray, bool]:
    """Make the ink bright (up to 1) on a black (0) background; reject a page without ink.

    The background is the median of a border frame 4 % wide. The ink lies on the side where the
    image's extremes are further from it: dark ink (on light, or dimly lit, paper) is inverted,
    as "a light background (> 0.5)" would say on a clean scan. The ink level is the median of the
    pixels at least half-way from the background to the brightest 0.05 % (a robust "full ink",
    also for thin strokes). Stretched so that the background is 0 and the ink 1, whatever is
    below 0.2, or within 6 standard deviations of the border's noise, becomes 0: paper texture
    and JPEG noise are not ink."""
    height, width = grey.shape
    b = max(1, round(0.04 * min(height, width)))
    border = np.concatenate([grey[:b].ravel(), grey[-b:].ravel(), grey[:, :b].ravel(), grey[:, -b:].ravel()])
    background = float(np.median(border))
    darkest, brightest = np.percentile(grey, [0.05, 99.95])
    inverted = bool(background - darkest > brightest - background)
    x, background, peak = (1.0 - grey, 1.0 - background, 1.0 - darkest) if inverted else (grey, background, brightest)
    if peak - background < 0.1:
        raise ImageRejected("no_ink", "no ink found: the image is blank (a uniform page)")
    ink_level = float(np.median(x[x >= (background + peak) / 2]))
    noise = 1.4826 * float(np.median(np.abs(border - np.median(border))))  # the paper's standard deviation, robustly
    ink = np.clip((x - background) / (ink_level - background), 0, 1).astype(np.float32)
    ink[ink < min(max(0.2, 6 * noise / (ink_level - background)), 0.75)] = 0
    if np.count_nonzero(ink > 0.5) < max(4, 0.0005 * ink.size):
        raise ImageRejected("no_ink", "no ink found: the image is blank (a uniform page)")
    return ink, inverted


#: The grey value of each 8-bit level, exactly as ``levels.astype(np.float32) / 255.0`` gives it.
LEVELS = np.arange(256, dtype=np.float32) / 255.0


ASCENDING, DESCENDING = np.arange(256), np.arange(255, -1, -1)  # the order of LEVELS, and of 1 - LEVELS


def _order_statistics(values: np.ndarray, counts: np.ndarray, ranks: np.ndarray, order: np.ndarray | None = None) -> np.ndarray:
    """The ``ranks``-th smallest (0-based) of a multiset holding ``values[k]`` ``counts[k]`` times (``order``: the
    indices that sort ``values``, if known)."""
    order = np.argsort(values, kind="stable") if order is None else order
    return values[order][np.searchsorted(np.cumsum(counts[order]), ranks, side="right")]


def _median(values: np.ndarray, counts: np.ndarray, order: np.ndarray | None = None) -> np.float32:
    """``np.median`` of the multiset (float32 ``values`` with ``counts``): the same number, from its histogram."""
    size = int(counts.sum())
    if size % 2:
        return _order_statistics(values, counts, np.intp((size - 1) // 2), order)
    below, above = _order_statistics(values, counts, np.array([size // 2 - 1, size // 2]), order)
    return (below + above) / np.float32(2)  # np.median's mean of the two middle values, in float32


def _percentiles(values: np.ndarray, counts: np.ndarray, q: list[float], order: np.ndarray | None = None) -> np.ndarray:
    """``np.percentile`` (linear) of the multiset, computed as NumPy does from the two order statistics around each."""
    size = int(counts.sum())
    virtual = (size - 1) * np.true_divide(np.asarray(q), 100)
    previous = np.floor(virtual).astype(np.intp)
    following = previous + 1
    following[virtual >= size - 1] = previous[virtual >= size - 1] = size - 1
    gamma = virtual - previous
    below, above = np.split(_order_statistics(values, counts, np.concatenate([previous, following]), order), 2)
    difference = above - below
    result = np.add(below, difference * gamma)
    np.subtract(above, difference * (1 - gamma), out=result, where=gamma >= 0.5, casting="unsafe")
    return result


def _ink_table(levels: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """:func:`_ink_bright_on_black` of an 8-bit image (grey = ``LEVELS[levels]``), as the ink of each of its 256
    levels (``ink = table[levels]``): the same numbers to the bit, from the histograms of the image and its border.
    None where that recipe would take a median of nothing (the float recipe then decides)."""
    height, width = levels.shape
    b = max(1, round(0.04 * min(height, width)))
    border = np.concatenate([levels[:b].ravel(), levels[-b:].ravel(), levels[:, :b].ravel(), levels[:, -b:].ravel()])
    in_border = np.bincount(border, minlength=256)
    in_image = np.asarray(Image.fromarray(levels).histogram())  # Pillow's histogram: twice as fast as np.bincount
    middle = _median(LEVELS, in_border, ASCENDING)
    background = float(middle)
    darkest, brightest = _percentiles(LEVELS, in_image, [0.05, 99.95], ASCENDING)
    inverted = bool(background - darkest > brightest - background)
    x, background, peak = (1.0 - LEVELS, 1.0 - background, 1.0 - darkest) if inverted else (LEVELS, background, brightest)
    if peak - background < 0.1:
        raise ImageRejected("no_ink", "no ink found: the image is blank (a uniform page)")
    strong = np.where(x >= (background + peak) / 2, in_image, 0)
    if not strong.any():
        return None
    ink_level = float(_median(x, strong, DESCENDING if inverted else ASCENDING))
    noise = 1.4826 * float(_median(np.abs(LEVELS - middle), in_border))  # the paper's standard deviation, robustly
    table = np.clip((x - background) / (ink_level - background), 0, 1).astype(np.float32)
    table[table < min(max(0.2, 6 * noise / (ink_level - background)), 0.75)] = 0
    if in_image[table > 0.5].sum() < max(4, 0.0005 * levels.size):
        raise ImageRejected("no_ink", "no ink found: the image is blank (a uniform page)")
    return table, inverted


def _ink_box(levels: np.ndarray, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows and the columns of an 8-bit image that hold ink (``table[levels] != 0``)."""
    inked = np.flatnonzero(table)
    low, high = int(inked[0]), int(inked[-1])
    if high - low + 1 != len(inked):
        mask = (table != 0)[levels]
    elif low == 0 or high == 255:  # the ink is monotone in the grey level: one comparison finds it
        mask = levels <= high if low == 0 else levels >= low
    else:
        mask = (levels >= low) & (levels <= high)
    return np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))


def _ink(grey: np.ndarray) -> tuple[np.ndarray, bool, np.ndarray | None]:
    """(the ink, full size, or None where it was not made; inverted; the table of an 8-bit image or None)."""
    if grey.dtype == np.uint8:
        found = _ink_table(grey)
        if found is not None:
            return None, found[1], found[0]
        grey = LEVELS[grey]
    ink, inverted = _ink_bright_on_black(grey)
    return ink, inverted, None


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


def prepare_digit(source: Source, *, max_pixels: int = MAX_PIXELS, keep_steps: bool = False) -> PreparedDigit:
    """Encoded bytes (one of :data:`ACCEPTED_FORMATS`: PNG, JPEG, BMP, GIF, WebP, TIFF), a PIL image or a numpy array
    -> a 28x28 MNIST-like digit. Raises :class:`ImageRejected` for inputs that cannot be predicted."""
    grey, original_size, display = _load(source, max_pixels, keep_steps)
    ink, inverted, table = _ink(grey)
    if table is not None:  # an 8-bit image: only the crop's pixels are looked up
        rows, cols = _ink_box(grey, table)
        cropped = table[grey[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]]
        ink = table[grey] if keep_steps else None
    else:
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        cropped = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    height, width = cropped.shape
    scale = 20 / max(height, width)
    fitted_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.LANCZOS  # area-average when shrinking
    fitted = np.clip(np.asarray(Image.fromarray(cropped).resize(fitted_size, resample)), 0, 1)
    fitted = fitted / fitted.max()  # MNIST strokes reach 255, also when thin strokes were averaged away
    # centre of mass at pixel (14, 14), shifting by whole pixels; what falls outside is clipped
    r, c = np.arange(fitted.shape[0]), np.arange(fitted.shape[1])
    mass = fitted.sum()
    top = int(np.floor(14.5 - (fitted.sum(axis=1) @ r) / mass))
    left = int(np.floor(14.5 - (fitted.sum(axis=0) @ c) / mass))
    centred = np.zeros((28, 28), np.float32)
    y0, y1, x0, x1 = max(top, 0), min(top + fitted.shape[0], 28), max(left, 0), min(left + fitted.shape[1], 28)
    centred[y0:y1, x0:x1] = fitted[y0 - top : y1 - top, x0 - left : x1 - left]
    image = _to_uint8(centred)
    steps: dict[str, np.ndarray] = {}
    if keep_steps:
        grey = LEVELS[grey] if grey.dtype == np.uint8 else grey
        arrays = (display, _to_uint8(grey), _to_uint8(ink), _to_uint8(cropped), _to_uint8(fitted), image)
        steps = dict(zip(STEP_NAMES, arrays))
    return PreparedDigit(image=image, inverted=inverted, original_size=original_size, steps=steps)


def naive_resize(source: Source, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """The contrast baseline: the same decoding and ink-bright-on-black step as :func:`prepare_digit`,
    then the WHOLE image squeezed into 28x28 (area-averaged; no cropping, no aspect ratio, no centring)."""
    grey, _, _ = _load(source, max_pixels, keep_steps=False)
    ink, _, table = _ink(grey)
    ink = table[grey] if table is not None else ink
    return _to_uint8(np.asarray(Image.fromarray(ink).resize((28, 28), Image.Resampling.BOX)))
