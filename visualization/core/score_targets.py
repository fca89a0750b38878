"""Targets beyond one class score: what a CAM explains, as a score function of the model's output.

Passed as ``target_class`` to every CAM method, one object for the whole batch or a list with one
per sample (plain ints, lists of ints and callables keep working). Each object scores *one
sample's* output; ``visualization.pytorch.targets`` and ``visualization.paddle.targets`` bind the few
tensor operations they need (:class:`TargetOps`), so both frameworks compute the same numbers.

* :class:`ClassifierOutputTarget` ``(k)``: the logit of class ``k`` (the same as ``target_class=k``);
* :class:`SoftmaxTarget` ``(k)``: the softmax probability of class ``k``;
* :class:`SemanticSegmentationTarget` ``(category, mask)``: for ``(N, K, H, W)`` outputs, the sum of
  category ``category``'s logits over the pixels where ``mask`` (``(H, W)``) is non-zero (mask values weigh);
* :class:`DetectionBoxTarget` ``(labels, boxes, iou_threshold)``: for detector outputs (per image a
  dict with ``boxes`` ``(M, 4)`` in ``x1, y1, x2, y2``, ``labels`` ``(M,)`` and ``scores`` ``(M,)``;
  torchvision's list of dicts or one dict of batched tensors), the sum over the given boxes of the
  score of the predicted box of the same label that overlaps it most (IoU at least ``iou_threshold``).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .errors import TargetError
from .outputs import describe_output


class TargetOps:
    """The tensor operations a target needs; each adapter's ``targets`` module implements them."""

    def stack(self, scalars: Sequence[Any]) -> Any:
        """A 1-D tensor of 0-D tensors (gradients flow)."""
        raise NotImplementedError

    def softmax(self, logits: Any) -> Any:
        """Softmax of a 1-D tensor."""
        raise NotImplementedError

    def like(self, array: np.ndarray, tensor: Any) -> Any:
        """``array`` as a tensor on ``tensor``'s device with its dtype."""
        raise NotImplementedError

    def to_numpy(self, tensor: Any) -> np.ndarray:
        """A detached numpy copy."""
        raise NotImplementedError

    def total(self, tensor: Any) -> Any:
        """The sum of every element, a 0-D tensor (gradients flow). ``tensor.sum()`` serves torch and
        Paddle; TensorFlow tensors have no ``sum`` method, so the Keras adapter overrides it."""
        return tensor.sum()


def batch_size_of(outputs: Any) -> int:
    """How many samples the (selected) model output holds."""
    if isinstance(outputs, Mapping):
        first = next(iter(outputs.values()), None)
        return int(first.shape[0]) if hasattr(first, "shape") else 0
    if isinstance(outputs, (list, tuple)):
        return len(outputs)
    return int(outputs.shape[0])


def sample_output(outputs: Any, i: int) -> Any:
    """Sample ``i`` of the output: a row of a tensor, of every tensor of a dict, or item ``i`` of a list."""
    if isinstance(outputs, Mapping):
        return {k: v[i] if hasattr(v, "shape") else v for k, v in outputs.items()}
    return outputs[i]


class ScoreTarget:
    """Base class: :meth:`score` maps one sample's output to a 0-D tensor; calling the object maps a
    batch's output to ``(N,)`` scores (so every method that takes a callable target takes it)."""

    ops: ClassVar[TargetOps]

    def score(self, output: Any) -> Any:
        raise NotImplementedError

    def __call__(self, outputs: Any) -> Any:
        return self.ops.stack([self.score(sample_output(outputs, i)) for i in range(batch_size_of(outputs))])


def _check_class(category: Any, what: str) -> int:
    if isinstance(category, (bool, np.bool_)) or not isinstance(category, numbers.Integral) or category < 0:
        raise TargetError(f"{what} must be a class index (an int >= 0); got {category!r}.")
    return int(category)


def _vector(output: Any, what: str) -> Any:
    shape = tuple(getattr(output, "shape", ()))
    if len(shape) != 1:
        raise TargetError(
            f"{what} scores a classifier: one sample's output must be a vector (num_classes,), i.e. model "
            f"outputs (N, num_classes); it got {describe_output(output)} per sample. For another output pass "
            "output= to pick the logits, or use SemanticSegmentationTarget / DetectionBoxTarget."
        )
    return output


class ClassifierOutputTarget(ScoreTarget):
    """The logit (pre-softmax score) of class ``category``: ``target_class=k`` as an object."""

    def __init__(self, category: int) -> None:
        self.category = _check_class(category, "ClassifierOutputTarget's category")

    def __repr__(self) -> str:
        return f"ClassifierOutputTarget({self.category})"

    def score(self, output: Any) -> Any:
        vec = _vector(output, repr(self))
        if self.category >= vec.shape[0]:
            raise TargetError(f"{self!r}: the model has {vec.shape[0]} classes (0..{vec.shape[0] - 1}).")
        return vec[self.category]


class SoftmaxTarget(ScoreTarget):
    """The softmax probability of class ``category`` (gradients of a probability: they also push the
    other classes down)."""

    def __init__(self, category: int) -> None:
        self.category = _check_class(category, "SoftmaxTarget's category")

    def __repr__(self) -> str:
        return f"SoftmaxTarget({self.category})"

    def score(self, output: Any) -> Any:
        vec = _vector(output, repr(self))
        if self.category >= vec.shape[0]:
            raise TargetError(f"{self!r}: the model has {vec.shape[0]} classes (0..{vec.shape[0] - 1}).")
        return self.ops.softmax(vec)[self.category]


class SemanticSegmentationTarget(ScoreTarget):
    """Sum of category ``category``'s logits over ``mask`` for a segmentation output ``(N, K, H, W)``.

    ``mask``: an ``(H, W)`` array (bool or float weights) of the output's size, e.g. the pixels the
    model labels with the category (``output.argmax(1) == category``) or a region of interest.
    """

    def __init__(self, category: int, mask: Any) -> None:
        self.category = _check_class(category, "SemanticSegmentationTarget's category")
        arr = np.asarray(mask)
        if arr.ndim != 2:
            raise TargetError(f"SemanticSegmentationTarget's mask must be 2-D (H, W); got shape {arr.shape}.")
        self.mask = arr.astype(np.float32)

    def __repr__(self) -> str:
        return f"SemanticSegmentationTarget({self.category}, mask {self.mask.shape})"

    def score(self, output: Any) -> Any:
        shape = tuple(int(d) for d in getattr(output, "shape", ()))
        if len(shape) != 3:
            raise TargetError(
                f"{self!r} needs a segmentation output (N, K, H, W) (one (K, H, W) map per sample); the model "
                f"returned {describe_output(output)} per sample. For a dict output pass output='out' (or its key)."
            )
        if self.category >= shape[0]:
            raise TargetError(f"{self!r}: the output has {shape[0]} categories (0..{shape[0] - 1}).")
        if self.mask.shape != shape[1:]:
            raise TargetError(
                f"{self!r}: the mask has shape {self.mask.shape} but the output's maps are {shape[1:]} (H, W); "
                "give a mask of the output's size."
            )
        plane = output[self.category]
        return self.ops.total(plane * self.ops.like(self.mask, plane))


def box_iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    """IoU of every ``(M, 4)`` box (``x1, y1, x2, y2``) with one box."""
    x1 = np.maximum(boxes[:, 0], box[0])
    y1 = np.maximum(boxes[:, 1], box[1])
    x2 = np.minimum(boxes[:, 2], box[2])
    y2 = np.minimum(boxes[:, 3], box[3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    own = (box[2] - box[0]) * (box[3] - box[1])
    return inter / np.maximum(area + own - inter, 1e-12)


class DetectionBoxTarget(ScoreTarget):
    """Score of the detections that match given boxes: for each ``(label, box)`` the score of the
    predicted box with that label and the largest IoU (at least ``iou_threshold``); their sum.

    ``labels``: ``(B,)`` ints; ``boxes``: ``(B, 4)`` ``x1, y1, x2, y2`` in input pixels (the boxes to
    explain, typically the detections of the unmodified image). A given box that no prediction
    matches adds 0 (on a perturbed copy the object may vanish).
    """

    def __init__(self, labels: Any, boxes: Any, iou_threshold: float = 0.5) -> None:
        self.labels = np.atleast_1d(np.asarray(labels)).astype(np.int64)
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4) if np.size(boxes) else np.zeros((0, 4))
        if self.labels.shape[0] != self.boxes.shape[0]:
            raise TargetError(
                f"DetectionBoxTarget needs one label per box; got {self.labels.shape[0]} labels and "
                f"{self.boxes.shape[0]} boxes."
            )
        if not 0.0 <= float(iou_threshold) <= 1.0:
            raise TargetError(f"iou_threshold must lie in [0, 1]; got {iou_threshold!r}.")
        self.iou_threshold = float(iou_threshold)

    def __repr__(self) -> str:
        return f"DetectionBoxTarget({len(self.labels)} boxes, iou_threshold={self.iou_threshold})"

    def score(self, output: Any) -> Any:
        if not (isinstance(output, Mapping) and {"boxes", "labels", "scores"} <= set(output)):
            raise TargetError(
                f"{self!r} needs detections: per image a dict with 'boxes' (M, 4), 'labels' (M,) and 'scores' (M,) "
                f"(torchvision's detector output); the model returned {describe_output(output)} per sample. A "
                "classifier is explained with a class index or ClassifierOutputTarget."
            )
        scores = output["scores"]
        pred = self.ops.to_numpy(output["boxes"]).reshape(-1, 4).astype(np.float64)
        labels = self.ops.to_numpy(output["labels"]).reshape(-1).astype(np.int64)
        total = self.ops.total(scores) * 0.0
        for label, box in zip(self.labels, self.boxes):
            iou = np.where(labels == label, box_iou(pred, box), -1.0)
            if iou.size and iou.max() >= self.iou_threshold:
                total = total + scores[int(iou.argmax())]
        return total


class PerSample:
    """A list of targets, one per sample, as one callable ``outputs -> (N,)``."""

    def __init__(self, targets: Sequence[ScoreTarget]) -> None:
        self.targets = list(targets)
        self.ops = self.targets[0].ops

    def __repr__(self) -> str:
        return f"[{', '.join(map(repr, self.targets))}]"

    def __call__(self, outputs: Any) -> Any:
        n = batch_size_of(outputs)
        if n != len(self.targets):
            raise TargetError(f"{len(self.targets)} target objects were given for a batch of {n}; give one per sample.")
        return self.ops.stack([t.score(sample_output(outputs, i)) for i, t in enumerate(self.targets)])

    def for_sample(self, i: int) -> ScoreTarget:
        return self.targets[i]


def normalize_target(target: Any) -> Any:
    """``target_class`` as the rest of the code knows it: ClassifierOutputTarget(s) become class
    indices (so every method, CAM and the perturbation ones included, reads them), a list of other
    target objects one :class:`PerSample` callable; everything else unchanged."""
    if isinstance(target, ClassifierOutputTarget):
        return target.category
    if isinstance(target, (list, tuple)) and target and all(isinstance(t, ScoreTarget) for t in target):
        if all(isinstance(t, ClassifierOutputTarget) for t in target):
            return [t.category for t in target]
        return PerSample(target)
    if isinstance(target, (list, tuple)) and any(isinstance(t, ScoreTarget) for t in target):
        raise TargetError(f"A list target_class mixes target objects with other values: {target!r}.")
    return target


def is_target_object(target: Any) -> bool:
    """Whether ``target`` (normalized) is a target object or a list of them."""
    return isinstance(target, (ScoreTarget, PerSample))


class CopyScorer:
    """Scores of perturbed copies for the perturbation CAMs: ``f(outputs, samples) -> (B, T)``, copy ``b``
    of image ``samples[b]`` scored by each of the ``T`` targets (objects for the batch or per sample)."""

    def __init__(self, targets: Sequence[Any], fixed_sample: int | None = None) -> None:
        self.targets = list(targets)
        self.ops = self.targets[0].ops
        self.fixed_sample = fixed_sample

    def __len__(self) -> int:
        return len(self.targets)

    def bound(self, i: int) -> CopyScorer:
        """The scorer for copies of image ``i`` only (Ablation-CAM runs one image at a time)."""
        return CopyScorer(self.targets, i)

    def _one(self, target: Any, i: int) -> ScoreTarget:
        return target.for_sample(i) if isinstance(target, PerSample) else target

    def __call__(self, outputs: Any, samples: np.ndarray) -> Any:
        rows = []
        for b, i in enumerate(np.asarray(samples).tolist()):
            i = self.fixed_sample if self.fixed_sample is not None else i
            out_b = sample_output(outputs, b)
            rows.append(self.ops.stack([self._one(t, i).score(out_b) for t in self.targets]))
        return self.ops.stack(rows)
