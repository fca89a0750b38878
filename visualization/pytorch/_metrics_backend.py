"""PyTorch mechanism for the metrics: batched target scores on the model's device, perturbed copies of a
pixel-order curve built there with one ``torch.where`` per batch, and a layer's own parameters read and
written in the canonical layout (PyTorch's own).

Read side by side with ``visualization/paddle/_metrics_backend.py``: same methods, same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..core.backend import iter_chunks, progress_bar, shape_text
from ..core.errors import InvalidInputError, TargetError
from ..metrics.backend import CurvePlan, MetricsBackend
from ._backend import BACKEND, outside_inference_mode


class TorchMetricsBackend(MetricsBackend):
    base = BACKEND

    def batched_probabilities(
        self, model: Any, images: Any, targets: np.ndarray, batch_size: int, output: str, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        m = int(images.shape[0])
        probe = BACKEND.from_numpy(model, np.zeros(1, np.float32))
        cls = torch.from_numpy(np.asarray(targets, np.int64)).to(probe.device)
        scores = torch.empty(m, dtype=torch.float32, device=probe.device)
        predicted = torch.empty(m, dtype=torch.int64, device=probe.device)
        with torch.no_grad():
            for sl in progress_bar(list(iter_chunks(m, batch_size)), "Scoring", progress):
                if isinstance(images, torch.Tensor):
                    batch = images[sl].detach().to(
                        device=probe.device, dtype=probe.dtype, copy=True, memory_format=torch.contiguous_format
                    )
                else:
                    batch = BACKEND.from_numpy(model, images[sl])
                scores[sl], predicted[sl] = _score(model(batch), cls[sl], output)
        return scores.cpu().numpy(), predicted.cpu().numpy()

    def curve_probabilities(
        self, model: Any, plan: CurvePlan, targets: np.ndarray, batch_size: int, output: str, progress: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        n, s = int(plan.start.shape[0]), int(plan.counts.shape[0])
        start, end = BACKEND.from_numpy(model, plan.start), BACKEND.from_numpy(model, plan.end)
        ranks = torch.from_numpy(np.ascontiguousarray(plan.ranks)).to(start.device)
        counts = torch.from_numpy(np.ascontiguousarray(plan.counts)).to(start.device)
        cls = torch.from_numpy(np.asarray(targets, np.int64)).to(start.device)
        scores = torch.empty(n * s, dtype=torch.float32, device=start.device)
        predicted = torch.empty(n * s, dtype=torch.int64, device=start.device)
        with torch.no_grad():
            for sl in progress_bar(list(iter_chunks(n * s, batch_size)), "Curve", progress):
                k = torch.arange(sl.start, sl.stop, device=start.device)
                rows, steps = k // s, k % s  # copies are image-major: copy k is step k % s of image k // s
                changed = (ranks[rows] < counts[steps][:, None, None]).unsqueeze(1)  # (B, 1, H, W)
                batch = torch.where(changed, end[rows], start[rows])
                scores[sl], predicted[sl] = _score(model(batch), cls[rows], output)
        return scores.cpu().numpy().reshape(n, s), predicted.cpu().numpy().reshape(n, s)

    def own_parameters(self, layer: Any) -> list[tuple[str, np.ndarray]]:
        return [(name, BACKEND.to_numpy(p)) for name, p in layer.named_parameters(recurse=False)]

    def set_own_parameter(self, layer: Any, name: str, value: np.ndarray) -> None:
        param = getattr(layer, name)
        with torch.no_grad():
            param.copy_(torch.from_numpy(np.ascontiguousarray(value)).to(device=param.device, dtype=param.dtype))

    def randomized_copy(self, model: Any, layer_names: Sequence[str], seed: int = 0) -> Any:
        # a deep copy made inside torch.inference_mode() would hold inference tensors, through which
        # the gradient explainers run on the copy cannot record
        with outside_inference_mode():
            return super().randomized_copy(model, layer_names, seed)


def _score(logits: Any, cls: torch.Tensor, output: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The target score of every row (softmax probability in float32, or the raw output) and each row's argmax."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[0] != cls.shape[0]:
        got = (
            f"a tensor of shape {shape_text(logits.shape)}"
            if isinstance(logits, torch.Tensor)
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
    values = logits.float()
    if output == "probability":
        values = torch.softmax(values, dim=1)
    return values.gather(1, cls[:, None]).squeeze(1), logits.argmax(dim=1)


METRICS_BACKEND = TorchMetricsBackend()
