"""Import isolation of the Keras side, checked in fresh subprocesses through ``sys.modules``.

``import visualization.keras...`` loads TensorFlow and Keras and never torch or paddle (a Keras user
needs neither installed); importing ``visualization.paddle`` after TensorFlow raises a clear
ImportError instead of crashing the process (Paddle's library segfaults when it loads second).
"""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import visualization.keras

ROOT = Path(__file__).resolve().parents[1]
# every module of the package on this branch, private ones too (they may be imported lazily)
KERAS_MODULES = sorted(f"visualization.keras.{m.name}" for m in pkgutil.iter_modules(visualization.keras.__path__))


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )


def test_keras_modules_load_neither_torch_nor_paddle() -> None:
    assert {"visualization.keras.cam_visualizer", "visualization.keras.layer_visualizer"} <= set(KERAS_MODULES)
    assert "visualization.keras.models" in KERAS_MODULES
    code = (
        f"import visualization.keras, {', '.join(KERAS_MODULES)}\n"
        "import sys\n"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'paddle', 'tensorflow', 'keras'))))"
    )
    proc = _run(code)
    assert proc.returncode == 0, proc.stderr[-3000:]
    loaded = {m.split(".")[0] for m in proc.stdout.split()}
    assert {"tensorflow", "keras"} <= loaded  # the check itself sees what is imported
    assert not {"torch", "paddle"} & loaded, sorted(
        m for m in proc.stdout.split() if m.split(".")[0] in ("torch", "paddle")
    )


def test_paddle_after_tensorflow_is_a_clear_import_error_not_a_crash() -> None:
    proc = _run(
        "import visualization.keras.cam_visualizer\n"
        "try:\n"
        "    import visualization.paddle.cam_visualizer\n"
        "except ImportError as e:\n"
        "    print('IMPORT-ERROR:', e)\n"
        "import sys; print('paddle' in sys.modules)"
    )
    assert proc.returncode == 0, f"exit status {proc.returncode} (a negative one is a signal): {proc.stderr[-2000:]}"
    out = proc.stdout
    assert "IMPORT-ERROR:" in out, out
    msg = out.split("IMPORT-ERROR:", 1)[1]
    assert "tensorflow" in msg.lower() and "paddle" in msg.lower() and "before" in msg.lower(), msg
    assert out.strip().endswith("False")  # paddle itself was never loaded


def test_paddle_first_then_keras_works_in_one_process() -> None:
    proc = _run(
        "import visualization.paddle.cam_visualizer, visualization.keras.cam_visualizer\n"
        "import numpy as np\n"
        "from visualization.keras.models import CatDogCNN\n"
        "m = CatDogCNN(image_size=16)\n"
        "h = visualization.keras.cam_visualizer.GradCAM(m, 'conv2').generate_cam(np.ones((16, 16, 3), 'float32'), 0)\n"
        "print(h.shape)"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().endswith("(16, 16)")
