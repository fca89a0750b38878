"""Regenerate every figure that the tutorial chapters (docs/0*.md) show, into docs/images/.

Run from the repository root: ``python scripts/make_doc_figures.py``; ``--only NAME ...`` redoes some
figures, ``--list`` prints the names. The chapters 02-05 figures take about a minute on an idle 2-core
CPU, half of it the 320 masked forward passes of Score-CAM; chapter 07's take several more minutes
(``saliency_sanity`` redraws five layers twice, ``actmax_tv`` runs three 256-step optimizations at
128 px: 45 minutes on a 2-core machine shared with other jobs).

The figures come from the project's own API (``CNNLayerVisualizer``, the CAM and saliency classes,
``ActivationMaximization``, ``model_parameter_randomization``, the figure builders,
``animate_feature_maps``) on the pretrained EfficientNet-Lite0 (for chapter 07 also its ReLU twin), the
CC0 photo ``skimage.data.chelsea()`` and four pet photos of ``tests/data/pets``; only the two figures
about convolution itself (hand-made kernels, receptive fields) call torch directly. No network access,
no downloads.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout without installing

from visualization.core.image import overlay  # noqa: E402
from visualization.core.plotting.evolution import animate_feature_maps  # noqa: E402
from visualization.models import imagenet_class_names, load_model, preprocess  # noqa: E402
from visualization.pytorch.cam_visualizer import GradCAM, GradCAMPlusPlus, ScoreCAM  # noqa: E402
from visualization.pytorch.layer_visualizer import CNNLayerVisualizer  # noqa: E402
from visualization.pytorch.models import CatDogCNN  # noqa: E402

OUT = ROOT / "docs" / "images"
DPI = 80
PREDICTED, CONTRAST = 282, 211  # 'tiger cat' (top-1 for chelsea) and 'vizsla' (the most likely dog)


class Context:
    """The pretrained model, the photo and its input tensor, built once."""

    def __init__(self) -> None:
        torch.manual_seed(0)
        self.model = load_model("efficientnet-lite0", framework="torch")
        arr, self.crop = preprocess(data.chelsea())
        self.x = torch.from_numpy(arr)[None]
        self.image = np.asarray(self.crop, np.float32) / 255.0
        self.names = imagenet_class_names()
        self.viz = CNNLayerVisualizer(self.model)


def save(fig: plt.Figure, name: str) -> None:
    """Write ``fig`` as an RGB PNG (no alpha channel, Pillow's best compression: about 13% smaller)."""
    path = OUT / name
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    Image.open(buf).convert("RGB").save(path, optimize=True)
    print(f"  {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


# ----------------------------------------------------------------------------- chapter 02
def conv_edge_kernels(ctx: Context) -> None:
    """Three hand-made 3x3 kernels slid over the grey photo: each one answers one question."""
    grey = torch.from_numpy(ctx.image.mean(axis=2))[None, None]
    kernels = {
        "vertical edges (Sobel x)": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
        "horizontal edges (Sobel y)": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
        "blur (box 3x3)": [[1 / 9] * 3] * 3,
    }
    fig, axes = plt.subplots(2, 4, figsize=(12, 5.0), layout="constrained", height_ratios=[1, 2.6])
    axes[0, 0].axis("off")
    axes[1, 0].imshow(grey[0, 0, 1:-1, 1:-1], cmap="gray")
    axes[1, 0].set_title("input (grey)")
    for j, (title, k) in enumerate(kernels.items(), start=1):
        w = torch.tensor(k, dtype=torch.float32)[None, None]
        axes[0, j].imshow(w[0, 0], cmap="RdBu_r", vmin=-2, vmax=2)
        for (r, c), v in np.ndenumerate(w[0, 0].numpy()):
            axes[0, j].text(
                c, r, f"{v:.2g}", ha="center", va="center", fontsize=9, color="white" if abs(v) > 1.5 else "black"
            )
        axes[0, j].set_title("kernel", fontsize=9)
        out = F.conv2d(grey, w, padding=1)[0, 0, 1:-1, 1:-1].numpy()  # the border saw zero padding
        if "blur" in title:
            axes[1, j].imshow(out, cmap="gray")
        else:
            lim = float(np.percentile(np.abs(out), 99.5))  # a few strong edges would wash out the rest
            axes[1, j].imshow(out, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[1, j].set_title(title)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("A kernel is a pattern detector: output = how much each patch looks like the kernel")
    save(fig, "conv_edge_kernels.png")


def filters_stem(ctx: Context) -> None:
    save(ctx.viz.visualize_conv_filters("_conv_stem", max_filters=32), "filters_conv_stem.png")
    save(ctx.viz.visualize_conv_filters("_conv_stem", max_filters=6, mode="channels"), "filters_conv_stem_channels.png")


def filters_depthwise(ctx: Context) -> None:
    save(ctx.viz.visualize_conv_filters("_blocks.3._depthwise_conv", max_filters=24), "filters_depthwise.png")


def receptive_field(ctx: Context) -> None:
    """|d unit / d input| for the centre unit of four layers: the effective receptive field."""
    layers = ["_conv_stem", "_blocks.2", "_blocks.4", "_blocks.10"]
    model = ctx.model
    fig, axes = plt.subplots(1, len(layers), figsize=(3.2 * len(layers), 3.6), layout="constrained")
    for ax, name in zip(axes, layers):
        store = {}
        handle = model.get_submodule(name).register_forward_hook(lambda m, i, o, s=store: s.setdefault("out", o))
        x = ctx.x.clone().requires_grad_(True)
        try:
            model(x)
        finally:
            handle.remove()
        out = store["out"]
        h, w = out.shape[-2:]
        (g,) = torch.autograd.grad(out[0, :, h // 2, w // 2].sum(), x)
        mag = g[0].abs().sum(0).numpy()
        ys, xs = np.nonzero(mag > 1e-3 * mag.max())
        ax.imshow(ctx.image * 0.35 + 0.65)
        ax.imshow(np.log10(mag + 1e-3 * mag.max()), cmap="magma", alpha=0.75)
        ax.set_title(f"'{name}' ({h}x{w})\nnon-zero area ~{np.ptp(ys) + 1}x{np.ptp(xs) + 1} px", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Where the centre unit of each layer looks (log |gradient| w.r.t. the input pixels)")
    save(fig, "receptive_field.png")


# ----------------------------------------------------------------------------- chapter 03
def feature_maps_depths(ctx: Context) -> None:
    for layer in ["_blocks.2", "_blocks.4", "_blocks.10"]:
        fig = ctx.viz.visualize_feature_maps(ctx.x, layer, max_maps=16, order="activation")
        save(fig, f"feature_maps_{layer.replace('.', '_')}.png")


def feature_map_scales(ctx: Context) -> None:
    layer = "_blocks.4._act0"  # a ReLU6 output: values in [0, 6], some channels off for this photo
    save(ctx.viz.visualize_feature_maps(ctx.x, layer, max_maps=12), "fmaps_shared_scale.png")
    save(ctx.viz.visualize_feature_maps(ctx.x, layer, max_maps=12, shared_scale=False), "fmaps_per_map_scale.png")


def surface(ctx: Context) -> None:
    save(ctx.viz.visualize_feature_map_surface(ctx.x, "_blocks.10", channel=51), "feature_map_surface.png")


def training_gif(ctx: Context) -> None:
    """A toy: CatDogCNN (64x64) learns to tell crops of the cat photo from crops of the coffee photo;
    conv1's maps of one fixed cat crop are recorded after every epoch."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    photos = [np.asarray(preprocess(f(), size=128, resize=128)[0]) for f in (data.chelsea, data.coffee)]

    def crops(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = rng.integers(0, 2, n)
        out = np.empty((n, 3, 64, 64), np.float32)
        for i, lab in enumerate(labels):
            r, c = rng.integers(0, 65, 2)
            out[i] = photos[lab][:, r : r + 64, c : c + 64]
        return torch.from_numpy(out), torch.from_numpy(labels)

    model = CatDogCNN(num_classes=2, image_size=64)
    viz = CNNLayerVisualizer(model)
    probe = torch.from_numpy(photos[0][None, :, 32:96, 32:96].copy())
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    frames, labels = [viz.get_feature_maps(probe, "conv1")[0, :6]], ["before training"]
    for epoch in range(1, 5):
        model.train()
        for _ in range(8):
            xb, yb = crops(16)
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        frames.append(viz.get_feature_maps(probe, "conv1")[0, :6])
        labels.append(f"after epoch {epoch}")
    with plt.rc_context({"figure.dpi": 72}):
        path = animate_feature_maps(
            frames, OUT / "training_evolution.gif", labels=labels, title="conv1 of CatDogCNN,", fps=1.0
        )
    print(f"  {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


# ----------------------------------------------------------------------------- chapter 04
def gradients(ctx: Context) -> None:
    save(ctx.viz.visualize_gradients(ctx.x, PREDICTED, "_blocks.15", max_maps=8), "gradients_blocks_15.png")


def cam_comparison(ctx: Context) -> None:
    """Three methods x two classes. ``compute_many`` explains both classes from one capture, so
    Score-CAM runs its 320 masked inputs once (``compare_cam_methods`` would run them per class);
    the figure is the one ``compare_cam_methods`` draws, with row labels."""
    import dataclasses

    from visualization.core.plotting.figures import cam_comparison_figure

    targets = [PREDICTED, CONTRAST]
    per_method = []
    for cls in (GradCAM, GradCAMPlusPlus, ScoreCAM):
        results = cls(ctx.model, "_blocks.15").compute_many(ctx.x, targets)
        per_method.append(
            dataclasses.replace(
                results[0],
                heatmaps=np.concatenate([r.heatmaps for r in results]),
                targets=np.concatenate([r.targets for r in results]),
                outputs=np.concatenate([r.outputs for r in results]),
            )
        )
    fig = cam_comparison_figure(
        [ctx.image] * len(targets),
        per_method,
        alpha=0.5,
        cmap="jet",
        class_names=ctx.names,
        row_labels=["predicted class", "contrast class (a dog)"],
    )
    save(fig, "cam_comparison.png")


def cam_layers(ctx: Context) -> None:
    layers = ["_blocks.4", "_blocks.10", "_blocks.15", "_act1"]
    fig, axes = plt.subplots(1, len(layers), figsize=(3.0 * len(layers), 3.5), layout="constrained")
    for ax, layer in zip(axes, layers):
        res = GradCAM(ctx.model, layer).compute(ctx.x, PREDICTED)
        ax.imshow(overlay(ctx.image, res.heatmaps[0]))
        h, w = res.raw.shape[-2:]
        ax.set_title(f"'{layer}' ({h}x{w})", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"Grad-CAM for '{ctx.names[PREDICTED]}' at four depths")
    save(fig, "cam_layers.png")


def sanity_check(ctx: Context) -> None:
    """Two of Adebayo et al.'s (2018) checks: another class must give another map, and randomizing
    the weights from the top down (cascading randomization) must change the map."""
    import copy

    from scipy.stats import spearmanr

    model = copy.deepcopy(ctx.model)
    torch.manual_seed(1)
    steps = [
        ("pretrained, 'tiger cat'", [], PREDICTED),
        ("pretrained, 'vizsla'", [], CONTRAST),
        ("random _fc, 'tiger cat'", ["_fc"], PREDICTED),
        ("+ random _conv_head", ["_conv_head"], PREDICTED),
    ]
    fig, axes = plt.subplots(1, len(steps), figsize=(3.0 * len(steps), 3.7), layout="constrained")
    base = None
    for ax, (title, reset, target) in zip(axes, steps):
        for name in reset:
            model.get_submodule(name).reset_parameters()
        res = GradCAM(model, "_blocks.15").compute(ctx.x, target)
        heat = res.heatmaps[0]
        base = heat if base is None else base
        ax.imshow(overlay(ctx.image, heat))
        if res.raw.max() == 0:  # every position negative before the ReLU: nothing is left to show
            note = "map is 0 everywhere"
        else:
            note = f"Spearman with first map {spearmanr(base.ravel(), heat.ravel())[0]:+.2f}"
        ax.set_title(f"{title}\n{note}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Sanity checks for Grad-CAM at '_blocks.15': change the class or the weights, the map must change")
    save(fig, "sanity_check.png")


def save_palette(fig: plt.Figure, name: str) -> None:
    """``save`` as a 256-colour palette PNG (maximum-coverage palette, which keeps the colour bar smooth):
    a grid of photo overlays stays under 300 KB that way, a third of its RGB size."""
    path = OUT / name
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    rgb = Image.open(buf).convert("RGB")
    rgb.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"  {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")


def cam_family(ctx: Context) -> None:
    """Every CAM method of the package on the same photo and class, at two layers: '_act1' (ReLU6,
    then global average pooling and the linear classifier) and '_blocks.15' (a linear bottleneck, no
    activation). Each title gives the Pearson correlation with Grad-CAM's map at the same layer.
    Exact Score-CAM runs one masked input per live channel (462 at '_act1', 320 at '_blocks.15');
    the fast one uses the ``top_k`` of the command line's ``fastscorecam``."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    from visualization.core.errors import LayerOutputError
    from visualization.frameworks import METHOD_OPTIONS
    from visualization.pytorch.cam_visualizer import (
        CAM,
        AblationCAM,
        EigenCAM,
        EigenGradCAM,
        HiResCAM,
        LayerCAM,
        SmoothGradCAMPlusPlus,
        XGradCAM,
    )

    top_k = METHOD_OPTIONS["fastscorecam"]["top_k"]
    methods = [
        (CAM, {}),
        (GradCAM, {}),
        (GradCAMPlusPlus, {}),
        (XGradCAM, {}),
        (HiResCAM, {}),
        (LayerCAM, {}),
        (EigenCAM, {}),
        (EigenGradCAM, {}),
        (SmoothGradCAMPlusPlus, {}),
        (AblationCAM, {"batch_size": 64}),
        (ScoreCAM, {"batch_size": 64}),
        (ScoreCAM, {"batch_size": top_k, "top_k": top_k}),
    ]
    layers = {
        "_act1": "_act1 (1280x7x7)\nReLU6 -> GAP -> fc",
        "_blocks.15": "_blocks.15 (320x7x7)\nno activation",
    }
    cols = 6
    rows = -(-len(methods) // cols)  # per layer
    fig, axes = plt.subplots(
        rows * len(layers), cols, figsize=(1.75 * cols + 1.1, 2.05 * rows * len(layers) + 0.4), layout="constrained"
    )
    for block, (layer, label) in enumerate(layers.items()):
        maps: list[tuple[str, np.ndarray | None]] = []
        for cls, options in methods:
            t0 = time.perf_counter()
            try:
                res = cls(ctx.model, layer, **options).compute(ctx.x, PREDICTED)
            except LayerOutputError:  # CAM: no linear layer takes this layer's channels
                maps.append((cls.method_name, None))
                continue
            maps.append((res.method, res.heatmaps[0]))
            print(f"  {layer:<11s} {res.method:<19s} {time.perf_counter() - t0:5.1f} s")
        found = dict(maps)
        reference = found["Grad-CAM"].ravel()
        for ax, (method, heat) in zip(axes[block * rows : (block + 1) * rows].flat, maps):
            ax.set_xticks([])
            ax.set_yticks([])
            if heat is None:
                ax.text(0.5, 0.5, "not applicable:\nno fc layer takes\nthese channels", ha="center", va="center")
                ax.set_title(method, fontsize=9)
                continue
            ax.imshow(overlay(ctx.image, heat))
            r = np.corrcoef(reference, heat.ravel())[0, 1]
            ax.set_title(f"{method}\n{'reference' if method == 'Grad-CAM' else f'r = {r:+.2f}'}", fontsize=9)
        axes[block * rows, 0].set_ylabel(label, fontsize=10)
        exact, fast = found["Score-CAM"].ravel(), found[f"Score-CAM (top {top_k})"].ravel()
        print(f"  {layer}: Score-CAM top {top_k} vs exact Score-CAM, r = {np.corrcoef(exact, fast)[0, 1]:+.3f}")
    fig.colorbar(ScalarMappable(Normalize(0.0, 1.0), "jet"), ax=axes, fraction=0.02, pad=0.01, label="relevance")
    fig.suptitle(f"Every CAM method, class {PREDICTED} '{ctx.names[PREDICTED]}' (r: correlation with Grad-CAM's map)")
    save_palette(fig, "cam_family.png")


# ----------------------------------------------------------------------------- chapter 05
def parity(ctx: Context) -> None:
    """The same Grad-CAM in both frameworks on the same weights, and their difference."""
    import paddle

    from visualization.paddle.cam_visualizer import GradCAM as PaddleGradCAM

    pmodel = load_model("efficientnet-lite0", framework="paddle")
    ht = GradCAM(ctx.model, "_blocks.15").generate_cam(ctx.x, PREDICTED)
    hp = PaddleGradCAM(pmodel, "_blocks.15").generate_cam(paddle.to_tensor(ctx.x.numpy()), PREDICTED)
    diff = np.abs(ht - hp)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8), layout="constrained")
    axes[0].imshow(overlay(ctx.image, ht))
    axes[0].set_title("PyTorch Grad-CAM")
    axes[1].imshow(overlay(ctx.image, hp))
    axes[1].set_title("PaddlePaddle Grad-CAM")
    im = axes[2].imshow(diff, cmap="magma")
    axes[2].set_title(f"|torch - paddle|, max {diff.max():.1e}")
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.02)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Same weights, same input, two frameworks: '_blocks.15', class 282 'tiger cat'")
    save(fig, "parity_torch_paddle.png")


# ----------------------------------------------------------------------------- chapter 04: several objects
PETS = ROOT / "tests" / "data" / "pets"


def pets_grid(size: int = 160) -> tuple[np.ndarray, torch.Tensor]:
    """Four in-repo pet photos in a 2x2 grid (cat, dog / dog, cat), as a uint8 image and the network's input."""
    from visualization.models.imagenet import MEAN, STD

    files = ["cats/Egyptian_Mau_10.jpg", "dogs/beagle_10.jpg", "dogs/samoyed_108.jpg", "cats/Bengal_123.jpg"]
    tiles = [np.asarray(preprocess(PETS / f)[1].resize((size, size))) for f in files]
    img = np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)
    x = (img.astype(np.float32) - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return img, torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def cam_several_objects(ctx: Context) -> None:
    """Two cats and two dogs in one image; the target is the sum of the cat (281-285) or dog (151-268)
    logits; Grad-CAM, Grad-CAM++ and LayerCAM at '_blocks.15', with each map's mean per quadrant."""
    from visualization.pytorch.cam_visualizer import LayerCAM

    img, x = pets_grid()
    targets = {
        "cats (sum of logits 281-285)": lambda out: out[:, 281:286].sum(1),
        "dogs (sum of logits 151-268)": lambda out: out[:, 151:269].sum(1),
    }
    methods = [GradCAM, GradCAMPlusPlus, LayerCAM]
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.4), layout="constrained")
    for r, (tname, target) in enumerate(targets.items()):
        axes[r, 0].imshow(img)
        axes[r, 0].set_title(f"target: {tname}", fontsize=9)
        for c, cls in enumerate(methods, start=1):
            heat = cls(ctx.model, "_blocks.15").generate_cam(x, target)
            h = heat.shape[0] // 2
            q = [heat[:h, :h].mean(), heat[:h, h:].mean(), heat[h:, :h].mean(), heat[h:, h:].mean()]
            axes[r, c].imshow(overlay(img.astype(np.float32) / 255, heat))
            axes[r, c].set_title(
                f"{cls.__name__}\nmean per quadrant {q[0]:.2f} {q[1]:.2f} / {q[2]:.2f} {q[3]:.2f}", fontsize=9
            )
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("Several animals in one image (in-repo Oxford-IIIT Pet photos), layer '_blocks.15'")
    save_palette(fig, "cam_several_objects.png")


# ----------------------------------------------------------------------------- chapter 07
def relu_twin(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of the model with every ``nn.ReLU6`` replaced by ``nn.ReLU`` (same weights)."""
    import copy

    twin = copy.deepcopy(model)
    for module in list(twin.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, torch.nn.ReLU6):
                setattr(module, name, torch.nn.ReLU())
    return twin


def _show_map(ax: plt.Axes, attributions: np.ndarray, title: str, signed: bool = False) -> None:
    """|attribution| (max over colour channels) or the signed sum, clipped at the 99th percentile."""
    if signed:
        m = attributions[0].sum(axis=0)
        lim = np.percentile(np.abs(m), 99) or 1.0
        ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
    else:
        m = np.abs(attributions[0]).max(axis=0)
        ax.imshow(np.clip(m / (np.percentile(m, 99) or 1.0), 0, 1), cmap="inferno")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def saliency_relu(ctx: Context) -> None:
    """Gradient, Guided Backprop and Deconvolution on the ReLU6 network (all three the same) and on its ReLU twin."""
    import warnings

    from visualization.pytorch.saliency import Deconvolution, GuidedBackprop, VanillaGradient

    twin = relu_twin(ctx.model)
    fig, axes = plt.subplots(2, 4, figsize=(12, 6.3), layout="constrained")
    for r, (label, model) in enumerate([("EfficientNet-Lite0 (ReLU6)", ctx.model), ("ReLU twin (same weights)", twin)]):
        axes[r, 0].imshow(ctx.image)
        axes[r, 0].set_title(label, fontsize=9)
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the ReLU6 row: "no ReLU": the plain gradient
            grad = VanillaGradient(model).compute(ctx.x, PREDICTED).attributions
            for c, cls in enumerate([VanillaGradient, GuidedBackprop, Deconvolution], start=1):
                a = grad if cls is VanillaGradient else cls(model).compute(ctx.x, PREDICTED).attributions
                rho = np.corrcoef(a.ravel(), grad.ravel())[0, 1]
                _show_map(axes[r, c], a, f"{cls.method_name}\ncorrelation with gradient {rho:+.2f}")
    fig.suptitle(f"|attribution| for '{ctx.names[PREDICTED]}': Guided Backprop and Deconvolution change only ReLUs")
    save_palette(fig, "saliency_relu.png")


def saliency_methods(ctx: Context) -> None:
    """The saliency methods of the package on the ReLU twin, same photo and class."""
    from visualization.pytorch.saliency import (
        GradientXInput,
        GuidedBackprop,
        IntegratedGradients,
        Occlusion,
        SmoothGrad,
        VanillaGradient,
    )

    twin = relu_twin(ctx.model)
    panels = [
        ("gradient", VanillaGradient(twin), False),
        ("SmoothGrad (gradient, 16 samples)", SmoothGrad(VanillaGradient(twin), n_samples=16, seed=0), False),
        ("gradient x input", GradientXInput(twin), True),
        ("Integrated Gradients (32 steps)", IntegratedGradients(twin, n_steps=32), True),
        ("Guided Backprop", GuidedBackprop(twin), False),
        ("SmoothGrad (Guided Backprop)", SmoothGrad(GuidedBackprop(twin), n_samples=16, seed=0), False),
        ("Occlusion of log p (48 px, stride 24)", Occlusion(twin, window=(48, 48), stride=(24, 24)), True),
    ]

    def log_prob(out: torch.Tensor) -> torch.Tensor:  # occlusion: a grey patch raises every logit of the twin
        return torch.log_softmax(out, dim=1)[:, PREDICTED]

    fig, axes = plt.subplots(2, 4, figsize=(12, 6.4), layout="constrained")
    axes = axes.ravel()
    axes[0].imshow(ctx.image)
    axes[0].set_title("input", fontsize=9)
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    for ax, (title, method, signed) in zip(axes[1:], panels):
        _show_map(
            ax,
            method.compute(ctx.x, log_prob if isinstance(method, Occlusion) else PREDICTED).attributions,
            title + ("\n(signed sum: red +, blue -)" if signed else "\n|attribution|"),
            signed,
        )
    fig.suptitle(f"Saliency for '{ctx.names[PREDICTED]}' on the ReLU twin of EfficientNet-Lite0")
    save_palette(fig, "saliency_methods.png")


def saliency_sanity(ctx: Context) -> None:
    """Cascading randomization (Adebayo et al. 2018) of the ReLU twin: gradient vs Guided Backprop."""
    from visualization.pytorch.metrics import model_parameter_randomization
    from visualization.pytorch.saliency import GuidedBackprop, VanillaGradient

    twin = relu_twin(ctx.model)
    layers = ["_fc", "_conv_head", "_blocks.15._project_conv", "_blocks.15._depthwise_conv", "_blocks.14._project_conv"]
    fig, axes = plt.subplots(2, len(layers) + 1, figsize=(14, 5.4), layout="constrained")
    for r, method in enumerate([VanillaGradient(twin), GuidedBackprop(twin)]):
        res = model_parameter_randomization(twin, method, ctx.x, PREDICTED, layers=layers, keep_maps=True)
        maps = [res.original_maps[0], *[m[0] for m in res.randomized_maps]]
        titles = ["pretrained", *[f"+ {n}\nSpearman {s:+.2f}" for n, s in zip(layers, res.spearman[:, 0])]]
        for c, (m, t) in enumerate(zip(maps, titles)):
            axes[r, c].imshow(np.clip(m / (np.percentile(m, 99) or 1.0), 0, 1), cmap="inferno")
            axes[r, c].set_title(t, fontsize=9)
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(method.method_name)
    fig.suptitle(
        "Cascading randomization of the ReLU twin from the top (each column re-draws one more layer):\n"
        "the gradient changes, Guided Backprop keeps drawing the cat"
    )
    save_palette(fig, "saliency_sanity.png")


def actmax_tv(ctx: Context) -> None:
    """Activation maximization of one class with three strengths of the TV regularizer."""
    from visualization.models.imagenet import MEAN, STD
    from visualization.pytorch.activation_maximization import ActivationMaximization

    am = ActivationMaximization(ctx.model, image_size=128, mean=MEAN, std=STD)
    weights = [0.0, 0.1, 1.0]
    fig, axes = plt.subplots(1, len(weights) + 1, figsize=(13, 3.6), layout="constrained")
    for ax, tv in zip(axes, weights):
        res = am.maximize(class_index=11, steps=256, tv_weight=tv, seed=0)  # 11: 'goldfinch'
        ax.imshow(res.image)
        ax.set_title(f"tv_weight={tv}: logit {res.value:.1f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        axes[-1].plot(res.history, label=f"tv_weight={tv}")
    axes[-1].set_xlabel("Adam step")
    axes[-1].set_ylabel("'goldfinch' logit (jittered image)")
    axes[-1].legend(fontsize=8)
    fig.suptitle(f"Activation maximization of '{ctx.names[11]}' (128 x 128, 256 steps, fft parameterization)")
    save_palette(fig, "actmax_tv.png")


FIGURES: dict[str, Callable[[Context], None]] = {
    "conv_edge_kernels": conv_edge_kernels,
    "filters_stem": filters_stem,
    "filters_depthwise": filters_depthwise,
    "receptive_field": receptive_field,
    "feature_maps_depths": feature_maps_depths,
    "feature_map_scales": feature_map_scales,
    "surface": surface,
    "training_gif": training_gif,
    "gradients": gradients,
    "cam_comparison": cam_comparison,
    "cam_layers": cam_layers,
    "sanity_check": sanity_check,
    "cam_family": cam_family,
    "parity": parity,
    "cam_several_objects": cam_several_objects,
    "saliency_relu": saliency_relu,
    "saliency_methods": saliency_methods,
    "saliency_sanity": saliency_sanity,
    "actmax_tv": actmax_tv,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="+", choices=sorted(FIGURES), help="make only these figures")
    ap.add_argument("--list", action="store_true", help="list the figure names and exit")
    args = ap.parse_args()
    if args.list:
        print("\n".join(FIGURES))
        return
    OUT.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    ctx = Context()
    for name in args.only or FIGURES:
        t0 = time.perf_counter()
        print(f"{name}:")
        FIGURES[name](ctx)
        print(f"  {time.perf_counter() - t0:.1f} s")
    print(f"done in {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
