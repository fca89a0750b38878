"""Keras 3 (TensorFlow) mechanism for the metrics: batched target scores, perturbed copies of a
pixel-order curve built as tensors with one ``tf.where`` per batch, a layer's own weights read and
written in the canonical layout (PyTorch's), and a copy of the model for the randomization tests.

Read side by side with ``visualization/pytorch/_metrics_backend.py``: same methods, same order.

Images reach these methods channels-first ``(M, C, H, W)`` (the core's layout; the public
``batched_probabilities`` of :mod:`visualization.keras.metrics` transposes a user's channels-last
batch first) and :func:`~._backend.run_model` transposes them for the model.

Canonical layout: a ``Conv2D`` kernel ``(kh, kw, in / groups, out)`` is read as ``(out, in / groups, kh, kw)``,
a ``DepthwiseConv2D`` kernel ``(kh, kw, in, m)`` as ``(in m, 1, kh, kw)``, a ``Dense`` kernel ``(in, out)``
as ``(out, in)`` (with its inputs in PyTorch's ``(c, h, w)`` flatten order when it reads a ``Flatten`` of a
feature map in a functional or Sequential model, so that copies match PyTorch's draw for draw). A layer's parameters are its own trainable variables (created trainable; a frozen
layer's too), in Keras' order (kernel, bias; gamma, beta); BatchNormalization's moving mean and
variance are statistics, never randomized.

``copy.deepcopy`` of a Keras model goes through Keras serialization, which needs registered classes and
a complete config; :func:`copy_model` copies the layers object by object instead.
"""

from __future__ import annotations

import copy
import inspect
import sys
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ..core.backend import iter_chunks, progress_bar, shape_text
from ..core.errors import InvalidInputError, TargetError
from ..metrics.backend import CurvePlan, MetricsBackend
from ._backend import BACKEND, is_tf_tensor, run_model


class KerasMetricsBackend(MetricsBackend):
    base = BACKEND

    def batched_probabilities(
        self, model: Any, images: Any, targets: np.ndarray, batch_size: int, output: str, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        m = int(images.shape[0])
        cls = np.asarray(targets, np.int64)
        scores, predicted = [], []
        for sl in progress_bar(list(iter_chunks(m, batch_size)), "Scoring", progress):
            if is_tf_tensor(images):
                batch = tf.cast(images[sl.start : sl.stop], _dtype(model))
            else:
                batch = BACKEND.from_numpy(model, images[sl])
            score, pred = _score(run_model(model, batch), cls[sl], output)
            scores.append(score)
            predicted.append(pred)
        return np.concatenate(scores), np.concatenate(predicted)

    def curve_probabilities(
        self, model: Any, plan: CurvePlan, targets: np.ndarray, batch_size: int, output: str, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        n, s = int(plan.start.shape[0]), int(plan.counts.shape[0])
        start, end = BACKEND.from_numpy(model, plan.start), BACKEND.from_numpy(model, plan.end)
        ranks = tf.constant(np.ascontiguousarray(plan.ranks))
        counts = tf.constant(np.ascontiguousarray(plan.counts))
        cls = np.asarray(targets, np.int64)
        scores, predicted = [], []
        for sl in progress_bar(list(iter_chunks(n * s, batch_size)), "Curve", progress):
            k = np.arange(sl.start, sl.stop)
            rows, steps = k // s, k % s  # copies are image-major: copy k is step k % s of image k // s
            limit = tf.reshape(tf.gather(counts, steps), [-1, 1, 1])
            changed = (tf.gather(ranks, rows) < limit)[:, None]  # (B, 1, H, W)
            rows_start = tf.gather(start, rows)
            batch = tf.where(tf.broadcast_to(changed, rows_start.shape), tf.gather(end, rows), rows_start)
            score, pred = _score(run_model(model, batch), cls[rows], output)
            scores.append(score)
            predicted.append(pred)
        return np.concatenate(scores).reshape(n, s), np.concatenate(predicted).reshape(n, s)

    def own_parameters(self, layer: Any) -> list[tuple[str, np.ndarray]]:
        return [(v.name, _to_canonical(layer, v, BACKEND.to_numpy(v))) for v in _own_variables(layer)]

    def set_own_parameter(self, layer: Any, name: str, value: np.ndarray) -> None:
        for v in _own_variables(layer):
            if v.name == name:
                v.assign(_from_canonical(layer, v, np.asarray(value, np.float32)).astype(v.dtype))
                return
        raise KeyError(f"layer {layer.name!r} has no parameter {name!r}")

    def copy_model(self, model: Any) -> Any:
        # copy.deepcopy fails on Keras models (it goes through Keras serialization): copy layer by layer
        return copy_model(model)


def copy_model(model: Any) -> Any:
    """An independent copy of a Keras model: same class, layers, layer names and weights, its own variables.

    Every layer of the model (nested ones too) is copied object by object with its variables, so functional,
    Sequential and subclassed models are copied exactly as they are, whatever their ``__init__`` took; what
    only training needs (optimizer, compiled losses and metrics, traced ``tf.function`` objects) is left out, so
    the copy is not compiled. Should that fail, the model is rebuilt from its config
    (``type(model).from_config``, its ``__init__`` arguments, ``keras.models.clone_model``), built like the
    original and given a copy of every weight; layer names a rebuilt model numbers anew (``conv2d_7``) are
    set to the original's, so dotted names resolve the same layers."""
    errors = []
    try:
        clone = _structural_copy(model)
        if [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in model.weights]:
            return clone
        errors.append("copy: the copy holds other weights")
    except Exception as exc:  # an attribute that cannot be copied: rebuild from the config instead
        errors.append(f"copy: {type(exc).__name__}: {str(exc)[:200]}")
    clone = None
    for attempt in (_from_config, _from_init_arguments, _clone_model):
        try:
            candidate = attempt(model)
        except Exception as exc:  # a config Keras cannot rebuild: try the next way, then report all
            errors.append(f"{attempt.__name__.strip('_')}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        if [tuple(v.shape) for v in candidate.weights] == [tuple(v.shape) for v in model.weights]:
            clone = candidate
            break
        errors.append(f"{attempt.__name__.strip('_')}: the rebuilt model holds other weights (an incomplete config)")
    if clone is None:
        raise TypeError(
            f"Could not copy the Keras model {model.name!r} ({'; '.join(errors)}). Randomization tests work on a "
            "copy so that your model is never changed; give the model's class a get_config() that returns its "
            "__init__ arguments, or build a randomized model yourself and use data_randomization_test."
        )
    for src, dst in zip(model.weights, clone.weights):
        dst.assign(src.value)
    named, clone_named = BACKEND.named_layers(model), BACKEND.named_layers(clone)
    if [type(layer) for _, layer in named] != [type(layer) for _, layer in clone_named]:
        raise TypeError(f"The copy of the Keras model {model.name!r} does not have the model's layers.")
    for (_, layer), (_, twin) in zip(named, clone_named):
        if twin.name != layer.name:
            twin._name = layer.name  # the rebuilt model numbered its unnamed layers anew
    return clone


def _training_only(value: Any) -> bool:
    """An optimizer, a (compiled) loss or metric, or a traced ``tf.function``: left out of a copy."""
    if isinstance(value, (keras.optimizers.Optimizer, keras.losses.Loss, keras.metrics.Metric)):
        return True
    return type(value).__module__.startswith("tensorflow.") and hasattr(value, "get_concrete_function")


def _structural_copy(model: Any) -> Any:
    """``copy.deepcopy`` of every layer's attributes, the layers themselves created without ``__init__``
    (a Keras layer's own deep copy goes through its config), with Keras' attribute tracking off while
    the copied containers are filled (the copies' trackers are locked, as the originals')."""
    layers = _all_layers(model)
    memo: dict[int, Any] = {
        id(m): m for m in list(sys.modules.values())
    }  # modules (a SeedGenerator's backend) are shared
    memo.update({id(layer): object.__new__(type(layer)) for layer in layers})
    for layer in layers:
        for value in vars(layer).values():
            if _training_only(value):
                memo[id(value)] = None
    with _tracking_off():
        for layer in layers:
            vars(memo[id(layer)]).update(copy.deepcopy(vars(layer), memo))
    clone = memo[id(model)]
    for layer in layers:
        if isinstance(layer, keras.Model) and getattr(layer, "compiled", False):
            memo[id(layer)].compiled = False  # its optimizer, losses and metrics were left out
    return clone


def _all_layers(model: Any) -> list[Any]:
    """Every layer object the model holds: tracked sub-layers and layers kept in plain attributes (a
    ``Sequential`` keeps the functional model it runs in one), transitively."""
    found: dict[int, Any] = {}
    todo = [model]
    while todo:
        layer = todo.pop()
        if id(layer) in found:
            continue
        found[id(layer)] = layer
        todo.extend(layer._flatten_layers(include_self=False, recursive=False))
        for value in vars(layer).values():
            items = (
                value
                if isinstance(value, (list, tuple))
                else list(value.values())
                if isinstance(value, dict)
                else [value]
            )
            todo.extend(v for v in items if isinstance(v, keras.layers.Layer))
    return list(found.values())


def _tracking_off() -> Any:
    from keras.src.utils.tracking import DotNotTrackScope

    return DotNotTrackScope()


def _build_like(model: Any, clone: Any) -> Any:
    if clone.built and clone.weights:
        return clone
    config = model.get_build_config() if hasattr(model, "get_build_config") else None
    if config:
        clone.build_from_config(config)
    return clone


def _from_config(model: Any) -> Any:
    return _build_like(model, type(model).from_config(model.get_config()))


def _from_init_arguments(model: Any) -> Any:
    # A subclassed model whose __init__ takes no **kwargs: Keras' from_config passes it name, trainable and
    # dtype too; only the arguments its __init__ names are given here.
    config = model.get_config()
    params = inspect.signature(type(model).__init__).parameters
    accepted = {k: v for k, v in config.items() if k in params and k != "self"}
    return _build_like(model, type(model)(**accepted))


def _clone_model(model: Any) -> Any:
    return _build_like(model, keras.models.clone_model(model))


def _own_variables(layer: Any) -> list[Any]:
    return list(getattr(layer, "_trainable_variables", []))


def _flattened_map(layer: Any) -> tuple[int, int, int] | None:
    """``(h, w, c)`` when ``layer`` (a ``Dense``) reads a ``Flatten`` of a channels-last ``(N, h, w, c)`` map
    in a functional or Sequential graph; ``None`` otherwise (a subclassed model records no graph)."""
    try:
        tensor = layer._inbound_nodes[0].input_tensors[0]
        source = tensor._keras_history.operation
        if not isinstance(source, keras.layers.Flatten):
            return None
        shape = tuple(source._inbound_nodes[0].input_tensors[0].shape)
    except (AttributeError, IndexError):
        return None
    if len(shape) != 4 or any(d is None for d in shape[1:]):
        return None
    return int(shape[1]), int(shape[2]), int(shape[3])


def _to_canonical(layer: Any, v: Any, value: np.ndarray) -> np.ndarray:
    if v.name != "kernel" and not (isinstance(layer, keras.layers.DepthwiseConv2D) and v.name == "depthwise_kernel"):
        return value
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw, c, m = value.shape
        return np.ascontiguousarray(value.reshape(kh, kw, c * m).transpose(2, 0, 1)[:, None])
    if isinstance(layer, keras.layers.Conv2D) and value.ndim == 4:
        return np.ascontiguousarray(value.transpose(3, 2, 0, 1))
    if isinstance(layer, keras.layers.Dense) and value.ndim == 2:
        w = value.T
        hwc = _flattened_map(layer)
        if hwc is not None and hwc[0] * hwc[1] * hwc[2] == w.shape[1]:
            # inputs in PyTorch's flatten order (c, h, w), as a channels-first network flattens the map
            w = w.reshape(w.shape[0], *hwc).transpose(0, 3, 1, 2).reshape(w.shape[0], -1)
        return np.ascontiguousarray(w)
    return value


def _from_canonical(layer: Any, v: Any, value: np.ndarray) -> np.ndarray:
    shape = tuple(int(d) for d in v.shape)
    if isinstance(layer, keras.layers.DepthwiseConv2D) and len(shape) == 4:
        kh, kw, c, m = shape
        return np.ascontiguousarray(value[:, 0].transpose(1, 2, 0).reshape(kh, kw, c, m))
    if v.name == "kernel" and isinstance(layer, keras.layers.Conv2D) and len(shape) == 4:
        return np.ascontiguousarray(value.transpose(2, 3, 1, 0))
    if v.name == "kernel" and isinstance(layer, keras.layers.Dense) and len(shape) == 2:
        hwc = _flattened_map(layer)
        if hwc is not None and hwc[0] * hwc[1] * hwc[2] == value.shape[1]:
            h, w, c = hwc
            value = value.reshape(value.shape[0], c, h, w).transpose(0, 2, 3, 1).reshape(value.shape[0], -1)
        return np.ascontiguousarray(value.T)
    return value


def _dtype(model: Any) -> Any:
    return BACKEND.from_numpy(model, np.zeros(1, np.float32)).dtype


def _score(logits: Any, cls: np.ndarray, output: str) -> tuple[np.ndarray, np.ndarray]:
    """The target score of every row (softmax probability in float32, or the raw output) and each row's argmax."""
    if not is_tf_tensor(logits) or logits.shape.rank != 2 or int(logits.shape[0]) != cls.shape[0]:
        got = f"a tensor of shape {shape_text(logits.shape)}" if is_tf_tensor(logits) else type(logits).__name__
        raise InvalidInputError(
            f"Metrics need a classifier returning (batch, num_classes) scores; for a batch of {cls.shape[0]} images "
            f"the model returned {got}. Wrap the model so that it returns one row of class scores per image."
        )
    k = int(logits.shape[1])
    if int(cls.max()) >= k:
        raise TargetError(f"target class {int(cls.max())} out of range: the model has {k} outputs (0..{k - 1}).")
    if output == "probability" and k == 1:
        raise InvalidInputError(
            "The model has a single output, whose softmax is always 1; use output='logit' (or give the model one "
            "output per class)."
        )
    values = tf.cast(logits, tf.float32)
    if output == "probability":
        values = tf.nn.softmax(values, axis=1)
    picked = tf.gather(values, tf.constant(cls[:, None]), axis=1, batch_dims=1)[:, 0]
    return BACKEND.to_numpy(picked), np.asarray(tf.argmax(logits, axis=1))


METRICS_BACKEND = KerasMetricsBackend()
