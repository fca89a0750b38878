"""Pure numpy formulas for class activation maps.

Notation: ``A`` are the target layer's activations ``(N, C, h, w)``, ``g = dS/dA`` the gradients
of the target score ``S`` (a logit, before softmax) with respect to them, ``k`` a channel and
``(i, j)`` a position. Every function works on a whole batch.
"""

from __future__ import annotations

import numpy as np


def gradcam_weights(grads: np.ndarray) -> np.ndarray:
    r"""Grad-CAM channel weights (Selvaraju et al., 2017, Eq. 1).

    .. math:: w_k = \frac{1}{hw} \sum_{i,j} g_k(i, j)

    >>> gradcam_weights(np.arange(8.0).reshape(1, 2, 2, 2)).tolist()
    [[1.5, 5.5]]
    """
    return grads.mean(axis=(2, 3))


def gradcampp_weights(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    r"""Grad-CAM++ channel weights (Chattopadhyay et al., 2018, Eq. 19 with the exponential trick).

    With :math:`Y = \exp(S)` the higher derivatives are powers of the first, and

    .. math::
        \alpha_k(i, j) = \frac{g_k(i,j)^2}{2 g_k(i,j)^2 + \big(\sum_{a,b} A_k(a,b)\big)\, g_k(i,j)^3},
        \qquad w_k = \sum_{i,j} \alpha_k(i, j)\, \mathrm{ReLU}(g_k(i, j))

    where a zero denominator gives :math:`\alpha = 0`. (The positive factor :math:`\exp(S)` that
    multiplies the ReLU term is dropped: it scales the whole map and vanishes after normalization.)

    The derivation assumes non-negative activations (the paper targets post-ReLU maps). On a
    pre-activation layer :math:`\sum A_k` can be negative, the denominator can approach 0 and the
    weights become ill-conditioned: prefer a layer whose output is post-ReLU for Grad-CAM++.

    This is the paper's reading (also pytorch-grad-cam's). torchcam 0.5.0 differs: it sums
    :math:`A_k(a,b)\, g_k(a,b)^3` over positions in the denominator and its in-place division acts on
    a copy, so its effective :math:`\alpha` is :math:`g^2`.

    >>> a = np.ones((1, 1, 2, 2)); g = np.full((1, 1, 2, 2), 0.5)
    >>> gradcampp_weights(a, g).round(6).tolist()  # alpha = 1 / (2 + 4 * 0.5) = 0.25
    [[0.5]]
    """
    # For g > 0, alpha * ReLU(g) = g^2 / (g^2 (2 + S g)) * g = g / (2 + S g) with S = sum(A_k); for
    # g <= 0 the ReLU makes the term 0. Same numbers as the formula above in far fewer passes, and
    # better conditioned (no g^3 of tiny gradients).
    # Two buffers updated in place: fresh multi-megabyte temporaries cost more (page faults) than the math.
    g = grads.astype(np.float64)
    den = g * acts.sum(axis=(2, 3), keepdims=True, dtype=np.float64)
    den += 2.0
    den[den == 0.0] = np.inf  # alpha = 0 where the denominator vanishes
    np.maximum(g, 0.0, out=g)
    g /= den
    return g.sum(axis=(2, 3))


def weighted_sum(weights: np.ndarray, acts: np.ndarray, relu: bool = True) -> np.ndarray:
    r"""Class activation map :math:`L(i, j) = \mathrm{ReLU}\big(\sum_k w_k A_k(i, j)\big)`.

    ``weights`` is ``(N, C)`` (one weight per channel) and ``acts`` ``(N, C, h, w)``; returns ``(N, h, w)``.

    >>> weighted_sum(np.array([[1.0, -1.0]]), np.ones((1, 2, 1, 1)) * [[[[2.0]], [[3.0]]]]).tolist()
    [[[0.0]]]
    """
    cam = np.einsum("nc,nchw->nhw", weights.astype(np.float64), acts.astype(np.float64))
    if relu:
        cam = np.maximum(cam, 0.0)
    return cam.astype(np.float32)
