"""Keras 3 facts for the structure view and the TensorBoard logger: traced calls, parameters, outputs.

Read side by side with ``visualization/pytorch/_structure.py``: same methods, same order. Keras has
no forward hooks; each layer instance's ``call`` is replaced for one eager forward pass
(:func:`~visualization.keras._backend.replaced_calls`), which records what went in and what came out.
Shapes reach the core channels-first, ``(N, C, h, w)``, like every other framework's.

Parameters are the layers' variables less BatchNorm's moving mean and variance, which Keras keeps
as non-trainable variables and torch as buffers; so totals equal the torch twin's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core.structure import LayerGeometry, ModelFacts, Trace, TracedCall
from ._backend import BACKEND, TO_NHWC, _core_numpy, _core_shape, is_tf_tensor, replaced_calls, sublayers

L = keras.layers
_RESAMPLE = (L.Conv2DTranspose, L.UpSampling2D)
_WINDOW_POOLS = (L.MaxPooling2D, L.AveragePooling2D)
_RELUS = ("relu", "relu6")


def _two(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def geometry(layer: Any) -> LayerGeometry | None:
    """Kernel, stride and dilation of a 2-D convolution or pooling (padding does not change the field)."""
    if isinstance(layer, _RESAMPLE):
        return LayerGeometry("resample")
    if isinstance(layer, L.Conv2D | L.DepthwiseConv2D | L.SeparableConv2D):
        return LayerGeometry("window", _two(layer.kernel_size), _two(layer.strides), _two(layer.dilation_rate))
    if isinstance(layer, _WINDOW_POOLS):
        return LayerGeometry("window", _two(layer.pool_size), _two(layer.strides))
    if isinstance(layer, L.GlobalAveragePooling2D | L.GlobalMaxPooling2D):
        return LayerGeometry("adaptive")  # a (N, C, 1, 1) map with keepdims=True reads as 'global'
    return None


def _first_tensor(args: Any) -> Any:
    for t in args:
        if is_tf_tensor(t):
            return t
    return None


def _statistics(layer: Any) -> set[int]:
    """Identities of a BatchNorm's moving mean and variance (buffers in torch, so not parameters)."""
    if not isinstance(layer, L.BatchNormalization) or not layer.built:
        return set()
    return {id(layer.moving_mean), id(layer.moving_variance)}


def _own_variables(layer: Any) -> list[Any]:
    """The variables ``layer`` holds itself (not its sub-layers'), BatchNorm statistics excluded."""
    skip = _statistics(layer)
    own = list(layer._trainable_variables) + list(layer._non_trainable_variables)
    return [v for v in own if id(v) not in skip]


def _named_with_root(model: Any) -> list[tuple[str, Any]]:
    return [("", model), *BACKEND.named_layers(model)]


class KerasFacts(ModelFacts):
    name = "keras"

    def trace(self, model: Any, x: Any) -> Trace:
        calls: list[TracedCall] = []
        xn = tf.transpose(x, TO_NHWC)
        keep: list[Any] = [xn]  # every tensor stays alive during the trace, so no id() is reused

        def make(name: str, leaf: bool, geo: LayerGeometry | None) -> Callable[[Callable[..., Any]], Any]:
            def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
                def call(*args: Any, **kwargs: Any) -> Any:
                    t = _first_tensor(args)
                    output = original(*args, **kwargs)
                    is_tensor = is_tf_tensor(output)
                    keep.extend(v for v in (t, output) if v is not None)
                    calls.append(
                        TracedCall(
                            name,
                            type(layer_of[name]).__name__,
                            leaf,
                            geo,
                            id(t) if t is not None else None,
                            _core_shape(t) if t is not None else None,
                            id(output) if is_tensor else None,
                            _core_shape(output) if is_tensor else None,
                        )
                    )
                    return output

                return call

            return wrap

        named = BACKEND.named_layers(model)
        layer_of = dict(named)
        pairs = [(layer, make(name, not sublayers(layer), geometry(layer))) for name, layer in named]
        with replaced_calls(pairs):
            model(xn, training=False)
        return Trace(id(xn), tuple(int(d) for d in x.shape), tuple(calls))

    def parameter_counts(self, model: Any) -> dict[str, tuple[int, int]]:
        seen: set[int] = set()
        out: dict[str, tuple[int, int]] = {}
        for name, layer in _named_with_root(model):
            total = trainable = 0
            for v in _own_variables(layer):
                if id(v) in seen:  # a shared variable counts once, where it first appears
                    continue
                seen.add(id(v))
                n = int(np.prod(v.shape))
                total += n
                trainable += n if v.trainable and layer.trainable else 0
            out[name] = (total, trainable)
        return out

    def parameter_arrays(self, model: Any) -> list[tuple[str, np.ndarray]]:
        seen: set[int] = set()
        out: list[tuple[str, np.ndarray]] = []
        for name, layer in _named_with_root(model):
            for v in _own_variables(layer):
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append((f"{name}.{v.name}" if name else v.name, BACKEND.to_numpy(v)))
        return out

    def capture_outputs(self, model: Any, x: Any, names: Sequence[str]) -> dict[str, list[np.ndarray]]:
        layers = dict(BACKEND.named_layers(model))
        out: dict[str, list[np.ndarray]] = {n: [] for n in names}

        def make(name: str) -> Callable[[Callable[..., Any]], Any]:
            def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
                def call(*args: Any, **kwargs: Any) -> Any:
                    output = original(*args, **kwargs)
                    if is_tf_tensor(output):  # channels-first, as the core reads feature maps
                        out[name].append(_core_numpy(output))
                    return output

                return call

            return wrap

        with replaced_calls([(layers[n], make(n)) for n in dict.fromkeys(names)]):
            model(tf.transpose(x, TO_NHWC), training=False)
        return out

    def is_relu(self, layer: Any) -> bool:
        if isinstance(layer, L.ReLU):
            return True
        activation = getattr(layer, "activation", None) if isinstance(layer, L.Activation) else None
        return getattr(activation, "__name__", None) in _RELUS

    def write_graph(self, writer: Any, model: Any, x: Any) -> bool:
        # tensorboardX builds graphs with torch.jit.trace only; a Keras graph would need TensorFlow's own
        # summary writer (keras.callbacks.TensorBoard(write_graph=True) writes one): no graph here
        return False


FACTS = KerasFacts()
