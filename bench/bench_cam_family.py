"""The CAM family: cost of every method as multiples of a plain forward pass, Ablation-CAM's tail-only
shortcut against full forward passes, and fast (top-k) Score-CAM against exact Score-CAM.

Run: ``python -m bench.bench_cam_family`` (``--quick``: one repeat, fewer photos, a smaller
Ablation-CAM input). Prints Markdown tables; every ratio comes from this run on this machine.

1. Every CAM class at ``layer4`` of a ResNet-50-shaped network (random weights, 224 x 224, batch 1),
   next to torchcam's extractor of the same name where one exists.
2. Ablation-CAM at ``layer4`` (2048 channels): ``strategy="auto"`` (only the layers after the
   target run on the ablated copies) against ``strategy="full"`` (a full forward pass per copy, the
   approach of pytorch-grad-cam), same batch size, and the largest heatmap difference.
3. Score-CAM with ``top_k`` against exact Score-CAM on the pretrained EfficientNet-Lite0 at
   ``_act1`` (its last post-activation layer) on the bundled photos: time ratio and Pearson
   correlation of the heatmaps.
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import torch

from visualization.pytorch import cam_visualizer as cams

from ._common import fmt_ms, fmt_ratio, markdown_table, median_time
from .resnet50 import ResNet50Like

TORCHCAM = {
    "GradCAM": "GradCAM",
    "GradCAMPlusPlus": "GradCAMpp",
    "XGradCAM": "XGradCAM",
    "LayerCAM": "LayerCAM",
    "SmoothGradCAMPlusPlus": "SmoothGradCAMpp",
    "ScoreCAM": "ScoreCAM",
}
METHODS = (
    "GradCAM",
    "GradCAMPlusPlus",
    "XGradCAM",
    "LayerCAM",
    "HiResCAM",
    "EigenCAM",
    "EigenGradCAM",
    "SmoothGradCAMPlusPlus",
    "CAM",
    "AblationCAM",
    "ScoreCAM",
)
PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def _torchcam_time(name: str, model, layer: str, x, repeats: int) -> float | None:
    try:
        from torchcam import methods
    except ImportError:
        return None
    kwargs = {"batch_size": 32} if name == "ScoreCAM" else {}

    def run() -> None:
        with getattr(methods, name)(model, layer, **kwargs) as extractor:
            out = model(x)
            extractor(out.argmax(1).tolist(), out)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return median_time(run, repeats)


def method_costs(repeats: int) -> str:
    model = ResNet50Like().eval()
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fwd = median_time(lambda: model(x), max(repeats, 3))
    rows = []
    for name in METHODS:
        # exact Score-CAM at 2048 channels is ~2000 forward passes (bench_torch measures it against
        # torchcam); here the fast option, so torchcam's exact extractor is not its peer
        options = {"top_k": 40} if name == "ScoreCAM" else {}
        cam = getattr(cams, name)(model, "layer4", **options)
        slow = name in ("ScoreCAM", "AblationCAM")
        ours = median_time(lambda cam=cam: cam.compute(x), 1 if slow else repeats, warmup=0 if slow else 1)
        theirs = None if name == "ScoreCAM" else TORCHCAM.get(name)
        ref = _torchcam_time(theirs, model, "layer4", x, repeats) if theirs else None
        rows.append([cam.method_name, fmt_ms(ours), fmt_ratio(ours, fwd), fmt_ratio(ref, fwd) if ref else "n/a"])
    head = f"ResNet-50-shaped network, layer4 (2048 x 7 x 7), batch 1, one forward = {fwd * 1e3:.1f} ms"
    return head + "\n\n" + markdown_table(["method", "ours", "ours / forward", "torchcam / forward"], rows)


def ablation(size: int) -> str:
    model = ResNet50Like().eval()
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(1))
    target = 3
    start = time.perf_counter()
    fast = cams.AblationCAM(model, "layer4", batch_size=32).compute(x, target)
    t_fast = time.perf_counter() - start
    start = time.perf_counter()
    full = cams.AblationCAM(model, "layer4", batch_size=32, strategy="full").compute(x, target)
    t_full = time.perf_counter() - start
    with torch.no_grad():
        fwd = median_time(lambda: model(x), 3)
    live = int((np.abs(fast.weights) > 0).sum())
    diff = float(np.abs(fast.heatmaps - full.heatmaps).max())
    rows = [
        ["auto (tail only)", f"{t_fast:.2f} s", fmt_ratio(t_fast, fwd), ""],
        ["full forward passes", f"{t_full:.2f} s", fmt_ratio(t_full, fwd), f"{t_full / t_fast:.1f}x"],
    ]
    head = (
        f"Ablation-CAM, ResNet-50-shaped network, layer4, {size} x {size}, batch_size 32, "
        f"{live} channels with a non-zero weight; max |heatmap(auto) - heatmap(full)| = {diff:.2e}"
    )
    return head + "\n\n" + markdown_table(["strategy", "time", "time / forward", "full / auto"], rows)


def fast_scorecam(photos: tuple[str, ...], top_k: int) -> str:
    from skimage import data

    from visualization.models.imagenet import preprocess
    from visualization.pytorch.efficientnet import efficientnet_lite0

    model = efficientnet_lite0(pretrained=True).eval()
    x = torch.from_numpy(np.stack([preprocess(getattr(data, name)())[0] for name in photos]))
    start = time.perf_counter()
    exact = cams.ScoreCAM(model, "_act1").compute(x)
    t_exact = time.perf_counter() - start
    start = time.perf_counter()
    fast = cams.ScoreCAM(model, "_act1", top_k=top_k).compute(x)
    t_fast = time.perf_counter() - start
    rows = []
    for i, name in enumerate(photos):
        r = float(np.corrcoef(exact.heatmaps[i].ravel(), fast.heatmaps[i].ravel())[0, 1])
        rows.append([name, f"{r:.3f}"])
    head = (
        f"Score-CAM on EfficientNet-Lite0 (pretrained) at _act1 (1280 x 7 x 7), {len(photos)} photos: exact "
        f"{t_exact:.1f} s, top_k={top_k} {t_fast:.1f} s, speed-up {t_exact / t_fast:.1f}x"
    )
    return head + "\n\n" + markdown_table(["photo", "Pearson r (fast vs exact heatmap)"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repeat, two photos, a 112 px ablation input")
    parser.add_argument("--part", choices=("all", "methods", "ablation", "scorecam"), default="all")
    parser.add_argument("--top-k", type=int, default=40)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (1 gives steadier ratios on a busy machine)"
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    if args.part in ("all", "methods"):
        print("\n" + method_costs(1 if args.quick else 3), flush=True)
    if args.part in ("all", "ablation"):
        print("\n" + ablation(112 if args.quick else 224), flush=True)
    if args.part in ("all", "scorecam"):
        print("\n" + fast_scorecam(PHOTOS[:2] if args.quick else PHOTOS, args.top_k), flush=True)


if __name__ == "__main__":
    main()
