"""Metrics for explanations of Keras 3 models: faithfulness, localization, sanity checks, complexity.

Definitions (formulas, papers, the reading chosen) are in :mod:`visualization.metrics`; these functions bind
them to Keras 3 (TensorFlow): model evaluations run batched, with ``training=False``, without gradients,
and the model is never changed (randomization tests work on copies rebuilt from the model's config, see
:func:`visualization.keras._metrics_backend.copy_model`).

Images are channels-last, as Keras holds them: ``x`` is a numpy array or ``tf.Tensor`` of shape ``(N, H, W, C)``
or ``(H, W, C)``, and :func:`batched_probabilities` takes ``(M, H, W, C)``. Maps are ``(N, H, W)`` as in
every framework.

* faithfulness: :func:`deletion_curve`, :func:`insertion_curve`, :func:`average_drop_increase`, :func:`road`;
* localization (maps against boxes or masks): :func:`pointing_game`, :func:`energy_pointing_game`;
* sanity checks: :func:`model_parameter_randomization`, :func:`data_randomization_test`;
* complexity: :func:`gini_index`, :func:`entropy_complexity`;
* building blocks: :func:`batched_probabilities`, :func:`randomized_copy`, :func:`noisy_linear_imputation`,
  :func:`compare_maps`, :func:`spearman_rank_correlation`, :func:`structural_similarity`.

An *explanation* is maps ``(N, H, W)``, a CAM or saliency instance of ``visualization.keras``, or any callable
``explain(x, targets) -> maps``; an *explainer* (sanity checks) is a CAM or saliency instance or a callable
``explain(model, x, targets) -> maps``.

Example:
    >>> import numpy as np
    >>> from visualization.keras.cam_visualizer import GradCAM
    >>> from visualization.keras.metrics import deletion_curve, insertion_curve
    >>> from visualization.keras.models import CatDogCNN
    >>> model = CatDogCNN(image_size=32)
    >>> cam = GradCAM(model, "conv3")
    >>> x = np.random.rand(1, 32, 32, 3).astype("float32")   # channels last
    >>> d = deletion_curve(model, x, cam, n_steps=16)
    >>> i = insertion_curve(model, x, cam, n_steps=16)
    >>> d.scores.shape, i.scores.shape
    ((1, 17), (1, 17))
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from ..core.docs import bind_backend
from ..core.errors import InvalidInputError
from ..metrics import complexity as _complexity
from ..metrics import faithfulness as _faithfulness
from ..metrics import localization as _localization
from ..metrics import road as _road
from ..metrics import sanity as _sanity
from ..metrics import scoring as _scoring
from ._backend import BACKEND
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


# bound to this framework's backend: the core functions without their first (backend) argument
deletion_curve = bind_backend(_faithfulness.deletion_curve, METRICS_BACKEND, "keras", __name__)
insertion_curve = bind_backend(_faithfulness.insertion_curve, METRICS_BACKEND, "keras", __name__)
average_drop_increase = bind_backend(_faithfulness.average_drop_increase, METRICS_BACKEND, "keras", __name__)
road = bind_backend(_road.road, METRICS_BACKEND, "keras", __name__)
model_parameter_randomization = bind_backend(_sanity.model_parameter_randomization, METRICS_BACKEND, "keras", __name__)
data_randomization_test = bind_backend(_sanity.data_randomization_test, METRICS_BACKEND, "keras", __name__)
_batched_probabilities = bind_backend(_scoring.batched_probabilities, METRICS_BACKEND, "keras", __name__)


def batched_probabilities(*args: Any, **kwargs: Any) -> np.ndarray:
    bound = inspect.signature(_batched_probabilities).bind(*args, **kwargs)
    images = bound.arguments["images"]
    if BACKEND.is_tensor(images) or isinstance(images, np.ndarray) or isinstance(images, (list, tuple)):
        arr = BACKEND.to_numpy(images) if BACKEND.is_tensor(images) else np.asarray(images, dtype=np.float32)
        if arr.ndim != 4:
            raise InvalidInputError(
                f"Expected images of shape (M, H, W, C) (channels last, as Keras holds them); got shape "
                f"{tuple(arr.shape)}. Add a batch axis to a single image (x[None])."
            )
        bound.arguments["images"] = np.ascontiguousarray(arr.transpose(0, 3, 1, 2))  # the core's layout
    return _batched_probabilities(*bound.args, **bound.kwargs)


batched_probabilities.__signature__ = inspect.signature(_batched_probabilities)  # type: ignore[attr-defined]
batched_probabilities.__doc__ = (_batched_probabilities.__doc__ or "").replace(
    "``(M, C, H, W)`` numpy array or tensor of the framework",
    "``(M, H, W, C)`` (channels last) numpy array or tf.Tensor",
)
randomized_copy = bind_backend(_scoring.randomized_copy, METRICS_BACKEND, "keras", __name__)
