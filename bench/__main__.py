"""``python -m bench``: the cost of every method in PyTorch, PaddlePaddle and Keras, as one Markdown table.

One run measures, on the same network, photo and batch, for each framework (``--framework``): a plain
forward pass (eval mode, no gradients) and then every CAM and saliency method of the package; and, on
the PyTorch model, the same methods from torchcam, captum and pytorch-grad-cam when they can be imported.
Which network, layer, photo and per-method settings, and exactly how time and memory are taken, is
described in :mod:`bench.all_methods`. In short:

* ``time/fwd`` = median, over the timed calls, of the method's time divided by the time of a no-grad
  forward pass of the same framework run right next to it (a library's calls are paired with the PyTorch
  forward pass);
* ``peak MiB`` = how much resident memory one warm call adds at its highest point; in brackets the
  ratio to the forward pass's figure, given only when that figure is at least 1 MiB.

Only the header and the table go to stdout; progress goes to stderr. ``--out FILE`` also writes them
to a Markdown file. ``--quick`` is a smoke run (64 px, one timed call, fewest steps); ``--full`` adds
exact Score-CAM (one masked forward pass per live channel: slow at ``_act1``).

A second table, the ViT row (:mod:`bench.vit`), times Grad-CAM, Grad-CAM++, Score-CAM (top 40) and
Ablation-CAM on a ViT-B/16-shaped network at batch 1 and 8 in PyTorch and Paddle (``--no-vit`` skips it).

With Keras in the run, a last line checks in a fresh interpreter that importing ``visualization.keras``
(every module of it) loads TensorFlow and Keras but neither torch nor paddle.

The older scripts (``python -m bench.bench_torch``, ``bench_cam_family``, ``bench_saliency``,
``bench_frameworks``, ``bench_stream``) still run on their own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from .all_methods import FRAMEWORKS, NETWORKS, Settings, import_check, log, run


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--framework", nargs="+", choices=FRAMEWORKS, default=list(FRAMEWORKS), help="frameworks to run")
    ap.add_argument("--model", choices=sorted(NETWORKS), default="efficientnet-lite0", help="network (and its layer)")
    ap.add_argument("--size", type=int, default=None, help="input side in pixels (default 224; 64 with --quick)")
    ap.add_argument("--batch", type=int, default=1, help="images per call")
    ap.add_argument("--repeats", type=int, default=None, help="timed calls per method (default 3; 1 with --quick)")
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads for torch, paddle and tensorflow")
    ap.add_argument("--quick", action="store_true", help="smoke run: 64 px, 1 repeat, fewest steps")
    ap.add_argument("--full", action="store_true", help="also exact Score-CAM (slow)")
    ap.add_argument("--no-libraries", action="store_true", help="skip torchcam, captum and pytorch-grad-cam")
    ap.add_argument("--no-vit", action="store_true", help="skip the ViT-B/16 table")
    ap.add_argument("--out", type=Path, default=None, help="also write the header and table to this Markdown file")
    return ap.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    base = Settings.quick() if args.quick else Settings()
    changes: dict = {"model": args.model, "batch": args.batch, "threads": args.threads, "full": args.full}
    if args.size is not None:
        changes["size"] = args.size
    if args.repeats is not None:
        changes["repeats"] = args.repeats
    s = replace(base, **changes)
    if s.model == "catdogcnn" and s.size % 8:
        raise SystemExit(f"--model catdogcnn needs --size a multiple of 8; got {s.size}")
    if min(s.size, s.batch, s.repeats, s.threads) < 1:
        raise SystemExit("--size, --batch, --repeats and --threads must be at least 1")
    return s


def main(argv: Sequence[str] | None = None) -> str:
    """Run the benchmark, print the header and table to stdout and return them."""
    args = parse_args(argv)
    settings = settings_from(args)
    frameworks = [fw for fw in FRAMEWORKS if fw in args.framework]
    text = run(settings, frameworks, libraries=not args.no_libraries)
    if not args.no_vit:
        from .vit import FRAMEWORKS as VIT_FRAMEWORKS
        from .vit import vit_section

        vit = [fw for fw in frameworks if fw in VIT_FRAMEWORKS]
        if vit:
            text += "\n\n" + vit_section(vit, quick=args.quick, repeats=settings.repeats)
    if "keras" in frameworks:
        text += "\n\n" + import_check()[0]
    print(text, flush=True)
    if args.out is not None:
        args.out.write_text(text + "\n", encoding="utf-8")
        log(f"wrote {args.out}")
    return text


if __name__ == "__main__":
    main(sys.argv[1:])
