"""PyTorch versus PaddlePaddle on the same network and input: time and peak memory of every method.

Run: ``python -m bench.bench_frameworks`` (``--quick``: batch 1 only). Each (framework, method)
runs in a fresh subprocess so import costs and allocator caches of one do not colour the other.
Times are medians and also given as multiples of the same framework's plain no-grad forward pass;
peak memory is the resident memory the call adds (Linux high-water mark, reset before the call).

Networks: the pretrained EfficientNet-Lite0 (identical weights in both frameworks) at ``_blocks.15``
(320 x 7 x 7) on the bundled photos, and the tutorial's CatDogCNN (224 x 224, framework-default
random initialization) at ``conv3``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

from ._common import fmt_ms, markdown_table, median_time, peak_rss_delta_mb

METHODS = ["forward", "feature maps", "Grad-CAM", "Grad-CAM++", "Score-CAM"]
NETS = {"efficientnet-lite0": "_blocks.15", "catdogcnn": "conv3"}


def _photos(batch: int) -> np.ndarray:
    from skimage import data

    from visualization.models import preprocess

    imgs = [preprocess(f())[0] for f in (data.chelsea, data.coffee, data.astronaut, data.rocket)]
    return np.stack([imgs[i % len(imgs)] for i in range(batch)]).astype(np.float32)


def child(framework: str, net: str, method: str, batch: int, repeats: int) -> dict:
    """Measure one method in this process; returns a JSON-able dict."""
    from visualization.models import load_model

    if framework == "torch":
        import torch

        torch.manual_seed(0)
        x = torch.from_numpy(_photos(batch))
        no_grad = torch.no_grad
        from visualization.pytorch import cam_visualizer as cams
        from visualization.pytorch.layer_visualizer import CNNLayerVisualizer
    else:
        import paddle

        paddle.seed(0)
        x = paddle.to_tensor(_photos(batch))
        no_grad = paddle.no_grad
        from visualization.paddle import cam_visualizer as cams
        from visualization.paddle.layer_visualizer import CNNLayerVisualizer
    model = load_model(net, framework=framework)
    model.eval()
    layer = NETS[net]

    def forward():
        with no_grad():
            model(x)

    calls = {
        "forward": forward,
        "feature maps": lambda: CNNLayerVisualizer(model).get_feature_maps(x, layer),
        "Grad-CAM": lambda: cams.GradCAM(model, layer).generate_cam(x),
        "Grad-CAM++": lambda: cams.GradCAMPlusPlus(model, layer).generate_cam(x),
        "Score-CAM": lambda: cams.ScoreCAM(model, layer, batch_size=32).generate_cam(x),
    }
    fn = calls[method]
    forward()  # one-time allocations and kernel selection are not what we measure
    peak = peak_rss_delta_mb(fn)
    t = median_time(fn, 1 if method == "Score-CAM" else repeats, warmup=0)
    return {"time": t, "peak_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="batch 1 only, EfficientNet-Lite0 only")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--child", nargs=4, metavar=("FRAMEWORK", "NET", "METHOD", "BATCH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        fw, net, method, batch = args.child
        print(json.dumps(child(fw, net, method, int(batch), args.repeats)))
        return
    batches = [1] if args.quick else [1, 8]
    nets = ["efficientnet-lite0"] if args.quick else list(NETS)
    env = dict(os.environ, PYTHONWARNINGS="ignore", GLOG_minloglevel="2")
    import paddle
    import torch

    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), paddle {paddle.__version__}, CPU, 224x224\n")
    header = [
        "network",
        "batch",
        "method",
        "torch ms",
        "torch / fwd",
        "torch peak MiB",
        "paddle ms",
        "paddle / fwd",
        "paddle peak MiB",
        "paddle / torch time",
    ]
    print(markdown_table(header, []), flush=True)  # rows follow as they are measured
    for net in nets:
        for batch in batches:
            res: dict[tuple[str, str], dict] = {}
            for fw in ("torch", "paddle"):
                for method in METHODS:
                    out = subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "bench.bench_frameworks",
                            "--repeats",
                            str(args.repeats),
                            "--child",
                            fw,
                            net,
                            method,
                            str(batch),
                        ],
                        capture_output=True,
                        text=True,
                        env=env,
                        check=True,
                    )
                    res[fw, method] = json.loads(out.stdout.strip().splitlines()[-1])
            tf, pf = res["torch", "forward"]["time"], res["paddle", "forward"]["time"]
            for method in METHODS:
                t, p = res["torch", method], res["paddle", method]
                row = [
                    net,
                    batch,
                    method,
                    fmt_ms(t["time"]),
                    f"{t['time'] / tf:.2f}x",
                    _mb(t["peak_mb"]),
                    fmt_ms(p["time"]),
                    f"{p['time'] / pf:.2f}x",
                    _mb(p["peak_mb"]),
                    f"{p['time'] / t['time']:.2f}x",
                ]
                print("| " + " | ".join(str(c) for c in row) + " |", flush=True)


def _mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.0f}"


if __name__ == "__main__":
    main()
