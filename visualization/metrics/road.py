r"""ROAD, remove and debias (Rong et al., ICML 2022, https://arxiv.org/abs/2202.00449).

Deleting pixels to a constant leaks the shape of the deleted region to the model (the mask itself is
a feature), which can make a bad explanation look good. ROAD instead fills every removed pixel with
the *noisy linear imputation* of its neighbours, which hides where the removed pixels were, and
scores the model on the imputed image for the most relevant pixels removed first (MoRF: the score
should fall fast) and the least relevant first (LeRF: it should stay high).

The imputation (:func:`noisy_linear_imputation`) solves a sparse linear system with
``scipy.sparse``; SciPy is imported when a ROAD function is called (it is not a dependency of the
rest of the package).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.backend import check_batch_size, shape_text
from ..core.errors import InvalidInputError
from .backend import MetricsBackend, check_output, check_seed
from .faithfulness import _setup, pixel_ranks

#: Neighbours of a pixel and their weights in the imputation: the four direct neighbours 1/6, the four
#: diagonal ones 1/12 (Rong et al.'s choice; they sum to 1).
NEIGHBOURS: tuple[tuple[int, int, float], ...] = (
    (-1, 0, 1 / 6),
    (1, 0, 1 / 6),
    (0, -1, 1 / 6),
    (0, 1, 1 / 6),
    (-1, -1, 1 / 12),
    (-1, 1, 1 / 12),
    (1, -1, 1 / 12),
    (1, 1, 1 / 12),
)
#: Default fractions of removed pixels, in percent (the paper's x-axis).
PERCENTILES = (10, 20, 30, 40, 50, 60, 70, 80, 90)


@dataclass(frozen=True)
class RoadResult:
    """ROAD scores per image and percentile.

    Attributes:
        percentiles: ``(P,)`` float64, percent of the pixels removed.
        morf: ``(N, P)`` float32, the target's score with the most relevant pixels removed and imputed.
        lerf: ``(N, P)`` float32, the same with the least relevant pixels removed.
        morf_correct: ``(N, P)`` bool, whether the model still ranks the target first (MoRF images).
        lerf_correct: ``(N, P)`` bool, the same for the LeRF images.
        targets: ``(N,)`` int64 class scored per image.
        output: ``"probability"`` or ``"logit"``.
    """

    percentiles: np.ndarray
    morf: np.ndarray
    lerf: np.ndarray
    morf_correct: np.ndarray
    lerf_correct: np.ndarray
    targets: np.ndarray
    output: str

    @property
    def morf_mean(self) -> float:
        """Mean MoRF score over images and percentiles (lower is better)."""
        return float(self.morf.mean())

    @property
    def lerf_mean(self) -> float:
        """Mean LeRF score over images and percentiles (higher is better)."""
        return float(self.lerf.mean())

    @property
    def gap(self) -> float:
        """``lerf_mean - morf_mean``: one number per explanation, higher is better."""
        return self.lerf_mean - self.morf_mean


def _scipy_sparse() -> tuple[Any, Any]:
    try:
        from scipy import sparse
        from scipy.sparse.linalg import spsolve
    except ImportError as exc:  # pragma: no cover - scipy is installed wherever the tests run
        raise ImportError(
            "ROAD's noisy linear imputation solves a sparse linear system with SciPy, which is not installed. "
            "Install it with `pip install scipy`."
        ) from exc
    return sparse, spsolve


def noisy_linear_imputation(
    image: np.ndarray, removed: np.ndarray, noise: float = 0.01, rng: np.random.Generator | None = None
) -> np.ndarray:
    r"""Fill the ``removed`` pixels of ``image`` ``(C, H, W)`` from their neighbours (Rong et al. 2022).

    Every removed pixel :math:`i` takes the weighted mean of its neighbours :math:`\mathcal N(i)` inside
    the image (direct neighbours weight :math:`1/6`, diagonal ones :math:`1/12`, see :data:`NEIGHBOURS`),
    whether those are known or removed themselves:

    .. math:: \Big(\sum_{j \in \mathcal N(i)} w_{ij}\Big)\, v_i - \sum_{j \in \mathcal N(i),\, j \text{ removed}} w_{ij}\, v_j
              = \sum_{j \in \mathcal N(i),\, j \text{ kept}} w_{ij}\, x_j

    one sparse, symmetric, diagonally dominant system for all removed pixels, solved once for every
    channel (``scipy.sparse.linalg.spsolve``). It has a unique solution whenever at least one pixel is
    kept: every 8-connected group of removed pixels borders a kept one. Then Gaussian noise of standard
    deviation ``noise`` (in the image's units) is added to the imputed values, drawn from ``rng`` as one
    ``standard_normal((C, M))`` block for the :math:`M` removed pixels in raster order. A linear function
    of the pixel coordinates is reproduced exactly on removed pixels away from the border (the mean of
    symmetric neighbours of a linear function is its centre value).

    Args:
        image: ``(C, H, W)`` array (not modified).
        removed: ``(H, W)`` bool, the pixels to impute.
        noise: standard deviation of the added noise; 0 for the plain linear imputation.
        rng: the generator of the noise (``None``: ``numpy.random.default_rng(0)``).

    Returns:
        a float32 copy of ``image`` with the removed pixels imputed.

    Example:
        >>> ramp = np.add.outer(np.arange(6.0), 2 * np.arange(6.0))[None]   # v(r, c) = r + 2c
        >>> hole = np.zeros((6, 6), bool); hole[2:4, 1:5] = True
        >>> out = noisy_linear_imputation(np.where(hole, 0.0, ramp), hole, noise=0.0)
        >>> bool(np.allclose(out, ramp, atol=1e-5))
        True
    """
    img = np.asarray(image, dtype=np.float64)
    mask = np.asarray(removed)
    if img.ndim != 3:
        raise InvalidInputError(f"Expected the image as (C, H, W); got shape {shape_text(img.shape)}.")
    if mask.shape != img.shape[1:] or mask.dtype != bool:
        raise InvalidInputError(
            f"Expected `removed` as a bool mask of shape {shape_text(img.shape[1:])}; got {mask.dtype} "
            f"{shape_text(mask.shape)}."
        )
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real) or not noise >= 0 or not math.isfinite(noise):
        raise ValueError(f"noise must be a finite number >= 0 (standard deviation); got {noise!r}.")
    c, h, w = img.shape
    out = img.copy()
    unknown = np.flatnonzero(mask.ravel())
    m = unknown.size
    if m == 0:
        return out.astype(np.float32)
    if m == h * w:
        raise InvalidInputError(
            "Every pixel is marked as removed, so there is nothing to impute from; keep at least one pixel "
            "(ROAD's percentiles must be below 100)."
        )
    sparse, spsolve = _scipy_sparse()
    flat = img.reshape(c, h * w)
    index = np.full(h * w, -1, dtype=np.int64)
    index[unknown] = np.arange(m)
    rows, cols = np.divmod(unknown, w)
    diagonal = np.zeros(m)
    rhs = np.zeros((m, c))
    a_rows: list[np.ndarray] = []
    a_cols: list[np.ndarray] = []
    a_vals: list[np.ndarray] = []
    for dr, dc, weight in NEIGHBOURS:
        r, cc = rows + dr, cols + dc
        inside = (r >= 0) & (r < h) & (cc >= 0) & (cc < w)
        eq = np.flatnonzero(inside)
        nb = r[inside] * w + cc[inside]
        diagonal[eq] += weight
        var = index[nb]
        free = var >= 0
        a_rows.append(eq[free])
        a_cols.append(var[free])
        a_vals.append(np.full(int(free.sum()), -weight))
        np.add.at(rhs, eq[~free], weight * flat[:, nb[~free]].T)
    matrix = sparse.coo_matrix(
        (
            np.concatenate([diagonal, *a_vals]),
            (np.concatenate([np.arange(m), *a_rows]), np.concatenate([np.arange(m), *a_cols])),
        ),
        shape=(m, m),
    ).tocsc()
    solution = np.asarray(spsolve(matrix, rhs)).reshape(m, c)
    if noise > 0:
        generator = rng if rng is not None else np.random.default_rng(0)
        solution = solution + noise * generator.standard_normal((c, m)).T
    out.reshape(c, h * w)[:, unknown] = solution.T
    return out.astype(np.float32)


def _check_percentiles(percentiles: Sequence[float]) -> np.ndarray:
    arr = np.asarray(percentiles, dtype=np.float64) if not isinstance(percentiles, str) else np.zeros(0)
    if arr.ndim != 1 or arr.size == 0 or not np.all((arr > 0) & (arr < 100)):
        raise ValueError(
            f"percentiles must be a non-empty list of percentages of pixels to remove, each in (0, 100); got "
            f"{percentiles!r} (e.g. (10, 20, ..., 90))."
        )
    return arr


def road(
    backend: MetricsBackend,
    model: Any,
    x: Any,
    explanation: Any,
    target_class: Any = None,
    *,
    percentiles: Sequence[float] = PERCENTILES,
    noise: float = 0.01,
    seed: int = 0,
    output: str = "probability",
    batch_size: int = 64,
    progress: bool = False,
) -> RoadResult:
    r"""ROAD: remove and debias (Rong et al., ICML 2022, https://arxiv.org/abs/2202.00449).

    For each percentage :math:`p` of ``percentiles`` the :math:`k = \lfloor p\,HW/100 + \tfrac12 \rfloor`
    pixels ranked first by the map are removed (MoRF: largest values first; LeRF: smallest first; ties
    in raster order) and imputed by :func:`noisy_linear_imputation` (all channels of a pixel), and the
    model scores the imputed image:

    .. math:: \text{MoRF}(p) = p_c\big(\mathrm{NLI}(x, \text{top-}k)\big), \qquad
              \text{LeRF}(p) = p_c\big(\mathrm{NLI}(x, \text{bottom-}k)\big)

    with :math:`p_c` the softmax probability of the target class (or its logit, ``output="logit"``). A
    faithful explanation has a low MoRF curve and a high LeRF curve (the paper averages accuracy over a
    data set; ``morf_correct`` / ``lerf_correct`` give what that needs). Percentages count removed pixels
    (pytorch-grad-cam's ``ROADMostRelevantFirst(percentile=p)`` removes :math:`100 - p` percent instead).

    The noise is drawn from ``numpy.random.default_rng(seed)`` image by image, MoRF before LeRF,
    percentile by percentile, so PyTorch and Paddle see identical images. The imputation runs on the CPU
    (2P sparse solves per image); the imputed images of one input are scored together on the model's
    device, ``batch_size`` at a time.

    Args:
        model, x, explanation, target_class, output, batch_size, progress: as in
            :func:`~visualization.metrics.faithfulness.deletion_curve`.
        percentiles: percentages of pixels removed, each in (0, 100).
        noise: standard deviation of the imputation noise, in the input's units (the paper: 0.01 on
            normalized inputs).
        seed: seed of the noise.

    Returns:
        a :class:`RoadResult` (``morf`` and ``lerf`` ``(N, P)``, ``gap = lerf_mean - morf_mean``).

    Example:
        >>> import numpy as np
        >>> import torch
        >>> from visualization.pytorch.metrics import road
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> maps = np.random.default_rng(0).random((1, 12, 12))
        >>> res = road(model, torch.rand(1, 3, 12, 12), maps, percentiles=(25, 50, 75))
        >>> res.morf.shape, res.lerf.shape
        ((1, 3), (1, 3))
    """
    base = backend.base
    base.check_model(model)
    output = check_output(output)
    batch_size = check_batch_size(batch_size)
    pct = _check_percentiles(percentiles)
    rng = np.random.default_rng(check_seed(seed))
    _scipy_sparse()  # fail early, before any model work, when SciPy is missing
    with base.eval_mode(model):
        x_np, targets, maps = _setup(backend, model, x, explanation, target_class)
        n, _, h, w = x_np.shape
        counts = np.floor(pct * h * w / 100.0 + 0.5).astype(np.int64)
        p = len(counts)
        scores = np.empty((n, 2, p), np.float32)
        correct = np.empty((n, 2, p), bool)
        orders = (pixel_ranks(maps, descending=True), pixel_ranks(maps, descending=False))
        for i in range(n):
            images = [noisy_linear_imputation(x_np[i], ranks[i] < k, noise, rng) for ranks in orders for k in counts]
            s, predicted = backend.batched_probabilities(
                model, np.stack(images), np.full(2 * p, targets[i]), batch_size, output, progress
            )
            scores[i] = s.reshape(2, p)
            correct[i] = (predicted == targets[i]).reshape(2, p)
    return RoadResult(pct, scores[:, 0], scores[:, 1], correct[:, 0], correct[:, 1], targets, output)
