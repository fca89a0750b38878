"""Memory of streaming ``cnnvis explain --images-dir``: peak resident memory for 100 and for 2000 images.

Run: ``python -m bench.bench_stream`` (``--sizes 100 2000``, ``--batch-size 16``). Each size runs in a fresh
subprocess: small generated PNGs (48 x 48) in a temporary folder, the tiny ``CatDogCNN(image_size=32)``,
Grad-CAM; a warm-up stream of 8 images pays the one-time allocations, then the peak resident memory the
full stream adds is measured (Linux high-water mark, reset before the call). Streaming is working when the
ratio of the two peaks stays near 1 although the second run has 20x the images.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._common import markdown_table, peak_rss_delta_mb


def tiny_model():
    """The benchmark's model: ``CatDogCNN(image_size=32)`` with fixed random weights."""
    import torch

    from visualization.pytorch.models import CatDogCNN

    torch.manual_seed(0)
    return CatDogCNN(image_size=32)


def _make_images(folder: Path, n: int, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(folder / f"img{i:05d}.png")


def child(n: int, batch_size: int) -> dict:
    """Stream ``n`` generated images in this process; returns peak MiB and seconds."""
    from visualization.report.stream import StreamJob, stream_explain

    job = StreamJob(
        model="bench.bench_stream:tiny_model",
        methods=["gradcam"],
        input_size=32,
        batch_size=batch_size,
        progress=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _make_images(root / "warm", 8, seed=1)
        _make_images(root / "imgs", n)
        stream_explain(job, root / "warm", root / "warm_out")
        t0 = time.perf_counter()
        peak = peak_rss_delta_mb(lambda: stream_explain(job, root / "imgs", root / "out"))
        seconds = time.perf_counter() - t0
        rows = sum(1 for _ in open(root / "out" / "index.csv", encoding="utf-8")) - 1
    return {"n": n, "peak_mb": peak, "seconds": seconds, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 2000])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.batch_size)))
        return
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    results = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_stream", "--child", str(n), "--batch-size", str(args.batch_size)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    base = results[0]["peak_mb"]
    rows = [
        [
            r["n"],
            r["rows"],
            "n/a" if r["peak_mb"] is None else f"{r['peak_mb']:.1f}",
            "n/a" if r["peak_mb"] is None or not base else f"{r['peak_mb'] / base:.2f}x",
            f"{r['seconds']:.1f}",
            f"{1000 * r['seconds'] / r['n']:.1f}",
        ]
        for r in results
    ]
    print(f"Streaming explain, CatDogCNN(image_size=32), Grad-CAM, batch size {args.batch_size}\n")
    print(markdown_table(["images", "index rows", "peak RSS added MiB", "vs first", "seconds", "ms / image"], rows))


if __name__ == "__main__":
    main()
