"""``cnnvis explain --images-dir`` interrupted with SIGINT in the middle of a batch, then resumed, writes
exactly the bytes of an uninterrupted run (issue #17, part 4)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _command(photos: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from visualization.cli import main; main()",
        "explain",
        "--images-dir",
        str(photos),
        "--model",
        "tests._cli_models:sleepy_catdog",
        "--input-size",
        "32",
        "--method",
        "gradcam",
        "--method",
        "layercam",
        "--batch-size",
        "4",
        "--no-progress",
        "--out",
        str(out),
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "MPLBACKEND": "Agg"}


def _files(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def _rows(index: Path) -> int:
    return max(0, len(index.read_text(encoding="utf-8").splitlines()) - 1) if index.is_file() else 0


def test_sigint_mid_batch_then_resume_is_byte_identical(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(photos / f"img{i:02d}.png")

    reference = tmp_path / "reference"
    done = subprocess.run(_command(photos, reference), env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr

    out = tmp_path / "interrupted"
    proc = subprocess.Popen(
        _command(photos, out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300
        while _rows(out / "index.csv") < 4 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        time.sleep(0.3)  # the second batch is running: its forward passes take 0.25 s each
        assert _rows(out / "index.csv") == 4
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "run the same command again" in stderr
    assert 4 <= _rows(out / "index.csv") < 12  # stopped in the middle
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written

    resumed = subprocess.run(_command(photos, out), env=_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert "already done" in resumed.stdout
    assert _files(out) == _files(reference)
