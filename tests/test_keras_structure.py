"""The Keras structure table against the torch one: the same rows, shapes, parameters and receptive fields.

Output shapes are channels-first in both (the core's ``C x H x W``). Known differences, asserted here:
Keras's ``GlobalAveragePooling2D`` returns ``(N, C)`` where torch's ``AdaptiveAvgPool2d(1)`` returns
``(N, C, 1, 1)`` (so its field reads "not a map" instead of "global"); the Keras ``CatDogCNN`` has
its ReLUs and ``Flatten`` as layers and three poolings where the torch one calls one ``pool`` three times.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from visualization.keras._structure import FACTS  # noqa: E402
from visualization.keras.efficientnet import efficientnet_lite0  # noqa: E402
from visualization.keras.structure import model_structure as keras_structure  # noqa: E402
from visualization.pytorch.efficientnet import efficientnet_lite0 as torch_efficientnet  # noqa: E402
from visualization.pytorch.structure import model_structure as torch_structure  # noqa: E402

from .keras_twins import make_keras_twin  # noqa: E402

#: Keras name of each torch row where the two differ (the CatDogCNN's shared pooling).
RENAMED = {"catdog": {"pool": "pool1", "pool [2]": "pool2", "pool [3]": "pool3"}}
#: Keras rows with no torch counterpart (layers where torch calls a function).
EXTRA = {"catdog": {"relu1", "relu2", "relu3", "relu4", "flatten"}, "resbn": set(), "gap": set()}


def _row(r) -> tuple:
    return (r.output_shape, r.params, r.trainable, r.geometry, r.field, r.jump, r.field_note, r.is_leaf)


def _compare(ts, ks, extra: set[str] = frozenset(), renamed: dict[str, str] | None = None) -> None:
    renamed = renamed or {}
    keras_rows = {r.label: r for r in ks.rows}
    assert set(keras_rows) - {renamed.get(r.label, r.label) for r in ts.rows} == set(extra)
    for tr in ts.rows:
        kr = keras_rows[renamed.get(tr.label, tr.label)]
        want = _row(tr)
        if tr.type_name == "AdaptiveAvgPool2d" and tr.output_shape[2:] == (1, 1):  # (N, C, 1, 1) vs (N, C)
            assert kr.type_name == "GlobalAveragePooling2D" and kr.field_note == "not a map", kr
            want = (tr.output_shape[:2], *want[1:4], None, None, "not a map", True)
        assert _row(kr) == want, (tr.label, _row(kr), want)
    assert (ks.total_params, ks.trainable_params) == (ts.total_params, ts.trainable_params)
    assert ks.input_shape == ts.input_shape and ks.framework == "keras"


@pytest.mark.parametrize("name", ["catdog", "resbn", "gap"])
def test_twins_match_torch(name):
    twin = make_keras_twin(name)
    shape = twin.twin.input_shape
    ts = torch_structure(twin.torch_model, shape)
    ks = keras_structure(twin.keras_model, shape)
    _compare(ts, ks, EXTRA[name], RENAMED.get(name))
    # the same from a channels-last batch as from the (C, H, W) shape
    _, x = twin.inputs(2)
    again = keras_structure(twin.keras_model, x)
    assert again.input_shape == (2, *shape)
    assert [(r.label, r.output_shape[1:], r.field, r.params) for r in again.rows] == [
        (r.label, r.output_shape[1:], r.field, r.params) for r in ks.rows
    ]


def test_known_numbers_of_the_resbn_twin():
    s = keras_structure(make_keras_twin("resbn").keras_model, (3, 15, 15))
    assert s.row("block.conv2").field == (12, 12) and s.row("block.conv2").jump == (2, 2)
    assert s.row("block.relu", 2).output_shape == (1, 6, 8, 8)
    assert s.row("stem").params == 168 + 12 and s.row("block").params == 324 * 2 + 12 * 2
    assert s.total_params == 873  # BatchNorm's moving statistics are not parameters
    assert s.repeated == ["block.relu"]


def test_efficientnet_lite0_matches_torch():
    ts = torch_structure(torch_efficientnet(pretrained=False), (3, 224, 224))
    ks = keras_structure(efficientnet_lite0(pretrained=False), (3, 224, 224))
    assert len(ks.rows) == len(ts.rows) == 149
    _compare(ts, ks)
    assert ks.row("_blocks.15").field == (851, 851) and ks.row("_act1").output_shape == (1, 1280, 7, 7)
    assert ks.total_params == 4_652_008


def test_frozen_layers_and_shared_weights_count_like_torch():
    L = keras.layers
    conv = L.Conv2D(4, 3, name="conv")
    inputs = keras.Input((8, 8, 4))
    out = L.BatchNormalization(name="bn")(conv(conv(inputs)))  # one convolution, called twice
    model = keras.Model(inputs, out)
    model.get_layer("bn").trainable = False
    s = keras_structure(model, (4, 8, 8))
    assert [r.label for r in s.rows] == ["conv", "conv [2]", "bn"]
    assert s.row("conv", 2).field == (5, 5)
    assert (s.total_params, s.trainable_params) == (4 * 4 * 9 + 4 + 8, 4 * 4 * 9 + 4)
    counts = FACTS.parameter_counts(model)
    assert counts["bn"] == (8, 0) and counts[""] == (0, 0)
    names = [n for n, _ in FACTS.parameter_arrays(model)]
    assert names == ["conv.kernel", "conv.bias", "bn.gamma", "bn.beta"]


def test_the_model_is_left_alone():
    model = make_keras_twin("resbn").keras_model
    before = [w.copy() for w in model.get_weights()]
    keras_structure(model, (3, 15, 15))
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # moving statistics too
    assert not any("call" in layer.__dict__ for layer in model._flatten_layers())  # no replaced call left


def test_a_failing_forward_pass_leaves_no_replaced_call():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3, name="conv")
            self.explode = False

        def call(self, x, training=None):
            y = self.conv(x)
            if self.explode:
                raise ValueError("boom")
            return y

    model = Net()
    model(np.zeros((1, 8, 8, 3), np.float32))
    model.explode = True
    with pytest.raises(ValueError, match="boom"):
        keras_structure(model, (3, 8, 8))
    assert "call" not in model.conv.__dict__
