"""``cnnvis explain --images-dir DIR --engine ray``: the streaming run mapped over Ray actors (Ray Data).

The driver does what the local engine does around the model: it lists the folder, skips finished images
(the same index, so a run started on one engine resumes on the other), appends each finished batch's rows
to ``OUT/index.csv`` and shows the progress bar. The model work goes to a pool of Ray actors through
:meth:`ray.data.Dataset.map_batches`: each actor builds the model once (a
:class:`~visualization.report.stream.BatchExplainer`), receives batches of ``(source, name)`` rows, writes
every image's ``.npz`` and overlay PNG itself (atomically, as the local engine) and sends back only the
index rows. So the outputs are the local engine's: the same files, names and index columns; heatmaps
agree to float32 rounding (a batch may be split differently). On a cluster, ``OUT`` and the image folder
must be on a file system every node sees (NFS, a mounted bucket), since actors read and write there.
The model is built once in the driver (a wrong ``--model``, ``--weights`` or ``--layer`` is one clear
message before any actor starts) and its state dict is sent to every actor, so all of them explain the
driver's very weights even when the model's factory initializes at random.

Memory: each actor holds one batch of pixels and one model; the driver holds the list of pending
``(source, name)`` strings (about 100 bytes per image) and the set of finished names, as the local engine.

Ray is started here (``num_cpus=workers``, no dashboard) unless it is already running or ``address`` names
a cluster; an instance started here is shut down at the end. Ray's usage statistics stay off unless
``RAY_USAGE_STATS_ENABLED`` says otherwise: this package never phones home.

Example (needs ``pip install "cnn-visualization[ray]"``; it starts a local Ray instance, ~10 s):
    >>> from visualization.report.stream import StreamJob
    >>> job = StreamJob(model="catdogcnn", methods=["gradcam"], batch_size=4, progress=False)
    >>> summary = ray_explain(job, "photos/", "out/ray", workers=2)  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import VisualizationError
from .stream import (
    INDEX_HEADER,
    BatchExplainer,
    StreamJob,
    StreamSummary,
    _batches,
    load_for_cams,
    plan_stream,
    progress_bar,
    record_batch,
)

#: Index columns that travel back from the actors: the index's own columns, in order.
_COLUMNS = tuple(INDEX_HEADER)


def import_ray() -> Any:
    """``ray`` with Ray Data, or a :class:`VisualizationError` that says how to install it."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
        import ray.data  # Ray Data is a separate extra of ray
    except ImportError as exc:
        raise VisualizationError(
            f"--engine ray needs Ray with Ray Data, which could not be imported ({exc}). Install it with "
            "pip install \"cnn-visualization[ray]\" (or pip install \"ray[data]\"), or use --engine local."
        ) from exc
    return ray


class RayExplainActor:
    """One Ray actor: builds the model once, then explains every batch Ray Data hands it."""

    def __init__(self, job: StreamJob, root: str, out: str, state: dict[str, Any]) -> None:
        self.root = Path(root)
        self.explainer = BatchExplainer(job, root, out, state=state)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        files = [self.root / s for s in batch["source"]]
        try:
            rows = self.explainer(files, [str(n) for n in batch["name"]])
        except VisualizationError as exc:
            # Ray re-raises what an actor raised as its own type with the message folded into a
            # traceback; a problem with the user's input travels back as data instead, so the driver
            # can raise it as the same one-line message the local engine gives.
            return {**{col: [""] for col in _COLUMNS}, "error": [str(exc)]}
        return {**{col: [row[i] for row in rows] for i, col in enumerate(_COLUMNS)}, "error": [""] * len(rows)}


def ray_explain(
    job: StreamJob,
    images_dir: str | Path,
    out: str | Path,
    *,
    workers: int | None = None,
    address: str | None = None,
    on_batch: Callable[[list[str]], None] | None = None,
) -> StreamSummary:
    """The run of :func:`~visualization.report.stream.stream_explain`, with the model work on Ray actors.

    Args:
        job: what to compute (model, methods, batch size, ...), as for the local engine.
        images_dir: the folder of images (sub-folders too); on a cluster, visible to every node.
        out: the output folder; on a cluster, visible to every node.
        workers: how many actors, each holding its own copy of the model and using one CPU. Default:
            the CPUs of this machine (local Ray) or of the cluster.
        address: a running cluster's address (``ray://host:10001``, ``auto``); default: use the Ray
            already initialized in this process, or start a local one.
        on_batch: called with the output names of each batch once its index rows are written.

    Returns:
        The same :class:`~visualization.report.stream.StreamSummary` as the local engine.
    """
    ray = import_ray()
    if workers is not None and workers < 1:
        raise VisualizationError(f"--workers must be at least 1; got {workers}.")
    plan = plan_stream(job, images_dir, out)
    # Build the model once here before any actor starts, so a wrong --model, --weights or --layer is one
    # clear message from the driver rather than a failure in every worker; and send its weights to the
    # actors, so they all explain this very model (a factory that initializes at random would otherwise
    # give every actor other weights) and no node needs the weights file.
    loaded = load_for_cams(job.model, job.framework, job.weights, job.layer, job.methods, job.input_size)
    state = {k: v.cpu().numpy() for k, v in loaded.model.state_dict().items()}
    del loaded
    summary = StreamSummary(plan.total, 0, plan.skipped, plan.index)
    items = [{"source": p.relative_to(plan.root).as_posix(), "name": n} for p, n in plan.pending]
    if not items:
        return summary

    started = not ray.is_initialized()
    # Ray Data's own per-operator log lines and its "progress bars disabled" notice would interleave
    # with our bar; its errors still show. Restored at the end.
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        if started:
            ray.init(
                address=address,
                num_cpus=(workers or os.cpu_count() or 1) if address is None else None,
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours (with its ETA) is the one shown
        context.execution_options.preserve_order = True  # index rows in folder order, as the local engine
        # Rows go to Ray as a list of short strings (source, name); blocks of one batch each let every
        # actor start as soon as it is up.
        blocks = max(1, -(-len(items) // job.batch_size))
        dataset = ray.data.from_items(items, override_num_blocks=blocks)
        results = dataset.map_batches(
            RayExplainActor,
            fn_constructor_kwargs={
                "job": job,
                "root": str(plan.root.resolve()),
                "out": str(Path(out).resolve()),
                "state": state,
            },
            batch_size=job.batch_size,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=min(size, blocks)),  # no idle actor for a short run
            num_cpus=1,
        )
        with progress_bar(job, plan) as bar:
            for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
                errors = [str(e) for e in batch["error"] if str(e)]
                if errors:
                    raise VisualizationError(errors[0])
                rows = [list(r) for r in zip(*(_as_list(batch[c]) for c in _COLUMNS))]
                for group in _batches(iter(rows), job.batch_size):
                    record_batch(plan, summary, group, bar, on_batch)
    finally:
        quiet.setLevel(level)
        if started:
            ray.shutdown()
    return summary


def _as_list(column: Sequence[Any]) -> list[Any]:
    """A numpy column from Ray back to plain Python values (``int`` targets, ``str`` text)."""
    return [v.item() if hasattr(v, "item") else v for v in column]
