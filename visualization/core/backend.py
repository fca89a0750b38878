"""The contract between the framework-free core and a framework adapter.

An adapter (``visualization.pytorch._backend.TorchBackend``, ``visualization.paddle._backend.PaddleBackend``)
implements these methods with its framework's hooks and autograd; everything else (target
resolution, weight formulas, upsampling, normalization, figures) lives in the core and is shared.

What crosses the boundary is float32 numpy, channels first: activations and gradients
``(N, C, h, w)``, model outputs ``(N, K)``, kernels ``(C_out, C_in, kh, kw)``. Repeated forward
passes (Score-CAM) stay on the framework's device inside the adapter.
"""

from __future__ import annotations

import abc
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InvalidInputError


@dataclass(frozen=True)
class Capture:
    """What one instrumented forward (and optional backward) pass saw at the target layer.

    Attributes:
        layer_name: dotted name of the layer whose output was captured.
        activations: the layer's output, ``(N, C, h, w)`` float32.
        gradients: ``d score / d activations`` with the same shape, or ``None`` if not requested.
        outputs: the model's outputs as numpy (``(N, K)`` for a classifier).
        targets: the class index used for each sample, ``(N,)``, or ``None`` for callable targets.
        raw: the layer's raw output when it was reshaped (a token sequence, see
            :mod:`~visualization.core.tokens`), else ``None``.
        owner: for ``raw``, the map channel each raw number of one sample feeds (``-2``: none).
    """

    layer_name: str
    activations: np.ndarray
    gradients: np.ndarray | None
    outputs: np.ndarray
    targets: np.ndarray | None
    raw: np.ndarray | None = None
    owner: np.ndarray | None = None


class Backend(abc.ABC):
    """Mechanism that one deep-learning framework provides to the core (see module docstring)."""

    #: Short framework name used in messages, e.g. ``"torch"``.
    name: str = "abstract"
    #: What a model must be, for error messages, e.g. ``"torch.nn.Module"``.
    model_type: str = "model"

    @abc.abstractmethod
    def is_model(self, obj: Any) -> bool:
        """Whether ``obj`` is a model (module / layer) of this framework."""

    @abc.abstractmethod
    def named_layers(self, model: Any) -> list[tuple[str, Any]]:
        """Every sub-layer with its dotted name, in definition order (the root excluded)."""

    @abc.abstractmethod
    def is_tensor(self, obj: Any) -> bool:
        """Whether ``obj`` is a tensor of this framework."""

    @abc.abstractmethod
    def to_numpy(self, x: Any) -> np.ndarray:
        """A float32 numpy copy of a framework tensor (moved to the CPU)."""

    @abc.abstractmethod
    def tensor_facts(self, x: Any) -> tuple[tuple[int, ...], bool, bool]:
        """``(shape, is_floating_point, all_finite)`` of a framework tensor."""

    @abc.abstractmethod
    def to_model_input(self, model: Any, x: Any) -> Any:
        """A 4-D float tensor on the model's device with the values of ``x`` (never a view that
        the caller's tensor shares for writing; ``x`` itself is never modified)."""

    @abc.abstractmethod
    def eval_mode(self, model: Any) -> AbstractContextManager[None]:
        """Context manager: every sub-layer in eval mode inside, each one's own flag restored after."""

    @abc.abstractmethod
    def conv_in_channels(self, layer: Any) -> int | None:
        """Input channels if ``layer`` is a 2-D convolution, else ``None``."""

    @abc.abstractmethod
    def conv_kernel(self, layer: Any) -> np.ndarray | None:
        """The kernel ``(C_out, C_in / groups, kh, kw)`` of a 2-D convolution, else ``None``."""

    def capture(self, model: Any, x: Any, layer_name: str, layer: Any, target: Any, need_grad: bool) -> Capture:
        """Run the model once on ``x`` with a one-call hook on ``layer`` (see :meth:`capture_many`)."""
        return self.capture_many(model, x, [layer_name], [layer], target, need_grad)[0]

    @abc.abstractmethod
    def capture_many(
        self, model: Any, x: Any, layer_names: Sequence[str], layers: Sequence[Any], target: Any, need_grad: bool
    ) -> list[Capture]:
        """Run the model once on ``x`` with a one-call hook on each of ``layers``; one capture per layer.

        With ``need_grad`` the gradients of the target score (see :mod:`visualization.core.targets`)
        with respect to every layer's output come from one call of the framework's ``grad`` function,
        not ``backward()``: no parameter gradient is written. Only the network from the first hooked
        layer on is recorded. The hooks are removed before returning, also when ``forward`` raises.
        """

    @abc.abstractmethod
    def ablation_scores(
        self,
        model: Any,
        feed: Any,
        layer_name: str,
        layer: Any,
        activation: np.ndarray,
        channels: np.ndarray,
        targets: Any,
        batch_size: int,
        progress: bool,
        repeat_feed: bool,
        owner: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scores ``(M, T)`` of the model with ``layer``'s output replaced by copies of ``activation``
        ``(C, h, w)``, copy ``m`` with channel ``channels[m]`` set to zero (``-1``: nothing zeroed).
        For a token layer ``activation`` is one sample's raw output and ``owner`` (same shape) says which
        channel each number feeds (:func:`channel_owner`); those of the ablated channel are zeroed.
        ``targets``: class indices ``(T,)``, or a scorer ``f(outputs, samples) -> (B, T)`` tensor with
        ``len(f) == T`` (a target object, see :mod:`visualization.core.score_targets`).

        The model runs on ``feed`` (a batch of one) while the layer's ``forward`` (overridden on the
        instance for the call, always restored) returns a batch of up to ``batch_size`` copies, so the
        layer itself is not computed and everything after it runs on the copies. With ``repeat_feed`` the feed is repeated to the batch size (a full forward per copy);
        without it the part before the layer runs once per batch on ``feed`` and whatever it passes
        around the layer is broadcast (see :class:`~visualization.core.cam.AblationCAM` for when that is
        valid). Returns the logits at ``targets`` ``(T,)``, under no-grad.
        """

    @abc.abstractmethod
    def linear_weights(self, layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """``(W (K, C), b (K,))`` of a fully connected layer in ``y = W x + b`` form, else ``None``."""

    @abc.abstractmethod
    def masked_scores(
        self, model: Any, x: Any, activations: np.ndarray, targets: Any, batch_size: int, progress: bool
    ) -> np.ndarray:
        """Score-CAM scores ``(N, T, C)`` for ``targets`` of shape ``(N, T)`` (``T`` classes per image)
        or a scorer ``f(outputs, samples) -> (B, T)`` (``samples``: the image of each masked copy), whose
        value replaces the softmax probability:
        for every non-constant channel map ``A_k`` of sample ``n``, ``softmax(f(x_n * M_k))[targets[n, t]]``
        with ``M_k`` the map upsampled to the input size and min-max normalized; constant maps score 0.
        Each masked input is run once, in batches of ``batch_size`` under no-grad, for all ``T`` targets."""

    @abc.abstractmethod
    def trace_outputs(self, model: Any, x: Any) -> list[tuple[str, tuple[int, ...] | None]]:
        """``(name, output_shape)`` of every sub-layer call, in the order in which the calls finished
        (so a container comes after its children); ``None`` where the output is not one tensor. A
        layer that runs several times appears once per call."""

    @abc.abstractmethod
    def from_numpy(self, model: Any, array: np.ndarray) -> Any:
        """A tensor with the values of ``array`` on the model's device, in the model's floating dtype
        (float32 for a model without floating parameters)."""

    def user_tensor(self, model: Any, array: np.ndarray) -> Any:
        """``array`` (numpy, channels first ``(N, C, H, W)``) as the input a user of this framework would
        hand to a public entry point. The same as :meth:`from_numpy` where the framework is channels
        first; the Keras adapter returns channels-last ``(N, H, W, C)`` here, while :meth:`from_numpy`
        keeps the core's layout for tensors that stay inside the adapter."""
        return self.from_numpy(model, array)

    @abc.abstractmethod
    def predict(self, model: Any, x: Any) -> np.ndarray:
        """The model's outputs for ``x`` as numpy (eval mode, no gradients, flags restored)."""

    @abc.abstractmethod
    def read_weights(self, path: str) -> Any:
        """Read a weights file without running code from it (torch: ``weights_only=True``; Paddle: the
        restricted unpickler of :mod:`visualization.models.pdparams`, never ``paddle.load``).

        Raises ``UnsafeCheckpointError`` (a ``pickle.UnpicklingError``) when the file names anything but
        tensors, with a message that does not pass on a framework's advice to load it unsafely.
        """

    @abc.abstractmethod
    def state_shapes(self, model: Any) -> dict[str, tuple[int, ...]]:
        """``{key: shape}`` of the model's state dict."""

    @abc.abstractmethod
    def apply_weights(self, model: Any, state: dict[str, Any]) -> None:
        """Copy a checked state dict (framework tensors or numpy arrays) into the model."""

    @abc.abstractmethod
    def own_parameter_count(self, layer: Any) -> int:
        """Number of parameters a layer holds itself (its children not counted)."""

    # ----------------------------------------------------------------- shared policy
    def first_conv_in_channels(self, model: Any) -> int | None:
        """Input channels of the model's first 2-D convolution, used to check inputs early."""
        for _, layer in self.named_layers(model):
            c = self.conv_in_channels(layer)
            if c is not None:
                return c
        return None

    def check_model(self, model: Any) -> None:
        """Raise :class:`~visualization.core.errors.ModelTypeError` unless ``model`` is a model."""
        from .errors import ModelTypeError

        if not self.is_model(model):
            raise ModelTypeError(
                f"Expected a {self.model_type}, got {type(model).__module__}.{type(model).__qualname__}. "
                f"Pass the network itself (an instance of a {self.model_type} subclass); for a model of "
                "another framework use that framework's module (visualization.pytorch / visualization.paddle)."
            )

    def prepare_input(self, model: Any, x: Any) -> Any:
        """Validate ``x`` and return it as a 4-D float tensor on the model's device.

        A 3-D ``(C, H, W)`` tensor is treated as one image. Rank, channels, dtype and finiteness are
        checked here so the user gets one clear message instead of a framework traceback.
        """
        if not self.is_tensor(x):
            raise InvalidInputError(
                f"Expected the input as a {self.name} tensor of shape (N, C, H, W); got "
                f"{type(x).__module__}.{type(x).__qualname__}. Convert it first (for numpy: "
                f"{'torch.from_numpy(arr)' if self.name == 'torch' else 'paddle.to_tensor(arr)'})."
            )
        shape, is_float, finite = self.tensor_facts(x)
        if len(shape) not in (3, 4):
            raise InvalidInputError(
                f"Expected an input of shape (N, C, H, W) or (C, H, W); got shape {tuple(shape)}. "
                "Add or remove a batch axis (e.g. x.unsqueeze(0) / x[None])."
            )
        if not is_float:
            raise InvalidInputError(
                "Expected a floating-point input (e.g. float32 images normalized like the training "
                f"data); got an integer or boolean tensor of shape {tuple(shape)}. Convert with .float() / "
                ".astype('float32') and normalize."
            )
        if not finite:
            raise InvalidInputError(
                f"The input of shape {tuple(shape)} contains NaN or infinite values; explanations of such "
                "inputs are meaningless. Check the preprocessing that produced it."
            )
        expected = self.first_conv_in_channels(model)
        channels = shape[-3]
        if expected is not None and channels != expected:
            raise InvalidInputError(
                f"The model's first convolution expects {expected} input channels; the input of shape "
                f"{tuple(shape)} has {channels}. Inputs are channels-first (N, C, H, W): convert HWC images "
                "with a transpose and give grayscale images 3 channels if the model was trained on RGB."
            )
        return self.to_model_input(model, x)


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    """Slices that cover ``range(n)`` in chunks of at most ``size``."""
    for k in range(math.ceil(n / size)):
        yield slice(k * size, min((k + 1) * size, n))


def live_channels(activations: np.ndarray) -> np.ndarray:
    """Flat ``n * C + k`` indices of the channel maps that are not constant.

    A constant map becomes an all-zero mask after min-max normalization, so Score-CAM gives it
    weight 0 without running the model on it (dead ReLU channels are common).
    """
    n, c = activations.shape[:2]
    flat = activations.reshape(n * c, -1)
    return np.flatnonzero(flat.max(axis=1) > flat.min(axis=1))


def channel_owner(activation: np.ndarray, owner: np.ndarray | None) -> np.ndarray:
    """``owner`` as ``int64``, or for a ``(C, h, w)`` activation without one: each number's channel."""
    if owner is not None:
        return np.ascontiguousarray(owner, dtype=np.int64)
    return np.broadcast_to(np.arange(activation.shape[0], dtype=np.int64)[:, None, None], activation.shape).copy()


def progress_bar(items: list[Any], desc: str, enabled: bool) -> Any:
    """``items`` wrapped in a tqdm bar when ``enabled``; tqdm is only imported then (in Jupyter
    without ipywidgets, importing tqdm.auto warns). A callback installed with
    :func:`visualization.core.progress.progress_callback` hears of every item either way."""
    from .progress import current_callback, tracked

    fn = current_callback()
    seq: Any = items if fn is None else tracked(items, desc, len(items), fn)
    if not enabled:
        return seq
    from tqdm.auto import tqdm

    return tqdm(seq, desc=desc, total=len(items))


def no_gradient_path(layer_name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Zeros of ``shape``, with a warning: the target score does not depend on the layer at all."""
    warnings.warn(
        f"The target score does not depend on layer {layer_name!r} (no gradient path from the output to it), "
        "so its gradients are all zero. Choose a layer on the path to the output you explain.",
        RuntimeWarning,
        stacklevel=4,
    )
    return np.zeros(shape, np.float32)


def check_batch_size(batch_size: int) -> int:
    """Validate a positive integer batch size."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}.")
    return batch_size


def shape_text(shape: Sequence[int]) -> str:
    """``(1, 64, 56, 56)`` as text, for messages and tables."""
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"
