"""Streaming ``cnnvis explain --images-dir``: CAMs for a whole folder of images, batch by batch, resumable.

The folder is walked lazily (sorted, sub-folders included); only one batch of pixels is in memory at a
time. For each image the heatmaps of every method go to ``OUT/heatmaps/<name>.npz`` (one float32
``(H, W)`` array per method) and an overlay strip (one tile per method, in the order of ``--method``) to
``OUT/overlays/<name>.png``; after each batch its rows are appended to ``OUT/index.csv``. Every file
is written to a temporary name first and moved into place with :func:`os.replace`, so an interrupted
run leaves only complete files. A restart skips the images that have a row in the index and both
output files, so memory and time never depend on how many images were already done; what grows with
the number of images is only the set of finished file names read from the index.

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> folder, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "out"
    >>> for i in range(3):
    ...     Image.fromarray(np.full((40, 40, 3), 60 * i, np.uint8)).save(folder / f"im{i}.png")
    >>> job = StreamJob(model="catdogcnn", framework="torch", methods=["gradcam"], batch_size=2,
    ...                 progress=False)
    >>> summary = stream_explain(job, folder, out)
    >>> summary.processed, summary.skipped, (out / "index.csv").is_file()
    (3, 0, True)
    >>> stream_explain(job, folder, out).skipped
    3
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import VisualizationError

#: File suffixes read as images.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"})
INDEX_HEADER = ["image", "source", "target", "target_name", "probability", "heatmaps", "overlay", "methods"]


@dataclass
class StreamJob:
    """What a streaming run needs (the CLI fills it from its options)."""

    model: str
    framework: str = "torch"
    methods: Sequence[str] = ("gradcam",)
    layer: str | None = None
    target: int | None = None
    weights: str | None = None
    class_names: Sequence[str] | None = None
    input_size: int = 224
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    batch_size: int = 16
    scorecam_batch_size: int = 32
    progress: bool = True
    force: bool = False
    alpha: float = 0.5


@dataclass
class StreamSummary:
    """How a streaming run went: images found, computed now, skipped (already done), and the index path."""

    total: int
    processed: int
    skipped: int
    index: Path
    finished: list[str] = field(default_factory=list)


@dataclass
class LoadedModel:
    """A model ready for CAMs: its framework, the model, the CAM layer and one CAM object per method."""

    fw: Any
    model: Any
    layer: str
    cams: dict[str, Any]


# ----------------------------------------------------------------------------- files
def iter_images(folder: str | Path) -> Iterator[Path]:
    """Image files under ``folder`` (sub-folders too), in sorted order, yielded one at a time.

    >>> list(iter_images(Path(tempfile.mkdtemp())))
    []
    """
    root = Path(folder)
    if not root.is_dir():
        raise VisualizationError(f"--images-dir {str(root)!r} is not a folder. Pass a folder that holds image files.")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if Path(name).suffix.lower() in IMAGE_SUFFIXES:
                yield Path(dirpath) / name


def output_name(root: Path, path: Path) -> str:
    """A flat, file-system-safe name for ``path`` relative to ``root`` (sub-folders joined with ``__``).

    >>> output_name(Path("/data"), Path("/data/cats/Abyssinian 1.jpg"))
    'cats__Abyssinian_1.jpg'
    """
    rel = path.relative_to(root).as_posix().replace("/", "__")
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in rel)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and :func:`os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` written atomically (byte-reproducible: members carry the zip epoch as their date)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def save_png(path: Path, rgb: np.ndarray) -> None:
    """An RGB float ``[0, 1]`` or uint8 ``(H, W, 3)`` array as a PNG, written atomically."""
    from PIL import Image

    arr = rgb if rgb.dtype == np.uint8 else (np.clip(rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def append_rows_atomically(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Append ``rows`` to the CSV ``path`` (created with ``header``) so that readers only ever see the file
    before or after the whole batch: the old content is streamed into a temporary copy, the rows added,
    and the copy moved over the original."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            if path.exists():
                with open(path, newline="", encoding="utf-8") as old:
                    while chunk := old.read(1 << 16):
                        out.write(chunk)
            else:
                csv.writer(out).writerow(header)
            csv.writer(out).writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_index_names(path: Path, column: str = "image") -> set[str]:
    """The values of ``column`` in a CSV index written by :func:`append_rows_atomically` (empty if absent)."""
    if not path.exists():
        return set()
    with open(path, newline="", encoding="utf-8") as f:
        return {row[column] for row in csv.DictReader(f) if row.get(column)}


# ----------------------------------------------------------------------------- model
def load_for_cams(
    model_spec: str, framework: str, weights: str | None, layer: str | None, methods: Sequence[str], input_size: int
) -> LoadedModel:
    """Build the model (weights loaded), pick the CAM layer (``layer``, the zoo's, or the automatic one) and
    make one CAM object per method, exactly as ``cnnvis explain`` does."""
    from ..core.cam import auto_layer
    from ..core.weights import load_weights
    from ..frameworks import get_framework
    from .explain import ZOO_LAYERS, build_model

    fw = get_framework(framework)
    model = build_model(model_spec, fw)
    if weights:
        load_weights(fw.backend, model, weights)
    cam_layer = layer or ZOO_LAYERS.get(model_spec, {}).get("cam")
    if cam_layer is None:
        probe = fw.backend.from_numpy(model, np.zeros((1, 3, input_size, input_size), np.float32))
        cam_layer = auto_layer(fw.backend, model, probe)[0]  # the backend's own (channels-first) layout
    return LoadedModel(fw, model, str(cam_layer), make_cams(fw, model, str(cam_layer), methods))


def make_cams(fw: Any, model: Any, layer: str, methods: Sequence[str]) -> dict[str, Any]:
    """One CAM object per method name on ``model`` at ``layer``, with the options the CLI uses."""
    from ..frameworks import METHOD_OPTIONS

    cams = {}
    for method in methods:
        cls = fw.cam_classes[method]
        options = dict(METHOD_OPTIONS.get(method, {}))
        if cls.__name__ in ("ScoreCAM", "AblationCAM"):
            options["batch_size"] = 32
        cams[method] = cls(model, layer, **options)
    return cams


def preprocess_files(
    files: Sequence[Path], size: int, mean: Sequence[float], std: Sequence[float]
) -> tuple[np.ndarray, list[np.ndarray], list[tuple[int, int]]]:
    """``(x (B, 3, size, size), display crops, original (width, height))`` of ``files`` (centre crop as explain)."""
    from ..core.image import to_display_image
    from ..models.image_files import open_rgb
    from ..models.imagenet import preprocess

    arrays, crops, sizes = [], [], []
    for f in files:
        rgb = open_rgb(f, "Remove or fix it and run the same command again: finished images are kept.")
        sizes.append(rgb.size)
        arr, crop = preprocess(rgb, size=size, resize=round(size * 256 / 224), mean=tuple(mean), std=tuple(std))
        arrays.append(arr)
        crops.append(to_display_image(crop))
    return np.stack(arrays), crops, sizes


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _stats(job: StreamJob) -> tuple[Sequence[float], Sequence[float]]:
    from ..models.imagenet import IMAGENET_MEAN, IMAGENET_STD, MEAN, STD

    default = (MEAN, STD) if job.model == "efficientnet-lite0" else (IMAGENET_MEAN, IMAGENET_STD)
    return (job.mean or default[0]), (job.std or default[1])


# ----------------------------------------------------------------------------- one batch
class BatchExplainer:
    """Holds one loaded model and turns a batch of image files into their output files and index rows.

    Both engines use it: the local loop makes one, and with ``--engine ray`` every Ray actor makes its
    own (so each worker loads the model once and keeps it). Writing the per-image files here, where the
    maps are, means only the small index rows travel back to the driver.
    """

    def __init__(
        self, job: StreamJob, root: str | Path, out: str | Path, state: dict[str, np.ndarray] | None = None
    ) -> None:
        self.job = job
        self.root = Path(root)
        self.heat_dir, self.png_dir = Path(out) / "heatmaps", Path(out) / "overlays"
        # With ``state`` (the driver's weights, see ray_engine) the weights file is not read again.
        weights = None if state is not None else job.weights
        self.loaded = load_for_cams(job.model, job.framework, weights, job.layer, job.methods, job.input_size)
        if state is not None:
            self.loaded.fw.backend.apply_weights(self.loaded.model, state)
        self.mean, self.std = _stats(job)

    def __call__(self, files: Sequence[Path], names: Sequence[str]) -> list[list[Any]]:
        """Explain ``files`` (output names ``names``), write their ``.npz`` and ``.png``, return their index rows."""
        from ..core.image import overlay

        job, fw, model = self.job, self.loaded.fw, self.loaded.model
        x_np, crops, _ = preprocess_files(files, job.input_size, self.mean, self.std)
        x = fw.tensor(model, x_np)
        logits = np.asarray(fw.backend.predict(model, fw.backend.prepare_input(model, x)), np.float64)
        if job.target is not None and not 0 <= job.target < logits.shape[1]:
            raise VisualizationError(
                f"--target {job.target} is out of range: the model has {logits.shape[1]} classes "
                f"(0..{logits.shape[1] - 1})."
            )
        targets = logits.argmax(axis=1) if job.target is None else np.full(len(files), job.target)
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        maps = {m: cam.compute(x, targets.tolist()).heatmaps.astype(np.float32) for m, cam in self.loaded.cams.items()}
        rows = []
        for i, name in enumerate(names):
            save_npz(self.heat_dir / f"{name}.npz", {m: maps[m][i] for m in job.methods})
            strip = np.concatenate([overlay(crops[i], maps[m][i], alpha=job.alpha) for m in job.methods], axis=1)
            save_png(self.png_dir / f"{name}.png", strip)
            c = int(targets[i])
            cname = job.class_names[c] if job.class_names and 0 <= c < len(job.class_names) else f"class {c}"
            rows.append(
                [
                    name,
                    Path(files[i]).relative_to(self.root).as_posix(),
                    c,
                    cname,
                    f"{probs[i, c]:.6f}",
                    f"heatmaps/{name}.npz",
                    f"overlays/{name}.png",
                    " ".join(job.methods),
                ]
            )
        return rows


# ----------------------------------------------------------------------------- the run
@dataclass
class StreamPlan:
    """What is left to do: the index path, the image count, how many are finished, and a lazy iterator of
    ``(path, output name)`` of the rest."""

    root: Path
    index: Path
    total: int
    skipped: int
    pending: Iterator[tuple[Path, str]]


def plan_stream(job: StreamJob, images_dir: str | Path, out: str | Path) -> StreamPlan:
    """Check the options and the folder, start a new index under ``job.force``, and list what is left."""
    if job.batch_size < 1:
        raise VisualizationError(f"--batch-size must be at least 1; got {job.batch_size}.")
    root, out = Path(images_dir), Path(out)
    if out.exists() and not out.is_dir():
        raise VisualizationError(
            f"--out {str(out)!r} is a file, not a folder; it is left as it is. Choose a folder name for the output."
        )
    from .html import check_output_folder

    check_output_folder(out, force=True)  # an existing folder is resumed, not replaced
    index = out / "index.csv"
    heat_dir, png_dir = out / "heatmaps", out / "overlays"
    total = sum(1 for _ in iter_images(root))
    if total == 0:
        raise VisualizationError(
            f"The folder {str(root)!r} holds no image files ({', '.join(sorted(IMAGE_SUFFIXES))})."
        )
    if job.force and index.exists():
        index.unlink()
    done = read_index_names(index)

    def finished(name: str) -> bool:
        return name in done and (heat_dir / f"{name}.npz").is_file() and (png_dir / f"{name}.png").is_file()

    skipped = sum(1 for p in iter_images(root) if finished(output_name(root, p)))
    pending = ((p, output_name(root, p)) for p in iter_images(root))
    return StreamPlan(root, index, total, skipped, ((p, n) for p, n in pending if not finished(n)))


def stream_explain(
    job: StreamJob,
    images_dir: str | Path,
    out: str | Path,
    on_batch: Callable[[list[str]], None] | None = None,
) -> StreamSummary:
    """Compute every method's heatmap for every image under ``images_dir`` and write them under ``out``.

    Images with a row in ``out/index.csv`` and both output files are skipped (``job.force`` recomputes
    everything and starts a new index). ``on_batch`` is called with the output names of each finished
    batch after its index rows are written. See the module docstring for the layout and an example, and
    :func:`visualization.report.ray_engine.ray_explain` for the same run on Ray.
    """
    plan = plan_stream(job, images_dir, out)
    explainer = BatchExplainer(job, plan.root, out)
    summary = StreamSummary(plan.total, 0, plan.skipped, plan.index)
    with progress_bar(job, plan) as bar:
        for batch in _batches(plan.pending, job.batch_size):
            names = [n for _, n in batch]
            rows = explainer([p for p, _ in batch], names)
            record_batch(plan, summary, rows, bar, on_batch)
    return summary


def progress_bar(job: StreamJob, plan: StreamPlan) -> Any:
    """The tqdm bar (with its ETA) both engines show, starting at the images already done."""
    from tqdm.auto import tqdm

    return tqdm(total=plan.total, initial=plan.skipped, desc="cnnvis explain", unit="img", disable=not job.progress)


def record_batch(
    plan: StreamPlan,
    summary: StreamSummary,
    rows: Sequence[Sequence[Any]],
    bar: Any,
    on_batch: Callable[[list[str]], None] | None,
) -> None:
    """After a batch's files are written: append its index rows, count it, move the bar, call ``on_batch``."""
    names = [str(r[0]) for r in rows]
    append_rows_atomically(plan.index, INDEX_HEADER, rows)
    summary.processed += len(names)
    summary.finished.extend(names)
    bar.update(len(names))
    if on_batch is not None:
        on_batch(names)
