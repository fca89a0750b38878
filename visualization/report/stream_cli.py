"""The glue between ``cnnvis explain --images-dir`` / ``cnnvis evaluate`` and their modules: option checks,
and every error turned into one message with exit status 2 (``UserError``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..core.errors import EXIT_INTERRUPTED, VisualizationError


def run_stream(
    *,
    images: Sequence[str],
    images_dir: str | None,
    framework: str,
    model_spec: str,
    weights: str | None,
    layer: str | None,
    methods: Sequence[str],
    target: int | None,
    class_names: Sequence[str] | None,
    input_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int,
    out: str,
    force: bool,
    progress: bool,
    engine: str = "local",
    workers: int | None = None,
    ray_address: str | None = None,
) -> None:
    """Run :func:`~visualization.report.stream.stream_explain` for the CLI and print a one-line summary."""
    from ..cli import UserError, _model_failed, _write_failed, model_errors
    from .stream import StreamJob, stream_explain

    if images_dir is None:
        raise UserError(
            "Give the images: --image FILE (repeatable) for a report, or --images-dir DIR to stream a folder."
        )
    if images:
        raise UserError("Use either --image (one HTML report) or --images-dir (streamed per-image files), not both.")
    if framework in ("both", "all"):
        raise UserError("--images-dir runs one framework; pick --framework torch, paddle or keras.")
    if engine == "local" and (workers is not None or ray_address is not None):
        raise UserError("--workers and --ray-address belong to --engine ray; add --engine ray or drop them.")
    job = StreamJob(
        model=model_spec,
        framework=framework,
        methods=list(methods),
        layer=layer,
        target=target,
        weights=weights,
        class_names=class_names,
        input_size=input_size,
        mean=mean,
        std=std,
        batch_size=batch_size,
        progress=progress,
        force=force,
    )
    t0 = time.perf_counter()
    try:
        if engine == "ray":
            from .ray_engine import ray_explain

            summary = ray_explain(job, images_dir, out, workers=workers, address=ray_address)
        else:
            summary = stream_explain(job, images_dir, out)
    except KeyboardInterrupt:
        # Every file is written through a temporary copy and the index grows one whole batch at a time,
        # so what is on disk is consistent: the same command resumes after the last finished batch.
        click.echo(
            f"\nInterrupted (Ctrl-C). The images finished so far are kept in {out!r}; run the same command "
            "again to resume.",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except VisualizationError as exc:
        raise UserError(str(exc)) from exc
    except OSError as exc:
        raise _write_failed(out, exc) from exc
    except model_errors(KeyError, AssertionError) as exc:
        raise _model_failed(exc) from exc
    click.echo(
        f"{summary.processed} image(s) explained, {summary.skipped} already done, in "
        f"{time.perf_counter() - t0:.0f} s; index: {Path(summary.index)}"
    )


def run_evaluate(job: Any, images_dir: str, out: str) -> None:
    """Run :func:`~visualization.report.evaluate.evaluate` for the CLI and print the Markdown table."""
    from ..cli import UserError, _model_failed, model_errors
    from .evaluate import evaluate

    t0 = time.perf_counter()
    try:
        table = evaluate(job, images_dir, out)
    except VisualizationError as exc:
        raise UserError(str(exc)) from exc
    except model_errors(KeyError, AssertionError) as exc:
        raise _model_failed(exc) from exc
    click.echo(table.paths["md"].read_text(encoding="utf-8"))
    click.echo(
        f"Written in {time.perf_counter() - t0:.0f} s: {table.paths['csv']}, {table.paths['md']}, {table.paths['png']}"
    )
