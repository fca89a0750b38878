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


def xgradcam_weights(acts: np.ndarray, grads: np.ndarray) -> np.ndarray:
    r"""XGrad-CAM channel weights (Fu et al., BMVC 2020, Eq. 8).

    .. math:: w_k = \sum_{i,j} \frac{A_k(i,j)}{\sum_{a,b} A_k(a,b)}\, g_k(i,j)

    A channel whose activations sum to zero gets weight 0 (torchcam adds ``1e-8`` to the
    denominator instead; the two agree wherever the sum is not tiny).

    >>> a = np.array([[[[1.0, 3.0]]]]); g = np.array([[[[2.0, 4.0]]]])
    >>> xgradcam_weights(a, g).tolist()  # (1 * 2 + 3 * 4) / 4
    [[3.5]]
    """
    num = (acts.astype(np.float64) * grads).sum(axis=(2, 3))
    den = acts.sum(axis=(2, 3), dtype=np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den != 0)


def smooth_gradcampp_weights(acts: np.ndarray, g1: np.ndarray, g2: np.ndarray, g3: np.ndarray) -> np.ndarray:
    r"""Smooth Grad-CAM++ channel weights (Omeiza et al., 2019) from averaged derivatives.

    With :math:`\bar g_p = \frac{1}{n}\sum_m g^{(m)\,p}` the mean ``p``-th power of the gradient over
    ``n`` noisy copies of the input (the exponential-score trick turns the ``p``-th derivative into
    the ``p``-th power of the first),

    .. math::
        \alpha_k(i,j) = \frac{\bar g_{2,k}(i,j)}{2 \bar g_{2,k}(i,j) + \sum_{a,b} A_k(a,b)\, \bar g_{3,k}(i,j)},
        \qquad w_k = \sum_{i,j} \alpha_k(i,j)\, \mathrm{ReLU}(\bar g_{1,k}(i,j))

    with :math:`A` the activations of the noise-free input and :math:`\alpha = 0` where the
    denominator vanishes. With one noise-free sample this is :func:`gradcampp_weights` exactly.

    >>> a = np.ones((1, 1, 2, 2)); g = np.full((1, 1, 2, 2), 0.5)
    >>> smooth_gradcampp_weights(a, g, g**2, g**3).round(6).tolist()
    [[0.5]]
    """
    s = acts.sum(axis=(2, 3), keepdims=True, dtype=np.float64)
    g2 = g2.astype(np.float64)
    den = 2.0 * g2 + s * g3
    alpha = np.divide(g2, den, out=np.zeros_like(g2), where=den != 0)
    return (alpha * np.maximum(g1, 0.0)).sum(axis=(2, 3))


def ablation_weights(scores: np.ndarray, ablated: np.ndarray) -> np.ndarray:
    r"""Ablation-CAM channel weights (Desai & Ramaswamy, WACV 2020, Eq. 3).

    .. math:: w_k = \frac{y_c - y_c^{(k)}}{y_c}

    with :math:`y_c` the target logit of the input and :math:`y_c^{(k)}` the same logit with channel
    :math:`k` of the target layer set to zero. ``scores`` is ``(N,)``, ``ablated`` ``(N, C)``. Where
    :math:`y_c = 0` the difference itself is used (the ratio is undefined; the sign is kept).

    >>> ablation_weights(np.array([2.0]), np.array([[1.0, 2.0, 3.0]])).tolist()
    [[0.5, 0.0, -0.5]]
    """
    y = scores.astype(np.float64)[:, None]
    diff = y - ablated
    return np.divide(diff, y, out=diff.copy(), where=y != 0)


def eigen_projection(weighted: np.ndarray, center: bool = False) -> np.ndarray:
    r"""First principal component of the (weighted) activations, per image (Eigen-CAM, Muhammad & Yeasin 2020).

    ``weighted`` is ``(N, C, h, w)``. Each position is a point in :math:`\mathbb{R}^C`; with
    :math:`M \in \mathbb{R}^{hw \times C}` those points and :math:`v_1` the first right singular
    vector of :math:`M`, the map is :math:`\mathrm{ReLU}(M v_1)` (the paper's Eq. 5: the activations are
    projected as they are, not centred).

    The sign of a singular vector is arbitrary; we choose the one that makes :math:`v_1` agree with the
    mean activation :math:`\bar m = \frac{1}{hw} \sum_{i,j} M_{(i,j)}`, i.e. :math:`v_1 \cdot \bar m \ge 0`
    (the mean of :math:`M v_1` is then non-negative). Uncentred, :math:`v_1` is the direction that
    carries the most activation *energy*; on a signed pre-activation layer the object's positions are
    where that energy sits, far from the mean, and the map finds them.

    ``center=True`` subtracts :math:`\bar m` from every row first (principal component analysis proper,
    as pytorch-grad-cam does; it leaves the sign to LAPACK, we keep the rule above): the map is then the
    main direction of *variation* around the mean. It helps only where the mean itself is the
    uninformative part, i.e. on post-ReLU layers where every position fires a little and the uncentred
    :math:`v_1` is close to :math:`\bar m` (a "where is anything" map). On signed maps centring throws
    the object away with the mean.

    >>> a = np.zeros((1, 2, 1, 3)); a[0, 0, 0] = [0.0, 1.0, 2.0]; a[0, 1, 0] = [0.0, 2.0, 4.0]
    >>> (eigen_projection(a) / np.sqrt(5)).round(6).tolist()  # rank one: the spatial pattern itself
    [[[0.0, 1.0, 2.0]]]
    >>> (eigen_projection(a, center=True) / np.sqrt(5)).round(6).tolist()  # centred: positions above the mean
    [[[0.0, 0.0, 1.0]]]
    """
    n, c, h, w = weighted.shape
    out = np.zeros((n, h * w), np.float64)
    for i in range(n):
        m = weighted[i].reshape(c, h * w).T.astype(np.float64)
        mean = m.mean(axis=0)
        if center:
            m -= mean
        if not np.any(m):
            continue  # no activation (or, centred, every position identical): no direction
        _, _, vt = np.linalg.svd(m, full_matrices=False)
        v = -vt[0] if np.dot(vt[0], mean) < 0 else vt[0]
        out[i] = m @ v
    return np.maximum(out, 0.0).reshape(n, h, w).astype(np.float32)


def fuse_maps(maps: np.ndarray, how: str = "mean") -> np.ndarray:
    r"""Fuse per-layer maps ``(L, N, H, W)`` that share the input resolution into ``(N, H, W)``.

    ``"mean"``: the average of the per-layer maps, each already min-max normalized (as
    pytorch-grad-cam fuses layers). ``"tanh-max"``: LayerCAM's fusion (Jiang et al., 2021, Eq. 6):
    each map scaled as :math:`\tanh(\gamma M / \max M)` with :math:`\gamma = 2`, which lifts the weak
    but detailed responses of shallow layers, then the element-wise maximum.

    >>> m = np.array([[[[0.0, 1.0]]], [[[1.0, 0.0]]]])
    >>> fuse_maps(m).tolist(), fuse_maps(m, "tanh-max").round(4).tolist()
    ([[[0.5, 0.5]]], [[[0.964, 0.964]]])
    """
    maps = np.asarray(maps, np.float64)
    if how == "mean":
        return maps.mean(axis=0)
    if how == "tanh-max":
        peak = maps.max(axis=(2, 3), keepdims=True)
        scaled = np.tanh(2.0 * np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0))
        return scaled.max(axis=0)
    raise ValueError(f"fusion must be 'mean' or 'tanh-max'; got {how!r}.")
