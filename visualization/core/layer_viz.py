"""Conv filters, feature maps and gradients of any layer, framework-free.

``visualization.pytorch.layer_visualizer.CNNLayerVisualizer`` and its Paddle twin subclass
:class:`CNNLayerVisualizer` and bind their backend. Every ``visualize_*`` method has a plain-data
``get_*`` twin returning numpy arrays for users who plot themselves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from . import cam_math, outputs, tokens
from .backend import Backend
from .errors import LayerOutputError
from .layers import resolve_layer
from .score_targets import normalize_target

FilterMode = Literal["auto", "rgb", "channels", "mean"]


@dataclass(frozen=True)
class GradientResult:
    """How the target score's gradient reaches a layer.

    Attributes:
        layer_name: dotted name of the layer.
        activations: ``(N, C, h, w)`` layer output.
        gradients: ``(N, C, h, w)`` gradient of the target score with respect to it.
        channel_weights: ``(N, C)`` spatial mean of the gradient (Grad-CAM's weights).
        magnitude: ``(N, h, w)`` L2 norm of the gradient over channels at each position.
        targets: ``(N,)`` class index per sample (``None`` for callable targets).
    """

    layer_name: str
    activations: np.ndarray
    gradients: np.ndarray
    channel_weights: np.ndarray
    magnitude: np.ndarray
    targets: np.ndarray | None


class CNNLayerVisualizer:
    """Look at the filters, feature maps and gradients of a CNN's layers.

    Layers are given as a dotted name (``'conv1'``, ``'layer4.1.conv2'``) or as the layer object.
    Figures are returned (matplotlib ``Figure`` or plotly ``Figure``), never shown. The model's
    parameters and train/eval flags are left as they were.

    Example:
        >>> import torch
        >>> from visualization.pytorch.layer_visualizer import CNNLayerVisualizer
        >>> model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3))
        >>> v = CNNLayerVisualizer(model)
        >>> v.get_conv_filters("0").shape
        (8, 3, 3, 3)
        >>> v.get_feature_maps(torch.rand(1, 3, 10, 10), "2").shape
        (1, 4, 6, 6)
    """

    backend: ClassVar[Backend]

    def __init__(self, model: Any, *, reshape_transform: Any = None, output: Any = None) -> None:
        self.backend.check_model(model)
        self.model = model
        #: how a token layer's output is read as ``(N, C, h, w)`` maps (see :mod:`visualization.core.tokens`)
        self.reshape_transform = tokens.check_reshape(reshape_transform)
        #: the part of a tuple / dict output that gradients are taken of (see :mod:`visualization.core.outputs`)
        self.output = outputs.check_output_spec(output)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({type(self.model).__name__})"

    def layer_names(self) -> list[str]:
        """Dotted names of every sub-layer, in definition order."""
        return [name for name, _ in self.backend.named_layers(self.model)]

    def _layer(self, layer: Any) -> tuple[str, Any]:
        return resolve_layer(self.backend.named_layers(self.model), layer)

    # ---------------------------------------------------------------- plain data
    def get_conv_filters(self, layer: Any) -> np.ndarray:
        """Kernel of a 2-D convolution as float32 ``(C_out, C_in / groups, kh, kw)``."""
        name, obj = self._layer(layer)
        kernel = self.backend.conv_kernel(obj)
        if kernel is None:
            convs = [n for n, m in self.backend.named_layers(self.model) if self.backend.conv_kernel(m) is not None]
            raise LayerOutputError(
                f"Layer {name!r} is a {type(obj).__name__}, not a 2-D convolution, so it has no filters to "
                f"show. Convolution layers of this model: {convs}."
            )
        return kernel

    def _maps(self, xt: Any, cap: Any, name: str, reshape_transform: Any) -> tuple[np.ndarray, np.ndarray | None]:
        spec = self.reshape_transform if reshape_transform is None else tokens.check_reshape(reshape_transform)
        size = (int(xt.shape[-2]), int(xt.shape[-1]))
        layout = tokens.resolve_layout(spec, cap.activations.shape, size, name, self.backend, self.model)
        grads = None if cap.gradients is None else layout.to_nchw(cap.gradients, self.backend, self.model)
        return layout.to_nchw(cap.activations, self.backend, self.model), grads

    def get_feature_maps(self, x: Any, layer: Any, *, reshape_transform: Any = None) -> np.ndarray:
        """Output of ``layer`` for input ``x`` as float32 ``(N, C, h, w)`` (eval mode, no gradients); a
        token layer's output is read through ``reshape_transform`` (default: the visualizer's)."""
        name, obj = self._layer(layer)
        xt = self.backend.prepare_input(self.model, x)
        with self.backend.eval_mode(self.model):
            cap = self.backend.capture(outputs.wrap(self.model, self.output), xt, name, obj, None, False)
        return self._maps(xt, cap, name, reshape_transform)[0]

    def get_gradients(self, x: Any, target_class: Any, layer: Any, *, reshape_transform: Any = None) -> GradientResult:
        """Gradient of the target's score (a class logit by default) with respect to ``layer``'s output."""
        name, obj = self._layer(layer)
        xt = self.backend.prepare_input(self.model, x)
        with self.backend.eval_mode(self.model):
            net = outputs.wrap(self.model, self.output)
            cap = self.backend.capture(net, xt, name, obj, normalize_target(target_class), True)
        acts, g = self._maps(xt, cap, name, reshape_transform)
        assert g is not None
        cap = dataclasses.replace(cap, activations=acts)
        return GradientResult(
            name,
            cap.activations,
            g,
            cam_math.gradcam_weights(g).astype(np.float32),
            np.sqrt((g.astype(np.float64) ** 2).sum(axis=1)).astype(np.float32),
            cap.targets,
        )

    # ---------------------------------------------------------------- figures
    def visualize_conv_filters(
        self, layer: Any, max_filters: int = 16, *, mode: FilterMode = "auto", max_channels: int = 8
    ) -> Any:
        """Grid of the first ``max_filters`` kernels of a convolution.

        ``mode``: ``'rgb'`` shows each 3-channel kernel as a colour image (min-max scaled per filter),
        ``'channels'`` one row per filter and one column per input channel (up to ``max_channels``),
        ``'mean'`` the kernel averaged over input channels. ``'auto'`` picks ``'rgb'`` for a layer
        with 3 input channels and ``'mean'`` otherwise. Diverging colours are centred on zero.
        """
        from .plotting.figures import filter_figure

        _check_count("max_filters", max_filters)
        _check_count("max_channels", max_channels)
        if mode not in ("auto", "rgb", "channels", "mean"):
            raise ValueError(f"mode must be 'auto', 'rgb', 'channels' or 'mean'; got {mode!r}.")
        name, _ = self._layer(layer)
        kernel = self.get_conv_filters(layer)
        if mode == "auto":
            mode = "rgb" if kernel.shape[1] == 3 else "mean"
        if mode == "rgb" and kernel.shape[1] != 3:
            raise LayerOutputError(
                f"mode='rgb' needs kernels with 3 input channels; {name!r} has {kernel.shape[1]}. "
                "Use mode='channels' or mode='mean'."
            )
        return filter_figure(kernel, name, max_filters, mode, max_channels)

    def visualize_feature_maps(
        self,
        x: Any,
        layer: Any,
        max_maps: int = 16,
        *,
        sample: int = 0,
        order: Literal["index", "activation"] = "index",
        shared_scale: bool = True,
        cmap: str = "viridis",
    ) -> Any:
        """Grid of ``max_maps`` channels of ``layer``'s output for one image, labelled by channel index.

        ``order='activation'`` shows the channels with the largest mean activation first.
        ``shared_scale`` uses one colour scale (and one colour bar) for all maps, so maps can be
        compared; otherwise each map has its own range.
        """
        from .plotting.figures import feature_map_figure

        _check_count("max_maps", max_maps)
        name, _ = self._layer(layer)
        maps = self.get_feature_maps(x, layer)
        from .cam import _check_sample

        _check_sample(sample, maps.shape[0])
        channels = _channel_order(maps[sample], order)[:max_maps]
        return feature_map_figure(maps[sample], channels, name, shared_scale=shared_scale, cmap=cmap)

    def visualize_feature_maps_interactive(
        self, x: Any, layer: Any, *, sample: int = 0, max_maps: int | None = None
    ) -> Any:
        """Plotly figure to browse every channel of ``layer``'s output: a slider picks the channel, the
        hover shows position and value, and buttons switch between one colour scale shared by all
        channels and a scale per channel. ``max_maps`` limits the number of channels (default: all)."""
        from .plotting.interactive import feature_maps_plotly

        name, _ = self._layer(layer)
        maps = self.get_feature_maps(x, layer)
        from .cam import _check_sample

        _check_sample(sample, maps.shape[0])
        fmap = maps[sample]
        if max_maps is not None:
            _check_count("max_maps", max_maps)
            fmap = fmap[:max_maps]
        return feature_maps_plotly(fmap, name)

    def visualize_gradients(self, x: Any, target_class: Any, layer: Any, *, max_maps: int = 16, sample: int = 0) -> Any:
        """How the target score's gradient reaches ``layer``: the gradient magnitude over the image,
        the per-channel weights (spatial mean of the gradient, as Grad-CAM uses them) and the gradient
        maps of the ``max_maps`` channels with the largest absolute weight."""
        from .plotting.figures import gradient_figure

        _check_count("max_maps", max_maps)
        res = self.get_gradients(x, target_class, layer)
        from .cam import _check_sample

        _check_sample(sample, res.gradients.shape[0])
        return gradient_figure(res, sample, max_maps)

    def visualize_feature_map_surface(
        self, x: Any, layer: Any, channel: int | None = None, *, sample: int = 0, interactive: bool = False
    ) -> Any:
        """One channel of ``layer``'s output as a 3-D surface (height = activation).

        ``channel=None`` picks the channel with the largest mean activation. ``interactive=True``
        returns a plotly figure (rotate, zoom, hover), otherwise a matplotlib ``Figure``.
        """
        from .cam import _check_sample
        from .plotting.evolution import surface_figure, surface_plotly

        name, _ = self._layer(layer)
        maps = self.get_feature_maps(x, layer)
        _check_sample(sample, maps.shape[0])
        fmap = maps[sample]
        if channel is None:
            channel = int(_channel_order(fmap, "activation")[0])
        if not (isinstance(channel, (int, np.integer)) and 0 <= channel < fmap.shape[0]):
            raise IndexError(
                f"channel={channel!r} is not a channel of '{name}' (it has {fmap.shape[0]}: 0..{fmap.shape[0] - 1})."
            )
        title = f"'{name}' channel {channel} ({fmap.shape[1]}x{fmap.shape[2]})"
        return (surface_plotly if interactive else surface_figure)(fmap[channel], title)


def _check_count(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")


def _channel_order(maps: np.ndarray, order: str) -> np.ndarray:
    if order == "index":
        return np.arange(maps.shape[0])
    if order == "activation":
        return np.argsort(-maps.reshape(maps.shape[0], -1).mean(axis=1), kind="stable")
    raise ValueError(f"order must be 'index' or 'activation'; got {order!r}.")
