"""Keras 3 (TensorFlow) mechanism for the saliency methods: input gradients with ``tf.GradientTape``
watching the input only, modified ReLU backward passes for one backward pass, and batched occluded
copies built as tensors.

Read side by side with ``visualization/pytorch/_saliency_backend.py``: same methods, same order.

Inside the adapter the input is channels-first ``(N, C, H, W)`` (see :mod:`._backend`);
:func:`~._backend.run_model` transposes it for every model call, so gradients come back in the
core's layout.

Every ReLU a Keras model computes, however it is spelled (``keras.layers.ReLU``,
``Activation("relu")``, ``Conv2D(..., activation="relu")``, ``keras.ops.relu``, ``tf.nn.relu``), is one
TensorFlow ``Relu`` op, and the eager tape differentiates each recorded op with the gradient function
registered for its type. Guided Backprop and Deconvolution swap the function registered for ``Relu``
for the duration of ``tape.gradient`` only (``finally`` puts TensorFlow's own back); no layer, model
or function of the user is touched. Other activations (``relu6``, ``LeakyReLU``, GELU, ...) keep their
ordinary backward, as in the torch adapter. The swap is process-wide while it lasts: another thread
differentiating a ``Relu`` at that moment would see the modified rule.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.framework import ops as _tf_ops

from ..core.backend import iter_chunks, progress_bar, shape_text
from ..core.errors import TargetError
from ..core.saliency import GradientPass, IntegrationPath, OcclusionPlan, SaliencyBackend, select_targets
from ._backend import BACKEND, is_tf_tensor, run_model


# ----------------------------------------------------------------------------- modified ReLUs
def _guided_grad(op: Any, grad: tf.Tensor) -> tf.Tensor:
    """Backward of ``y = max(x, 0)`` as ``relu(g) * [y > 0]`` (Guided Backprop)."""
    return tf.nn.relu(grad) * tf.cast(op.outputs[0] > 0, grad.dtype)


def _deconv_grad(op: Any, grad: tf.Tensor) -> tf.Tensor:
    """Backward of ``y = max(x, 0)`` as ``relu(g)`` (Deconvolution)."""
    return tf.nn.relu(grad)


class _Override:
    """What one backward pass with modified ReLUs did: a count of the ``Relu`` ops it differentiated."""

    def __init__(self, rule: Any) -> None:
        self.rule = rule
        self.calls = 0

    def grad(self, op: Any, grad: tf.Tensor) -> tf.Tensor:
        self.calls += 1
        return self.rule(op, grad)


def _relu_entry() -> dict[str, Any]:
    registry = getattr(getattr(_tf_ops, "_gradient_registry", None), "_registry", None)
    if not isinstance(registry, dict) or not isinstance(registry.get("Relu"), dict) or "type" not in registry["Relu"]:
        raise RuntimeError(
            f"Guided Backprop / Deconvolution cannot reach TensorFlow {tf.__version__}'s gradient of the Relu op "
            "(its gradient registry changed). Use VanillaGradient, or the TensorFlow version this toolkit lists."
        )
    return registry


@contextmanager
def _relu_override(relu_mode: str | None) -> Iterator[_Override | None]:
    """The modified ``Relu`` gradient for the ``tape.gradient`` call inside; TensorFlow's own afterwards."""
    if relu_mode is None:
        yield None
        return
    if relu_mode not in ("guided", "deconv"):
        raise ValueError(f"relu_mode must be None, 'guided' or 'deconv'; got {relu_mode!r}.")
    state = _Override(_guided_grad if relu_mode == "guided" else _deconv_grad)
    registry = _relu_entry()
    original = registry["Relu"]
    try:
        registry["Relu"] = {**original, "type": state.grad}
        yield state
    finally:
        registry["Relu"] = original


# ----------------------------------------------------------------------------- backend
class KerasSaliencyBackend(SaliencyBackend):
    base = BACKEND

    def forward_scores(self, model: Any, x: Any, target: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        outputs = run_model(model, x)
        n = int(x.shape[0])
        selected, idx = _select(outputs, target, np.arange(n), n)
        scores_np = BACKEND.to_numpy(outputs) if is_tf_tensor(outputs) else np.zeros((0,), np.float32)
        return BACKEND.to_numpy(selected), scores_np, idx

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
        n = int(x.shape[0])
        steps = 1 if path is None else int(path.alphas.size)
        points = n * steps
        chunks = list(iter_chunks(points, batch_size or points))
        grads = np.zeros(tuple(int(d) for d in x.shape), np.float32)
        if path is not None:
            alphas = tf.constant(path.alphas, x.dtype)
            weights = path.weights.astype(np.float32)
            baseline = tf.constant(path.baseline, x.dtype)
        outputs: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        reached, relu_calls = False, 0
        for sl in progress_bar(chunks, "Integrated Gradients" if path is not None else "gradients", progress):
            k = np.arange(sl.start, sl.stop)
            rows = k % n  # points are step-major: point k is step k // n of sample k % n
            if path is None:
                pts = x[sl.start : sl.stop]
            else:
                step = k // n
                b = baseline if baseline.shape[0] == 1 else tf.gather(baseline, rows)
                a = tf.reshape(tf.gather(alphas, step), [-1, 1, 1, 1])
                pts = b + a * (tf.gather(x, rows) - b)
            pts = tf.identity(pts)
            # Only the input is watched: no weight variable is recorded.
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(pts)
                out = run_model(model, pts)
                selected, idx = _select(out, target, rows, n)
                total = tf.reduce_sum(selected)
            with _relu_override(relu_mode) as mode:
                grad = tape.gradient(total, pts, unconnected_gradients=tf.UnconnectedGradients.NONE)
            relu_calls += mode.calls if mode is not None else 0
            if grad is None:
                g = np.zeros(tuple(int(d) for d in pts.shape), np.float32)
            else:
                reached = True
                g = BACKEND.to_numpy(grad)
            if path is None:
                grads[sl] = g
                outputs.append(BACKEND.to_numpy(out))
                if idx is not None:
                    targets.append(idx)
            else:
                np.add.at(grads, rows, g * weights[step].reshape(-1, 1, 1, 1))
        if not reached:
            _no_gradient_warning()
        if relu_mode is not None and relu_calls == 0:
            _no_relu_warning(relu_mode)
        return GradientPass(
            grads,
            np.concatenate(outputs) if path is None else None,
            np.concatenate(targets) if targets else None,
        )

    def batched_scores(
        self, model: Any, x: Any, plan: OcclusionPlan, target: Any, batch_size: int, progress: bool
    ) -> np.ndarray:
        n, c, h, w = (int(d) for d in x.shape)
        p = int(plan.boxes.shape[0])
        baseline = tf.constant(plan.baseline, x.dtype)
        ranges = [np.arange(d) for d in (c, h, w)]
        out = np.empty(n * p, np.float32)
        for sl in progress_bar(list(iter_chunks(n * p, batch_size)), "Occlusion", progress):
            k = np.arange(sl.start, sl.stop)
            rows, box = k // p, plan.boxes[k % p]  # copies are sample-major: copy k is box k % p of sample k // p
            inside = [(r >= box[:, a, :1]) & (r < box[:, a, 1:]) for a, r in enumerate(ranges)]  # (B, size)
            mask = inside[0][:, :, None, None] & inside[1][:, None, :, None] & inside[2][:, None, None, :]
            b = baseline if baseline.shape[0] == 1 else tf.gather(baseline, rows)
            occluded = tf.where(tf.constant(mask), b, tf.gather(x, rows))
            selected, _ = _select(run_model(model, occluded), target, rows, n)
            out[sl] = BACKEND.to_numpy(selected)
        return out.reshape(n, p)


def _select(outputs: Any, target: Any, rows: np.ndarray, n: int) -> tuple[tf.Tensor, np.ndarray | None]:
    """The target score of every row of ``outputs`` and the class indices used (``None`` for a callable)."""
    if callable(target):
        selected = target(outputs)
        if not is_tf_tensor(selected) or tuple(selected.shape) != (len(rows),):
            raise TargetError(
                f"A callable target_class must return one score per sample, a tensor of shape ({len(rows)},); "
                f"it returned {_describe(selected)}."
            )
        return selected, None
    if not is_tf_tensor(outputs):
        raise TargetError(
            f"The model returned {_describe(outputs)}, not a (N, num_classes) tensor, so a class index "
            "cannot be picked. Pass target_class as a callable that maps the outputs to one score per sample."
        )
    idx = select_targets(target, BACKEND.to_numpy(outputs), rows, n)
    return tf.gather(outputs, tf.constant(idx[:, None], tf.int64), axis=1, batch_dims=1)[:, 0], idx


def _describe(obj: Any) -> str:
    if is_tf_tensor(obj):
        return f"a tensor of shape {shape_text(obj.shape)}"
    return f"a {type(obj).__name__}"


def _no_gradient_warning() -> None:
    warnings.warn(
        "The target score does not depend on the input (no gradient path from the output to it), so the "
        "gradients are all zero. Check that the model's output is computed from its input.",
        RuntimeWarning,
        stacklevel=5,
    )


def _no_relu_warning(relu_mode: str) -> None:
    warnings.warn(
        f"relu_mode={relu_mode!r}: the target score depends on no ReLU (keras.layers.ReLU, activation='relu', "
        "keras.ops.relu or tf.nn.relu), so the result is the plain gradient. Other activations (relu6, "
        "LeakyReLU, GELU, ...) keep their ordinary backward.",
        RuntimeWarning,
        stacklevel=5,
    )


SALIENCY_BACKEND = KerasSaliencyBackend()
