"""Read a user's image file as the RGB picture they see, or fail with one message that says what to do.

Every reader of image files in the package (``cnnvis explain --image`` / ``--images-dir``, ``evaluate``,
:func:`visualization.models.preprocess` given a path, :func:`visualization.datasets.load_batch`) goes
through :func:`open_rgb`, which handles what a folder of real photos holds:

* **EXIF orientation** is applied (a phone photo stored sideways is explained the way it is shown);
* **16-bit** images (``I;16`` PNG, ``I`` greyscale) are scaled to 8 bits instead of being clipped to white;
* **transparency** (``RGBA``, ``LA``, palette images with a transparent colour) is composited on white;
* **CMYK** JPEGs are converted by Pillow (Adobe's inverted CMYK included);
* an image with more pixels than Pillow's decompression-bomb limit (``PIL.Image.MAX_IMAGE_PIXELS``,
  89.5 M by default) is refused before its pixels are decoded;
* an empty, truncated or unreadable file, a folder, a broken symbolic link or a symlink loop raises
  :class:`ImageFileError` naming the file; no warning is printed on the way.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "empty.png"
    >>> _ = path.write_bytes(b"")
    >>> open_rgb(path)
    Traceback (most recent call last):
    ...
    visualization.models.image_files.ImageFileError: Could not read the image '...empty.png': the file is empty. Pass a complete image file (.jpg, .png, ...).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.errors import VisualizationError

__all__ = ["ImageFileError", "open_rgb"]


class ImageFileError(VisualizationError, OSError):
    """An image file that cannot be read (the message names it and says what to do)."""


def open_rgb(
    path: str | os.PathLike | BinaryIO, hint: str = "Pass a complete image file (.jpg, .png, ...).", name: str = ""
) -> Image.Image:
    """The picture in ``path`` (a file path, or a binary file object such as an upload's ``BytesIO``) as an
    8-bit RGB PIL image, decoded now (the file is closed on return).

    ``hint`` ends every error message (what the user should do); ``name`` names a file object in it.

    Raises:
        ImageFileError: the file is missing, empty, not an image, truncated, or too large to decode safely.
    """
    if hasattr(path, "read"):
        return _decode(
            path, lambda why: ImageFileError(f"Could not read the image {name or 'upload'!r}: {why}. {hint}")
        )
    p = Path(path)

    def fail(why: str) -> ImageFileError:
        return ImageFileError(f"Could not read the image {str(p)!r}: {why}. {hint}")

    if p.is_symlink() and not p.exists():
        raise fail("it is a broken symbolic link or a symlink loop")
    if p.is_dir():
        raise fail("it is a folder")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise fail(exc.strerror or str(exc)) from None
    if size == 0:
        raise fail("the file is empty")
    return _decode(p, fail)


def _decode(source: Path | BinaryIO, fail: Callable[[str], ImageFileError]) -> Image.Image:
    """Open, check the pixel count before decoding, decode, turn upright and convert to RGB."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit, then decodes: refuse the whole range.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            warnings.simplefilter("ignore", UserWarning)  # e.g. "Palette images with Transparency ..."
            with Image.open(source) as img:
                img.load()
                return _to_rgb(_upright(img))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
        raise fail(
            f"it has {size}, more than Pillow's decompression-bomb limit of {Image.MAX_IMAGE_PIXELS:,}, so it "
            "was not decoded; downscale it first"
        ) from None
    except UnidentifiedImageError:
        raise fail("it is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # truncated or corrupt data
        raise fail(f"{exc} (is it a complete image file?)") from None


def _upright(img: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says (unchanged if the EXIF data cannot be read)."""
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # a damaged EXIF block must not make a readable photo unreadable
        return img


def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB: 16-bit scaled down, transparency composited on white, everything else by Pillow."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return Image.fromarray(np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        top = 1.0 if arr.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray(np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)).convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")
