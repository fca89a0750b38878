"""Speed of the PyTorch saliency methods as multiples of one plain no-grad forward pass, next to captum.

Run: ``python -m bench.bench_saliency`` (``--quick``: 8 integration steps, 4 noisy copies, 16 occlusion
windows, one timed run each; about two minutes on two idle CPU cores). Prints one Markdown table; every
ratio comes from this run on this machine, ours and captum's with the same settings on the same batch,
run in turn (ours, captum, ours, captum, ...) so that other jobs on the machine slow both alike. The
forward time is the median of runs before and after the methods.

Reference costs: a gradient method needs about one forward and one backward pass (~3 forward passes);
Integrated Gradients and SmoothGrad need that once per step / noisy copy; Occlusion needs one forward
pass per patch position and image (run in batches).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch

from visualization.pytorch.models import CatDogCNN
from visualization.pytorch.saliency import (
    Deconvolution,
    GradientXInput,
    GuidedBackprop,
    GuidedGradCAM,
    IntegratedGradients,
    Occlusion,
    SmoothGrad,
    VanillaGradient,
)

from ._common import fmt_ms, fmt_ratio, markdown_table, median_time
from .resnet50 import ResNet50Like


def _captum() -> Any:
    try:
        import captum.attr as ca
    except ImportError:
        return None
    return ca


def _interleaved(fns: list[Callable[[], object] | None], repeats: int, warmup: int) -> list[float | None]:
    """Median time of each function, the functions run in turn in every round, so that a machine shared
    with other jobs slows them alike."""
    times: list[list[float]] = [[] for _ in fns]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # captum warns on every call (hooks, requires_grad)
        for r in range(warmup + repeats):
            for fn, ts in zip(fns, times):
                if fn is not None:
                    t0 = time.perf_counter()
                    fn()
                    if r >= warmup:
                        ts.append(time.perf_counter() - t0)
    return [statistics.median(ts) if ts else None for ts in times]


def bench_model(
    label: str, model: torch.nn.Module, layer: str, batch: int, repeats: int, warmup: int, quick: bool
) -> list[list]:
    x = torch.rand(batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    model.eval()

    def forward() -> None:
        with torch.no_grad():
            model(x)

    with torch.no_grad():
        target = model(x).argmax(1).tolist()
    fwd_times = [median_time(forward, 5, warmup=1)]
    ca = _captum()
    steps, samples = (8, 4) if quick else (50, 25)
    ig_batch = 8 if quick else 16
    window, stride, occ_batch = (56, 56, 16) if quick else (32, 16, 32)
    sigma = 0.15 * float(x.max() - x.min())  # captum's NoiseTunnel takes an absolute standard deviation
    layer_module = model.get_submodule(layer)
    relu_note = (
        "captum changes nn.ReLU modules only: CatDogCNN calls F.relu, so captum's number is a plain gradient"
        if isinstance(model, CatDogCNN)
        else ""
    )
    cases: list[tuple[str, Any, Callable[[], object] | None, str]] = [
        (
            "Vanilla Gradient",
            VanillaGradient(model),
            ca and (lambda: ca.Saliency(model).attribute(x, target=target, abs=False)),
            "",
        ),
        (
            "Gradient x Input",
            GradientXInput(model),
            ca and (lambda: ca.InputXGradient(model).attribute(x, target=target)),
            "",
        ),
        (
            "Integrated Gradients",
            IntegratedGradients(model, n_steps=steps, internal_batch_size=ig_batch),
            ca
            and (
                lambda: ca.IntegratedGradients(model).attribute(
                    x, target=target, n_steps=steps, internal_batch_size=ig_batch
                )
            ),
            f"{steps} steps, {ig_batch} points per pass",
        ),
        (
            "SmoothGrad",
            SmoothGrad(VanillaGradient(model), n_samples=samples, batch_size=ig_batch),
            ca
            and (
                lambda: ca.NoiseTunnel(ca.Saliency(model)).attribute(
                    x,
                    nt_type="smoothgrad",
                    nt_samples=samples,
                    nt_samples_batch_size=ig_batch,
                    stdevs=sigma,
                    target=target,
                    abs=False,
                )
            ),
            f"{samples} noisy copies, {ig_batch} per pass",
        ),
        (
            "Guided Backprop",
            GuidedBackprop(model),
            ca and (lambda: ca.GuidedBackprop(model).attribute(x, target=target)),
            relu_note,
        ),
        (
            "Deconvolution",
            Deconvolution(model),
            ca and (lambda: ca.Deconvolution(model).attribute(x, target=target)),
            relu_note,
        ),
        (
            "Guided Grad-CAM",
            GuidedGradCAM(model, layer, interpolate_mode="nearest"),
            ca and (lambda: ca.GuidedGradCam(model, layer_module).attribute(x, target=target)),
            f"Grad-CAM at {layer}",
        ),
        (
            "Occlusion",
            Occlusion(model, window=(window, window), stride=(stride, stride), batch_size=occ_batch),
            ca
            and (
                lambda: ca.Occlusion(model).attribute(
                    x,
                    sliding_window_shapes=(3, window, window),
                    strides=(3, stride, stride),
                    target=target,
                    perturbations_per_eval=occ_batch,
                )
            ),
            f"{window}px window, stride {stride}: {((224 - window) // stride + 1) ** 2} copies per image, "
            f"{occ_batch} per pass",
        ),
    ]
    measured = []
    for name, method, captum_fn, note in cases:
        ours, theirs = _interleaved([lambda m=method: m.compute(x, target), captum_fn], repeats, warmup)
        assert ours is not None
        measured.append((name, ours, theirs, note))
        print(f"  {label:<16} {name:<22} ours {ours * 1000:9.1f} ms", flush=True)
    fwd_times.append(median_time(forward, 5, warmup=0))  # again at the end: the load may have changed
    fwd = statistics.median(fwd_times)
    return [
        [
            label,
            batch,
            name,
            fmt_ms(fwd),
            fmt_ms(ours),
            fmt_ratio(ours, fwd),
            fmt_ratio(theirs, fwd),
            "n/a" if theirs is None else f"{ours / theirs:.2f}",
            note,
        ]
        for name, ours, theirs, note in measured
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer steps, samples and windows; one timed run each")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's choice)")
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    repeats, warmup = (1, 0) if args.quick else (args.repeats, 1)
    rows = []
    rows += bench_model("CatDogCNN", CatDogCNN().eval(), "conv3", args.batch, repeats, warmup, args.quick)
    rows += bench_model("ResNet-50 shape", ResNet50Like().eval(), "layer4", args.batch, repeats, warmup, args.quick)
    ca = _captum()
    print(
        f"\ntorch {torch.__version__}, captum {getattr(ca, '__version__', None) or _captum_version()}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        f"224x224 input{', --quick' if args.quick else ''}\n"
    )
    print(
        markdown_table(
            [
                "model",
                "batch",
                "method",
                "forward ms",
                "ours ms",
                "ours / fwd",
                "captum / fwd",
                "ours / captum",
                "notes",
            ],
            rows,
        )
    )


def _captum_version() -> str:
    try:
        from importlib.metadata import version

        return version("captum")
    except Exception:  # pragma: no cover - captum not installed
        return "not installed"


if __name__ == "__main__":
    main()
