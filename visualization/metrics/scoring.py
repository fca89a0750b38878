"""Two building blocks of the metrics that are useful on their own: scoring a batch of images on the
model's device, and a randomized deep copy of a model. Call the bound versions in
``visualization.pytorch.metrics`` / ``visualization.paddle.metrics``."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.backend import check_batch_size, shape_text
from ..core.errors import InvalidInputError, TargetError
from .backend import MetricsBackend, check_output, check_seed


def batched_probabilities(
    backend: MetricsBackend,
    model: Any,
    images: Any,
    targets: Any,
    *,
    batch_size: int = 64,
    output: str = "probability",
    progress: bool = False,
) -> np.ndarray:
    r"""The target class's score for every image, computed ``batch_size`` images at a time on the model's device.

    .. math:: s_m = \mathrm{softmax}\big(f(x_m)\big)_{c_m} \quad (\text{or } f(x_m)_{c_m} \text{ with } \texttt{output="logit"})

    Args:
        model: the classifier (outputs ``(M, num_classes)``); run in eval mode, flags restored, no-grad.
        images: ``(M, C, H, W)`` numpy array or tensor of the framework (a numpy array is sent to the
            device one batch at a time).
        targets: one class index for all images, or one per image.
        batch_size: images per forward pass.
        output: ``"probability"`` (softmax, float32) or ``"logit"``.
        progress: show a tqdm progress bar over the batches.

    Returns:
        ``(M,)`` float32 scores.

    Example:
        >>> import numpy as np
        >>> import torch
        >>> from visualization.pytorch.metrics import batched_probabilities
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> p = batched_probabilities(model, np.random.default_rng(0).random((5, 3, 8, 8)), [0, 1, 0, 1, 0], batch_size=2)
        >>> p.shape, bool(((p > 0) & (p < 1)).all())
        ((5,), True)
    """
    base = backend.base
    base.check_model(model)
    output = check_output(output)
    batch_size = check_batch_size(batch_size)
    if base.is_tensor(images):
        shape = base.tensor_facts(images)[0]
    else:
        images = np.asarray(images, dtype=np.float32)
        shape = images.shape
    if len(shape) != 4:
        raise InvalidInputError(f"Expected images of shape (M, C, H, W); got {shape_text(shape)}.")
    m = int(shape[0])
    if isinstance(targets, numbers.Integral) and not isinstance(targets, bool):
        cls = np.full(m, int(targets), dtype=np.int64)
    else:
        cls = np.asarray(targets)
        if isinstance(targets, (str, bytes)) or cls.shape != (m,) or not np.issubdtype(cls.dtype, np.integer):
            raise TargetError(f"targets must be one int, or one int per image ({m}); got {targets!r}.")
        cls = cls.astype(np.int64)
    if (cls < 0).any():
        raise TargetError(f"targets must be class indices >= 0; got {cls[cls < 0].tolist()}.")
    with base.eval_mode(model):
        scores, _ = backend.batched_probabilities(model, images, cls, batch_size, output, progress)
    return scores


def randomized_copy(backend: MetricsBackend, model: Any, layer_names: Sequence[Any], seed: int = 0) -> Any:
    r"""A deep copy of ``model`` with the parameters of ``layer_names`` (dotted names or layer objects) redrawn.

    Each named layer's own parameters :math:`p` become :math:`\mathcal U(-1/\sqrt{\text{fan\_in}},
    1/\sqrt{\text{fan\_in}})` draws (see :func:`~visualization.metrics.backend.redraw_parameters`; running
    statistics of normalization layers are kept). The draws depend only on ``seed`` and each layer's
    name, so PyTorch and Paddle copies of the same network get the same weights. ``model`` is never
    changed; the copy has ``model``'s train/eval flags.

    Example:
        >>> import torch
        >>> from visualization.pytorch.metrics import randomized_copy
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> clone = randomized_copy(model, ["4"], seed=1)
        >>> clone is model, bool((clone[4].weight != model[4].weight).all()), bool((clone[0].weight == model[0].weight).all())
        (False, True, True)
    """
    base = backend.base
    base.check_model(model)
    check_seed(seed)
    names = backend.check_layers(model, list(layer_names) if not isinstance(layer_names, str) else layer_names)
    return backend.randomized_copy(model, names, seed)
