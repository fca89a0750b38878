"""Progress reports from long calls (Score-CAM, Ablation-CAM, activation maximization, ...), and a way
to stop them: ``with progress_callback(fn): ...``.

Every loop of the library that would show a tqdm bar with ``progress=True`` (the batches of masked or
ablated inputs, the steps of an optimization) also calls the callback installed in the current context,
whether or not the bar is shown: ``fn(desc, done, total)`` before each item (``done`` items finished)
and once more with ``done == total`` at the end. The callback may raise an exception (say
``JobCancelled``) to stop the work at that point: the call unwinds as from any exception, and
hooks and train/eval flags are restored as always. The callback lives in a :class:`contextvars.ContextVar`,
so each thread (or asyncio task) has its own; nothing is shared between concurrent calls.

Example:
    >>> from visualization.core.backend import progress_bar
    >>> seen = []
    >>> with progress_callback(lambda desc, done, total: seen.append((desc, done, total))):
    ...     _ = [i for i in progress_bar([10, 20], "Score-CAM", False)]
    >>> seen
    [('Score-CAM', 0, 2), ('Score-CAM', 1, 2), ('Score-CAM', 2, 2)]
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["ProgressCallback", "current_callback", "progress_callback", "tracked"]

#: ``fn(desc, done, total)``: what a long loop reports; raise from it to stop the loop.
ProgressCallback = Callable[[str, int, int], None]

_CALLBACK: contextvars.ContextVar[ProgressCallback | None] = contextvars.ContextVar("cnnvis_progress", default=None)


@contextmanager
def progress_callback(fn: ProgressCallback | None) -> Iterator[None]:
    """Install ``fn`` for the calls made inside the ``with`` block (in this thread or task only)."""
    token = _CALLBACK.set(fn)
    try:
        yield
    finally:
        _CALLBACK.reset(token)


def current_callback() -> ProgressCallback | None:
    """The callback installed in the current context, if any."""
    return _CALLBACK.get()


def tracked(items: Iterable[Any], desc: str, total: int, fn: ProgressCallback) -> Iterator[Any]:
    """Yield ``items``, calling ``fn(desc, done, total)`` before each and once at the end."""
    done = 0
    for item in items:
        fn(desc, done, total)
        yield item
        done += 1
    fn(desc, done, total)
