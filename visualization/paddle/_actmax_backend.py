"""PaddlePaddle mechanism for activation maximization: the primitives of
:class:`visualization.core.activation_max.GradientOps` with ``paddle.fft``, ``grid_sample`` and
``paddle.grad``.

Read side by side with ``visualization/pytorch/_actmax_backend.py``: same classes, same method order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F

from ..core.activation_max import ActMaxBackend, _ForwardStopped
from ..core.errors import LayerOutputError
from ._backend import PaddleBackend


class PaddleTensorOps:
    """:class:`~visualization.core.activation_max.GradientOps` on one place and floating dtype."""

    def __init__(self, place: Any, dtype: Any) -> None:
        self.place, self.dtype = place, dtype

    def constant(self, array: np.ndarray) -> paddle.Tensor:
        return paddle.to_tensor(np.ascontiguousarray(array), dtype=self.dtype, place=self.place)

    def sigmoid(self, x: paddle.Tensor) -> paddle.Tensor:
        return F.sigmoid(x)

    def irfft2(self, re: paddle.Tensor, im: paddle.Tensor, size: tuple[int, int]) -> paddle.Tensor:
        return paddle.fft.irfft2(paddle.complex(re, im), s=size, norm="ortho")

    def mix_channels(self, x: paddle.Tensor, matrix: np.ndarray) -> paddle.Tensor:
        return paddle.einsum("ck,nkhw->nchw", self.constant(matrix), x)

    def grid_sample(self, x: paddle.Tensor, grid: np.ndarray) -> paddle.Tensor:
        # Paddle's default is align_corners=True; torch's (and ours) is False
        return F.grid_sample(x, self.constant(grid), mode="bilinear", padding_mode="reflection", align_corners=False)

    def variable(self, array: np.ndarray) -> paddle.Tensor:
        var = self.constant(array)
        var.stop_gradient = False
        return var

    def recording(self) -> Any:
        return paddle.enable_grad()  # also inside the caller's paddle.no_grad(); restores the mode on exit

    def inference(self) -> Any:
        return paddle.no_grad()

    def forward(self, model: Any, layer: Any, x: paddle.Tensor) -> Any:
        if layer is None:
            return model(x)
        store: dict[str, Any] = {}

        def hook(module: paddle.nn.Layer, inputs: Any, output: Any) -> None:
            store["out"] = output
            raise _ForwardStopped  # the rest of the network is not needed

        handle = layer.register_forward_post_hook(hook)
        try:
            model(x)
        except _ForwardStopped:
            pass
        finally:
            handle.remove()
        if "out" not in store:
            raise LayerOutputError("The target layer did not run during the forward pass; pick a layer the model uses.")
        return store["out"]

    def gradient(self, loss: paddle.Tensor, variable: paddle.Tensor, retain: bool = False) -> np.ndarray:
        # paddle.grad, not backward(): no parameter .grad is written
        (grad,) = paddle.grad(loss, variable, retain_graph=retain, allow_unused=True)
        if grad is None:
            return np.zeros(tuple(variable.shape), np.float32)
        return self.numpy(grad)

    def numpy(self, x: paddle.Tensor) -> np.ndarray:
        return x.detach().cpu().astype("float32").numpy().copy()


class PaddleActMaxBackend(PaddleBackend, ActMaxBackend):
    """:class:`~visualization.paddle._backend.PaddleBackend` plus differentiation with respect to the image."""

    def tensor_ops(self, model: Any) -> PaddleTensorOps:
        param = next(iter(model.parameters()), None)
        place = param.place if param is not None else paddle.CPUPlace()
        dtype = param.dtype if param is not None and paddle.is_floating_point(param) else paddle.float32
        return PaddleTensorOps(place, dtype)


BACKEND = PaddleActMaxBackend()
