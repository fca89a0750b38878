"""The report pipeline behind ``cnnvis demo`` and ``cnnvis explain``.

For each framework: predictions (top-5 with class names), the stem's filters, feature maps at three
depths (plus an interactive view), gradients, and every requested CAM method for the predicted class
and a contrast class, with timings. With two or three frameworks, a table of how far apart their numbers
are, for every pair. The class explained is fixed once (from the first framework's logits) so every
framework explains the same classes.

Images enter each framework as its users hold them (:meth:`Framework.tensor`: channels-last for Keras);
calls to the backend itself take the adapter's input (:meth:`Backend.prepare_input`).
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.cam import CAMResult, auto_layer
from ..core.errors import LayerOutputError, VisualizationError
from ..core.image import to_display_image
from ..core.outputs import wrap
from ..core.weights import load_weights
from ..frameworks import DISPLAY, METHOD_OPTIONS, Framework, get_frameworks
from .html import HtmlReport
from .interactive import cam_explorer

logger = logging.getLogger("visualization")

#: Layer choices that make the pretrained zoo models' reports readable.
ZOO_LAYERS = {
    "efficientnet-lite0": {
        "stem": "_conv_stem",
        "features": ["_blocks.2", "_blocks.4", "_blocks.10"],
        # _act1 (1280 x 7 x 7, after ReLU6, pooled straight into _fc): every CAM method is defined there
        # and they agree (docs/images/cam_family.png); _blocks.15 is a signed linear bottleneck on which
        # Score-CAM, Ablation-CAM and Eigen-CAM disagree with the gradient methods and CAM does not apply
        "cam": "_act1",
    },
    "catdogcnn": {"stem": "conv1", "features": ["conv1", "conv2", "conv3"], "cam": "conv3"},
}
CAT_CLASSES = range(281, 286)
DOG_CLASSES = range(151, 269)


@dataclass
class ImageInput:
    """One preprocessed image: its display name, the network input ``(3, H, W)`` and the RGB crop."""

    name: str
    array: np.ndarray
    display: np.ndarray


@dataclass
class ExplainJob:
    """Everything a report needs to be built (the CLI fills it from its options)."""

    model: str
    frameworks: Sequence[str]
    images: Sequence[ImageInput]
    methods: Sequence[str] = ("gradcam", "gradcampp", "scorecam")
    layer: str | None = None
    target: int | None = None
    weights: str | None = None
    class_names: Sequence[str] | None = None
    stem_layer: str | None = None
    feature_layers: Sequence[str] | None = None
    contrast: bool = True
    scorecam_batch_size: int = 32
    title: str | None = None
    progress: bool = True
    reshape: str | None = None  # reshape_transform of token layers: None (auto), "vit", "swin"
    output: Any = None  # the part of a tuple / dict output to explain (key or index)
    target_type: str = "class"  # class | segmentation | box (see visualization.report.dense)
    category: int | None = None  # segmentation: the category (default: the one predicted on most pixels)
    box: tuple[float, float, float, float] | None = None  # box: x1, y1, x2, y2 (default: the best detection)
    box_label: int | None = None
    iou_threshold: float = 0.5


@dataclass
class FrameworkRun:
    framework: str
    logits: np.ndarray
    results: dict[tuple[str, str], CAMResult] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    targets: dict[str, np.ndarray] = field(default_factory=dict)


def build_model(spec: str, fw: Framework) -> Any:
    """A zoo name (see ``visualization.models``) or ``package.module:factory`` called with no arguments."""
    if ":" in spec:
        module_name, _, attr = spec.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise VisualizationError(
                f"Could not load the model factory {spec!r} ({type(exc).__name__}: {exc}). Give "
                "'package.module:function' importable from the current directory or PYTHONPATH."
            ) from exc
        model = factory()
        fw.backend.check_model(model)
        return model
    from ..models import load_model

    return load_model(spec, framework=fw.name)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def contrast_classes(logits: np.ndarray) -> np.ndarray:
    """A second class worth explaining for each image: for a cat, the most likely dog; for a dog,
    the most likely cat (ImageNet-1k); otherwise the runner-up."""
    out = np.empty(len(logits), np.int64)
    for i, z in enumerate(logits):
        top = int(z.argmax())
        if logits.shape[1] == 1000 and (top in CAT_CLASSES or top in DOG_CLASSES):
            pool = DOG_CLASSES if top in CAT_CLASSES else CAT_CLASSES
            out[i] = max(pool, key=lambda c: z[c])
        else:
            out[i] = int(np.argsort(-z)[1]) if z.size > 1 else top
    return out


def _class_name(names: Sequence[str] | None, c: int) -> str:
    return names[c] if names is not None and 0 <= c < len(names) else f"class {c}"


def _timed(timings: dict[str, float], key: str, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and add its wall time to ``timings[key]`` (steps run several times add up)."""
    t0 = time.perf_counter()
    out = fn()
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
    return out


def _auto_depths(fw: Framework, model: Any, x: Any) -> list[str]:
    """Three layers at early, middle and late resolutions (the last layer of each resolution)."""
    with fw.backend.eval_mode(model):
        calls = fw.backend.trace_outputs(model, x)
    counts: dict[str, int] = {}
    for name, _ in calls:
        counts[name] = counts.get(name, 0) + 1
    by_res: dict[tuple[int, int], str] = {}
    for name, shape in calls:
        if shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1 and counts[name] == 1:
            by_res[shape[2], shape[3]] = name
    res = list(by_res)
    if not res:
        return []
    picks = [res[min(1, len(res) - 1)], res[len(res) // 2], res[-1]]
    return list(dict.fromkeys(by_res[r] for r in picks))


def _first_conv(fw: Framework, model: Any) -> str | None:
    for name, layer in fw.backend.named_layers(model):
        if fw.backend.conv_kernel(layer) is not None:
            return name
    return None


def prepare(job: ExplainJob, fw: Framework) -> tuple[Any, Any, np.ndarray, float]:
    """Build the model (and load weights), the input tensor (as the framework's users hold it), and time
    one prediction."""
    model = build_model(job.model, fw)
    if job.weights:
        load_weights(fw.backend, model, job.weights)
    x = fw.tensor(model, np.stack([im.array for im in job.images]))
    net = wrap(model, job.output)
    xi = fw.backend.prepare_input(model, x)  # the adapter's own layout, for the backend's calls
    fw.backend.predict(net, xi)  # warm-up: the first call pays one-time allocations and kernel choice
    t0 = time.perf_counter()
    logits = fw.backend.predict(net, xi)
    return model, x, logits, time.perf_counter() - t0


def choose_targets(job: ExplainJob, logits: np.ndarray) -> dict[str, np.ndarray]:
    """The classes every framework explains: predicted (or ``job.target``) and, optionally, a contrast."""
    pred = logits.argmax(axis=1)
    targets = {"predicted": pred} if job.target is None else {"requested": np.full(len(pred), job.target)}
    if job.contrast and job.target is None and logits.ndim == 2 and logits.shape[1] > 1:
        targets["contrast"] = contrast_classes(logits)
    return targets


def run_framework(
    job: ExplainJob,
    fw: Framework,
    prepared: tuple[Any, Any, np.ndarray, float],
    targets: dict[str, np.ndarray],
    report: HtmlReport,
    tick: Callable[[str], None],
) -> FrameworkRun:
    """Compute and add one framework's sections to ``report``; returns its numbers."""
    model, x, logits, t_forward = prepared
    zoo = ZOO_LAYERS.get(job.model, {})
    names = job.class_names
    run = FrameworkRun(fw.name, logits, timings={"forward": t_forward})
    tag = fw.display
    run.targets = targets

    # ---- filters, feature maps, gradients
    # the views of several layers (convolutions too) read token layers by their shape; --reshape is for the CAMs
    viz = fw.layers.CNNLayerVisualizer(model, output=job.output)
    stem = job.stem_layer or zoo.get("stem") or _first_conv(fw, model)
    report.add_heading(f"{tag}: filters and feature maps")
    if stem is not None:
        fig = _timed(run.timings, "filters", lambda: viz.visualize_conv_filters(stem, max_filters=32))
        report.add_figure(fig, f"{fw.name}_filters_{_safe(stem)}.webp", f"{tag}: the first 32 filters of '{stem}'.")
    x0 = x[:1]
    x0_backend = fw.backend.prepare_input(model, x0)
    depths = list(job.feature_layers or zoo.get("features") or _auto_depths(fw, model, x0_backend))
    for layer in depths:
        fig = _timed(
            run.timings,
            "feature maps",
            lambda layer=layer: viz.visualize_feature_maps(x0, layer, max_maps=16, order="activation"),
        )
        report.add_figure(
            fig,
            f"{fw.name}_features_{_safe(layer)}.webp",
            f"{tag}: the 16 most active channels of '{layer}' for {job.images[0].name}.",
        )
    tick(f"{tag}: feature maps")
    if depths and fw.name == job.frameworks[0]:
        mid = depths[len(depths) // 2]
        report.add_plotly(
            viz.visualize_feature_maps_interactive(x0, mid),
            f"{fw.name}-fmaps-{mid}",
            f"Every channel of '{mid}' for {job.images[0].name}: move the slider; the buttons switch the colour scale.",
        )
    cam_layer = job.layer or zoo.get("cam")
    if cam_layer is None:  # resolve once, so gradients and every CAM look at the same layer
        cam_layer = auto_layer(fw.backend, wrap(model, job.output), x0_backend)[0]

    def make_cam(method: str) -> Any:
        cls = fw.cam_classes[method]
        options = dict(METHOD_OPTIONS.get(method, {}))
        if cls.__name__ in ("ScoreCAM", "AblationCAM"):
            options["batch_size"] = job.scorecam_batch_size
        return cls(model, cam_layer, reshape_transform=job.reshape, output=job.output, **options)

    cams = {m: make_cam(m) for m in job.methods}
    grad_layer = cam_layer
    first_target = next(iter(targets.values()))
    report.add_heading(f"{tag}: gradients at '{grad_layer}'")
    fig = _timed(run.timings, "gradients", lambda: viz.visualize_gradients(x0, int(first_target[0]), grad_layer))
    report.add_figure(
        fig,
        f"{fw.name}_gradients.webp",
        f"{tag}: how the score of '{_class_name(names, int(first_target[0]))}' reaches '{grad_layer}' for {job.images[0].name}.",
    )
    tick(f"{tag}: gradients")

    # ---- CAMs
    kinds = list(targets)
    skipped = []
    for method, cam in list(cams.items()):
        # one call for every class: Score-CAM then runs its masked inputs once for all of them
        try:
            results = _timed(
                run.timings, cam.method_name, lambda cam=cam: cam.compute_many(x, [targets[k].tolist() for k in kinds])
            )
        except LayerOutputError as err:  # e.g. CAM at a layer that is not pooled straight into the classifier
            skipped.append(f"{cam.method_name} does not apply here: {err}")
            del cams[method]
            continue
        for kind, res in zip(kinds, results):
            run.results[method, kind] = res
        tick(f"{tag}: {cam.method_name}")
    if not cams:  # the same reason (a 1x1 layer, say) is said once, naming the methods it stopped
        reasons: dict[str, list[str]] = {}
        for note in skipped:
            name, reason = note.split(" does not apply here: ", 1)
            reasons.setdefault(reason, []).append(name)
        raise VisualizationError(
            "No CAM method could run at this layer. "
            + " ".join(f"{', '.join(names)}: {reason}" for reason, names in reasons.items())
        )
    layer_name = next(iter(run.results.values())).layer_name
    report.add_heading(f"{tag}: class activation maps at '{layer_name}'")
    report.add_text(
        "Rows: the class explained (the predicted class, then a contrast class: for a cat the most likely "
        "dog, for a dog the most likely cat, otherwise the runner-up). Columns: the methods. Each map is "
        "scaled to [0, 1]."
    )
    for note in skipped:
        report.add_text(note)
    from ..core.plotting.figures import cam_comparison_figure

    for i, im in enumerate(job.images):
        per_method = []
        for method in cams:
            rs = [run.results[method, kind] for kind in targets]
            per_method.append(
                dataclasses.replace(
                    rs[0],
                    heatmaps=np.stack([r.heatmaps[i] for r in rs]),
                    targets=np.array([r.targets[i] for r in rs]),
                    outputs=np.stack([r.outputs[i] for r in rs]),
                )
            )
        fig = cam_comparison_figure(
            [im.display] * len(targets),
            per_method,
            alpha=0.5,
            cmap="jet",
            class_names=names,
            row_labels=[f"{kind} class" for kind in targets],
            title=f"{im.name}: CAM methods at '{layer_name}' ({tag})",
        )
        report.add_figure(fig, f"{fw.name}_cams_{i}_{_safe(im.name)}.webp", f"{tag}: {im.name}", photo=True)
        if fw.name == job.frameworks[0]:
            layers = [
                (
                    f"{cams[m].method_name} · {_class_name(names, int(run.results[m, k].targets[i]))}",
                    run.results[m, k].heatmaps[i],
                )
                for k in targets
                for m in cams
            ]
            report.add_plotly(
                cam_explorer(im.display, layers, f"{im.name}: choose a map, drag the opacity"),
                f"{fw.name}-explorer-{i}",
            )
    return run


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)[:60]


def predictions_table(report: HtmlReport, job: ExplainJob, logits: np.ndarray, k: int = 5) -> None:
    probs = _softmax(logits.astype(np.float64))
    rows = []
    for i, im in enumerate(job.images):
        for rank, c in enumerate(np.argsort(-probs[i])[:k], start=1):
            rows.append(
                [im.name if rank == 1 else "", rank, int(c), _class_name(job.class_names, int(c)), float(probs[i, c])]
            )
    report.add_heading("Predictions")
    report.add_table(["image", "rank", "class", "name", "probability"], rows)


def framework_pairs(runs: Sequence[FrameworkRun]) -> list[tuple[FrameworkRun, FrameworkRun]]:
    """Every pair of runs, in report order: (torch, paddle), (torch, keras), (paddle, keras)."""
    return [(a, b) for i, a in enumerate(runs) for b in runs[i + 1 :]]


def parity_section(report: HtmlReport, runs: Sequence[FrameworkRun]) -> list[list[Any]]:
    """The table of how far the frameworks' numbers are apart: one column per pair of frameworks, one row
    for the logits and one per (method, class) heatmap; then the wall time of each step per framework."""
    pairs = framework_pairs(runs)
    rows: list[list[Any]] = [["logits", *(float(np.abs(a.logits - b.logits).max()) for a, b in pairs)]]
    for key, ra in runs[0].results.items():
        diffs = [
            float(np.abs(a.results[key].heatmaps - b.results[key].heatmaps).max())
            if key in a.results and key in b.results
            else "-"
            for a, b in pairs
        ]
        rows.append([f"{ra.method} heatmap ({key[1]} class)", *diffs])
    report.add_heading(" versus ".join(DISPLAY[r.framework] for r in runs))
    report.add_text(
        f"Largest absolute difference between {'the two' if len(runs) == 2 else 'each pair of'} frameworks on the "
        "same weights and inputs (heatmaps are in [0, 1])."
    )
    report.add_table(["quantity", *(f"max |{a.framework} - {b.framework}|" for a, b in pairs)], rows)
    timing_rows = [[k, *(round(r.timings.get(k, float("nan")) * 1000, 1) for r in runs)] for k in runs[0].timings]
    report.add_table(
        ["step (whole batch)", *(f"{DISPLAY[r.framework]} ms" for r in runs)],
        timing_rows,
        caption="Wall time of each step",
    )
    return rows


def build_report(job: ExplainJob, out: str | Path, force: bool = False) -> tuple[Path, list[FrameworkRun]]:
    """Run ``job`` and write ``out/report.html`` with its PNG files (atomically)."""
    from tqdm.auto import tqdm

    from .html import check_output_folder

    check_output_folder(out, force)  # before any work: a file or a full folder is refused now, not at the end

    if job.target_type != "class":
        from .dense import build_dense_report

        return build_dense_report(job, out, force=force)  # type: ignore[return-value]

    fws = get_frameworks(job.frameworks)  # Paddle imported first: it cannot follow TensorFlow
    job.frameworks = [f.name for f in fws]
    steps = len(fws) * (3 + len(job.methods))
    bar = tqdm(total=steps, desc="cnnvis", disable=not job.progress, unit="step")

    def tick(label: str) -> None:
        bar.set_postfix_str(label[:40])
        bar.update(1)

    report = HtmlReport(job.title or f"cnn-visualization report: {job.model}")
    report.add_text(
        f"Model {job.model} ({', '.join(f'{f.display} {f.version()}' for f in fws)}); "
        f"images: {', '.join(im.name for im in job.images)}; methods: {', '.join(job.methods)}."
    )
    runs: list[FrameworkRun] = []
    try:
        prepared = []
        for fw in fws:
            prepared.append(prepare(job, fw))
            tick(f"{fw.display}: model and predictions")
        targets = choose_targets(job, prepared[0][2])
        predictions_table(report, job, prepared[0][2])
        for fw, prep in zip(fws, prepared):
            runs.append(run_framework(job, fw, prep, targets, report, tick))
    finally:
        bar.close()
    if len(runs) > 1:
        parity_section(report, runs)
    else:
        report.add_heading("Timings")
        report.add_table(
            ["step (whole batch)", f"{fws[0].display} ms"],
            [[k, round(v * 1000, 1)] for k, v in runs[0].timings.items()],
        )
    structure_section(report, fws[0], prepared[0][0], prepared[0][1])
    return report.write(out, force=force), runs


def structure_section(report: HtmlReport, fw: Framework, model: Any, x: Any) -> None:
    """The section "Model structure": every layer call with output shape, parameters and receptive field
    (see :mod:`visualization.core.structure`), traced on the first image, folded under a summary line."""
    from ..core.structure import structure_html

    structure = importlib.import_module(f"{fw.layers.__package__}.structure").model_structure(model, x[:1])
    report.add_heading("Model structure")
    report.add_text(
        f"Traced with {fw.display} on the first image. Receptive field: the input pixels one output unit "
        "sees, r_out = r_in + (k - 1) * dilation * j_in along a chain of layers, with jump j_out = j_in * stride "
        "(input pixels between neighbouring units); at a residual add the larger field of the two branches."
    )
    report.add_html(
        f"<details><summary>Every layer call ({len(structure.rows)} rows; containers in italics)</summary>"
        f"{structure_html(structure)}</details>"
    )


def load_images(
    paths: Sequence[str | Path], size: int, mean: Sequence[float], std: Sequence[float]
) -> list[ImageInput]:
    """Open, crop and normalize image files (a folder contributes its image files, sorted)."""
    from ..models.image_files import open_rgb
    from ..models.imagenet import preprocess

    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(
                q for q in p.iterdir() if q.suffix.lower() in {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"}
            )
            if not found:
                raise VisualizationError(f"The folder {str(p)!r} holds no image files (.jpg, .png, ...).")
            files += found
        elif p.is_file():
            files.append(p)
        elif p.is_symlink():
            files.append(p)  # a broken link or a loop: open_rgb says which
        else:
            raise VisualizationError(f"Image {str(p)!r} does not exist. Pass image files or a folder of images.")
    images = []
    for f in files:
        rgb = open_rgb(f)  # EXIF-upright 8-bit RGB, or one message naming the file
        arr, crop = preprocess(rgb, size=size, resize=round(size * 256 / 224), mean=tuple(mean), std=tuple(std))
        images.append(ImageInput(f.name, arr, to_display_image(crop)))
    return images
