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


class ModelTypeError(VisualizationError, TypeError):
    """The object given as a model is not a model of the adapter's framework."""
