"""Real photographs for image models: a user's folder of .jpg/.png files, or the sample photographs
scikit-image ships (read from its data folder as files, offline). The gates and the images payload
both take them from here; each is bounded in count and pixels before it is decoded."""

from __future__ import annotations

import importlib.util
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from tritonkit.errors import InputError

SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_IMAGES = 10_000
MAX_PIXELS = 50_000_000  # a 7000 x 7000 photograph; beyond that a decompression bomb, not a sample
# scikit-image's colour photographs (its data folder also holds greyscale images, textures and
# synthetic patterns, which are not what an image classifier is meant to see).
SAMPLE_PHOTOGRAPHS = (
    "astronaut.png", "chelsea.png", "coffee.png", "hubble_deep_field.jpg", "ihc.png", "motorcycle_left.png",
    "motorcycle_right.png", "retina.jpg", "rocket.jpg",
)  # fmt: skip


def sample_folder() -> Path:
    """scikit-image's data folder, found without importing scikit-image (and its scipy)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or spec.origin is None:
        raise InputError("the sample photographs come from scikit-image: pip install scikit-image (or give a folder)")
    return Path(spec.origin).parent / "data"


def sample_photographs() -> list[Path]:
    folder = sample_folder()
    return [folder / name for name in SAMPLE_PHOTOGRAPHS if (folder / name).is_file()]


def image_files(folder: Path | None) -> list[Path]:
    """The photographs in `folder` (sorted by name), or scikit-image's when it is None."""
    if folder is None:
        return sample_photographs()
    if not folder.is_dir():
        raise InputError(
            f"{folder}: {'not a folder' if folder.exists() else 'not found'} (expected a folder of images)"
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"{folder}: no {'/'.join(SUFFIXES)} files")
    if len(files) > MAX_IMAGES:
        raise InputError(f"{folder}: {len(files)} images; at most {MAX_IMAGES}")
    return files


def header_problems(files: Sequence[Path]) -> list[str]:
    """What is wrong with each of `files` as a photograph, one line naming the file each, from the
    headers alone (Pillow's open reads no pixels): not a regular file, not an image Pillow can read,
    more than MAX_PIXELS. For callers that report every bad file at once before any work."""
    problems = []
    for path in files:
        try:
            _opened(path).close()
        except InputError as exc:
            problems.append(str(exc))
    return problems


def read_rgb(path: Path) -> np.ndarray:
    """One image as uint8 RGB [height, width, 3]; an unreadable or oversized file is an InputError."""
    with _opened(path) as image:
        try:
            return np.asarray(image.convert("RGB"))
        except (OSError, ValueError, SyntaxError) as exc:  # a header that reads, then data that does not
            raise InputError(f"{path}: not an image Pillow can read ({type(exc).__name__})") from None


def _opened(path: Path) -> Image.Image:
    """`path` opened by Pillow, its header read and its size within MAX_PIXELS, no pixel decoded
    yet; an InputError naming the file otherwise."""
    if not path.is_file():  # a FIFO or a device would block Pillow's read, or never end
        raise InputError(f"{path}: {'not a regular file' if path.exists() else 'not found'} (expected an image)")
    try:
        with warnings.catch_warnings():
            # Pillow warns from its own limit (MAX_IMAGE_PIXELS) and raises at twice it; the bound
            # below says it in one line instead of a warning on stderr.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError:
        raise InputError(
            f"{path}: over {2 * (Image.MAX_IMAGE_PIXELS or 0)} pixels (a decompression bomb); at most {MAX_PIXELS}"
        ) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:  # ValueError: some plugins' header parsing
        raise InputError(f"{path}: not an image Pillow can read ({type(exc).__name__})") from None
    if image.width * image.height > MAX_PIXELS:
        image.close()
        raise InputError(f"{path}: {image.width} x {image.height} pixels; at most {MAX_PIXELS}")
    return image


def views(image: np.ndarray) -> list[np.ndarray]:
    """The photograph, three crops of it (the centre and two corners, three quarters of each side)
    and the mirror images of the photograph and of the centre crop: six real views, so a handful of
    photographs gives dozens of distinct inputs."""
    height, width = image.shape[:2]
    h, w = max(1, height * 3 // 4), max(1, width * 3 // 4)
    crops = [image[(height - h) // 2 : (height + h) // 2, (width - w) // 2 : (width + w) // 2],
             image[:h, :w], image[height - h :, width - w :]]  # fmt: skip
    out = [image, *crops]
    out += [view[:, ::-1] for view in (image, crops[0])]
    return [np.ascontiguousarray(v) for v in out]
