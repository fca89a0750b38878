"""PaddlePaddle side of the toolkit: ``layer_visualizer``, ``cam_visualizer`` and ``models``.

Importing this package loads paddle (and never torch).
"""

import sys as _sys

# TensorFlow exports its protobuf symbols process-wide and Paddle's library then binds to them: an
# `import paddle` after `import tensorflow` (or keras on TensorFlow) kills the process with a
# segmentation fault. Say so instead, while Paddle is not loaded yet.
if "tensorflow" in _sys.modules and "paddle" not in _sys.modules:
    raise ImportError(
        "PaddlePaddle cannot be imported after TensorFlow in one process (the process would crash in "
        "Paddle's library). Import paddle (or visualization.paddle) before tensorflow / keras / "
        "visualization.keras, or use the frameworks in separate processes."
    )
