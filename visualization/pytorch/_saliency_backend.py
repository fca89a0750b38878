"""PyTorch mechanism for the saliency methods: input gradients with ``torch.autograd.grad``, modified
ReLU backward passes through a ``TorchFunctionMode`` that lives for one forward pass, and batched
occluded copies built on the model's device.

Read side by side with ``visualization/paddle/_saliency_backend.py``: same methods, same order.
"""

from __future__ import annotations

import warnings
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from ..core.backend import iter_chunks, progress_bar, shape_text
from ..core.errors import TargetError
from ..core.saliency import GradientPass, IntegrationPath, OcclusionPlan, SaliencyBackend, select_targets
from ._backend import BACKEND, recording_allowed


# ----------------------------------------------------------------------------- modified ReLUs
class _GuidedReLU(torch.autograd.Function):
    """``max(x, 0)`` whose backward is ``relu(g) * [y > 0]`` (Guided Backprop)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.relu(grad) * (y > 0).to(grad.dtype)


class _DeconvReLU(torch.autograd.Function):
    """``max(x, 0)`` whose backward is ``relu(g)`` (Deconvolution)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return torch.relu(grad)


_OUT_OF_PLACE = {torch.relu, torch.Tensor.relu}
_IN_PLACE = {torch.relu_, torch.Tensor.relu_}  # F.relu_ is torch.relu_


class _ReluOverride(TorchFunctionMode):
    """Routes every ReLU call of one forward pass to a modified-backward ``autograd.Function``.

    Catches ``torch.relu``, ``torch.relu_``, ``Tensor.relu``, ``Tensor.relu_`` and ``F.relu`` (which
    ``nn.ReLU`` calls, with its ``inplace`` flag); every other function runs unchanged (a mode is
    switched off inside its own handler). An in-place call writes the result into its argument with
    ``copy_``, so code that relies on the side effect still sees it and autograd records the write.
    """

    def __init__(self, fn: type[torch.autograd.Function]) -> None:
        super().__init__()
        self.fn = fn
        self.calls = 0

    def __torch_function__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if func is F.relu:
            inplace = bool(kwargs.get("inplace", args[1] if len(args) > 1 else False))
        elif func in _OUT_OF_PLACE:
            inplace = False
        elif func in _IN_PLACE:
            inplace = True
        else:
            return func(*args, **kwargs)
        x = kwargs.get("input", args[0] if args else None)
        self.calls += 1
        y = self.fn.apply(x)
        if inplace:
            x.copy_(y)
            return x
        return y


def _relu_override(relu_mode: str | None) -> AbstractContextManager[Any]:
    """The mode for ``relu_mode`` (entering it gives the mode, whose ``calls`` counts the ReLUs it
    changed), or a context that gives ``None``."""
    if relu_mode is None:
        return nullcontext()
    if relu_mode == "guided":
        return _ReluOverride(_GuidedReLU)
    if relu_mode == "deconv":
        return _ReluOverride(_DeconvReLU)
    raise ValueError(f"relu_mode must be None, 'guided' or 'deconv'; got {relu_mode!r}.")


# ----------------------------------------------------------------------------- backend
class TorchSaliencyBackend(SaliencyBackend):
    base = BACKEND

    def forward_scores(self, model: Any, x: Any, target: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        with torch.no_grad():
            outputs = model(x)
            n = x.shape[0]
            selected, idx = _select(outputs, target, np.arange(n), n)
        scores_np = BACKEND.to_numpy(outputs) if isinstance(outputs, torch.Tensor) else np.zeros((0,), np.float32)
        return BACKEND.to_numpy(selected), scores_np, idx

    @recording_allowed()
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
        grads = torch.zeros_like(x) if path is not None else torch.empty_like(x)
        if path is not None:
            alphas = torch.from_numpy(path.alphas).to(x)
            weights = torch.from_numpy(path.weights).to(x)
            baseline = torch.from_numpy(path.baseline).to(x)
        outputs: list[np.ndarray] = []
        targets: list[np.ndarray] = []
        reached, relu_calls = False, 0
        for sl in progress_bar(chunks, "Integrated Gradients" if path is not None else "gradients", progress):
            k = torch.arange(sl.start, sl.stop, device=x.device)
            rows = k % n  # points are step-major: point k is step k // n of sample k % n
            if path is None:
                pts = x[sl]
            else:
                step = k // n
                b = baseline if baseline.shape[0] == 1 else baseline[rows]
                pts = b + alphas[step].view(-1, 1, 1, 1) * (x[rows] - b)
            leaf = pts.detach().requires_grad_(True)
            # The caller may be inside torch.no_grad(); the graph must be recorded. The clone lets a
            # model that starts with an in-place op (ReLU(inplace=True) on its input) run.
            with torch.enable_grad():
                with _relu_override(relu_mode) as mode:
                    out = model(leaf.clone())
                relu_calls += mode.calls if mode is not None else 0
                selected, idx = _select(out, target, rows.cpu().numpy(), n)
                (grad,) = torch.autograd.grad(selected.sum(), leaf, allow_unused=True)
            if grad is None:
                grad = torch.zeros_like(leaf)
            else:
                reached = True
            if path is None:
                grads[sl] = grad
                outputs.append(BACKEND.to_numpy(out.detach()))
                if idx is not None:
                    targets.append(idx)
            else:
                grads.index_add_(0, rows, grad * weights[step].view(-1, 1, 1, 1))
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
        boxes = torch.from_numpy(plan.boxes).to(x.device)
        baseline = torch.from_numpy(plan.baseline).to(x)
        ranges = [torch.arange(d, device=x.device) for d in (c, h, w)]
        out = np.empty(n * p, np.float32)
        with torch.no_grad():
            for sl in progress_bar(list(iter_chunks(n * p, batch_size)), "Occlusion", progress):
                k = torch.arange(sl.start, sl.stop, device=x.device)
                rows, box = k // p, boxes[k % p]  # copies are sample-major: copy k is box k % p of sample k // p
                inside = [(r >= box[:, a, :1]) & (r < box[:, a, 1:]) for a, r in enumerate(ranges)]  # (B, size)
                mask = inside[0][:, :, None, None] & inside[1][:, None, :, None] & inside[2][:, None, None, :]
                b = baseline if baseline.shape[0] == 1 else baseline[rows]
                selected, _ = _select(model(torch.where(mask, b, x[rows])), target, rows.cpu().numpy(), n)
                out[sl] = BACKEND.to_numpy(selected)
        return out.reshape(n, p)


def _select(outputs: Any, target: Any, rows: np.ndarray, n: int) -> tuple[torch.Tensor, np.ndarray | None]:
    """The target score of every row of ``outputs`` and the class indices used (``None`` for a callable)."""
    if callable(target):
        selected = target(outputs)
        if not isinstance(selected, torch.Tensor) or tuple(selected.shape) != (len(rows),):
            raise TargetError(
                f"A callable target_class must return one score per sample, a tensor of shape ({len(rows)},); "
                f"it returned {_describe(selected)}."
            )
        return selected, None
    if not isinstance(outputs, torch.Tensor):
        raise TargetError(
            f"The model returned {_describe(outputs)}, not a (N, num_classes) tensor, so a class index "
            "cannot be picked. Pass target_class as a callable that maps the outputs to one score per sample."
        )
    idx = select_targets(target, BACKEND.to_numpy(outputs), rows, n)
    index = torch.from_numpy(idx).to(outputs.device).unsqueeze(1)
    return outputs.gather(1, index).squeeze(1), idx


def _describe(obj: Any) -> str:
    if isinstance(obj, torch.Tensor):
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
        f"relu_mode={relu_mode!r}: the forward pass called no ReLU (nn.ReLU, F.relu, torch.relu or their "
        "in-place forms), so the result is the plain gradient. Other activations (clamp, ReLU6, GELU, ...) "
        "keep their ordinary backward.",
        RuntimeWarning,
        stacklevel=5,
    )


SALIENCY_BACKEND = TorchSaliencyBackend()
