"""The ViT row of ``python -m bench``: CAMs of a ViT-B/16-shaped network as multiples of a forward pass.

ViT-B/16 (dim 768, 12 blocks of 12 heads, patch 16, MLP ratio 4, 224 px, 1000 classes) with each
framework's default random initialisation, written once for both frameworks (``tests/zoo.py``; no
weights are downloaded). The layer is ``blocks.11.norm1`` read as ViT tokens, the class the predicted
one. For batch 1 and 8: Grad-CAM, Grad-CAM++, Score-CAM (top 40 channels) and Ablation-CAM, each
timed next to a plain no-grad forward pass of the same batch (:func:`bench.all_methods.paired_ratio`).
``--quick`` uses a tiny ViT (dim 32, 2 blocks, 32 px) and batches 1 and 2.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from ._common import markdown_table
from .all_methods import _no_grad, _to_tensor, log, paired_ratio

METHODS = (("Grad-CAM", "GradCAM", {}), ("Grad-CAM++", "GradCAMPlusPlus", {}))
SLOW = (
    ("Score-CAM (top 40)", "ScoreCAM", {"top_k": 40, "batch_size": 32}),
    ("Ablation-CAM", "AblationCAM", {"batch_size": 64}),
)
FULL = {"dim": 768, "depth": 12, "heads": 12, "patch": 16, "image": 224, "num_classes": 1000, "mlp": 4}
#: frameworks with a ViT in tests/zoo.py (Keras has none: its columns are left out of this table)
FRAMEWORKS = ("torch", "paddle")
QUICK = {"dim": 32, "depth": 2, "heads": 2, "patch": 8, "image": 32, "num_classes": 10, "mlp": 2}


def _model(framework: str, shape: dict) -> object:
    from tests.zoo import classes

    model = classes(framework)["vit"](**shape)
    model.eval()
    return model


def vit_section(frameworks: Sequence[str], quick: bool = False, repeats: int = 3) -> str:
    """The ViT table (Markdown) with its one-line header."""
    shape = QUICK if quick else FULL
    batches = (1, 2) if quick else (1, 8)
    layer = f"blocks.{shape['depth'] - 1}.norm1"
    columns = [f"{fw} batch {b}" for b in batches for fw in frameworks]
    cells: dict[str, dict[str, str]] = {}
    for fw in frameworks:
        cams = __import__(f"visualization.{'pytorch' if fw == 'torch' else 'paddle'}.cam_visualizer", fromlist=["x"])
        model = _model(fw, shape)
        for b in batches:
            x = _to_tensor(
                fw, np.random.default_rng(0).standard_normal((b, 3, shape["image"], shape["image"])).astype("float32")
            )

            def forward(model=model, x=x, fw=fw) -> None:
                with _no_grad(fw):
                    model(x)

            forward()
            col = f"{fw} batch {b}"

            t0 = time.perf_counter()
            for _ in range(repeats):
                forward()
            cells.setdefault("forward (no grad), absolute", {})[col] = (
                f"{(time.perf_counter() - t0) / repeats * 1000:.1f} ms"
            )
            for label, cls, options in METHODS + SLOW:
                cam = getattr(cams, cls)(model, layer, reshape_transform="vit", **options)
                cam.compute(x)  # warm-up (and the Ablation-CAM shortcut check)
                slow = (label, cls, options) in SLOW
                _, ratio = paired_ratio(
                    lambda cam=cam, x=x: cam.compute(x), forward, 1 if slow and not quick else repeats
                )
                cells.setdefault(label, {})[col] = f"{ratio:.2f}x"
                log(f"ViT {fw} batch {b} {label}: {ratio:.2f}x")
    rows = [[name, *[row.get(c, "not run") for c in columns]] for name, row in cells.items()]
    what = "ViT-B/16-shaped (768 dim, 12 blocks, 224 px)" if not quick else "tiny ViT (32 dim, 2 blocks, 32 px)"
    head = (
        f"ViT row: {what}, random weights, layer {layer} read as ViT tokens; time/fwd = median of (method time / "
        "time of a no-grad forward of the same batch next to it); Score-CAM and Ablation-CAM one timed call each."
    )
    return head + "\n\n" + markdown_table(["ViT method", *columns], rows)
