"""Soak record: many calls of every gradient CAM on a tiny model, with failures injected inside ``forward``.

Run: ``python -m bench.soak`` (``--calls 10000`` per method and framework by default; ``--calls 500`` for a
short look). For each framework and each gradient CAM (Grad-CAM, Grad-CAM++, XGrad-CAM, LayerCAM,
HiResCAM, Eigen-Grad-CAM, Smooth Grad-CAM++) the same explainer is called ``--calls`` times on a batch of
two 32 x 32 images; before one call in every ``--fail-every`` (100) the model is told to raise inside its
``forward``, and the exception is caught. Printed as one Markdown table:

* ``hooks left``: hooks still registered on any module/layer after the last call (must be 0);
* ``RSS start / end``: resident memory after the warm-up calls and after the last call, and the change
  (flat means within 5 %);
* ``ms/call start / end``: mean wall time per call over the first and the last ``--window`` calls.

Not a test: it records what long use does. The test suite checks the same properties on short runs
(``tests/test_soak.py``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._common import markdown_table

METHODS = (
    "GradCAM",
    "GradCAMPlusPlus",
    "XGradCAM",
    "LayerCAM",
    "HiResCAM",
    "EigenGradCAM",
    "SmoothGradCAMPlusPlus",
)


class InjectedFailure(RuntimeError):
    """Raised by the tiny model's ``forward`` when told to."""


def tiny_model(framework: str) -> Any:
    """conv(3->8) -> ReLU -> conv(8->8) -> ReLU -> global average pool -> linear(8->3), with a failure switch."""
    if framework == "torch":
        import torch
        from torch import nn

        torch.manual_seed(0)

        class Tiny(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.conv1, self.relu1 = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
                self.conv2, self.relu2 = nn.Conv2d(8, 8, 3, padding=1), nn.ReLU()
                self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(8, 3)
                self.fail_next = False

            def forward(self, x):
                if self.fail_next:
                    self.fail_next = False
                    raise InjectedFailure("injected failure inside forward")
                x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
                return self.fc(self.pool(x).flatten(1))

        return Tiny().eval()
    import paddle
    from paddle import nn

    paddle.seed(0)

    class TinyP(nn.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.relu1 = nn.Conv2D(3, 8, 3, padding=1), nn.ReLU()
            self.conv2, self.relu2 = nn.Conv2D(8, 8, 3, padding=1), nn.ReLU()
            self.pool, self.fc = nn.AdaptiveAvgPool2D(1), nn.Linear(8, 3)
            self.fail_next = False

        def forward(self, x):
            if self.fail_next:
                self.fail_next = False
                raise InjectedFailure("injected failure inside forward")
            x = self.relu2(self.conv2(self.relu1(self.conv1(x))))
            return self.fc(self.pool(x).flatten(1))

    model = TinyP()
    model.eval()
    return model


def hooks_left(framework: str, model: Any) -> int:
    """Hooks registered on any module (torch: also the global module hooks) or layer (Paddle)."""
    if framework == "torch":
        import torch.nn.modules.module as mm

        modules = list(model.modules())
        global_hooks = sum(len(v) for k, v in vars(mm).items() if k.startswith("_global_") and isinstance(v, dict))
    else:
        modules = [model, *model.sublayers()]
        global_hooks = 0
    per_module = sum(len(v) for m in modules for k, v in vars(m).items() if "hook" in k and isinstance(v, dict | list))
    return per_module + global_hooks


def rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("VmRSS not in /proc/self/status")


def soak(framework: str, method: str, calls: int, fail_every: int, window: int, warmup: int = 50) -> dict[str, Any]:
    """Run one method ``calls`` times (after ``warmup``) and return the figures of one table row."""
    from visualization.frameworks import get_framework

    fw = get_framework(framework)
    model = tiny_model(framework)
    cam = getattr(fw.cams, method)(model, "conv2")
    x = fw.backend.from_numpy(model, np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32))
    for _ in range(warmup):
        cam.compute(x, 1)
    rss0, times, failures = rss_mib(), np.zeros(calls), 0
    for i in range(calls):
        fail = (i + 1) % fail_every == 0
        model.fail_next = fail
        t0 = time.perf_counter()
        try:
            cam.compute(x, 1)
        except InjectedFailure:
            failures += 1
        times[i] = time.perf_counter() - t0
        if fail and model.fail_next:
            raise AssertionError("the failure switch was set but forward never ran")
    rss1 = rss_mib()
    ok = np.ones(calls, bool)
    ok[fail_every - 1 :: fail_every] = False  # time only the calls that ran to the end
    t = times[ok]
    return {
        "framework": framework,
        "method": method,
        "calls": calls,
        "failures": failures,
        "hooks": hooks_left(framework, model),
        "rss0": rss0,
        "rss1": rss1,
        "ms0": 1000 * t[:window].mean(),
        "ms1": 1000 * t[-window:].mean(),
    }


def table(rows: Sequence[dict[str, Any]]) -> str:
    header = ["framework", "method", "calls", "failures injected", "hooks left"]
    header += ["RSS start MiB", "RSS end MiB", "change", "ms/call start", "ms/call end"]
    body = [
        [
            r["framework"],
            r["method"],
            r["calls"],
            r["failures"],
            r["hooks"],
            f"{r['rss0']:.1f}",
            f"{r['rss1']:.1f}",
            f"{100 * (r['rss1'] - r['rss0']) / r['rss0']:+.1f} %",
            f"{r['ms0']:.2f}",
            f"{r['ms1']:.2f}",
        ]
        for r in rows
    ]
    return markdown_table(header, body)


def main(argv: Sequence[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    ap.add_argument("--framework", nargs="+", choices=["torch", "paddle"], default=["torch", "paddle"])
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    ap.add_argument("--calls", type=int, default=10_000, help="calls per method and framework (default 10000)")
    ap.add_argument("--fail-every", type=int, default=100, help="one call in this many raises in forward")
    ap.add_argument("--window", type=int, default=500, help="calls averaged for the start and end times")
    ap.add_argument("--threads", type=int, default=1, help="intra-op threads of each framework (default 1)")
    args = ap.parse_args(argv)
    rows = []
    for framework in args.framework:
        if framework == "torch":
            import torch

            torch.set_num_threads(args.threads)
        for method in args.methods:
            row = soak(framework, method, args.calls, args.fail_every, min(args.window, args.calls // 2))
            print(
                f"{framework} {method}: hooks {row['hooks']}, RSS {row['rss0']:.1f} -> {row['rss1']:.1f} MiB, "
                f"{row['ms0']:.2f} -> {row['ms1']:.2f} ms/call",
                file=sys.stderr,
            )
            rows.append(row)
    text = table(rows)
    print(text)
    return text


if __name__ == "__main__":
    main()
