"""Resolve a user's layer spec (object, dotted name, or ``None``) to a ``(name, layer)`` pair."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from .errors import LayerNotFoundError


def _name_list(names: Sequence[str], limit: int = 40) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    more = len(names) - limit
    return shown + (f", ... ({more} more)" if more > 0 else "")


def resolve_layer(named_layers: Sequence[tuple[str, Any]], spec: Any) -> tuple[str, Any]:
    """Find ``spec`` among ``named_layers`` (the model's ``(dotted_name, layer)`` pairs).

    ``spec`` is either a dotted name such as ``'conv3'`` or ``'layer4.1'`` or the layer object
    itself (compared by identity). Unknown names raise :class:`LayerNotFoundError` listing the
    closest names and the valid ones.
    """
    if isinstance(spec, str):
        for name, layer in named_layers:
            if name == spec:
                return name, layer
        names = [n for n, _ in named_layers]
        close = difflib.get_close_matches(spec, names, n=5, cutoff=0.5)
        hint = f" Did you mean {_name_list(close)}?" if close else ""
        raise LayerNotFoundError(
            f"No layer named {spec!r} in the model.{hint} Valid names are: {_name_list(names)}. "
            "Pass one of these names, or the layer object itself (e.g. model.conv3)."
        )
    for name, layer in named_layers:
        if layer is spec:
            return name, layer
    raise LayerNotFoundError(
        f"The layer object {type(spec).__name__} given as target layer is not a sub-layer of the "
        f"model. Pass a layer of this model (e.g. model.conv3) or its dotted name; valid names are: "
        f"{_name_list([n for n, _ in named_layers])}."
    )
