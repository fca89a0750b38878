"""Token layers: read a transformer layer's output as ``(N, C, h, w)`` maps, framework-free.

A CAM needs channel maps ``(N, C, h, w)``. Transformers produce token sequences instead:

* ViT / DeiT: ``(N, 1 + h*w, C)``, the class token first, then the ``h x w`` patch tokens row by row;
* Swin-style: ``(N, h, w, C)`` (channels last), or the same flattened to ``(N, h*w, C)``.

Reading them as maps is a slice (drop the class token) and a permutation (channels first). Both are
linear and only move numbers around, so they commute with the gradient: the gradient of the score
with respect to the reshaped map is the reshaped gradient with respect to the raw output. The
adapters therefore keep capturing the layer's raw output and its gradient, and :class:`TokenLayout`
reshapes both here. Methods that write into the activation (Ablation-CAM) need the way back:
:meth:`TokenLayout.owner` says which channel of the reshaped map each raw number belongs to (``-2``:
none, e.g. the class token), which is all that zeroing a channel needs.

``reshape_transform`` (every CAM class, the feature-map views, ``cnnvis --reshape``) is

* ``None``: decided from the output's shape and the input size (:func:`resolve_layout`), logged;
  a 4-D output that fits ``(N, C, h, w)`` is taken as it is (every CNN);
* ``"vit"`` / ``"swin"``: the layouts above;
* a callable ``f(tensor) -> (N, C, h, w) tensor`` applied to framework tensors (as pytorch-grad-cam's
  ``reshape_transform``). It must only select and move numbers (a slice, reshape, permute); its
  inverse is found by applying it to the raw element indices.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .backend import shape_text
from .errors import LayerOutputError

logger = logging.getLogger("visualization")

RESHAPES = ("vit", "swin")
NO_CHANNEL = -2  # owner of raw numbers that are no channel of the map (the class token)


def check_reshape(spec: Any) -> Any:
    """Validate a ``reshape_transform`` argument early (at construction) and return it."""
    if spec is None or callable(spec) or spec in RESHAPES:
        return spec
    if spec == "auto":
        return None
    raise ValueError(
        f"reshape_transform must be None (decide from the output's shape), 'vit', 'swin' or a callable "
        f"returning (N, C, h, w); got {spec!r}."
    )


def _strides_agree(h: int, w: int, size: tuple[int, int]) -> bool:
    """Whether an ``h x w`` grid covers an input of ``size`` (H, W) with about the same stride both ways."""
    height, width = size
    if not (0 < h <= height and 0 < w <= width) or h * w < 2:
        return False
    sh, sw = height / h, width / w
    return max(sh, sw) / min(sh, sw) <= 1.2  # rounding of odd sizes (ceil) stays within this


def token_grid(tokens: int, size: tuple[int, int]) -> tuple[int, int] | None:
    """The ``(h, w)`` grid of ``tokens`` patch tokens for an input of ``size``, ``None`` if none fits."""
    height, width = size
    h0 = math.sqrt(tokens * height / width)
    best = None
    for h in range(max(1, int(h0) - 2), int(h0) + 3):
        if tokens % h == 0 and _strides_agree(h, tokens // h, size):
            cand = (h, tokens // h)
            if best is None or abs(h - h0) < abs(best[0] - h0):
                best = cand
    return best


@dataclass(frozen=True)
class TokenLayout:
    """How a layer's raw output ``raw_shape`` becomes ``(N, C, h, w)``.

    Attributes:
        kind: ``"nchw"`` (as it is), ``"vit"`` (class token dropped), ``"swin"`` (channels last,
            4-D or flattened 3-D) or ``"callable"``.
        raw_shape: shape of the raw output, batch included.
        grid: ``(h, w)`` of the map.
        prefix: tokens before the patch tokens (``1`` for ViT).
        fn: the user's callable for ``"callable"``.
    """

    kind: str
    raw_shape: tuple[int, ...]
    grid: tuple[int, int]
    prefix: int = 0
    fn: Callable[[Any], Any] | None = None

    def describe(self) -> str:
        h, w = self.grid
        if self.kind == "vit":
            return f"ViT tokens: {self.prefix} class token + {h} x {w} patch tokens"
        if self.kind == "swin":
            return f"Swin-style channels-last tokens on a {h} x {w} grid"
        if self.kind == "callable":
            return f"the given reshape_transform, a {h} x {w} map"
        return "channels-first maps"

    def to_nchw(self, raw: np.ndarray, backend: Any = None, model: Any = None) -> np.ndarray:
        """``raw`` (an activation or a gradient of ``raw_shape``) as ``(N, C, h, w)`` float32."""
        n = raw.shape[0]
        h, w = self.grid
        if self.kind == "nchw":
            return raw
        if self.kind == "vit":
            return np.ascontiguousarray(raw[:, self.prefix :, :].reshape(n, h, w, -1).transpose(0, 3, 1, 2))
        if self.kind == "swin":
            return np.ascontiguousarray(raw.reshape(n, h, w, -1).transpose(0, 3, 1, 2))
        out = backend.to_numpy(self.fn(backend.from_numpy(model, raw)))
        return np.ascontiguousarray(out, dtype=np.float32)

    def owner(self, backend: Any = None, model: Any = None) -> np.ndarray:
        """``int64`` array of one sample's raw shape: the map channel each raw number feeds, or ``-2``."""
        per_sample = self.raw_shape[1:]
        if self.kind == "nchw":
            return np.broadcast_to(np.arange(per_sample[0])[:, None, None], per_sample).copy()
        if self.kind in ("vit", "swin"):
            owner = np.broadcast_to(np.arange(per_sample[-1]), per_sample).copy()
            if self.kind == "vit":
                owner[: self.prefix] = NO_CHANNEL
            return owner
        size = int(np.prod(per_sample))
        if size >= 2**24:
            raise LayerOutputError(
                f"The raw output {shape_text(self.raw_shape)} is too large for a callable reshape_transform's inverse "
                "(it is found from float32 indices, exact below 2**24 numbers per sample); use 'vit' or 'swin'."
            )
        index = np.arange(1, size + 1, dtype=np.float32).reshape(1, *per_sample)
        mapped = np.rint(self.to_nchw(index, backend, model)[0]).astype(np.int64) - 1  # (C, h, w) raw indices
        owner = np.full(size, NO_CHANNEL, np.int64)
        c = mapped.shape[0]
        valid = mapped >= 0
        owner[mapped[valid]] = np.broadcast_to(np.arange(c)[:, None, None], mapped.shape)[valid]
        return owner.reshape(per_sample)


def _nchw_fits(shape: tuple[int, ...], size: tuple[int, int]) -> bool:
    return len(shape) == 4 and _strides_agree(shape[2], shape[3], size)


def _expected(spec: Any) -> str:
    if spec == "vit":
        return "a ViT token sequence (N, 1 + h*w, C): a class token, then h*w patch tokens"
    if spec == "swin":
        return "Swin-style tokens (N, h, w, C), or flattened (N, h*w, C)"
    return "channel maps (N, C, h, w), ViT tokens (N, 1 + h*w, C) or Swin tokens (N, h, w, C)"


def resolve_layout(
    spec: Any,
    raw_shape: tuple[int, ...],
    size: tuple[int, int],
    layer_name: str,
    backend: Any = None,
    model: Any = None,
) -> TokenLayout:
    """The :class:`TokenLayout` of a layer output of ``raw_shape`` for an input of ``size`` (H, W).

    Raises :class:`LayerOutputError` naming the expected and the received shape when ``spec`` does
    not fit or ``None`` cannot decide. Automatic choices other than ``"nchw"`` are logged.
    """
    raw_shape = tuple(int(d) for d in raw_shape)
    rank = len(raw_shape)
    fail = (
        f"Layer {layer_name!r} returned a tensor of shape {shape_text(raw_shape)} for an input of "
        f"{size[0]} x {size[1]}; reshape_transform={spec!r} expects {_expected(spec)}"
    )
    if callable(spec):
        probe = np.zeros(raw_shape, np.float32)
        out = spec(backend.from_numpy(model, probe))
        shape = tuple(int(d) for d in getattr(out, "shape", ()))
        if len(shape) != 4 or shape[0] != raw_shape[0]:
            raise LayerOutputError(
                f"The reshape_transform callable turned the output {shape_text(raw_shape)} of {layer_name!r} into "
                f"{shape_text(shape) if shape else type(out).__name__}; it must return a tensor (N, C, h, w) with "
                f"N = {raw_shape[0]}."
            )
        return TokenLayout("callable", raw_shape, (shape[2], shape[3]), fn=spec)
    if spec == "vit":
        grid = token_grid(raw_shape[1] - 1, size) if rank == 3 else None
        if grid is None:
            raise LayerOutputError(f"{fail}, with the patch grid h x w shaped like the input; it does not fit.")
        return TokenLayout("vit", raw_shape, grid, prefix=1)
    if spec == "swin":
        grid = (raw_shape[1], raw_shape[2]) if rank == 4 and _strides_agree(raw_shape[1], raw_shape[2], size) else None
        if rank == 3:
            grid = token_grid(raw_shape[1], size)
        if grid is None:
            raise LayerOutputError(f"{fail}, with the grid h x w shaped like the input; it does not fit.")
        return TokenLayout("swin", raw_shape, grid)
    # None: decide
    if rank == 4:
        if _nchw_fits(raw_shape, size) or not _strides_agree(raw_shape[1], raw_shape[2], size):
            return TokenLayout("nchw", raw_shape, (raw_shape[2], raw_shape[3]))
        layout = TokenLayout("swin", raw_shape, (raw_shape[1], raw_shape[2]))
    elif rank == 3:
        grid = token_grid(raw_shape[1] - 1, size)
        if grid is not None:
            layout = TokenLayout("vit", raw_shape, grid, prefix=1)
        elif (grid := token_grid(raw_shape[1], size)) is not None:
            layout = TokenLayout("swin", raw_shape, grid)
        else:
            raise LayerOutputError(
                f"{fail}; neither {raw_shape[1]} - 1 (ViT, class token first) nor {raw_shape[1]} (Swin, no class "
                "token) tokens form a grid shaped like the input. Pass reshape_transform as a callable returning "
                "(N, C, h, w), or choose another layer."
            )
    else:
        raise LayerOutputError(
            f"Layer {layer_name!r} must output a 4-D (N, C, h, w) tensor, or a token sequence (N, 1 + h*w, C) / "
            f"(N, h, w, C) read through reshape_transform; it returned a tensor of shape {shape_text(raw_shape)}. "
            "Choose a convolutional layer or block (cnnvis layers lists the output shapes)."
        )
    logger.info(
        "reshape_transform=None: reading %r output %s as %s", layer_name, shape_text(raw_shape), layout.describe()
    )
    return layout


def is_token_shape(shape: tuple[int, ...] | None, size: tuple[int, int]) -> bool:
    """Whether a traced output shape reads as transformer tokens (ViT or Swin) for an input of ``size``."""
    if shape is None:
        return False
    if len(shape) == 3:
        return token_grid(shape[1] - 1, size) is not None or token_grid(shape[1], size) is not None
    return len(shape) == 4 and not _nchw_fits(shape, size) and _strides_agree(shape[1], shape[2], size)


def transformer_layer(calls: list[tuple[str, tuple[int, ...] | None]], size: tuple[int, int]) -> str | None:
    """For a model that ends in token layers: the norm layer of its last block (``blocks.11.norm1``).

    ``calls`` are ``(name, output_shape)`` of every layer call in the order they finished, layers run
    once. Returns ``None`` when the last call with a map-like output is a CNN map, not tokens. The
    last block is the numbered container (``blocks.11``, ``layers.3.blocks.1``) of the last norm layer
    inside one; its first norm layer is chosen (without norm layers: the last numbered container). The
    final norm after all blocks feeds only the class token onwards, so its patch tokens get no gradient.
    """
    mapped = [(n, s) for n, s in calls if s is not None and (is_token_shape(s, size) or _nchw_fits(s, size))]
    if not mapped or not is_token_shape(mapped[-1][1], size):
        return None
    tokens = [n for n, s in mapped if is_token_shape(s, size)]

    def block_of(name: str) -> str | None:
        parts = name.split(".")
        digits = [i for i, p in enumerate(parts[:-1]) if p.isdigit()]
        return ".".join(parts[: digits[-1] + 1]) if digits else None

    def is_norm(name: str) -> bool:
        return "norm" in name.rsplit(".", 1)[-1].lower()

    # the block of the last norm layer inside a numbered container (blocks.11.norm2 -> blocks.11)
    block = next((b for n in reversed(tokens) if is_norm(n) and (b := block_of(n))), None)
    if block is None:
        numbered = [n for n in tokens if any(p.isdigit() for p in n.split("."))]
        if not numbered:
            return tokens[-1]
        parts = numbered[-1].split(".")
        return ".".join(parts[: max(i for i, p in enumerate(parts) if p.isdigit()) + 1])
    return next(n for n in tokens if n.startswith(block + ".") and is_norm(n))
