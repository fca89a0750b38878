r"""Gradient and perturbation saliency shared by every framework.

Each method explains one score :math:`S(x)` per image (the target class's logit, before softmax, or
what a callable target returns) by an attribution map :math:`a(x)` of the input's shape ``(N, C, H, W)``:

============================  =============================================================================
class                         attribution
============================  =============================================================================
:class:`VanillaGradient`      :math:`\partial S / \partial x` (Simonyan et al. 2014), optionally its absolute value
:class:`GradientXInput`       :math:`x \odot \partial S / \partial x`
:class:`IntegratedGradients`  :math:`(x - x') \odot \sum_s w_s\, \partial S / \partial x \,(x' + \alpha_s (x - x'))`
:class:`GuidedBackprop`       the gradient with every ReLU's backward replaced by :math:`\mathrm{ReLU}(g)\,[y > 0]`
:class:`Deconvolution`        the gradient with every ReLU's backward replaced by :math:`\mathrm{ReLU}(g)`
:class:`GuidedGradCAM`        Guided Backprop :math:`\odot` the Grad-CAM map upsampled to the input size
:class:`SmoothGrad`           the mean of any of the above over noisy copies :math:`x + \varepsilon`
:class:`Occlusion`            per element, the mean over the patches covering it of :math:`S(x) - S(x_{(p)})`
============================  =============================================================================

Every number is defined as in captum 0.9 (the test suite compares them) except where a docstring
says otherwise. The framework classes (``visualization.pytorch.saliency.VanillaGradient`` and the
Paddle twins) subclass these and only bind two backends: the general
:class:`~visualization.core.backend.Backend` (input checks, eval mode, tensor <-> numpy) and a
:class:`SaliencyBackend` (gradients with respect to the input, batched perturbed scores). Everything
random or tabulated (SmoothGrad's noise, the integration nodes and weights, the occlusion patches) is
made here with numpy, so both frameworks see exactly the same numbers.

The user's world is left as found: the model runs in eval mode during a call (each layer's flag is
restored), gradients come from ``torch.autograd.grad`` / ``paddle.grad`` with respect to a copy of the
input (no parameter ``.grad`` is written), and whatever Guided Backprop and Deconvolution install to
change the ReLUs' backward lives for one forward pass and is removed in ``finally``.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .backend import Backend, check_batch_size, iter_chunks, progress_bar
from .errors import InvalidInputError, ModelTypeError
from .image import normalize_maps, resize_bilinear
from .targets import resolve_indices

if TYPE_CHECKING:
    from .cam import BaseCAM

#: What Guided Backprop and Deconvolution do to each ReLU's backward pass (``None``: nothing).
RELU_MODES = (None, "guided", "deconv")
#: Quadrature rules of :class:`IntegratedGradients` (captum's names).
IG_METHODS = ("riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle", "gausslegendre")
#: Upsampling of the Grad-CAM map in :class:`GuidedGradCAM` (captum's ``interpolate_mode`` names).
UPSAMPLE_MODES = ("bilinear", "nearest")


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class SaliencyResult:
    """What one saliency computation produced.

    Attributes:
        method: the method's name, e.g. ``"Integrated Gradients"``.
        attributions: ``(N, C, H, W)`` float32, the input's shape; signed unless the method says otherwise.
        targets: ``(N,)`` class index explained for each sample (``None`` for callable targets).
        outputs: the model's outputs for the unmodified input, ``(N, K)`` for a classifier.
    """

    method: str
    attributions: np.ndarray
    targets: np.ndarray | None
    outputs: np.ndarray


@dataclass(frozen=True)
class IntegrationPath:
    """A straight path from a baseline to the input, with quadrature nodes and weights.

    For input ``x`` (``M`` samples) the backend evaluates the gradient at the ``M * S`` points
    ``baseline + alphas[s] * (x - baseline)`` and returns ``sum_s weights[s] * gradient_s``.

    Attributes:
        alphas: ``(S,)`` float32 nodes in ``[0, 1]``.
        weights: ``(S,)`` float32 quadrature weights.
        baseline: ``(1, C, H, W)`` (one for every sample) or ``(M, C, H, W)`` float32.
    """

    alphas: np.ndarray
    weights: np.ndarray
    baseline: np.ndarray


@dataclass(frozen=True)
class GradientPass:
    """What :meth:`SaliencyBackend.input_gradients` returns.

    Attributes:
        gradients: ``(M, C, H, W)`` float32: ``dS/dx`` at the input, or for a path the weighted sum
            ``sum_s w_s dS/dx(x'_s)``.
        outputs: the model's outputs at the input (``None`` for a path: the points are not the input).
        targets: ``(M,)`` class index used per sample (``None`` for a callable target).
    """

    gradients: np.ndarray
    outputs: np.ndarray | None
    targets: np.ndarray | None


@dataclass(frozen=True)
class OcclusionPlan:
    """The occluded copies of every image, described without materializing them.

    Copy ``p`` of image ``n`` equals the image except inside the box
    ``boxes[p, axis] = [start, stop)`` (axes: channel, row, column), where it takes the baseline's values.

    Attributes:
        boxes: ``(P, 3, 2)`` int64 half-open box per patch position.
        baseline: ``(1, C, H, W)`` or ``(N, C, H, W)`` float32 values written into the box.
        grid: patch positions along (channel, row, column); ``P = prod(grid)``, positions in C order.
    """

    boxes: np.ndarray
    baseline: np.ndarray
    grid: tuple[int, int, int]


# ----------------------------------------------------------------------------- backend contract
class SaliencyBackend(abc.ABC):
    """Mechanism that one framework provides to the saliency methods (see the module docstring).

    A ``target`` given to these methods is ``None`` (the class each row's own outputs rank first),
    an int, one int per sample of ``x``, or a callable mapping a batch of outputs to one score per row.
    The adapters resolve class targets with :func:`select_targets`.
    """

    #: The adapter's general backend (input checks, eval mode, tensor <-> numpy).
    base: ClassVar[Backend]

    @abc.abstractmethod
    def forward_scores(self, model: Any, x: Any, target: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """One forward pass without gradients: ``(scores (N,), outputs, targets (N,) or None)``."""

    @abc.abstractmethod
    def input_gradients(
        self,
        model: Any,
        x: Any,
        target: Any,
        *,
        relu_mode: str | None = None,
        path: IntegrationPath | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> GradientPass:
        """Gradients of the target score with respect to the input, from ``autograd.grad`` / ``paddle.grad``.

        ``relu_mode`` ``"guided"`` / ``"deconv"`` replaces every ReLU's backward for this call only
        (see :class:`GuidedBackprop`, :class:`Deconvolution`); with ``path`` the gradient is integrated
        along it (see :class:`IntegrationPath`). Points are run ``batch_size`` at a time (``None``: all
        at once); the integrated sum accumulates on the framework's device. No parameter gradient is
        written, and whatever was installed is removed before returning, also when ``forward`` raises.
        """

    @abc.abstractmethod
    def batched_scores(
        self, model: Any, x: Any, plan: OcclusionPlan, target: Any, batch_size: int, progress: bool
    ) -> np.ndarray:
        """Target scores ``(N, P)`` of every occluded copy of :class:`OcclusionPlan`, built on the device
        ``batch_size`` copies at a time and run without gradients."""


def select_targets(target: Any, scores: np.ndarray | None, rows: np.ndarray, n: int) -> np.ndarray:
    """Class index for every row of a chunk of outputs.

    ``scores`` are the chunk's outputs ``(B, K)`` (``None`` if the model did not return one tensor),
    ``rows`` ``(B,)`` says which of the ``n`` samples each row belongs to. ``None`` picks each row's own
    argmax; an int or one int per sample is checked against ``n`` and ``K`` and indexed by ``rows``.

    >>> select_targets([2, 0], np.zeros((3, 4)), np.array([1, 0, 1]), 2).tolist()
    [0, 2, 0]
    """
    if scores is None or scores.ndim != 2:
        resolve_indices(target, np.zeros((0,)) if scores is None else scores)  # raises the shape error
    assert scores is not None
    if target is None:
        return resolve_indices(None, scores)
    return resolve_indices(target, np.broadcast_to(np.float32(0), (n, scores.shape[1])))[rows]


# ----------------------------------------------------------------------------- numeric tables
def integration_nodes(method: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes :math:`\alpha_s` and weights :math:`w_s` of :math:`\int_0^1 f \approx \sum_s w_s f(\alpha_s)`,
    as captum 0.9 defines them (float64):

    * ``riemann_left``: :math:`\alpha_s = s/n`, :math:`w_s = 1/n`, :math:`s = 0..n-1`;
    * ``riemann_right``: :math:`\alpha_s = (s+1)/n`, :math:`w_s = 1/n`;
    * ``riemann_middle``: :math:`\alpha_s = (s+\tfrac12)/n`, :math:`w_s = 1/n`;
    * ``riemann_trapezoid``: :math:`\alpha_s = s/(n-1)`, :math:`w_s = 1/n` with the two end weights
      halved. This is captum's reading: the weights sum to :math:`1 - 1/n`, not 1 (a textbook trapezoid
      rule on these nodes would use :math:`1/(n-1)`), so attributions are :math:`(n-1)/n` of the
      integral for a linear model;
    * ``gausslegendre``: the Gauss-Legendre rule of ``numpy.polynomial.legendre.leggauss(n)`` mapped
      from :math:`[-1, 1]` to :math:`[0, 1]`: :math:`\alpha = (1+t)/2`, :math:`w = \omega/2`.

    >>> a, w = integration_nodes("riemann_trapezoid", 3)
    >>> a.tolist(), w.tolist()
    ([0.0, 0.5, 1.0], [0.16666666666666666, 0.3333333333333333, 0.16666666666666666])
    """
    if method not in IG_METHODS:
        raise ValueError(f"method must be one of {IG_METHODS}; got {method!r}.")
    least = 1 if method == "gausslegendre" else 2
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < least:
        raise ValueError(f"n_steps must be an int >= {least} for method {method!r}; got {n_steps!r}.")
    n = int(n_steps)
    if method == "gausslegendre":
        t, omega = np.polynomial.legendre.leggauss(n)
        return 0.5 * (1.0 + t), 0.5 * omega
    weights = np.full(n, 1.0 / n)
    if method == "riemann_trapezoid":
        weights[[0, -1]] /= 2.0
        return np.linspace(0.0, 1.0, n), weights
    start = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (np.arange(n) + start) / n, weights


def resize_nearest(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    r"""Nearest-neighbour resize of the last two axes, as ``torch.nn.functional.interpolate(mode='nearest')``.

    Output pixel :math:`i` copies input pixel :math:`\min(\lfloor i \cdot n_\text{in} / n_\text{out} \rfloor,
    n_\text{in} - 1)`, with the scale and the product in float32 as torch computes them.

    >>> resize_nearest(np.array([[1.0, 2.0]]), (1, 5)).tolist()
    [[1.0, 1.0, 1.0, 2.0, 2.0]]
    """
    maps = np.asarray(maps)
    h, w = maps.shape[-2:]

    def taps(n_in: int, n_out: int) -> np.ndarray:
        scale = np.float32(n_in) / np.float32(n_out)
        src = np.floor(np.arange(n_out, dtype=np.float32) * scale).astype(np.int64)
        return np.minimum(src, n_in - 1)

    return maps[..., taps(h, int(size[0])), :][..., taps(w, int(size[1]))].astype(np.float32)


def saliency_maps(attributions: np.ndarray) -> np.ndarray:
    r"""``(N, H, W)`` maps in ``[0, 1]`` from ``(N, C, H, W)`` attributions: the largest absolute value
    over channels, :math:`m(i,j) = \max_c |a_c(i,j)|`, then min-max normalized per image (a constant
    map becomes all zeros). The sign is dropped, as in Simonyan et al. (2014).

    >>> saliency_maps(np.array([[[[1.0, -3.0]], [[2.0, 0.0]]]])).tolist()
    [[[0.0, 1.0]]]
    """
    return normalize_maps(np.abs(np.asarray(attributions, np.float32)).max(axis=1))


# ----------------------------------------------------------------------------- templates
class BaseSaliency:
    """Template shared by every saliency method; subclasses define :meth:`_compute_prepared`.

    Args:
        model: the network (a ``torch.nn.Module`` or ``paddle.nn.Layer``, per adapter).

    ``target_class`` (in every method) is ``None`` (the class the model predicts for each image), an
    int, one int per image, or a callable mapping the model's outputs to one score per image.
    """

    backend: ClassVar[Backend]
    saliency_backend: ClassVar[SaliencyBackend]
    #: Human-readable method name used in figure titles.
    method_name: ClassVar[str] = "saliency"

    def __init__(self, model: Any) -> None:
        self.backend.check_model(model)
        self.model = model

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def _compute_prepared(self, xt: Any, target: Any) -> SaliencyResult:
        raise NotImplementedError

    def compute(self, x: Any, target_class: Any = None) -> SaliencyResult:
        """Attributions for a batch ``(N, C, H, W)`` (or one ``(C, H, W)`` image) as a :class:`SaliencyResult`."""
        xt = self.backend.prepare_input(self.model, x)
        with self.backend.eval_mode(self.model):
            return self._compute_prepared(xt, target_class)

    def generate_saliency(self, x: Any, target_class: Any = None) -> np.ndarray:
        """Saliency map(s) in ``[0, 1]``: ``(H, W)`` for one image, ``(N, H, W)`` for a batch.

        The attributions are reduced over channels by the largest absolute value and min-max
        normalized per image (see :func:`saliency_maps`); one image means a 3-D input or a batch of one.
        """
        maps = saliency_maps(self.compute(x, target_class).attributions)
        return maps[0] if maps.shape[0] == 1 else maps

    def visualize_saliency(
        self,
        x: Any,
        target_class: Any = None,
        original_image: Any = None,
        *,
        alpha: float = 0.5,
        cmap: str = "inferno",
        class_names: Sequence[str] | None = None,
        sample: int = 0,
        clip_percentile: float = 99.5,
    ) -> Any:
        """Figure with four panels: the original image, the saliency map (:func:`saliency_maps`, with a
        colour bar), the signed attribution summed over channels (diverging colours, symmetric around 0)
        and the map over the image (opacity ``alpha`` times the map, so unimportant pixels stay visible).

        For display only, both maps saturate at their ``clip_percentile``-th percentile (gradient maps
        often have a few extreme pixels that would make the rest invisible; 100 shows the plain
        min-max map of :meth:`generate_saliency`). ``original_image`` is a PIL image or an RGB array (HWC
        or CHW, uint8 or float); without it the input itself is shown after min-max scaling. Only sample
        ``sample`` of a batch is drawn. Returns a matplotlib ``Figure``; nothing is shown.
        """
        from .plotting.figures import display_image_for
        from .plotting.saliency_figures import saliency_figure

        if not (isinstance(clip_percentile, (int, float)) and 0 < clip_percentile <= 100):
            raise ValueError(f"clip_percentile must be in (0, 100]; got {clip_percentile!r}.")
        result = self.compute(x, target_class)
        n = result.attributions.shape[0]
        if not (isinstance(sample, int) and not isinstance(sample, bool) and -n <= sample < n):
            raise IndexError(f"sample={sample!r} is not an index into a batch of {n} images (use 0..{n - 1}).")
        image = display_image_for(self.backend, x, original_image, sample)
        return saliency_figure(
            image, result, sample, alpha=alpha, cmap=cmap, class_names=class_names, clip_percentile=clip_percentile
        )


class GradientMethod(BaseSaliency):
    """A method computed from gradients with respect to the input; :class:`SmoothGrad` can wrap any of them.

    Subclasses define :meth:`_attribute`.
    """

    #: How the ReLUs' backward pass is changed (see :data:`RELU_MODES`).
    relu_mode: ClassVar[str | None] = None

    def __init__(self, model: Any, batch_size: int | None = None) -> None:
        super().__init__(model)
        self.batch_size = None if batch_size is None else check_batch_size(batch_size)

    def _gradients(self, points: Any, target: Any) -> GradientPass:
        return self.saliency_backend.input_gradients(
            self.model, points, target, relu_mode=self.relu_mode, batch_size=self.batch_size
        )

    def _attribute(
        self, points: Any, target: Any, rows: np.ndarray | None = None, n: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """``(attributions, outputs, targets)`` at ``points`` (a prepared tensor of ``M`` inputs).

        ``rows`` ``(M,)`` maps each point to one of the ``n`` images it was made from (SmoothGrad's noisy
        copies), for what is given per image (a baseline); ``None`` means the points are the images.
        The default is the gradient itself (under :attr:`relu_mode`).
        """
        gp = self._gradients(points, target)
        return gp.gradients, gp.outputs, gp.targets

    def _compute_prepared(self, xt: Any, target: Any) -> SaliencyResult:
        attributions, outputs, targets = self._attribute(xt, target)
        if outputs is None:  # pragma: no cover - every method here returns the outputs
            outputs = self.saliency_backend.forward_scores(self.model, xt, target)[1]
        return SaliencyResult(self.method_name, attributions.astype(np.float32), targets, outputs)


class VanillaGradient(GradientMethod):
    r"""Vanilla gradient saliency (Simonyan et al., ICLR-W 2014, https://arxiv.org/abs/1312.6034).

    .. math::
        a(x) = \frac{\partial S}{\partial x} \quad\text{or, with } \texttt{abs=True},\quad
        a(x) = \Big|\frac{\partial S}{\partial x}\Big|

    with :math:`S` the target class's score before softmax. ``abs=True`` equals captum's ``Saliency``
    (whose default is ``abs=True``); the default here keeps the sign.

    Args:
        model: the network.
        abs: return the absolute value of the gradient.
        batch_size: images per forward/backward pass (``None``: the whole batch at once).

    Example:
        >>> import torch
        >>> from visualization.pytorch.saliency import VanillaGradient
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> VanillaGradient(model).compute(torch.rand(2, 3, 16, 16), target_class=1).attributions.shape
        (2, 3, 16, 16)
    """

    method_name = "Vanilla Gradient"

    def __init__(self, model: Any, abs: bool = False, batch_size: int | None = None) -> None:
        super().__init__(model, batch_size)
        self.abs = bool(abs)

    def _attribute(
        self, points: Any, target: Any, rows: np.ndarray | None = None, n: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        gp = self._gradients(points, target)
        return (np.abs(gp.gradients) if self.abs else gp.gradients), gp.outputs, gp.targets


class GradientXInput(GradientMethod):
    r"""Gradient times input (Shrikumar et al. 2016, https://arxiv.org/abs/1605.01713), captum's ``InputXGradient``.

    .. math::
        a(x) = x \odot \frac{\partial S}{\partial x}

    For a linear score :math:`S = w^\top x + b` this is each pixel's term :math:`w_i x_i` of the sum.

    Args:
        model: the network.
        batch_size: images per forward/backward pass (``None``: the whole batch at once).

    Example:
        >>> import torch
        >>> from visualization.pytorch.saliency import GradientXInput
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> GradientXInput(model).generate_saliency(torch.rand(1, 3, 16, 16)).shape
        (16, 16)
    """

    method_name = "Gradient x Input"

    def _attribute(
        self, points: Any, target: Any, rows: np.ndarray | None = None, n: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        gp = self._gradients(points, target)
        return self.backend.to_numpy(points) * gp.gradients, gp.outputs, gp.targets


class IntegratedGradients(GradientMethod):
    r"""Integrated Gradients (Sundararajan et al., ICML 2017, https://arxiv.org/abs/1703.01365).

    .. math::
        a(x) = (x - x') \odot \int_0^1 \frac{\partial S}{\partial x}\big(x' + \alpha (x - x')\big)\, d\alpha
        \approx (x - x') \odot \sum_{s=1}^{n} w_s \frac{\partial S}{\partial x}\big(x' + \alpha_s (x - x')\big)

    with baseline :math:`x'` and the nodes :math:`\alpha_s` and weights :math:`w_s` of
    :func:`integration_nodes` (captum's tables; note its ``riemann_trapezoid`` weights sum to
    :math:`1 - 1/n`). With an exact rule, completeness holds: :math:`\sum_i a_i = S(x) - S(x')`.
    The target class for ``target_class=None`` is the class predicted for :math:`x` itself: one
    no-grad forward pass on :math:`x` resolves it and records ``outputs`` (about :math:`1/(3n)` of the
    cost; captum asks for explicit targets instead). All :math:`N n` points are run
    ``internal_batch_size`` at a time and the weighted sum accumulates on the framework's device.

    Args:
        model: the network.
        baseline: :math:`x'`: a number, or an array (or tensor) broadcastable to ``(C, H, W)`` or ``(N, C, H, W)``.
        n_steps: number of nodes :math:`n`.
        method: one of :data:`IG_METHODS` (default ``"gausslegendre"``, as captum).
        internal_batch_size: points per forward/backward pass (``None``: all ``N * n_steps`` at once).
        progress: show a tqdm progress bar over the batches.

    Example:
        >>> import torch
        >>> from visualization.pytorch.saliency import IntegratedGradients
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> ig = IntegratedGradients(model, n_steps=16, internal_batch_size=8)
        >>> ig.compute(torch.rand(1, 3, 16, 16), target_class=0).attributions.shape
        (1, 3, 16, 16)
    """

    method_name = "Integrated Gradients"

    def __init__(
        self,
        model: Any,
        baseline: Any = 0.0,
        n_steps: int = 50,
        method: str = "gausslegendre",
        internal_batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        super().__init__(model, internal_batch_size)
        alphas, weights = integration_nodes(method, n_steps)
        self.n_steps, self.method = int(n_steps), method
        self.alphas, self.weights = alphas.astype(np.float32), weights.astype(np.float32)
        self.baseline = self.backend.to_numpy(baseline) if self.backend.is_tensor(baseline) else baseline
        self.progress = bool(progress)

    @property
    def internal_batch_size(self) -> int | None:
        return self.batch_size

    def __repr__(self) -> str:
        return f"IntegratedGradients(n_steps={self.n_steps}, method={self.method!r})"

    def baseline_array(self, shape: tuple[int, ...]) -> np.ndarray:
        """The baseline as float32 ``(1, C, H, W)`` or ``(N, C, H, W)`` for inputs of ``shape = (N, C, H, W)``."""
        b = np.asarray(self.baseline, dtype=np.float32)
        n = shape[0]
        try:
            if b.ndim <= 3:
                return np.array(np.broadcast_to(b, shape[1:])[None])
            if b.ndim == 4 and b.shape[0] in (1, n):
                return np.array(np.broadcast_to(b, (b.shape[0], *shape[1:])))
        except ValueError:
            pass
        raise InvalidInputError(
            f"The baseline of shape {b.shape} does not fit inputs of shape {tuple(shape)}. Give a number, an "
            "array broadcastable to (C, H, W) (one baseline for every image) or one of shape (N, C, H, W)."
        )

    def _attribute(
        self, points: Any, target: Any, rows: np.ndarray | None = None, n: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        _, outputs, targets = self.saliency_backend.forward_scores(self.model, points, target)
        x = self.backend.to_numpy(points)
        if rows is None:
            baseline = self.baseline_array(x.shape)
        else:
            baseline = self.baseline_array((int(n if n is not None else x.shape[0]), *x.shape[1:]))
            if baseline.shape[0] > 1:
                baseline = baseline[rows]
        path = IntegrationPath(self.alphas, self.weights, baseline)
        gp = self.saliency_backend.input_gradients(
            self.model,
            points,
            targets if targets is not None else target,
            relu_mode=self.relu_mode,
            path=path,
            batch_size=self.batch_size,
            progress=self.progress,
        )
        return (x - baseline) * gp.gradients, outputs, targets


class GuidedBackprop(GradientMethod):
    r"""Guided Backpropagation (Springenberg et al., ICLR-W 2015, https://arxiv.org/abs/1412.6806).

    The gradient of :math:`S` with respect to the input, where every ReLU :math:`y = \max(x, 0)`
    passes back only positive gradients, and only where it was active:

    .. math::
        \frac{\partial S}{\partial x}\Big|_\text{ReLU} := \mathrm{ReLU}\Big(\frac{\partial S}{\partial y}\Big)\,[y > 0]

    (captum's ``GuidedBackprop``; its backward hook computes :math:`\mathrm{ReLU}(g\,[y > 0])`, the same
    number). Which ReLUs: PyTorch: every ``nn.ReLU`` (also ``inplace=True``) and every call of
    ``torch.relu``, ``torch.relu_``, ``Tensor.relu``/``relu_`` and ``F.relu`` (any ``inplace``), found with
    a ``TorchFunctionMode`` that is active only during the forward pass (captum only changes
    ``nn.ReLU`` modules; ReLUs inside TorchScript-compiled code are not reached either). Paddle: every ``paddle.nn.ReLU`` layer and every call of
    ``paddle.nn.functional.relu`` / ``relu_`` looked up through the module at call time (the functions
    are swapped for one forward pass, with a forward post hook on each ReLU layer as a fallback, and
    always restored; other threads calling them meanwhile see the swap). Not handled on Paddle: a ``relu`` bound to a name at import time
    (``from paddle.nn.functional import relu``) and direct ``_C_ops`` calls; a layer whose ``forward``
    uses such a name gets a ``RuntimeWarning``. Other activations (ReLU6, LeakyReLU, GELU) keep their
    ordinary backward in both frameworks.

    Args:
        model: the network.
        batch_size: images per forward/backward pass (``None``: the whole batch at once).

    Example:
        >>> import torch
        >>> from visualization.pytorch.saliency import GuidedBackprop
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> GuidedBackprop(model).compute(torch.rand(1, 3, 16, 16), 0).attributions.shape
        (1, 3, 16, 16)
    """

    method_name = "Guided Backprop"
    relu_mode = "guided"


class Deconvolution(GradientMethod):
    r"""Deconvolution (Zeiler & Fergus, ECCV 2014, https://arxiv.org/abs/1311.2901), as captum's ``Deconvolution``.

    The gradient of :math:`S` with respect to the input, where every ReLU passes back the positive
    part of the incoming gradient regardless of its forward input:

    .. math::
        \frac{\partial S}{\partial x}\Big|_\text{ReLU} := \mathrm{ReLU}\Big(\frac{\partial S}{\partial y}\Big)

    Convolutions and poolings backpropagate as usual (the transposed convolution and the recorded
    max-pooling switches of the paper). Which ReLUs are changed: as in :class:`GuidedBackprop`.

    Args:
        model: the network.
        batch_size: images per forward/backward pass (``None``: the whole batch at once).

    Example:
        >>> import torch
        >>> from visualization.pytorch.saliency import Deconvolution
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> Deconvolution(model).generate_saliency(torch.rand(2, 3, 16, 16), [0, 1]).shape
        (2, 16, 16)
    """

    method_name = "Deconvolution"
    relu_mode = "deconv"


class GuidedGradCAM(GradientMethod):
    r"""Guided Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391).

    .. math::
        a(x) = \mathrm{GB}(x) \odot U\Big(\mathrm{ReLU}\big(\textstyle\sum_k w_k A_k\big)\Big)

    with :math:`\mathrm{GB}` the :class:`GuidedBackprop` attribution and the Grad-CAM map
    :math:`\mathrm{ReLU}(\sum_k w_k A_k)` taken *raw* (``GradCAM(...).compute(x).raw``: at the layer's
    resolution, not normalized) and upsampled by :math:`U` to the input size: ``"bilinear"`` (the
    default, half-pixel centres as our CAM heatmaps and the paper) or ``"nearest"``
    (:func:`resize_nearest`), the two ``interpolate_mode`` values of captum's ``GuidedGradCam``
    (whose default is ``"nearest"``). Without normalization the attributions keep the scale of both
    factors, as in captum; :meth:`generate_saliency` normalizes for display.

    Args:
        model: the network.
        target_layer: the Grad-CAM layer: an object, a dotted name or ``None`` (the last layer with a
            spatial output, as in ``GradCAM``). Its captured output is the layer's own (pre-activation
            if an in-place ReLU follows, see ``GradCAM``).
        interpolate_mode: ``"bilinear"`` or ``"nearest"``.
        batch_size: images per forward/backward pass of the guided part (``None``: the whole batch).

    Example:
        >>> import torch
        >>> from visualization.pytorch.saliency import GuidedGradCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> GuidedGradCAM(model, "0").compute(torch.rand(1, 3, 16, 16), 1).attributions.shape
        (1, 3, 16, 16)
    """

    method_name = "Guided Grad-CAM"
    relu_mode = "guided"
    #: The adapter's ``GradCAM`` class (bound by the framework subclass).
    cam_class: ClassVar[type[BaseCAM]]

    def __init__(
        self, model: Any, target_layer: Any = None, interpolate_mode: str = "bilinear", batch_size: int | None = None
    ) -> None:
        super().__init__(model, batch_size)
        if interpolate_mode not in UPSAMPLE_MODES:
            raise ValueError(f"interpolate_mode must be one of {UPSAMPLE_MODES}; got {interpolate_mode!r}.")
        self.interpolate_mode = interpolate_mode
        self.cam = self.cam_class(model, target_layer)

    @property
    def target_layer_name(self) -> str | None:
        """Dotted name of the Grad-CAM layer (set on the first call when ``target_layer=None``)."""
        return self.cam.target_layer_name

    def __repr__(self) -> str:
        return f"GuidedGradCAM(target_layer={self.target_layer_name!r}, interpolate_mode={self.interpolate_mode!r})"

    def _attribute(
        self, points: Any, target: Any, rows: np.ndarray | None = None, n: int | None = None
    ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        cam = self.cam.compute(points, target)
        gp = self._gradients(points, cam.targets if cam.targets is not None else target)
        size = (int(gp.gradients.shape[-2]), int(gp.gradients.shape[-1]))
        resize = resize_bilinear if self.interpolate_mode == "bilinear" else resize_nearest
        return gp.gradients * resize(cam.raw, size)[:, None], cam.outputs, cam.targets


class SmoothGrad(BaseSaliency):
    r"""SmoothGrad (Smilkov et al. 2017, https://arxiv.org/abs/1706.03825) over any gradient method.

    .. math::
        a(x) = \frac{1}{n} \sum_{j=1}^{n} a_\text{method}(x + \varepsilon_j), \qquad
        \varepsilon_j \sim \mathcal{N}\big(0, \sigma^2\big), \quad
        \sigma = \text{noise\_level} \cdot (\max x - \min x)

    per image (the paper's noise level, :math:`\sigma / (x_\max - x_\min)`, 0.1-0.2 recommended), and
    with ``squared=True`` the mean of :math:`a_\text{method}^2` (captum's ``smoothgrad_sq``). Targets are
    resolved once on the clean input (``None``: its predicted class) and explained on every noisy copy;
    ``outputs`` are the clean input's. The noise is drawn with ``numpy.random.default_rng(seed)``, one
    ``standard_normal`` stream in copy order (image 0's ``n_samples`` copies, then image 1's, ...) scaled
    by each image's :math:`\sigma` in float64 and added in float32, so torch and Paddle see identical noisy
    inputs (:meth:`noisy_inputs` returns them). Copies are run ``batch_size`` at a time through the
    wrapped method (which batches further by its own ``batch_size``). captum's ``NoiseTunnel`` takes an
    absolute ``stdevs`` instead and draws its noise with torch.

    Args:
        method: a gradient method of the same framework (:class:`VanillaGradient`, :class:`GradientXInput`,
            :class:`IntegratedGradients`, :class:`GuidedBackprop`, :class:`Deconvolution`, :class:`GuidedGradCAM`).
        n_samples: noisy copies per image (the paper: 50 is enough).
        noise_level: :math:`\sigma` as a fraction of the input's range.
        seed: seed of the noise; ``None`` draws fresh noise on every call (not reproducible).
        squared: average the squared attributions.
        batch_size: noisy copies per call of the wrapped method.
        progress: show a tqdm progress bar over the batches.

    Example:
        >>> import torch
        >>> from visualization.pytorch.saliency import SmoothGrad, VanillaGradient
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> sg = SmoothGrad(VanillaGradient(model), n_samples=8, noise_level=0.15, seed=0, batch_size=4)
        >>> sg.compute(torch.rand(2, 3, 16, 16), target_class=1).attributions.shape
        (2, 3, 16, 16)
    """

    def __init__(
        self,
        method: GradientMethod,
        n_samples: int = 50,
        noise_level: float = 0.15,
        seed: int | None = 0,
        squared: bool = False,
        batch_size: int = 32,
        progress: bool = False,
    ) -> None:
        if not isinstance(method, GradientMethod):
            raise TypeError(
                f"SmoothGrad wraps a gradient method instance such as VanillaGradient(model); got "
                f"{type(method).__module__}.{type(method).__qualname__}. Occlusion and SmoothGrad itself cannot "
                "be wrapped."
            )
        if method.saliency_backend is not self.saliency_backend:
            raise ModelTypeError(
                f"SmoothGrad of the {self.backend.name} adapter got a method of the "
                f"{method.backend.name} adapter ({type(method).__module__}); import both from the same "
                f"module (visualization.{'pytorch' if self.backend.name == 'torch' else self.backend.name}.saliency)."
            )
        super().__init__(method.model)
        self.method = method
        if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int (noisy copies per image); got {n_samples!r}.")
        self.n_samples = int(n_samples)
        if isinstance(noise_level, bool) or not isinstance(noise_level, numbers.Real) or not noise_level >= 0:
            raise ValueError(
                f"noise_level must be a number >= 0 (a fraction of the input's range); got {noise_level!r}."
            )
        self.noise_level = float(noise_level)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"seed must be an int or None; got {seed!r}.")
        self.seed = seed
        self.squared = bool(squared)
        self.batch_size = check_batch_size(batch_size)
        self.progress = bool(progress)

    @property
    def method_name(self) -> str:  # type: ignore[override]
        return f"SmoothGrad{'²' if self.squared else ''} ({self.method.method_name})"

    def __repr__(self) -> str:
        return (
            f"SmoothGrad({self.method!r}, n_samples={self.n_samples}, noise_level={self.noise_level}, "
            f"seed={self.seed}, squared={self.squared})"
        )

    def _noise_chunks(self, x: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(image index per copy, noisy copies)`` for each batch of ``batch_size`` copies, in copy order."""
        n = x.shape[0]
        flat = x.reshape(n, -1).astype(np.float64)
        sigma = self.noise_level * (flat.max(axis=1) - flat.min(axis=1))
        rng = np.random.default_rng(self.seed)
        for sl in iter_chunks(n * self.n_samples, self.batch_size):
            rows = np.arange(sl.start, sl.stop) // self.n_samples
            eps = rng.standard_normal((rows.size, *x.shape[1:]))
            noise = (sigma[rows].reshape(-1, 1, 1, 1) * eps).astype(np.float32)
            yield rows, x[rows] + noise

    def noisy_inputs(self, x: Any) -> np.ndarray:
        """The noisy copies a call on ``x`` uses, as float32 ``(N, n_samples, C, H, W)`` (for inspection)."""
        arr = self.backend.to_numpy(self.backend.prepare_input(self.model, x))
        out = np.concatenate([copies for _, copies in self._noise_chunks(arr)])
        return out.reshape(arr.shape[0], self.n_samples, *arr.shape[1:])

    def _compute_prepared(self, xt: Any, target: Any) -> SaliencyResult:
        _, outputs, targets = self.saliency_backend.forward_scores(self.model, xt, target)
        x = self.backend.to_numpy(xt)
        n = x.shape[0]
        total = np.zeros(x.shape, np.float64)
        batches = list(iter_chunks(n * self.n_samples, self.batch_size))  # for the progress bar's length
        for _, (rows, copies) in zip(progress_bar(batches, "SmoothGrad", self.progress), self._noise_chunks(x)):
            points = self.backend.to_model_input(self.model, self.backend.from_numpy(self.model, copies))
            chunk_target = targets[rows] if targets is not None else target
            attributions, _, _ = self.method._attribute(points, chunk_target, rows, n)
            a = attributions.astype(np.float64)
            if self.squared:
                a = a * a
            for r in np.unique(rows):
                total[r] += a[rows == r].sum(axis=0)
        attributions = (total / self.n_samples).astype(np.float32)
        return SaliencyResult(self.method_name, attributions, targets, outputs)


def _triple(value: Any, name: str, fill_channel: int | None) -> tuple[int, int, int]:
    """An int, ``(h, w)`` or ``(c, h, w)`` as ``(c, h, w)``; a 2-tuple gets channel ``fill_channel``."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        vals: tuple[Any, ...] = (fill_channel if fill_channel is not None else value, value, value)
    elif isinstance(value, Sequence) and len(value) in (2, 3):
        vals = tuple(value) if len(value) == 3 else (fill_channel, *value)
    else:
        raise ValueError(f"{name} must be an int, (height, width) or (channels, height, width); got {value!r}.")
    for v in vals:
        if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1):
            raise ValueError(f"{name} must hold positive ints; got {value!r}.")
    return vals  # type: ignore[return-value]


class Occlusion(BaseSaliency):
    r"""Occlusion (Zeiler & Fergus, ECCV 2014, https://arxiv.org/abs/1311.2901), defined as captum's ``Occlusion``.

    A window slides over the input; for each position :math:`p` the copy :math:`x_{(p)}` has the
    window's box set to the baseline. Each element gets the mean score drop over the positions
    whose box covers it:

    .. math::
        a_i(x) = \frac{1}{|\{p : i \in B_p\}|} \sum_{p :\, i \in B_p} \big(S(x) - S(x_{(p)})\big)

    Positions along an axis of size :math:`D` with window :math:`k` and stride :math:`s` start at
    :math:`0, s, 2s, \dots` (:math:`\lceil (D - k)/s \rceil + 1` of them, so every element is covered),
    and the last box is cut at the border when :math:`s` does not divide :math:`D - k`.

    ``window`` and ``stride`` are an int, ``(height, width)`` (the window spans every channel) or
    ``(channels, height, width)``: captum's ``sliding_window_shapes=(3, 15, 15), strides=(3, 8, 8)`` on a
    3-channel input is ``window=(15, 15), stride=(8, 8)`` here. An int stride applies to all three
    axes, as in captum; with a 2-tuple the channel stride is 1. captum's default stride is 1 (one copy
    per pixel); here it is 8.

    Args:
        model: the network.
        window: the occluding patch.
        stride: the step between patch positions (at most the window, so that every element is covered).
        baseline: the occluding value: a number, or an array (or tensor) broadcastable to ``(C, H, W)``
            or ``(N, C, H, W)``.
        batch_size: occluded copies per forward pass (all run without gradients, built on the device).
        progress: show a tqdm progress bar over the batches.

    Example:
        >>> import torch
        >>> from visualization.pytorch.saliency import Occlusion
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> occ = Occlusion(model, window=(4, 4), stride=(2, 2), baseline=0.0, batch_size=16)
        >>> occ.compute(torch.rand(1, 3, 16, 16), target_class=0).attributions.shape
        (1, 3, 16, 16)
    """

    method_name = "Occlusion"

    def __init__(
        self,
        model: Any,
        window: Any = (15, 15),
        stride: Any = (8, 8),
        baseline: Any = 0.0,
        batch_size: int = 32,
        progress: bool = False,
    ) -> None:
        super().__init__(model)
        self.window = _triple(window, "window", None)
        self.stride = _triple(stride, "stride", 1)
        self.baseline = self.backend.to_numpy(baseline) if self.backend.is_tensor(baseline) else baseline
        self.batch_size = check_batch_size(batch_size)
        self.progress = bool(progress)

    def __repr__(self) -> str:
        return f"Occlusion(window={self.window}, stride={self.stride})"

    def _axes(self, shape: tuple[int, ...]) -> list[np.ndarray]:
        """Per axis (channel, row, column): the ``(positions, 2)`` half-open ``[start, stop)`` of the boxes."""
        dims = tuple(int(d) for d in shape[1:])
        window = tuple(dims[0] if w is None else w for w in self.window)
        axes = []
        for axis, (d, k, s) in enumerate(zip(dims, window, self.stride)):
            name = ("channel", "height", "width")[axis]
            if k > d:
                raise InvalidInputError(
                    f"The occlusion window {window} (channels, height, width) is larger than the input "
                    f"{tuple(shape)} along its {name}. Choose a window of at most {dims}."
                )
            if s > k and d > k:
                raise InvalidInputError(
                    f"The stride {self.stride} exceeds the window {window} along the {name}, so some elements "
                    "would never be occluded. Use a stride of at most the window."
                )
            starts = np.arange(math.ceil((d - k) / s) + 1) * s
            axes.append(np.stack([starts, np.minimum(starts + k, d)], axis=1).astype(np.int64))
        return axes

    def plan(self, shape: tuple[int, ...]) -> OcclusionPlan:
        """The :class:`OcclusionPlan` for inputs of ``shape = (N, C, H, W)``."""
        axes = self._axes(shape)
        grid = (len(axes[0]), len(axes[1]), len(axes[2]))
        ic, ih, iw = np.meshgrid(*(np.arange(g) for g in grid), indexing="ij")
        boxes = np.stack([axes[0][ic.ravel()], axes[1][ih.ravel()], axes[2][iw.ravel()]], axis=1)
        dims = tuple(int(d) for d in shape[1:])
        b = np.asarray(self.baseline, dtype=np.float32)
        try:
            if b.ndim <= 3:
                base = np.broadcast_to(b, dims)[None]
            elif b.ndim == 4 and b.shape[0] in (1, shape[0]):
                base = np.broadcast_to(b, (b.shape[0], *dims))
            else:
                raise ValueError
        except ValueError:
            raise InvalidInputError(
                f"The baseline of shape {b.shape} does not fit inputs of shape {tuple(shape)}. Give a number, "
                "an array broadcastable to (C, H, W) or one of shape (N, C, H, W)."
            ) from None
        return OcclusionPlan(boxes, np.array(base), grid)

    def _compute_prepared(self, xt: Any, target: Any) -> SaliencyResult:
        shape = tuple(int(d) for d in xt.shape)
        plan = self.plan(shape)
        scores, outputs, targets = self.saliency_backend.forward_scores(self.model, xt, target)
        occluded = self.saliency_backend.batched_scores(
            self.model, xt, plan, targets if targets is not None else target, self.batch_size, self.progress
        )
        diff = (scores[:, None].astype(np.float64) - occluded).reshape(shape[0], *plan.grid)
        # The boxes form a grid, so "sum over the boxes covering an element" separates into one
        # indicator matrix (positions x size) per axis, and so does the count of covering boxes.
        ind = []
        for edges, size in zip(self._axes(shape), shape[1:]):
            m = np.zeros((len(edges), size))
            for p, (lo, hi) in enumerate(edges):
                m[p, lo:hi] = 1.0
            ind.append(m)
        total = np.einsum("nabc,ai,bj,ck->nijk", diff, *ind, optimize=True)
        counts = np.einsum("ai,bj,ck->ijk", *ind)
        attributions = (total / counts[None]).astype(np.float32)
        return SaliencyResult(self.method_name, attributions, targets, outputs)


#: Every public method class, in the order figures and tables list them.
METHODS: tuple[type[BaseSaliency], ...] = (
    VanillaGradient,
    GradientXInput,
    IntegratedGradients,
    SmoothGrad,
    GuidedBackprop,
    Deconvolution,
    GuidedGradCAM,
    Occlusion,
)
