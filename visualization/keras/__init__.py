"""Keras 3 side of the toolkit (TensorFlow backend): the same modules, classes and defaults as
``visualization.pytorch`` and ``visualization.paddle``.

Inputs are channels-last, as Keras holds images: numpy arrays or ``tf.Tensor`` of shape
``(N, H, W, C)`` or ``(H, W, C)``. Arrays the toolkit returns keep its one layout, channels-first
(feature maps and gradients ``(N, C, h, w)``, saliency attributions ``(N, C, H, W)``; heatmaps are
``(N, H, W)`` whatever the framework), so results of the three frameworks compare directly.
Layer names are Keras layer names, a nested model's layers by dotted path (``"backbone.conv1"``).

A layer's 4-D output ``(N, h, w, C)`` is read channels-last by the adapter and needs no
``reshape_transform``; token sequences ``(N, 1 + h*w, C)`` / ``(N, h*w, C)`` are read as in the other
frameworks (automatically, or ``"vit"`` / ``"swin"``). A callable ``target_class`` receives the model's
output as the toolkit's targets do: ``(N, K)``, or a 4-D output (segmentation) channels-first ``(N, K, H, W)``.

Importing this package loads TensorFlow and Keras (and never torch or paddle). If Paddle is used in
the same process, import it first: once TensorFlow is loaded, ``import paddle`` would crash the
process, so ``visualization.paddle`` refuses with an ImportError that says so.
"""

import keras

# Keras 3 picks its backend when first imported (KERAS_BACKEND or ~/.keras/keras.json); this adapter
# is written for TensorFlow's (tf.GradientTape, TensorFlow ops on the layers' outputs).
if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"visualization.keras needs Keras on its TensorFlow backend; this process's Keras runs on "
        f"{keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow before keras is first imported."
    )
