"""PaddlePaddle facts for the structure view and the TensorBoard logger: traced calls, parameters, outputs.

Read side by side with ``visualization/pytorch/_structure.py``: same methods, same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import paddle
from paddle import nn
from paddle.nn.layer.norm import _BatchNormBase

from ..core.structure import LayerGeometry, ModelFacts, Trace, TracedCall
from ._backend import BACKEND

_RESAMPLE = (nn.Conv2DTranspose, nn.Upsample, nn.UpsamplingBilinear2D, nn.PixelShuffle, nn.PixelUnshuffle)
_ADAPTIVE = (nn.AdaptiveAvgPool2D, nn.AdaptiveMaxPool2D)
_BATCH_NORMS = (_BatchNormBase, nn.BatchNorm)


def _two(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def geometry(layer: Any) -> LayerGeometry | None:
    """Kernel, stride and dilation of a 2-D convolution or pooling (padding does not change the field)."""
    if isinstance(layer, _RESAMPLE):
        return LayerGeometry("resample")
    if isinstance(layer, _ADAPTIVE):
        return LayerGeometry("adaptive")
    if isinstance(layer, nn.Conv2D):
        return LayerGeometry("window", _two(layer._kernel_size), _two(layer._stride), _two(layer._dilation))
    if isinstance(layer, nn.MaxPool2D | nn.AvgPool2D):
        stride = layer.ksize if layer.stride is None else layer.stride
        return LayerGeometry("window", _two(layer.ksize), _two(stride))
    return None


def _first_tensor(inputs: Any) -> paddle.Tensor | None:
    for t in inputs if isinstance(inputs, tuple | list) else (inputs,):
        if isinstance(t, paddle.Tensor):
            return t
    return None


def _statistics(layer: Any) -> set[int]:
    """Identities of a BatchNorm's running mean and variance, which Paddle keeps as parameters."""
    if not isinstance(layer, _BATCH_NORMS):
        return set()
    return {id(getattr(layer, a)) for a in ("_mean", "_variance") if getattr(layer, a, None) is not None}


class PaddleFacts(ModelFacts):
    name = "paddle"

    def trace(self, model: Any, x: Any) -> Trace:
        calls: list[TracedCall] = []
        keep: list[paddle.Tensor] = [x]  # every tensor stays alive during the trace, so no id() is reused
        pending: dict[int, list[tuple[int | None, tuple[int, ...] | None]]] = {}

        def pre_hook(layer: nn.Layer, inputs: Any) -> None:
            t = _first_tensor(inputs)
            if t is not None:
                keep.append(t)
            pending.setdefault(id(layer), []).append((id(t), tuple(t.shape)) if t is not None else (None, None))

        def make_post_hook(name: str, leaf: bool, geo: LayerGeometry | None) -> Any:
            def hook(layer: nn.Layer, inputs: Any, output: Any) -> None:
                in_id, in_shape = pending[id(layer)].pop()
                is_tensor = isinstance(output, paddle.Tensor)
                if is_tensor:
                    keep.append(output)
                calls.append(
                    TracedCall(
                        name,
                        type(layer).__name__,
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
            for name, layer in BACKEND.named_layers(model):
                leaf = next(iter(layer.children()), None) is None
                handles.append(layer.register_forward_pre_hook(pre_hook))
                handles.append(layer.register_forward_post_hook(make_post_hook(name, leaf, geometry(layer))))
            with BACKEND.eval_mode(model), paddle.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
        return Trace(id(x), tuple(x.shape), tuple(calls))

    def parameter_counts(self, model: Any) -> dict[str, tuple[int, int]]:
        seen: set[int] = set()
        out: dict[str, tuple[int, int]] = {}
        for name, layer in model.named_sublayers(include_self=True):
            skip = _statistics(layer)
            total = trainable = 0
            for p in layer.parameters(include_sublayers=False):
                if id(p) in seen or id(p) in skip:  # a shared parameter counts once; statistics are buffers
                    continue
                seen.add(id(p))
                n = int(np.prod(p.shape))
                total += n
                trainable += 0 if p.stop_gradient else n
            out[name] = (total, trainable)
        return out

    def parameter_arrays(self, model: Any) -> list[tuple[str, np.ndarray]]:
        skip: set[int] = set()
        for layer in model.sublayers(include_self=True):
            skip |= _statistics(layer)
        return [(name, BACKEND.to_numpy(p)) for name, p in model.named_parameters() if id(p) not in skip]

    def capture_outputs(self, model: Any, x: Any, names: Sequence[str]) -> dict[str, list[np.ndarray]]:
        layers = dict(BACKEND.named_layers(model))
        out: dict[str, list[np.ndarray]] = {n: [] for n in names}

        def make_hook(name: str) -> Any:
            def hook(layer: nn.Layer, inputs: Any, output: Any) -> None:
                if isinstance(output, paddle.Tensor):  # copied now: a later in-place op must not change it
                    out[name].append(BACKEND.to_numpy(output))

            return hook

        handles = []
        try:
            for name in names:
                handles.append(layers[name].register_forward_post_hook(make_hook(name)))
            with BACKEND.eval_mode(model), paddle.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
        return out

    def is_relu(self, layer: Any) -> bool:
        return isinstance(layer, nn.ReLU | nn.ReLU6)

    def write_graph(self, writer: Any, model: Any, x: Any) -> bool:
        # tensorboardX builds graphs with torch.jit.trace only, and VisualDL's add_graph fails on
        # Paddle 3 (it looks for a .pdmodel file that paddle.jit.save no longer writes): no graph
        return False


FACTS = PaddleFacts()
