"""Eigen-CAM as the paper defines it, and the other CAM definitions read against pytorch-grad-cam's, at a
signed pre-activation layer and a post-activation layer, in PyTorch and PaddlePaddle.

Run: ``python -m bench.eigen_cam`` (``--pets N`` adds N photos of ``../shared/data/oxford-pets-sample``;
``--steps`` sets the curves' resolution). Prints one Markdown table per framework: the mean deletion
AUC (lower is better) and insertion AUC (higher is better) of each reading over the photos, for the
predicted class of the pretrained EfficientNet-Lite0 at ``_conv_head`` (the 1x1 convolution of the head,
before BatchNorm and ReLU6: signed) and ``_act1`` (after ReLU6).

Readings ("ours" is what the package computes; the others are written here from their formulas):

* Eigen-CAM: the paper's uncentred projection with the sign of the mean activation (``EigenCAM``);
  ``center=True``; the package's definition before issue #17 (centred, signed to correlate with the
  channel sum); pytorch-grad-cam's (centred, the sign LAPACK happens to return).
* Eigen-Grad-CAM (defined by pytorch-grad-cam, centred): ours (centred, sign of the mean), ``center=False``,
  and the same two older readings for ``g * A``.
* Grad-CAM++: the paper's Eq. 19 (``GradCAMPlusPlus``); pytorch-grad-cam's, which adds ``1e-6`` to the
  denominator of alpha.
* XGrad-CAM: ours (0 where a channel sums to 0); pytorch-grad-cam's (``+1e-7`` in the denominator).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ._common import markdown_table

LAYERS = ("_conv_head", "_act1")
PETS = Path(__file__).resolve().parents[2] / "shared" / "data" / "oxford-pets-sample"


def _photos(n_pets: int) -> tuple[list[str], np.ndarray]:
    from skimage import data

    from visualization.models import preprocess

    names = ["chelsea", "coffee", "astronaut"]
    images = [getattr(data, n)() for n in names]
    pets = sorted(PETS.glob("*/*.jpg"))[:: max(1, len(list(PETS.glob("*/*.jpg"))) // max(n_pets, 1))][:n_pets]
    names += [p.stem for p in pets]
    images += [str(p) for p in pets]
    return names, np.stack([preprocess(im)[0] for im in images])


def _projection(a: np.ndarray, center: bool, sign: str) -> np.ndarray:
    """First principal component of ``a`` (N, C, h, w) with a given centring and sign rule, before ReLU."""
    n, c, h, w = a.shape
    out = np.zeros((n, h * w))
    for i in range(n):
        m = a[i].reshape(c, -1).T.astype(np.float64)
        if center:
            m = m - m.mean(axis=0)
        _, _, vt = np.linalg.svd(m, full_matrices=False)
        p = m @ vt[0]
        if sign == "channel-sum":
            ref = a[i].sum(axis=0).ravel()
            if np.dot(p - p.mean(), ref - ref.mean()) < 0:
                p = -p
        out[i] = p  # sign == "lapack": as returned
    return np.maximum(out, 0.0).reshape(n, h, w)


def _gradcampp_pgc(a: np.ndarray, g: np.ndarray) -> np.ndarray:
    g2, g3 = g**2, g**3
    alpha = g2 / (2 * g2 + a.sum(axis=(2, 3), keepdims=True) * g3 + 1e-6)
    alpha = np.where(g != 0, alpha, 0)
    return np.maximum((np.maximum(g, 0) * alpha).sum(axis=(2, 3))[:, :, None, None] * a, 0).sum(axis=1)


def _weighted(weights: np.ndarray, a: np.ndarray) -> np.ndarray:
    return np.maximum(np.einsum("nc,nchw->nhw", weights, a), 0.0)


def readings(fw: str, model, x, layer: str) -> tuple[list[tuple[str, str, np.ndarray]], np.ndarray]:
    """``(method, reading, maps at input size)`` for every reading compared, and the predicted classes."""
    from visualization import frameworks
    from visualization.core.image import normalize_maps, resize_bilinear

    cams = frameworks.get_framework(fw).cams
    backend = frameworks.get_framework(fw).backend
    layer_obj = dict(backend.named_layers(model))[layer]
    cap = backend.capture_many(model, x, [layer], [layer_obj], None, True)[0]
    a, g, size = cap.activations.astype(np.float64), cap.gradients.astype(np.float64), tuple(x.shape[-2:])

    def up(raw: np.ndarray) -> np.ndarray:
        return normalize_maps(resize_bilinear(raw.astype(np.float32), size))

    def ours(cls: str, **kw) -> np.ndarray:
        return getattr(cams, cls)(model, layer, **kw).compute(x, cap.targets.tolist()).heatmaps

    xgrad_pgc = (g * a).sum(axis=(2, 3)) / (a.sum(axis=(2, 3)) + 1e-7)
    rows: list[tuple[str, str, Callable[[], np.ndarray]]] = [
        ("Eigen-CAM", "paper: uncentred, sign of the mean (default)", lambda: ours("EigenCAM")),
        ("Eigen-CAM", "center=True", lambda: ours("EigenCAM", center=True)),
        ("Eigen-CAM", "before #17: centred, sign of the channel sum", lambda: up(_projection(a, True, "channel-sum"))),
        ("Eigen-CAM", "pytorch-grad-cam: centred, LAPACK's sign", lambda: up(_projection(a, True, "lapack"))),
        ("Eigen-Grad-CAM", "centred, sign of the mean (default)", lambda: ours("EigenGradCAM")),
        ("Eigen-Grad-CAM", "center=False", lambda: ours("EigenGradCAM", center=False)),
        (
            "Eigen-Grad-CAM",
            "before #17: centred, sign of the channel sum",
            lambda: up(_projection(g * a, True, "channel-sum")),
        ),
        ("Eigen-Grad-CAM", "pytorch-grad-cam: centred, LAPACK's sign", lambda: up(_projection(g * a, True, "lapack"))),
        ("Grad-CAM++", "paper Eq. 19 (ours)", lambda: ours("GradCAMPlusPlus")),
        ("Grad-CAM++", "pytorch-grad-cam: +1e-6 in alpha's denominator", lambda: up(_gradcampp_pgc(a, g))),
        ("XGrad-CAM", "ours: 0 where a channel sums to 0", lambda: ours("XGradCAM")),
        ("XGrad-CAM", "pytorch-grad-cam: +1e-7 in the denominator", lambda: up(_weighted(xgrad_pgc, a))),
        ("Grad-CAM", "ours (= pytorch-grad-cam)", lambda: ours("GradCAM")),
    ]
    return [(m, r, np.asarray(fn(), np.float32)) for m, r, fn in rows], cap.targets


def run(fw: str, names: Sequence[str], xs: np.ndarray, steps: int, only: Sequence[str] = ()) -> str:
    from visualization import frameworks
    from visualization.models import load_model

    metrics = importlib.import_module(f"visualization.{'pytorch' if fw == 'torch' else 'paddle'}.metrics")
    backend = frameworks.get_framework(fw).backend
    model = load_model("efficientnet-lite0", fw)
    x = backend.from_numpy(model, xs)
    table = []
    for layer in LAYERS:
        rows, targets = readings(fw, model, x, layer)
        for method, reading, maps in rows:
            if only and method not in only:
                continue
            d = metrics.deletion_curve(model, x, maps, targets.tolist(), n_steps=steps)
            i = metrics.insertion_curve(model, x, maps, targets.tolist(), n_steps=steps)
            table.append([layer, method, reading, f"{d.mean_auc:.3f}", f"{i.mean_auc:.3f}"])
            print(f"{fw} {layer} {method} {reading}: {d.mean_auc:.3f} {i.mean_auc:.3f}", file=sys.stderr)
    head = f"{fw}: {len(names)} photos ({', '.join(names[:3])}{' + pets' if len(names) > 3 else ''}), {steps} steps"
    return head + "\n\n" + markdown_table(["layer", "method", "reading", "deletion ↓", "insertion ↑"], table)


def main(argv: Sequence[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m bench.eigen_cam", description=__doc__)
    ap.add_argument("--framework", nargs="+", choices=["torch", "paddle"], default=["torch", "paddle"])
    ap.add_argument("--pets", type=int, default=0, help="add this many Oxford-IIIT Pet photos (default 0)")
    ap.add_argument("--steps", type=int, default=16, help="deletion/insertion steps (default 16)")
    ap.add_argument("--only", nargs="+", default=(), help="methods to measure, e.g. Eigen-CAM (default: all)")
    args = ap.parse_args(argv)
    names, xs = _photos(args.pets)
    text = "\n\n".join(run(fw, names, xs, args.steps, args.only) for fw in args.framework)
    print(text)
    return text


if __name__ == "__main__":
    main()
