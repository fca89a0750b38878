"""Models whose ``forward`` returns more than one tensor: pick the part that is explained.

GoogLeNet and Inception-v3 return their auxiliary logits next to the main ones (a tuple), torchvision's
segmentation models a dict (``{"out": ..., "aux": ...}``), detectors a list of per-image dicts. Every
CAM method takes ``output``: a key, an index or a callable that picks the part its target scores.
The model is wrapped for the length of a call by :class:`SelectedOutput`, which forwards every
attribute to the model itself, so hooks, parameters and train/eval flags are the model's own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .backend import shape_text
from .errors import TargetError


def describe_output(obj: Any, depth: int = 0) -> str:
    """What a model returned, for messages: ``a tuple of 3 (tensor (1, 10), tensor (1, 10), ...)``."""
    shape = getattr(obj, "shape", None)
    if shape is not None and not isinstance(obj, (list, tuple, Mapping)):
        return f"a tensor of shape {shape_text(shape)}"
    if isinstance(obj, Mapping):
        inner = ", ".join(f"{k!r}: {describe_output(v, depth + 1)}" for k, v in list(obj.items())[:8])
        return f"a dict {{{inner}}}" if depth < 2 else f"a dict with keys {list(obj)}"
    if isinstance(obj, (list, tuple)):
        items = [describe_output(v, depth + 1) for v in list(obj)[:4]] if depth < 2 else []
        more = ", ..." if len(obj) > 4 else ""
        return f"a {type(obj).__name__} of {len(obj)} [" + "; ".join(items) + more + "]"
    return f"a {type(obj).__name__}"


def check_output_spec(spec: Any) -> Any:
    """Validate the ``output`` argument: ``None``, a key (str), an index (int) or a callable."""
    if spec is None or callable(spec) or (isinstance(spec, (str, int)) and not isinstance(spec, bool)):
        return spec
    raise TypeError(f"output must be None, a key (str), an index (int) or a callable; got {spec!r}.")


def select_output(outputs: Any, spec: Any) -> Any:
    """``outputs[spec]`` (or ``spec(outputs)``), with an error that lists what the model returned."""
    if spec is None:
        return outputs
    if callable(spec):
        return spec(outputs)
    if isinstance(spec, str):
        if isinstance(outputs, Mapping) and spec in outputs:
            return outputs[spec]
        keys = f" Its keys are {list(outputs)}." if isinstance(outputs, Mapping) else ""
        raise TargetError(
            f"output={spec!r} is not a key of the model's output: it returned {describe_output(outputs)}.{keys} "
            "Pass one of its keys, an index or a callable."
        )
    if isinstance(outputs, (list, tuple)) and -len(outputs) <= spec < len(outputs):
        return outputs[spec]
    raise TargetError(
        f"output={spec!r} is not an index of the model's output: it returned {describe_output(outputs)}. "
        "Pass a valid index, a key or a callable."
    )


class SelectedOutput:
    """``model`` with ``forward`` results passed through :func:`select_output`; every other attribute
    (``parameters``, ``named_modules`` / ``named_sublayers``, ``training``...) is the model's own."""

    def __init__(self, model: Any, spec: Any) -> None:
        self.__dict__["_model"] = model
        self.__dict__["_spec"] = spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return select_output(self._model(*args, **kwargs), self._spec)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_model"], name)


def wrap(model: Any, spec: Any) -> Any:
    """The model itself for ``spec=None``, else a :class:`SelectedOutput`."""
    return model if spec is None else SelectedOutput(model, spec)


def output_hint(outputs: Any) -> str:
    """The sentence that tells a user of a tuple/dict-returning model what to pass."""
    return (
        f"The model returned {describe_output(outputs)}, not one (N, num_classes) tensor. Pass output= "
        "(a key, an index or a callable) to choose the part to explain, e.g. output=0 for a tuple of "
        "(logits, aux_logits) or output='out' for a dict, and/or a target object (visualization.<framework>.targets)."
    )


OutputSpec = str | int | Callable[[Any], Any] | None
