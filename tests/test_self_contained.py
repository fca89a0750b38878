"""A fresh clone passes its own tests: nothing the tests, notebooks, docs or examples use lies outside
the checkout.

CI has a ``shared`` folder beside the checkout (larger data for benchmarks); a user's clone does not.
So no file under ``tests/``, ``notebooks/``, ``docs/`` or ``examples/`` may name it, and ``.ci/run``
runs the README's test command in a clone that has nothing beside it, where this module checks it.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PETS = REPO / "tests" / "data" / "pets"
BINARY = {".png", ".jpg", ".jpeg", ".webp", ".gif", ".npz", ".npy", ".pt", ".pdparams", ".h5"}
# `../shared`, `shared/data`, or a path built from the name (`parent / "shared"`, os.path.join(.., 'shared'))
BESIDE = re.compile(r"\.\./shared\b|\bshared/data\b|[/,(]\s*[\"']shared[\"']")


def tracked(*tops: str) -> list[Path]:
    """The files git tracks under ``tops`` (untracked scratch files are the developer's business)."""
    out = subprocess.run(["git", "ls-files", "-z", *tops], cwd=REPO, capture_output=True, check=True).stdout
    return [REPO / p for p in out.decode().split("\0") if p]


def test_no_test_notebook_doc_or_example_names_the_folder_beside_the_checkout():
    offenders = []
    for path in tracked("tests", "notebooks", "docs", "examples"):
        if path.suffix.lower() in BINARY or path == Path(__file__).resolve():
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if BESIDE.search(line):
                offenders.append(f"{path.relative_to(REPO)}:{n}: {line.strip()[:120]}")
    assert not offenders, "these lines need data from beside the checkout:\n" + "\n".join(offenders)


def test_the_guard_pattern_catches_the_usual_spellings():
    for line in (
        "python x.py --data-dir ../shared/data/oxford-pets-sample",
        'PETS = REPO.parent / "shared" / "data"',
        "os.path.join(root, 'shared', 'data')",
        "see shared/data/README.md",
    ):
        assert BESIDE.search(line), line
    for line in ('"shared colour scale"', "shared_scale=True", "a shared module", "shared/"):
        assert not BESIDE.search(line), line


def test_ci_runs_the_readme_test_command_in_a_clone_with_nothing_beside_it():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "git clone" in ci and "mktemp -d" in ci and "bash scripts/test.sh" in ci
    assert "bash scripts/test.sh" in (REPO / "README.md").read_text(encoding="utf-8")
    if os.environ.get("CI"):  # CI's own checkout has `shared` beside it; the clone .ci/run tests must not
        assert not (REPO.parent / "shared").exists(), f"{REPO.parent / 'shared'} is beside the tested checkout"


def test_the_in_repository_pets_are_small_real_and_documented():
    files = sorted(PETS.rglob("*.jpg"))
    by_class = {c: [f for f in files if f.parent.name == c] for c in ("cats", "dogs")}
    assert len(by_class["cats"]) == len(by_class["dogs"]) == 24
    breeds = {re.sub(r"_\d+$", "", f.stem) for f in files}
    assert len(breeds) == 36  # all 12 cat breeds and 24 of the 25 dog breeds
    assert sum(f.stat().st_size for f in files) < 2_000_000
    for f in files:
        with Image.open(f) as im:
            assert im.format == "JPEG" and im.mode == "RGB" and min(im.size) <= 224 and max(im.size) <= 600, f.name
    readme = (PETS / "README.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in readme and "scripts/make_test_pets.py" in readme
