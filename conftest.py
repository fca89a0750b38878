"""Loaded by pytest before any test module or doctest module: Paddle must be imported before
TensorFlow in one process (the other order crashes in Paddle's library, see visualization.paddle), and
``--doctest-modules`` imports ``visualization.keras`` (TensorFlow) as freely as ``visualization.paddle``."""

import importlib.util

if importlib.util.find_spec("paddle") is not None:
    import paddle  # noqa: F401
