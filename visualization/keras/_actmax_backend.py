"""Keras 3 (TensorFlow) mechanism for activation maximization: the primitives of
:class:`visualization.core.activation_max.GradientOps` with ``tf.signal``, a bilinear sampler written
with ``tf.gather`` and ``tf.GradientTape``.

Read side by side with ``visualization/pytorch/_actmax_backend.py``: same classes, same method order.

The core's loop is duck-typed on torch / Paddle tensors (``x.reshape([n, -1]).sum(1)``, ``x[:, :, 1:]``,
arithmetic); TensorFlow tensors have no ``reshape`` or ``sum`` methods, so the ops here hand the core
:class:`Tensor`, a thin wrapper around a ``tf.Tensor`` with those methods. Images stay channels-first
``(N, 3, H, W)`` as everywhere in the core; :func:`~._backend.run_model` transposes them for the model,
and a 4-D layer output is read channels-first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import tensorflow as tf

from ..core.activation_max import ActMaxBackend, _ForwardStopped, _reflect
from ..core.errors import LayerOutputError
from ._backend import KerasBackend, _model_dtype, is_tf_tensor, nchw, replaced_calls, run_model


def _unwrap(x: Any) -> Any:
    return x.t if isinstance(x, Tensor) else x


class Tensor:
    """A ``tf.Tensor`` with the few tensor methods the core's duck-typed code calls."""

    __slots__ = ("t",)

    def __init__(self, t: Any) -> None:
        self.t = t

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.t.shape)

    @property
    def ndim(self) -> int:
        return int(self.t.shape.rank)

    def reshape(self, shape: Any) -> Tensor:
        return Tensor(tf.reshape(self.t, list(shape)))

    def sum(self, axis: int | None = None) -> Tensor:
        return Tensor(tf.reduce_sum(self.t, axis=axis))

    def __getitem__(self, key: Any) -> Tensor:
        return Tensor(self.t[key])

    def __add__(self, o: Any) -> Tensor:
        return Tensor(self.t + _unwrap(o))

    def __radd__(self, o: Any) -> Tensor:
        return Tensor(_unwrap(o) + self.t)

    def __sub__(self, o: Any) -> Tensor:
        return Tensor(self.t - _unwrap(o))

    def __rsub__(self, o: Any) -> Tensor:
        return Tensor(_unwrap(o) - self.t)

    def __mul__(self, o: Any) -> Tensor:
        return Tensor(self.t * _unwrap(o))

    def __rmul__(self, o: Any) -> Tensor:
        return Tensor(_unwrap(o) * self.t)

    def __truediv__(self, o: Any) -> Tensor:
        return Tensor(self.t / _unwrap(o))

    def __neg__(self) -> Tensor:
        return Tensor(-self.t)

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape}, dtype={self.t.dtype.name})"


class KerasTensorOps:
    """:class:`~visualization.core.activation_max.GradientOps` in one floating dtype (the model's)."""

    def __init__(self, dtype: Any) -> None:
        self.dtype = dtype
        self.tape: tf.GradientTape | None = None

    def constant(self, array: np.ndarray) -> Tensor:
        return Tensor(tf.constant(np.ascontiguousarray(array), dtype=self.dtype))

    def sigmoid(self, x: Tensor) -> Tensor:
        return Tensor(tf.sigmoid(_unwrap(x)))

    def irfft2(self, re: Tensor, im: Tensor, size: tuple[int, int]) -> Tensor:
        h, w = size
        spec = tf.complex(tf.cast(_unwrap(re), tf.float32), tf.cast(_unwrap(im), tf.float32))
        # tf.signal's inverse carries 1 / (h w); the orthonormal one 1 / sqrt(h w)
        out = tf.signal.irfft2d(spec, fft_length=[h, w]) * float(np.sqrt(h * w))
        return Tensor(tf.cast(out, self.dtype))

    def mix_channels(self, x: Tensor, matrix: np.ndarray) -> Tensor:
        return Tensor(tf.einsum("ck,nkhw->nchw", tf.constant(matrix, self.dtype), _unwrap(x)))

    def grid_sample(self, x: Tensor, grid: np.ndarray) -> Tensor:
        # bilinear, align_corners=False, reflection padding: the sampling positions and weights depend on
        # the (numpy) grid only, so they are computed in numpy and the image is gathered in TensorFlow
        t = _unwrap(x)
        n, c, h, w = (int(d) for d in t.shape)
        gx = _reflect(((grid[..., 0].astype(np.float64) + 1.0) * w - 1.0) / 2.0, w)
        gy = _reflect(((grid[..., 1].astype(np.float64) + 1.0) * h - 1.0) / 2.0, h)
        x0, y0 = np.floor(gx).astype(np.int64), np.floor(gy).astype(np.int64)
        fx, fy = gx - x0, gy - y0
        x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
        flat = tf.reshape(tf.transpose(t, (0, 2, 3, 1)), [n * h * w, c])  # (N H W, C)
        base = (np.arange(n) * h * w)[:, None, None]

        def tap(yy: np.ndarray, xx: np.ndarray, weight: np.ndarray) -> Any:
            vals = tf.gather(flat, tf.constant((base + yy * w + xx).reshape(-1)))
            return vals * tf.constant(weight.reshape(-1, 1), self.dtype)

        out = (
            tap(y0, x0, (1 - fx) * (1 - fy))
            + tap(y0, x1, fx * (1 - fy))
            + tap(y1, x0, (1 - fx) * fy)
            + tap(y1, x1, fx * fy)
        )
        return Tensor(tf.transpose(tf.reshape(out, [n, *grid.shape[1:3], c]), (0, 3, 1, 2)))

    def variable(self, array: np.ndarray) -> Tensor:
        var = self.constant(array)
        if self.tape is not None:
            self.tape.watch(var.t)
        return var

    @contextmanager
    def recording(self) -> Iterator[None]:
        # only what variable() watches is recorded: no weight of the model
        tape = tf.GradientTape(persistent=True, watch_accessed_variables=False)
        self.tape = tape
        try:
            with tape:
                yield
        finally:
            self.tape = None

    def inference(self) -> Any:
        return nullcontext()  # nothing is recorded outside recording()

    def forward(self, model: Any, layer: Any, x: Tensor) -> Tensor:
        if layer is None:
            out = run_model(model, _unwrap(x))
            return Tensor(out) if is_tf_tensor(out) else out
        store: dict[str, Any] = {}

        def wrap(original: Any) -> Any:
            def call(*args: Any, **kwargs: Any) -> Any:
                store["out"] = original(*args, **kwargs)
                raise _ForwardStopped  # the rest of the network is not needed

            return call

        with replaced_calls([(layer, wrap)]):
            try:
                run_model(model, _unwrap(x))
            except _ForwardStopped:
                pass
        if "out" not in store:
            raise LayerOutputError("The target layer did not run during the forward pass; pick a layer the model uses.")
        out = store["out"]
        return Tensor(nchw(out)) if is_tf_tensor(out) else out

    def gradient(self, loss: Tensor, variable: Tensor, retain: bool = False) -> np.ndarray:
        # tape.gradient with respect to the image parameters only: no weight gradient is computed
        assert self.tape is not None, "gradient() is called inside recording()"
        with self.tape.stop_recording():  # the gradient's own ops are not recorded on the persistent tape
            grad = self.tape.gradient(_unwrap(loss), _unwrap(variable))
        if grad is None:
            return np.zeros(variable.shape, np.float32)
        return self.numpy(grad)

    def numpy(self, x: Any) -> np.ndarray:
        return np.array(tf.cast(_unwrap(x), tf.float32), dtype=np.float32, copy=True)


class KerasActMaxBackend(KerasBackend, ActMaxBackend):
    """:class:`~visualization.keras._backend.KerasBackend` plus differentiation with respect to the image."""

    def tensor_ops(self, model: Any) -> KerasTensorOps:
        return KerasTensorOps(_model_dtype(model))


BACKEND = KerasActMaxBackend()
