r"""Activation maximization, framework-free: synthesize the image that a unit of the network likes most.

Starting from a faint random image, gradient ascent changes the *image* (never the model) so that
an objective grows (Erhan et al. 2009, "Visualizing Higher-Layer Features of a Deep Network";
Simonyan et al. 2014, https://arxiv.org/abs/1312.6034):

.. math::
    x^\star = \arg\max_x \; \underbrace{\langle W, f_\ell(T_t(x)) \rangle}_{\text{objective}}
        \;-\; \lambda_{TV}\, \mathrm{TV}(x) \;-\; \lambda_{2}\, \lVert x - \tfrac12 \rVert^2

with :math:`f_\ell` the output of layer :math:`\ell` (or the model's logits), :math:`W` a fixed
weight pattern that selects the objective (a channel's mean, one neuron, one class logit), and
:math:`T_t` a random jitter / scale / rotation drawn anew at every step (Olah et al. 2017,
"Feature Visualization", https://distill.pub/2017/feature-visualization/) so that the image does not
degenerate into high-frequency patterns that only fool the exact pixel grid. The total variation
regularizer is the :math:`\beta = 2` case of Mahendran & Vedaldi 2015
(https://arxiv.org/abs/1412.0035).

How the work is split
---------------------
Everything here is written once, for every framework:

* the objective (:class:`Objective`: :math:`W` and its description), the regularizers
  (:func:`total_variation`, :func:`l2_penalty`) and the image parameterization (:func:`render`)
  are *duck-typed*: they only use ``+ - * /``, slicing, ``reshape`` and ``sum`` / ``mean`` over
  axis 1, so the very same code runs on numpy arrays, torch tensors and Paddle tensors; the few
  framework primitives they need (sigmoid, inverse FFT, colour mixing, ``grid_sample``) come from a
  :class:`TensorOps` object;
* every random draw (the initial parameters, the jitter offsets, scales and angles) comes from one
  ``numpy.random.default_rng(seed)`` and every sampling grid is built here in numpy, so PyTorch and
  Paddle see exactly the same numbers;
* the optimizer is :class:`Adam`, written out in numpy: a framework adapter only returns gradients
  with respect to the parameters. This keeps the two frameworks in step (their results agree to
  float32 rounding) and keeps the loop readable in one place.

Each step, Adam descends along

.. math::
    d = -\frac{\nabla_\theta J}{\operatorname{rms}(\nabla_\theta J)}
        + \lambda_{TV} \nabla_\theta \mathrm{TV}(x) + \lambda_2 \nabla_\theta R_2(x)

with :math:`J` the objective on the transformed image: the objective's gradient is normalized per
image (:func:`normalize_gradient`), so the regularizer weights mean the same for a class logit of
size 50 and a channel mean of size 0.5, and Adam's :math:`\epsilon` is relative to the gradient.

A framework adapter (:class:`ActMaxBackend`, implemented in ``visualization/pytorch/_actmax_backend.py``
and ``visualization/paddle/_actmax_backend.py``) supplies a :class:`TensorOps` bound to the model's
device and dtype: tensors from numpy, the four primitives, a forward pass that stops at the target
layer, and the gradient (``torch.autograd.grad`` / ``paddle.grad``: no parameter ``.grad`` is written).

Value range
-----------
Pixels are kept in ``[0, 1]`` by a logistic sigmoid, :math:`x = \sigma(u) = 1 / (1 + e^{-u})`, of
an unbounded image :math:`u` (Olah et al. 2017 do the same): no clipping, so the gradient never
stops at a bound. The model then sees :math:`(x - \mu) / s` with the ``mean`` / ``std`` given to
:class:`ActivationMaximization`.
"""

from __future__ import annotations

import abc
import logging
import math
import numbers
import warnings
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from .backend import Backend, progress_bar, shape_text
from .errors import LayerOutputError, VisualizationError
from .layers import resolve_layer

logger = logging.getLogger("visualization")

__all__ = [
    "COLOR_BASIS",
    "ActMaxBackend",
    "ActivationMaximization",
    "Adam",
    "MaximizationResult",
    "MaximizeSettings",
    "NumpyOps",
    "Objective",
    "ObjectiveError",
    "RenderPlan",
    "StepGradients",
    "TensorOps",
    "Transform",
    "draw_transform",
    "l2_penalty",
    "normalize_gradient",
    "objective_value",
    "render",
    "sampling_grid",
    "spectrum_scale",
    "step_gradients",
    "total_variation",
]

Parameterization = Literal["pixel", "fft"]

#: Colour basis of the ``'fft'`` parameterization: column :math:`k` is the :math:`k`-th principal axis
#: of natural images' RGB covariance :math:`C`, scaled by :math:`\sqrt{\lambda_k / \lambda_1}`, so
#: that :math:`B B^\top \propto C` (first column: luminance; the other two: colour opponents, about
#: 3.5x and 6.4x weaker). Computed for this package from the 284 Oxford-IIIT Pet photos of the
#: test data and eight scikit-image photos (pixels in ``[0, 1]``, eigenvalues 0.174, 0.0143,
#: 0.0042); Olah et al. 2017 use the same construction with ImageNet statistics.
COLOR_BASIS = np.array(
    [[0.5804, 0.2107, -0.0543], [0.5810, -0.0209, 0.1258], [0.5706, -0.1930, -0.0729]], dtype=np.float32
)

#: Standard deviation of the initial parameters, per parameterization (a grey image with faint noise).
INIT_STD = {"pixel": 0.1, "fft": 0.01}

DEFAULT_SCALES = (0.9, 0.95, 1.0, 1.05, 1.1)
DEFAULT_ROTATIONS = (-10.0, -5.0, 0.0, 5.0, 10.0)


class ObjectiveError(VisualizationError, ValueError):
    """An activation-maximization objective is incomplete, contradictory or out of range."""


class _ForwardStopped(Exception):
    """Raised by a one-call hook to end a forward pass at the target layer (caught by the adapter)."""


# ---------------------------------------------------------------------------- objective
@dataclass(frozen=True)
class Objective:
    r"""What to maximize: a linear functional :math:`\langle W, f_\ell(x) \rangle` of one output.

    Attributes:
        kind: ``'channel'`` (mean of one channel of a layer's output), ``'neuron'`` (one position of
            one channel), ``'unit'`` (one entry of a 2-D ``(N, K)`` layer output) or ``'class'`` (one
            logit of the model's output, before softmax).
        layer_name: dotted name of the layer (``None`` for ``'class'``).
        index: the channel, unit or class index.
        position: ``(row, column)`` of a neuron in the layer's output, else ``None``.

    .. math::
        \text{channel } c:\; \frac{1}{hw}\sum_{i,j} A_{c,i,j} \qquad
        \text{neuron } (c, i, j):\; A_{c,i,j} \qquad
        \text{class } k:\; z_k

    Example:
        >>> obj = Objective("channel", "conv1", 2)
        >>> obj.describe()
        "channel 2 of 'conv1' (mean activation)"
        >>> w = obj.weights((1, 3, 2, 2))
        >>> w.shape, float(w[0, 2].sum()), float(w[0, :2].sum())
        ((1, 3, 2, 2), 1.0, 0.0)
    """

    kind: Literal["channel", "neuron", "unit", "class"]
    layer_name: str | None
    index: int
    position: tuple[int, int] | None = None

    def describe(self) -> str:
        """A one-line description for titles and logs."""
        if self.kind == "class":
            return f"class {self.index} logit"
        if self.kind == "unit":
            return f"unit {self.index} of {self.layer_name!r}"
        if self.kind == "neuron":
            assert self.position is not None
            return f"neuron {self.position} of channel {self.index} of {self.layer_name!r}"
        return f"channel {self.index} of {self.layer_name!r} (mean activation)"

    def weights(self, shape: Sequence[int]) -> np.ndarray:
        """:math:`W` for one sample of an output of ``shape`` (``(N, C, h, w)`` or ``(N, K)``), as ``(1, ...)``."""
        w = np.zeros((1, *[int(s) for s in shape[1:]]), np.float32)
        if self.kind == "channel":
            w[0, self.index] = 1.0 / float(np.prod(shape[2:]))
        elif self.kind == "neuron":
            assert self.position is not None
            w[0, self.index, self.position[0], self.position[1]] = 1.0
        else:
            w[0, self.index] = 1.0
        return w

    def check(self, shape: Sequence[int]) -> None:
        """Raise :class:`ObjectiveError` unless this objective fits an output of ``shape``."""
        where = "the model's output" if self.kind == "class" else f"layer {self.layer_name!r}'s output"
        shape = tuple(int(s) for s in shape)
        if self.kind == "class" and len(shape) != 2:
            raise ObjectiveError(
                f"class_index needs a model that returns (N, num_classes) logits; this one returns shape "
                f"{shape_text(shape)}. Maximize a layer's channel instead (layer=..., channel=...)."
            )
        if self.kind in ("channel", "neuron") and len(shape) != 4:
            raise LayerOutputError(
                f"channel/neuron objectives need a 4-D (N, C, h, w) output; {where} has shape "
                f"{shape_text(shape)}. Choose a convolutional layer, or for an (N, K) output pass "
                "channel=k alone (one unit)."
            )
        count = shape[1]
        noun = {"class": "class_index", "unit": "channel", "channel": "channel", "neuron": "channel"}[self.kind]
        if not 0 <= self.index < count:
            raise ObjectiveError(
                f"{noun}={self.index} is out of range: {where} has {count} "
                f"{'classes' if self.kind == 'class' else 'channels'} (shape {shape_text(shape)}). "
                f"Use 0..{count - 1}."
            )
        if self.kind == "neuron":
            assert self.position is not None
            i, j = self.position
            h, w = shape[2], shape[3]
            if not (0 <= i < h and 0 <= j < w):
                raise ObjectiveError(
                    f"neuron={self.position} is outside {where}, whose maps are {h}x{w} at this image size "
                    f"(shape {shape_text(shape)}). Use rows 0..{h - 1} and columns 0..{w - 1}, or "
                    "neuron='center'."
                )


def make_objective(layer_name: str | None, channel: Any, neuron: Any, class_index: Any) -> Objective:
    """Check the combination of ``maximize``'s objective arguments; the position of
    ``neuron='center'`` is filled in later, when the layer's output size is known (as ``(-1, -1)``)."""
    if class_index is not None:
        if layer_name is not None or channel is not None or neuron is not None:
            raise ObjectiveError(
                "class_index maximizes a logit of the model's output, so layer, channel and neuron must be "
                f"left out; got layer={layer_name!r}, channel={channel!r}, neuron={neuron!r}. Pass either "
                "class_index=k, or layer=... with channel=... (and optionally neuron=...)."
            )
        return Objective("class", None, _index("class_index", class_index))
    if layer_name is None:
        if channel is not None or neuron is not None:
            raise ObjectiveError(
                f"channel={channel!r} / neuron={neuron!r} need the layer they belong to: pass layer= (a dotted "
                "name such as 'features.3' or the layer object)."
            )
        raise ObjectiveError(
            "Nothing to maximize: pass class_index=k (a class logit), or layer=... with channel=c "
            "(a channel's mean activation), optionally with neuron='center' or neuron=(row, col)."
        )
    if channel is None:
        raise ObjectiveError(
            f"layer={layer_name!r} needs channel=c: which channel (or, for an (N, K) output, which unit) "
            "to maximize. visualize_channels(layer) shows many channels at once."
        )
    c = _index("channel", channel)
    if neuron is None:
        return Objective("channel", layer_name, c)
    if isinstance(neuron, str):
        if neuron != "center":
            raise ObjectiveError(f"neuron must be 'center' or a (row, col) pair; got {neuron!r}.")
        return Objective("neuron", layer_name, c, (-1, -1))
    if (
        isinstance(neuron, (tuple, list))
        and len(neuron) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in neuron)
    ):
        return Objective("neuron", layer_name, c, (int(neuron[0]), int(neuron[1])))
    raise ObjectiveError(f"neuron must be 'center' or a (row, col) pair of ints; got {neuron!r}.")


def _index(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ObjectiveError(f"{name} must be an int; got {value!r} ({type(value).__name__}).")
    return int(value)


def objective_value(output: Any, weights: Any) -> Any:
    r"""Per-sample objective :math:`\langle W_n, A_n \rangle = \sum W_n \odot A_n`, shape ``(N,)``.

    Duck-typed: ``output`` and ``weights`` are numpy arrays, torch tensors or Paddle tensors.

    Example:
        >>> a = np.arange(8, dtype=np.float32).reshape(2, 1, 2, 2)
        >>> objective_value(a, Objective("channel", "x", 0).weights(a.shape)).tolist()
        [1.5, 5.5]
    """
    n = output.shape[0]
    return (output * weights).reshape([n, -1]).sum(1)


# ---------------------------------------------------------------------------- regularizers
def total_variation(x: Any) -> Any:
    r"""Total variation (:math:`\beta = 2`) of each image of ``x`` ``(N, C, H, W)``, shape ``(N,)``:

    .. math::
        \mathrm{TV}(x) = \sum_{c} \sum_{i<H-1} \sum_{j<W-1}
            (x_{c,i+1,j} - x_{c,i,j})^2 + (x_{c,i,j+1} - x_{c,i,j})^2

    Mahendran & Vedaldi's :math:`V^{\beta}` with :math:`\beta = 2`, over the positions that have both
    a lower and a right neighbour. A sum, not a mean, so its gradient at a pixel does not depend on
    the image size. Duck-typed (numpy, torch, Paddle).

    Example:
        >>> x = np.array([[[[0.0, 1.0], [0.0, 0.0]]]])  # one step of 1 to the right of the top-left pixel
        >>> total_variation(x).tolist()
        [1.0]
        >>> total_variation(np.concatenate([x, 2 * x])).tolist()  # one value per image
        [1.0, 4.0]
    """
    n = x.shape[0]
    base = x[:, :, :-1, :-1]
    dv = x[:, :, 1:, :-1] - base
    dh = x[:, :, :-1, 1:] - base
    return (dv * dv + dh * dh).reshape([n, -1]).sum(1)


def l2_penalty(x: Any) -> Any:
    r"""Squared distance of each image of ``x`` ``(N, C, H, W)`` from mid-grey, shape ``(N,)``:

    .. math::
        R_2(x) = \sum_{c,i,j} \big(x_{c,i,j} - \tfrac12\big)^2

    Simonyan et al.'s :math:`\lVert I \rVert_2^2` penalty on the zero-centred image (centred at 0.5
    because pixels are in ``[0, 1]``). Duck-typed (numpy, torch, Paddle).

    Example:
        >>> l2_penalty(np.array([[[[0.0, 1.0], [0.5, 0.5]]]])).tolist()
        [0.5]
    """
    n = x.shape[0]
    d = x - 0.5
    return (d * d).reshape([n, -1]).sum(1)


# ---------------------------------------------------------------------------- parameterization
def spectrum_scale(height: int, width: int) -> np.ndarray:
    r"""Per-frequency amplitude of the ``'fft'`` parameterization, shape ``(height, width // 2 + 1)``:

    .. math::
        s(f) = \frac{1}{Z \max(f, 1/\max(H, W))}, \qquad f = \sqrt{f_y^2 + f_x^2}
        \text{ (cycles per pixel)}

    so the image :math:`u = \mathcal{F}^{-1}(s \odot \theta)` has the :math:`1/f` amplitude spectrum of
    natural images when :math:`\theta` is white (Olah et al. 2017): a gradient step on :math:`\theta`
    changes low frequencies more than high ones. :math:`Z` is the root mean square of
    :math:`1/\max(f, \cdot)` over the full ``H x W`` spectrum, so that with ``norm='ortho'`` white
    :math:`\theta` of unit variance gives :math:`u` of about unit variance, as in the ``'pixel'``
    parameterization: the same learning rate suits both.

    Example:
        >>> s = spectrum_scale(4, 6)
        >>> s.shape, bool(s[0, 0] == s.max()), bool(s[2, 3] == s.min())
        ((4, 4), True, True)
    """
    fy = np.fft.fftfreq(height)[:, None]
    fx_full = np.fft.fftfreq(width)[None, :]
    fmin = 1.0 / max(height, width)
    full = 1.0 / np.maximum(np.sqrt(fy**2 + fx_full**2), fmin)
    z = math.sqrt(float(np.mean(full**2)))
    fx = np.fft.rfftfreq(width)[None, :]
    return (1.0 / (np.maximum(np.sqrt(fy**2 + fx**2), fmin) * z)).astype(np.float32)


@dataclass(frozen=True)
class RenderPlan:
    """How parameters become the model's input (constants of one ``maximize`` call).

    Attributes:
        height, width: image size.
        parameterization: ``'pixel'`` (one logit per pixel and channel) or ``'fft'`` (a 1/f-scaled
            spectrum per decorrelated colour channel, see :func:`render`).
        mean, std: ``(3,)`` per-channel statistics on the ``[0, 1]`` scale, or ``None`` (the model
            sees the ``[0, 1]`` image).
    """

    height: int
    width: int
    parameterization: Parameterization
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    spectrum: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def make(
        cls, height: int, width: int, parameterization: Parameterization, mean: Any = None, std: Any = None
    ) -> RenderPlan:
        spectrum = spectrum_scale(height, width) if parameterization == "fft" else None
        return cls(height, width, parameterization, mean, std, spectrum)

    def param_shape(self, n: int) -> tuple[int, ...]:
        """Shape of the parameters of ``n`` images: ``(n, 3, H, W)``, or ``(n, 3, H, W//2+1, 2)`` (real, imaginary)."""
        if self.parameterization == "fft":
            return (n, 3, self.height, self.width // 2 + 1, 2)
        return (n, 3, self.height, self.width)

    def init_params(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Initial parameters, drawn from ``rng``: normal with std :data:`INIT_STD` (a faint-noise grey
        image). The same draw is used for every one of the ``n`` images."""
        one = rng.standard_normal(self.param_shape(1)) * INIT_STD[self.parameterization]
        return np.ascontiguousarray(np.repeat(one.astype(np.float32), n, axis=0))


def render(theta: Any, plan: RenderPlan, ops: TensorOps) -> Any:
    r"""The ``[0, 1]`` images ``(N, 3, H, W)`` that parameters ``theta`` stand for.

    * ``'pixel'``: :math:`x = \sigma(\theta)`;
    * ``'fft'``: :math:`x = \sigma\big(B\, \mathcal{F}^{-1}(s \odot (\theta_{re} + i\,\theta_{im}))\big)`
      with :math:`\mathcal{F}^{-1}` the orthonormal inverse real 2-D FFT, :math:`s` from
      :func:`spectrum_scale` and :math:`B` = :data:`COLOR_BASIS` mixing the three decorrelated
      channels into RGB.

    :math:`\sigma` is the logistic sigmoid. ``theta`` and the result are tensors of ``ops``'s framework.

    Example:
        >>> plan = RenderPlan.make(4, 6, "fft")
        >>> x = render(np.zeros(plan.param_shape(1), np.float32), plan, NumpyOps())
        >>> x.shape, float(x.min()), float(x.max())
        ((1, 3, 4, 6), 0.5, 0.5)
    """
    if plan.parameterization == "fft":
        assert plan.spectrum is not None
        scale = ops.constant(plan.spectrum)
        u = ops.irfft2(theta[..., 0] * scale, theta[..., 1] * scale, (plan.height, plan.width))
        u = ops.mix_channels(u, COLOR_BASIS)
    else:
        u = theta
    return ops.sigmoid(u)


def to_input(x: Any, plan: RenderPlan, ops: TensorOps) -> Any:
    r"""The model's input :math:`(x - \mu) / s` for ``[0, 1]`` images ``x`` (``x`` itself without statistics)."""
    if plan.mean is None or plan.std is None:
        return x
    return (x - ops.constant(plan.mean.reshape(1, 3, 1, 1))) / ops.constant(plan.std.reshape(1, 3, 1, 1))


# ---------------------------------------------------------------------------- transforms
@dataclass(frozen=True)
class Transform:
    """One random transformation: shift by ``(dy, dx)`` pixels (down, right), zoom by ``scale`` (above 1:
    enlarge), rotate by ``angle`` degrees (clockwise as displayed, rows pointing down)."""

    dy: int = 0
    dx: int = 0
    scale: float = 1.0
    angle: float = 0.0

    @property
    def is_identity(self) -> bool:
        return self.dy == 0 and self.dx == 0 and self.scale == 1.0 and self.angle == 0.0


def draw_transform(
    rng: np.random.Generator, jitter: int, scales: Sequence[float], rotations: Sequence[float]
) -> Transform:
    """Draw one :class:`Transform`: ``dy, dx`` uniform in ``[-jitter, jitter]``, then a scale and an angle
    uniformly from ``scales`` and ``rotations``. Always four draws in this order, so a seed fixes
    the whole sequence whatever the settings.

    Example:
        >>> draw_transform(np.random.default_rng(0), 0, (1.0,), (0.0,)).is_identity
        True
    """
    dy, dx = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
    scale = float(scales[int(rng.integers(len(scales)))])
    angle = float(rotations[int(rng.integers(len(rotations)))])
    return Transform(dy, dx, scale, angle)


def sampling_grid(t: Transform, height: int, width: int) -> np.ndarray | None:
    r"""The ``grid_sample`` grid ``(1, H, W, 2)`` (``x, y`` in ``[-1, 1]``, ``align_corners=False``) that
    applies ``t`` about the image centre, or ``None`` for the identity.

    Output pixel centre :math:`p` (in pixels) reads the source at
    :math:`c + R(-a)\,(p - c - \delta) / s` with :math:`c` the image centre, :math:`\delta = (dx, dy)`,
    :math:`s` the scale and :math:`a` the angle: the content is scaled and rotated about the centre,
    then shifted. Positions outside the image are reflected (``padding_mode='reflection'``).

    Example:
        >>> g = sampling_grid(Transform(dx=1), 1, 4)  # shift right by one pixel
        >>> np.round((g[0, 0, :, 0] + 1) * 4 / 2 - 0.5, 6).tolist()  # source column of each output pixel
        [-1.0, 0.0, 1.0, 2.0]
    """
    if t.is_identity:
        return None
    ys, xs = np.meshgrid(np.arange(height) + 0.5, np.arange(width) + 0.5, indexing="ij")
    cy, cx = height / 2.0, width / 2.0
    u, v = xs - cx - t.dx, ys - cy - t.dy
    a = math.radians(t.angle)
    cos, sin = math.cos(a), math.sin(a)
    sx = (cos * u + sin * v) / t.scale + cx
    sy = (-sin * u + cos * v) / t.scale + cy
    grid = np.stack([2.0 * sx / width - 1.0, 2.0 * sy / height - 1.0], axis=-1)
    return grid[None].astype(np.float32)


# ---------------------------------------------------------------------------- framework primitives
class TensorOps(Protocol):
    """The primitives :func:`render` and the loop need from a framework (bound to a model's device/dtype).

    :class:`NumpyOps` implements the first five without gradients; an adapter's ops implement all.
    """

    def constant(self, array: np.ndarray) -> Any:
        """A tensor with the values of ``array`` that needs no gradient."""

    def sigmoid(self, x: Any) -> Any:
        """Element-wise :math:`1 / (1 + e^{-x})`."""

    def irfft2(self, re: Any, im: Any, size: tuple[int, int]) -> Any:
        """Orthonormal inverse real 2-D FFT over the last two axes of ``re + i im`` to ``size``."""

    def mix_channels(self, x: Any, matrix: np.ndarray) -> Any:
        """``y[:, c] = sum_k matrix[c, k] x[:, k]`` for ``x`` of shape ``(N, K, H, W)``."""

    def grid_sample(self, x: Any, grid: np.ndarray) -> Any:
        """Bilinear sampling of ``x`` at ``grid`` ``(N, H, W, 2)``: ``align_corners=False``, reflection padding."""


class GradientOps(TensorOps, Protocol):
    """What the optimization loop needs beyond :class:`TensorOps`."""

    def variable(self, array: np.ndarray) -> Any:
        """A leaf tensor with the values of ``array`` that gradients are taken with respect to."""

    def recording(self) -> AbstractContextManager[Any]:
        """Context in which the framework records operations for autograd (also inside the caller's no-grad)."""

    def inference(self) -> AbstractContextManager[Any]:
        """Context in which nothing is recorded for autograd (the caller's mode restored on exit)."""

    def forward(self, model: Any, layer: Any, x: Any) -> Any:
        """The model's output for ``x`` (``layer is None``) or ``layer``'s output, with the forward pass
        ended right after ``layer`` by a one-call hook (removed before returning, also on errors)."""

    def gradient(self, loss: Any, variable: Any, retain: bool = False) -> np.ndarray:
        """``d loss / d variable`` as float32 numpy (zeros if ``loss`` does not depend on it), via the
        framework's ``grad`` function: no parameter ``.grad`` is written. ``retain`` keeps the graph
        for another gradient of the same forward pass."""

    def numpy(self, x: Any) -> np.ndarray:
        """A float32 numpy copy of a tensor."""


class NumpyOps:
    """:class:`TensorOps` in plain numpy (float64 inside): renders the final image and is the
    framework-free reference the adapters are tested against."""

    def constant(self, array: np.ndarray) -> np.ndarray:
        return np.asarray(array)

    def sigmoid(self, x: np.ndarray) -> np.ndarray:
        return 0.5 * (1.0 + np.tanh(0.5 * np.asarray(x, np.float64)))  # = 1 / (1 + exp(-x)), no overflow

    def irfft2(self, re: np.ndarray, im: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        spec = np.asarray(re, np.float64) + 1j * np.asarray(im, np.float64)
        return np.fft.irfft2(spec, s=size, norm="ortho")

    def mix_channels(self, x: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        return np.einsum("ck,nkhw->nchw", np.asarray(matrix, np.float64), x)

    def grid_sample(self, x: np.ndarray, grid: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        n, c, h, w = x.shape
        gx = _reflect(((grid[..., 0].astype(np.float64) + 1.0) * w - 1.0) / 2.0, w)
        gy = _reflect(((grid[..., 1].astype(np.float64) + 1.0) * h - 1.0) / 2.0, h)
        x0, y0 = np.floor(gx).astype(int), np.floor(gy).astype(int)
        fx, fy = gx - x0, gy - y0
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        b = np.arange(n)[:, None, None]
        out = np.empty((n, c, *grid.shape[1:3]))
        for k in range(c):
            img = x[:, k]
            top = img[b, y0, x0] * (1 - fx) + img[b, y0, x1] * fx
            bottom = img[b, y1, x0] * (1 - fx) + img[b, y1, x1] * fx
            out[:, k] = top * (1 - fy) + bottom * fy
        return out


def _reflect(coord: np.ndarray, size: int) -> np.ndarray:
    """Reflect pixel coordinates about the image border (at -0.5 and size - 0.5), then clip to the pixel centres."""
    span = float(size)
    d = np.abs(coord + 0.5)
    flips = np.floor(d / span)
    extra = np.fmod(d, span)
    out = np.where(flips % 2 == 0, extra - 0.5, span - extra - 0.5)
    return np.clip(out, 0.0, size - 1.0)


class ActMaxBackend(Backend):
    """A :class:`~visualization.core.backend.Backend` that can also differentiate with respect to the image."""

    @abc.abstractmethod
    def tensor_ops(self, model: Any) -> GradientOps:
        """:class:`GradientOps` on ``model``'s device and floating dtype."""


# ---------------------------------------------------------------------------- optimizer
class Adam:
    r"""Adam (Kingma & Ba 2015, https://arxiv.org/abs/1412.6980) in numpy, minimizing a loss:

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
        \theta_t = \theta_{t-1} - \eta \, \frac{m_t / (1 - \beta_1^t)}{\sqrt{v_t / (1 - \beta_2^t)} + \epsilon}

    Each parameter moves by about :math:`\eta` per step whatever the scale of the objective, which
    is why one learning rate suits channels, neurons and logits alike.

    Example:
        >>> opt, theta = Adam(lr=0.1), np.zeros(2, np.float32)
        >>> opt.step(theta, np.array([1.0, -2.0], np.float32))  # the first step is -lr * sign(g)
        >>> [round(float(t), 6) for t in theta]
        [-0.1, 0.1]
    """

    def __init__(self, lr: float, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.t = 0
        self.m: np.ndarray | None = None
        self.v: np.ndarray | None = None

    def step(self, theta: np.ndarray, grad: np.ndarray) -> None:
        """Update ``theta`` in place with the gradient ``grad`` of the loss."""
        if self.m is None or self.v is None:
            self.m, self.v = np.zeros_like(theta), np.zeros_like(theta)
        self.t += 1
        self.m = self.beta1 * self.m + (1.0 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1.0 - self.beta2) * grad * grad
        m_hat = self.m / (1.0 - self.beta1**self.t)
        v_hat = self.v / (1.0 - self.beta2**self.t)
        theta -= (self.lr * m_hat / (np.sqrt(v_hat) + self.eps)).astype(theta.dtype)


def normalize_gradient(grad: np.ndarray) -> np.ndarray:
    r"""Each sample's gradient divided by its root mean square, :math:`g_n / \sqrt{\operatorname{mean}(g_n^2)}`
    (an all-zero gradient stays zero).

    Applied to the objective's gradient before the regularizers' gradients are added: their weights
    are then relative to the objective whatever its scale, and Adam's :math:`\epsilon` is relative to
    the gradient's size, so coordinates whose gradient is float32 rounding noise cannot take sizeable
    steps (PyTorch and Paddle stay in step).

    Example:
        >>> normalize_gradient(np.array([[3.0, -4.0], [0.0, 0.0]], np.float32)).astype(float).round(4).tolist()
        [[0.8485, -1.1314], [0.0, 0.0]]
    """
    g = grad.astype(np.float64)
    rms = np.sqrt((g * g).reshape(g.shape[0], -1).mean(axis=1))
    rms = np.where(rms > 0, rms, 1.0).reshape((-1,) + (1,) * (g.ndim - 1))
    return (g / rms).astype(grad.dtype)


# ---------------------------------------------------------------------------- settings and result
@dataclass(frozen=True)
class MaximizeSettings:
    """The optimization settings of one ``maximize`` call (see :meth:`ActivationMaximization.maximize`)."""

    steps: int = 256
    lr: float = 0.08
    tv_weight: float = 0.1
    l2_weight: float = 0.0
    jitter: int = 8
    scales: tuple[float, ...] = DEFAULT_SCALES
    rotations: tuple[float, ...] = DEFAULT_ROTATIONS
    parameterization: Parameterization = "fft"
    seed: int = 0

    def __post_init__(self) -> None:
        _check_int("steps", self.steps, 1)
        _check_int("jitter", self.jitter, 0)
        _check_int("seed", self.seed, 0)
        for name in ("lr", "tv_weight", "l2_weight"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number; got {value!r}.")
            if value < 0 or (name == "lr" and value == 0):
                raise ValueError(f"{name} must be {'positive' if name == 'lr' else '>= 0'}; got {value!r}.")
        if self.parameterization not in ("pixel", "fft"):
            raise ValueError(f"parameterization must be 'pixel' or 'fft'; got {self.parameterization!r}.")
        for name, bound in (("scales", 0.0), ("rotations", None)):
            values = getattr(self, name)
            ok = isinstance(values, tuple) and len(values) > 0
            ok = ok and all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) for v in values
            )
            if not ok or (bound is not None and min(values) <= bound):
                what = "positive zoom factors, e.g. (0.95, 1.0, 1.05)" if name == "scales" else "angles in degrees"
                raise ValueError(
                    f"{name} must be a non-empty sequence of {what} ((1.0,) / (0.0,) for none); got {values!r}."
                )


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}; got {value!r}.")


@dataclass(frozen=True)
class MaximizationResult:
    """The outcome of one activation maximization.

    Attributes:
        image: ``(H, W, 3)`` float32 in ``[0, 1]``, ready for ``plt.imshow``.
        input: ``(3, H, W)`` float32, the same image in the model's input space,
            ``(image - mean) / std`` channels first: feed it (with a batch axis) to the model.
        history: ``(steps,)`` float64, the objective at every step, measured on that step's randomly
            transformed image, before the update.
        value: the objective for :attr:`input` itself (no transformation), after the last step.
        objective: a description of what was maximized, e.g. ``"class 11 logit"``.
        layer_name: dotted name of the layer (``None`` for a class logit).
        settings: the :class:`MaximizeSettings` used (with the seed), to reproduce the result.
    """

    image: np.ndarray
    input: np.ndarray
    history: np.ndarray
    value: float
    objective: str
    layer_name: str | None
    settings: MaximizeSettings


def _image_size(image_size: Any) -> tuple[int, int]:
    if isinstance(image_size, numbers.Integral) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in image_size)
    ):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ValueError(f"image_size must be an int or an (H, W) pair of ints; got {image_size!r}.")
    if min(size) < 2:
        raise ValueError(f"image_size must be at least 2 x 2 pixels; got {size}.")
    return size


def _channel_stats(name: str, value: Any) -> np.ndarray | None:
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be one number or 3 per-channel numbers (R, G, B); got {value!r}.")
    return arr


def input_statistics(mean: Any, std: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``(mean, std)`` as ``(3,)`` float32 arrays on the ``[0, 1]`` scale (``None, None`` for identity).

    Statistics on the 0..255 scale (any mean above 1, as :data:`visualization.models.imagenet.MEAN`)
    are divided by 255; a missing one of the two defaults to 0 (mean) or 1 (std).

    Example:
        >>> m, s = input_statistics((127.0, 127.0, 127.0), (128.0, 128.0, 128.0))
        >>> [round(float(v), 4) for v in m], [round(float(v), 4) for v in s]
        ([0.498, 0.498, 0.498], [0.502, 0.502, 0.502])
    """
    m, s = _channel_stats("mean", mean), _channel_stats("std", std)
    if m is None and s is None:
        return None, None
    m = np.zeros(3) if m is None else m
    s = np.ones(3) if s is None else s
    if np.any(m > 1.0):
        logger.info("mean %s is above 1: reading mean and std on the 0..255 scale (divided by 255)", m.tolist())
        m, s = m / 255.0, s / 255.0
    if np.any(s <= 0):
        raise ValueError(f"std must be positive; got {std!r}.")
    return m.astype(np.float32), s.astype(np.float32)


# ---------------------------------------------------------------------------- the public class
class ActivationMaximization:
    r"""Synthesize images that maximize a class logit, a channel or a neuron of a CNN.

    Args:
        model: the network (a PyTorch module or a Paddle layer, per adapter). It is run in
            eval mode during a call and left as it was: parameters, their ``.grad`` and gradient flags,
            train/eval flags; hooks live for one forward pass.
        image_size: ``(H, W)`` or one int for a square image.
        mean, std: per-channel statistics the model's inputs are normalized with, on the ``[0, 1]``
            scale (ImageNet: ``(0.485, 0.456, 0.406)``, ``(0.229, 0.224, 0.225)``) or on the 0..255
            scale (:data:`visualization.models.imagenet.MEAN` / ``STD`` for EfficientNet-Lite0); ``None``:
            the model takes ``[0, 1]`` images.

    The objective :math:`\langle W, f_\ell(T_t(x)) \rangle` (see :mod:`visualization.core.activation_max`)
    is maximized by Adam on the image's parameters, with the image :math:`x = \sigma(u)` in ``[0, 1]``.

    Example:
        >>> import torch
        >>> from visualization.pytorch.activation_maximization import ActivationMaximization
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> am = ActivationMaximization(model, image_size=24)
        >>> result = am.maximize(class_index=1, steps=10)
        >>> result.image.shape, result.input.shape, result.history.shape, result.objective
        ((24, 24, 3), (3, 24, 24), (10,), 'class 1 logit')
        >>> am.maximize("0", channel=2, neuron="center", steps=3, parameterization="pixel").objective
        "neuron (11, 11) of channel 2 of '0'"
    """

    backend: ClassVar[ActMaxBackend]

    def __init__(self, model: Any, image_size: int | tuple[int, int] = 224, mean: Any = None, std: Any = None) -> None:
        self.backend.check_model(model)
        self.model = model
        self.image_size = _image_size(image_size)
        self.mean, self.std = input_statistics(mean, std)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__}, image_size={self.image_size})"

    def maximize(
        self,
        layer: Any = None,
        channel: int | None = None,
        neuron: str | tuple[int, int] | None = None,
        class_index: int | None = None,
        *,
        steps: int = 256,
        lr: float = 0.08,
        tv_weight: float = 0.1,
        l2_weight: float = 0.0,
        jitter: int = 8,
        scales: Sequence[float] = DEFAULT_SCALES,
        rotations: Sequence[float] = DEFAULT_ROTATIONS,
        parameterization: Parameterization = "fft",
        seed: int = 0,
        progress: bool = False,
    ) -> MaximizationResult:
        r"""Optimize an image for one objective and return a :class:`MaximizationResult`.

        The objective is one of:

        * ``class_index=k``: logit :math:`z_k` of the model's output (before softmax);
        * ``layer=..., channel=c``: the mean of channel ``c`` of the layer's output (a dotted name or
          the layer object; for a 2-D ``(N, K)`` output, unit ``c``);
        * ``layer=..., channel=c, neuron=(i, j)`` or ``neuron='center'``: one position of that channel.

        The forward pass stops right after the layer (the layer's first call), so early layers are cheap.
        The defaults were tuned on the pretrained EfficientNet-Lite0 at 128 x 128 (class 'goldfinch':
        a yellow body with black wings and head after 256 steps).

        Args:
            steps: Adam steps; ``lr``: Adam's learning rate (each parameter moves about ``lr`` per step).
            tv_weight, l2_weight: weights :math:`\lambda_{TV}, \lambda_2` of :func:`total_variation` and
                :func:`l2_penalty` (on the ``[0, 1]`` image), relative to the objective's gradient
                normalized to unit RMS, so the same weights suit any objective. More TV gives smoother,
                flatter images (too much drives pixels towards black or white).
            jitter: random shift of up to ``jitter`` pixels in each direction, every step.
            scales, rotations: a zoom factor and an angle (degrees) are drawn from these every step;
                ``jitter=0, scales=(1.0,), rotations=(0.0,)`` turns the transformations off.
            parameterization: ``'fft'`` (decorrelated colours, 1/f-scaled spectrum; Olah et al. 2017)
                or ``'pixel'`` (a sigmoid per pixel).
            seed: seeds every random draw (initial image, shifts, scales, angles), in numpy: the same
                seed gives the same image, in PyTorch and in Paddle.
            progress: show a tqdm progress bar over the steps.
        """
        settings = MaximizeSettings(
            steps, lr, tv_weight, l2_weight, jitter, _as_tuple(scales), _as_tuple(rotations), parameterization, seed
        )
        layer_name, layer_obj = self._layer(layer)
        objective = make_objective(layer_name, channel, neuron, class_index)
        return self._run(layer_obj, [objective], settings, progress, "activation maximization")[0]

    def maximize_channels(
        self, layer: Any, channels: Iterable[int] = range(16), *, batch_size: int = 8, **maximize_kwargs: Any
    ) -> list[MaximizationResult]:
        """One :class:`MaximizationResult` per channel of ``layer``, optimized ``batch_size`` at a time.

        Each image is what ``maximize(layer, channel=c, **maximize_kwargs)`` gives (same seed, same
        initial image and transformations; up to float rounding of batched convolutions).
        """
        _check_int("batch_size", batch_size, 1)
        chans = [_index("channel", c) for c in channels]
        if not chans:
            raise ValueError("channels is empty; pass at least one channel index, e.g. range(16).")
        progress = bool(maximize_kwargs.pop("progress", False))
        unknown = set(maximize_kwargs) - set(MaximizeSettings.__dataclass_fields__)
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {sorted(unknown)} for maximize_channels.")
        for key in ("scales", "rotations"):
            if key in maximize_kwargs:
                maximize_kwargs[key] = _as_tuple(maximize_kwargs[key])
        settings = MaximizeSettings(**maximize_kwargs)
        layer_name, layer_obj = self._layer(layer)
        objectives = [make_objective(layer_name, c, None, None) for c in chans]
        out: list[MaximizationResult] = []
        for start in range(0, len(objectives), batch_size):
            chunk = objectives[start : start + batch_size]
            desc = f"channels {chunk[0].index}..{chunk[-1].index}"
            out.extend(self._run(layer_obj, chunk, settings, progress, desc))
        return out

    def visualize_channels(
        self, layer: Any, channels: Iterable[int] = range(16), ncols: int = 8, **maximize_kwargs: Any
    ) -> Any:
        """A matplotlib ``Figure``: a grid (``ncols`` wide) of the images that maximize each channel of
        ``layer``, titled with the channel index and the final objective value. ``maximize_kwargs``
        go to :meth:`maximize_channels` (``steps``, ``lr``, ..., ``batch_size``, ``progress``)."""
        from .plotting.actmax_figures import channel_grid_figure

        _check_int("ncols", ncols, 1)
        results = self.maximize_channels(layer, channels, **maximize_kwargs)
        return channel_grid_figure(results, ncols)

    def visualize(self, result: MaximizationResult, class_names: Sequence[str] | None = None) -> Any:
        """A matplotlib ``Figure`` of a result: the image and the objective over the steps."""
        from .plotting.actmax_figures import maximization_figure

        return maximization_figure(result, class_names)

    # ------------------------------------------------------------------ internals
    def _layer(self, layer: Any) -> tuple[str | None, Any]:
        if layer is None:
            return None, None
        return resolve_layer(self.backend.named_layers(self.model), layer)

    def _run(
        self, layer: Any, objectives: list[Objective], settings: MaximizeSettings, progress: bool, desc: str
    ) -> list[MaximizationResult]:
        h, w = self.image_size
        n = len(objectives)
        plan = RenderPlan.make(h, w, settings.parameterization, self.mean, self.std)
        rng = np.random.default_rng(settings.seed)
        theta = plan.init_params(n, rng)
        ops = self.backend.tensor_ops(self.model)
        with self.backend.eval_mode(self.model):
            with ops.inference():  # probe: the output's shape fixes W (and neuron='center')
                probe = ops.forward(self.model, layer, to_input(render(ops.constant(theta[:1]), plan, ops), plan, ops))
            shape = _output_shape(probe, objectives[0])
            objectives = [_place_neuron(o, shape) for o in objectives]
            for o in objectives:
                o.check(shape)
            weights = ops.constant(np.concatenate([o.weights(shape) for o in objectives]))
            opt = Adam(settings.lr)
            history = np.zeros((settings.steps, n), np.float64)
            for step in progress_bar(list(range(settings.steps)), desc, progress):
                grid = sampling_grid(draw_transform(rng, settings.jitter, settings.scales, settings.rotations), h, w)
                g = step_gradients(
                    ops, self.model, layer, theta, plan, grid, weights, settings.tv_weight, settings.l2_weight
                )
                history[step] = g.values
                opt.step(theta, g.direction())
            with ops.inference():
                x01 = render(ops.constant(theta), plan, ops)
                final = ops.numpy(objective_value(ops.forward(self.model, layer, to_input(x01, plan, ops)), weights))
        _warn_constant(objectives, history)
        images = render(theta, plan, NumpyOps())  # framework-free: the same image for both frameworks
        inputs = to_input(images, plan, NumpyOps())
        return [
            MaximizationResult(
                np.ascontiguousarray(images[i].transpose(1, 2, 0), dtype=np.float32),
                np.ascontiguousarray(inputs[i], dtype=np.float32),
                history[:, i].copy(),
                float(final[i]),
                o.describe(),
                o.layer_name,
                settings,
            )
            for i, o in enumerate(objectives)
        ]


@dataclass(frozen=True)
class StepGradients:
    r"""What one optimization step measures.

    Attributes:
        values: ``(N,)`` objective of each image (after its random transformation).
        objective: ``(N, ...)`` gradient of the objective with respect to the parameters (ascent).
        penalty: the gradient of :math:`\lambda_{TV} \mathrm{TV} + \lambda_2 R_2` (``None`` if both are 0).
    """

    values: np.ndarray
    objective: np.ndarray
    penalty: np.ndarray | None

    def direction(self) -> np.ndarray:
        """The descent direction :math:`d` Adam follows (see the module docstring)."""
        d = -normalize_gradient(self.objective)
        return d if self.penalty is None else d + self.penalty


def step_gradients(
    ops: GradientOps,
    model: Any,
    layer: Any,
    theta: np.ndarray,
    plan: RenderPlan,
    grid: np.ndarray | None,
    weights: Any,
    tv_weight: float,
    l2_weight: float,
) -> StepGradients:
    """Render ``theta``, apply the sampling ``grid`` (``None``: no transformation), run the model to
    ``layer`` (``None``: its output) and differentiate the objective ``<weights, output>`` and the
    penalties (on the untransformed ``[0, 1]`` image) with respect to ``theta``."""
    with ops.recording():
        var = ops.variable(theta)
        x01 = render(var, plan, ops)
        x = to_input(x01, plan, ops)
        if grid is not None:
            x = ops.grid_sample(x, np.ascontiguousarray(np.repeat(grid, theta.shape[0], axis=0)))
        values = objective_value(ops.forward(model, layer, x), weights)
        penalty = None
        if tv_weight:
            penalty = tv_weight * total_variation(x01).sum()
        if l2_weight:
            l2 = l2_weight * l2_penalty(x01).sum()
            penalty = l2 if penalty is None else penalty + l2
        objective = ops.gradient(values.sum(), var, retain=penalty is not None)
        penalty_grad = None if penalty is None else ops.gradient(penalty, var)
    return StepGradients(ops.numpy(values).astype(np.float64), objective, penalty_grad)


def _warn_constant(objectives: list[Objective], history: np.ndarray) -> None:
    """Warn about objectives that never changed: their gradient is zero, only the regularizers acted."""
    if history.shape[0] < 2:
        return
    flat = [o.describe() for i, o in enumerate(objectives) if np.all(history[:, i] == history[0, i])]
    if flat:
        warnings.warn(
            f"The objective did not change over {history.shape[0]} steps for: {'; '.join(flat)}. Its gradient "
            "with respect to the image is zero (a channel that is never active, e.g. behind a ReLU, or an output "
            "that does not depend on the input), so the image shows only the regularizers. Try another channel "
            "or layer.",
            RuntimeWarning,
            stacklevel=4,
        )


def _as_tuple(values: Any) -> tuple[Any, ...]:
    if isinstance(values, numbers.Real):
        return (values,)
    try:
        return tuple(values)
    except TypeError:
        return values  # MaximizeSettings explains what is expected


def _output_shape(output: Any, objective: Objective) -> tuple[int, ...]:
    if not hasattr(output, "shape") or not hasattr(output, "reshape"):
        where = "the model" if objective.layer_name is None else f"layer {objective.layer_name!r}"
        raise LayerOutputError(
            f"{where} returned a {type(output).__name__}, not one tensor, so there is nothing to maximize. "
            "Choose a layer whose output is a single (N, C, h, w) or (N, K) tensor."
        )
    return tuple(int(s) for s in output.shape)


def _place_neuron(objective: Objective, shape: tuple[int, ...]) -> Objective:
    if objective.position == (-1, -1) and len(shape) == 4:
        return Objective("neuron", objective.layer_name, objective.index, (shape[2] // 2, shape[3] // 2))
    if objective.kind == "channel" and len(shape) == 2:
        return Objective("unit", objective.layer_name, objective.index)
    return objective
