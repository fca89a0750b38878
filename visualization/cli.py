"""``cnnvis``: reports on what a CNN sees, from the command line.

Every user mistake ends with one clear message and exit status 2, never a traceback. Ctrl-C (SIGINT)
ends any command with exit status 130 (128 + SIGINT, what shells and CI expect), and every file in the
output folder is then complete: files are written atomically, a report appears only when whole.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from .core.errors import EXIT_INTERRUPTED, VisualizationError
from .frameworks import CAM_METHODS, DEFAULT_METHODS

DEMO_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif"}
_EPILOG_DEMO = "Example: cnnvis demo --framework all --out out/demo"
#: --framework of the report commands: one framework, 'both' (torch and Paddle) or 'all' (and Keras).
_REPORT_FRAMEWORKS = ["torch", "paddle", "keras", "both", "all"]


class UserError(click.ClickException):
    """A mistake in the command's input: printed as one message, exit status 2."""

    exit_code = 2


class _Group(click.Group):
    """The ``cnnvis`` group: Ctrl-C in any command exits with :data:`EXIT_INTERRUPTED`, not click's 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            click.echo(
                "\nInterrupted (Ctrl-C). Every file in the output folder is complete (a report is written only "
                "when whole); run the command again to start over (--images-dir and evaluate resume).",
                err=True,
            )
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _fail(exc: BaseException) -> UserError:
    return UserError(str(exc))


def _model_failed(exc: BaseException) -> UserError:
    """An exception from the user's model or framework: one message, the traceback only with -v."""
    if logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger("visualization").exception("traceback (shown because of --verbose):")
    text = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
    return UserError(
        f"The model failed on the input: {type(exc).__name__}: {text[:400]}\n"
        "Check --input-size (the size the model was built for), --weights and --layer; run with -v for the traceback."
    )


def model_errors(*extra: type[BaseException]) -> tuple[type[BaseException], ...]:
    """The exception types a user's model or its framework raises on a bad input or layer: Python's own,
    plus TensorFlow's ``OpError`` family where TensorFlow is loaded (it derives from ``Exception`` only)."""
    found: tuple[type[BaseException], ...] = (RuntimeError, ValueError, TypeError, IndexError, *extra)
    tf = sys.modules.get("tensorflow")
    op_error = getattr(getattr(tf, "errors", None), "OpError", None)
    return (*found, op_error) if isinstance(op_error, type) else found


def _write_failed(out: str, exc: OSError) -> UserError:
    """Writing the output failed (nothing half-written is left: every write goes through a temporary file)."""
    where = f" ({exc.filename})" if exc.filename else ""
    return UserError(
        f"Could not write the output under {out!r}: {exc.strerror or exc}{where}. "
        "Choose a folder you can write to, on a disk with free space."
    )


def _framework_list(choice: str) -> list[str]:
    from .frameworks import expand

    return expand(choice)


def _normalize_methods(methods: Sequence[str]) -> list[str]:
    out = []
    for m in methods:
        key = m.lower().replace("-", "").replace("_", "").replace("+", "p")
        if key not in CAM_METHODS:
            raise UserError(f"Unknown method {m!r}; choose from: {', '.join(CAM_METHODS)}.")
        out.append(key)
    return list(dict.fromkeys(out))


def _class_names(model: str, classes_file: str | None) -> list[str] | None:
    if classes_file:
        try:
            names = [
                line.strip() for line in Path(classes_file).read_text(encoding="utf-8").splitlines() if line.strip()
            ]
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(
                f"Could not read the class-names file {classes_file!r}: {exc}. "
                "Pass a UTF-8 text file with one class name per line."
            ) from exc
        return names
    if model == "efficientnet-lite0":
        from .models import imagenet_class_names

        return imagenet_class_names()
    if model == "catdogcnn":
        return ["cat", "dog"]
    return None


def _stats(model: str, mean: str | None, std: str | None) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from .models.imagenet import IMAGENET_MEAN, IMAGENET_STD, MEAN, STD

    default = (MEAN, STD) if model == "efficientnet-lite0" else (IMAGENET_MEAN, IMAGENET_STD)

    def parse(text: str | None, fallback: tuple[float, ...], what: str) -> tuple[float, ...]:
        if text is None:
            return tuple(fallback)
        try:
            vals = tuple(float(v) for v in text.split(","))
        except ValueError:
            vals = ()
        if len(vals) != 3:
            raise UserError(
                f"--{what} takes three comma-separated numbers on the 0..255 scale, e.g. 123.7,116.3,103.5; got {text!r}."
            )
        return vals

    return parse(mean, default[0], "mean"), parse(std, default[1], "std")


def _report(job: Any, out: str, force: bool) -> None:
    from .report.explain import build_report
    from .report.html import OutputExistsError

    t0 = time.perf_counter()
    try:
        path, runs = build_report(job, out, force=force)
    except (VisualizationError, OutputExistsError) as exc:
        raise _fail(exc) from exc
    except OSError as exc:  # the disk, not the model: full, read-only, removed under us
        raise _write_failed(out, exc) from exc
    except model_errors(KeyError, AssertionError) as exc:
        raise _model_failed(exc) from exc
    click.echo(f"Report written to {path / 'report.html'} in {time.perf_counter() - t0:.0f} s.")
    if len(runs) > 1:
        import numpy as np

        from .frameworks import DISPLAY
        from .report.explain import framework_pairs

        for a, b in framework_pairs(runs):
            diff = float(np.abs(a.logits - b.logits).max())
            click.echo(
                f"Largest logit difference between {DISPLAY[a.framework]} and {DISPLAY[b.framework]}: {diff:.2e}"
            )


def _report_options(default_out: str, default_framework: str, framework_help: str):
    """Options every report command shares (framework, output folder, --force, methods, progress)."""

    def decorate(fn):
        for option in reversed(
            [
                click.option(
                    "--framework",
                    type=click.Choice(_REPORT_FRAMEWORKS),
                    default=default_framework,
                    show_default=True,
                    help=framework_help,
                ),
                click.option(
                    "--out",
                    default=default_out,
                    show_default=True,
                    type=click.Path(file_okay=False),
                    help="Folder for report.html and its PNG files (created; see --force).",
                ),
                click.option("--force", is_flag=True, help="Replace the output folder if it exists and is not empty."),
                click.option(
                    "--method",
                    "methods",
                    multiple=True,
                    default=DEFAULT_METHODS,
                    show_default=True,
                    help=f"CAM method(s), from: {', '.join(CAM_METHODS)} (fastscorecam: Score-CAM on the top 40 "
                    "channels). Repeat the option for several.",
                ),
                click.option("--no-progress", is_flag=True, help="Hide the progress bar."),
            ]
        ):
            fn = option(fn)
        return fn

    return decorate


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="cnn-visualization")
@click.option("-v", "--verbose", is_flag=True, help="Log automatic choices (e.g. the target layer picked).")
def main(verbose: bool) -> None:
    """See inside convolutional networks: filters, feature maps, gradients and class activation maps,
    in PyTorch, PaddlePaddle and Keras, written to one self-contained HTML report.

    \b
    Start with:  cnnvis demo --framework both   (or all: PyTorch, PaddlePaddle and Keras)
    Your model:  cnnvis explain --model mypkg.nets:build --weights w.pt --image cat.jpg
    In Keras:    cnnvis explain --framework keras --model mypkg.nets:build --weights w.weights.h5 --image cat.jpg
    """
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")


@main.command(epilog=_EPILOG_DEMO)
@_report_options(
    "out/demo",
    "both",
    "Framework(s) to run: 'both' is PyTorch and PaddlePaddle, 'all' adds Keras; with more than one, a table "
    "shows how far each pair's numbers are apart.",
)
def demo(framework: str, out: str, force: bool, methods: Sequence[str], no_progress: bool) -> None:
    """Report on the pretrained EfficientNet-Lite0 (ImageNet) and four CC0 photos bundled with
    scikit-image (a cat, a coffee cup, an astronaut, a rocket): top-5 predictions, the stem's filters,
    feature maps at three depths, gradients, and Grad-CAM / Grad-CAM++ / Score-CAM for the predicted
    class and a contrast class (for the cat: the most likely dog). Nothing is downloaded."""
    from skimage import data

    from .core.image import to_display_image
    from .models.imagenet import MEAN, STD, preprocess
    from .report.explain import ExplainJob, ImageInput

    images = []
    for name in DEMO_PHOTOS:
        arr, crop = preprocess(getattr(data, name)(), mean=MEAN, std=STD)
        images.append(ImageInput(f"{name} (scikit-image, CC0)", arr, to_display_image(crop)))
    job = ExplainJob(
        model="efficientnet-lite0",
        frameworks=_framework_list(framework),
        images=images,
        methods=_normalize_methods(methods),
        class_names=_class_names("efficientnet-lite0", None),
        title="cnn-visualization demo: EfficientNet-Lite0 on four photos",
        progress=not no_progress,
    )
    _report(job, out, force)


@main.command(
    epilog="Example: cnnvis explain --model efficientnet-lite0 --image cat.jpg --method gradcam --out out/cat"
)
@_report_options(
    "out/explain",
    "torch",
    "Framework of the model ('both' and 'all' only for zoo models, which exist in every framework). "
    "Keras models take channels-last images; the report is the same.",
)
@click.option(
    "--model",
    "model_spec",
    default="efficientnet-lite0",
    show_default=True,
    help="A zoo name (efficientnet-lite0, catdogcnn) or 'package.module:factory' returning your model.",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    help="Weights to load, read without running code from them: torch state dicts with weights_only=True, "
    "Paddle .pdparams with a restricted unpickler (arrays and plain data only), Keras .weights.h5 files "
    "(model.save_weights) as plain HDF5 arrays.",
)
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(),
    help="Image file or folder of images; repeat for several (or use --images-dir).",
)
@click.option(
    "--images-dir",
    type=click.Path(file_okay=False),
    help="Stream a whole folder (sub-folders too) batch by batch: per-image heatmaps (.npz), overlay PNGs and "
    "OUT/index.csv instead of one HTML report; run it again to resume (finished images are skipped; --force "
    "recomputes them all).",
)
@click.option(
    "--batch-size",
    default=16,
    show_default=True,
    type=click.IntRange(1, 4096),
    help="Images per batch with --images-dir.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="With --images-dir: run here, or map the batches over Ray actors that each hold the model "
    '(Ray Data; pip install "cnn-visualization[ray]"). Same output files either way.',
)
@click.option(
    "--workers",
    type=click.IntRange(1, 4096),
    help="With --engine ray: how many actors (one CPU and one model copy each; default: all CPUs).",
)
@click.option(
    "--ray-address",
    help="With --engine ray: a running cluster (ray://host:10001 or auto); default: start a local Ray.",
)
@click.option(
    "--layer",
    help="Target layer for the CAMs (dotted name; default: the zoo's choice or the last "
    "layer with a spatial output). `cnnvis layers` lists them.",
)
@click.option("--target", type=int, help="Class index to explain (default: the predicted class and a contrast class).")
@click.option(
    "--reshape",
    type=click.Choice(["auto", "vit", "swin"]),
    default="auto",
    show_default=True,
    help="How a transformer layer's tokens become maps: ViT (N, 1 + h*w, C), Swin (N, h, w, C), or decided "
    "from the output's shape.",
)
@click.option("--output", "output_spec", help="For a model returning a tuple or dict: the index or key to explain.")
@click.option(
    "--target-type",
    type=click.Choice(["class", "segmentation", "box"]),
    default="class",
    show_default=True,
    help="What to explain: a class score, a segmentation category over its predicted pixels (--category), "
    "or a detection box (--box, --box-label, --iou-threshold).",
)
@click.option("--category", type=click.IntRange(0), help="Segmentation: the category (default: most pixels).")
@click.option("--box", help="Box target: x1,y1,x2,y2 in input pixels (default: the best-scoring detection).")
@click.option(
    "--box-label", type=click.IntRange(0), help="Box target: the label (default: the best-matching detection's)."
)
@click.option(
    "--iou-threshold", default=0.5, show_default=True, type=click.FloatRange(0, 1), help="Box target: IoU to match."
)
@click.option(
    "--classes", "classes_file", type=click.Path(dir_okay=False), help="Text file with one class name per line."
)
@click.option(
    "--input-size", default=224, show_default=True, type=click.IntRange(8, 2048), help="Side of the centre crop."
)
@click.option("--mean", help="Per-channel mean on the 0..255 scale (default: the zoo model's, else ImageNet's).")
@click.option("--std", help="Per-channel std on the 0..255 scale (default: the zoo model's, else ImageNet's).")
def explain(
    framework: str,
    model_spec: str,
    weights: str | None,
    images: Sequence[str],
    images_dir: str | None,
    batch_size: int,
    engine: str,
    workers: int | None,
    ray_address: str | None,
    layer: str | None,
    methods: Sequence[str],
    target: int | None,
    reshape: str,
    output_spec: str | None,
    target_type: str,
    category: int | None,
    box: str | None,
    box_label: int | None,
    iou_threshold: float,
    classes_file: str | None,
    input_size: int,
    mean: str | None,
    std: str | None,
    out: str,
    force: bool,
    no_progress: bool,
) -> None:
    """The demo's report for your own model and images."""
    from .report.explain import ExplainJob, load_images

    if framework in ("both", "all") and ":" in model_spec:
        raise UserError(
            f"--framework {framework} needs a zoo model (the same network in every framework); "
            "for your own model pick --framework torch, paddle or keras."
        )
    m, s = _stats(model_spec, mean, std)
    dense = _dense_options(reshape, output_spec, target_type, category, box, box_label, target)
    if (images_dir is not None or not images) and (dense["target_type"] != "class" or dense["reshape"] or output_spec):
        raise UserError(
            "--reshape, --output and --target-type segmentation|box work with --image (one report); "
            "--images-dir streams class targets of CNN layers only."
        )
    if images_dir is not None or not images:
        from .report.stream_cli import run_stream

        run_stream(
            images=images,
            images_dir=images_dir,
            framework=framework,
            model_spec=model_spec,
            weights=weights,
            layer=layer,
            methods=_normalize_methods(methods),
            target=target,
            class_names=_class_names(model_spec, classes_file),
            input_size=input_size,
            mean=m,
            std=s,
            batch_size=batch_size,
            out=out,
            force=force,
            progress=not no_progress,
            engine=engine,
            workers=workers,
            ray_address=ray_address,
        )
        return
    if engine != "local" or workers is not None or ray_address is not None:
        raise UserError("--engine ray, --workers and --ray-address stream a folder: use them with --images-dir DIR.")
    try:
        imgs = load_images(images, input_size, m, s)
    except VisualizationError as exc:
        raise _fail(exc) from exc
    job = ExplainJob(
        model=model_spec,
        frameworks=_framework_list(framework),
        images=imgs,
        methods=_normalize_methods(methods),
        layer=layer,
        target=target,
        weights=weights,
        class_names=_class_names(model_spec, classes_file),
        progress=not no_progress,
        iou_threshold=iou_threshold,
        **dense,
    )
    _report(job, out, force)


def _dense_options(
    reshape: str,
    output_spec: str | None,
    target_type: str,
    category: int | None,
    box: str | None,
    box_label: int | None,
    target: int | None,
) -> dict[str, Any]:
    """The ExplainJob fields of --reshape, --output and --target-type, checked against each other."""
    if target_type != "segmentation" and category is not None:
        raise UserError("--category goes with --target-type segmentation.")
    if target_type != "box" and (box is not None or box_label is not None):
        raise UserError("--box and --box-label go with --target-type box.")
    if target_type != "class" and target is not None:
        raise UserError(f"--target is a class index; with --target-type {target_type} use --category or --box.")
    parsed = None
    if box is not None:
        try:
            parsed = tuple(float(v) for v in box.split(","))
        except ValueError:
            parsed = ()
        if len(parsed) != 4 or not (parsed[0] < parsed[2] and parsed[1] < parsed[3]):
            raise UserError(f"--box takes x1,y1,x2,y2 in input pixels with x1 < x2 and y1 < y2; got {box!r}.")
    output: Any = output_spec
    if output_spec is not None and output_spec.lstrip("-").isdigit():
        output = int(output_spec)
    return {
        "reshape": None if reshape == "auto" else reshape,
        "output": output,
        "target_type": target_type,
        "category": category,
        "box": parsed,
        "box_label": box_label,
    }


@main.command(epilog="Example: cnnvis layers --model efficientnet-lite0 --input-size 224")
@click.option("--framework", type=click.Choice(["torch", "paddle", "keras"]), default="torch", show_default=True)
@click.option(
    "--model",
    "model_spec",
    default="efficientnet-lite0",
    show_default=True,
    help="A zoo name or 'package.module:factory'.",
)
@click.option(
    "--input-size",
    default=224,
    show_default=True,
    type=click.IntRange(8, 4096),
    help="Side of the square input used to trace output shapes.",
)
@click.option("--channels", default=3, show_default=True, type=click.IntRange(1, 64), help="Input channels.")
@click.option("--all", "show_all", is_flag=True, help="Also list layers whose output is not a 4-D map.")
def layers(framework: str, model_spec: str, input_size: int, channels: int, show_all: bool) -> None:
    """List the model's layers with their output shapes, parameter counts and receptive fields (the
    input pixels one output unit sees; jump = input pixels between neighbouring units), to choose a --layer."""
    import importlib

    from .frameworks import get_framework
    from .report.explain import build_model

    fw = get_framework(framework)
    try:
        model = build_model(model_spec, fw)
        structure = importlib.import_module(f"{fw.layers.__package__}.structure")
        # (C, H, W) in every framework: model_structure makes one zero image in the framework's own layout
        table = structure.model_structure(model, (channels, input_size, input_size))
    except VisualizationError as exc:
        raise _fail(exc) from exc
    except model_errors() as exc:
        raise _model_failed(exc) from exc
    click.echo(table.to_text(spatial_only=not show_all))
    if table.repeated:
        click.echo(
            f"\nRan more than once per forward pass (not usable as a target layer; one row per call): "
            f"{', '.join(table.repeated)}"
        )


@main.command(
    epilog="Example: cnnvis evaluate --model efficientnet-lite0 --images-dir pets/ --boxes boxes.csv --out out/eval"
)
@click.option("--framework", type=click.Choice(["torch", "paddle", "keras"]), default="torch", show_default=True)
@click.option(
    "--model",
    "model_spec",
    default="efficientnet-lite0",
    show_default=True,
    help="A zoo name (efficientnet-lite0, catdogcnn) or 'package.module:factory' returning your model.",
)
@click.option("--weights", type=click.Path(dir_okay=False), help="State dict to load (as for explain).")
@click.option(
    "--images-dir", required=True, type=click.Path(file_okay=False), help="Folder of images (sub-folders too)."
)
@click.option(
    "--boxes",
    type=click.Path(dir_okay=False),
    help="CSV 'filename,x0,y0,x1,y1' (original-image pixels) for the pointing games.",
)
@click.option("--layer", help="Target layer for the CAMs (default: the zoo's choice or the automatic one).")
@click.option(
    "--method",
    "methods",
    multiple=True,
    default=DEFAULT_METHODS,
    show_default=True,
    help=f"CAM method(s), from: {', '.join(CAM_METHODS)}. Repeat the option for several.",
)
@click.option(
    "--input-size", default=224, show_default=True, type=click.IntRange(8, 2048), help="Side of the centre crop."
)
@click.option("--mean", help="Per-channel mean on the 0..255 scale (default: the zoo model's, else ImageNet's).")
@click.option("--std", help="Per-channel std on the 0..255 scale (default: the zoo model's, else ImageNet's).")
@click.option(
    "--steps", default=50, show_default=True, type=click.IntRange(1, 10000), help="Steps per deletion/insertion curve."
)
@click.option("--batch-size", default=8, show_default=True, type=click.IntRange(1, 4096), help="Images per batch.")
@click.option("--limit", type=click.IntRange(1, None), help="Evaluate this many images, spread evenly over the folder.")
@click.option("--tolerance", default=15.0, show_default=True, type=float, help="Pointing-game tolerance in pixels.")
@click.option(
    "--road/--no-road",
    default=True,
    show_default=True,
    help="ROAD (remove and debias): 18 imputed images per image and method, about 2-3 s each on a CPU.",
)
@click.option(
    "--sanity/--no-sanity",
    default=True,
    show_default=True,
    help="Randomization sanity check: each method's map on copies with the classifier and with every layer "
    "re-drawn (two more maps per image and method).",
)
@click.option(
    "--out",
    default="out/evaluate",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for metrics.csv, metrics.md, curves.png and the per-image cache (reused on a rerun).",
)
@click.option("--force", is_flag=True, help="Recompute every image instead of reusing the cache.")
@click.option("--no-progress", is_flag=True, help="Hide the progress bar.")
def evaluate(
    framework: str,
    model_spec: str,
    weights: str | None,
    images_dir: str,
    boxes: str | None,
    layer: str | None,
    methods: Sequence[str],
    input_size: int,
    mean: str | None,
    std: str | None,
    steps: int,
    batch_size: int,
    limit: int | None,
    tolerance: float,
    road: bool,
    sanity: bool,
    out: str,
    force: bool,
    no_progress: bool,
) -> None:
    """Score CAM methods on a folder of images: deletion / insertion AUC, average drop / increase, ROAD,
    Gini index, the randomization sanity check and (with --boxes) the pointing games; a table with means and 95 % confidence intervals
    (metrics.csv, metrics.md) and the mean curves (curves.png). Resumable: per-image results are cached."""
    from .report.evaluate import EvaluateJob
    from .report.stream_cli import run_evaluate

    m, s = _stats(model_spec, mean, std)
    job = EvaluateJob(
        model=model_spec,
        framework=framework,
        methods=_normalize_methods(methods),
        layer=layer,
        weights=weights,
        input_size=input_size,
        mean=m,
        std=s,
        boxes=boxes,
        n_steps=steps,
        batch_size=batch_size,
        tolerance=tolerance,
        limit=limit,
        road=road,
        sanity=sanity,
        progress=not no_progress,
        force=force,
    )
    run_evaluate(job, images_dir, out)


@main.command(epilog="Example: cnnvis serve --model efficientnet-lite0 --port 8765")
@click.option(
    "--framework",
    type=click.Choice(["auto", "torch", "paddle", "keras", "both", "all"]),
    default="auto",
    show_default=True,
    help="auto: PyTorch and PaddlePaddle for a zoo model (a switch in the page), else torch (and the frameworks "
    "of --paddle-model / --keras-model); both: PyTorch and PaddlePaddle; all: and Keras.",
)
@click.option(
    "--model",
    "model_spec",
    default="efficientnet-lite0",
    show_default=True,
    help="A zoo name or 'package.module:factory'.",
)
@click.option(
    "--paddle-model",
    help="With --framework both and your own --model: 'package.module:factory' of the same network in Paddle.",
)
@click.option(
    "--keras-model",
    help="With --framework all and your own --model: 'package.module:factory' of the same network in Keras.",
)
@click.option(
    "--weights",
    type=click.Path(dir_okay=False),
    help="Weights to load (as for explain), into the first framework served (torch unless only one is served).",
)
@click.option(
    "--paddle-weights",
    type=click.Path(dir_okay=False),
    help="With --framework both or all: the Paddle model's .pdparams (--weights is then the torch file).",
)
@click.option(
    "--keras-weights",
    type=click.Path(dir_okay=False),
    help="With --framework all: the Keras model's .weights.h5 (--weights is then the torch file).",
)
@click.option("--layer", help="Default CAM layer (default: the zoo's choice or the last spatial layer).")
@click.option(
    "--image",
    "images",
    multiple=True,
    type=click.Path(),
    help="Image file or folder to offer beside the bundled photos; repeat for several.",
)
@click.option(
    "--classes", "classes_file", type=click.Path(dir_okay=False), help="Text file with one class name per line."
)
@click.option(
    "--input-size", default=224, show_default=True, type=click.IntRange(8, 2048), help="Side of the centre crop."
)
@click.option("--mean", help="Per-channel mean on the 0..255 scale (default: the zoo model's, else ImageNet's).")
@click.option("--std", help="Per-channel std on the 0..255 scale (default: the zoo model's, else ImageNet's).")
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback unless you mean it)."
)
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
def serve(
    framework: str,
    model_spec: str,
    paddle_model: str | None,
    keras_model: str | None,
    weights: str | None,
    paddle_weights: str | None,
    keras_weights: str | None,
    layer: str | None,
    images: Sequence[str],
    classes_file: str | None,
    input_size: int,
    mean: str | None,
    std: str | None,
    host: str,
    port: int,
) -> None:
    """An interactive explorer in the browser: choose or upload an image, see the top-5 predictions,
    browse the layers (shapes, receptive fields), feature maps and filters, CAM and saliency maps for
    any class side by side, and activation maximization; PyTorch, PaddlePaddle and Keras (a switch in the
    page shows the same views from each framework). Needs the 'serve' extra
    (pip install "cnn-visualization[serve]"). Stop it with Ctrl-C."""
    try:
        from .serve.app import bind, is_loopback, serve_forever, url_of
        from .serve.session import Explorer, ServeConfig, decode_image
    except ImportError as exc:
        raise UserError(
            f'cnnvis serve needs Starlette and uvicorn: pip install "cnn-visualization[serve]" ({exc}).'
        ) from exc
    from .report.explain import load_images

    zoo = ":" not in model_spec
    if framework == "auto":  # Keras only when asked for: TensorFlow is an optional extra and slow to import
        fws = ["torch"] + (["paddle"] if zoo or paddle_model else []) + (["keras"] if keras_model else [])
    else:
        fws = _framework_list(framework)
    own = {"paddle": (paddle_model, paddle_weights, "PaddlePaddle"), "keras": (keras_model, keras_weights, "Keras")}
    for f, (other_model, other_weights, display) in own.items():
        if f not in fws and (other_model or other_weights):
            option, add = (
                ("--paddle-model/--paddle-weights", "both or all")
                if f == "paddle"
                else ("--keras-model/--keras-weights", "all")
            )
            raise UserError(f"{option} need {display} among the frameworks served: use --framework {add}.")
        if f in fws and len(fws) > 1 and not zoo and not other_model:
            raise UserError(
                f"--framework {framework} with your own --model needs --{f}-model (the same network in {display})."
            )
    models = {f: (own[f][0] or model_spec) if f in own else model_spec for f in fws}
    weights_of = {f: own[f][1] if f in own and len(fws) > 1 else weights for f in fws}
    if len(fws) == 1 and fws[0] in own:  # the one framework served: --weights or its own option
        weights_of[fws[0]] = weights or own[fws[0]][1]
    m, s = _stats(model_spec, mean, std)
    photos: list[tuple[str, Any]] = []
    try:
        from skimage import data

        photos = [(f"{name} (scikit-image, CC0)", getattr(data, name)()) for name in DEMO_PHOTOS]
    except ImportError:
        pass
    if images:
        try:
            load_images(images, input_size, m, s)  # the same checks (and messages) as explain
            files = [q for p in map(Path, images) for q in (sorted(p.iterdir()) if p.is_dir() else [p])]
            photos = [
                (f.name, decode_image(f.read_bytes())) for f in files if f.suffix.lower() in _IMAGE_SUFFIXES
            ] + photos
        except VisualizationError as exc:
            raise _fail(exc) from exc
    config = ServeConfig(
        models=models,
        weights=weights_of,
        layer=layer,
        input_size=input_size,
        mean=m,
        std=s,
        class_names=_class_names(model_spec, classes_file),
        photos=photos,
        title=f"cnnvis explorer: {model_spec}",
    )
    if not is_loopback(host):
        click.echo(
            f"Warning: --host {host} makes the explorer reachable from other machines: anyone who can connect "
            "can run your model and upload images. Use it only on a network you trust.",
            err=True,
        )
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise UserError(f"Could not listen on {host}:{port} ({exc}); choose another --port (0: any free one).") from exc
    try:
        explorer = Explorer(config)  # imports the frameworks (Paddle before TensorFlow)
    except ImportError as exc:
        sock.close()
        raise UserError(
            f'A framework to serve is not installed ({exc}). Install it (pip install "cnn-visualization[keras]", '
            "[torch] or [paddle]) or choose other --framework values."
        ) from exc
    try:
        for f in fws:  # build the models now: a wrong --model, --weights or --layer is said before the URL
            explorer.load(f)
    except VisualizationError as exc:
        sock.close()
        explorer.close()
        raise _fail(exc) from exc
    except model_errors(KeyError) as exc:
        sock.close()
        explorer.close()
        raise _model_failed(exc) from exc
    click.echo(f"cnnvis explorer on {url_of(sock)} (Ctrl-C stops it)")
    serve_forever(explorer, sock, host)


def run() -> None:  # pragma: no cover - console entry point
    """Entry point that turns any remaining VisualizationError into one message (exit 2)."""
    # --model package.module:factory is looked up from the current directory, as `python -m` would:
    # a console script's sys.path starts with its own bin/ folder instead.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        main(standalone_mode=True)
    except VisualizationError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    run()
