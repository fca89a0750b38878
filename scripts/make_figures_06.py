"""Redraw chapter 06's figures (docs/images/06_*.png) from the chapter's own code blocks.

    python scripts/make_figures_06.py

The chapter's python blocks run in order in one namespace (as tests/test_docs.py runs them); the
figures they leave in ``fig_vit`` and ``fig_dense`` are saved, so the pictures are what the text computes.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "docs" / "06-transformers-segmentation-detection.md"
OUT = ROOT / "docs" / "images"
FIGURES = {"fig_vit": "06_vit_cams.png", "fig_dense": "06_dense_targets.png"}


def main() -> None:
    sys.path.insert(0, str(ROOT))
    blocks = re.findall(r"^```python\n(.*?)^```\s*$", CHAPTER.read_text(encoding="utf-8"), re.S | re.M)
    namespace: dict = {"__name__": "__chapter06__"}
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        try:
            for i, block in enumerate(blocks):
                exec(compile(block, f"{CHAPTER.name} python block {i + 1}", "exec"), namespace)
        finally:
            os.chdir(here)
    for var, name in FIGURES.items():
        namespace[var].savefig(OUT / name, dpi=80, bbox_inches="tight")
        print(f"wrote docs/images/{name}")


if __name__ == "__main__":
    main()
