"""Rebuild ``tests/data/pets/``: a small, fixed choice of Oxford-IIIT Pet photos the tests can rely on.

A user's clone has no ``../shared`` folder, so every test that needs real cat and dog photos reads this
in-repository set instead. The choice is made once from the 284-photo sample that sits beside the
checkout in CI (``--source``) and is reproducible: per species, breeds are taken in sorted order,
spread evenly over the breed list, and within a breed the files in sorted order, round robin until the
species has ``--per-class`` photos. Each photo is scaled so that its shorter side is ``--short-side``
pixels (Lanczos), stripped of metadata and written as a baseline JPEG of ``--quality``.

    python scripts/make_test_pets.py --source /path/to/oxford-pets-sample

The images are CC BY-SA 4.0 (copyright with their owners); ``tests/data/pets/README.md`` says so.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "tests" / "data" / "pets"


def breed_of(path: Path) -> str:
    """``Egyptian_Mau_123.jpg`` -> ``Egyptian_Mau`` (the Oxford-IIIT Pet naming)."""
    return re.sub(r"_\d+$", "", path.stem)


def choose(files: list[Path], n: int) -> list[Path]:
    """``n`` files spread over the breeds: evenly spaced breeds first, then round robin."""
    by_breed: dict[str, list[Path]] = defaultdict(list)
    for f in sorted(files):
        by_breed[breed_of(f)].append(f)
    breeds = sorted(by_breed)
    # Evenly spaced breeds when there are more breeds than photos wanted; all of them otherwise.
    if len(breeds) > n:
        breeds = [breeds[i] for i in np.linspace(0, len(breeds) - 1, n).round().astype(int)]
    chosen: list[Path] = []
    depth = 0
    while len(chosen) < n:
        added = False
        for b in breeds:
            if depth < len(by_breed[b]) and len(chosen) < n:
                chosen.append(by_breed[b][depth])
                added = True
        if not added:
            raise SystemExit(f"only {len(chosen)} photos available, {n} wanted")
        depth += 1
    return sorted(chosen)


def shrink(src: Path, dst: Path, short_side: int, quality: int) -> None:
    with Image.open(src) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = short_side / min(w, h)
        if s < 1:
            im = im.resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS)
        im.save(dst, "JPEG", quality=quality, optimize=True)  # no EXIF: Pillow writes none unless asked


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--source", type=Path, required=True, help="folder with cats/ and dogs/ (the 284-photo sample)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="default: %(default)s")
    ap.add_argument("--per-class", type=int, default=20)
    ap.add_argument("--short-side", type=int, default=224)
    ap.add_argument("--quality", type=int, default=85)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(dir=args.out.parent, prefix=".pets-"))
    try:  # build beside the target, then swap, so a failure leaves the old set intact
        for kind in ("cats", "dogs"):
            files = list((args.source / kind).glob("*.jpg"))
            (tmp / kind).mkdir()
            for f in choose(files, args.per_class):
                shrink(f, tmp / kind / f.name, args.short_side, args.quality)
        readme = args.out / "README.md"
        if readme.is_file():
            shutil.copy(readme, tmp / "README.md")
        if args.out.exists():
            shutil.rmtree(args.out)
        tmp.rename(args.out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    total = sum(p.stat().st_size for p in args.out.rglob("*.jpg"))
    print(f"wrote {len(list(args.out.rglob('*.jpg')))} photos, {total / 1e6:.2f} MB, to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
