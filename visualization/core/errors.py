"""Exceptions raised for user mistakes.

Each one subclasses the builtin a user would naturally catch (``KeyError`` for an unknown layer,
``ValueError`` for bad values, ``TypeError`` for wrong types), and its message says what was
expected, what was received and what to do.
"""

from __future__ import annotations


class VisualizationError(Exception):
    """Base class of every error this package raises on purpose."""

    def __str__(self) -> str:  # KeyError would otherwise wrap the message in quotes
        return str(self.args[0]) if self.args else ""


class LayerNotFoundError(VisualizationError, KeyError):
    """A layer name (or object) does not belong to the model."""


class LayerOutputError(VisualizationError, ValueError):
    """The chosen layer does not produce what the method needs (e.g. a 4-D ``(N, C, h, w)`` map)."""


class InvalidInputError(VisualizationError, ValueError):
    """The input tensor has the wrong rank, channel count, dtype or non-finite values."""


class TargetError(VisualizationError, ValueError):
    """A target class is out of range, has the wrong length or the wrong type."""


class GradientModeError(VisualizationError, RuntimeError):
    """Gradients cannot be recorded through the model, e.g. its parameters were created inside
    ``torch.inference_mode()``."""


class ModelTypeError(VisualizationError, TypeError):
    """The object given as a model is not a model of the adapter's framework."""


class WeightsFileError(VisualizationError, ValueError):
    """A weights file is missing, unreadable, or does not hold a state dict."""


class StateDictMismatchError(VisualizationError, ValueError):
    """Weights do not fit a model: missing, unexpected or mis-shaped keys.

    Attributes:
        missing: keys the model has but the weights lack.
        unexpected: keys of the weights the model does not have.
        mismatched: ``(key, given_shape, model_shape)`` for every key whose shapes differ.
    """

    def __init__(
        self, message: str, missing: list[str], unexpected: list[str], mismatched: list[tuple[str, tuple, tuple]]
    ) -> None:
        super().__init__(message)
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched


def check_state_dict_shapes(
    given: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]], what: str, hint: str
) -> None:
    """Raise :class:`StateDictMismatchError` listing every difference between two ``{key: shape}`` maps.

    ``what`` opens the message (e.g. ``"weights.pt does not fit EfficientNetLite0"``), ``hint`` ends it.
    """
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    mismatched = [(k, given[k], expected[k]) for k in expected if k in given and given[k] != expected[k]]
    if not (missing or unexpected or mismatched):
        return
    lines = [f"{what}."]
    if missing:
        lines.append(f"  missing keys (in the model, not in the weights): {missing}")
    if unexpected:
        lines.append(f"  unexpected keys (in the weights, not in the model): {unexpected}")
    for k, got, want in mismatched:
        lines.append(f"  shape mismatch for {k!r}: weights {got}, model expects {want}")
    lines.append(hint)
    raise StateDictMismatchError("\n".join(lines), missing, unexpected, mismatched)


#: Exit status of a ``cnnvis`` command stopped by Ctrl-C (128 + SIGINT), as shells and CI expect.
EXIT_INTERRUPTED = 130
