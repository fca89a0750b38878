"""What a framework adapter provides to the metrics, and the policy shared by every framework.

An adapter (``visualization.pytorch._metrics_backend.TorchMetricsBackend`` and its Paddle twin)
implements four small methods: the target scores of a batch of images, the target scores of every
step of a pixel-order curve (the perturbed copies are built on the framework's device, never as one
big numpy array), and reading / writing a layer's own parameters in one canonical layout. Everything
else lives here or in the metric modules and is shared: how a randomized copy of a model is drawn
(:meth:`MetricsBackend.randomized_copy`, numpy random numbers, so that PyTorch and Paddle copies get
identical weights), which layers a cascading randomization visits, and the checks.

Canonical parameter layout is PyTorch's: a fully connected weight is ``(out, in)`` (Paddle stores
``(in, out)`` and its adapter transposes), convolution kernels are ``(out, in / groups, kh, kw)`` in
both. Running statistics of normalization layers (torch buffers, Paddle's ``_mean`` / ``_variance``
parameters) are not parameters here: they are never randomized.
"""

from __future__ import annotations

import abc
import copy
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..core.backend import Backend
from ..core.errors import InvalidInputError, LayerNotFoundError
from ..core.layers import resolve_layer

#: What a metric reads from the model's outputs: the softmax probability of the target class or its logit.
OUTPUTS = ("probability", "logit")


@dataclass(frozen=True)
class CurvePlan:
    r"""The perturbed copies of every image along a pixel order, described without materializing them.

    Copy ``s`` of image ``n`` is, in every channel,

    .. math:: \tilde x_{n,s} = \begin{cases} \text{end}_n & \text{where } \text{rank}_n < k_s \\
              \text{start}_n & \text{elsewhere} \end{cases}

    so step ``s`` has changed the ``k_s`` pixels ranked first. Deletion runs from the image
    (``start``) to the baseline (``end``); insertion from the canvas to the image.

    Attributes:
        start: ``(N, C, H, W)`` float32, the copy with no pixel changed.
        end: ``(N, C, H, W)`` float32, what a changed pixel becomes.
        ranks: ``(N, H, W)`` int64, per image a permutation of ``0 .. HW-1``: the order of the pixels.
        counts: ``(S,)`` int64, non-decreasing numbers ``k_s`` of changed pixels.
    """

    start: np.ndarray
    end: np.ndarray
    ranks: np.ndarray
    counts: np.ndarray


class MetricsBackend(abc.ABC):
    """Mechanism that one framework provides to the metrics (see the module docstring).

    Every method runs under no-grad; the callers put the model in eval mode (flags restored) around it.
    Scores are float32: the softmax probability of ``targets[m]`` (``output="probability"``, the softmax
    taken in float32 over the model's outputs) or the raw output (``output="logit"``).
    """

    #: The adapter's general backend (input checks, eval mode, tensor <-> numpy, layer names).
    base: ClassVar[Backend]

    @abc.abstractmethod
    def batched_probabilities(
        self, model: Any, images: Any, targets: np.ndarray, batch_size: int, output: str, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (M,), predicted (M,))`` for ``images`` ``(M, C, H, W)`` (numpy, or a tensor of the
        framework), sent to the model's device ``batch_size`` at a time: the score of class ``targets[m]``
        for image ``m`` and the class the model ranks first for it."""

    @abc.abstractmethod
    def curve_probabilities(
        self, model: Any, plan: CurvePlan, targets: np.ndarray, batch_size: int, output: str, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(scores (N, S), predicted (N, S))`` of every copy of ``plan`` for the class ``targets[n]``.

        ``start``, ``end`` and ``ranks`` go to the device once; each batch of ``batch_size`` copies is
        built there with one ``where``."""

    @abc.abstractmethod
    def own_parameters(self, layer: Any) -> list[tuple[str, np.ndarray]]:
        """``(name, float32 copy in canonical layout)`` of every parameter ``layer`` holds itself (its
        children not counted, running statistics excluded), in the framework's own order."""

    @abc.abstractmethod
    def set_own_parameter(self, layer: Any, name: str, value: np.ndarray) -> None:
        """Write ``value`` (canonical layout) into ``layer``'s own parameter ``name``, in place."""

    # ----------------------------------------------------------------- shared policy
    def copy_model(self, model: Any) -> Any:
        """An independent copy of ``model`` (``copy.deepcopy``; an adapter whose models do not deep-copy
        overrides this). Raises ``TypeError`` saying what to do when the model cannot be copied."""
        try:
            return copy.deepcopy(model)
        except Exception as exc:  # a model holding an open file, a lock, a generator, ...
            raise TypeError(
                f"Could not deep-copy the model ({type(exc).__name__}: {exc}). Randomization tests work on a "
                "copy so that your model is never changed; make the model copyable (copy.deepcopy(model)) or "
                "build a randomized model yourself and use data_randomization_test."
            ) from exc

    def randomized_copy(self, model: Any, layer_names: Sequence[str], seed: int = 0) -> Any:
        """A deep copy of ``model`` whose layers ``layer_names`` hold freshly drawn parameters.

        The model itself is never touched. Each named layer's own parameters are redrawn by
        :func:`redraw_parameters` with a generator seeded by ``(seed, crc32(layer name))``: a layer
        gets the same random values whichever other layers are randomized with it, and PyTorch and
        Paddle copies get the same values (drawn in the canonical layout).
        """
        if isinstance(layer_names, str):
            raise TypeError(f"layer_names must be a list of dotted layer names; got the string {layer_names!r}.")
        names = list(layer_names)
        if len(set(names)) != len(names):
            raise ValueError(f"layer_names lists a layer twice: {names}; list each layer once.")
        check_seed(seed)
        clone = self.copy_model(model)
        named = self.base.named_layers(clone)
        for name in names:
            _, layer = resolve_layer(named, name)
            params = self.own_parameters(layer)
            if not params:
                raise InvalidInputError(
                    f"Layer {name!r} holds no parameters of its own, so there is nothing to randomize. Pass layers "
                    "that hold weights (the default, layers=None, lists them from the output down)."
                )
            for pname, value in redraw_parameters(name, params, seed):
                self.set_own_parameter(layer, pname, value)
        return clone

    def parameter_layers(self, model: Any, xt: Any) -> list[str]:
        """Names of the layers that hold parameters of their own and run on ``xt``, from the output
        down (the reverse of the order in which their calls finished; a layer that runs several times
        is placed by its last call)."""
        last: dict[str, int] = {}
        for position, (name, _) in enumerate(self.base.trace_outputs(model, xt)):
            last[name] = position
        layers = dict(self.base.named_layers(model))
        ordered = sorted(last, key=last.__getitem__, reverse=True)
        return [name for name in ordered if self.own_parameters(layers[name])]

    def check_layers(self, model: Any, layers: Sequence[Any]) -> list[str]:
        """Dotted names of ``layers`` (names or layer objects), each checked to hold parameters."""
        if isinstance(layers, str) or not isinstance(layers, Sequence) or not layers:
            raise InvalidInputError(
                f"layers must be a non-empty list of layers (dotted names or layer objects), from the output down; "
                f"got {layers!r}. Pass None to randomize every layer that holds weights."
            )
        named = self.base.named_layers(model)
        names = []
        for spec in layers:
            name, layer = resolve_layer(named, spec)
            if not self.own_parameters(layer):
                raise LayerNotFoundError(
                    f"Layer {name!r} holds no parameters of its own, so randomizing it changes nothing. Pass layers "
                    "that hold weights (conv, linear, normalization), or None for all of them."
                )
            names.append(name)
        if len(set(names)) != len(names):
            raise ValueError(f"layers lists a layer twice: {names}; list each layer once.")
        return names


def redraw_parameters(
    layer_name: str, params: Sequence[tuple[str, np.ndarray]], seed: int
) -> list[tuple[str, np.ndarray]]:
    r"""Fresh values for one layer's parameters, the rule of :meth:`MetricsBackend.randomized_copy`.

    Every parameter :math:`p` of the layer (weights, biases, normalization scales and shifts) is
    replaced by i.i.d. draws

    .. math:: p' \sim \mathcal{U}\big(-1/\sqrt{\text{fan\_in}},\; 1/\sqrt{\text{fan\_in}}\big)

    with :math:`\text{fan\_in}` the product of all but the first axis of the layer's first parameter
    with two or more axes (in canonical layout: input channels times kernel size for a convolution,
    inputs for a fully connected layer), and 1 for a layer without one (a normalization layer: its
    scale and shift become uniform in :math:`[-1, 1]`). For convolutions and fully connected layers
    this is PyTorch's default initialization. Draws come from
    ``numpy.random.default_rng([seed, crc32(layer_name)])``, one parameter after the other in the
    given order, in float64 rounded to float32.

    >>> out = redraw_parameters("fc", [("weight", np.zeros((2, 4), np.float32)), ("bias", np.zeros(2, np.float32))], 0)
    >>> [(name, value.shape, bool(np.abs(value).max() <= 0.5)) for name, value in out]
    [('weight', (2, 4), True), ('bias', (2,), True)]
    """
    fan_in = next((int(np.prod(v.shape[1:])) for _, v in params if v.ndim >= 2), 1)
    bound = 1.0 / math.sqrt(max(fan_in, 1))
    rng = np.random.default_rng([int(seed), zlib.crc32(layer_name.encode("utf-8"))])
    return [(name, rng.uniform(-bound, bound, value.shape).astype(np.float32)) for name, value in params]


def check_seed(seed: Any) -> int:
    """Validate a non-negative integer seed."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}.")
    return int(seed)


def check_output(output: Any) -> str:
    """Validate ``output`` (one of :data:`OUTPUTS`)."""
    if output not in OUTPUTS:
        raise ValueError(
            f"output must be one of {OUTPUTS} (the softmax probability of the target class, or its raw score); "
            f"got {output!r}."
        )
    return str(output)
