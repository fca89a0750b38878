"""The Keras ``VisualizationLogger`` and ``VisualizationCallback``: event files read back with TensorBoard's own
reader, the same images as the torch twin, the model left as it was, and the seed-003 flow with ``model.fit``."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import visualization.pytorch.tensorboard as pt_tb
from visualization.core.errors import InvalidInputError, LayerNotFoundError

from .test_tensorboard import events, image_at

keras = pytest.importorskip("keras")

import visualization.keras.tensorboard as k_tb  # noqa: E402
from visualization.keras.models import CatDogCNN  # noqa: E402

from .keras_twins import KerasResBN, make_keras_twin  # noqa: E402

L = keras.layers


def test_keras_and_torch_write_the_same_images(tmp_path):
    twin = make_keras_twin("catdog")
    xt, xk = twin.inputs(2)
    # cam_layer named: torch's default is conv3 (its one pooling module runs three times), Keras's pool3
    options = {"feature_layers": ["conv2"], "filter_layers": ["conv1", "conv2"], "cam_layer": "conv3"}
    with pt_tb.VisualizationLogger(twin.torch_model, tmp_path / "torch", xt, **options) as board:
        board.log_epoch(0)
    with k_tb.VisualizationLogger(twin.keras_model, tmp_path / "keras", xk, **options) as board:
        tags = board.log_epoch(0, scalars={"loss": 0.25})
    acc = {fw: events(tmp_path / fw) for fw in ("torch", "keras")}
    images = ["feature_maps/conv2/probe_0", "feature_maps/conv2/probe_1", "filters/conv1", "filters/conv2"]
    images += ["gradcam/probe_0", "gradcam/probe_1"]
    assert sorted(acc["keras"].Tags()["images"]) == sorted(acc["torch"].Tags()["images"]) == images
    for tag in images:
        a, b = (image_at(acc[fw], tag, 0).astype(int) for fw in ("torch", "keras"))
        assert a.shape == b.shape, tag
        # a value ~1e-6 off across a colour-map bin (viridis for feature maps, jet halved by the overlay's alpha
        # for Grad-CAM) moves a pixel by one bin, up to 3 levels; such pixels are rare
        diff = np.abs(a - b)
        assert diff.max() <= 3 and (diff > 1).mean() < 1e-3, tag
    k = acc["keras"]
    assert [e.value for e in k.Scalars("loss")] == [0.25]
    assert {"weights/conv1.kernel", "weights/conv1.bias", "weights/fc2.kernel", "activations/relu2"} <= set(
        k.Tags()["histograms"]
    )
    assert {"dead_relu/relu1", "dead_relu/relu4", "structure"} <= set(tags)
    (text,) = k.Tensors("structure/text_summary")
    table = text.tensor_proto.string_val[0].decode()
    assert "| conv3 | Conv2D | 128x8x8 |" in table and "CatDogCNN (keras), input 3x32x32" in table
    assert k.Tags()["graph"] is False


def test_weight_histograms_hold_the_weights(tmp_path):
    twin = make_keras_twin("resbn")
    _, x = twin.inputs(2)
    with k_tb.VisualizationLogger(twin.keras_model, tmp_path, x, feature_layers=["block"]) as board:
        tags = board.log_weight_histograms(5)
    assert "weights/block.bn1.gamma" in tags and not any("moving" in t for t in tags)
    assert len(tags) == 12  # conv kernels and biases, BatchNorm gamma and beta, Dense kernel and bias
    (ev,) = (
        EventAccumulator(str(tmp_path), size_guidance={"histograms": 0})
        .Reload()
        .Histograms("weights/block.conv1.kernel")
    )
    kernel = twin.keras_model.block.conv1.kernel.numpy()
    assert ev.step == 5 and ev.histogram_value.num == kernel.size
    assert ev.histogram_value.min == pytest.approx(kernel.min()) and ev.histogram_value.max == pytest.approx(
        kernel.max()
    )
    assert ev.histogram_value.sum == pytest.approx(float(kernel.sum()), abs=1e-4)


def test_logging_mid_training_leaves_the_model_as_it_was(tmp_path):
    model = KerasResBN()
    x = np.random.default_rng(0).standard_normal((4, 15, 15, 3)).astype(np.float32)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, np.array([0, 1, 2, 0]), epochs=1, verbose=0)  # moving statistics and weights away from init
    before = [w.copy() for w in model.get_weights()]
    opt = [v.numpy().copy() for v in model.optimizer.variables]
    trainable = [layer.trainable for layer in model._flatten_layers()]
    with k_tb.VisualizationLogger(model, tmp_path / "run", x[:2], feature_layers=["stem", "block"]) as board:
        tags = board.log_epoch(3, scalars={"loss": 1.5})
        assert board.log_graph() is False
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # BatchNorm statistics too
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(opt, model.optimizer.variables))
    assert [layer.trainable for layer in model._flatten_layers()] == trainable
    assert not any("call" in layer.__dict__ for layer in model._flatten_layers())
    # the shared ReLU runs twice per forward pass; BatchNorm statistics are not weights
    assert {"dead_relu/stem.2", "dead_relu/block.relu", "gradcam/probe_1", "structure"} <= set(tags)
    assert {"feature_maps/stem/probe_0", "feature_maps/block/probe_1"} <= set(tags)


def test_dead_relu_share_has_the_known_value(tmp_path):
    """1x1 conv with zero kernel and biases (-1, 0, 1, 2): channels 0 and 1 are dead, 2 and 3 live -> 0.5."""
    conv = L.Conv2D(4, 1, name="conv")
    model = keras.Sequential([keras.Input((6, 6, 3)), conv, L.ReLU(name="relu"), L.GlobalAveragePooling2D(name="gap")])
    conv.set_weights([np.zeros((1, 1, 3, 4), np.float32), np.array([-1.0, 0.0, 1.0, 2.0], np.float32)])
    x = np.random.default_rng(1).random((3, 6, 6, 3), dtype=np.float32)
    with k_tb.VisualizationLogger(model, tmp_path / "a", x) as board:
        assert board.relu_layers == ["relu"] and board.dead_relu_fractions() == {"relu": 0.5}
    with k_tb.VisualizationLogger(model, tmp_path / "b", x, relu_layers=["conv"]) as board:
        assert board.dead_relu_fractions() == {"conv": 0.5}


def test_callback_logs_at_epoch_end_during_fit(tmp_path):
    """Seed 003's flow: train a Keras model and watch it in TensorBoard, with model.fit's own loop."""
    keras.utils.set_random_seed(0)
    model = CatDogCNN(image_size=16)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 16, 16, 3), dtype=np.float32), np.arange(8) % 2
    board = k_tb.VisualizationCallback(tmp_path / "fit", x[:2], every=2, feature_layers=["conv3"])
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0, validation_data=(x, y), callbacks=[board])
    assert board.logged_epochs == [1, 2] and board.logger is None  # every 2nd epoch and the last; closed
    acc = events(tmp_path / "fit")
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        got = acc.Scalars(name)
        assert [e.step for e in got] == [1, 2], name
        np.testing.assert_allclose([e.value for e in got], history.history[name][1:], rtol=1e-6, err_msg=name)
    assert [e.step for e in acc.Images("gradcam/probe_0")] == [1, 2]
    assert [e.step for e in acc.Images("feature_maps/conv3/probe_1")] == [1, 2]
    assert [e.step for e in acc.Tensors("structure/text_summary")] == [1]
    # the histograms follow training: the kernels at epoch 1 are not those at epoch 2
    first, last = acc.Histograms("weights/conv1.kernel")
    assert first.histogram_value.sum != last.histogram_value.sum


def test_same_api_as_the_torch_logger():
    a, b = pt_tb.VisualizationLogger, k_tb.VisualizationLogger
    for name in ("__init__", "log_epoch", "log_scalars", "log_filters", "log_weight_histograms", "log_activations"):
        assert inspect.signature(getattr(a, name)) == inspect.signature(getattr(b, name)), name
    assert "import torch" not in b.__doc__ and "(N, H, W, C)" in b.__doc__
    assert issubclass(k_tb.VisualizationCallback, keras.callbacks.Callback)


def test_mistakes_get_one_clear_error(tmp_path):
    twin = make_keras_twin("catdog")
    model, (_, x) = twin.keras_model, twin.inputs(1)
    with pytest.raises(LayerNotFoundError, match="conv3"):
        k_tb.VisualizationLogger(model, tmp_path / "run", x, feature_layers=["conv4"])
    assert not (tmp_path / "run").exists()
    with k_tb.VisualizationLogger(model, tmp_path / "run", x.transpose(0, 3, 1, 2)) as board:
        with pytest.raises(InvalidInputError, match="channels-last"):
            board.log_epoch(0)  # channels-first probes
    with pytest.raises(ValueError, match="every must be a positive int"):
        k_tb.VisualizationCallback(tmp_path, x, every=0)
    with pytest.raises(ValueError, match="needs probe_images"):
        k_tb.VisualizationCallback(tmp_path, None)
