"""PaddlePaddle mechanism for the metrics: batched target scores on the model's device, perturbed copies of a
pixel-order curve built there with one ``paddle.where`` per batch, and a layer's own parameters read and
written in the canonical layout (PyTorch's: a ``Linear`` weight is transposed from Paddle's ``(in, out)``).

Read side by side with ``visualization/pytorch/_metrics_backend.py``: same methods, same order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from ..core.backend import iter_chunks, progress_bar, shape_text
from ..core.errors import InvalidInputError, TargetError
from ..metrics.backend import CurvePlan, MetricsBackend
from ._backend import BACKEND

#: Paddle keeps BatchNorm's running statistics as parameters; they are statistics, never randomized.
_STATISTICS = ("_mean", "_variance")


class PaddleMetricsBackend(MetricsBackend):
    base = BACKEND

    def batched_probabilities(
        self, model: Any, images: Any, targets: np.ndarray, batch_size: int, output: str, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        m = int(images.shape[0])
        probe = BACKEND.from_numpy(model, np.zeros(1, np.float32))
        cls = paddle.to_tensor(np.asarray(targets, np.int64), place=probe.place)
        scores, predicted = [], []
        with paddle.no_grad():
            for sl in progress_bar(list(iter_chunks(m, batch_size)), "Scoring", progress):
                if isinstance(images, paddle.Tensor):
                    batch = images[sl].detach().to(device=probe.place, dtype=probe.dtype).clone().contiguous()
                else:
                    batch = BACKEND.from_numpy(model, images[sl])
                score, pred = _score(model(batch), cls[sl], output)
                scores.append(score)
                predicted.append(pred)
        return paddle.concat(scores).cpu().numpy(), paddle.concat(predicted).cpu().numpy()

    def curve_probabilities(
        self, model: Any, plan: CurvePlan, targets: np.ndarray, batch_size: int, output: str, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        n, s = int(plan.start.shape[0]), int(plan.counts.shape[0])
        start, end = BACKEND.from_numpy(model, plan.start), BACKEND.from_numpy(model, plan.end)
        ranks = paddle.to_tensor(np.ascontiguousarray(plan.ranks), place=start.place)
        counts = paddle.to_tensor(np.ascontiguousarray(plan.counts), place=start.place)
        cls = paddle.to_tensor(np.asarray(targets, np.int64), place=start.place)
        scores, predicted = [], []
        with paddle.no_grad():
            for sl in progress_bar(list(iter_chunks(n * s, batch_size)), "Curve", progress):
                k = paddle.arange(sl.start, sl.stop, dtype="int64").to(device=start.place)
                rows, steps = k // s, k % s  # copies are image-major: copy k is step k % s of image k // s
                limit = paddle.gather(counts, steps).reshape([-1, 1, 1])
                changed = (paddle.gather(ranks, rows) < limit).unsqueeze(1)  # (B, 1, H, W)
                rows_start, rows_end = paddle.gather(start, rows), paddle.gather(end, rows)
                batch = paddle.where(changed.expand(rows_start.shape), rows_end, rows_start)
                score, pred = _score(model(batch), paddle.gather(cls, rows), output)
                scores.append(score)
                predicted.append(pred)
        return (
            paddle.concat(scores).cpu().numpy().reshape(n, s),
            paddle.concat(predicted).cpu().numpy().reshape(n, s),
        )

    def own_parameters(self, layer: Any) -> list[tuple[str, np.ndarray]]:
        out = []
        for name, p in layer.named_parameters(include_sublayers=False):
            if name in _STATISTICS:
                continue
            value = BACKEND.to_numpy(p)
            out.append((name, np.ascontiguousarray(value.T) if _is_linear_weight(layer, name) else value))
        return out

    def set_own_parameter(self, layer: Any, name: str, value: np.ndarray) -> None:
        param = getattr(layer, name)
        arr = np.ascontiguousarray(value.T if _is_linear_weight(layer, name) else value)
        param.set_value(paddle.to_tensor(arr, place=param.place).astype(param.dtype))


def _is_linear_weight(layer: Any, name: str) -> bool:
    return isinstance(layer, nn.Linear) and name == "weight"


def _score(logits: Any, cls: paddle.Tensor, output: str) -> tuple[paddle.Tensor, paddle.Tensor]:
    """The target score of every row (softmax probability in float32, or the raw output) and each row's argmax."""
    if not isinstance(logits, paddle.Tensor) or logits.ndim != 2 or logits.shape[0] != cls.shape[0]:
        got = (
            f"a tensor of shape {shape_text(logits.shape)}"
            if isinstance(logits, paddle.Tensor)
            else type(logits).__name__
        )
        raise InvalidInputError(
            f"Metrics need a classifier returning (batch, num_classes) scores; for a batch of {cls.shape[0]} images "
            f"the model returned {got}. Wrap the model so that it returns one row of class scores per image."
        )
    k = logits.shape[1]
    if int(cls.max()) >= k:
        raise TargetError(f"target class {int(cls.max())} out of range: the model has {k} outputs (0..{k - 1}).")
    if output == "probability" and k == 1:
        raise InvalidInputError(
            "The model has a single output, whose softmax is always 1; use output='logit' (or give the model one "
            "output per class)."
        )
    values = logits.astype("float32")
    if output == "probability":
        values = F.softmax(values, axis=1)
    return paddle.take_along_axis(values, cls.unsqueeze(1), axis=1).squeeze(1), paddle.argmax(logits, axis=1)


METRICS_BACKEND = PaddleMetricsBackend()
