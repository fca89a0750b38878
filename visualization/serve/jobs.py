"""Jobs and the result cache of the explorer server.

A :class:`Job` is one request's work on a model's worker thread: its progress (fed by
:func:`visualization.core.progress.progress_callback`), its result or error, and a cancel flag that the
progress callback turns into :class:`JobCancelled` at the next batch or step. :class:`LRU` is the bounded
cache of results (entries and approximate bytes).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LRU", "Job", "JobCancelled", "approx_bytes"]


class JobCancelled(Exception):
    """Raised inside a running job (from its progress callback) when the job is cancelled."""


@dataclass
class Job:
    """One unit of work on a model's worker: its progress, its result or error."""

    id: str
    key: tuple[Any, ...]
    kind: str
    status: str = "queued"  # queued | running | done | error | cancelled
    desc: str = ""
    done: int = 0
    total: int = 0
    result: dict[str, Any] | None = None
    error: str | None = None
    watchers: int = 1
    seconds: float = 0.0
    cancel_event: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None
    cached: bool = False

    def progress(self, desc: str, done: int, total: int) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled
        self.desc, self.done, self.total = desc, done, total

    @property
    def finished(self) -> bool:
        return self.status in ("done", "error", "cancelled")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "progress": {"desc": self.desc, "done": self.done, "total": self.total},
            "cached": self.cached,
        }
        if self.status == "done":
            out["result"] = self.result
            out["seconds"] = round(self.seconds, 4)
        elif self.status == "error":
            out["error"] = self.error
        return out


def approx_bytes(value: Any) -> int:
    """Rough size of a cached result (its strings and arrays dominate)."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return 64 + sum(approx_bytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return 64 + sum(approx_bytes(v) for v in value)
    return 32


class LRU:
    """A thread-safe least-recently-used mapping bounded in entries and in (approximate) bytes."""

    def __init__(self, size: int, max_bytes: int = 256 * 1024 * 1024) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self._data: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            if key not in self._data:
                return None
            self._data.move_to_end(key)
            return self._data[key][0]

    def put(self, key: Any, value: Any) -> None:
        n = approx_bytes(value)
        with self._lock:
            if key in self._data:
                self.bytes -= self._data.pop(key)[1]
            self._data[key] = (value, n)
            self.bytes += n
            while len(self._data) > 1 and (len(self._data) > self.size or self.bytes > self.max_bytes):
                self.bytes -= self._data.popitem(last=False)[1][1]

    def __len__(self) -> int:
        return len(self._data)
