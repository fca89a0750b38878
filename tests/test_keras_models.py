"""The pretrained EfficientNet-Lite0 in Keras: the shipped torch weights, torch's logits and layer names.

Photos are scikit-image's CC0 images, as in ``tests/test_models_pretrained.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from visualization.models import efficientnet_spec as spec
from visualization.models import load_model, preprocess

skdata = pytest.importorskip("skimage.data")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

from visualization.keras._backend import BACKEND  # noqa: E402
from visualization.keras.efficientnet import EfficientNetLite0, efficientnet_lite0, weights_from_torch  # noqa: E402

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
PARITY_ATOL = 1e-4


@pytest.fixture(scope="module")
def batch() -> np.ndarray:
    """The four photos, preprocessed channels-first: (4, 3, 224, 224) float32."""
    return np.stack([preprocess(getattr(skdata, name)())[0] for name in PHOTOS])


@pytest.fixture(scope="module")
def torch_model():
    return load_model("efficientnet-lite0", framework="torch")


@pytest.fixture(scope="module")
def torch_logits(torch_model, batch) -> np.ndarray:
    with torch.no_grad():
        return torch_model(torch.from_numpy(batch)).numpy()


@pytest.fixture(scope="module")
def keras_model():
    return load_model("efficientnet-lite0", framework="keras")


def test_logits_and_top1_match_torch(keras_model, batch, torch_logits):
    logits = keras_model(batch.transpose(0, 2, 3, 1), training=False).numpy()
    assert logits.shape == (4, 1000)
    np.testing.assert_allclose(logits, torch_logits, atol=PARITY_ATOL, rtol=0)
    assert logits.argmax(1).tolist() == torch_logits.argmax(1).tolist()
    assert logits[0].argmax() in range(281, 286)  # chelsea is a cat


def test_every_shipped_key_is_used_and_every_variable_set():
    state = spec.pretrained_state_dict()
    model = EfficientNetLite0()
    model(np.zeros((1, 32, 32, 3), np.float32))
    used = weights_from_torch(model, state)
    assert used == set(state)  # num_batches_tracked counters are read and dropped, nothing else is left over
    weights = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert sum(v.size for v in weights.values()) == model.count_params() == 4_694_024
    # Spot checks of the layout conversions, against the raw arrays
    np.testing.assert_array_equal(model._conv_stem.kernel.numpy(), state["_conv_stem.weight"].transpose(2, 3, 1, 0))
    dw = model._blocks[3]._depthwise_conv.kernel.numpy()
    np.testing.assert_array_equal(dw[..., 0], state["_blocks.3._depthwise_conv.weight"][:, 0].transpose(1, 2, 0))
    np.testing.assert_array_equal(model._fc.kernel.numpy(), state["_fc.weight"].T)
    np.testing.assert_array_equal(model._blocks[15]._bn2.moving_variance.numpy(), state["_blocks.15._bn2.running_var"])


def test_layer_names_are_the_torch_names(keras_model, torch_model):
    from visualization.pytorch._backend import BACKEND as TORCH

    torch_names = [n for n, _ in TORCH.named_layers(torch_model) if n != "_blocks"]  # a ModuleList, never called
    assert [n for n, _ in BACKEND.named_layers(keras_model)] == torch_names
    assert "_blocks.15._project_conv" in torch_names


def test_intermediate_block_matches_torch(keras_model, torch_model, batch):
    """A feature map read through the adapter equals torch's, channels-first as the core reports it."""
    layer = dict(BACKEND.named_layers(keras_model))["_blocks.10"]
    x = BACKEND.prepare_input(keras_model, batch[:1].transpose(0, 2, 3, 1))
    (cap,) = BACKEND.capture_many(keras_model, x, ["_blocks.10"], [layer], None, need_grad=False)
    got = []
    handle = torch_model._blocks[10].register_forward_hook(lambda m, i, o: got.append(o.detach().numpy()))
    try:
        with torch.no_grad():
            torch_model(torch.from_numpy(batch[:1]))
    finally:
        handle.remove()
    assert cap.activations.shape == got[0].shape == (1, 112, 14, 14)
    np.testing.assert_allclose(cap.activations, got[0], atol=PARITY_ATOL, rtol=0)


def test_new_head_keeps_pretrained_features(keras_model, batch):
    model = efficientnet_lite0(pretrained=True, num_classes=2)
    assert model._fc.kernel.shape == (1280, 2)
    x = batch[1:2].transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(
        model.forward_features(x, training=False).numpy(), keras_model.forward_features(x, training=False).numpy()
    )
    assert model(x, training=False).shape == (1, 2)


def test_unpretrained_differs_and_a_bad_state_changes_nothing():
    model = efficientnet_lite0(pretrained=False)
    before = [w.copy() for w in model.get_weights()]
    state = dict(spec.pretrained_state_dict())
    state["_blocks.4._project_conv.weight"] = np.zeros((3, 3, 1, 1), np.float32)
    del state["_bn1.bias"]
    state["extra.weight"] = np.zeros(1, np.float32)
    with pytest.raises(RuntimeError, match=r"_blocks\.4\._project_conv.*missing '_bn1\.bias'.*extra\.weight"):
        weights_from_torch(model, state)
    after = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, after))
    assert not np.array_equal(after[0], spec.pretrained_state_dict()["_conv_stem.weight"].transpose(2, 3, 1, 0))


def test_gradcam_on_a_late_block_matches_torch(keras_model, torch_model, batch):
    """The whole stack on the pretrained network: Grad-CAM of 'Egyptian cat' at _blocks.15 in both frameworks."""
    from visualization.keras.cam_visualizer import GradCAM
    from visualization.pytorch.cam_visualizer import GradCAM as TorchGradCAM

    got = GradCAM(keras_model, "_blocks.15").compute(batch[:1].transpose(0, 2, 3, 1), 285)
    want = TorchGradCAM(torch_model, "_blocks.15").compute(torch.from_numpy(batch[:1]), 285)
    assert got.heatmaps.shape == want.heatmaps.shape == (1, 224, 224)
    assert got.weights.shape == want.weights.shape == (1, 320) and got.raw.shape == (1, 7, 7)
    assert got.targets.tolist() == want.targets.tolist() == [285]
    for name in ("weights", "raw"):  # raw scale: relative to the largest value
        a, b = getattr(got, name), getattr(want, name)
        assert np.abs(a - b).max() <= 1e-5 * np.abs(b).max(), name  # measured 1.1e-7 and 4.2e-7
    np.testing.assert_allclose(got.heatmaps, want.heatmaps, atol=1e-5, rtol=0)  # measured 9.5e-7
