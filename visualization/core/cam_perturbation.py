"""CAMs that weigh channels by running the model on perturbed copies: Score-CAM and Ablation-CAM.

Both need class indices (a callable target cannot be scored on copies), run their copies in batches
under no-grad on the framework's device, and share the copies among all targets of
:meth:`~visualization.core.cam.BaseCAM.compute_many`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import cam_math
from .backend import Capture, check_batch_size
from .cam import BaseCAM, CAMResult
from .errors import TargetError
from .image import resize_bilinear
from .score_targets import CopyScorer, is_target_object
from .targets import resolve_indices

logger = logging.getLogger("visualization")


def _class_indices(method: str, cap: Capture, targets: Sequence[Any]) -> np.ndarray | CopyScorer:
    """``(N, T)`` class indices for ``targets``, or for target objects (``visualization.<framework>.targets``)
    a :class:`~visualization.core.score_targets.CopyScorer` that scores the perturbed copies; plain
    callables are refused with a clear message (they cannot be told which image a copy comes from)."""
    if targets and all(is_target_object(t) for t in targets):
        return CopyScorer(targets)
    if any(callable(t) for t in targets):
        raise TargetError(
            f"{method} weighs channels by the model's score on perturbed copies, so it needs class indices or "
            "target objects (visualization.<framework>.targets); a plain callable target_class is not supported. "
            "Pass None, an int, one int per sample or a target object."
        )
    return np.stack([resolve_indices(t, cap.outputs) for t in targets], axis=1)


def _column(idx: np.ndarray | CopyScorer, j: int) -> np.ndarray | None:
    return idx[:, j] if isinstance(idx, np.ndarray) else None


class ScoreCAM(BaseCAM):
    r"""Score-CAM (Wang et al., CVPR-W 2020, https://arxiv.org/abs/1910.01279), with a fast top-k option.

    .. math::
        M_k = \frac{U(A_k) - \min U(A_k)}{\max U(A_k) - \min U(A_k)}, \quad
        w_k = \mathrm{softmax}\big(f(x \odot M_k)\big)_c, \quad
        L = \mathrm{ReLU}\Big(\sum_k w_k A_k\Big)

    with :math:`U` bilinear upsampling to the input size and :math:`f` the model. This follows the
    authors' released code: the weight is the target class's softmax probability for the masked
    input, without subtracting a baseline and without a softmax across channels; constant maps get
    weight 0 and cost no forward pass. (torchcam 0.5.0 instead normalizes before upsampling and uses
    a softmax over channels of the masked logits.)

    **Fast option** ``top_k``: only the ``top_k`` channels with the largest positive activation mass
    :math:`\sum_{i,j} \mathrm{ReLU}(A_k(i,j))` are scored (they dominate the weighted sum); every
    other live channel gets the lowest score among the scored ones — it is assumed to be no more
    informative than the least informative channel scored, but not 0, since a masked image keeps
    some of the class probability (Score-CAM subtracts no baseline). Cost falls from one forward
    pass per live channel to ``top_k``. Measured by ``python -m bench.bench_cam_family`` on the
    pretrained EfficientNet-Lite0 at ``_act1`` (462 to 900 live channels of 1280) and the four
    bundled photos: ``top_k=40`` ran 11.5x faster than exact Score-CAM with heatmap Pearson
    correlations of 0.953 to 0.992. (Ranking by spatial variance, or filling with 0 or the mean,
    did worse there.) The approximation is only as good as that ranking: check it on your model.

    Args:
        model: the network.
        target_layer: layer object, dotted name, list of them or ``None`` (auto).
        batch_size: masked inputs per forward pass (all of them run under no-grad).
        progress: show a tqdm progress bar over the batches.
        top_k: score only this many channels per image (``None``: all, exact Score-CAM).
        aug_smooth, eigen_smooth, reshape_transform, output: see :class:`~visualization.core.cam.BaseCAM`.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import ScoreCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> ScoreCAM(model, "0", batch_size=8).generate_cam(torch.rand(1, 3, 16, 16), 0).shape
        (16, 16)
    """

    method_name = "Score-CAM"
    needs_gradients = False

    def __init__(
        self,
        model: Any,
        target_layer: Any = None,
        batch_size: int = 32,
        progress: bool = False,
        top_k: int | None = None,
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
        self.batch_size = check_batch_size(batch_size)
        self.progress = bool(progress)
        self.top_k = None if top_k is None else check_batch_size(top_k)
        if self.top_k is not None:
            self.method_name = f"Score-CAM (top {self.top_k})"

    def _compute_prepared(self, xt: Any, targets: Sequence[Any], eigen: bool) -> list[list[CAMResult]]:
        caps = self._capture(xt, None, False)
        idx = _class_indices(self.method_name, caps[0], targets)  # (N, T)
        per_layer = []
        for cap in caps:
            acts = cap.activations
            chosen = self._chosen_channels(acts)
            # channels left out are made constant: masked_scores skips constant maps
            scored = acts if chosen is None else np.where(chosen[:, :, None, None], acts, 0.0).astype(np.float32)
            scores = self.backend.masked_scores(self._net, xt, scored, idx, self.batch_size, self.progress)
            if chosen is not None:
                scores = _fill_unscored(scores, chosen, acts)
            per_layer.append(
                [
                    self._finish(xt, dataclasses.replace(cap, targets=_column(idx, j)), scores[:, j], eigen)
                    for j in range(len(targets))
                ]
            )
        return [list(row) for row in zip(*per_layer)]

    def _chosen_channels(self, acts: np.ndarray) -> np.ndarray | None:
        """``(N, C)`` mask of the channels to score, or ``None`` for all of them."""
        n, c = acts.shape[:2]
        if self.top_k is None or self.top_k >= c:
            return None
        flat = acts.reshape(n, c, -1)
        mass = np.maximum(flat, 0.0).sum(axis=2, dtype=np.float64)
        live = flat.max(axis=2) > flat.min(axis=2)
        order = np.argsort(-np.where(live, mass, -np.inf), axis=1, kind="stable")[:, : self.top_k]
        chosen = np.zeros((n, c), bool)
        np.put_along_axis(chosen, order, True, axis=1)
        return chosen & live


def _fill_unscored(scores: np.ndarray, chosen: np.ndarray, acts: np.ndarray) -> np.ndarray:
    """Give every live channel that was not scored the lowest score of the scored ones (per image, target)."""
    n, c = chosen.shape
    flat = acts.reshape(n, c, -1)
    live = flat.max(axis=2) > flat.min(axis=2)
    out = scores.copy()  # (N, T, C)
    for i in range(n):
        if chosen[i].any():
            low = scores[i][:, chosen[i]].min(axis=1, keepdims=True)  # (T, 1)
            out[i][:, live[i] & ~chosen[i]] = low
    return out


class AblationCAM(BaseCAM):
    r"""Ablation-CAM (Desai & Ramaswamy, WACV 2020, https://doi.org/10.1109/WACV45572.2020.9093360).

    .. math::
        w_k = \frac{y_c - y_c^{(k)}}{y_c}, \qquad L = \mathrm{ReLU}\Big(\sum_k w_k A_k\Big)

    with :math:`y_c` the target logit and :math:`y_c^{(k)}` the logit with channel :math:`k` of the
    target layer set to zero (:func:`~visualization.core.cam_math.ablation_weights`). Channels that
    are zero everywhere already are not run (their weight is 0).

    **Speed.** The layer's output is captured once; the ablated copies replace it in batches (the
    layer itself is not recomputed), so only the network *after* the layer runs on them. The part
    before the layer still runs once per batch, on a small stand-in image (the input downscaled) —
    nothing of it reaches the output except through the replaced layer output — so a batch costs
    about one forward pass of the stand-in plus the tail of the network on the batch. That is only valid when nothing computed before the layer
    bypasses it (a skip connection around it); so before the first use on an input shape, the scores
    of the unablated copy and of one ablated copy are compared with full forward passes:

    * equal: the stand-in is used (logged at INFO);
    * not equal, or the stand-in fails: the real image (batch of one) runs the part before, and a
      connection that bypasses the layer is broadcast over the copies, which is exact for additive
      skips (checked the same way);
    * still not equal: full forward passes of every copy, as pytorch-grad-cam does (logged as a
      WARNING).

    ``strategy="full"`` forces full forward passes (the reference the benchmark compares with).

    Args:
        model, target_layer: as for every CAM.
        batch_size: ablated copies per forward pass.
        strategy: ``"auto"`` (above) or ``"full"``.
        progress: show a tqdm progress bar over the batches.
        aug_smooth, eigen_smooth, reshape_transform, output: see :class:`~visualization.core.cam.BaseCAM`.

    Example:
        >>> import torch
        >>> from visualization.pytorch.cam_visualizer import AblationCAM
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(),
        ...                             torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> AblationCAM(model, "1").generate_cam(torch.rand(1, 3, 16, 16), 0).shape
        (16, 16)
    """

    method_name = "Ablation-CAM"
    needs_gradients = False

    def __init__(
        self,
        model: Any,
        target_layer: Any = None,
        batch_size: int = 32,
        strategy: str = "auto",
        progress: bool = False,
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
        self.batch_size = check_batch_size(batch_size)
        if strategy not in ("auto", "full"):
            raise ValueError(f"strategy must be 'auto' or 'full'; got {strategy!r}.")
        self.strategy = strategy
        self.progress = bool(progress)
        self._modes: dict[tuple[str, tuple[int, ...]], str] = {}

    def _compute_prepared(self, xt: Any, targets: Sequence[Any], eigen: bool) -> list[list[CAMResult]]:
        caps = self._capture(xt, None, False)
        idx = _class_indices(self.method_name, caps[0], targets)  # (N, T)
        per_layer = []
        for (name, layer), cap in zip(self.target_layers, caps):
            acts = cap.activations
            n, c = acts.shape[:2]
            weights = np.zeros((n, len(targets), c), np.float32)
            for i in range(n):
                live = np.flatnonzero(np.abs(acts[i]).reshape(c, -1).max(axis=1) > 0)
                if live.size == 0:
                    continue
                x_i = xt[i : i + 1]
                if isinstance(idx, CopyScorer):  # the unablated score comes from the same path (channel -1)
                    both = self._ablated_scores(x_i, name, layer, cap, i, np.concatenate([[-1], live]), idx.bound(i))
                    y, ablated = both[0], both[1:]
                else:
                    y = cap.outputs[i, idx[i]]  # (T,)
                    ablated = self._ablated_scores(x_i, name, layer, cap, i, live, idx[i])  # (live, T)
                weights[i][:, live] = cam_math.ablation_weights(y, ablated.T)
            per_layer.append(
                [
                    self._finish(xt, dataclasses.replace(cap, targets=_column(idx, j)), weights[:, j], eigen)
                    for j in range(len(targets))
                ]
            )
        return [list(row) for row in zip(*per_layer)]

    def _ablated_scores(
        self, x_i: Any, name: str, layer: Any, cap: Capture, i: int, channels: np.ndarray, classes: Any
    ) -> np.ndarray:
        """Scores ``(len(channels), T)``; a token layer's raw output is ablated through ``cap.owner``."""
        act = cap.activations[i]
        raw = act if cap.raw is None else cap.raw[i]
        key = (name, tuple(int(d) for d in x_i.shape))
        mode = self._modes.get(key) or self._choose_mode(x_i, name, layer, act, raw, cap.owner, channels, classes)
        self._modes[key] = mode
        return self.backend.ablation_scores(
            self._net,
            self._feed(x_i, mode),
            name,
            layer,
            raw,
            channels,
            classes,
            self.batch_size,
            self.progress,
            repeat_feed=mode == "full",
            owner=cap.owner,
        )

    def _feed(self, x_i: Any, mode: str) -> Any:
        if mode != "stand-in":
            return x_i
        h, w = (int(d) for d in x_i.shape[-2:])
        small = (min(h, max(8, h // 8)), min(w, max(8, w // 8)))
        return self.backend.from_numpy(self.model, resize_bilinear(self.backend.to_numpy(x_i), small))

    def _choose_mode(
        self,
        x_i: Any,
        name: str,
        layer: Any,
        act: np.ndarray,
        raw: np.ndarray,
        owner: np.ndarray | None,
        channels: np.ndarray,
        classes: Any,
    ) -> str:
        if self.strategy == "full":
            return "full"
        # the unablated copy and the channel with the most activation mass, checked against full passes
        channels = channels[channels >= 0]
        strongest = int(channels[np.argmax(np.abs(act[channels]).reshape(len(channels), -1).sum(axis=1))])
        probe = np.array([-1, strongest])
        reference = self.backend.ablation_scores(
            self._net, x_i, name, layer, raw, probe, classes, 2, False, repeat_feed=True, owner=owner
        )
        tolerance = 1e-4 * max(1.0, float(np.abs(reference).max()))
        for mode in ("stand-in", "single"):
            try:
                got = self.backend.ablation_scores(
                    self._net,
                    self._feed(x_i, mode),
                    name,
                    layer,
                    raw,
                    probe,
                    classes,
                    2,
                    False,
                    repeat_feed=False,
                    owner=owner,
                )
            except Exception as err:  # any failure of the shortcut means: try the next one
                logger.debug("Ablation-CAM: the %s shortcut failed at %r: %s", mode, name, err)
                continue
            if got.shape == reference.shape and np.abs(got - reference).max() <= tolerance:
                logger.info(
                    "Ablation-CAM at %r: only the layers after it run on the ablated copies (%s)",
                    name,
                    "the part before runs on a downscaled stand-in"
                    if mode == "stand-in"
                    else "the part before runs once per batch on the image; a skip around the layer is broadcast",
                )
                return mode
        logger.warning(
            "Ablation-CAM at %r: the network reuses values from before this layer after it in a way the "
            "shortcut cannot reproduce, so every ablated copy runs a full forward pass (slow)",
            name,
        )
        return "full"
