"""CAMs computed from one capture: the classifier's weights, the gradients, or the activations alone.

Each class only says how to weigh the target layer's channels (or positions); the template in
:class:`~visualization.core.cam.BaseCAM` does the rest. Notation as in :mod:`~visualization.core.cam_math`:
``A`` the layer's activations ``(N, C, h, w)``, ``g = dS/dA`` with ``S`` the target logit.

Every example below builds the same toy network, conv -> ReLU -> global average pool -> linear.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import cam_math
from .backend import Capture, check_batch_size
from .cam import BaseCAM, CAMResult
from .errors import LayerOutputError, TargetError
from .layers import resolve_layer
from .score_targets import PerSample


class CAM(BaseCAM):
    r"""The original class activation map (Zhou et al., CVPR 2016, https://arxiv.org/abs/1512.04150).

    .. math:: L = \mathrm{ReLU}\Big(\sum_k W_{c,k} A_k\Big)

    for a network whose class scores are :math:`y = W\,\mathrm{GAP}(A) + b`: the target layer's output
    is globally average-pooled and fed to one fully connected layer ``fc_layer`` (found by itself:
    the last linear layer with ``C`` inputs). No gradient is computed. On every call the model's own
    outputs are checked against :math:`W\,\mathrm{GAP}(A) + b`; a model built otherwise (another
    layer between the pooling and the classifier, max pooling, a softmax output) gets a clear error
    instead of a wrong map. On such networks CAM equals Grad-CAM times :math:`hw`.

    Args:
        model: the network.
        target_layer: the layer whose output is pooled (``None``: the last spatial layer).
        fc_layer: the classifier layer (object or dotted name); ``None`` to find it.
        aug_smooth, eigen_smooth, reshape_transform, output: see :class:`~visualization.core.cam.BaseCAM`.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import CAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> CAM(model, "1").compute(torch.rand(1, 3, 16, 16), 1).weights.shape
        (1, 4)
    """

    method_name = "CAM"
    needs_gradients = False

    def __init__(
        self,
        model: Any,
        target_layer: Any = None,
        fc_layer: Any = None,
        *,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        reshape_transform: Any = None,
        output: Any = None,
    ) -> None:
        super().__init__(
            model,
            target_layer,
            aug_smooth=aug_smooth,
            eigen_smooth=eigen_smooth,
            reshape_transform=reshape_transform,
            output=output,
        )
        self.fc_layer: tuple[str, Any] | None = None
        if fc_layer is not None:
            self.fc_layer = resolve_layer(self.backend.named_layers(model), fc_layer)
            if self.backend.linear_weights(self.fc_layer[1]) is None:
                raise LayerOutputError(f"fc_layer {self.fc_layer[0]!r} is not a fully connected (linear) layer.")

    def _classifier(self, channels: int) -> tuple[str, np.ndarray, np.ndarray]:
        candidates = [self.fc_layer] if self.fc_layer else self.backend.named_layers(self.model)
        # the last matching layer wins: search from the end and copy no other layer's weights
        for name, layer in reversed(candidates):
            wb = self.backend.linear_weights(layer)
            if wb is not None and wb[0].shape[1] == channels:
                return (name, *wb)
        raise LayerOutputError(
            f"CAM needs a fully connected layer with {channels} inputs (one per channel of the target layer) "
            "after a global average pooling; this model has none. Use GradCAM instead (it needs no such "
            "layer and equals CAM on networks that have one), or pick the layer whose output is pooled."
        )

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        acts = capture.activations
        name, w, b = self._classifier(acts.shape[1])
        pooled = acts.mean(axis=(2, 3), dtype=np.float64)
        predicted = pooled @ w.T.astype(np.float64) + b
        outputs = capture.outputs
        scale = max(1.0, float(np.abs(outputs).max())) if outputs.size else 1.0
        if outputs.shape != predicted.shape or np.abs(predicted - outputs).max() > 1e-3 * scale:
            got = (
                f"they differ by up to {np.abs(predicted - outputs).max():.3g}"
                if outputs.shape == predicted.shape
                else f"the model outputs shape {outputs.shape}, the formula gives {predicted.shape}"
            )
            raise LayerOutputError(
                f"CAM assumes the class scores are W . GAP(A) + b with A the output of {capture.layer_name!r} and "
                f"W, b those of {name!r}; {got}. Either another operation sits between the layer and the "
                "classifier (then use GradCAM, which does not need this structure) or the layer is not the one "
                "whose output is pooled (choose that one)."
            )
        if capture.targets is None:
            raise TargetError(
                "CAM reads one row of the classifier's weights, so it needs class indices; "
                "a callable target_class is not supported. Pass None, an int or one int per sample."
            )
        return w[capture.targets]


class GradCAM(BaseCAM):
    r"""Grad-CAM (Selvaraju et al., ICCV 2017, https://arxiv.org/abs/1610.02391).

    .. math::
        w_k = \frac{1}{hw} \sum_{i,j} \frac{\partial S}{\partial A_k(i,j)}, \qquad
        L = \mathrm{ReLU}\Big(\sum_k w_k A_k\Big)

    with :math:`S` the target class's score before softmax and :math:`A` the target layer's output.
    Only the part of the network after the target layer is differentiated.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import GradCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> GradCAM(model, "0").generate_cam(torch.rand(1, 3, 16, 16), target_class=1).shape
        (16, 16)
    """

    method_name = "Grad-CAM"

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        assert capture.gradients is not None
        return cam_math.gradcam_weights(capture.gradients)


class GradCAMPlusPlus(BaseCAM):
    r"""Grad-CAM++ (Chattopadhyay et al., WACV 2018, https://arxiv.org/abs/1710.11063).

    .. math::
        \alpha_k(i,j) = \frac{g_k(i,j)^2}{2 g_k(i,j)^2 + \sum_{a,b} A_k(a,b)\, g_k(i,j)^3}, \quad
        w_k = \sum_{i,j} \alpha_k(i,j)\, \mathrm{ReLU}(g_k(i,j)), \quad
        L = \mathrm{ReLU}\Big(\sum_k w_k A_k\Big)

    with :math:`g = \partial S / \partial A` (the paper's Eq. 19 under its exponential-score trick).
    See :func:`visualization.core.cam_math.gradcampp_weights` for how torchcam's reading differs.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import GradCAMPlusPlus
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> GradCAMPlusPlus(model, "0").generate_cam(torch.rand(2, 3, 16, 16)).shape
        (2, 16, 16)
    """

    method_name = "Grad-CAM++"

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        assert capture.gradients is not None
        return cam_math.gradcampp_weights(capture.activations, capture.gradients)


class XGradCAM(BaseCAM):
    r"""XGrad-CAM (Fu et al., BMVC 2020, https://arxiv.org/abs/2008.02312).

    .. math::
        w_k = \sum_{i,j} \frac{A_k(i,j)}{\sum_{a,b} A_k(a,b)}\, g_k(i,j), \qquad
        L = \mathrm{ReLU}\Big(\sum_k w_k A_k\Big)

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import XGradCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> XGradCAM(model, "1").generate_cam(torch.rand(1, 3, 16, 16), 0).shape
        (16, 16)
    """

    method_name = "XGrad-CAM"

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        assert capture.gradients is not None
        return cam_math.xgradcam_weights(capture.activations, capture.gradients)


class LayerCAM(BaseCAM):
    r"""LayerCAM (Jiang et al., IEEE TIP 2021, https://doi.org/10.1109/TIP.2021.3089943).

    .. math:: L = \mathrm{ReLU}\Big(\sum_k \mathrm{ReLU}(g_k) \odot A_k\Big)

    Every position has its own weight, so the map stays sharp on early, high-resolution layers.
    Several target layers are fused as the paper proposes: each map scaled by
    :math:`\tanh(2 M / \max M)`, then the element-wise maximum.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import LayerCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> LayerCAM(model, ["0", "1"]).compute(torch.rand(1, 3, 16, 16), 0).layer_name
        '0 + 1'
    """

    method_name = "LayerCAM"
    fusion = "tanh-max"

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        assert capture.gradients is not None
        return np.maximum(capture.gradients, 0.0)


class HiResCAM(BaseCAM):
    r"""HiResCAM (Draelos & Carin, 2020, https://arxiv.org/abs/2011.08891).

    .. math:: L = \mathrm{ReLU}\Big(\sum_k g_k \odot A_k\Big)

    The element-wise product instead of Grad-CAM's averaged gradient: for a network whose scores are
    linear in the layer's output it is exactly each position's contribution to the score.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import HiResCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> HiResCAM(model, "1").compute(torch.rand(1, 3, 16, 16), 0).weights.shape
        (1, 4, 14, 14)
    """

    method_name = "HiResCAM"

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        assert capture.gradients is not None
        return capture.gradients


class EigenCAM(BaseCAM):
    r"""Eigen-CAM (Muhammad & Yeasin, IJCNN 2020, https://arxiv.org/abs/2008.00299).

    .. math:: L = \mathrm{ReLU}(M v_1)

    with :math:`M` the activations as ``hw`` points in :math:`\mathbb{R}^C`, taken as they are (the
    paper's definition), and :math:`v_1` their first right singular vector, signed to agree with the
    mean activation (:func:`~visualization.core.cam_math.eigen_projection`). Needs no gradient and no
    class: the map is the same for every target (``targets`` still records the class of each sample).

    ``center=True`` subtracts the mean activation first (principal component analysis proper, as
    pytorch-grad-cam computes Eigen-CAM). On a signed pre-activation layer that throws the object away
    with the mean; on post-ReLU layers the two are close. Measured with ``python -m bench.eigen_cam``
    (pretrained EfficientNet-Lite0, deletion / insertion AUC, lower / higher is better): see the
    method table of docs chapter 04.

    Args:
        model, target_layer: as for every CAM.
        center: centre the activations before the decomposition (default: no, as in the paper).
        aug_smooth, eigen_smooth: see :class:`~visualization.core.cam.BaseCAM` (``eigen_smooth`` is implied).

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import EigenCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> EigenCAM(model, "1").generate_cam(torch.rand(1, 3, 16, 16)).shape
        (16, 16)
    """

    method_name = "Eigen-CAM"
    needs_gradients = False

    def __init__(
        self,
        model: Any,
        target_layer: Any = None,
        *,
        center: bool = False,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        reshape_transform: Any = None,
        output: Any = None,
    ) -> None:
        super().__init__(
            model,
            target_layer,
            aug_smooth=aug_smooth,
            eigen_smooth=eigen_smooth,
            reshape_transform=reshape_transform,
            output=output,
        )
        self.eigen_center = bool(center)

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        return np.ones(capture.activations.shape[:2], np.float32)

    def _finish(self, xt: Any, cap: Capture, weights: np.ndarray, eigen: bool) -> CAMResult:
        return super()._finish(xt, cap, weights, True)


class EigenGradCAM(BaseCAM):
    r"""Eigen-Grad-CAM: the first principal component of :math:`g \odot A` (defined by pytorch-grad-cam).

    .. math:: L = \mathrm{ReLU}(M v_1), \quad M = g \odot A \text{ as } hw \text{ points, centred}

    i.e. :class:`HiResCAM` with ``eigen_smooth`` always on: class-specific like Grad-CAM, smoother
    like Eigen-CAM. There is no paper; this follows its definer, pytorch-grad-cam, in centring (on the
    bundled photos centred scored as well as or better than uncentred at both EfficientNet-Lite0 layers
    measured by ``python -m bench.eigen_cam``), but fixes the sign that it leaves to LAPACK: :math:`v_1`
    agrees with the mean of :math:`g \odot A`. ``center=False`` projects uncentred, as :class:`EigenCAM` does.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import EigenGradCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> EigenGradCAM(model, "1").generate_cam(torch.rand(1, 3, 16, 16), 1).shape
        (16, 16)
    """

    method_name = "Eigen-Grad-CAM"

    def __init__(
        self,
        model: Any,
        target_layer: Any = None,
        *,
        center: bool = True,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        reshape_transform: Any = None,
        output: Any = None,
    ) -> None:
        super().__init__(
            model,
            target_layer,
            aug_smooth=aug_smooth,
            eigen_smooth=eigen_smooth,
            reshape_transform=reshape_transform,
            output=output,
        )
        self.eigen_center = bool(center)

    def channel_weights(self, capture: Capture, x: Any) -> np.ndarray:
        assert capture.gradients is not None
        return capture.gradients

    def _finish(self, xt: Any, cap: Capture, weights: np.ndarray, eigen: bool) -> CAMResult:
        return super()._finish(xt, cap, weights, True)


class SmoothGradCAMPlusPlus(BaseCAM):
    r"""Smooth Grad-CAM++ (Omeiza et al., 2019, https://arxiv.org/abs/1908.01224).

    Grad-CAM++ with its derivatives averaged over ``n_samples`` noisy copies
    :math:`x + \epsilon_m`, :math:`\epsilon_m \sim \mathcal{N}(0, \sigma^2)`,
    :math:`\sigma = \text{noise\_level} \cdot (\max x - \min x)` per image (SmoothGrad's noise level):

    .. math::
        \alpha_k(i,j) = \frac{\bar g_{2,k}(i,j)}{2 \bar g_{2,k}(i,j) + \sum_{a,b} A_k(a,b)\, \bar g_{3,k}(i,j)},
        \quad w_k = \sum_{i,j} \alpha_k(i,j)\, \mathrm{ReLU}(\bar g_{1,k}(i,j))

    with :math:`\bar g_p` the mean of :math:`g^p` over the copies and :math:`A` the activations of
    the noise-free input (:func:`~visualization.core.cam_math.smooth_gradcampp_weights`). The class
    is fixed on the noise-free input. Noise is drawn with numpy from ``seed`` so that every framework
    sees the same copies. Reading chosen: the paper averages all three derivatives; torchcam 0.5.0
    uses the last copy's gradient in the ReLU term and sums :math:`A\,\bar g_3` over positions in the
    denominator (the two agree when the gradient is constant over positions and ``n_samples=1``).

    Args:
        model, target_layer: as for every CAM.
        n_samples: noisy copies per image.
        noise_level: noise standard deviation as a fraction of each image's value range.
        seed: seed of the noise.
        batch_size: noisy copies per forward/backward pass.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import SmoothGradCAMPlusPlus
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> SmoothGradCAMPlusPlus(model, "1", n_samples=4, seed=0).generate_cam(torch.rand(1, 3, 16, 16), 1).shape
        (16, 16)
    """

    method_name = "Smooth Grad-CAM++"

    def __init__(
        self,
        model: Any,
        target_layer: Any = None,
        n_samples: int = 4,
        noise_level: float = 0.15,
        seed: int | None = 0,
        batch_size: int = 16,
        *,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        reshape_transform: Any = None,
        output: Any = None,
    ) -> None:
        super().__init__(
            model,
            target_layer,
            aug_smooth=aug_smooth,
            eigen_smooth=eigen_smooth,
            reshape_transform=reshape_transform,
            output=output,
        )
        self.n_samples = check_batch_size(n_samples)
        if not (isinstance(noise_level, (int, float)) and noise_level >= 0):
            raise ValueError(f"noise_level must be a number >= 0 (a fraction of the value range); got {noise_level!r}.")
        self.noise_level = float(noise_level)
        self.seed = seed
        self.batch_size = check_batch_size(batch_size)

    def noise(self, x_np: np.ndarray) -> np.ndarray:
        """The ``(n_samples, N, C, H, W)`` noise added to ``x_np`` (``(N, C, H, W)``)."""
        rng = np.random.default_rng(self.seed)
        span = (x_np.max(axis=(1, 2, 3)) - x_np.min(axis=(1, 2, 3))).astype(np.float64)
        sigma = self.noise_level * span[None, :, None, None, None]
        return (rng.standard_normal((self.n_samples, *x_np.shape)) * sigma).astype(np.float32)

    def _compute_prepared(self, xt: Any, targets: Sequence[Any], eigen: bool) -> list[list[CAMResult]]:
        layers = [layer for _, layer in self.target_layers]
        x_np = self.backend.to_numpy(xt)
        n = x_np.shape[0]
        noisy = (x_np[None] + self.noise(x_np)).reshape(self.n_samples * n, *x_np.shape[1:])
        per_pass = max(1, self.batch_size // n)  # whole copies of the batch per pass
        out = []
        for target in targets:
            clean = self._capture(xt, target, False)
            if clean[0].targets is None and not callable(target):
                raise TargetError("Smooth Grad-CAM++ needs class scores (N, K) to pick a class from.")
            fixed = target if callable(target) else clean[0].targets
            moments = [[0.0, 0.0, 0.0] for _ in layers]
            for start in range(0, self.n_samples, per_pass):
                k = min(per_pass, self.n_samples - start)
                batch = self.backend.from_numpy(self.model, noisy[start * n : (start + k) * n])
                tiled = np.tile(fixed, k) if not callable(fixed) else fixed
                if isinstance(fixed, PerSample):  # one target per sample: repeated for every copy of the batch
                    tiled = PerSample(fixed.targets * k)
                caps = self._capture(batch, tiled, True)
                for li, cap in enumerate(caps):
                    g = cap.gradients.astype(np.float64).reshape(k, n, *cap.gradients.shape[1:])
                    moments[li][0] = moments[li][0] + g.sum(axis=0)
                    moments[li][1] = moments[li][1] + (g**2).sum(axis=0)
                    moments[li][2] = moments[li][2] + (g**3).sum(axis=0)
            row = []
            for cap, (g1, g2, g3) in zip(clean, moments):
                weights = cam_math.smooth_gradcampp_weights(
                    cap.activations, g1 / self.n_samples, g2 / self.n_samples, g3 / self.n_samples
                )
                row.append(self._finish(xt, cap, weights, eigen))
            out.append(row)
        return out
