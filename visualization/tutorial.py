"""The framework-free half of the cat-vs-dog tutorial scripts (``examples/<framework>/cat_dog_classifier.py``).

The PyTorch, the Paddle and the Keras script share, from here: the command line (:func:`build_parser`, so all
three take exactly the same options), the data (:func:`load_split`, :class:`TrainingData`, :func:`pick_probes`:
identical input arrays in both frameworks), the initial weights (:func:`initial_weights`: the same
seeded numbers in both), the layers each model is looked at (:data:`LAYERS`), the no-data demo
(:func:`demo_photos`, :func:`cat_dog_probabilities`, :func:`demo_verdicts`, :func:`demo_figure`) and
the output writing and printing. What is left in each script is the framework's own code: building
the model, the training step, and the calls of the visualization API.

Example:
    >>> args = parse_args("torch", ["--data-dir", "pets", "--model", "catdogcnn", "--epochs", "2"])
    >>> args.model, args.epochs, args.lr, args.image_size, str(args.out)
    ('catdogcnn', 2, 0.001, 224, 'out/cat_dog_torch')
    >>> args.cam_layer, LAYERS["efficientnet-lite0"].cam
    ('conv3', '_act1')
"""

from __future__ import annotations

import argparse
import json
import math
import os
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .datasets import (
    DatasetError,
    ImageFolder,
    batch_indices,
    limit_per_class,
    list_image_folder,
    load_batch,
    normalization,
    stratified_split,
)

__all__ = [
    "ANIMATED_CHANNELS",
    "DATA_HELP",
    "DEFAULT_LR",
    "DEMO_PHOTOS",
    "LAYERS",
    "MODELS",
    "ModelLayers",
    "Probes",
    "Split",
    "TrainingData",
    "accuracy",
    "animation_file",
    "animation_labels",
    "animation_note",
    "build_parser",
    "cam_frame",
    "cat_dog_probabilities",
    "check_layer",
    "demo_figure",
    "demo_photos",
    "demo_verdicts",
    "epoch_line",
    "epoch_scalars",
    "finish_demo",
    "finish_training",
    "initial_weights",
    "load_split",
    "parse_args",
    "pick_probes",
    "save_cam_figures",
    "save_figure",
    "save_html",
    "script_path",
    "tensorboard_options",
]

MODELS = ("efficientnet-lite0", "catdogcnn")
#: Adam learning rate used when ``--lr`` is not given.
DEFAULT_LR = {"efficientnet-lite0": 3e-3, "catdogcnn": 1e-3}
FRAMEWORK_NAMES = {"torch": "PyTorch", "paddle": "PaddlePaddle", "keras": "Keras"}
#: Folder of each framework's script under ``examples/``.
SCRIPT_DIRS = {"torch": "pytorch", "paddle": "paddle", "keras": "keras"}


def script_path(framework: str) -> str:
    """The tutorial script of ``framework``, relative to the repository root.

    >>> script_path("torch"), script_path("keras")
    ('examples/pytorch/cat_dog_classifier.py', 'examples/keras/cat_dog_classifier.py')
    """
    return f"examples/{SCRIPT_DIRS[framework]}/cat_dog_classifier.py"


@dataclass(frozen=True)
class ModelLayers:
    """Which layers of a model the tutorial draws.

    Attributes:
        filters: convolutions whose kernels are drawn.
        feature_maps: layers whose outputs for the probe image are drawn.
        cam: default target layer of Grad-CAM, Grad-CAM++ and Score-CAM (``--cam-layer``).
        surface: layer whose most active channel is drawn as a 3-D surface.
        animated: layer whose feature maps are animated over the epochs; ``None`` when the features
            are frozen (they would not change), and the Grad-CAM of the CAM layer is animated instead.
    """

    filters: tuple[str, ...]
    feature_maps: tuple[str, ...]
    cam: str
    surface: str
    animated: str | None

    @property
    def frozen(self) -> bool:
        """Whether everything but the classifier stays fixed while training."""
        return self.animated is None


LAYERS = {
    "catdogcnn": ModelLayers(("conv1", "conv2", "conv3"), ("conv1", "conv2", "conv3"), "conv3", "conv3", "conv2"),
    # _act1 is the head's last spatial layer (1280 x 7 x 7 at 224): the clearest maps of the three methods;
    # Score-CAM runs the network once per channel there, so --cam-layer _blocks.15 (320) is about 4x faster.
    "efficientnet-lite0": ModelLayers(
        ("_conv_stem",), ("_blocks.2", "_blocks.4", "_blocks.10"), "_act1", "_blocks.10", None
    ),
}
#: Channels of the animated layer shown in the GIF (catdogcnn).
ANIMATED_CHANNELS = 16


# ---------------------------------------------------------------- command line
def build_parser(framework: str) -> argparse.ArgumentParser:
    """The tutorial's options: the same for ``framework='torch'``, ``'paddle'`` and ``'keras'`` (only the default
    ``--out`` differs)."""
    script = script_path(framework)
    ap = argparse.ArgumentParser(
        prog=f"python {script}",
        description=textwrap.fill(
            f"Train a cat-vs-dog classifier with {FRAMEWORK_NAMES[framework]} and look inside it: filters, "
            "feature maps, Grad-CAM / Grad-CAM++ / Score-CAM, a 3-D feature-map surface and a GIF over the "
            "training epochs. Without --data-dir: a demo of the pretrained ImageNet network on photos bundled "
            "with scikit-image. The last line printed is val_accuracy=<float> (demo: demo_accuracy=<float>).",
            width=80,
        ),
        epilog=f"examples:\n  python {script} --data-dir data/pets --limit 100 --epochs 3\n"
        f"  python {script} --data-dir data/pets --model catdogcnn --image-size 128\n"
        "See examples/README.md for how to build data/pets from Oxford-IIIT Pet or Kaggle's Dogs vs. Cats.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--data-dir",
        type=Path,
        help="training images, one subfolder per class (e.g. cats/ and dogs/); omit it for the demo",
    )
    ap.add_argument("--val-dir", type=Path, help="validation images, same subfolders (default: split off --data-dir)")
    ap.add_argument(
        "--val-fraction",
        type=float,
        default=0.2,
        help="share of each class held out for validation without --val-dir (default: %(default)s)",
    )
    ap.add_argument(
        "--model",
        choices=MODELS,
        default="efficientnet-lite0",
        help="efficientnet-lite0 (default): a new linear head on the frozen pretrained features; "
        "catdogcnn: the small CNN, trained from scratch",
    )
    ap.add_argument(
        "--cam-layer",
        help="target layer of the CAM figures (and, for efficientnet-lite0, of the animation); default: conv3 "
        "for catdogcnn, _act1 for efficientnet-lite0 (_blocks.15 makes Score-CAM about 4x faster)",
    )
    ap.add_argument("--epochs", type=int, default=10, help="passes over the training set (default: %(default)s)")
    ap.add_argument(
        "--image-size",
        type=int,
        default=224,
        help="side of the square input; a multiple of 8 for catdogcnn (default: %(default)s)",
    )
    ap.add_argument("--batch-size", type=int, default=32, help="images per training step (default: %(default)s)")
    ap.add_argument("--lr", type=float, help="Adam learning rate (default: 0.003 for the head, 0.001 from scratch)")
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the split, --limit, the initial weights and the batch order (default: %(default)s)",
    )
    ap.add_argument("--limit", type=int, help="use at most N images per class, for quick runs (default: all)")
    ap.add_argument(
        "--out", type=Path, default=Path(f"out/cat_dog_{framework}"), help="output folder (default: %(default)s)"
    )
    ap.add_argument(
        "--tensorboard",
        type=Path,
        metavar="DIR",
        help="also write TensorBoard event files to DIR before training and after each epoch: loss and "
        "accuracy, filters, feature maps and Grad-CAM of the probe images, weight and activation histograms, "
        "dead ReLU shares, the layer table (and the graph, PyTorch); then run: tensorboard --logdir DIR",
    )
    return ap


def parse_args(framework: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the options (argparse exits with status 2 and a message on a mistake)."""
    ap = build_parser(framework)
    args = ap.parse_args(argv)
    if args.epochs < 1:
        ap.error(f"--epochs must be at least 1; got {args.epochs}")
    if args.batch_size < 1:
        ap.error(f"--batch-size must be at least 1; got {args.batch_size}")
    if args.limit is not None and args.limit < 2:
        ap.error(f"--limit must be at least 2 images per class (one to train, one to validate); got {args.limit}")
    if not 0.0 < args.val_fraction < 1.0:
        ap.error(f"--val-fraction must be between 0 and 1; got {args.val_fraction}")
    if args.model == "catdogcnn" and (args.image_size < 8 or args.image_size % 8):
        ap.error(
            f"--image-size must be a positive multiple of 8 for catdogcnn (three 2x2 poolings); got {args.image_size}"
        )
    if args.image_size < 32:
        ap.error(f"--image-size must be at least 32; got {args.image_size}")
    if args.data_dir is None and args.val_dir is not None:
        ap.error("--val-dir needs --data-dir (the training images)")
    if args.data_dir is None and args.model != "efficientnet-lite0":
        ap.error(
            "without --data-dir the demo runs the pretrained efficientnet-lite0; --model catdogcnn needs --data-dir"
        )
    if args.lr is None:
        args.lr = DEFAULT_LR[args.model]
    if args.cam_layer is None:
        args.cam_layer = LAYERS[args.model].cam
    args.framework = framework
    return args


# ---------------------------------------------------------------- data
@dataclass(frozen=True)
class Split:
    """The training and validation images."""

    train: ImageFolder
    val: ImageFolder

    @property
    def classes(self) -> tuple[str, ...]:
        return self.train.classes


def load_split(args: argparse.Namespace) -> Split:
    """List ``--data-dir`` (and ``--val-dir``), apply ``--limit`` per class, split if needed, print the counts.

    Without ``--val-dir``, ``--limit`` applies before the split (at most N images per class in all);
    with it, to each folder. An unusable folder ends the program with one message (``SystemExit``).

    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> for cls in ("cats", "dogs"):
    ...     (root / cls).mkdir()
    ...     for i in range(5):
    ...         Image.new("RGB", (40, 32), (50 * i, 90, 0)).save(root / cls / f"{i}.png")
    >>> split = load_split(parse_args("torch", ["--data-dir", str(root), "--limit", "4"]))
    classes: 0=cats, 1=dogs
    train: 6 images (3 cats, 3 dogs); validation: 2 images (1 cats, 1 dogs) (stratified split, 0.2 held out, seed 0)
    >>> probes = pick_probes(split.val, 32, "catdogcnn")
    >>> probes.x.shape, probes.labels.tolist()
    ((2, 3, 32, 32), [0, 1])
    """
    try:
        train = limit_per_class(list_image_folder(args.data_dir), args.limit, args.seed)
        if args.val_dir is not None:
            val = limit_per_class(list_image_folder(args.val_dir, classes=train.classes), args.limit, args.seed)
            how = f"validation folder {args.val_dir}"
        else:
            train, val = stratified_split(train, args.val_fraction, args.seed)
            how = f"stratified split, {args.val_fraction:g} held out, seed {args.seed}"
    except (FileNotFoundError, DatasetError) as exc:  # a user's folder: one message, no traceback
        raise SystemExit(f"error: {exc}") from exc
    print(f"classes: {', '.join(f'{i}={c}' for i, c in enumerate(train.classes))}")
    print(f"train: {_counts(train)}; validation: {_counts(val)} ({how})")
    return Split(train, val)


def _counts(folder: ImageFolder) -> str:
    return f"{len(folder)} images (" + ", ".join(f"{n} {c}" for c, n in folder.counts().items()) + ")"


class TrainingData:
    """Numpy batches ``(x, y)`` for training and evaluation, the same in every framework.

    With ``features`` (the frozen network's pooled features, one row per image) a batch is those
    rows; otherwise the images are read from disk batch by batch (:func:`visualization.datasets.load_batch`),
    mirrored left-right at random (seeded) when an ``rng`` is given, so nothing large stays in memory.

    >>> folder = ImageFolder(Path("."), ("cats", "dogs"), tuple(Path(f"{i}.jpg") for i in range(5)), np.array([0, 0, 1, 1, 1]))
    >>> data = TrainingData(folder, 224, "efficientnet-lite0", features=np.arange(10.0).reshape(5, 2))
    >>> [(x.shape, y.tolist()) for x, y in data.batches(batch_size=3)]
    [((3, 2), [0, 0, 1]), ((2, 2), [1, 1])]
    >>> data.num_batches(3), len(data)
    (2, 5)
    """

    def __init__(self, folder: ImageFolder, image_size: int, model: str, features: np.ndarray | None = None) -> None:
        if features is not None and len(features) != len(folder):
            raise ValueError(f"{len(features)} feature rows for {len(folder)} images")
        self.folder, self.image_size, self.model, self.features = folder, image_size, model, features

    def __len__(self) -> int:
        return len(self.folder)

    def batches(
        self, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Batches in order, or shuffled and augmented (images only) when ``rng`` is given."""
        for idx in batch_indices(len(self), batch_size, rng):
            y = self.folder.labels[idx]
            if self.features is not None:
                yield self.features[idx], y
                continue
            flip = rng.random(len(idx)) < 0.5 if rng is not None else None
            x, _ = load_batch([self.folder.paths[i] for i in idx], self.image_size, self.model, flip=flip)
            yield x, y

    def num_batches(self, batch_size: int) -> int:
        return math.ceil(len(self) / batch_size)


@dataclass(frozen=True)
class Probes:
    """One validation image per class (class 0 first: for cats/dogs one cat and one dog).

    Attributes:
        x: ``(K, 3, S, S)`` network inputs; ``x[:1]`` is the fixed probe of the animation.
        crops: the RGB crops that were fed in, for display.
        labels: ``(K,)`` true class of each.
        names: file names, for titles and output names.
    """

    x: np.ndarray
    crops: list[Any]
    labels: np.ndarray
    names: list[str]


def pick_probes(val: ImageFolder, image_size: int, model: str, max_classes: int = 2) -> Probes:
    """The first validation image of each of the first ``max_classes`` classes (read with :func:`load_batch`)."""
    idx = [int(np.flatnonzero(val.labels == c)[0]) for c in range(min(max_classes, len(val.classes)))]
    x, crops = load_batch([val.paths[i] for i in idx], image_size, model)
    return Probes(x, crops, val.labels[idx], [val.paths[i].name for i in idx])


def initial_weights(model: str, num_classes: int, image_size: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded initial weights, in PyTorch layout (``Linear`` weights ``(out, in)``), for both frameworks.

    Every weight and bias is drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, PyTorch's default
    for ``Conv2d`` and ``Linear``. For ``efficientnet-lite0`` only the new head ``_fc`` is returned
    (the rest is pretrained). Paddle loads them through
    :func:`visualization.convert.torch_to_paddle_state_dict` and Keras through
    :func:`visualization.keras.models.catdog_weights_from_torch`, so all frameworks start from the same numbers.

    >>> w = initial_weights("efficientnet-lite0", 2, 224, seed=0)
    >>> {k: v.shape for k, v in w.items()}
    {'_fc.weight': (2, 1280), '_fc.bias': (2,)}
    >>> float(abs(w["_fc.weight"]).max()) <= 1 / 1280**0.5
    True
    """
    if model == "efficientnet-lite0":
        shapes = {"_fc": (num_classes, 1280)}
    elif model == "catdogcnn":
        side = image_size // 8
        shapes = {
            "conv1": (32, 3, 3, 3),
            "conv2": (64, 32, 3, 3),
            "conv3": (128, 64, 3, 3),
            "fc1": (512, 128 * side * side),
            "fc2": (num_classes, 512),
        }
    else:
        raise ValueError(f"unknown model {model!r}; use one of {MODELS}")
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, shape in shapes.items():
        bound = 1.0 / math.sqrt(math.prod(shape[1:]))
        out[f"{name}.weight"] = rng.uniform(-bound, bound, shape).astype(np.float32)
        out[f"{name}.bias"] = rng.uniform(-bound, bound, shape[0]).astype(np.float32)
    return out


# ---------------------------------------------------------------- training report
def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of rows whose largest logit is the label.

    >>> accuracy(np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0]]), np.array([0, 1, 1]))
    0.6666666666666666
    """
    return float(np.mean(np.asarray(logits).argmax(axis=1) == np.asarray(labels)))


def epoch_line(epoch: int, epochs: int, loss: float, train_acc: float, val_acc: float) -> str:
    """One line of the training log.

    >>> epoch_line(3, 10, 0.41234, 0.8, 0.75)
    'epoch  3/10  loss 0.4123  train_accuracy 0.800  val_accuracy 0.750'
    """
    width = len(str(epochs))
    return (
        f"epoch {epoch:>{width}}/{epochs}  loss {loss:.4f}  train_accuracy {train_acc:.3f}  val_accuracy {val_acc:.3f}"
    )


def epoch_scalars(row: dict[str, float]) -> dict[str, float]:
    """One epoch of the history as TensorBoard scalars (the part before ``/`` groups the charts).

    >>> epoch_scalars({"epoch": 1, "loss": 0.69, "train_accuracy": 0.5, "val_accuracy": 0.6})
    {'loss/train': 0.69, 'accuracy/train': 0.5, 'accuracy/val': 0.6}
    """
    return {"loss/train": row["loss"], "accuracy/train": row["train_accuracy"], "accuracy/val": row["val_accuracy"]}


def cam_frame(results: Sequence[Any]) -> np.ndarray:
    """One animation frame from CAM results (one per class, each for a single image): the maps *before*
    normalization, upsampled to the input size, as ``(K, H, W)``.

    Unnormalized maps keep their size, so with the one colour scale of
    :func:`~visualization.core.plotting.evolution.animate_feature_maps` the evidence is seen to grow
    while the head learns (a normalized heatmap would look the same from the first epoch on).

    >>> from types import SimpleNamespace
    >>> r = SimpleNamespace(raw=np.array([[[0.0, 2.0], [0.0, 0.0]]]), heatmaps=np.zeros((1, 4, 4)))
    >>> frame = cam_frame([r, r])
    >>> frame.shape, float(frame.max())
    ((2, 4, 4), 2.0)
    """
    from .core.image import resize_bilinear

    return np.stack([resize_bilinear(r.raw[0], r.heatmaps.shape[-2:]) for r in results]).astype(np.float32)


def animation_labels(epochs: int) -> list[str]:
    """Frame titles: the state before training, then after each epoch.

    >>> animation_labels(2)
    ['before training', 'after epoch 1', 'after epoch 2']
    """
    return ["before training"] + [f"after epoch {e}" for e in range(1, epochs + 1)]


def animation_note(args: argparse.Namespace, classes: Sequence[str], probe: str) -> str:
    """What the GIF shows, for the printed summary."""
    layers = LAYERS[args.model]
    if layers.frozen:
        shown = ", ".join(f"ch {i} = {c}" for i, c in enumerate(classes))
        return (
            f"Grad-CAM at '{args.cam_layer}' of {probe} per epoch (raw maps, one colour scale; {shown}). "
            "The pretrained features are frozen, so their feature maps never change; what the new head "
            "learns shows in its Grad-CAM instead."
        )
    return f"feature maps of '{layers.animated}' (first {ANIMATED_CHANNELS} channels) of {probe} per epoch"


def animation_file(args: argparse.Namespace, probe: str, classes: Sequence[str]) -> tuple[Path, str]:
    r"""Path and title of the training GIF (the frame label, e.g. ``after epoch 3``, is appended to the title).

    >>> args = parse_args("torch", ["--data-dir", "pets", "--out", "out"])
    >>> path, title = animation_file(args, "cat_1.jpg", ["cats", "dogs"])
    >>> str(path), title
    ('out/training_gradcam__act1.gif', "Grad-CAM at '_act1' (ch 0 = cats, ch 1 = dogs)\n")
    """
    layers = LAYERS[args.model]
    if layers.frozen:
        shown = ", ".join(f"ch {i} = {c}" for i, c in enumerate(classes))
        return args.out / f"training_gradcam_{args.cam_layer}.gif", f"Grad-CAM at '{args.cam_layer}' ({shown})\n"
    return args.out / f"training_feature_maps_{layers.animated}.gif", f"'{layers.animated}' of {probe},"


def tensorboard_options(args: argparse.Namespace, probes: Probes, classes: Sequence[str]) -> dict[str, Any]:
    """Keyword arguments of ``VisualizationLogger`` for ``--tensorboard``: the tutorial's layers, the
    probe images with their crops and names, their true classes as Grad-CAM targets.

    CatDogCNN applies ``F.relu`` after each layer, so its dead units are counted on the layers before it.

    >>> args = parse_args("torch", ["--data-dir", "pets", "--model", "catdogcnn", "--tensorboard", "runs"])
    >>> probes = Probes(np.zeros((2, 3, 32, 32)), [None, None], np.array([0, 1]), ["a.jpg", "b.jpg"])
    >>> opts = tensorboard_options(args, probes, ["cats", "dogs"])
    >>> opts["relu_layers"], opts["cam_layer"], opts["target_classes"], opts["probe_names"]
    (('conv1', 'conv2', 'conv3', 'fc1'), 'conv3', [0, 1], ['a.jpg', 'b.jpg'])
    """
    layers = LAYERS[args.model]
    return {
        "display_images": probes.crops,
        "probe_names": probes.names,
        "filter_layers": layers.filters,
        "feature_layers": layers.feature_maps,
        "cam_layer": args.cam_layer,
        "relu_layers": ("conv1", "conv2", "conv3", "fc1") if args.model == "catdogcnn" else None,  # None: ReLU6 layers
        "target_classes": probes.labels.tolist(),
        "class_names": list(classes),
    }


def check_layer(name: str, layer_names: Sequence[str]) -> None:
    """Stop early (before any training) when ``--cam-layer`` is not a layer of the model.

    >>> check_layer("conv3", ["conv1", "conv2", "conv3"])
    >>> check_layer("conv4", ["conv1", "conv2", "conv3"])
    Traceback (most recent call last):
    SystemExit: --cam-layer 'conv4' is not a layer of the model; close names: conv3, conv2, conv1
    """
    import difflib

    if name not in layer_names:
        close = difflib.get_close_matches(name, layer_names, n=5, cutoff=0.5)
        raise SystemExit(
            f"--cam-layer {name!r} is not a layer of the model; close names: {', '.join(close) or '(none)'}"
        )


# ---------------------------------------------------------------- output files
def save_figure(fig: Any, path: Path, dpi: int = 100) -> Path:
    """Write a matplotlib figure as PNG and close it. Returns ``path``.

    >>> import tempfile, matplotlib.pyplot as plt
    >>> fig = plt.figure(figsize=(2, 2))
    >>> path = save_figure(fig, Path(tempfile.mkdtemp()) / "empty.png")
    >>> path.read_bytes()[1:4], plt.fignum_exists(fig.number)
    (b'PNG', False)
    """
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)
    return path


def save_html(fig: Any, path: Path) -> Path:
    """Write a plotly figure as a self-contained HTML file (plotly.js embedded: works offline).

    >>> import tempfile, plotly.graph_objects as go
    >>> html = save_html(go.Figure(), Path(tempfile.mkdtemp()) / "fig.html").read_text()
    >>> len(html) > 1_000_000, '<script src="https://cdn.plot.ly' in html
    (True, False)
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path


def _write_run(out: Path, files: Sequence[Path], info: dict[str, Any]) -> list[Path]:
    run = out / "run.json"
    run.parent.mkdir(parents=True, exist_ok=True)
    run.write_text(json.dumps(info, indent=2, default=str) + "\n", encoding="utf-8")
    files = [*files, run]
    print(f"\nwrote {len(files)} files to {out}/:")
    for f in files:
        print(f"  {f.relative_to(out) if f.is_relative_to(out) else f}")
    return files


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {k: str(v) if isinstance(v, os.PathLike) else v for k, v in sorted(vars(args).items())}


def finish_training(
    args: argparse.Namespace,
    files: Sequence[Path],
    split: Split,
    probes: Probes,
    history: Sequence[dict[str, float]],
    val_accuracy: float,
) -> None:
    """Write ``run.json`` (options, classes, counts, history), print the files, what the GIF shows,
    and last the line ``val_accuracy=<float>``."""
    info = {
        "framework": args.framework,
        "options": _options(args),
        "classes": list(split.classes),
        "normalization": dict(zip(("mean", "std"), normalization(args.model))),
        "train_counts": split.train.counts(),
        "val_counts": split.val.counts(),
        "probe_images": probes.names,
        "history": list(history),
        "val_accuracy": val_accuracy,
    }
    _write_run(args.out, files, info)
    print(f"animation: {animation_note(args, split.classes, probes.names[0])}")
    majority = max(split.val.counts().values()) / len(split.val)
    print(f"validation: {len(split.val)} images; always answering the largest class would score {majority:.3f}")
    print(f"val_accuracy={val_accuracy:.4f}")


def finish_demo(
    args: argparse.Namespace,
    files: Sequence[Path],
    names: Sequence[str],
    labels: Sequence[str],
    p_cat: np.ndarray,
    p_dog: np.ndarray,
    verdicts: Sequence[str],
) -> None:
    """Print the demo's table, how to get real data, and last ``demo_accuracy=<float>``: the share of
    the bundled photos whose verdict (cat, dog or neither) matches what they show."""
    print(f"{'photo':<10} {'shows':<8} {'P(cat)':>7} {'P(dog)':>7}  verdict")
    for row in zip(names, labels, p_cat, p_dog, verdicts):
        print(f"{row[0]:<10} {row[1]:<8} {row[2]:>7.3f} {row[3]:>7.3f}  {row[4]}")
    hits = [v == label for v, label in zip(verdicts, labels)]
    info = {
        "framework": args.framework,
        "mode": "demo (no --data-dir)",
        "photos": [
            {"name": n, "shows": s, "p_cat": float(c), "p_dog": float(d), "verdict": v}
            for n, s, c, d, v in zip(names, labels, p_cat, p_dog, verdicts)
        ],
        "demo_accuracy": float(np.mean(hits)),
    }
    _write_run(args.out, files, info)
    print("\n" + DATA_HELP.format(script=script_path(args.framework)))
    counts = {k: list(labels).count(k) for k in ("cat", "dog", "neither")}
    print(
        f"demo_accuracy: {sum(hits)} of {len(hits)} bundled photos judged right ({counts['cat']} cat, "
        f"{counts['dog']} dog, {counts['neither']} neither; a photo is 'neither' when P(cat) + P(dog) < 0.5). "
        "scikit-image bundles no dog photo, so this checks the pipeline; it does not measure accuracy."
    )
    print(f"demo_accuracy={np.mean(hits):.4f}")


# ---------------------------------------------------------------- the no-data demo
#: Photos bundled with scikit-image (CC0 / public domain) and what they show.
DEMO_PHOTOS = (("chelsea", "cat"), ("coffee", "neither"), ("astronaut", "neither"), ("rocket", "neither"))

DATA_HELP = """\
To train on real photos, make a folder with one subfolder per class and pass it with --data-dir:

  Oxford-IIIT Pet (7,349 photos, 12 cat and 25 dog breeds; https://www.robots.ox.ac.uk/~vgg/data/pets/):
    download and unpack images.tar.gz, then sort it by the case of the file name
    (cat breeds are capitalised, Abyssinian_1.jpg; dog breeds are not, beagle_1.jpg):
      python -c "from visualization.datasets import sort_oxford_pets; print(sort_oxford_pets('images', 'data/pets'))"
  Kaggle "Dogs vs. Cats" (25,000 photos; https://www.kaggle.com/c/dogs-vs-cats/data):
    unpack train.zip (cat.0.jpg, dog.0.jpg, ...), then:
      python -c "from visualization.datasets import sort_kaggle_dogs_vs_cats as s; print(s('train', 'data/pets'))"

  then: python {script} --data-dir data/pets --limit 200 --epochs 5
"""


def demo_photos(image_size: int = 224) -> tuple[np.ndarray, list[Any], list[str], list[str]]:
    """The demo photos preprocessed for the pretrained EfficientNet-Lite0: ``(x, crops, names, labels)``.

    >>> x, crops, names, labels = demo_photos(64)
    >>> x.shape, names[0], labels
    ((4, 3, 64, 64), 'chelsea', ['cat', 'neither', 'neither', 'neither'])
    """
    from skimage import data

    from .datasets import resize_for
    from .models.imagenet import preprocess

    mean, std = normalization("efficientnet-lite0")
    arrays, crops = [], []
    for name, _ in DEMO_PHOTOS:
        x, crop = preprocess(getattr(data, name)(), size=image_size, resize=resize_for(image_size), mean=mean, std=std)
        arrays.append(x)
        crops.append(crop)
    return np.stack(arrays), crops, [n for n, _ in DEMO_PHOTOS], [label for _, label in DEMO_PHOTOS]


def cat_dog_probabilities(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From ImageNet-1k logits ``(N, 1000)``: the summed softmax probability of the cat classes
    (281-285) and of the dog classes (151-268).

    >>> z = np.zeros((1, 1000)); z[0, 285] = 10.0
    >>> p_cat, p_dog = cat_dog_probabilities(z)
    >>> round(float(p_cat[0]), 3), round(float(p_dog[0]), 3)
    (0.957, 0.005)
    """
    from .models.imagenet import CAT_CLASSES, DOG_CLASSES

    z = np.asarray(logits, dtype=np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    cats = slice(CAT_CLASSES.start, CAT_CLASSES.stop)
    dogs = slice(DOG_CLASSES.start, DOG_CLASSES.stop)
    return p[:, cats].sum(axis=1), p[:, dogs].sum(axis=1)


def demo_verdicts(p_cat: np.ndarray, p_dog: np.ndarray, min_pet: float = 0.5) -> list[str]:
    """``'cat'`` or ``'dog'`` (the larger summed probability), or ``'neither'`` when the two together
    are below ``min_pet``: a cat-vs-dog decision is meaningless for a photo of a coffee cup.

    >>> demo_verdicts(np.array([0.9, 0.1, 0.01]), np.array([0.05, 0.7, 0.02]))
    ['cat', 'dog', 'neither']
    """
    return [
        "neither" if c + d < min_pet else ("cat" if c >= d else "dog")
        for c, d in zip(np.asarray(p_cat, float), np.asarray(p_dog, float))
    ]


def demo_figure(
    crops: Sequence[Any],
    names: Sequence[str],
    p_cat: np.ndarray,
    p_dog: np.ndarray,
    verdicts: Sequence[str],
    cat_maps: np.ndarray,
    dog_maps: np.ndarray,
    layer: str,
) -> Any:
    """One row per photo: the photo with its verdict, then Grad-CAM of the cat evidence and of the dog evidence."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from .core.image import overlay, to_display_image

    n = len(crops)
    fig, axes = plt.subplots(n, 3, figsize=(10.4, 3.3 * n + 0.7), squeeze=False, layout="constrained")
    for i in range(n):
        image = to_display_image(crops[i])
        axes[i, 0].imshow(image)
        axes[i, 0].set_title(f"{names[i]}: {verdicts[i]}\nP(cat)={p_cat[i]:.2f}  P(dog)={p_dog[i]:.2f}", fontsize=10)
        axes[i, 1].imshow(overlay(image, cat_maps[i]))
        axes[i, 2].imshow(overlay(image, dog_maps[i]))
        for ax in axes[i]:
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 1].set_title("Grad-CAM: cat evidence")
    axes[0, 2].set_title("Grad-CAM: dog evidence")
    fig.colorbar(
        ScalarMappable(Normalize(0.0, 1.0), "jet"),
        ax=axes[:, 1:],
        fraction=0.04,
        pad=0.01,
        label="relevance (normalized)",
    )
    fig.suptitle(
        f"Pretrained EfficientNet-Lite0, cat vs dog (Grad-CAM at '{layer}')\n"
        "evidence = log-sum-exp of the cat logits minus that of the dog logits (and the reverse)",
        fontsize=11,
    )
    return fig


def save_cam_figures(results: Sequence[Any], probes: Probes, classes: Sequence[str], out: Path) -> list[Path]:
    """Draw CAM results computed once for all probe images: ``<method>_<class>.png`` per method and image
    (the figure of ``visualize_cam``) and ``compare_cam_methods.png`` (the figure of ``compare_cam_methods``).

    ``visualize_cam`` and ``compare_cam_methods`` compute their maps themselves; drawing from results
    instead runs Score-CAM (one forward pass per channel of the layer) once rather than twice.
    """
    from .core.image import to_display_image
    from .core.plotting.figures import cam_comparison_figure, cam_figure

    images = [to_display_image(c) for c in probes.crops]
    files = []
    for result in results:
        slug = result.method.lower().replace("-", "").replace("+", "plus")
        for i, label in enumerate(probes.labels):
            fig = cam_figure(images[i], result, i, alpha=0.5, cmap="jet", class_names=classes)
            files.append(save_figure(fig, out / f"{slug}_{classes[label]}.png"))
    fig = cam_comparison_figure(
        images, results, alpha=0.5, cmap="jet", class_names=classes, row_labels=[f"{n}" for n in probes.names]
    )
    files.append(save_figure(fig, out / "compare_cam_methods.png"))
    return files
