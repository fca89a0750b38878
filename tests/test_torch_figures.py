"""Figures show the right data, with readable labels (PyTorch side)."""

from __future__ import annotations

import numpy as np
import torch

from visualization.pytorch.cam_visualizer import GradCAM, ScoreCAM, compare_cam_methods
from visualization.pytorch.layer_visualizer import CNNLayerVisualizer
from visualization.pytorch.models import CatDogCNN

from ._torch_nets import seeded


def _model():
    return seeded(CatDogCNN(image_size=16), seed=3)


def _image_data(ax):
    return np.asarray(ax.get_images()[0].get_array())


def test_conv_filter_modes():
    v = CNNLayerVisualizer(_model())
    k1 = v.get_conv_filters("conv1")
    fig = v.visualize_conv_filters("conv1", max_filters=5)  # auto: rgb for 3 input channels
    axes = [ax for ax in fig.axes if ax.get_images()]
    assert len(axes) == 5 and axes[4].get_title() == "#4"
    rgb = _image_data(axes[2])
    expected = (k1[2] - k1[2].min()) / (k1[2].max() - k1[2].min())
    np.testing.assert_allclose(rgb, np.transpose(expected, (1, 2, 0)), atol=1e-6)
    fig = v.visualize_conv_filters("conv2", max_filters=3)  # auto: mean over input channels
    axes = [ax for ax in fig.axes if ax.get_images() and ax.get_title().startswith("#")]
    np.testing.assert_allclose(_image_data(axes[1]), v.get_conv_filters("conv2")[1].mean(0), atol=1e-6)
    fig = v.visualize_conv_filters("conv2", max_filters=2, mode="channels", max_channels=4)
    assert sum(1 for ax in fig.axes if ax.get_images()) == 8


def test_feature_maps_grid_labels_order_and_colorbar():
    v = CNNLayerVisualizer(_model())
    x = torch.rand(1, 3, 16, 16)
    maps = v.get_feature_maps(x, "conv2")[0]
    fig = v.visualize_feature_maps(x, "conv2", max_maps=6, order="activation")
    axes = [ax for ax in fig.axes if ax.get_images()]
    top = np.argsort(-maps.reshape(64, -1).mean(1), kind="stable")[:6]
    assert [ax.get_title() for ax in axes] == [f"ch {c}" for c in top]
    np.testing.assert_allclose(_image_data(axes[0]), maps[top[0]])
    assert any(ax.get_ylabel() == "activation" for ax in fig.axes)  # the shared colour bar
    assert "6 of 64 channels" in fig._suptitle.get_text()


def test_interactive_feature_maps_every_channel_reachable():
    v = CNNLayerVisualizer(_model())
    x = torch.rand(1, 3, 16, 16)
    maps = v.get_feature_maps(x, "conv1")[0]
    fig = v.visualize_feature_maps_interactive(x, "conv1")
    assert len(fig.data) == 32
    np.testing.assert_allclose(np.asarray(fig.data[7].z), maps[7], rtol=1e-6)
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 32 and steps[7].args[0]["visible"][7] and sum(steps[7].args[0]["visible"]) == 1
    assert "value" in fig.data[0].hovertemplate
    labels = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert labels == ["shared colour scale", "per-channel scale"]
    assert fig.data[3].zmin == float(maps.min()) and fig.data[3].zmax == float(maps.max())


def test_gradient_figure_shows_top_channels():
    v = CNNLayerVisualizer(_model())
    x = torch.rand(1, 3, 16, 16)
    res = v.get_gradients(x, 1, "conv3")
    fig = v.visualize_gradients(x, 1, "conv3", max_maps=4)
    top = np.argsort(-np.abs(res.channel_weights[0]), kind="stable")[:4]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title().startswith("ch ")]
    assert [t.split()[1] for t in titles] == [str(c) for c in top]
    np.testing.assert_allclose(res.channel_weights, res.gradients.mean(axis=(2, 3)), rtol=1e-6)
    assert "class 1" in fig._suptitle.get_text()


def test_cam_figure_and_comparison():
    model = _model()
    x = torch.rand(2, 3, 16, 16)
    img = (np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)
    fig = GradCAM(model, "conv3").visualize_cam(x, 1, img, class_names=["cat", "dog"])
    assert [ax.get_title() for ax in fig.axes[:3]] == ["Original", "Grad-CAM heatmap", "Overlay"]
    assert "class 1 (dog)" in fig._suptitle.get_text()
    np.testing.assert_allclose(_image_data(fig.axes[0]), img / 255.0, atol=1e-6)
    heat = GradCAM(model, "conv3").generate_cam(x, 1)[0]
    np.testing.assert_allclose(_image_data(fig.axes[1]), heat, atol=1e-6)
    fig = compare_cam_methods(model, "conv3", x, [img, None], target_class=0, methods=[GradCAM, ScoreCAM])
    titled = [ax.get_title() for ax in fig.axes]
    assert "Grad-CAM" in titled and "Score-CAM" in titled
    assert sum(1 for ax in fig.axes if ax.get_images()) == 6  # 2 rows x (image + 2 methods)


def test_surface_views_show_the_chosen_channel():
    v = CNNLayerVisualizer(_model())
    x = torch.rand(1, 3, 16, 16)
    maps = v.get_feature_maps(x, "conv2")[0]
    best = int(np.argmax(maps.reshape(64, -1).mean(1)))
    fig = v.visualize_feature_map_surface(x, "conv2")
    assert f"channel {best}" in fig.axes[0].get_title()
    pfig = v.visualize_feature_map_surface(x, "conv2", channel=5, interactive=True)
    np.testing.assert_allclose(np.asarray(pfig.data[0].z), maps[5], rtol=1e-6)
    import pytest

    with pytest.raises(IndexError, match=r"0\.\.63"):
        v.visualize_feature_map_surface(x, "conv2", channel=64)


def test_feature_map_animation_has_one_frame_per_snapshot(tmp_path):
    from PIL import Image

    from visualization.core.plotting.evolution import animate_feature_maps

    frames = [np.full((4, 6, 6), float(i)) + np.eye(6) for i in range(5)]
    out = animate_feature_maps(frames, tmp_path / "evo.gif", labels=[f"epoch {i}" for i in range(1, 6)])
    with Image.open(out) as gif:
        assert gif.n_frames == 5
    assert not list(tmp_path.glob(".*part*"))
    import pytest

    with pytest.raises(ValueError, match="same shape"):
        animate_feature_maps([np.zeros((2, 3, 3)), np.zeros((2, 4, 4))], tmp_path / "bad.gif")
    assert not (tmp_path / "bad.gif").exists()
