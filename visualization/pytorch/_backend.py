"""PyTorch mechanism for the core: one-call forward hooks, ``torch.autograd.grad``, tensor <-> numpy.

Read side by side with ``visualization/paddle/_backend.py``: same methods, same order.
"""

from __future__ import annotations

import pickle
import pickletools
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..core.backend import (
    Backend,
    Capture,
    channel_owner,
    iter_chunks,
    live_channels,
    no_gradient_path,
    progress_bar,
)
from ..core.errors import GradientModeError, LayerOutputError, TargetError
from ..core.outputs import describe_output, output_hint
from ..core.targets import resolve_indices
from ..models.checkpoint import CheckpointFormatError, UnsafeCheckpointError


def outside_inference_mode() -> AbstractContextManager[Any]:
    """``torch.inference_mode(False)`` when the caller is inside ``torch.inference_mode()``, else nothing.

    Inside inference mode autograd records nothing (``torch.enable_grad()`` does not change that) and
    every tensor made is an inference tensor, which autograd refuses to save. Leaving inference mode
    for the length of one call lets the gradient methods run there as they do under ``torch.no_grad()``;
    the caller's mode is back on exit.
    """
    return torch.inference_mode(False) if torch.is_inference_mode_enabled() else nullcontext()


@contextmanager
def recording_allowed() -> Iterator[None]:
    """Context (and decorator) of every method that differentiates: :func:`outside_inference_mode`, and
    autograd's refusal of inference tensors (a model whose parameters were created inside
    ``torch.inference_mode()``) turned into a :class:`GradientModeError` that says what to do."""
    with outside_inference_mode():
        try:
            yield
        except RuntimeError as exc:
            if "Inference tensors cannot be saved for backward" not in str(exc):
                raise
            raise GradientModeError(
                "Gradients cannot be recorded through this model: some of its parameters or buffers are "
                "inference tensors (created or loaded inside torch.inference_mode()). Gradient methods "
                "(Grad-CAM and its family, saliency, layer gradients) need ordinary tensors: create and load "
                "the model outside torch.inference_mode() (use torch.no_grad() to save memory instead), or "
                "replace its tensors with clones made outside it."
            ) from exc


class TorchBackend(Backend):
    name = "torch"
    model_type = "torch.nn.Module"

    def is_model(self, obj: Any) -> bool:
        return isinstance(obj, nn.Module)

    def named_layers(self, model: Any) -> list[tuple[str, Any]]:
        return [(n, m) for n, m in model.named_modules() if n]

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, torch.Tensor)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().to("cpu", torch.float32).numpy().copy()

    def tensor_facts(self, x: Any) -> tuple[tuple[int, ...], bool, bool]:
        is_float = bool(x.is_floating_point())
        # one float64 reduction instead of an element-wise isfinite pass: NaN and inf propagate
        finite = bool(torch.isfinite(x.sum(dtype=torch.float64))) if is_float else True
        return tuple(x.shape), is_float, finite

    def to_model_input(self, model: Any, x: Any) -> Any:
        param = next(model.parameters(), None)
        device = param.device if param is not None else x.device
        dtype = param.dtype if param is not None and param.is_floating_point() else x.dtype
        # detach: never build a graph into the user's tensor; copy: a model that modifies its input
        # in place (a leading ReLU(inplace=True)) must not write into the caller's tensor. The copy is
        # plain contiguous NCHW whatever the caller's layout (channels-last, a transposed numpy array,
        # a strided slice): a model that calls x.view(...) then works, also on the batches of masked,
        # noisy or perturbed copies built from it. Made outside inference mode, it is a normal tensor
        # that gradient methods can record through.
        with outside_inference_mode():
            x = x.detach().to(device=device, dtype=dtype, copy=True, memory_format=torch.contiguous_format)
        return x.unsqueeze(0) if x.dim() == 3 else x

    @contextmanager
    def eval_mode(self, model: Any) -> Iterator[None]:
        # Only modules in train mode are switched (and switched back): Module.__setattr__ is slow
        # and most models arrive in eval mode already.
        switched = [m for m in model.modules() if m.training]
        for m in switched:
            m.training = False
        try:
            yield
        finally:
            for m in switched:
                m.training = True

    def conv_in_channels(self, layer: Any) -> int | None:
        return layer.in_channels if isinstance(layer, nn.Conv2d) else None

    def conv_kernel(self, layer: Any) -> np.ndarray | None:
        if not isinstance(layer, nn.Conv2d):
            return None
        return self.to_numpy(layer.weight)

    @recording_allowed()
    def capture_many(
        self, model: Any, x: Any, layer_names: Sequence[str], layers: Sequence[Any], target: Any, need_grad: bool
    ) -> list[Capture]:
        store: dict[int, torch.Tensor] = {}

        def make_hook(i: int) -> Any:
            def hook(module: nn.Module, inputs: Any, output: Any) -> Any:
                _check_spatial(layer_names[i], output, i in store)
                if not need_grad:
                    store[i] = output.detach().clone()  # a following in-place op must not change it
                    return None
                # Everything up to the first hooked layer ran without recording a graph (as fast as a
                # plain forward); from there on autograd records. The first layer's output becomes a leaf
                # where the gradient stops (frozen parameters do not matter); a later layer downstream of
                # it is kept in the graph so the gradient reaches the earlier one. The clone lets a
                # following in-place op run.
                torch.set_grad_enabled(True)
                act = output if output.requires_grad else output.detach().requires_grad_(True)
                store[i] = act
                return act.clone()

            return hook

        handles = [layer.register_forward_hook(make_hook(i)) for i, layer in enumerate(layers)]
        try:
            with torch.no_grad():  # restores the caller's grad mode on exit, also after an exception
                outputs = model(x)
        finally:
            for handle in handles:
                handle.remove()
        for i, name in enumerate(layer_names):
            if i not in store:
                raise LayerOutputError(
                    f"Layer {name!r} did not run during the forward pass; pick a layer the model uses."
                )
        acts = [store[i] for i in range(len(layers))]
        scores = outputs.detach() if isinstance(outputs, torch.Tensor) else None
        scores_np = self.to_numpy(scores) if scores is not None else np.zeros((0,), np.float32)
        targets: np.ndarray | None = None
        grads_np: list[np.ndarray | None] = [None] * len(acts)
        if need_grad:
            # The caller may be inside torch.no_grad(): the score selection must be recorded, and
            # autograd.grad finds no graph with grad mode off.
            with torch.enable_grad():
                n = acts[0].shape[0]
                if callable(target):
                    selected = target(outputs)
                    if not isinstance(selected, torch.Tensor) or tuple(selected.shape) != (n,):
                        raise TargetError(
                            f"A callable target_class must return one score per sample, a tensor of shape "
                            f"({n},); it returned {_describe(selected)}."
                        )
                else:
                    targets = resolve_indices(target, _scores_2d(scores_np, outputs))
                    index = torch.as_tensor(targets, device=outputs.device).unsqueeze(1)
                    selected = outputs.gather(1, index).squeeze(1)
                grads = torch.autograd.grad(selected.sum(), acts, allow_unused=True)
                grads_np = [
                    no_gradient_path(name, tuple(a.shape)) if g is None else self.to_numpy(g)
                    for name, a, g in zip(layer_names, acts, grads)
                ]
        elif target is not None or scores_np.ndim == 2:
            if not callable(target):
                targets = resolve_indices(target, _scores_2d(scores_np, outputs))
        return [
            Capture(name, self.to_numpy(a), g, scores_np, targets) for name, a, g in zip(layer_names, acts, grads_np)
        ]

    def ablation_scores(
        self,
        model: Any,
        feed: Any,
        layer_name: str,
        layer: Any,
        activation: np.ndarray,
        channels: np.ndarray,
        targets: np.ndarray,
        batch_size: int,
        progress: bool,
        repeat_feed: bool,
        owner: np.ndarray | None = None,
    ) -> np.ndarray:
        base = torch.from_numpy(np.ascontiguousarray(activation[None])).to(device=feed.device, dtype=feed.dtype)
        owner_np = channel_owner(activation, owner)
        own = torch.from_numpy(owner_np).to(feed.device).unsqueeze(0)
        chans = torch.from_numpy(np.asarray(channels, np.int64)).to(feed.device)
        score = targets if callable(targets) else None  # a target object's scorer: (outputs, samples) -> (B, T)
        cls = None if score else torch.from_numpy(np.asarray(targets, np.int64)).to(feed.device)
        out = torch.empty((len(channels), len(targets)), dtype=torch.float32, device=feed.device)
        current: dict[str, torch.Tensor] = {}
        # The layer's own computation is skipped, not just its output replaced: its instance gets a
        # forward that returns the current batch (removed in `finally`, the class's forward is untouched).
        had_own = "forward" in layer.__dict__
        own_forward = layer.__dict__.get("forward")
        layer.forward = lambda *args, **kwargs: current["batch"]
        try:
            with torch.no_grad():
                for sl in progress_bar(list(iter_chunks(len(channels), batch_size)), "Ablation-CAM", progress):
                    ch = chans[sl]
                    # keep[k, ...] = 0 where the raw number feeds the ablated channel of copy k (-1: nothing ablated)
                    keep = (own != ch.view(-1, *[1] * owner_np.ndim)).to(base.dtype)
                    current["batch"] = base * keep
                    # fresh input memory per pass: a model may modify its input in place
                    inp = feed.repeat(len(ch), 1, 1, 1) if repeat_feed else feed.clone()
                    logits = model(inp)
                    if score is not None:
                        out[sl] = score(logits, np.zeros(len(ch), np.int64)).float()
                        continue
                    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != len(ch):
                        raise LayerOutputError(
                            f"the model returned {_describe(logits)} for {len(ch)} ablated copies of {layer_name!r}"
                        )
                    out[sl] = logits.float()[:, cls]
        finally:
            if had_own:
                layer.forward = own_forward
            else:
                del layer.forward
        return out.cpu().numpy()

    def linear_weights(self, layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
        if not isinstance(layer, nn.Linear):
            return None
        bias = self.to_numpy(layer.bias) if layer.bias is not None else np.zeros(layer.out_features, np.float32)
        return self.to_numpy(layer.weight), bias

    def masked_scores(
        self, model: Any, x: Any, activations: np.ndarray, targets: Any, batch_size: int, progress: bool
    ) -> np.ndarray:
        n, c, h, w = activations.shape
        score = targets if callable(targets) else None  # a target object's scorer: (outputs, samples) -> (B, T)
        t = len(targets) if score else targets.shape[1]
        weights = np.zeros((n * c, t), np.float32)
        live = live_channels(activations)
        if live.size == 0:
            return weights.reshape(n, c, t).transpose(0, 2, 1)
        maps = torch.from_numpy(activations.reshape(n * c, 1, h, w)[live]).to(device=x.device, dtype=x.dtype)
        sample = torch.from_numpy(live // c).to(x.device)
        # (live, T): every target from one pass
        cls = None if score else torch.from_numpy(targets[live // c]).to(x.device)
        out = torch.empty((live.size, t), dtype=torch.float32, device=x.device)
        size = tuple(x.shape[-2:])
        with torch.no_grad():
            for sl in progress_bar(list(iter_chunks(live.size, batch_size)), "Score-CAM", progress):
                masks = F.interpolate(maps[sl], size=size, mode="bilinear", align_corners=False)
                lo = masks.amin(dim=(2, 3), keepdim=True)
                hi = masks.amax(dim=(2, 3), keepdim=True)
                masks = (masks - lo) / (hi - lo).clamp_min(torch.finfo(masks.dtype).tiny)
                logits = model(x[sample[sl]] * masks)
                if score is not None:
                    out[sl] = score(logits, live[sl] // c).float()
                    continue
                out[sl] = torch.softmax(logits.float(), dim=1).gather(1, cls[sl])
        weights[live] = out.cpu().numpy()
        return weights.reshape(n, c, t).transpose(0, 2, 1)

    def trace_outputs(self, model: Any, x: Any) -> list[tuple[str, tuple[int, ...] | None]]:
        seen: list[tuple[str, tuple[int, ...] | None]] = []

        def make_hook(name: str) -> Any:
            def hook(module: nn.Module, inputs: Any, output: Any) -> None:
                seen.append((name, tuple(output.shape) if isinstance(output, torch.Tensor) else None))

            return hook

        handles = [m.register_forward_hook(make_hook(n)) for n, m in self.named_layers(model)]
        try:
            with torch.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
        return seen

    def from_numpy(self, model: Any, array: np.ndarray) -> Any:
        param = next(model.parameters(), None)
        device = param.device if param is not None else "cpu"
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        with outside_inference_mode():  # a normal tensor, also inside torch.inference_mode()
            return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).to(device=device, dtype=dtype)

    def predict(self, model: Any, x: Any) -> np.ndarray:
        with self.eval_mode(model), torch.no_grad():
            out = model(x)
        if not isinstance(out, torch.Tensor):
            raise TargetError(output_hint(out))
        return self.to_numpy(out)

    def read_weights(self, path: str) -> Any:
        try:
            with warnings.catch_warnings():  # a pickle not written by torch.save: the error below says enough
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            # torch's message advises re-running with weights_only=False: never pass that on.
            raise _refused_by_torch(str(exc)) from None

    def state_shapes(self, model: Any) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in model.state_dict().items()}

    def apply_weights(self, model: Any, state: dict[str, Any]) -> None:
        model.load_state_dict(
            {k: torch.as_tensor(np.asarray(v)) if not torch.is_tensor(v) else v for k, v in state.items()}
        )

    def own_parameter_count(self, layer: Any) -> int:
        return sum(p.numel() for p in layer.parameters(recurse=False))


def _check_spatial(layer_name: str, output: Any, seen_before: bool) -> None:
    if seen_before:
        raise LayerOutputError(
            f"Layer {layer_name!r} ran more than once in one forward pass (a shared module), so its output "
            "is ambiguous. Choose a layer that runs once per forward pass."
        )
    if not isinstance(output, torch.Tensor) or output.dim() not in (3, 4):
        raise LayerOutputError(
            f"Layer {layer_name!r} must output a 4-D (N, C, h, w) tensor, or a token sequence (N, 1 + h*w, C) / "
            f"(N, h, w, C) read through reshape_transform; it returned {_describe(output)}. "
            "Choose a convolutional layer or block (cnnvis layers lists the output shapes)."
        )


def _describe(obj: Any) -> str:
    return describe_output(obj)


def _scores_2d(scores_np: np.ndarray, outputs: Any) -> np.ndarray:
    if not isinstance(outputs, torch.Tensor):
        raise TargetError(
            f"{output_hint(outputs)} A class index cannot be picked from it; a callable target_class that maps "
            "the outputs to one score per sample works too."
        )
    return scores_np


BACKEND = TorchBackend()


def _refused_by_torch(message: str) -> Exception:
    """What ``torch.load(weights_only=True)`` refused, in our words: never torch's advice to load unsafely.

    A global it names, or a real pickle opcode it does not allow, is an :class:`UnsafeCheckpointError`;
    anything else (bytes that are no pickle opcode, a truncated stream) a :class:`CheckpointFormatError`.
    """
    found = re.search(r"GLOBAL ([\w.]+)", message)
    if found:
        return UnsafeCheckpointError(
            f"the pickle names '{found.group(1)}', which a state dict of tensors never does; nothing in the file was run"
        )
    operand = re.search(r"Unsupported operand (\d+)", message)
    if operand and int(operand.group(1)) < 256 and chr(int(operand.group(1))) in _PICKLE_OPCODES:
        return UnsafeCheckpointError(
            "the pickle uses features a torch state dict never needs (not written by torch.save); "
            "nothing in the file was run"
        )
    return CheckpointFormatError("not a torch checkpoint (torch's restricted unpickler could not read it)")


_PICKLE_OPCODES = frozenset(op.code for op in pickletools.opcodes)
