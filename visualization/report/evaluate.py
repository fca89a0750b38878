r"""``cnnvis evaluate``: how faithful (and, with boxes, how well localized) each CAM method is on a folder of images.

For every image and method the heatmap of the predicted class is scored with :mod:`visualization.metrics`:
deletion and insertion AUC (RISE), average drop and increase in confidence (Grad-CAM++), ROAD (the mean
probability over the removal percentages, most and least relevant first), the Gini index (sparseness),
the model-parameter randomization sanity check (Spearman rank correlation and SSIM between the map and
the same method's map of the same class on a copy of the model whose classifier, then every layer, was
re-drawn: a method that explains the model scores low) and, for images with boxes, the pointing game
and its energy-based variant. Each
(image, method) result is cached in ``OUT/cache/<settings>/<method>/<image>.npz`` as soon as it is computed,
so a rerun (after an interruption, or with more methods) reuses it; ``<settings>`` is a hash of everything
that changes the numbers (:func:`cache_key`), so other settings never pick up stale results. The summary, one row per method and
metric with the mean over images and a 95 % t-interval

.. math:: \bar v \pm t_{0.975,\,n-1}\, \frac{s}{\sqrt n}, \qquad s^2 = \frac{1}{n-1}\sum_i (v_i - \bar v)^2,

goes to ``OUT/metrics.csv`` and ``OUT/metrics.md``; the mean deletion and insertion curves per method to
``OUT/curves.png``.

Boxes come from a CSV with the columns ``filename,x0,y0,x1,y1`` in pixels of the original image (half-open,
one row per box, several rows for several objects); ``filename`` is the path relative to the folder or
the bare file name. They are mapped through the same resize and centre crop as the image; a box that
falls outside the crop does not count.

Example:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> folder, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "eval"
    >>> rng = np.random.default_rng(0)
    >>> for i in range(3):
    ...     Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    >>> job = EvaluateJob(model="catdogcnn", methods=["gradcam"], n_steps=8, progress=False)
    >>> table = evaluate(job, folder, out)
    >>> sorted(p.name for p in out.iterdir())
    ['cache', 'curves.png', 'metrics.csv', 'metrics.md', 'paired.csv']
    >>> table.rows[0]["method"], table.rows[0]["metric"], table.rows[0]["n"]
    ('gradcam', 'deletion_auc', 3)
"""

from __future__ import annotations

import csv
import importlib
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import VisualizationError
from .stream import (
    atomic_write_bytes,
    iter_images,
    load_for_cams,
    output_name,
    preprocess_files,
    save_npz,
)

#: (key, column title, which way is better) of every metric in the table, in order.
METRICS = (
    ("deletion_auc", "deletion AUC", "lower"),
    ("insertion_auc", "insertion AUC", "higher"),
    ("average_drop", "average drop %", "lower"),
    ("increase", "increase in confidence %", "higher"),
    ("road_morf", "ROAD MoRF", "lower"),
    ("road_lerf", "ROAD LeRF", "higher"),
    ("pointing", "pointing game", "higher"),
    ("energy_pointing", "energy pointing game", "higher"),
    ("gini", "Gini index", "higher"),
    ("random_top_spearman", "Spearman, classifier randomized", "lower"),
    ("random_all_spearman", "Spearman, all layers randomized", "lower"),
    ("random_all_ssim", "SSIM, all layers randomized", "lower"),
)

#: Bumped when the cached per-image record changes, so older caches are not mixed in.
CACHE_VERSION = 2


@dataclass
class EvaluateJob:
    """What ``cnnvis evaluate`` needs (the CLI fills it from its options)."""

    model: str
    framework: str = "torch"
    methods: Sequence[str] = ("gradcam",)
    layer: str | None = None
    weights: str | None = None
    input_size: int = 224
    mean: Sequence[float] | None = None
    std: Sequence[float] | None = None
    boxes: str | Path | None = None
    n_steps: int = 50
    batch_size: int = 8
    metric_batch_size: int = 64
    tolerance: float = 15.0
    limit: int | None = None
    road: bool = True
    sanity: bool = True
    progress: bool = True
    force: bool = False


@dataclass
class EvaluationTable:
    """The summary: one dict per (method, metric) with ``n``, ``mean``, ``ci_low``, ``ci_high``; the mean
    curves per method; and the paths written."""

    rows: list[dict[str, Any]]
    curves: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    per_image: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    paired: list[dict[str, Any]] = field(default_factory=list)

    def value(self, method: str, metric: str) -> dict[str, Any]:
        """The row of ``method`` and ``metric``."""
        for row in self.rows:
            if row["method"] == method and row["metric"] == metric:
                return row
        raise KeyError(f"No row for method {method!r} and metric {metric!r}.")


# ----------------------------------------------------------------------------- statistics
def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[int, float, float, float]:
    """``(n, mean, low, high)`` of the finite ``values`` with a Student-t confidence interval (NaN bounds for n < 2).

    >>> n, m, lo, hi = mean_ci([1.0, 2.0, 3.0])
    >>> n, m, round(lo, 4), round(hi, 4)
    (3, 2.0, -0.4841, 4.4841)
    """
    from scipy import stats

    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], np.float64)
    n = int(v.size)
    if n == 0:
        return 0, math.nan, math.nan, math.nan
    m = float(v.mean())
    if n < 2:
        return n, m, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n))
    return n, m, m - half, m + half


# ----------------------------------------------------------------------------- boxes
def read_boxes(path: str | Path) -> dict[str, list[tuple[float, float, float, float]]]:
    """Boxes per file name from a CSV ``filename,x0,y0,x1,y1`` (a header row is optional)."""
    boxes: dict[str, list[tuple[float, float, float, float]]] = {}
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for lineno, row in enumerate(csv.reader(f), start=1):
                if not row or not "".join(row).strip():
                    continue
                if lineno == 1 and row[0].strip().lower() == "filename":
                    continue
                try:
                    if len(row) != 5:
                        raise ValueError
                    x0, y0, x1, y1 = (float(v) for v in row[1:])
                except ValueError:
                    raise VisualizationError(
                        f"{path}: line {lineno} should be 'filename,x0,y0,x1,y1' with four numbers; got {row!r}."
                    ) from None
                boxes.setdefault(row[0].strip(), []).append((x0, y0, x1, y1))
    except OSError as exc:
        raise VisualizationError(f"Could not read the boxes file {str(path)!r}: {exc}") from exc
    return boxes


def crop_boxes(
    boxes: Sequence[tuple[float, float, float, float]], original: tuple[int, int], size: int
) -> list[tuple[float, float, float, float]]:
    """Map boxes in original-image pixels through the resize (short side ``round(size * 256 / 224)``) and
    centre crop of ``cnnvis explain``; boxes left with no area inside the crop are dropped.

    >>> crop_boxes([(0, 0, 100, 50)], (200, 100), 224)
    [(0.0, 0.0, 112.0, 112.0)]
    """
    w, h = original
    resize = round(size * 256 / 224)
    scale = resize / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    sx, sy = new_w / w, new_h / h
    left, top = (new_w - size) // 2, (new_h - size) // 2
    out = []
    for x0, y0, x1, y1 in boxes:
        b = (
            float(np.clip(x0 * sx - left, 0, size)),
            float(np.clip(y0 * sy - top, 0, size)),
            float(np.clip(x1 * sx - left, 0, size)),
            float(np.clip(y1 * sy - top, 0, size)),
        )
        if b[2] > b[0] and b[3] > b[1]:
            out.append(b)
    return out


# ----------------------------------------------------------------------------- per image
def image_metrics(
    metrics: Any,
    model: Any,
    x: Any,
    maps: np.ndarray,
    targets: np.ndarray,
    boxes: Sequence[Sequence[tuple[float, float, float, float]] | None],
    job: EvaluateJob,
    randomized_maps: dict[str, np.ndarray] | None = None,
) -> list[dict[str, np.ndarray]]:
    """Every metric for a batch of images and their maps, as one dict of arrays per image (what is cached).

    ``randomized_maps`` holds the same method's maps on the randomized copies (``"top"``: classifier
    re-drawn, ``"all"``: every layer), for the sanity check; without it those metrics are NaN.
    """
    kw = {"n_steps": job.n_steps, "batch_size": job.metric_batch_size}
    dele = metrics.deletion_curve(model, x, maps, targets, **kw)
    ins = metrics.insertion_curve(model, x, maps, targets, **kw)
    drop = metrics.average_drop_increase(model, x, maps, targets, batch_size=job.metric_batch_size)
    gini = metrics.gini_index(maps)
    nan = np.full(len(maps), math.nan)
    road_morf = road_lerf = nan
    road_curves = np.full((len(maps), 2, 0), math.nan, np.float32)
    if job.road:
        road = metrics.road(model, x, maps, targets, batch_size=job.metric_batch_size)
        road_morf, road_lerf = road.morf.mean(axis=1), road.lerf.mean(axis=1)
        road_curves = np.stack([road.morf, road.lerf], axis=1)
    top_rho = all_rho = all_ssim = nan
    if randomized_maps:
        top_rho = metrics.compare_maps(maps, randomized_maps["top"]).spearman
        full = metrics.compare_maps(maps, randomized_maps["all"])
        all_rho, all_ssim = full.spearman, full.ssim
    out = []
    for i in range(len(maps)):
        pointing = energy = math.nan
        if boxes[i]:
            pointing = float(metrics.pointing_game(maps[i], list(boxes[i]), tolerance=job.tolerance).hits[0])
            energy = float(metrics.energy_pointing_game(np.maximum(maps[i], 0), list(boxes[i]))[0])
        out.append(
            {
                "target": np.int64(targets[i]),
                "deletion_auc": np.float64(dele.auc[i]),
                "insertion_auc": np.float64(ins.auc[i]),
                "average_drop": np.float64(100.0 * drop.drop[i]),
                "increase": np.float64(100.0 * float(drop.increase[i])),
                "pointing": np.float64(pointing),
                "energy_pointing": np.float64(energy),
                "gini": np.float64(gini[i]),
                "road_morf": np.float64(road_morf[i]),
                "road_lerf": np.float64(road_lerf[i]),
                "road_curves": road_curves[i],
                "random_top_spearman": np.float64(top_rho[i]),
                "random_all_spearman": np.float64(all_rho[i]),
                "random_all_ssim": np.float64(all_ssim[i]),
                "deletion_curve": dele.scores[i].astype(np.float32),
                "insertion_curve": ins.scores[i].astype(np.float32),
                "fractions": dele.fractions,
            }
        )
    return out


def cache_key(job: EvaluateJob) -> str:
    """A short hash of every setting that changes a cached number (model, weights, layer, preprocessing,
    steps, tolerance, boxes): results computed under other settings live in another cache folder.

    >>> cache_key(EvaluateJob(model="catdogcnn")) == cache_key(EvaluateJob(model="catdogcnn", n_steps=10))
    False
    """
    import hashlib
    import json

    boxes = Path(job.boxes).read_bytes() if job.boxes and Path(job.boxes).is_file() else b""
    settings = {
        "version": CACHE_VERSION,
        "road": job.road,
        "sanity": job.sanity,
        "model": job.model,
        "framework": job.framework,
        "weights": str(Path(job.weights).resolve()) if job.weights else None,
        "weights_mtime": Path(job.weights).stat().st_mtime_ns if job.weights and Path(job.weights).is_file() else None,
        "layer": job.layer,
        "input_size": job.input_size,
        "mean": list(job.mean) if job.mean else None,
        "std": list(job.std) if job.std else None,
        "n_steps": job.n_steps,
        "tolerance": job.tolerance,
        "boxes": hashlib.sha1(boxes).hexdigest(),
    }
    return hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _select(root: Path, limit: int | None) -> list[Path]:
    """All images, or ``limit`` of them spread evenly over the sorted list (so every sub-folder is sampled)."""
    total = sum(1 for _ in iter_images(root))
    if total == 0:
        raise VisualizationError(f"The folder {str(root)!r} holds no image files (.jpg, .png, ...).")
    if limit is None or limit >= total:
        return list(iter_images(root))
    keep = set(np.linspace(0, total - 1, limit).round().astype(int).tolist())
    return [p for i, p in enumerate(iter_images(root)) if i in keep]


# ----------------------------------------------------------------------------- the run
def evaluate(job: EvaluateJob, images_dir: str | Path, out: str | Path) -> EvaluationTable:
    """Score every method on every image (cached per image and method), then write the table and the plot.

    See the module docstring for what is measured, the files written and an example.
    """
    from tqdm.auto import tqdm

    root, out = Path(images_dir), Path(out)
    if not root.is_dir():
        raise VisualizationError(f"--images-dir {str(root)!r} is not a folder. Pass a folder that holds image files.")
    if job.n_steps < 1 or job.batch_size < 1:
        raise VisualizationError(f"--steps and --batch-size must be at least 1; got {job.n_steps}, {job.batch_size}.")
    if job.limit is not None and job.limit < 1:
        raise VisualizationError(f"--limit must be at least 1; got {job.limit}.")
    files = _select(root, job.limit)
    names = [output_name(root, p) for p in files]
    boxes_by_name = read_boxes(job.boxes) if job.boxes else {}
    if job.boxes and not any(p.relative_to(root).as_posix() in boxes_by_name or p.name in boxes_by_name for p in files):
        raise VisualizationError(
            f"No image of {str(root)!r} has a box in {str(job.boxes)!r}; its 'filename' column must hold the "
            "path relative to the folder (e.g. cats/x.jpg) or the bare file name."
        )
    cache = out / "cache" / cache_key(job)

    def cache_path(method: str, name: str) -> Path:
        return cache / method / f"{name}.npz"

    def missing(method: str, name: str) -> bool:
        return job.force or not cache_path(method, name).is_file()

    todo = [(p, n) for p, n in zip(files, names) if any(missing(m, n) for m in job.methods)]
    from ..frameworks import get_framework

    metrics = importlib.import_module(f"{get_framework(job.framework).layers.__package__}.metrics")
    steps_done = sum(1 for n in names for m in job.methods if not missing(m, n))
    bar = tqdm(
        total=len(names) * len(job.methods),
        initial=steps_done,
        desc="cnnvis evaluate",
        unit="map",
        disable=not job.progress,
    )
    try:
        if todo:
            loaded = load_for_cams(job.model, job.framework, job.weights, job.layer, job.methods, job.input_size)
            fw, model = loaded.fw, loaded.model
            mean, std = _stats(job)
            random_cams = randomized_cams(metrics, loaded, job) if job.sanity else None
            for start in range(0, len(todo), job.batch_size):
                batch = todo[start : start + job.batch_size]
                x_np, _, sizes = preprocess_files([p for p, _ in batch], job.input_size, mean, std)
                boxes = []
                for (p, _), size in zip(batch, sizes):
                    raw = boxes_by_name.get(p.relative_to(root).as_posix()) or boxes_by_name.get(p.name)
                    boxes.append(crop_boxes(raw, size, job.input_size) if raw else None)
                for method in job.methods:
                    idx = [i for i, (_, n) in enumerate(batch) if missing(method, n)]
                    if not idx:
                        continue
                    x = fw.tensor(model, x_np[idx])
                    res = loaded.cams[method].compute(x)
                    maps = res.heatmaps.astype(np.float32)
                    targets = np.asarray(res.targets)
                    randomized = None
                    if random_cams is not None:
                        randomized = {
                            kind: cams[method]
                            .compute(fw.tensor(cams[method].model, x_np[idx]), targets.tolist())
                            .heatmaps.astype(np.float32)
                            for kind, cams in random_cams.items()
                        }
                    per_image = image_metrics(
                        metrics, model, x, maps, targets, [boxes[i] for i in idx], job, randomized
                    )
                    for i, record in zip(idx, per_image):
                        save_npz(cache_path(method, batch[i][1]), record)
                    bar.update(len(idx))
    finally:
        bar.close()
    return summarize(job, names, cache_path, out)


def randomized_cams(metrics: Any, loaded: Any, job: EvaluateJob) -> dict[str, dict[str, Any]]:
    """The sanity check's models (Adebayo et al. 2018): deep copies with the classifier (the parameter layer
    nearest the output) re-drawn (``"top"``), and with every parameter layer re-drawn (``"all"``, the end of
    the cascade), each with one CAM per method at the same layer. The user's model is not touched."""
    from .stream import make_cams

    backend = importlib.import_module(f"{loaded.fw.layers.__package__}._metrics_backend").METRICS_BACKEND
    # the backend's own (channels-first) layout: parameter_layers traces the model through the backend
    probe = loaded.fw.backend.from_numpy(loaded.model, np.zeros((1, 3, job.input_size, job.input_size), np.float32))
    with loaded.fw.backend.eval_mode(loaded.model):
        layers = backend.parameter_layers(loaded.model, probe)
    if not layers:
        raise VisualizationError(
            "The model has no layer with parameters, so the randomization check cannot run; pass --no-sanity."
        )
    copies = {
        "top": backend.randomized_copy(loaded.model, layers[:1]),
        "all": backend.randomized_copy(loaded.model, layers),
    }
    return {kind: make_cams(loaded.fw, m, loaded.layer, job.methods) for kind, m in copies.items()}


def _stats(job: EvaluateJob) -> tuple[Sequence[float], Sequence[float]]:
    from ..models.imagenet import IMAGENET_MEAN, IMAGENET_STD, MEAN, STD

    default = (MEAN, STD) if job.model == "efficientnet-lite0" else (IMAGENET_MEAN, IMAGENET_STD)
    return (job.mean or default[0]), (job.std or default[1])


def summarize(job: EvaluateJob, names: Sequence[str], cache_path: Any, out: Path) -> EvaluationTable:
    """Read the cached per-image results of ``names`` and write ``metrics.csv``, ``metrics.md`` and ``curves.png``."""
    table = EvaluationTable(rows=[])
    for method in job.methods:
        values: dict[str, list[float]] = {key: [] for key, _, _ in METRICS}
        curves: dict[str, list[np.ndarray]] = {"deletion": [], "insertion": []}
        fractions = None
        for name in names:
            with np.load(cache_path(method, name)) as z:
                for key in values:
                    values[key].append(float(z[key]))
                curves["deletion"].append(z["deletion_curve"])
                curves["insertion"].append(z["insertion_curve"])
                fractions = z["fractions"]
        table.per_image[method] = {key: np.asarray(v, np.float64) for key, v in values.items()}
        for key, _, better in METRICS:
            n, m, lo, hi = mean_ci(values[key])
            table.rows.append(
                {"method": method, "metric": key, "better": better, "n": n, "mean": m, "ci_low": lo, "ci_high": hi}
            )
        table.curves[method] = {
            "fractions": np.asarray(fractions),
            "deletion": np.mean(curves["deletion"], axis=0),
            "insertion": np.mean(curves["insertion"], axis=0),
        }
    table.paired = paired_differences(table, job.methods)
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["method", "metric", "better", "n", "mean", "ci95_low", "ci95_high"])
    for r in table.rows:
        writer.writerow(
            [
                r["method"],
                r["metric"],
                r["better"],
                r["n"],
                f"{r['mean']:.6g}",
                f"{r['ci_low']:.6g}",
                f"{r['ci_high']:.6g}",
            ]
        )
    table.paths["csv"] = out / "metrics.csv"
    atomic_write_bytes(table.paths["csv"], buf.getvalue().encode("utf-8"))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["metric", "best", "method", "n", "mean_difference", "ci95_low", "ci95_high"])
    for r in table.paired:
        writer.writerow(
            [r["metric"], r["best"], r["method"], r["n"], *(f"{r[k]:.6g}" for k in ("mean", "ci_low", "ci_high"))]
        )
    table.paths["paired"] = out / "paired.csv"
    atomic_write_bytes(table.paths["paired"], buf.getvalue().encode("utf-8"))
    table.paths["md"] = out / "metrics.md"
    atomic_write_bytes(table.paths["md"], markdown(table, job, len(names)).encode("utf-8"))
    table.paths["png"] = out / "curves.png"
    atomic_write_bytes(table.paths["png"], curves_png(table))
    return table


#: The faithfulness metrics a paired comparison is made for.
PAIRED_METRICS = ("deletion_auc", "insertion_auc", "road_morf", "road_lerf")


def paired_differences(table: EvaluationTable, methods: Sequence[str]) -> list[dict[str, Any]]:
    r"""For each faithfulness metric, every method against the best one (by mean) on the same images:

    .. math:: d_i = v_i^{\text{method}} - v_i^{\text{best}}, \qquad \bar d \pm t_{0.975,\,n-1}\,\frac{s_d}{\sqrt n}

    Images vary far more among themselves than methods do, so the per-method intervals of the main table
    overlap even where one method beats another on nearly every image; the paired interval removes the
    image-to-image spread. An interval that excludes 0 says the best method is better on these images.
    """
    out: list[dict[str, Any]] = []
    better = {k: b for k, _, b in METRICS}
    for key in PAIRED_METRICS:
        means = {m: table.value(m, key)["mean"] for m in methods if table.value(m, key)["n"] > 0}
        if len(means) < 2:
            continue
        optimum = (min if better[key] == "lower" else max)(means.values())
        # methods that coincide (Grad-CAM, HiResCAM and CAM where the gradient is constant) differ by
        # rounding only (3e-6 measured; CAM reads the classifier, so its float32 map ties break
        # differently): the first of them in the user's order is named the best
        best = next(m for m in means if abs(means[m] - optimum) <= 1e-4 * max(1.0, abs(optimum)))
        for method in methods:
            if method == best or method not in means:
                continue
            a, b = table.per_image[method][key], table.per_image[best][key]
            ok = np.isfinite(a) & np.isfinite(b)
            n, m, lo, hi = mean_ci((a[ok] - b[ok]).tolist())
            if n >= 2 and not math.isfinite(lo):  # identical on every image: no spread, no interval
                lo = hi = m
            out.append({"metric": key, "best": best, "method": method, "n": n, "mean": m, "ci_low": lo, "ci_high": hi})
    return out


def _cell(row: dict[str, Any]) -> str:
    if row["n"] == 0:
        return "n/a"
    if math.isnan(row["ci_low"]):
        return f"{row['mean']:.3f}"
    return f"{row['mean']:.3f} ± {(row['ci_high'] - row['ci_low']) / 2:.3f}"


def markdown(table: EvaluationTable, job: EvaluateJob, n_images: int) -> str:
    """The summary as a Markdown table: methods as rows, ``mean ± half-width of the 95 % t-interval`` per metric."""
    keys = [(k, title, b) for k, title, b in METRICS if any(r["metric"] == k and r["n"] for r in table.rows)]
    header = ["method"] + [f"{title} ({'↓' if b == 'lower' else '↑'})" for _, title, b in keys]
    lines = [
        f"{n_images} images, model {job.model}, {job.n_steps} steps per curve; mean ± half-width of the 95 % "
        "t-interval over images (pointing games: images with boxes only).",
        *(
            [
                "ROAD: mean probability of the class over 10-90 % of the pixels removed and imputed, most (MoRF) "
                "and least (LeRF) relevant first."
            ]
            if job.road
            else []
        ),
        *(
            [
                "Sanity check: similarity of each map to the same method's map on a copy of the model with the "
                "classifier, or every layer, re-drawn; near 1 means the map does not depend on what was learned."
            ]
            if job.sanity
            else []
        ),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for method in job.methods:
        lines.append("| " + " | ".join([method] + [_cell(table.value(method, k)) for k, _, _ in keys]) + " |")
    if table.paired:
        titles = {k: t for k, t, _ in METRICS}
        lines += [
            "",
            "Paired against the best method of each metric (difference on the same images, mean and 95 % "
            "t-interval; * = the interval excludes 0, so the best method is better on these images):",
            "",
            "| metric | best | method | difference |",
            "|---|---|---|---|",
        ]
        for r in table.paired:
            star = " *" if (r["ci_low"] > 0 or r["ci_high"] < 0) else ""
            lines.append(
                f"| {titles[r['metric']]} | {r['best']} | {r['method']} | {r['mean']:+.4f} "
                f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]{star} |"
            )
    return "\n".join(lines) + "\n"


def curves_png(table: EvaluationTable) -> bytes:
    """PNG bytes of the mean deletion and insertion curves of every method (matplotlib, no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    from matplotlib import colormaps

    # tab10 repeats after ten methods; tab20 plus a dash pattern keeps up to 40 apart
    colors = colormaps["tab20"].colors
    styles = ("-", "--")
    for ax, kind, better in zip(axes, ("deletion", "insertion"), ("lower", "higher")):
        for i, (method, c) in enumerate(table.curves.items()):
            auc = table.value(method, f"{kind}_auc")["mean"]
            ax.plot(
                c["fractions"],
                c[kind],
                color=colors[(2 * i) % 20 + (i // 10) % 2],
                linestyle=styles[(i // 20) % 2],
                linewidth=1.4,
                label=f"{method} (AUC {auc:.3f})",
            )
        ax.set_title(f"Mean {kind} curve (AUC: {better} is better)")
        ax.set_xlabel(f"fraction of pixels {'removed' if kind == 'deletion' else 'inserted'}")
        ax.set_ylabel("probability of the class explained")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()
