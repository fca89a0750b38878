"""PyTorch mechanism for activation maximization: the primitives of
:class:`visualization.core.activation_max.GradientOps` with ``torch.fft``, ``grid_sample`` and
``torch.autograd.grad``.

Read side by side with ``visualization/paddle/_actmax_backend.py``: same classes, same method order.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..core.activation_max import ActMaxBackend, _ForwardStopped
from ..core.errors import LayerOutputError
from ._backend import TorchBackend, outside_inference_mode, recording_allowed


class TorchTensorOps:
    """:class:`~visualization.core.activation_max.GradientOps` on one device and floating dtype."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device, self.dtype = device, dtype

    def constant(self, array: np.ndarray) -> torch.Tensor:
        with outside_inference_mode():  # a normal tensor, usable in the recorded graph
            return torch.from_numpy(np.ascontiguousarray(array)).to(device=self.device, dtype=self.dtype)

    def sigmoid(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(x)

    def irfft2(self, re: torch.Tensor, im: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return torch.fft.irfft2(torch.complex(re, im), s=size, norm="ortho")

    def mix_channels(self, x: torch.Tensor, matrix: np.ndarray) -> torch.Tensor:
        return torch.einsum("ck,nkhw->nchw", self.constant(matrix), x)

    def grid_sample(self, x: torch.Tensor, grid: np.ndarray) -> torch.Tensor:
        return F.grid_sample(x, self.constant(grid), mode="bilinear", padding_mode="reflection", align_corners=False)

    def variable(self, array: np.ndarray) -> torch.Tensor:
        return self.constant(array).requires_grad_(True)

    @contextmanager
    def recording(self) -> Iterator[None]:
        # also inside the caller's torch.no_grad() or torch.inference_mode(); restores the mode on exit
        with recording_allowed(), torch.enable_grad():
            yield

    def inference(self) -> Any:
        return torch.no_grad()

    def forward(self, model: Any, layer: Any, x: torch.Tensor) -> Any:
        if layer is None:
            return model(x)
        store: dict[str, Any] = {}

        def hook(module: torch.nn.Module, inputs: Any, output: Any) -> None:
            store["out"] = output
            raise _ForwardStopped  # the rest of the network is not needed

        handle = layer.register_forward_hook(hook)
        try:
            model(x)
        except _ForwardStopped:
            pass
        finally:
            handle.remove()
        if "out" not in store:
            raise LayerOutputError("The target layer did not run during the forward pass; pick a layer the model uses.")
        return store["out"]

    def gradient(self, loss: torch.Tensor, variable: torch.Tensor, retain: bool = False) -> np.ndarray:
        # autograd.grad, not backward(): only the path to the image is differentiated, no .grad is written
        (grad,) = torch.autograd.grad(loss, variable, retain_graph=retain, allow_unused=True)
        if grad is None:
            return np.zeros(tuple(variable.shape), np.float32)
        return self.numpy(grad)

    def numpy(self, x: torch.Tensor) -> np.ndarray:
        return x.detach().to("cpu", torch.float32).numpy().copy()


class TorchActMaxBackend(TorchBackend, ActMaxBackend):
    """:class:`~visualization.pytorch._backend.TorchBackend` plus differentiation with respect to the image."""

    def tensor_ops(self, model: Any) -> TorchTensorOps:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        return TorchTensorOps(device, dtype)


BACKEND = TorchActMaxBackend()
