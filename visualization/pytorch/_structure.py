"""PyTorch facts for the structure view and the TensorBoard logger: traced calls, parameters, outputs.

Read side by side with ``visualization/paddle/_structure.py``: same methods, same order.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..core.structure import LayerGeometry, ModelFacts, Trace, TracedCall
from ._backend import BACKEND

_RESAMPLE = (nn.ConvTranspose2d, nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle)
_ADAPTIVE = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _two(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def geometry(layer: Any) -> LayerGeometry | None:
    """Kernel, stride and dilation of a 2-D convolution or pooling (padding does not change the field)."""
    if isinstance(layer, _RESAMPLE):
        return LayerGeometry("resample")
    if isinstance(layer, _ADAPTIVE):
        return LayerGeometry("adaptive")
    if isinstance(layer, nn.Conv2d):
        return LayerGeometry("window", _two(layer.kernel_size), _two(layer.stride), _two(layer.dilation))
    if isinstance(layer, nn.MaxPool2d):
        return LayerGeometry("window", _two(layer.kernel_size), _two(layer.stride), _two(layer.dilation))
    if isinstance(layer, nn.AvgPool2d):
        return LayerGeometry("window", _two(layer.kernel_size), _two(layer.stride))
    return None


def _first_tensor(inputs: Any) -> torch.Tensor | None:
    for t in inputs if isinstance(inputs, tuple | list) else (inputs,):
        if isinstance(t, torch.Tensor):
            return t
    return None


class TorchFacts(ModelFacts):
    name = "torch"

    def trace(self, model: Any, x: Any) -> Trace:
        calls: list[TracedCall] = []
        keep: list[torch.Tensor] = [x]  # every tensor stays alive during the trace, so no id() is reused
        pending: dict[int, list[tuple[int | None, tuple[int, ...] | None]]] = {}

        def pre_hook(module: nn.Module, inputs: Any) -> None:
            t = _first_tensor(inputs)
            if t is not None:
                keep.append(t)
            pending.setdefault(id(module), []).append((id(t), tuple(t.shape)) if t is not None else (None, None))

        def make_post_hook(name: str, leaf: bool, geo: LayerGeometry | None) -> Any:
            def hook(module: nn.Module, inputs: Any, output: Any) -> None:
                in_id, in_shape = pending[id(module)].pop()
                is_tensor = isinstance(output, torch.Tensor)
                if is_tensor:
                    keep.append(output)
                calls.append(
                    TracedCall(
                        name,
                        type(module).__name__,
                        leaf,
                        geo,
                        in_id,
                        in_shape,
                        id(output) if is_tensor else None,
                        tuple(output.shape) if is_tensor else None,
                    )
                )

            return hook

        handles = []
        try:
            for name, module in BACKEND.named_layers(model):
                leaf = next(iter(module.children()), None) is None
                handles.append(module.register_forward_pre_hook(pre_hook))
                handles.append(module.register_forward_hook(make_post_hook(name, leaf, geometry(module))))
            with BACKEND.eval_mode(model), torch.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
        return Trace(id(x), tuple(x.shape), tuple(calls))

    def parameter_counts(self, model: Any) -> dict[str, tuple[int, int]]:
        seen: set[int] = set()
        out: dict[str, tuple[int, int]] = {}
        for name, module in model.named_modules():
            total = trainable = 0
            for p in module.parameters(recurse=False):
                if id(p) in seen:  # a shared parameter counts once, where it first appears
                    continue
                seen.add(id(p))
                total += p.numel()
                trainable += p.numel() if p.requires_grad else 0
            out[name] = (total, trainable)
        return out

    def parameter_arrays(self, model: Any) -> list[tuple[str, np.ndarray]]:
        return [(name, BACKEND.to_numpy(p)) for name, p in model.named_parameters()]

    def capture_outputs(self, model: Any, x: Any, names: Sequence[str]) -> dict[str, list[np.ndarray]]:
        layers = dict(BACKEND.named_layers(model))
        out: dict[str, list[np.ndarray]] = {n: [] for n in names}

        def make_hook(name: str) -> Any:
            def hook(module: nn.Module, inputs: Any, output: Any) -> None:
                if isinstance(output, torch.Tensor):  # copied now: a later in-place op must not change it
                    out[name].append(BACKEND.to_numpy(output))

            return hook

        handles = []
        try:
            for name in names:
                handles.append(layers[name].register_forward_hook(make_hook(name)))
            with BACKEND.eval_mode(model), torch.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
        return out

    def is_relu(self, layer: Any) -> bool:
        return isinstance(layer, nn.ReLU | nn.ReLU6)

    def write_graph(self, writer: Any, model: Any, x: Any) -> bool:
        # tensorboardX traces the model with torch.jit.trace: in eval mode and without a graph, so
        # BatchNorm statistics and parameter gradients stay as they are
        with BACKEND.eval_mode(model), torch.no_grad(), warnings.catch_warnings():
            # torch.jit.trace is deprecated in favour of torch.export, which tensorboardX cannot read yet
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            writer.add_graph(model, x)
        return True


FACTS = TorchFacts()
