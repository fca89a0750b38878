r"""Sanity checks for saliency maps (Adebayo et al., NeurIPS 2018, https://arxiv.org/abs/1810.03292).

An explanation that does not change when the model's weights are destroyed, or when the model learned
nothing (random labels), cannot be explaining the model; an edge detector passes for a saliency map
by eye but fails these tests.

* :func:`model_parameter_randomization`: the layers are re-initialized one after the other from the
  output down (*cascading*, or one at a time: *independent*) on a deep copy of the model, and the maps
  of each randomized copy are compared with the original maps.
* :func:`data_randomization_test`: the maps of the model are compared with those of a model of the
  same architecture trained on randomly permuted labels. **Training that model is the user's job**
  (same architecture, same recipe, labels shuffled once before training, trained until it fits the
  training set); the function only compares the explanations.

Comparisons (:func:`compare_maps`): Spearman rank correlation of the maps and of their absolute values
(:func:`spearman_rank_correlation`) and the structural similarity index
(:func:`structural_similarity`, scikit-image). Low similarity after randomization is what a faithful
method shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.backend import shape_text
from ..core.cam import BaseCAM
from ..core.errors import InvalidInputError
from ..core.saliency import BaseSaliency
from .backend import MetricsBackend, check_seed
from .explanations import check_explainer, explainer_maps, resolve_targets


@dataclass(frozen=True)
class MapComparison:
    """Similarity of two sets of maps, per image.

    Attributes:
        spearman: ``(N,)`` Spearman rank correlation of the maps.
        spearman_abs: ``(N,)`` the same for the absolute values of the maps.
        ssim: ``(N,)`` structural similarity of the min-max normalized maps.
        maps: ``(N, H, W)`` the first maps (the model's); ``None`` when not kept.
        other_maps: ``(N, H, W)`` the second maps; ``None`` when not kept.
        targets: ``(N,)`` class explained per image (``None`` for maps compared directly).
    """

    spearman: np.ndarray
    spearman_abs: np.ndarray
    ssim: np.ndarray
    maps: np.ndarray | None = None
    other_maps: np.ndarray | None = None
    targets: np.ndarray | None = None


@dataclass(frozen=True)
class RandomizationResult:
    """Model parameter randomization test, one row per randomization step.

    Attributes:
        layers: ``(S,)`` names of the layers randomized at each step, from the output down; with
            ``cascading`` step ``s`` has randomized ``layers[:s + 1]``, otherwise only ``layers[s]``.
        cascading: whether the randomization accumulated.
        spearman: ``(S, N)`` Spearman rank correlation between the original and the randomized maps.
        spearman_abs: ``(S, N)`` the same on absolute values.
        ssim: ``(S, N)`` structural similarity of the min-max normalized maps.
        targets: ``(N,)`` class explained per image (fixed on the original model).
        original_maps: ``(N, H, W)`` maps of the original model.
        randomized_maps: ``(S, N, H, W)`` maps of each randomized copy if ``keep_maps``, else ``None``.
    """

    layers: tuple[str, ...]
    cascading: bool
    spearman: np.ndarray
    spearman_abs: np.ndarray
    ssim: np.ndarray
    targets: np.ndarray
    original_maps: np.ndarray
    randomized_maps: np.ndarray | None


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.ndim == 2:
        x, y = x[None], y[None] if y.ndim == 2 else y
    if x.shape != y.shape or x.ndim != 3:
        raise InvalidInputError(
            f"Expected two sets of maps of the same shape (N, H, W) (or (H, W)); got {shape_text(np.shape(a))} and "
            f"{shape_text(np.shape(b))}."
        )
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InvalidInputError("The maps contain NaN or infinite values.")
    return x, y


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of each row, ties sharing their mean rank."""
    n, m = values.shape
    order = np.argsort(values, axis=1, kind="stable")
    sorted_vals = np.take_along_axis(values, order, axis=1)
    ranks = np.empty((n, m))
    for i in range(n):
        starts = np.flatnonzero(np.r_[True, sorted_vals[i, 1:] != sorted_vals[i, :-1]])
        ends = np.r_[starts[1:], m]
        mean_rank = (starts + ends + 1) / 2.0  # ranks start .. end-1, shifted to 1-based
        ranks[i, order[i]] = np.repeat(mean_rank, ends - starts)
    return ranks


def spearman_rank_correlation(a: Any, b: Any) -> np.ndarray:
    r"""Spearman rank correlation of two maps per image: the Pearson correlation of their ranks.

    .. math:: \rho(a, b) = \frac{\operatorname{cov}\big(R(a), R(b)\big)}{\sigma_{R(a)}\, \sigma_{R(b)}}

    with :math:`R` the ranks of all pixels, tied values sharing their mean rank (as
    ``scipy.stats.spearmanr``). A constant map has no ranking: two constant maps correlate 1, a
    constant and a non-constant map 0 (instead of an undefined value).

    Args:
        a, b: ``(N, H, W)`` maps (or one ``(H, W)`` pair).

    Returns:
        ``(N,)`` float64 in ``[-1, 1]``.

    Example:
        >>> a = np.arange(16.0).reshape(4, 4)
        >>> spearman_rank_correlation(a, a ** 3).tolist(), spearman_rank_correlation(a, -a).tolist()
        ([1.0], [-1.0])
    """
    x, y = _pair(a, b)
    n = x.shape[0]
    rx, ry = _average_ranks(x.reshape(n, -1)), _average_ranks(y.reshape(n, -1))
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    sx, sy = np.sqrt((rx**2).sum(axis=1)), np.sqrt((ry**2).sum(axis=1))
    both_constant, one_constant = (sx == 0) & (sy == 0), (sx == 0) ^ (sy == 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rx * ry).sum(axis=1) / (sx * sy)
    return np.clip(np.where(both_constant, 1.0, np.where(one_constant, 0.0, rho)), -1.0, 1.0)


def structural_similarity(a: Any, b: Any) -> np.ndarray:
    r"""Structural similarity index (Wang et al., IEEE TIP 2004) of two maps per image, as
    ``skimage.metrics.structural_similarity`` computes it on the maps min-max normalized to ``[0, 1]``
    (``data_range=1``; a constant map becomes zeros), with its default 7 x 7 uniform window (the
    largest odd window that fits, for maps smaller than 7 pixels):

    .. math:: \mathrm{SSIM}(a, b) = \operatorname{mean}_{\text{windows}}
              \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}{(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)}

    Needs scikit-image (``pip install scikit-image``).

    Example:
        >>> a = np.random.default_rng(0).random((2, 16, 16))
        >>> structural_similarity(a, a).tolist()
        [1.0, 1.0]
    """
    x, y = _pair(a, b)
    try:
        from skimage.metrics import structural_similarity as ssim
    except ImportError as exc:  # pragma: no cover - scikit-image is installed wherever the tests run
        raise ImportError(
            "The SSIM comparison uses scikit-image, which is not installed: `pip install scikit-image`."
        ) from exc
    h, w = x.shape[1:]
    win = min(7, h if h % 2 else h - 1, w if w % 2 else w - 1)
    if win < 3:
        raise InvalidInputError(f"SSIM needs maps of at least 3 x 3 pixels; got {h} x {w}.")
    xn, yn = _min_max(x), _min_max(y)
    return np.array([ssim(p, q, data_range=1.0, win_size=win) for p, q in zip(xn, yn)], dtype=np.float64)


def _min_max(maps: np.ndarray) -> np.ndarray:
    """Each map scaled to ``[0, 1]`` in float64; a constant map becomes zeros."""
    lo = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - lo
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1.0), 0.0)


def compare_maps(a: Any, b: Any) -> MapComparison:
    """Spearman correlation (of the maps and of their absolute values) and SSIM of two sets of maps.

    Example:
        >>> a = np.random.default_rng(0).random((1, 8, 8))
        >>> c = compare_maps(a, 2 * a + 1)
        >>> c.spearman.round(6).tolist(), c.spearman_abs.round(6).tolist(), c.ssim.round(6).tolist()
        ([1.0], [1.0], [1.0])
    """
    x, y = _pair(a, b)
    return MapComparison(
        spearman_rank_correlation(x, y),
        spearman_rank_correlation(np.abs(x), np.abs(y)),
        structural_similarity(x, y),
    )


def model_parameter_randomization(
    backend: MetricsBackend,
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
    r"""Model parameter randomization test (Adebayo et al., "Sanity checks for saliency maps", NeurIPS 2018,
    https://arxiv.org/abs/1810.03292, Section 3.1).

    Let :math:`f_s` be a deep copy of the model whose layers :math:`\ell_1, \dots, \ell_s` (from the
    output down) have freshly drawn parameters (cascading; independent: only :math:`\ell_s`), and
    :math:`E(f, x)` the explanation. Each step reports

    .. math:: \rho_s = \mathrm{Spearman}\big(E(f, x), E(f_s, x)\big), \quad
              \rho^{|\cdot|}_s = \mathrm{Spearman}\big(|E(f, x)|, |E(f_s, x)|\big), \quad
              \mathrm{SSIM}\big(E(f, x), E(f_s, x)\big)

    A method that explains the model loses similarity as more layers are randomized; one that stays at
    :math:`\rho = 1` ignores the model. The model itself is never changed: every step works on a deep
    copy (:meth:`~visualization.metrics.backend.MetricsBackend.randomized_copy` says how parameters are
    redrawn; running statistics of normalization layers are kept). The class explained is fixed on the
    original model (``None``: its predicted class) and explained on every copy.

    Args:
        model: the trained classifier.
        explainer: a CAM or saliency instance built on ``model`` (re-bound to each copy, its target
            layers matched by name), or a callable ``explain(model, x, targets) -> maps``.
        x: images ``(N, C, H, W)`` or one ``(C, H, W)`` (not modified).
        target_class: ``None``, an int or one int per image.
        layers: the layers to randomize, from the output down (names or layer objects); ``None``: every
            layer that holds parameters and runs on ``x``, from the output down.
        cascading: accumulate the randomization (the paper's main test) or randomize one layer at a time.
        seed: seed of the redrawn parameters.
        keep_maps: keep every randomized map in the result (memory: ``S x N x H x W`` float32).

    Returns:
        a :class:`RandomizationResult` with ``(S, N)`` ``spearman``, ``spearman_abs`` and ``ssim``.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import GradCAM
        >>> from visualization.pytorch.metrics import model_parameter_randomization
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> res = model_parameter_randomization(model, GradCAM(model, "0"), torch.rand(1, 3, 16, 16))
        >>> res.layers, res.spearman.shape
        (('4', '0'), (2, 1))
    """
    base = backend.base
    base.check_model(model)
    check_explainer(explainer, model)
    seed = check_seed(seed)
    with base.eval_mode(model):
        xt = base.prepare_input(model, x)
        x_np = base.to_numpy(xt)
        targets = resolve_targets(target_class, base.predict(model, xt))
        names = backend.parameter_layers(model, xt) if layers is None else backend.check_layers(model, layers)
        if not names:
            raise InvalidInputError("The model has no layer with parameters to randomize.")
        original = explainer_maps(base, model, model, x_np, explainer, targets)
        current = model
        rows: list[MapComparison] = []
        kept: list[np.ndarray] = []
        for name in names:
            current = backend.randomized_copy(current if cascading else model, [name], seed)
            maps = explainer_maps(base, current, model, x_np, explainer, targets)
            rows.append(compare_maps(original, maps))
            if keep_maps:
                kept.append(maps)
    return RandomizationResult(
        tuple(names),
        bool(cascading),
        np.stack([r.spearman for r in rows]),
        np.stack([r.spearman_abs for r in rows]),
        np.stack([r.ssim for r in rows]),
        targets,
        original,
        np.stack(kept) if keep_maps else None,
    )


def data_randomization_test(
    backend: MetricsBackend,
    model: Any,
    random_label_model: Any,
    explainer: Any,
    x: Any,
    target_class: Any = None,
) -> MapComparison:
    r"""Data randomization test (Adebayo et al., NeurIPS 2018, https://arxiv.org/abs/1810.03292, Section 3.2).

    .. math:: \rho = \mathrm{Spearman}\big(E(f, x), E(f_\text{rand}, x)\big), \quad
              \rho^{|\cdot|}, \quad \mathrm{SSIM}\big(E(f, x), E(f_\text{rand}, x)\big)

    with :math:`f_\text{rand}` a model of the same architecture **trained by you on randomly permuted
    labels** (shuffle the training labels once, train with the same recipe until the model fits the
    training set; it memorizes and learns nothing that generalizes). Training it is the user's job; this
    function only explains ``x`` with both models and compares the maps: a faithful method gives
    dissimilar maps. The class explained is fixed on ``model`` (``None``: its predicted class) and
    explained for both models (pass the true labels to follow the paper).

    Args:
        model: the model trained on the true labels.
        random_label_model: the same architecture trained on random labels (same layer names).
        explainer: a CAM or saliency instance built on ``model`` (re-bound to ``random_label_model``, target
            layers matched by name), or a callable ``explain(model, x, targets) -> maps``.
        x: images ``(N, C, H, W)`` or one ``(C, H, W)`` (not modified).
        target_class: ``None``, an int or one int per image.

    Returns:
        a :class:`MapComparison` with both sets of maps and the targets.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import GradCAM
        >>> from visualization.pytorch.metrics import data_randomization_test
        >>> def net():
        ...     return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        ...                                torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> model, shuffled = net(), net()   # in practice: trained on true and on shuffled labels
        >>> res = data_randomization_test(model, shuffled, GradCAM(model, "0"), torch.rand(2, 3, 16, 16), 0)
        >>> res.spearman.shape, res.other_maps.shape
        ((2,), (2, 16, 16))
    """
    base = backend.base
    base.check_model(model)
    base.check_model(random_label_model)
    check_explainer(explainer, model)
    if isinstance(explainer, (BaseCAM, BaseSaliency)):
        ours = {n for n, _ in base.named_layers(model)}
        theirs = {n for n, _ in base.named_layers(random_label_model)}
        if ours != theirs:
            raise InvalidInputError(
                "random_label_model must have the same architecture (the same layer names) as model, so that the "
                f"explainer can be re-bound to it; layers of model it lacks: {sorted(ours - theirs)[:5]}, layers it "
                f"has in addition: {sorted(theirs - ours)[:5]}."
            )
    with base.eval_mode(model), base.eval_mode(random_label_model):
        xt = base.prepare_input(model, x)
        x_np = base.to_numpy(xt)
        targets = resolve_targets(target_class, base.predict(model, xt))
        maps = explainer_maps(base, model, model, x_np, explainer, targets)
        other = explainer_maps(base, random_label_model, model, x_np, explainer, targets)
    c = compare_maps(maps, other)
    return MapComparison(c.spearman, c.spearman_abs, c.ssim, maps, other, targets)
