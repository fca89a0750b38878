"""``cnnvis explain --target-type segmentation|box``: CAMs of a segmentation or detection model.

For each image the target is fixed once, from the first framework's output: for segmentation the
pixels predicted as ``--category`` (default: the category predicted on most pixels) and that
category's logits summed over them (:class:`~visualization.core.score_targets.SemanticSegmentationTarget`);
for detection the ``--box`` given (default: the best-scoring detection) and the score of the
prediction that matches it (:class:`~visualization.core.score_targets.DetectionBoxTarget`). Each
image gets one row: the photo with the mask or the box drawn on it, then one overlay per method.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import LayerOutputError, TargetError, VisualizationError
from ..core.image import overlay
from ..core.outputs import describe_output, wrap
from ..core.score_targets import box_iou, sample_output
from ..core.weights import load_weights
from ..frameworks import METHOD_OPTIONS, Framework, get_frameworks
from .html import HtmlReport


def _numpy(fw: Framework, value: Any) -> np.ndarray:
    return fw.backend.to_numpy(value) if fw.backend.is_tensor(value) else np.asarray(value)


def segmentation_targets(job: Any, fw: Framework, outputs: Any) -> list[tuple[int, np.ndarray]]:
    """``(category, mask)`` per image from a ``(N, K, H, W)`` output."""
    if not fw.backend.is_tensor(outputs) or len(outputs.shape) != 4:
        raise TargetError(
            f"--target-type segmentation needs a segmentation output (N, K, H, W); the model returned "
            f"{describe_output(outputs)}. For a dict output pass --output with its key (e.g. --output out)."
        )
    pred = _numpy(fw, outputs).argmax(axis=1)
    k = int(outputs.shape[1])
    if job.category is not None and not 0 <= job.category < k:
        raise TargetError(f"--category {job.category} is not a category of this model (0..{k - 1}).")
    out = []
    for p in pred:
        category = job.category if job.category is not None else int(np.bincount(p.ravel(), minlength=k).argmax())
        mask = p == category
        out.append((category, mask if mask.any() else np.ones_like(mask)))
    return out


def box_targets(job: Any, fw: Framework, outputs: Any, n: int) -> list[tuple[int, np.ndarray]]:
    """``(label, box)`` per image from detections (a dict per image with boxes, labels, scores)."""
    rows = []
    for i in range(n):
        det = sample_output(outputs, i) if isinstance(outputs, (list, tuple, Mapping)) else None
        if not (isinstance(det, Mapping) and {"boxes", "labels", "scores"} <= set(det)):
            raise TargetError(
                "--target-type box needs detections: per image a dict with 'boxes' (M, 4), 'labels' (M,) and "
                f"'scores' (M,); the model returned {describe_output(outputs)}. A classifier is explained with "
                "--target-type class."
            )
        boxes = _numpy(fw, det["boxes"]).reshape(-1, 4)
        labels = _numpy(fw, det["labels"]).reshape(-1).astype(np.int64)
        scores = _numpy(fw, det["scores"]).reshape(-1)
        if job.box is not None:
            box = np.asarray(job.box, np.float64)
            j = int(np.argmax(box_iou(boxes, box))) if len(boxes) else -1
            label = job.box_label if job.box_label is not None else (int(labels[j]) if j >= 0 else 0)
        else:
            if not len(scores):
                raise TargetError(f"Image {i}: the model detected nothing; pass --box x1,y1,x2,y2 and --box-label.")
            j = int(scores.argmax())
            box, label = boxes[j], int(labels[j])
        rows.append((label, np.asarray(box, np.float64)))
    return rows


def _row_figure(image: np.ndarray, kind: str, what: Any, maps: Sequence[tuple[str, np.ndarray]], title: str) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(2.4 * (1 + len(maps)), 2.8), layout="constrained")
    axes = fig.subplots(1, 1 + len(maps), squeeze=False)[0]
    axes[0].imshow(image)
    if kind == "segmentation":
        category, mask = what
        tint = np.zeros((*mask.shape, 4))
        tint[mask] = (1.0, 0.1, 0.6, 0.45)
        axes[0].imshow(tint)
        axes[0].set_title(f"mask: category {category}", fontsize=9)
    else:
        label, box = what
        axes[0].add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, color="lime", lw=2))
        axes[0].set_title(f"box: label {label}", fontsize=9)
    for ax, (name, heat) in zip(axes[1:], maps):
        ax.imshow(overlay(image, heat, alpha=0.5))
        if kind == "box":
            ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, color="lime", lw=1))
        else:
            ax.contour(mask.astype(float), levels=[0.5], colors="white", linewidths=0.8)
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    return fig


def build_dense_report(job: Any, out: str | Path, force: bool = False) -> tuple[Path, list[dict[str, Any]]]:
    """The report of ``job`` (``job.target_type`` is ``"segmentation"`` or ``"box"``)."""
    from .explain import build_model

    fws = get_frameworks(job.frameworks)
    kind = job.target_type
    if any(fw.name == "keras" for fw in fws):
        raise VisualizationError(
            f"--target-type {kind} reports run in PyTorch and PaddlePaddle; with Keras only class targets "
            "(--target-type class) are reported. Use --framework torch or paddle, or the Keras targets in Python: "
            "visualization.keras.targets with a CAM class's compute(x, targets)."
        )
    report = HtmlReport(job.title or f"cnn-visualization report: {job.model} ({kind} targets)")
    report.add_text(
        f"Model {job.model} ({', '.join(f'{f.display} {f.version()}' for f in fws)}); images: "
        f"{', '.join(im.name for im in job.images)}; methods: {', '.join(job.methods)}. "
        + (
            "Target: the sum of the category's logits over the pixels predicted as that category (the mask)."
            if kind == "segmentation"
            else f"Target: the score of the detection with the box's label that overlaps it most "
            f"(IoU at least {job.iou_threshold})."
        )
    )
    fixed: list[tuple[int, np.ndarray]] | None = None
    runs: list[dict[str, Any]] = []
    for fw in fws:
        model = build_model(job.model, fw)
        if job.weights:
            load_weights(fw.backend, model, job.weights)
        x = fw.tensor(model, np.stack([im.array for im in job.images]))
        with fw.backend.eval_mode(model):
            outputs = wrap(model, job.output)(x)
        if fixed is None:
            if kind == "segmentation":
                fixed = segmentation_targets(job, fw, outputs)
            else:
                fixed = box_targets(job, fw, outputs, len(job.images))
        tg = importlib.import_module(f"{fw.layers.__package__}.targets")
        if kind == "segmentation":
            targets = [tg.SemanticSegmentationTarget(c, m) for c, m in fixed]
        else:
            targets = [tg.DetectionBoxTarget([label], box[None], job.iou_threshold) for label, box in fixed]
        results: dict[str, Any] = {}
        notes = []
        for method in job.methods:
            cls = fw.cam_classes[method]
            options = dict(METHOD_OPTIONS.get(method, {}))
            cam = cls(model, job.layer, reshape_transform=job.reshape, output=job.output, **options)
            try:
                results[cam.method_name] = cam.compute(x, targets)
            except (LayerOutputError, TargetError) as err:
                notes.append(f"{cam.method_name} does not apply here: {err}")
        if not results:
            raise VisualizationError("No CAM method could run on this model: " + " ".join(notes))
        layer = next(iter(results.values())).layer_name
        report.add_heading(f"{fw.display}: class activation maps at '{layer}'")
        for note in notes:
            report.add_text(note)
        for i, im in enumerate(job.images):
            maps = [(name, r.heatmaps[i]) for name, r in results.items()]
            fig = _row_figure(im.display, kind, fixed[i], maps, f"{im.name} ({fw.display})")
            report.add_figure(fig, f"{fw.name}_{kind}_{i}.webp", f"{fw.display}: {im.name}", photo=True)
        runs.append({"framework": fw.name, "results": results, "targets": fixed})
    if len(runs) == 2:
        report.add_heading("PyTorch vs PaddlePaddle")
        rows = [
            [name, f"{np.abs(r.heatmaps - runs[1]['results'][name].heatmaps).max():.2e}"]
            for name, r in runs[0]["results"].items()
            if name in runs[1]["results"]
        ]
        report.add_table(["method", "max |heatmap difference|"], rows)
    return report.write(out, force=force), runs
