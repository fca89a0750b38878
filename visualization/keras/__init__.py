"""Keras 3 side of the toolkit (TensorFlow backend): the same modules, classes and defaults as
``visualization.pytorch`` and ``visualization.paddle``.

Inputs are channels-last, as Keras holds images: numpy arrays or ``tf.Tensor`` of shape
``(N, H, W, C)`` or ``(H, W, C)``. Arrays the toolkit returns keep its one layout, channels-first
(feature maps and gradients ``(N, C, h, w)``, saliency attributions ``(N, C, H, W)``; heatmaps are
``(N, H, W)`` whatever the framework), so results of the three frameworks compare directly.
Layer names are Keras layer names, a nested model's layers by dotted path (``"backbone.conv1"``).

Importing this package loads TensorFlow and Keras (and never torch or paddle). If Paddle is used in
the same process, import it first: importing Paddle after TensorFlow crashes the process (see
``visualization.paddle``).
"""

import os

# Keras 3 picks its backend when first imported; this adapter is written for TensorFlow's.
if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
    raise ImportError(
        f"visualization.keras needs Keras on its TensorFlow backend; KERAS_BACKEND is "
        f"{os.environ['KERAS_BACKEND']!r}. Unset it or set KERAS_BACKEND=tensorflow before importing keras."
    )
