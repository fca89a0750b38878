"""Keras 3 (TensorFlow backend) mechanism for the core: one-call ``call`` overrides, ``tf.GradientTape``.

Read side by side with ``visualization/pytorch/_backend.py``: same methods, same order.

Where channels-last becomes the core's channels-first (decided once, here):

* a user's input ``(N, H, W, C)`` or ``(H, W, C)`` (numpy array or ``tf.Tensor``) is checked and
  transposed by :meth:`KerasBackend.prepare_input`. Inside the adapter the model input is a
  channels-first ``tf.Tensor``, the layout every other part of the toolkit computes in, and
  :func:`run_model` transposes it back to ``(N, H, W, C)`` at each call of the model;
* a 4-D layer output ``(N, h, w, C)`` and its gradient reach the core as ``(N, C, h, w)``; a 4-D model
  output (a segmentation map ``(N, H, W, K)``) as ``(N, K, H, W)``. Token outputs ``(N, T, C)`` pass as
  they are (the core's :mod:`~visualization.core.tokens` reads them);
* :meth:`KerasBackend.user_tensor` makes the channels-last input a public entry point expects.

Keras 3 layers hold no train/eval flag: every call here passes ``training=False`` (BatchNorm uses its
moving statistics, Dropout is off) and nothing about the model is changed. A layer's output is read by
replacing the layer *instance's* ``call`` for one eager call (``object.__setattr__``, removed in
``finally``), which works for Sequential, functional and subclassed models alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core.backend import (
    Backend,
    Capture,
    channel_owner,
    iter_chunks,
    live_channels,
    no_gradient_path,
    progress_bar,
)
from ..core.errors import InvalidInputError, LayerOutputError, TargetError
from ..core.outputs import describe_output, output_hint
from ..core.targets import resolve_indices

#: NHWC -> NCHW and back.
TO_NCHW = (0, 3, 1, 2)
TO_NHWC = (0, 2, 3, 1)


def is_tf_tensor(obj: Any) -> bool:
    """A concrete TensorFlow tensor or variable (not a symbolic ``KerasTensor``)."""
    return isinstance(obj, (tf.Tensor, tf.Variable)) and not isinstance(obj, keras.KerasTensor)


def nchw(t: Any) -> Any:
    """A 4-D channels-last tensor as channels-first; anything else unchanged."""
    return tf.transpose(t, TO_NCHW) if is_tf_tensor(t) and t.shape.rank == 4 else t


def nhwc(t: Any) -> Any:
    """A 4-D channels-first tensor as channels-last; anything else unchanged."""
    return tf.transpose(t, TO_NHWC) if is_tf_tensor(t) and t.shape.rank == 4 else t


def run_model(model: Any, x: Any) -> Any:
    """The model's output for a channels-first internal input, with a 4-D output read channels-first.

    Called eagerly (never inside ``tf.function`` or ``predict``): the ``call`` overrides must see
    concrete tensors."""
    return nchw(model(tf.transpose(x, TO_NHWC), training=False))


def ensure_built(model: Any, x: Any) -> None:
    """Build a model that was never called (a subclassed model, a Sequential without ``Input``) by
    one call on the first image, before any ``call`` is replaced: Keras builds such a model by
    running its ``call`` on symbolic tensors, which the replaced calls must not see."""
    if not getattr(model, "built", True):
        run_model(model, x[:1])


def compiled_calls(model: Any) -> list[str]:
    """Names of the model and layers whose ``call`` is a ``tf.function`` (``""`` for the model itself)."""
    layers = [("", model), *BACKEND.named_layers(model)]
    return [name for name, layer in layers if hasattr(layer.call, "python_function")]


def _compiled_error(layer_name: str | None, model: Any) -> LayerOutputError:
    where = ", ".join("the model's call" if not n else f"the call of {n!r}" for n in compiled_calls(model))
    what = f"Layer {layer_name!r}" if layer_name is not None else "The model's layers"
    return LayerOutputError(
        f"{what} ran inside a tf.function ({where or 'a compiled call'}): there its output is a "
        "symbolic graph tensor, or a traced graph skips its Python call, so it cannot be read. Layer outputs "
        "are read from an eager call: remove the @tf.function decorator (or jit_compile) from that call while "
        "explaining, or pick a layer outside the compiled part."
    )


@contextmanager
def replaced_calls(pairs: Sequence[tuple[Any, Callable[..., Any]]]) -> Iterator[None]:
    """Each layer's instance ``call`` replaced by ``make(original_call)`` for the duration; the
    instance is left exactly as found (an instance attribute the user set is put back)."""
    saved = [(layer, "call" in layer.__dict__, layer.__dict__.get("call")) for layer, _ in pairs]
    try:
        for layer, make in pairs:
            object.__setattr__(layer, "call", make(layer.call))
        yield
    finally:
        for layer, had_own, own in saved:
            if had_own:
                object.__setattr__(layer, "call", own)
            elif "call" in layer.__dict__:
                object.__delattr__(layer, "call")


def sublayers(layer: Any) -> list[Any]:
    """The layers ``layer`` holds directly (input placeholders excluded), in definition order."""
    children = layer._flatten_layers(include_self=False, recursive=False)
    return [c for c in children if not isinstance(c, keras.layers.InputLayer)]


class KerasBackend(Backend):
    name = "keras"
    model_type = "keras.Model (or keras.layers.Layer)"

    def is_model(self, obj: Any) -> bool:
        return isinstance(obj, keras.layers.Layer)

    def named_layers(self, model: Any) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []

        def walk(layer: Any, prefix: str) -> None:
            for child in sublayers(layer):
                name = f"{prefix}{child.name}"
                out.append((name, child))
                walk(child, name + ".")

        walk(model, "")
        return out

    def is_tensor(self, obj: Any) -> bool:
        return is_tf_tensor(obj)

    def to_numpy(self, x: Any) -> np.ndarray:
        return np.array(tf.cast(tf.convert_to_tensor(x), tf.float32).numpy(), dtype=np.float32, copy=True)

    def tensor_facts(self, x: Any) -> tuple[tuple[int, ...], bool, bool]:
        x = tf.convert_to_tensor(x)
        is_float = bool(x.dtype.is_floating)
        # one float64 reduction instead of an element-wise check: NaN and inf propagate
        finite = bool(np.isfinite(float(tf.reduce_sum(tf.cast(x, tf.float64))))) if is_float else True
        return tuple(int(d) for d in x.shape), is_float, finite

    def to_model_input(self, model: Any, x: Any) -> Any:
        # An internal (channels-first) tensor: a fresh float32 copy (tf tensors are immutable, but a
        # tf.Variable handed in must not be read again by reference).
        x = tf.identity(tf.cast(tf.convert_to_tensor(x), _model_dtype(model)))
        return x[None] if x.shape.rank == 3 else x

    def prepare_input(self, model: Any, x: Any) -> Any:
        """Validate a channels-last ``(N, H, W, C)`` / ``(H, W, C)`` input (numpy array or ``tf.Tensor``)
        and return it as the adapter's channels-first float tensor."""
        if isinstance(x, np.ndarray):
            arr = x
        elif is_tf_tensor(x):
            arr = None
        else:
            raise InvalidInputError(
                f"Expected the input as a numpy array or tf.Tensor of shape (N, H, W, C) (channels last, as "
                f"Keras holds images); got {type(x).__module__}.{type(x).__qualname__}. Convert it first "
                "(np.asarray(images, dtype='float32'))."
            )
        shape, is_float, finite = (
            (arr.shape, np.issubdtype(arr.dtype, np.floating), None) if arr is not None else self.tensor_facts(x)
        )
        shape = tuple(int(d) for d in shape)
        if len(shape) not in (3, 4):
            raise InvalidInputError(
                f"Expected an input of shape (N, H, W, C) or (H, W, C); got shape {shape}. "
                "Add or remove a batch axis (e.g. x[None] / np.expand_dims(x, 0))."
            )
        if not is_float:
            raise InvalidInputError(
                "Expected a floating-point input (e.g. float32 images normalized like the training "
                f"data); got an integer or boolean array of shape {shape}. Convert with .astype('float32') / "
                "tf.cast(x, 'float32') and normalize."
            )
        if finite is None:
            finite = bool(np.isfinite(arr.sum(dtype=np.float64)))
        if not finite:
            raise InvalidInputError(
                f"The input of shape {shape} contains NaN or infinite values; explanations of such "
                "inputs are meaningless. Check the preprocessing that produced it."
            )
        expected = self.first_conv_in_channels(model)
        if expected is not None and shape[-1] != expected:
            raise InvalidInputError(
                f"The model's first convolution expects {expected} input channels; the input of shape "
                f"{shape} has {shape[-1]} in its last axis. Keras inputs are channels-last (N, H, W, C): "
                "convert channels-first arrays with np.transpose(x, (0, 2, 3, 1)) and give grayscale images "
                "3 channels if the model was trained on RGB."
            )
        declared = _declared_input_shape(model)
        full = shape if len(shape) == 4 else (1, *shape)
        if declared is not None and any(d is not None and d != got for d, got in zip(declared[1:], full[1:])):
            want = "(N, " + ", ".join("?" if d is None else str(d) for d in declared[1:]) + ")"
            hint = (
                "It looks channels-first: convert with np.transpose(x, (0, 2, 3, 1))."
                if declared[3] is not None and full[1] == declared[3]
                else "Resize the images to the size the model was built for."
            )
            raise InvalidInputError(
                f"The model expects inputs of shape {want} (channels-last, as its keras.Input declares); got "
                f"shape {shape}. {hint}"
            )
        t = tf.cast(tf.convert_to_tensor(arr if arr is not None else x), _model_dtype(model))
        t = t[None] if t.shape.rank == 3 else t
        return tf.identity(tf.transpose(t, TO_NCHW))

    def eval_mode(self, model: Any) -> Any:
        # Keras 3 layers hold no mode flag; run_model passes training=False to every call.
        return nullcontext()

    def conv_in_channels(self, layer: Any) -> int | None:
        if isinstance(layer, keras.layers.Conv2D) and layer.built:
            return int(layer.kernel.shape[2]) * int(getattr(layer, "groups", 1))
        if isinstance(layer, keras.layers.DepthwiseConv2D) and layer.built:
            return int(layer.kernel.shape[2])
        return None

    def conv_kernel(self, layer: Any) -> np.ndarray | None:
        if not getattr(layer, "built", False):
            return None
        if isinstance(layer, keras.layers.Conv2D):
            # (kh, kw, C_in / groups, C_out) -> (C_out, C_in / groups, kh, kw)
            return np.ascontiguousarray(self.to_numpy(layer.kernel).transpose(3, 2, 0, 1))
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            # (kh, kw, C_in, multiplier) -> (C_in * multiplier, 1, kh, kw), output channel c * m + j
            k = self.to_numpy(layer.kernel)
            kh, kw, c, m = k.shape
            return np.ascontiguousarray(k.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None])
        return None

    def capture_many(
        self, model: Any, x: Any, layer_names: Sequence[str], layers: Sequence[Any], target: Any, need_grad: bool
    ) -> list[Capture]:
        store: dict[int, Any] = {}
        # Only the layers' outputs are watched: no weight variable is recorded, and the part of the
        # network before the first hooked layer records nothing.
        tape = tf.GradientTape(watch_accessed_variables=False, persistent=False)

        def make(i: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
                def call(*args: Any, **kwargs: Any) -> Any:
                    output = original(*args, **kwargs)
                    if not tf.executing_eagerly():  # being traced into a graph: an error here would be re-raised
                        symbolic.add(i)  # as a StagingError, so it is raised after the pass
                        return output
                    if i in store or not _is_spatial(output):
                        # raised after the pass: Keras rewrites the message of an error raised inside call
                        problems.setdefault(i, (i in store, output))
                    elif need_grad:
                        tape.watch(output)
                    store[i] = output
                    return output

                return call

            return wrap

        problems: dict[int, Any] = {}
        symbolic: set[int] = set()
        ensure_built(model, x)
        with replaced_calls([(layer, make(i)) for i, layer in enumerate(layers)]), tape:
            outputs = run_model(model, x)
            for i, name in enumerate(layer_names):
                if i in symbolic:
                    raise _compiled_error(name, model)
                if i in problems:
                    _check_spatial(name, problems[i][1], problems[i][0])
                if i not in store:
                    if compiled_calls(model):
                        raise _compiled_error(name, model)
                    raise LayerOutputError(
                        f"Layer {name!r} did not run during the forward pass (the model holds it, but its call "
                        "never uses it); pick a layer the model uses."
                    )
            acts = [store[i] for i in range(len(layers))]
            scores_np = self.to_numpy(outputs) if is_tf_tensor(outputs) else np.zeros((0,), np.float32)
            targets: np.ndarray | None = None
            selected = None
            n = int(acts[0].shape[0])
            if need_grad:
                if callable(target):
                    selected = target(outputs)
                    if not is_tf_tensor(selected) or tuple(selected.shape) != (n,):
                        raise TargetError(
                            f"A callable target_class must return one score per sample, a tensor of shape "
                            f"({n},); it returned {_describe(selected)}."
                        )
                else:
                    targets = resolve_indices(target, _scores_2d(scores_np, outputs))
                    selected = tf.gather(outputs, tf.constant(targets[:, None], tf.int64), axis=1, batch_dims=1)[:, 0]
                total = tf.reduce_sum(selected)
            elif target is not None or scores_np.ndim == 2:
                if not callable(target):
                    targets = resolve_indices(target, _scores_2d(scores_np, outputs))
        grads_np: list[np.ndarray | None] = [None] * len(acts)
        if need_grad:
            grads = tape.gradient(total, acts, unconnected_gradients=tf.UnconnectedGradients.NONE)
            grads_np = [
                no_gradient_path(name, _core_shape(a)) if g is None else _core_numpy(g)
                for name, a, g in zip(layer_names, acts, grads)
            ]
        return [Capture(name, _core_numpy(a), g, scores_np, targets) for name, a, g in zip(layer_names, acts, grads_np)]

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
        base = tf.constant(np.ascontiguousarray(activation[None]), feed.dtype)
        owner_np = channel_owner(activation, owner)
        own = tf.constant(owner_np[None])
        score = targets if callable(targets) else None  # a target object's scorer: (outputs, samples) -> (B, T)
        cls = None if score else tf.constant(np.asarray(targets, np.int64))
        out = np.empty((len(channels), len(targets)), np.float32)
        current: dict[str, Any] = {}
        # The layer's own computation is skipped, not just its output replaced: the instance's call
        # returns the current batch (channels-last again for a 4-D layer).
        with replaced_calls([(layer, lambda original: lambda *a, **k: current["batch"])]):
            for sl in progress_bar(list(iter_chunks(len(channels), batch_size)), "Ablation-CAM", progress):
                ch = tf.constant(np.asarray(channels[sl], np.int64).reshape([-1] + [1] * owner_np.ndim))
                current["batch"] = nhwc(base * tf.cast(own != ch, base.dtype))
                k = len(channels[sl])
                inp = tf.tile(feed, [k, 1, 1, 1]) if repeat_feed else feed
                logits = run_model(model, inp)
                if score is not None:
                    out[sl] = self.to_numpy(score(logits, np.zeros(k, np.int64)))
                    continue
                if not is_tf_tensor(logits) or logits.shape.rank != 2 or logits.shape[0] != k:
                    raise LayerOutputError(
                        f"the model returned {_describe(logits)} for {k} ablated copies of {layer_name!r}"
                    )
                out[sl] = self.to_numpy(tf.gather(logits, cls, axis=1))
        return out

    def linear_weights(self, layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
        if not isinstance(layer, keras.layers.Dense) or not layer.built:
            return None
        w = self.to_numpy(layer.kernel).T  # Keras stores (in, out)
        bias = self.to_numpy(layer.bias) if layer.use_bias else np.zeros(w.shape[0], np.float32)
        return np.ascontiguousarray(w), bias

    def masked_scores(
        self, model: Any, x: Any, activations: np.ndarray, targets: Any, batch_size: int, progress: bool
    ) -> np.ndarray:
        n, c, h, w = activations.shape
        score = targets if callable(targets) else None  # a target object's scorer: (outputs, samples) -> (B, T)
        t = len(targets) if score else targets.shape[1]
        weights = np.zeros((n * c, t), np.float32)
        live = live_channels(activations)
        if live.size == 0:
            return weights.reshape(n, c, t).transpose(0, 2, 1)
        maps = tf.constant(activations.reshape(n * c, h, w, 1)[live], x.dtype)
        sample = live // c
        size = (int(x.shape[-2]), int(x.shape[-1]))
        tiny = float(np.finfo(np.float32).tiny)
        out = np.empty((live.size, t), np.float32)
        for sl in progress_bar(list(iter_chunks(live.size, batch_size)), "Score-CAM", progress):
            # tf.image.resize's bilinear uses half-pixel centres, as torch's align_corners=False
            masks = tf.image.resize(maps[sl], size, method="bilinear", antialias=False)
            lo = tf.reduce_min(masks, axis=(1, 2), keepdims=True)
            hi = tf.reduce_max(masks, axis=(1, 2), keepdims=True)
            masks = (masks - lo) / tf.maximum(hi - lo, tiny)
            masked = tf.gather(x, sample[sl]) * tf.transpose(masks, TO_NCHW)
            logits = run_model(model, masked)
            if score is not None:
                out[sl] = self.to_numpy(score(logits, sample[sl]))
                continue
            probs = tf.nn.softmax(tf.cast(logits, tf.float32), axis=1)
            cls = tf.constant(targets[sample[sl]], tf.int64)
            out[sl] = self.to_numpy(tf.gather(probs, cls, axis=1, batch_dims=1))
        weights[live] = out
        return weights.reshape(n, c, t).transpose(0, 2, 1)

    def trace_outputs(self, model: Any, x: Any) -> list[tuple[str, tuple[int, ...] | None]]:
        seen: list[tuple[str, tuple[int, ...] | None]] = []

        def make(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
            def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
                def call(*args: Any, **kwargs: Any) -> Any:
                    output = original(*args, **kwargs)
                    if tf.executing_eagerly():  # not while traced into a graph (see capture_many)
                        seen.append((name, _core_shape(output) if is_tf_tensor(output) else None))
                    return output

                return call

            return wrap

        ensure_built(model, x)
        with replaced_calls([(layer, make(name)) for name, layer in self.named_layers(model)]):
            run_model(model, x)
        if not seen and compiled_calls(model):
            raise _compiled_error(None, model)
        return seen

    def from_numpy(self, model: Any, array: np.ndarray) -> Any:
        return tf.constant(np.ascontiguousarray(array, dtype=np.float32), _model_dtype(model))

    def user_tensor(self, model: Any, array: np.ndarray) -> Any:
        t = self.from_numpy(model, array)
        if t.shape.rank == 3:
            return tf.transpose(t, (1, 2, 0))
        return nhwc(t)

    def predict(self, model: Any, x: Any) -> np.ndarray:
        out = run_model(model, x)
        if not is_tf_tensor(out):
            raise TargetError(output_hint(out))
        return self.to_numpy(out)

    def read_weights(self, path: str) -> Any:
        from ._weights import read_weights_h5

        return read_weights_h5(path)

    def state_shapes(self, model: Any) -> dict[str, tuple[int, ...]]:
        # keyed like a .weights.h5 file (Keras's own layout), so a file's keys compare directly
        from ._weights import state_shapes

        return state_shapes(model)

    def apply_weights(self, model: Any, state: dict[str, Any]) -> None:
        from ._weights import apply_weights

        apply_weights(model, state)

    def own_parameter_count(self, layer: Any) -> int:
        own = list(layer._trainable_variables) + list(layer._non_trainable_variables)
        return sum(int(np.prod(v.shape)) for v in own)


def _model_dtype(model: Any) -> Any:
    """The dtype of the model's floating weights (float32 for a model without weights)."""
    for v in getattr(model, "weights", []):
        dt = tf.as_dtype(v.dtype)
        if dt.is_floating:
            return dt
    return tf.float32


def _declared_input_shape(model: Any) -> tuple[int | None, ...] | None:
    """The ``(None, H, W, C)`` shape a functional or Sequential model's one 4-D input declares, if any."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):  # subclassed models have no symbolic inputs
        return None
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 1 or len(inputs[0].shape) != 4:
        return None
    return tuple(None if d is None else int(d) for d in inputs[0].shape)


def _core_shape(t: Any) -> tuple[int, ...]:
    shape = tuple(int(d) if d is not None else -1 for d in t.shape)
    return (shape[0], shape[3], shape[1], shape[2]) if len(shape) == 4 else shape


def _core_numpy(t: Any) -> np.ndarray:
    """A layer output or gradient as the core reads it: 4-D channels-first, anything else as it is."""
    arr = np.array(tf.cast(t, tf.float32), dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(TO_NCHW)) if arr.ndim == 4 else arr


def _check_spatial(layer_name: str, output: Any, seen_before: bool) -> None:
    if seen_before:
        raise LayerOutputError(
            f"Layer {layer_name!r} ran more than once in one forward pass (a shared layer), so its output "
            "is ambiguous. Choose a layer that runs once per forward pass."
        )
    if not _is_spatial(output):
        raise LayerOutputError(
            f"Layer {layer_name!r} must output a 4-D (N, h, w, C) tensor, or a token sequence (N, 1 + h*w, C) "
            f"read through reshape_transform; it returned {_describe(output)}. "
            "Choose a convolutional layer or block (cnnvis layers lists the output shapes)."
        )


def _is_spatial(output: Any) -> bool:
    return is_tf_tensor(output) and output.shape.rank in (3, 4)


def _describe(obj: Any) -> str:
    return describe_output(obj)


def _scores_2d(scores_np: np.ndarray, outputs: Any) -> np.ndarray:
    if not is_tf_tensor(outputs):
        raise TargetError(
            f"{output_hint(outputs)} A class index cannot be picked from it; a callable target_class that maps "
            "the outputs to one score per sample works too."
        )
    return scores_np


BACKEND = KerasBackend()
