"""PaddlePaddle mechanism for the saliency methods: input gradients with ``paddle.grad``, modified
ReLU backward passes (``PyLayer``) installed for one forward pass, and batched occluded copies built
on the model's device.

Read side by side with ``visualization/pytorch/_saliency_backend.py``: same methods, same order.

Paddle has no equivalent of torch's ``TorchFunctionMode``, so the ReLUs are reached two ways, both
undone in ``finally``: ``paddle.nn.functional.relu`` / ``relu_`` (and the same functions in
``paddle.nn.functional.activation``) are swapped for the duration of the forward pass, which covers
``F.relu(x)`` calls and ``paddle.nn.ReLU`` layers (their ``forward`` calls ``F.relu``); a forward post
hook on every ``paddle.nn.ReLU`` layer replaces an output that did not come from the swapped function
(should a Paddle release stop calling it). A ``relu`` bound to a name at import time
(``from paddle.nn.functional import relu``) cannot be reached; :func:`unreachable_relus` finds layers
whose ``forward`` uses such a name, and they get a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn
from paddle.autograd import PyLayer

from ..core.backend import iter_chunks, progress_bar, shape_text
from ..core.errors import TargetError
from ..core.saliency import GradientPass, IntegrationPath, OcclusionPlan, SaliencyBackend, select_targets
from ._backend import BACKEND, exact_layer_norm_grads

_ACTIVATION = paddle.nn.functional.activation
#: The functions as Paddle defines them, captured at import: what the swap puts back.
_RELU = _ACTIVATION.relu
_RELU_ = _ACTIVATION.relu_
_SWAPPED = ((F, "relu"), (F, "relu_"), (_ACTIVATION, "relu"), (_ACTIVATION, "relu_"))


# ----------------------------------------------------------------------------- modified ReLUs
class _GuidedReLU(PyLayer):
    """``max(x, 0)`` whose backward is ``relu(g) * [y > 0]`` (Guided Backprop)."""

    @staticmethod
    def forward(ctx: Any, x: paddle.Tensor) -> paddle.Tensor:
        y = _RELU(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: paddle.Tensor) -> paddle.Tensor:
        (y,) = ctx.saved_tensor()
        return _RELU(grad) * (y > 0).astype(grad.dtype)


class _DeconvReLU(PyLayer):
    """``max(x, 0)`` whose backward is ``relu(g)`` (Deconvolution)."""

    @staticmethod
    def forward(ctx: Any, x: paddle.Tensor) -> paddle.Tensor:
        return _RELU(x)

    @staticmethod
    def backward(ctx: Any, grad: paddle.Tensor) -> paddle.Tensor:
        return _RELU(grad)


class _Override:
    """What one forward pass with modified ReLUs did: the function and a count of the calls changed."""

    def __init__(self, fn: type[PyLayer]) -> None:
        self.fn = fn
        self.calls = 0
        self.produced: set[int] = set()  # ids of outputs made here (alive during the forward pass)

    def relu(self, x: paddle.Tensor, name: str | None = None) -> paddle.Tensor:
        self.calls += 1
        y = self.fn.apply(x)
        self.produced.add(id(y))
        return y

    def relu_(self, x: paddle.Tensor, name: str | None = None) -> paddle.Tensor:
        # in place, as F.relu_: the result is written into x (recorded by autograd) and x returned
        y = self.fn.apply(x)
        self.calls += 1
        paddle.assign(y, output=x)
        self.produced.add(id(x))
        return x

    def post_hook(self, layer: nn.Layer, inputs: Any, output: Any) -> Any:
        if id(output) in self.produced or not inputs:
            return None
        self.calls += 1
        return self.fn.apply(inputs[0])


@contextmanager
def _relu_override(model: Any, relu_mode: str | None) -> Iterator[_Override | None]:
    """Modified ReLUs for one forward pass; Paddle's functions and the model as found afterwards."""
    if relu_mode is None:
        yield None
        return
    if relu_mode not in ("guided", "deconv"):
        raise ValueError(f"relu_mode must be None, 'guided' or 'deconv'; got {relu_mode!r}.")
    state = _Override(_GuidedReLU if relu_mode == "guided" else _DeconvReLU)
    saved = [(module, name, getattr(module, name)) for module, name in _SWAPPED]
    handles = []
    try:
        handles = [m.register_forward_post_hook(state.post_hook) for m in _relu_layers(model)]
        for module, name, _ in saved:
            setattr(module, name, state.relu if name == "relu" else state.relu_)
        yield state
    finally:
        for module, name, original in saved:
            setattr(module, name, original)
        for h in handles:
            h.remove()


def _relu_layers(model: Any) -> list[nn.Layer]:
    return [m for m in model.sublayers(include_self=True) if isinstance(m, nn.ReLU)]


def unreachable_relus(model: Any) -> list[str]:
    """``"Class.forward uses 'name'"`` for every layer class of ``model`` whose ``forward`` refers to a
    global name bound to Paddle's ``relu`` / ``relu_`` function itself (imported by name), which the
    temporary swap cannot reach."""
    found = []
    for cls in dict.fromkeys(type(m) for m in model.sublayers(include_self=True)):
        fwd = getattr(cls, "forward", None)
        code, scope = getattr(fwd, "__code__", None), getattr(fwd, "__globals__", None)
        if code is None or scope is None or cls.__module__.startswith("paddle."):
            continue
        for name in code.co_names:
            if scope.get(name) is _RELU or scope.get(name) is _RELU_:
                found.append(f"{cls.__qualname__}.forward uses {name!r}")
    return found


# ----------------------------------------------------------------------------- backend
class PaddleSaliencyBackend(SaliencyBackend):
    base = BACKEND

    def forward_scores(self, model: Any, x: Any, target: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        with paddle.no_grad():
            outputs = model(x)
            n = x.shape[0]
            selected, idx = _select(outputs, target, np.arange(n), n)
        scores_np = BACKEND.to_numpy(outputs) if isinstance(outputs, paddle.Tensor) else np.zeros((0,), np.float32)
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
        grads = paddle.zeros_like(x)
        if path is not None:
            alphas = paddle.to_tensor(path.alphas, dtype=x.dtype, place=x.place)
            weights = paddle.to_tensor(path.weights, dtype=x.dtype, place=x.place)
            baseline = paddle.to_tensor(path.baseline, dtype=x.dtype, place=x.place)
        if relu_mode is not None:
            for where in unreachable_relus(model):
                _unreachable_warning(where, relu_mode)
        outputs: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        reached, relu_calls = False, 0
        for sl in progress_bar(chunks, "Integrated Gradients" if path is not None else "gradients", progress):
            k = np.arange(sl.start, sl.stop)
            rows_np = k % n  # points are step-major: point k is step k // n of sample k % n
            rows = paddle.to_tensor(rows_np, place=x.place)
            if path is None:
                pts = x[sl]
            else:
                step = paddle.to_tensor(k // n, place=x.place)
                b = baseline if baseline.shape[0] == 1 else paddle.gather(baseline, rows)
                pts = b + paddle.gather(alphas, step).reshape([-1, 1, 1, 1]) * (paddle.gather(x, rows) - b)
            leaf = pts.detach()
            leaf.stop_gradient = False
            # The caller may be inside paddle.no_grad(); the graph must be recorded. The clone lets a
            # model that starts with an in-place op (F.relu_ on its input) run.
            with paddle.enable_grad():
                with _relu_override(model, relu_mode) as mode, exact_layer_norm_grads(model):
                    out = model(leaf.clone())
                relu_calls += mode.calls if mode is not None else 0
                selected, idx = _select(out, target, rows_np, n)
                (grad,) = paddle.grad(selected.sum(), leaf, allow_unused=True)
            if grad is None:
                grad = paddle.zeros_like(leaf)
            else:
                reached = True
            if path is None:
                grads[sl] = grad
                outputs.append(BACKEND.to_numpy(out.detach()))
                if idx is not None:
                    targets.append(idx)
            else:
                weighted = grad * paddle.gather(weights, step).reshape([-1, 1, 1, 1])
                grads = paddle.index_add(grads, rows, 0, weighted)
        if not reached:
            _no_gradient_warning()
        if relu_mode is not None and relu_calls == 0:
            _no_relu_warning(relu_mode)
        return GradientPass(
            BACKEND.to_numpy(grads),
            np.concatenate(outputs) if path is None else None,
            np.concatenate(targets) if targets else None,
        )

    def batched_scores(
        self, model: Any, x: Any, plan: OcclusionPlan, target: Any, batch_size: int, progress: bool
    ) -> np.ndarray:
        n, c, h, w = (int(d) for d in x.shape)
        p = int(plan.boxes.shape[0])
        boxes = paddle.to_tensor(plan.boxes, place=x.place)
        baseline = paddle.to_tensor(plan.baseline, dtype=x.dtype, place=x.place)
        ranges = [paddle.to_tensor(np.arange(d), place=x.place) for d in (c, h, w)]
        out = np.empty(n * p, np.float32)
        with paddle.no_grad():
            for sl in progress_bar(list(iter_chunks(n * p, batch_size)), "Occlusion", progress):
                k = np.arange(sl.start, sl.stop)
                rows_np = k // p  # copies are sample-major: copy k is box k % p of sample k // p
                rows = paddle.to_tensor(rows_np, place=x.place)
                box = paddle.gather(boxes, paddle.to_tensor(k % p, place=x.place))
                inside = [(r >= box[:, a, :1]) & (r < box[:, a, 1:]) for a, r in enumerate(ranges)]  # (B, size)
                mask = inside[0][:, :, None, None] & inside[1][:, None, :, None] & inside[2][:, None, None, :]
                b = baseline if baseline.shape[0] == 1 else paddle.gather(baseline, rows)
                selected, _ = _select(model(paddle.where(mask, b, paddle.gather(x, rows))), target, rows_np, n)
                out[sl] = BACKEND.to_numpy(selected)
        return out.reshape(n, p)


def _select(outputs: Any, target: Any, rows: np.ndarray, n: int) -> tuple[paddle.Tensor, np.ndarray | None]:
    """The target score of every row of ``outputs`` and the class indices used (``None`` for a callable)."""
    if callable(target):
        selected = target(outputs)
        if not isinstance(selected, paddle.Tensor) or tuple(selected.shape) != (len(rows),):
            raise TargetError(
                f"A callable target_class must return one score per sample, a tensor of shape ({len(rows)},); "
                f"it returned {_describe(selected)}."
            )
        return selected, None
    if not isinstance(outputs, paddle.Tensor):
        raise TargetError(
            f"The model returned {_describe(outputs)}, not a (N, num_classes) tensor, so a class index "
            "cannot be picked. Pass target_class as a callable that maps the outputs to one score per sample."
        )
    idx = select_targets(target, BACKEND.to_numpy(outputs), rows, n)
    index = paddle.to_tensor(idx, place=outputs.place).unsqueeze(1)
    return paddle.take_along_axis(outputs, index, axis=1).squeeze(1), idx


def _describe(obj: Any) -> str:
    if isinstance(obj, paddle.Tensor):
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
        f"relu_mode={relu_mode!r}: the forward pass called no ReLU (paddle.nn.ReLU, F.relu or F.relu_), so "
        "the result is the plain gradient. Other activations (clip, ReLU6, GELU, ...) keep their ordinary "
        "backward.",
        RuntimeWarning,
        stacklevel=5,
    )


def _unreachable_warning(where: str, relu_mode: str) -> None:
    warnings.warn(
        f"relu_mode={relu_mode!r}: {where}, a name bound to paddle.nn.functional.relu at import time, so "
        "those ReLUs keep their ordinary backward and the result mixes plain and modified ReLUs. Call it "
        "through the module (import paddle.nn.functional as F; F.relu(x)) or use paddle.nn.ReLU layers.",
        RuntimeWarning,
        stacklevel=5,
    )


SALIENCY_BACKEND = PaddleSaliencyBackend()
