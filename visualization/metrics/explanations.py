"""Turn whatever the user calls an explanation into ``(N, H, W)`` maps, and re-bind explainers to model copies.

An *explanation* given to a faithfulness metric is one of:

* maps: a numpy array (or a tensor of the framework) ``(N, H, W)``, ``(N, 1, H, W)`` or, for one image,
  ``(H, W)``; maps of another size than the input are resized bilinearly;
* a CAM instance (``GradCAM(model, "conv3")``, any class of ``cam_visualizer``): its heatmaps;
* a saliency instance (``IntegratedGradients(model)``, any class of ``saliency``): its maps
  (:func:`~visualization.core.saliency.saliency_maps`, the largest absolute value over channels);
* any callable ``explain(x, targets) -> maps``: ``x`` is a fresh copy of the input as a tensor of the
  framework on the model's device, ``targets`` the ``(N,)`` int64 class indices being evaluated.

An *explainer* given to a sanity check must be re-computable on another model: a CAM or saliency
instance (re-bound to the model copy by :func:`rebind`, target layers matched by name) or a callable
``explain(model, x, targets) -> maps``.
"""

from __future__ import annotations

import copy
import logging
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core.backend import Backend, shape_text
from ..core.cam import BaseCAM
from ..core.errors import InvalidInputError, TargetError
from ..core.image import resize_bilinear
from ..core.saliency import BaseSaliency, saliency_maps
from ..core.targets import resolve_indices

logger = logging.getLogger("visualization")

#: What the faithfulness metrics accept as an explanation besides maps (see the module docstring).
Explanation = BaseCAM | BaseSaliency | Callable[[Any, np.ndarray], Any]
#: What the sanity checks accept as an explainer (see the module docstring).
Explainer = BaseCAM | BaseSaliency | Callable[[Any, Any, np.ndarray], Any]


def resolve_targets(target_class: Any, outputs: np.ndarray) -> np.ndarray:
    """``(N,)`` int64 class indices: ``None`` (each image's predicted class), an int or one int per image.

    >>> resolve_targets(None, np.array([[0.0, 1.0], [2.0, 0.0]])).tolist()
    [1, 0]
    """
    if callable(target_class):
        raise TargetError(
            "Metrics score the model's output for a class on perturbed copies, so they need class indices; a "
            "callable target_class is not supported. Pass None (the predicted class), an int or one int per image."
        )
    if outputs.ndim != 2:
        raise InvalidInputError(
            f"Metrics need a classifier: model outputs of shape (N, num_classes); the model returned shape "
            f"{shape_text(outputs.shape)}. Wrap the model so that it returns one row of class scores per image."
        )
    return resolve_indices(target_class, outputs)


def check_maps(maps: Any, n: int, size: tuple[int, int], what: str = "explanation") -> np.ndarray:
    """``maps`` as float32 ``(n, H, W)`` at ``size``: ``(H, W)`` (one image), ``(n, H, W)`` or ``(n, 1, H, W)``
    accepted; another spatial size is resized bilinearly; NaN / inf refused.

    >>> check_maps(np.ones((2, 2)), 1, (4, 4)).shape
    (1, 4, 4)
    """
    arr = np.asarray(maps)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidInputError(f"Expected the {what} as a numeric array of maps (N, H, W); got {type(maps).__name__}.")
    arr = arr.astype(np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    elif arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 3 or arr.shape[0] != n:
        raise InvalidInputError(
            f"Expected the {what} as maps of shape ({n}, H, W) (one per image; (H, W) for one image); got shape "
            f"{shape_text(np.shape(maps))}. Reduce attributions over channels first (e.g. np.abs(a).max(axis=1))."
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"The {what} contains NaN or infinite values; check how the maps were computed.")
    if arr.shape[1:] != tuple(size):
        logger.info("resizing the %s from %s to the input's %s bilinearly", what, arr.shape[1:], tuple(size))
        arr = resize_bilinear(arr, size)
    return np.ascontiguousarray(arr, dtype=np.float32)


def explanation_maps(base: Backend, model: Any, x_np: np.ndarray, explanation: Any, targets: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` float32 maps of ``explanation`` (see the module docstring) for the images ``x_np``
    ``(N, C, H, W)`` and the classes ``targets``.

    >>> import torch
    >>> from visualization.pytorch._backend import BACKEND
    >>> model = torch.nn.Conv2d(3, 2, 1)   # only its device and dtype matter to a callable explanation
    >>> explain = lambda x, targets: x.abs().sum(dim=1)          # any callable (x, targets) -> maps
    >>> explanation_maps(BACKEND, model, np.ones((2, 3, 4, 4), np.float32), explain, np.array([0, 1]))[0, 0].tolist()
    [3.0, 3.0, 3.0, 3.0]
    """
    n, size = x_np.shape[0], (int(x_np.shape[2]), int(x_np.shape[3]))
    if isinstance(explanation, (BaseCAM, BaseSaliency)):
        _check_same_model(explanation, model)
        fresh = base.user_tensor(model, x_np)
        if isinstance(explanation, BaseCAM):
            maps = explanation.compute(fresh, targets).heatmaps
        else:
            maps = saliency_maps(explanation.compute(fresh, targets).attributions)
        return check_maps(maps, n, size)
    if base.is_tensor(explanation):
        return check_maps(base.to_numpy(explanation), n, size)
    if isinstance(explanation, np.ndarray) or _is_nested_numbers(explanation):
        return check_maps(explanation, n, size)
    if callable(explanation):
        out = explanation(base.user_tensor(model, x_np), targets.copy())
        return check_maps(base.to_numpy(out) if base.is_tensor(out) else out, n, size, "explain(x, targets) result")
    raise InvalidInputError(
        f"Expected the explanation as maps (N, H, W), a CAM or saliency instance, or a callable "
        f"explain(x, targets) -> maps; got {type(explanation).__module__}.{type(explanation).__qualname__}."
    )


def explainer_maps(
    base: Backend, model: Any, original: Any, x_np: np.ndarray, explainer: Any, targets: np.ndarray
) -> np.ndarray:
    """Maps of a sanity-check ``explainer`` for ``model`` (``original`` or a copy of it, see :func:`rebind`)."""
    n, size = x_np.shape[0], (int(x_np.shape[2]), int(x_np.shape[3]))
    if isinstance(explainer, (BaseCAM, BaseSaliency)):
        bound = explainer if model is original else rebind(base, explainer, original, model)
        return explanation_maps(base, model, x_np, bound, targets)
    if callable(explainer):
        out = explainer(model, base.user_tensor(model, x_np), targets.copy())
        return check_maps(
            base.to_numpy(out) if base.is_tensor(out) else out, n, size, "explain(model, x, targets) result"
        )
    raise InvalidInputError(
        f"Expected the explainer as a CAM or saliency instance, or a callable explain(model, x, targets) -> maps "
        f"(the sanity checks recompute it on other models); got {type(explainer).__module__}."
        f"{type(explainer).__qualname__}."
    )


def check_explainer(explainer: Any, model: Any) -> None:
    """Refuse precomputed maps and explainers built on another model, before any work is done."""
    if isinstance(explainer, (BaseCAM, BaseSaliency)):
        _check_same_model(explainer, model)
    elif isinstance(explainer, np.ndarray) or not callable(explainer):
        raise InvalidInputError(
            "A sanity check recomputes the explanation on other models, so it needs an explainer, not maps: pass "
            "a CAM or saliency instance built on the model, or a callable explain(model, x, targets) -> maps."
        )


def rebind(base: Backend, explainer: Any, old_model: Any, new_model: Any) -> Any:
    """A shallow copy of a CAM / saliency ``explainer`` (and of the explainers it wraps) that works on
    ``new_model``, a copy of ``old_model`` with the same layer names: every reference to the old model or
    to one of its layers (target layers, a classifier layer) is replaced by the new model's counterpart.
    The explainer itself is not changed.

    >>> import copy, torch
    >>> from visualization.pytorch._backend import BACKEND
    >>> from visualization.pytorch.cam_visualizer import GradCAM
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
    ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
    >>> clone = copy.deepcopy(model)
    >>> cam = rebind(BACKEND, GradCAM(model, "0"), model, clone)
    >>> cam.model is clone, cam.target_layer is clone[0]
    (True, True)
    """
    new_layers = dict(base.named_layers(new_model))
    mapping: dict[int, Any] = {id(old_model): new_model}
    for name, layer in base.named_layers(old_model):
        mapping[id(layer)] = new_layers[name]
    return _swap(explainer, mapping)


def _swap(value: Any, mapping: dict[int, Any]) -> Any:
    if id(value) in mapping:
        return mapping[id(value)]
    if isinstance(value, (BaseCAM, BaseSaliency)):
        clone = copy.copy(value)
        clone.__dict__.update({k: _swap(v, mapping) for k, v in vars(value).items()})
        return clone
    if type(value) in (list, tuple):
        return type(value)(_swap(v, mapping) for v in value)
    if type(value) is dict:
        return {k: _swap(v, mapping) for k, v in value.items()}
    return value


def _check_same_model(explainer: Any, model: Any) -> None:
    if explainer.model is not model:
        raise InvalidInputError(
            f"{explainer!r} was built on another model than the one evaluated; build it on the model passed "
            "here (the metric scores the explanation of this model)."
        )


def _is_nested_numbers(obj: Any) -> bool:
    """A (nested) list or tuple of numbers, read as maps."""
    while isinstance(obj, (list, tuple)) and obj:
        obj = obj[0]
    return isinstance(obj, numbers.Number) and not isinstance(obj, bool)
