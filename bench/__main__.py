"""All benchmarks' quick modes in one run, summarized in one Markdown table of ratios to a plain forward pass.

Run: ``python -m bench`` (``--part cams saliency family`` to pick; ``--with-paddle`` adds PyTorch versus
PaddlePaddle on EfficientNet-Lite0, batch 1). Each part reuses its script's own measuring function with
the script's ``--quick`` settings:

* ``cams``: :func:`bench.bench_torch.bench_model` (CatDogCNN ``conv3`` and the ResNet-50 shape ``layer4``,
  batch 1, two repeats; Score-CAM on CatDogCNN only), next to torchcam and captum;
* ``family``: :func:`bench.bench_cam_family.method_costs` (every CAM class at ``layer4``, one repeat);
* ``saliency``: :func:`bench.bench_saliency.bench_model` (CatDogCNN only: 8 steps, 4 noisy copies),
  next to captum;
* ``--with-paddle``: :func:`bench.bench_frameworks.child` in this process (forward, Grad-CAM, Grad-CAM++).

Every ratio is ``method time / forward time`` of the same network, framework and batch, measured in this
run; "n/a" where the other library is not installed or has no such method.
"""

from __future__ import annotations

import argparse
import platform

from ._common import markdown_table

PARTS = ("cams", "family", "saliency")


def _rows_from_markdown(text: str) -> list[list[str]]:
    """The body rows of the first Markdown table in ``text``."""
    lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines[2:]]


def cams_rows() -> list[list[str]]:
    from visualization.pytorch.models import CatDogCNN

    from .bench_torch import bench_model
    from .resnet50 import ResNet50Like

    rows = bench_model("CatDogCNN conv3", CatDogCNN().eval(), "conv3", 1, 2, True, 32)
    rows += bench_model("ResNet-50 layer4", ResNet50Like().eval(), "layer4", 1, 2, False, 32)
    # [label, batch, method, fwd ms, ours ms, ours/fwd, torchcam/fwd, captum/fwd, notes]
    return [["bench_torch", r[0], r[2], r[5], r[6], r[7]] for r in rows]


def family_rows() -> list[list[str]]:
    from .bench_cam_family import method_costs

    # [method, ours, ours/forward, torchcam/forward]
    return [
        ["bench_cam_family", "ResNet-50 layer4", r[0], r[2], r[3], "n/a"] for r in _rows_from_markdown(method_costs(1))
    ]


def saliency_rows() -> list[list[str]]:
    from visualization.pytorch.models import CatDogCNN

    from .bench_saliency import bench_model

    rows = bench_model("CatDogCNN", CatDogCNN().eval(), "conv3", 1, 1, 0, True)
    # [label, batch, method, fwd ms, ours ms, ours/fwd, captum/fwd, ours/captum, notes]
    return [["bench_saliency", r[0], r[2], r[5], "n/a", r[6]] for r in rows]


def paddle_rows() -> list[list[str]]:
    from .bench_frameworks import child

    rows = []
    for method in ("Grad-CAM", "Grad-CAM++"):
        cells = []
        for fw in ("torch", "paddle"):
            fwd = child(fw, "efficientnet-lite0", "forward", 1, 3)["time"]
            cells.append(child(fw, "efficientnet-lite0", method, 1, 3)["time"] / fwd)
        rows.append(
            [
                "bench_frameworks",
                "EfficientNet-Lite0 _blocks.15",
                f"{method} (paddle: {cells[1]:.2f}x)",
                f"{cells[0]:.2f}x",
                "n/a",
                "n/a",
            ]
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--part", nargs="+", choices=PARTS, default=list(PARTS), help="which benchmarks to run")
    ap.add_argument("--with-paddle", action="store_true", help="also PyTorch versus PaddlePaddle (imports paddle)")
    args = ap.parse_args()
    import torch

    torch.manual_seed(0)
    makers = {"cams": cams_rows, "family": family_rows, "saliency": saliency_rows}
    rows: list[list[str]] = []
    for part in args.part:
        rows += makers[part]()
    if args.with_paddle:
        rows += paddle_rows()
    print(
        f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, "
        "224x224, batch 1, quick settings; ratio = method time / plain no-grad forward time\n"
    )
    print(markdown_table(["script", "network / layer", "method", "ours / fwd", "torchcam / fwd", "captum / fwd"], rows))


if __name__ == "__main__":
    main()
