"""PaddlePaddle mechanism for the core: one-call forward post hooks, ``paddle.grad``, tensor <-> numpy.

Read side by side with ``visualization/pytorch/_backend.py``: same methods, same order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..core.backend import (
    Backend,
    Capture,
    channel_owner,
    iter_chunks,
    live_channels,
    no_gradient_path,
    progress_bar,
)
from ..core.errors import LayerOutputError, TargetError
from ..core.outputs import describe_output, output_hint
from ..core.targets import resolve_indices
from ..models.pdparams import load_pdparams


def _composite_layer_norm(layer: Any, x: Any) -> Any:
    axes = list(range(x.ndim - len(layer._normalized_shape), x.ndim))
    mean = x.mean(axis=axes, keepdim=True)
    centred = x - mean
    out = centred / paddle.sqrt((centred * centred).mean(axis=axes, keepdim=True) + layer._epsilon)
    if layer.weight is not None:
        out = out * layer.weight
    return out + layer.bias if layer.bias is not None else out


@contextmanager
def exact_layer_norm_grads(model: Any, enabled: bool = True, recording: bool = True) -> Iterator[dict[str, bool]]:
    """For one call, every ``nn.LayerNorm`` computes its function from elementary operations.

    Paddle 3.3.1's LayerNorm kernel gives a wrong input gradient whenever the gradient of its weight
    is not computed too: ``paddle.grad`` with respect to an activation (what every gradient method
    here asks for) or a frozen weight. Checked: an error of order 1 for a weight other than 1, while
    ``.backward()`` with trainable weights is right. The composite formula's gradient is right. The
    instances' ``forward`` is overridden and restored in ``finally``; the class is untouched.
    Yields a flag: the kernel runs while ``state["recording"]`` is false (the part of the network before
    the first hooked layer, which runs without gradients), the formula from then on.
    """
    norms = [m for m in model.sublayers(include_self=True) if isinstance(m, nn.LayerNorm)] if enabled else []
    saved = [(m, "forward" in m.__dict__, m.__dict__.get("forward")) for m in norms]
    state = {"recording": recording}

    def make(m: Any) -> Any:
        kernel = m.forward
        return lambda x: _composite_layer_norm(m, x) if state["recording"] else kernel(x)

    for m in norms:
        m.forward = make(m)
    try:
        yield state
    finally:
        for m, had_own, own in saved:
            if had_own:
                m.forward = own
            else:
                del m.forward


class PaddleBackend(Backend):
    name = "paddle"
    model_type = "paddle.nn.Layer"

    def is_model(self, obj: Any) -> bool:
        return isinstance(obj, nn.Layer)

    def named_layers(self, model: Any) -> list[tuple[str, Any]]:
        return [(n, m) for n, m in model.named_sublayers() if n]

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, paddle.Tensor)

    def to_numpy(self, x: Any) -> np.ndarray:
        return x.detach().cpu().astype("float32").numpy().copy()

    def tensor_facts(self, x: Any) -> tuple[tuple[int, ...], bool, bool]:
        is_float = bool(paddle.is_floating_point(x))
        # one float64 reduction instead of an element-wise isfinite pass: NaN and inf propagate
        finite = bool(paddle.isfinite(x.sum(dtype="float64"))) if is_float else True
        return tuple(x.shape), is_float, finite

    def to_model_input(self, model: Any, x: Any) -> Any:
        param = next(iter(model.parameters()), None)
        place = param.place if param is not None else x.place
        dtype = param.dtype if param is not None and paddle.is_floating_point(param) else x.dtype
        # detach: never build a graph into the user's tensor. Paddle's `.to` returns the very same
        # tensor when nothing changes and `detach` shares memory, so clone: an in-place op at the
        # start of the model's forward must not write into the caller's tensor. contiguous: a strided
        # view (x.transpose([0, 3, 1, 2]) of an NHWC tensor) reaches a model that calls x.view(...) as
        # plain NCHW (Paddle 3.3's clone already gives that; this keeps it so).
        x = x.detach().to(device=place, dtype=dtype).clone().contiguous()
        return x.unsqueeze(0) if x.ndim == 3 else x

    @contextmanager
    def eval_mode(self, model: Any) -> Iterator[None]:
        # Only layers in train mode are switched (and switched back), flag by flag: Paddle's
        # Layer.eval() would also switch the global dygraph tracer to eval mode, a process-wide side
        # effect, and most models arrive in eval mode already.
        switched = [m for m in model.sublayers(include_self=True) if m.training]
        for m in switched:
            m.training = False
        try:
            yield
        finally:
            for m in switched:
                m.training = True

    def conv_in_channels(self, layer: Any) -> int | None:
        return layer._in_channels if isinstance(layer, nn.Conv2D) else None

    def conv_kernel(self, layer: Any) -> np.ndarray | None:
        if not isinstance(layer, nn.Conv2D):
            return None
        return self.to_numpy(layer.weight)

    def capture_many(
        self, model: Any, x: Any, layer_names: Sequence[str], layers: Sequence[Any], target: Any, need_grad: bool
    ) -> list[Capture]:
        store: dict[int, paddle.Tensor] = {}

        def make_hook(i: int) -> Any:
            def hook(module: nn.Layer, inputs: Any, output: Any) -> Any:
                _check_spatial(layer_names[i], output, i in store)
                if not need_grad:
                    store[i] = output.detach().clone()  # detach shares memory; a later in-place op must not reach it
                    return None
                # Everything up to the first hooked layer ran without recording a graph (as fast as a
                # plain forward); from there on autograd records. The first layer's output becomes a leaf
                # where the gradient stops (frozen parameters do not matter); a later layer downstream of
                # it is kept in the graph so the gradient reaches the earlier one. The clone lets a
                # following in-place op (F.relu_) run, which Paddle refuses on a leaf.
                paddle.set_grad_enabled(True)
                norms["recording"] = True
                if output.stop_gradient:
                    act = output.detach()
                    act.stop_gradient = False
                else:
                    act = output
                store[i] = act
                return act.clone()

            return hook

        handles = [layer.register_forward_post_hook(make_hook(i)) for i, layer in enumerate(layers)]
        try:
            # no_grad restores the caller's grad mode on exit, also after an exception
            with paddle.no_grad(), exact_layer_norm_grads(model, need_grad, recording=False) as norms:
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
        scores = outputs.detach() if isinstance(outputs, paddle.Tensor) else None
        scores_np = self.to_numpy(scores) if scores is not None else np.zeros((0,), np.float32)
        targets: np.ndarray | None = None
        grads_np: list[np.ndarray | None] = [None] * len(acts)
        if need_grad:
            # The caller may be inside paddle.no_grad(): the score selection must be recorded, and
            # paddle.grad finds no gradient path (returns None) with grad mode off.
            with paddle.enable_grad():
                n = acts[0].shape[0]
                if callable(target):
                    selected = target(outputs)
                    if not isinstance(selected, paddle.Tensor) or tuple(selected.shape) != (n,):
                        raise TargetError(
                            f"A callable target_class must return one score per sample, a tensor of shape "
                            f"({n},); it returned {_describe(selected)}."
                        )
                else:
                    targets = resolve_indices(target, _scores_2d(scores_np, outputs))
                    index = paddle.to_tensor(targets, place=outputs.place).unsqueeze(1)
                    selected = paddle.take_along_axis(outputs, index, axis=1).squeeze(1)
                grads = paddle.grad(selected.sum(), acts, allow_unused=True)
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
        targets: Any,
        batch_size: int,
        progress: bool,
        repeat_feed: bool,
        owner: np.ndarray | None = None,
    ) -> np.ndarray:
        base = paddle.to_tensor(np.ascontiguousarray(activation[None]), dtype=feed.dtype, place=feed.place)
        owner_np = channel_owner(activation, owner)
        own = paddle.to_tensor(owner_np, place=feed.place).unsqueeze(0)
        chans = paddle.to_tensor(np.asarray(channels, np.int64), place=feed.place)
        score = targets if callable(targets) else None  # a target object's scorer: (outputs, samples) -> (B, T)
        cls = None if score else paddle.to_tensor(np.asarray(targets, np.int64), place=feed.place)
        out = np.empty((len(channels), len(targets)), np.float32)
        current: dict[str, paddle.Tensor] = {}
        # The layer's own computation is skipped, not just its output replaced: its instance gets a
        # forward that returns the current batch (removed in `finally`, the class's forward is untouched).
        had_own = "forward" in layer.__dict__
        own_forward = layer.__dict__.get("forward")
        layer.forward = lambda *args, **kwargs: current["batch"]
        try:
            with paddle.no_grad():
                for sl in progress_bar(list(iter_chunks(len(channels), batch_size)), "Ablation-CAM", progress):
                    ch = chans[sl]
                    # keep[k, ...] = 0 where the raw number feeds the ablated channel of copy k (-1: nothing ablated)
                    keep = (own != ch.reshape([-1] + [1] * owner_np.ndim)).astype(base.dtype)
                    current["batch"] = base * keep
                    # fresh input memory per pass: a model may modify its input in place
                    inp = paddle.tile(feed, [len(ch), 1, 1, 1]) if repeat_feed else feed.clone()
                    logits = model(inp)
                    if score is not None:
                        out[sl] = score(logits, np.zeros(len(ch), np.int64)).astype("float32").cpu().numpy()
                        continue
                    if not isinstance(logits, paddle.Tensor) or logits.ndim != 2 or logits.shape[0] != len(ch):
                        raise LayerOutputError(
                            f"the model returned {_describe(logits)} for {len(ch)} ablated copies of {layer_name!r}"
                        )
                    out[sl] = paddle.index_select(logits.astype("float32"), cls, axis=1).cpu().numpy()
        finally:
            if had_own:
                layer.forward = own_forward
            else:
                del layer.forward
        return out

    def linear_weights(self, layer: Any) -> tuple[np.ndarray, np.ndarray] | None:
        if not isinstance(layer, nn.Linear):
            return None
        w = self.to_numpy(layer.weight).T  # Paddle stores (in, out)
        bias = self.to_numpy(layer.bias) if layer.bias is not None else np.zeros(w.shape[0], np.float32)
        return np.ascontiguousarray(w), bias

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
        maps = paddle.to_tensor(activations.reshape(n * c, 1, h, w)[live], dtype=x.dtype, place=x.place)
        sample = paddle.to_tensor(live // c, place=x.place)
        # (live, T): every target from one pass
        cls = None if score else paddle.to_tensor(targets[live // c], place=x.place)
        out = paddle.empty([live.size, t], dtype="float32").to(device=x.place)
        size = tuple(x.shape[-2:])
        tiny = float(paddle.finfo(x.dtype).tiny)
        with paddle.no_grad():
            for sl in progress_bar(list(iter_chunks(live.size, batch_size)), "Score-CAM", progress):
                masks = F.interpolate(maps[sl], size=size, mode="bilinear", align_corners=False)
                lo = masks.amin(axis=[2, 3], keepdim=True)
                hi = masks.amax(axis=[2, 3], keepdim=True)
                masks = (masks - lo) / paddle.clip(hi - lo, min=tiny)
                logits = model(paddle.gather(x, sample[sl]) * masks)
                if score is not None:
                    out[sl] = score(logits, live[sl] // c).astype("float32")
                    continue
                probs = F.softmax(logits.astype("float32"), axis=1)
                out[sl] = paddle.take_along_axis(probs, cls[sl], axis=1)
        weights[live] = out.cpu().numpy()
        return weights.reshape(n, c, t).transpose(0, 2, 1)

    def trace_outputs(self, model: Any, x: Any) -> list[tuple[str, tuple[int, ...] | None]]:
        seen: list[tuple[str, tuple[int, ...] | None]] = []

        def make_hook(name: str) -> Any:
            def hook(module: nn.Layer, inputs: Any, output: Any) -> None:
                seen.append((name, tuple(output.shape) if isinstance(output, paddle.Tensor) else None))

            return hook

        handles = [m.register_forward_post_hook(make_hook(n)) for n, m in self.named_layers(model)]
        try:
            with paddle.no_grad():
                model(x)
        finally:
            for h in handles:
                h.remove()
        return seen

    def from_numpy(self, model: Any, array: np.ndarray) -> Any:
        param = next(iter(model.parameters()), None)
        place = param.place if param is not None else paddle.CPUPlace()
        dtype = param.dtype if param is not None and paddle.is_floating_point(param) else "float32"
        return paddle.to_tensor(np.ascontiguousarray(array, dtype=np.float32), place=place).astype(dtype)

    def predict(self, model: Any, x: Any) -> np.ndarray:
        with self.eval_mode(model), paddle.no_grad():
            out = model(x)
        if not isinstance(out, paddle.Tensor):
            raise TargetError(output_hint(out))
        return self.to_numpy(out)

    def read_weights(self, path: str) -> Any:
        # Never paddle.load: it unpickles with pickle.load, which runs whatever the file names.
        return load_pdparams(path)

    def state_shapes(self, model: Any) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in model.state_dict().items()}

    def apply_weights(self, model: Any, state: dict[str, Any]) -> None:
        model.set_state_dict({k: v if isinstance(v, paddle.Tensor) else np.asarray(v) for k, v in state.items()})

    def own_parameter_count(self, layer: Any) -> int:
        return sum(int(np.prod(p.shape)) for p in layer.parameters(include_sublayers=False))


def _check_spatial(layer_name: str, output: Any, seen_before: bool) -> None:
    if seen_before:
        raise LayerOutputError(
            f"Layer {layer_name!r} ran more than once in one forward pass (a shared module), so its output "
            "is ambiguous. Choose a layer that runs once per forward pass."
        )
    if not isinstance(output, paddle.Tensor) or output.ndim not in (3, 4):
        raise LayerOutputError(
            f"Layer {layer_name!r} must output a 4-D (N, C, h, w) tensor, or a token sequence (N, 1 + h*w, C) / "
            f"(N, h, w, C) read through reshape_transform; it returned {_describe(output)}. "
            "Choose a convolutional layer or block (cnnvis layers lists the output shapes)."
        )


def _describe(obj: Any) -> str:
    return describe_output(obj)


def _scores_2d(scores_np: np.ndarray, outputs: Any) -> np.ndarray:
    if not isinstance(outputs, paddle.Tensor):
        raise TargetError(
            f"{output_hint(outputs)} A class index cannot be picked from it; a callable target_class that maps "
            "the outputs to one score per sample works too."
        )
    return scores_np


BACKEND = PaddleBackend()
