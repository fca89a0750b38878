"""Image folders for training, without a framework: list, limit, split and load batches (numpy + Pillow).

The layout is the usual *ImageFolder* one, one subfolder per class::

    data/pets/
        cats/  Abyssinian_1.jpg  Bengal_12.jpg ...
        dogs/  beagle_3.jpg      pug_101.jpg   ...

Class names are the sorted subfolder names (so ``cats`` is class 0 and ``dogs`` class 1), and only
files with an image extension (:data:`IMAGE_EXTENSIONS`) count. Batches are made by
:func:`visualization.models.preprocess` with the normalization the model was built for
(:func:`normalization`), so the PyTorch and the Paddle examples see bit-identical input arrays.

:func:`sort_oxford_pets` and :func:`sort_kaggle_dogs_vs_cats` build such a folder from the two
public cat/dog data sets.

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for cls, n in [("cats", 3), ("dogs", 5)]:
    ...     (root / cls).mkdir()
    ...     for i in range(n):
    ...         Image.new("RGB", (40, 30), (40 * i, 90, 200)).save(root / cls / f"{i}.png")
    >>> folder = list_image_folder(root)
    >>> folder.classes, folder.counts()
    (('cats', 'dogs'), {'cats': 3, 'dogs': 5})
    >>> train, val = stratified_split(folder, val_fraction=0.4, seed=0)
    >>> train.counts(), val.counts()
    ({'cats': 2, 'dogs': 3}, {'cats': 1, 'dogs': 2})
    >>> x, crops = load_batch(val.paths, image_size=32, model="catdogcnn")
    >>> x.shape, x.dtype, crops[0].size
    ((3, 3, 32, 32), dtype('float32'), (32, 32))
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .core.errors import VisualizationError
from .models.image_files import ImageFileError
from .models.imagenet import IMAGENET_MEAN, IMAGENET_STD, MEAN, STD, preprocess

__all__ = [
    "IMAGE_EXTENSIONS",
    "DatasetError",
    "ImageFolder",
    "batch_indices",
    "limit_per_class",
    "list_image_folder",
    "load_batch",
    "normalization",
    "resize_for",
    "sort_kaggle_dogs_vs_cats",
    "sort_oxford_pets",
    "stratified_split",
]

#: File name endings (lower case) that count as images; anything else in a class folder is ignored.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class DatasetError(VisualizationError, ValueError):
    """An image folder that cannot be used: no class subfolders, a class without images, classes that
    differ between the training and the validation folder, or a split that leaves a class empty."""


@dataclass(frozen=True)
class ImageFolder:
    """A list of image files with integer labels.

    Attributes:
        root: the folder that was listed.
        classes: class names; label ``i`` means ``classes[i]``.
        paths: one path per image.
        labels: ``(N,)`` int64 class index per image.
    """

    root: Path
    classes: tuple[str, ...]
    paths: tuple[Path, ...]
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> dict[str, int]:
        """Number of images per class, in class order."""
        n = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, n)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> ImageFolder:
        """The images at ``indices`` (in that order), with the same classes."""
        idx = np.asarray(indices, dtype=np.int64)
        return ImageFolder(self.root, self.classes, tuple(self.paths[i] for i in idx), self.labels[idx])


def _is_image(path: Path) -> bool:
    return path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS


def list_image_folder(root: str | os.PathLike, classes: Sequence[str] | None = None) -> ImageFolder:
    """List ``root/<class>/<image>`` files; classes are the sorted subfolder names.

    Args:
        root: the folder holding one subfolder per class.
        classes: expected class names (e.g. those of the training folder when listing a validation
            folder); the subfolders must be exactly these.

    Raises:
        FileNotFoundError: ``root`` does not exist or is not a folder.
        DatasetError: no class subfolders, a class subfolder without images, or other classes than expected.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"image folder {str(root)!r} does not exist (or is not a folder). Expected one subfolder per "
            "class, e.g. cats/ and dogs/ holding .jpg or .png files."
        )
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not found:
        loose = sum(1 for p in root.iterdir() if _is_image(p))
        hint = f" It holds {loose} image files directly: move them into one subfolder per class." if loose else ""
        raise DatasetError(
            f"image folder {str(root)!r} has no class subfolders; expected e.g. {root / 'cats'} and {root / 'dogs'}.{hint}"
        )
    if classes is not None and tuple(found) != tuple(classes):
        raise DatasetError(
            f"image folder {str(root)!r} has the classes {found}, but {list(classes)} were expected "
            "(the validation folder must have the same class subfolders as the training folder)."
        )
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(found):
        files = sorted(p for p in (root / name).iterdir() if _is_image(p))
        if not files:
            raise DatasetError(
                f"class folder {str(root / name)!r} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}). "
                "Put the images of that class in it or remove the folder."
            )
        paths += files
        labels += [label] * len(files)
    return ImageFolder(root, tuple(found), tuple(paths), np.asarray(labels, dtype=np.int64))


def limit_per_class(folder: ImageFolder, limit: int | None, seed: int = 0) -> ImageFolder:
    """At most ``limit`` images of each class, drawn at random (seeded), in the folder's order.

    ``None`` keeps every image. File names are often sorted by breed or source, so a random draw
    is more representative than the first ``limit`` files.

    >>> f = ImageFolder(Path("."), ("a", "b"), tuple(Path(f"{i}.jpg") for i in range(6)), np.array([0, 0, 0, 0, 1, 1]))
    >>> limit_per_class(f, 2, seed=0).counts()
    {'a': 2, 'b': 2}
    """
    if limit is None:
        return folder
    if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
        raise ValueError(f"limit must be a positive number of images per class; got {limit!r}.")
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(folder.labels == c))[:limit] for c in range(len(folder.classes))]
    return folder.subset(np.sort(np.concatenate(keep)))


def stratified_split(folder: ImageFolder, val_fraction: float = 0.2, seed: int = 0) -> tuple[ImageFolder, ImageFolder]:
    """Split into training and validation sets with the same class proportions (seeded).

    Each class gives ``round(val_fraction * n_class)`` images to validation, at least one and
    leaving at least one for training.

    Raises:
        ValueError: ``val_fraction`` not strictly between 0 and 1.
        DatasetError: a class has fewer than two images.
    """
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive); got {val_fraction!r}.")
    rng = np.random.default_rng(seed)
    train, val = [], []
    for c, name in enumerate(folder.classes):
        idx = rng.permutation(np.flatnonzero(folder.labels == c))
        if len(idx) < 2:
            raise DatasetError(
                f"class {name!r} has {len(idx)} image(s); a split needs at least 2 (one to train, one to validate)."
            )
        k = min(max(round(val_fraction * len(idx)), 1), len(idx) - 1)
        val.append(idx[:k])
        train.append(idx[k:])
    return folder.subset(np.sort(np.concatenate(train))), folder.subset(np.sort(np.concatenate(val)))


def normalization(model: str) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Per-channel ``(mean, std)`` on the 0..255 scale that ``model``'s inputs are normalized with.

    The pretrained EfficientNet-Lite0 was trained with TensorFlow's ``(x - 127) / 128``
    (:data:`visualization.models.MEAN` / ``STD``); networks trained from scratch here use the usual
    ImageNet statistics.

    >>> normalization("efficientnet-lite0")
    ((127.0, 127.0, 127.0), (128.0, 128.0, 128.0))
    >>> normalization("catdogcnn")[0]
    (123.675, 116.28, 103.53)
    """
    key = model.strip().lower().replace("_", "-")
    if key == "efficientnet-lite0":
        return MEAN, STD
    if key == "catdogcnn":
        return IMAGENET_MEAN, IMAGENET_STD
    raise ValueError(f"unknown model {model!r}; use 'catdogcnn' or 'efficientnet-lite0'.")


def resize_for(image_size: int) -> int:
    """Short side to resize to before the centre crop: ``image_size * 8 / 7`` (256 for 224), as for ImageNet.

    >>> resize_for(224), resize_for(64)
    (256, 73)
    """
    return round(image_size * 8 / 7)


def load_batch(
    paths: Sequence[str | os.PathLike], image_size: int, model: str, *, flip: Sequence[bool] | None = None
) -> tuple[np.ndarray, list[Image.Image]]:
    """Read, resize, centre-crop and normalize images into one ``(N, 3, S, S)`` float32 batch.

    Args:
        paths: image files.
        image_size: side ``S`` of the square crop.
        model: ``'catdogcnn'`` or ``'efficientnet-lite0'``, which picks :func:`normalization`.
        flip: optional per-image flag to mirror the image left-right (a training augmentation).

    Returns:
        ``(x, crops)``: the batch and the RGB crops (PIL images) that were fed in, for display.

    Raises:
        DatasetError: a file cannot be read as an image (the message names it).
    """
    mean, std = normalization(model)
    arrays, crops = [], []
    for i, path in enumerate(paths):
        try:
            x, crop = preprocess(path, size=image_size, resize=resize_for(image_size), mean=mean, std=std)
        except ImageFileError as exc:  # the message names the file and the problem
            raise DatasetError(f"{exc} Remove or replace the file.") from exc
        except (OSError, SyntaxError, ValueError) as exc:  # PIL raises these for truncated/corrupt files
            raise DatasetError(f"cannot read image {str(path)!r}: {exc}. Remove or replace the file.") from exc
        if flip is not None and flip[i]:
            x = np.ascontiguousarray(x[:, :, ::-1])
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        arrays.append(x)
        crops.append(crop)
    if not arrays:
        return np.zeros((0, 3, image_size, image_size), np.float32), []
    return np.stack(arrays), crops


def batch_indices(n: int, batch_size: int, rng: np.random.Generator | None = None) -> Iterator[np.ndarray]:
    """Index arrays of consecutive batches over ``range(n)``; shuffled first when ``rng`` is given.

    >>> [b.tolist() for b in batch_indices(5, 2)]
    [[0, 1], [2, 3], [4]]
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


# ------------------------------------------------------------------ building a cats/dogs folder
def _sort_files(files: Sequence[Path], out_dir: Path, rule: dict[str, str], copy: bool) -> dict[str, int]:
    out_dir = Path(out_dir)
    counts = dict.fromkeys(sorted(set(rule.values())), 0)
    for cls in counts:
        (out_dir / cls).mkdir(parents=True, exist_ok=True)
    for src, cls in ((f, rule[f.name]) for f in files):
        dst = out_dir / cls / src.name
        if not dst.exists():
            if copy:
                shutil.copy2(src, dst)
            else:
                dst.symlink_to(src.resolve())
        counts[cls] += 1
    return counts


def sort_oxford_pets(
    images_dir: str | os.PathLike, out_dir: str | os.PathLike, *, copy: bool = False
) -> dict[str, int]:
    """Sort the Oxford-IIIT Pet ``images/`` folder into ``out_dir/cats`` and ``out_dir/dogs``.

    In that data set a file name is ``<Breed>_<id>.jpg`` and the breed's case tells the species:
    the 12 cat breeds start with an upper-case letter (``Abyssinian_1.jpg``), the 25 dog breeds with a
    lower-case one (``beagle_1.jpg``). Files are symlinked (``copy=True``: copied). Returns the counts.

    >>> import tempfile, pathlib
    >>> src, dst = (pathlib.Path(tempfile.mkdtemp()) for _ in range(2))
    >>> for name in ["Bengal_1.jpg", "pug_2.jpg", "pug_3.jpg", "README.txt"]:
    ...     _ = (src / name).write_bytes(b"")
    >>> sort_oxford_pets(src, dst)
    {'cats': 1, 'dogs': 2}
    """
    files = sorted(p for p in Path(images_dir).iterdir() if _is_image(p))
    if not files:
        raise DatasetError(f"no images in {str(images_dir)!r}; pass the 'images' folder of Oxford-IIIT Pet.")
    rule = {f.name: "cats" if f.name[0].isupper() else "dogs" for f in files}
    return _sort_files(files, Path(out_dir), rule, copy)


def sort_kaggle_dogs_vs_cats(
    train_dir: str | os.PathLike, out_dir: str | os.PathLike, *, copy: bool = False
) -> dict[str, int]:
    """Sort Kaggle's "Dogs vs. Cats" ``train/`` folder (``cat.0.jpg``, ``dog.0.jpg``, ...) into
    ``out_dir/cats`` and ``out_dir/dogs``. Files are symlinked (``copy=True``: copied). Returns the counts.

    >>> import tempfile, pathlib
    >>> src, dst = (pathlib.Path(tempfile.mkdtemp()) for _ in range(2))
    >>> for name in ["cat.0.jpg", "dog.0.jpg", "dog.1.jpg"]:
    ...     _ = (src / name).write_bytes(b"")
    >>> sort_kaggle_dogs_vs_cats(src, dst)
    {'cats': 1, 'dogs': 2}
    """
    files = sorted(p for p in Path(train_dir).iterdir() if _is_image(p) and p.name.split(".")[0] in ("cat", "dog"))
    if not files:
        raise DatasetError(
            f"no cat.*.jpg / dog.*.jpg files in {str(train_dir)!r}; pass Kaggle's unzipped 'train' folder."
        )
    rule = {f.name: f.name.split(".")[0] + "s" for f in files}
    return _sort_files(files, Path(out_dir), rule, copy)
