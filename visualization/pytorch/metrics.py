"""Metrics for explanations of PyTorch models: faithfulness, localization, sanity checks, complexity.

Definitions (formulas, papers, the reading chosen) are in :mod:`visualization.metrics`; these functions bind
them to PyTorch: model evaluations run batched on the model's device, in eval mode (flags restored),
without gradients, and the model is never changed (randomization tests work on deep copies).

* faithfulness: :func:`deletion_curve`, :func:`insertion_curve`, :func:`average_drop_increase`, :func:`road`;
* localization (maps against boxes or masks): :func:`pointing_game`, :func:`energy_pointing_game`;
* sanity checks: :func:`model_parameter_randomization`, :func:`data_randomization_test`;
* complexity: :func:`gini_index`, :func:`entropy_complexity`;
* building blocks: :func:`batched_probabilities`, :func:`randomized_copy`, :func:`noisy_linear_imputation`,
  :func:`compare_maps`, :func:`spearman_rank_correlation`, :func:`structural_similarity`.

An *explanation* is maps ``(N, H, W)``, a CAM or saliency instance of ``visualization.pytorch``, or any callable
``explain(x, targets) -> maps``; an *explainer* (sanity checks) is a CAM or saliency instance or a callable
``explain(model, x, targets) -> maps``.

Example:
    >>> import torch
    >>> from visualization.pytorch.cam_visualizer import GradCAM
    >>> from visualization.pytorch.metrics import deletion_curve, insertion_curve
    >>> from visualization.pytorch.models import CatDogCNN
    >>> model = CatDogCNN(image_size=32)
    >>> cam = GradCAM(model, "conv3")
    >>> x = torch.rand(1, 3, 32, 32)
    >>> d = deletion_curve(model, x, cam, n_steps=16)
    >>> i = insertion_curve(model, x, cam, n_steps=16)
    >>> d.scores.shape, i.scores.shape
    ((1, 17), (1, 17))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.docs import for_framework
from ..metrics import complexity as _complexity
from ..metrics import faithfulness as _faithfulness
from ..metrics import localization as _localization
from ..metrics import road as _road
from ..metrics import sanity as _sanity
from ..metrics import scoring as _scoring
from ._metrics_backend import METRICS_BACKEND

__all__ = [
    "CurveResult",
    "DropResult",
    "MapComparison",
    "PointingResult",
    "RandomizationResult",
    "RoadResult",
    "average_drop_increase",
    "batched_probabilities",
    "compare_maps",
    "data_randomization_test",
    "deletion_curve",
    "energy_pointing_game",
    "entropy_complexity",
    "gini_index",
    "insertion_curve",
    "model_parameter_randomization",
    "noisy_linear_imputation",
    "pointing_game",
    "randomized_copy",
    "road",
    "spearman_rank_correlation",
    "structural_similarity",
]

CurveResult = _faithfulness.CurveResult
DropResult = _faithfulness.DropResult
RoadResult = _road.RoadResult
PointingResult = _localization.PointingResult
MapComparison = _sanity.MapComparison
RandomizationResult = _sanity.RandomizationResult

# framework-free: the same functions in both adapters
pointing_game = _localization.pointing_game
energy_pointing_game = _localization.energy_pointing_game
gini_index = _complexity.gini_index
entropy_complexity = _complexity.entropy_complexity
noisy_linear_imputation = _road.noisy_linear_imputation
compare_maps = _sanity.compare_maps
spearman_rank_correlation = _sanity.spearman_rank_correlation
structural_similarity = _sanity.structural_similarity


def deletion_curve(
    model: Any,
    x: Any,
    explanation: Any,
    target_class: Any = None,
    *,
    n_steps: int = 50,
    baseline: Any = "zeros",
    blur_sigma: float = 5.0,
    output: str = "probability",
    batch_size: int = 64,
    progress: bool = False,
) -> CurveResult:
    return _faithfulness.deletion_curve(
        METRICS_BACKEND,
        model,
        x,
        explanation,
        target_class,
        n_steps=n_steps,
        baseline=baseline,
        blur_sigma=blur_sigma,
        output=output,
        batch_size=batch_size,
        progress=progress,
    )


def insertion_curve(
    model: Any,
    x: Any,
    explanation: Any,
    target_class: Any = None,
    *,
    n_steps: int = 50,
    baseline: Any = "blur",
    blur_sigma: float = 5.0,
    output: str = "probability",
    batch_size: int = 64,
    progress: bool = False,
) -> CurveResult:
    return _faithfulness.insertion_curve(
        METRICS_BACKEND,
        model,
        x,
        explanation,
        target_class,
        n_steps=n_steps,
        baseline=baseline,
        blur_sigma=blur_sigma,
        output=output,
        batch_size=batch_size,
        progress=progress,
    )


def average_drop_increase(
    model: Any, x: Any, explanation: Any, target_class: Any = None, *, batch_size: int = 64
) -> DropResult:
    return _faithfulness.average_drop_increase(
        METRICS_BACKEND, model, x, explanation, target_class, batch_size=batch_size
    )


def road(
    model: Any,
    x: Any,
    explanation: Any,
    target_class: Any = None,
    *,
    percentiles: Sequence[float] = _road.PERCENTILES,
    noise: float = 0.01,
    seed: int = 0,
    output: str = "probability",
    batch_size: int = 64,
    progress: bool = False,
) -> RoadResult:
    return _road.road(
        METRICS_BACKEND,
        model,
        x,
        explanation,
        target_class,
        percentiles=percentiles,
        noise=noise,
        seed=seed,
        output=output,
        batch_size=batch_size,
        progress=progress,
    )


def model_parameter_randomization(
    model: Any,
    explainer: Any,
    x: Any,
    target_class: Any = None,
    *,
    layers: Sequence[Any] | None = None,
    cascading: bool = True,
    seed: int = 0,
    keep_maps: bool = False,
) -> RandomizationResult:
    return _sanity.model_parameter_randomization(
        METRICS_BACKEND,
        model,
        explainer,
        x,
        target_class,
        layers=layers,
        cascading=cascading,
        seed=seed,
        keep_maps=keep_maps,
    )


def data_randomization_test(
    model: Any, random_label_model: Any, explainer: Any, x: Any, target_class: Any = None
) -> MapComparison:
    return _sanity.data_randomization_test(METRICS_BACKEND, model, random_label_model, explainer, x, target_class)


def batched_probabilities(
    model: Any,
    images: Any,
    targets: Any,
    *,
    batch_size: int = 64,
    output: str = "probability",
    progress: bool = False,
) -> np.ndarray:
    return _scoring.batched_probabilities(
        METRICS_BACKEND, model, images, targets, batch_size=batch_size, output=output, progress=progress
    )


def randomized_copy(model: Any, layer_names: Sequence[Any], seed: int = 0) -> Any:
    return _scoring.randomized_copy(METRICS_BACKEND, model, layer_names, seed)


for _bound, _core_function in (
    (deletion_curve, _faithfulness.deletion_curve),
    (insertion_curve, _faithfulness.insertion_curve),
    (average_drop_increase, _faithfulness.average_drop_increase),
    (road, _road.road),
    (model_parameter_randomization, _sanity.model_parameter_randomization),
    (data_randomization_test, _sanity.data_randomization_test),
    (batched_probabilities, _scoring.batched_probabilities),
    (randomized_copy, _scoring.randomized_copy),
):
    _bound.__doc__ = for_framework(_core_function.__doc__, "torch")
del _bound, _core_function
