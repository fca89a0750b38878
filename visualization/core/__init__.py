"""Framework-free core: formulas, policies, images and figures.

Nothing under ``visualization.core`` imports torch or paddle; the framework adapters in
``visualization.pytorch`` and ``visualization.paddle`` implement :class:`~visualization.core.backend.Backend`.
"""
