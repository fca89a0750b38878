"""Speed of the PyTorch CAMs as multiples of a plain no-grad forward pass, next to torchcam and captum.

Run: ``python -m bench.bench_torch`` (add ``--quick`` for one repeat and batch 1 only). Prints one
Markdown table; every ratio comes from this run on this machine.

Score-CAM's reference cost is "(live channels / batch_size) batched forward passes": the time of
``ceil(n_masks / batch_size)`` forward passes of ``batch_size`` images, measured here too.
"""

from __future__ import annotations

import argparse
import math
import platform
import warnings

import numpy as np
import torch

from visualization.core.backend import live_channels
from visualization.pytorch.cam_visualizer import GradCAM, GradCAMPlusPlus, ScoreCAM
from visualization.pytorch.layer_visualizer import CNNLayerVisualizer
from visualization.pytorch.models import CatDogCNN

from ._common import fmt_ms, fmt_ratio, markdown_table, median_time
from .resnet50 import ResNet50Like


def _torchcam_time(name: str, model, layer: str, x, target, repeats: int, **kwargs) -> float | None:
    """Median time of torchcam's ``name`` extractor (hooks, forward, CAM), or None if not installed."""
    try:
        import torchcam.methods as tcm
    except ImportError:
        return None
    cls = getattr(tcm, name)

    def run():
        with warnings.catch_warnings(), cls(model, layer, **kwargs) as ext:
            warnings.simplefilter("ignore")
            ext(target, model(x))

    return median_time(run, repeats, warmup=1 if repeats > 1 else 0)


def _captum_gradcam():
    try:
        from captum.attr import LayerGradCam
    except ImportError:
        return None
    return LayerGradCam


def bench_model(label: str, model: torch.nn.Module, layer: str, batch: int, repeats: int, scorecam: bool, bs: int):
    x = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    model.eval()
    with torch.no_grad():
        fwd = median_time(lambda: model(x), repeats)
        target = model(x).argmax(1).tolist()
    rows = []

    def row(method: str, ours: float | None, torchcam: float | None, captum: float | None, extra: str = ""):
        rows.append(
            [
                label,
                batch,
                method,
                fmt_ms(fwd),
                fmt_ms(ours),
                fmt_ratio(ours, fwd),
                fmt_ratio(torchcam, fwd),
                fmt_ratio(captum, fwd),
                extra,
            ]
        )

    gc = GradCAM(model, layer)
    t_ours = median_time(lambda: gc.generate_cam(x, target), repeats)
    cap_cls = _captum_gradcam()
    t_tc = _torchcam_time("GradCAM", model, layer, x, target, repeats)
    t_cap = None
    if cap_cls is not None:
        lgc = cap_cls(model, model.get_submodule(layer))
        t_cap = median_time(lambda: lgc.attribute(x, target=target, relu_attributions=True), repeats)
    row("Grad-CAM", t_ours, t_tc, t_cap)

    gpp = GradCAMPlusPlus(model, layer)
    t_ours = median_time(lambda: gpp.generate_cam(x, target), repeats)
    t_tc = _torchcam_time("GradCAMpp", model, layer, x, target, repeats)
    row("Grad-CAM++", t_ours, t_tc, None)

    if scorecam:
        sc = ScoreCAM(model, layer, batch_size=bs)
        live = int(live_channels(CNNLayerVisualizer(model).get_feature_maps(x, layer)).size)
        n_fwd = math.ceil(live / bs)
        xb = torch.rand(bs, 3, 224, 224)
        with torch.no_grad():
            t_batch = median_time(lambda: model(xb), max(1, repeats // 2))
        ideal = n_fwd * t_batch
        t_ours = median_time(lambda: sc.generate_cam(x, target), 1, warmup=0)
        t_tc = _torchcam_time("ScoreCAM", model, layer, x, target, 1, batch_size=bs)
        row(
            "Score-CAM",
            t_ours,
            t_tc,
            None,
            f"{live} live maps -> {n_fwd} fwd of {bs}; ours/ideal {t_ours / ideal:.2f}x"
            + ("" if t_tc is None else f"; ours/torchcam {t_ours / t_tc:.2f}x"),
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="batch 1 only, fewer repeats")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=32, help="Score-CAM masks per forward pass")
    ap.add_argument("--no-scorecam-resnet", action="store_true", help="skip Score-CAM on the ResNet-50 shape")
    args = ap.parse_args()
    torch.manual_seed(0)
    repeats = 2 if args.quick else args.repeats
    batches = [1] if args.quick else [1, 8]
    rows = []
    for batch in batches:
        rows += bench_model("CatDogCNN conv3", CatDogCNN().eval(), "conv3", batch, repeats, True, args.batch_size)
        rows += bench_model(
            "ResNet-50 layer4",
            ResNet50Like().eval(),
            "layer4",
            batch,
            repeats,
            batch == 1 and not args.no_scorecam_resnet,
            args.batch_size,
        )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, 224x224 input\n"
    )
    print(
        markdown_table(
            [
                "model / layer",
                "batch",
                "method",
                "forward ms",
                "ours ms",
                "ours / fwd",
                "torchcam / fwd",
                "captum / fwd",
                "notes",
            ],
            rows,
        )
    )
    np.set_printoptions(precision=3)


if __name__ == "__main__":
    main()
