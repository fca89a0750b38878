r"""Faithfulness metrics: does the model's confidence follow the pixels that the explanation ranks first?

* :func:`deletion_curve` and :func:`insertion_curve` (Petsiuk et al., RISE, BMVC 2018): pixels are
  removed from the image, or inserted into a blurred canvas, in the order of the map; the area under
  the target class's probability curve is low for deletion and high for insertion when the map is good.
* :func:`average_drop_increase` (Chattopadhyay et al., Grad-CAM++, WACV 2018): the image multiplied by
  the map should keep the class's confidence (low average drop) or even raise it.

ROAD (remove and debias) lives in :mod:`visualization.metrics.road`.

Every function takes the framework's metrics backend first; call the bound versions in
``visualization.pytorch.metrics`` / ``visualization.paddle.metrics``. The model runs in eval mode
(each layer's flag restored), under no-grad, on its own device; perturbed copies are built there in
batches of ``batch_size``. The explanation is any of :mod:`visualization.metrics.explanations`:
precomputed maps, a CAM or saliency instance, or a callable ``explain(x, targets)``. The target class
(``None``: the class the model predicts for the unmodified image) is fixed on the unmodified image and
scored on every copy.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.backend import check_batch_size, shape_text
from ..core.errors import InvalidInputError
from ..core.image import normalize_maps
from .backend import CurvePlan, MetricsBackend, check_output
from .explanations import explanation_maps, resolve_targets

#: Named baselines of the deletion and insertion curves (see :func:`baseline_images`).
BASELINES = ("zeros", "blur", "mean")


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class CurveResult:
    """A deletion or insertion curve per image.

    Attributes:
        kind: ``"deletion"`` or ``"insertion"``.
        fractions: ``(S + 1,)`` float64, the fraction of pixels changed at each step, from 0 to 1.
        scores: ``(N, S + 1)`` float32, the target class's score (probability or logit) at each step.
        auc: ``(N,)`` float64, the area under each curve over ``fractions`` (trapezoidal rule).
        targets: ``(N,)`` int64, the class scored for each image.
        output: ``"probability"`` or ``"logit"``.
    """

    kind: str
    fractions: np.ndarray
    scores: np.ndarray
    auc: np.ndarray
    targets: np.ndarray
    output: str

    @property
    def mean_auc(self) -> float:
        """The AUC averaged over the images (the number papers report)."""
        return float(self.auc.mean())


@dataclass(frozen=True)
class DropResult:
    r"""Average drop and increase in confidence of a batch (Grad-CAM++).

    Attributes:
        original: ``(N,)`` probability :math:`Y_c` of the target class for the image.
        explained: ``(N,)`` probability :math:`O_c` for the image multiplied by the map.
        drop: ``(N,)`` :math:`\max(0, Y_c - O_c) / Y_c` per image.
        increase: ``(N,)`` bool, :math:`O_c > Y_c` per image.
        targets: ``(N,)`` int64 class scored per image.
    """

    original: np.ndarray
    explained: np.ndarray
    drop: np.ndarray
    increase: np.ndarray
    targets: np.ndarray

    @property
    def average_drop(self) -> float:
        r"""Average drop in percent, :math:`\frac{100}{N}\sum_i \max(0, Y_c^i - O_c^i) / Y_c^i` (lower is better)."""
        return float(100.0 * self.drop.mean())

    @property
    def increase_in_confidence(self) -> float:
        r"""Increase in confidence in percent, :math:`\frac{100}{N}\sum_i [Y_c^i < O_c^i]` (higher is better)."""
        return float(100.0 * self.increase.mean())


# ----------------------------------------------------------------------------- numpy helpers
def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    r"""Blur the last two axes with a Gaussian of standard deviation ``sigma`` pixels.

    .. math:: (G_\sigma * x)(i, j) = \sum_{a,b=-r}^{r} g(a)\, g(b)\, x(i - a, j - b), \qquad
              g(a) = \frac{e^{-a^2 / 2\sigma^2}}{\sum_{t=-r}^{r} e^{-t^2 / 2\sigma^2}}, \quad
              r = \lfloor 3\sigma + \tfrac12 \rfloor

    separably, with the image mirrored at its borders (``x(-1) = x(0)``), in float64: the same numbers
    as ``scipy.ndimage.gaussian_filter(x, sigma, truncate=3.0)`` on each image and channel (the test
    suite checks it). ``sigma = 0`` returns a copy.

    >>> x = np.zeros((1, 1, 5, 5)); x[0, 0, 2, 2] = 1.0
    >>> out = gaussian_blur(x, 1.0)
    >>> round(float(out.sum()), 6), bool(out[0, 0, 2, 2] < 1.0)
    (1.0, True)
    """
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real) or not sigma >= 0 or not math.isfinite(sigma):
        raise ValueError(f"blur_sigma must be a finite number >= 0 (pixels); got {sigma!r}.")
    arr = np.asarray(images, dtype=np.float64)
    if sigma == 0:
        return arr.astype(np.float32)
    radius = int(3.0 * float(sigma) + 0.5)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (taps / float(sigma)) ** 2)
    kernel /= kernel.sum()
    for axis in (-2, -1):
        size = arr.shape[axis]
        pad = [(0, 0)] * arr.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(arr, pad, mode="symmetric")
        out = np.zeros_like(arr)
        for k, weight in enumerate(kernel):
            out += weight * np.take(padded, np.arange(k, k + size), axis=axis)
        arr = out
    return arr.astype(np.float32)


def baseline_images(spec: Any, x: np.ndarray, blur_sigma: float = 5.0) -> np.ndarray:
    """The ``(N, C, H, W)`` float32 images that removed pixels take (deletion) or that pixels are inserted
    into (insertion), in the model's input space.

    ``spec`` is ``"zeros"`` (the value 0: for inputs normalized with the data set's mean and standard
    deviation, the mean colour), ``"blur"`` (:func:`gaussian_blur` of each image with ``blur_sigma``),
    ``"mean"`` (each image's mean per channel), a number, or an array broadcastable to ``x``
    (``(C, H, W)``, ``(N, C, H, W)``, ``(C, 1, 1)``, ...).

    >>> baseline_images("mean", np.arange(4.0).reshape(1, 1, 2, 2))[0, 0].tolist()
    [[1.5, 1.5], [1.5, 1.5]]
    """
    if isinstance(spec, str):
        if spec == "zeros":
            return np.zeros_like(x, dtype=np.float32)
        if spec == "blur":
            return gaussian_blur(x, blur_sigma)
        if spec == "mean":
            mean = x.mean(axis=(2, 3), keepdims=True, dtype=np.float64)
            return np.broadcast_to(mean, x.shape).astype(np.float32)
        raise ValueError(f"baseline must be one of {BASELINES}, a number or an array; got {spec!r}.")
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        if not math.isfinite(spec):
            raise ValueError(f"baseline must be a finite number; got {spec!r}.")
        return np.full(x.shape, spec, dtype=np.float32)
    arr = np.asarray(spec, dtype=np.float32) if not hasattr(spec, "numpy") else np.asarray(spec.numpy(), np.float32)
    try:
        out = np.broadcast_to(arr, x.shape).astype(np.float32)
    except ValueError:
        raise InvalidInputError(
            f"The baseline array of shape {shape_text(arr.shape)} does not broadcast to the input's shape "
            f"{shape_text(x.shape)}; give (C, H, W), (N, C, H, W) or (C, 1, 1)."
        ) from None
    if not np.isfinite(out).all():
        raise InvalidInputError("The baseline array contains NaN or infinite values.")
    return out


def pixel_ranks(maps: np.ndarray, descending: bool = True) -> np.ndarray:
    """``(N, H, W)`` int64 rank of every pixel in the order of its map value (0 = first).

    ``descending`` puts the largest values first (most relevant first). Ties keep raster order (row by
    row), in both directions, so the order is deterministic.

    >>> pixel_ranks(np.array([[[0.2, 0.9], [0.9, 0.1]]])).tolist()
    [[[2, 0], [1, 3]]]
    """
    n = maps.shape[0]
    flat = maps.reshape(n, -1)
    order = np.argsort(-flat if descending else flat, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(flat.shape[1]), order.shape), axis=1)
    return ranks.reshape(maps.shape).astype(np.int64)


def step_counts(n_pixels: int, n_steps: int) -> np.ndarray:
    r"""``(n_steps + 1,)`` numbers of pixels changed at each step: :math:`k_s = \lfloor s\,HW / S \rfloor`.

    >>> step_counts(10, 4).tolist()
    [0, 2, 5, 7, 10]
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"n_steps must be a positive int; got {n_steps!r}.")
    if n_steps > n_pixels:
        raise ValueError(
            f"n_steps={n_steps} is more than the {n_pixels} pixels of the image; at most one step per pixel."
        )
    return (np.arange(int(n_steps) + 1, dtype=np.int64) * int(n_pixels)) // int(n_steps)


def area_under_curve(fractions: np.ndarray, scores: np.ndarray) -> np.ndarray:
    r"""Trapezoidal area under each row of ``scores`` over ``fractions``:
    :math:`\sum_s (t_s - t_{s-1})\,(y_s + y_{s-1}) / 2`, in float64.

    >>> area_under_curve(np.array([0.0, 0.5, 1.0]), np.array([[1.0, 0.5, 0.0]])).tolist()
    [0.5]
    """
    t = np.asarray(fractions, np.float64)
    y = np.asarray(scores, np.float64)
    return ((t[1:] - t[:-1]) * (y[..., 1:] + y[..., :-1]) / 2.0).sum(axis=-1)


# ----------------------------------------------------------------------------- metrics
def _setup(backend: MetricsBackend, model: Any, x: Any, explanation: Any, target_class: Any) -> tuple[Any, ...]:
    """``(x as numpy, targets, maps)``, computed inside the caller's eval-mode block."""
    base = backend.base
    xt = base.prepare_input(model, x)
    x_np = base.to_numpy(xt)
    targets = resolve_targets(target_class, base.predict(model, xt))
    maps = explanation_maps(base, model, x_np, explanation, targets)
    return x_np, targets, maps


def _curve(
    kind: str,
    backend: MetricsBackend,
    model: Any,
    x: Any,
    explanation: Any,
    target_class: Any,
    n_steps: int,
    baseline: Any,
    blur_sigma: float,
    output: str,
    batch_size: int,
    progress: bool,
) -> CurveResult:
    base = backend.base
    base.check_model(model)
    output = check_output(output)
    batch_size = check_batch_size(batch_size)
    with base.eval_mode(model):
        x_np, targets, maps = _setup(backend, model, x, explanation, target_class)
        h, w = x_np.shape[2:]
        counts = step_counts(h * w, n_steps)
        other = baseline_images(baseline, x_np, blur_sigma)
        start, end = (x_np, other) if kind == "deletion" else (other, x_np)
        plan = CurvePlan(start, end, pixel_ranks(maps, descending=True), counts)
        scores, _ = backend.curve_probabilities(model, plan, targets, batch_size, output, progress)
    fractions = counts / float(h * w)
    return CurveResult(kind, fractions, scores, area_under_curve(fractions, scores), targets, output)


def deletion_curve(
    backend: MetricsBackend,
    model: Any,
    x: Any,
    explanation: Any,
    target_class: Any = None,
    *,
    n_steps: int = 50,
    baseline: Any = "zeros",
    blur_sigma: float = 5.0,
    output: str = "probability",
    batch_size: int = 64,
    progress: bool = False,
) -> CurveResult:
    r"""Deletion curve and its AUC (Petsiuk et al., RISE, BMVC 2018, https://arxiv.org/abs/1806.07421).

    The pixels of each image are ranked by the map, largest first (ties in raster order), and removed
    in ``n_steps`` steps: after step :math:`s` the :math:`k_s = \lfloor s\,HW/S \rfloor` first pixels take
    the baseline's values in every channel. With :math:`p_c` the softmax probability of the target class
    (or its logit, ``output="logit"``) and :math:`t_s = k_s / HW`,

    .. math:: \text{deletion AUC} = \sum_{s=1}^{S} (t_s - t_{s-1})\,
              \frac{p_c(x^{(s)}) + p_c(x^{(s-1)})}{2}, \qquad x^{(0)} = x

    A faithful map makes the probability fall fast: **lower is better**. RISE removes pixels to zero
    (``baseline="zeros"``, the default; in a normalized input space 0 is the data set's mean colour);
    ``"blur"``, ``"mean"``, a number or an array are the alternatives (:func:`baseline_images`). All
    :math:`N (S + 1)` copies are built on the model's device and run ``batch_size`` at a time.

    Caution: a pixel order scatters the removed pixels, and scattered deletions make an unnatural,
    noisy image that a network gives up on quickly, so a *random* map can score a lower deletion AUC
    than a good one (pretrained EfficientNet-Lite0, the cat photo, 50 steps: Grad-CAM 0.36, a
    uniform random map 0.14, while insertion ranks them 0.66 and 0.40). Compare explanation methods
    with each other, read deletion together with insertion, or use :func:`~visualization.metrics.road.road`,
    which was designed against this effect.

    Args:
        model: the classifier (outputs ``(N, num_classes)``).
        x: images ``(N, C, H, W)`` or one ``(C, H, W)``, a tensor of the framework (not modified).
        explanation: maps ``(N, H, W)``, a CAM or saliency instance, or ``explain(x, targets) -> maps``.
        target_class: ``None`` (the predicted class), an int, or one int per image.
        n_steps: number of steps :math:`S` (RISE: one step per 224 pixels of a 224 x 224 image).
        baseline: what removed pixels become (see above).
        blur_sigma: standard deviation in pixels of ``baseline="blur"``.
        output: ``"probability"`` (softmax) or ``"logit"``.
        batch_size: copies per forward pass.
        progress: show a tqdm progress bar over the batches.

    Returns:
        a :class:`CurveResult` (``scores`` ``(N, S + 1)``, ``auc`` ``(N,)``, ``mean_auc``).

    Example:
        >>> import numpy as np
        >>> import torch
        >>> from visualization.pytorch.metrics import deletion_curve
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> maps = np.random.default_rng(0).random((2, 16, 16))
        >>> res = deletion_curve(model, torch.rand(2, 3, 16, 16), maps, n_steps=8)
        >>> res.scores.shape, res.fractions.tolist()[:3], bool(0 <= res.mean_auc <= 1)
        ((2, 9), [0.0, 0.125, 0.25], True)
    """
    return _curve(
        "deletion",
        backend,
        model,
        x,
        explanation,
        target_class,
        n_steps,
        baseline,
        blur_sigma,
        output,
        batch_size,
        progress,
    )


def insertion_curve(
    backend: MetricsBackend,
    model: Any,
    x: Any,
    explanation: Any,
    target_class: Any = None,
    *,
    n_steps: int = 50,
    baseline: Any = "blur",
    blur_sigma: float = 5.0,
    output: str = "probability",
    batch_size: int = 64,
    progress: bool = False,
) -> CurveResult:
    r"""Insertion curve and its AUC (Petsiuk et al., RISE, BMVC 2018, https://arxiv.org/abs/1806.07421).

    The mirror of :func:`deletion_curve`: the copies start from a canvas (``baseline``, by default the
    image blurred with a Gaussian of ``blur_sigma`` pixels, as in RISE) and the image's pixels are put
    back in the order of the map, largest first, :math:`k_s = \lfloor s\,HW/S \rfloor` after step
    :math:`s`:

    .. math:: \text{insertion AUC} = \sum_{s=1}^{S} (t_s - t_{s-1})\,
              \frac{p_c(x^{(s)}) + p_c(x^{(s-1)})}{2}, \qquad x^{(S)} = x

    A faithful map makes the probability rise fast: **higher is better**. Arguments as in
    :func:`deletion_curve`. (RISE's released code blurs with an 11 x 11 kernel of :math:`\sigma = 5` and
    zero padding; here the kernel reaches :math:`3\sigma` and the border is mirrored, which does not
    darken the image's edges.)

    Example:
        >>> import numpy as np
        >>> import torch
        >>> from visualization.pytorch.metrics import insertion_curve
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> res = insertion_curve(model, torch.rand(1, 3, 16, 16), np.ones((16, 16)), 1, n_steps=4, blur_sigma=2.0)
        >>> res.kind, res.scores.shape, res.targets.tolist()
        ('insertion', (1, 5), [1])
    """
    return _curve(
        "insertion",
        backend,
        model,
        x,
        explanation,
        target_class,
        n_steps,
        baseline,
        blur_sigma,
        output,
        batch_size,
        progress,
    )


def average_drop_increase(
    backend: MetricsBackend,
    model: Any,
    x: Any,
    explanation: Any,
    target_class: Any = None,
    *,
    batch_size: int = 64,
) -> DropResult:
    r"""Average drop and increase in confidence (Chattopadhyay et al., Grad-CAM++, WACV 2018,
    https://arxiv.org/abs/1710.11063, Section 5.1).

    Each image is multiplied by its explanation map :math:`E^c` (min-max normalized to :math:`[0, 1]`,
    the same map in every channel), and the target class's softmax probability on it, :math:`O_c`, is
    compared with the probability on the image, :math:`Y_c`:

    .. math:: \text{Average Drop} = \frac{100}{N} \sum_{i=1}^{N} \frac{\max(0,\, Y_c^i - O_c^i)}{Y_c^i},
              \qquad \text{Increase in Confidence} = \frac{100}{N} \sum_{i=1}^{N} \mathbb{1}\big[Y_c^i < O_c^i\big]

    Lower average drop and higher increase are better. The product is taken in the model's input
    space (for a normalized input, a zero-weighted pixel becomes the data set's mean colour). A
    constant map has no min-max normalization: a positive one keeps the image (every pixel equally
    important), one of zeros (or below) blanks it.

    Returns:
        a :class:`DropResult` (per-image ``drop`` and ``increase``; ``average_drop`` and
        ``increase_in_confidence`` in percent).

    Example:
        >>> import numpy as np
        >>> import torch
        >>> from visualization.pytorch.metrics import average_drop_increase
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> maps = np.random.default_rng(0).random((2, 16, 16))
        >>> res = average_drop_increase(model, torch.rand(2, 3, 16, 16), maps)
        >>> res.drop.shape, bool(0 <= res.average_drop <= 100)
        ((2,), True)
    """
    base = backend.base
    base.check_model(model)
    batch_size = check_batch_size(batch_size)
    with base.eval_mode(model):
        x_np, targets, maps = _setup(backend, model, x, explanation, target_class)
        lo, hi = maps.min(axis=(1, 2)), maps.max(axis=(1, 2))
        weights = np.where((hi > lo)[:, None, None], normalize_maps(maps), np.where(hi[:, None, None] > 0, 1.0, 0.0))
        explained = (x_np * weights[:, None].astype(np.float32)).astype(np.float32)
        images = np.concatenate([x_np, explained])
        scores, _ = backend.batched_probabilities(
            model, images, np.concatenate([targets, targets]), batch_size, "probability", False
        )
    n = x_np.shape[0]
    y, o = scores[:n].astype(np.float64), scores[n:].astype(np.float64)
    drop = np.maximum(0.0, y - o) / np.maximum(y, np.finfo(np.float64).tiny)
    return DropResult(scores[:n], scores[n:], drop, o > y, targets)
