"""The user's world is left as found (Keras side), and what cannot work says so.

Mirrors ``test_torch_contract.py`` / ``test_paddle_contract.py``. Keras 3 layers hold no train/eval
flag and no hooks; what the adapter could change is each layer's ``call`` (it replaces the layer
*instance's* ``call`` for one eager call), the variables, their ``trainable`` flags and the caller's
input. All of them are checked after every public method, and after an exception in the middle of
a call.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from visualization.core.errors import LayerNotFoundError, LayerOutputError, TargetError
from visualization.keras import cam_visualizer as k_cam
from visualization.keras._backend import BACKEND
from visualization.keras.cam_visualizer import GradCAM, GradCAMPlusPlus, ScoreCAM, compare_cam_methods
from visualization.keras.layer_visualizer import CNNLayerVisualizer

from .test_paddle_parity import assert_rel

L = keras.layers
# every CAM class; CAM itself needs a GAP -> dense head and is checked on its own
ALL_CAMS = [getattr(k_cam, n) for n in k_cam.__all__ if n not in ("CAMResult", "compare_cam_methods")]
CAMS = [c for c in ALL_CAMS if c.__name__ != "CAM"]


class SmallNet(keras.Model):
    """conv-bn-relu, then conv-bn + residual add -> ReLU layer, max-pool, dropout, global pool, dense:
    the Keras counterpart of the torch and Paddle contracts' SmallNet (subclassed)."""

    def __init__(self, classes: int = 5) -> None:
        super().__init__(name="small")
        self.conv1 = L.Conv2D(8, 3, padding="same", name="conv1")
        self.bn1 = L.BatchNormalization(name="bn1")
        self.relu = L.ReLU(name="relu")
        self.conv2 = L.Conv2D(8, 3, padding="same", name="conv2")
        self.bn2 = L.BatchNormalization(name="bn2")
        self.pool = L.MaxPooling2D(2, padding="same", name="pool")
        self.drop = L.Dropout(0.5, name="drop")
        self.gap = L.GlobalAveragePooling2D(name="gap")
        self.fc = L.Dense(classes, name="fc")

    def call(self, x, training=None):
        h = tf.nn.relu(self.bn1(self.conv1(x), training=training))
        h = self.relu(self.bn2(self.conv2(h), training=training) + h)
        return self.fc(self.drop(self.gap(self.pool(h)), training=training))


def seeded(model: keras.Model, shape=(8, 8, 3), seed: int = 0) -> keras.Model:
    """Built, every variable from ``seed`` (BatchNorm variances positive, so not the identity)."""
    model(np.zeros((1, *shape), np.float32))
    rng = np.random.default_rng(seed)
    for v in model.weights:
        value = rng.standard_normal(v.shape) * 0.5
        if "variance" in v.path:
            value = rng.random(v.shape) + 0.5
        v.assign(value.astype(np.float32))
    return model


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def _state(model: keras.Model) -> dict:
    """Everything about the model the adapter must not change."""
    layers = [("", model), *BACKEND.named_layers(model)]
    return {
        "weights": {v.path: np.array(v.numpy(), copy=True) for v in model.weights},
        "variable_trainable": {v.path: v.trainable for v in model.weights},
        "layer_trainable": {n: layer.trainable for n, layer in layers},
        "call": {n: (type(layer.call), layer.__dict__.get("call")) for n, layer in layers},
        "own_call": {n for n, layer in layers if "call" in layer.__dict__},
    }


def _assert_same_state(model: keras.Model, before: dict) -> None:
    after = _state(model)
    assert after["variable_trainable"] == before["variable_trainable"]
    assert after["layer_trainable"] == before["layer_trainable"]
    assert after["own_call"] == before["own_call"]  # no replaced call is left behind
    assert after["call"] == before["call"]
    for k, v in before["weights"].items():
        np.testing.assert_array_equal(after["weights"][k], v, err_msg=k)


def _all_calls(model, x):
    """Every public entry point of the modules here that runs the model."""
    v = CNNLayerVisualizer(model)
    v.get_feature_maps(x, "conv2")
    v.get_gradients(x, 1, "conv2")
    v.visualize_feature_maps(x, "conv2", max_maps=4)
    v.visualize_gradients(x, None, "conv2", max_maps=4)
    v.visualize_feature_maps_interactive(x, "conv1", max_maps=3)
    for cam in CAMS:
        cam(model, "conv2").generate_cam(x, 0)
    GradCAM(model).generate_cam(x)  # auto layer: every layer's call replaced for one pass
    compare_cam_methods(model, "conv2", x)


@pytest.fixture
def no_weight_gradients(monkeypatch):
    """Every ``tf.GradientTape.gradient`` call made meanwhile: the tape must watch no variable and
    differentiate with respect to tensors only (no weight gradient is ever computed)."""
    calls = []
    original = tf.GradientTape.gradient

    def gradient(self, target, sources, *args, **kwargs):
        flat = tf.nest.flatten(sources)
        calls.append((list(self.watched_variables()), [type(s) for s in flat]))
        return original(self, target, sources, *args, **kwargs)

    monkeypatch.setattr(tf.GradientTape, "gradient", gradient)
    yield calls
    assert calls, "no gradient was computed at all"
    for watched, types in calls:
        assert watched == [], f"the tape watched variables {[v.name for v in watched]}"
        assert not any(issubclass(t, tf.Variable) for t in types)


# ------------------------------------------------------------------ the user's world is left as found
@pytest.mark.parametrize("as_tensor", [False, True])
def test_model_variables_flags_calls_and_input_untouched(as_tensor: bool, no_weight_gradients) -> None:
    model = seeded(SmallNet())
    model.conv1.trainable = False  # a frozen layer (its variables too) and ...
    model.fc.bias.trainable = False  # ... a frozen variable of a trainable layer
    own_call = model.bn2.call  # a call the user set on the instance must come back as it was
    object.__setattr__(model.bn2, "call", own_call)
    before = _state(model)
    assert "bn2" in before["own_call"] and not before["layer_trainable"]["conv1"]
    x_np = rand(2, 8, 8, 3)
    x = tf.Variable(x_np) if as_tensor else x_np
    x_before = np.array(x_np, copy=True)
    _all_calls(model, x)
    _assert_same_state(model, before)
    assert model.bn2.__dict__["call"] is own_call
    np.testing.assert_array_equal(np.asarray(x), x_before)
    assert x.dtype == (tf.float32 if as_tensor else np.float32)


def test_model_in_a_training_loop_state_is_explained_with_moving_statistics() -> None:
    """BatchNorm uses its moving statistics and Dropout is off (``training=False``), whatever the
    model's ``trainable`` flags; the statistics are not updated."""
    model = seeded(SmallNet())
    x = rand(2, 8, 8, 3, seed=3)
    first = GradCAM(model, "conv2").generate_cam(x, 1)
    for _ in range(2):  # deterministic, although Dropout(0.5) is in the model
        np.testing.assert_array_equal(GradCAM(model, "conv2").generate_cam(x, 1), first)
    maps = CNNLayerVisualizer(model).get_feature_maps(x, "bn1")
    expected = model.bn1(model.conv1(x), training=False).numpy().transpose(0, 3, 1, 2)
    assert_rel(expected, maps, rtol=1e-6)


def test_fully_frozen_model_still_gets_gradients(no_weight_gradients) -> None:
    model = seeded(SmallNet())
    model.trainable = False
    res = GradCAM(model, "conv2").compute(rand(1, 8, 8, 3), 2)
    assert np.abs(res.weights).sum() > 0
    assert not model.trainable and not model.trainable_weights


def test_gradient_is_the_activation_gradient(no_weight_gradients) -> None:
    """Independent check: the same gradient by a functional re-run from the captured activation."""
    model = seeded(SmallNet())
    x = rand(2, 8, 8, 3, seed=1)
    res = CNNLayerVisualizer(model).get_gradients(x, 3, "bn1")
    a = tf.Variable(model.bn1(model.conv1(x), training=False))
    with tf.GradientTape() as tape:
        h = tf.nn.relu(a)
        h = model.relu(model.bn2(model.conv2(h), training=False) + h)
        out = model.fc(model.gap(model.pool(h)))
        score = tf.reduce_sum(out[:, 3])
    no_weight_gradients.clear()  # this reference tape watches the variable on purpose
    g = tape.gradient(score, a).numpy().transpose(0, 3, 1, 2)
    no_weight_gradients.clear()
    np.testing.assert_allclose(res.gradients, g, rtol=1e-5, atol=1e-7)
    assert (res.activations < 0).any()  # the pre-activation, not the ReLU output
    GradCAM(model, "bn1").compute(x, 3)  # leaves a call for the fixture to check


class Exploding(keras.Model):
    """Fails in ``call`` after the target layer ran, from call number ``fail_from`` on."""

    def __init__(self, fail_from: int = 1) -> None:
        super().__init__(name="exploding")
        self.conv = L.Conv2D(4, 3, name="conv")
        self.gap = L.GlobalAveragePooling2D(name="gap")
        self.fc = L.Dense(2, name="fc")
        self.calls = 0
        self.fail_from = fail_from

    def call(self, x):
        self.calls += 1
        h = self.conv(x)  # the replaced call runs, then call fails
        if self.calls >= self.fail_from:
            raise RuntimeError("boom after the target layer")
        return self.fc(self.gap(h))


def _exploding(fail_from: int = 1) -> Exploding:
    model = Exploding(fail_from=10**9)
    model(np.zeros((1, 8, 8, 3), np.float32))  # build
    model.calls, model.fail_from = 0, fail_from
    return model


@pytest.mark.parametrize("cam_cls", ALL_CAMS)
def test_calls_restored_after_exception_in_call(cam_cls) -> None:
    model = _exploding()
    model.fc.trainable = False
    before = _state(model)
    with pytest.raises(RuntimeError, match="boom"):
        cam_cls(model, "conv").generate_cam(rand(1, 8, 8, 3), 0)
    with pytest.raises(RuntimeError, match="boom"):
        cam_cls(model).generate_cam(rand(1, 8, 8, 3), 0)  # auto layer: every layer's call replaced
    _assert_same_state(model, before)


def test_calls_restored_after_exception_in_visualizer_target_and_score_cam_masks() -> None:
    model = _exploding()
    before = _state(model)
    v = CNNLayerVisualizer(model)
    with pytest.raises(RuntimeError, match="boom"):
        v.get_feature_maps(rand(1, 8, 8, 3), "conv")
    with pytest.raises(RuntimeError, match="boom"):
        v.get_gradients(rand(1, 8, 8, 3), 0, "conv")
    _assert_same_state(model, before)
    model = _exploding(fail_from=2)  # the capture works, the first masked batch fails
    before = _state(model)
    with pytest.raises(RuntimeError, match="boom"):
        ScoreCAM(model, "conv").generate_cam(rand(1, 8, 8, 3), 0)
    assert model.calls == 2
    _assert_same_state(model, before)
    # a target that raises in the middle of the taped call
    model = seeded(SmallNet())
    before = _state(model)

    def bad_target(out):
        raise ZeroDivisionError("target failed")

    for cam in (GradCAM, GradCAMPlusPlus):
        with pytest.raises(ZeroDivisionError, match="target failed"):
            cam(model, "conv2").generate_cam(rand(1, 8, 8, 3), bad_target)
    with pytest.raises(TargetError, match="one score per sample"):
        GradCAM(model, "conv2").generate_cam(rand(2, 8, 8, 3), lambda out: tf.reduce_sum(out))
    _assert_same_state(model, before)


def test_input_dtype_and_3d_means_one_image() -> None:
    model = seeded(SmallNet())
    x64 = rand(8, 8, 3).astype(np.float64)
    heat = GradCAM(model, "conv1").generate_cam(x64, 0)
    assert heat.shape == (8, 8) and heat.dtype == np.float32
    assert x64.dtype == np.float64
    np.testing.assert_allclose(heat, GradCAM(model, "conv1").generate_cam(x64.astype(np.float32)[None], 0), atol=1e-6)


# ------------------------------------------------------------------ model kinds: what works, what says why
def _transfer_model() -> keras.Model:
    """Transfer learning: a Sequential backbone inside a functional model, with its own head."""
    backbone = keras.Sequential(
        [keras.Input((12, 12, 3)), L.Conv2D(6, 3, name="conv1"), L.ReLU(name="relu1"), L.Conv2D(8, 3, name="conv2")],
        name="backbone",
    )
    inputs = keras.Input((12, 12, 3), name="image")
    x = L.ReLU(name="head_relu")(backbone(inputs))
    outputs = L.Dense(3, name="head")(L.GlobalAveragePooling2D(name="gap")(x))
    return seeded(keras.Model(inputs, outputs, name="transfer"), (12, 12, 3))


def test_nested_model_layers_by_dotted_name(no_weight_gradients) -> None:
    model = _transfer_model()
    model.get_layer("backbone").trainable = False  # frozen backbone, as in transfer learning
    before = _state(model)
    names = [n for n, _ in BACKEND.named_layers(model)]
    assert names == ["backbone", "backbone.conv1", "backbone.relu1", "backbone.conv2", "head_relu", "gap", "head"]
    x = rand(2, 12, 12, 3, seed=4)
    backbone = model.get_layer("backbone")
    # independent reference: the seed tutorial's intermediate model
    probe = keras.Model(backbone.inputs[0], backbone.get_layer("conv2").output)
    maps = CNNLayerVisualizer(model).get_feature_maps(x, "backbone.conv2")
    assert_rel(probe(x).numpy().transpose(0, 3, 1, 2), maps, rtol=1e-6)
    res = GradCAM(model, "backbone.relu1").compute(x, [0, 2])
    assert res.layer_name == "backbone.relu1" and res.heatmaps.shape == (2, 12, 12)
    assert res.heatmaps.max() > 0
    # the gradient of a logit at conv2's output, through the head only: ReLU -> mean -> dense
    res2 = CNNLayerVisualizer(model).get_gradients(x, [0, 2], "backbone.conv2")
    w = model.get_layer("head").kernel.numpy()[:, [0, 2]].T  # (2, 8)
    h = probe(x).numpy().transpose(0, 3, 1, 2)
    expected = (h > 0) * w[:, :, None, None] / (h.shape[2] * h.shape[3])
    assert_rel(expected, res2.gradients, rtol=1e-6)
    # a layer object of the nested model works as well as its name
    assert GradCAM(model, backbone.get_layer("conv2")).target_layer_name == "backbone.conv2"
    _assert_same_state(model, before)


def test_subclassed_model_with_nested_layers_reads_through_call() -> None:
    """Subclassed models have no symbolic graph (``get_layer(...).output`` fails), so the output is read
    through the layer's call: the intermediate value the seed tutorial's ``keras.Model(inputs, outputs)``
    cannot reach."""
    from .keras_twins import make_keras_twin

    model = make_keras_twin("resbn").keras_model
    with pytest.raises((AttributeError, ValueError)):
        keras.Model(model.inputs, model.block.bn2.output)
    x = make_keras_twin("resbn").inputs(1)[1]
    maps = CNNLayerVisualizer(model).get_feature_maps(x, "block.bn2")
    stem = model.stem(x, training=False)
    block = model.block
    expected = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(model.pool(stem))))), training=False)
    assert_rel(expected.numpy().transpose(0, 3, 1, 2), maps, rtol=1e-6)


class Detour(keras.Model):
    """``unused`` is never called; ``twice`` is called twice per forward pass (a shared layer)."""

    def __init__(self) -> None:
        super().__init__(name="detour")
        self.used = L.Conv2D(2, 3, padding="same", name="used")
        self.unused = L.Conv2D(2, 3, padding="same", name="unused")
        self.twice = L.Conv2D(3, 1, name="twice")
        self.gap = L.GlobalAveragePooling2D(name="gap")

    def call(self, x):
        return self.gap(self.used(self.twice(self.twice(x))))


class Compiled(keras.Model):
    """The forward pass inside ``tf.function``: layers run on symbolic graph tensors."""

    def __init__(self) -> None:
        super().__init__(name="compiled")
        self.conv = L.Conv2D(2, 3, name="conv")
        self.gap = L.GlobalAveragePooling2D(name="gap")

    @tf.function
    def call(self, x):
        return self.gap(self.conv(x))


@pytest.mark.filterwarnings("ignore:`build\\(\\)` was called on layer 'detour'")  # its unused layer stays unbuilt
def test_what_cannot_work_says_what_to_do() -> None:
    model = Detour()
    model(rand(1, 6, 6, 3))
    before = _state(model)
    with pytest.raises(
        LayerOutputError, match=r"'unused' did not run during the forward pass .*never uses it\); pick a layer"
    ):
        GradCAM(model, "unused").generate_cam(rand(1, 6, 6, 3), 0)
    with pytest.raises(LayerOutputError, match=r"'twice' ran more than once .* runs once per forward pass"):
        CNNLayerVisualizer(model).get_feature_maps(rand(1, 6, 6, 3), "twice")
    with pytest.raises(LayerOutputError, match=r"'gap' must output a 4-D \(N, h, w, C\) tensor.*shape \(1, 2\)"):
        GradCAM(model, "gap").generate_cam(rand(1, 6, 6, 3), 0)
    with pytest.raises(LayerNotFoundError, match=r"'use'.*Did you mean.*'used'"):
        GradCAM(model, "use")
    with pytest.raises(LayerNotFoundError, match="not a sub-layer"):
        GradCAM(model, L.Conv2D(2, 3))
    _assert_same_state(model, before)
    compiled = Compiled()
    compiled(rand(1, 6, 6, 3))
    before = _state(compiled)
    with pytest.raises(
        LayerOutputError,
        match=r"'conv' ran inside a tf\.function \(the model's call\).*eager call: remove the @tf\.function",
    ):
        GradCAM(compiled, "conv").generate_cam(rand(1, 6, 6, 3), 0)
    with pytest.raises(LayerOutputError, match=r"The model's layers ran inside a tf\.function \(the model's call\)"):
        GradCAM(compiled).generate_cam(rand(1, 6, 6, 3), 0)  # auto layer
    with pytest.raises(LayerOutputError, match=r"'conv' ran inside a tf\.function"):
        GradCAM(compiled, "conv").generate_cam(rand(2, 9, 9, 3), 0)  # a new shape: traced again, symbolically
    _assert_same_state(compiled, before)


def test_unbuilt_subclassed_model_is_built_first() -> None:
    """A subclassed model never called before builds on its first call (Keras may run ``call`` on
    symbolic tensors then): the explanation is the same as on a built copy."""
    built = seeded(SmallNet())
    x = rand(2, 8, 8, 3, seed=6)
    expected = GradCAM(built, "conv2").compute(x, 1)
    fresh = SmallNet()
    res = GradCAM(fresh, "conv2").compute(x, 1)  # builds here
    assert fresh.built and res.heatmaps.shape == (2, 8, 8)
    fresh.set_weights(built.get_weights())
    assert_rel(expected.raw, GradCAM(fresh, "conv2").compute(x, 1).raw, rtol=1e-6)


def test_layer_off_the_output_path_warns() -> None:
    class OffPath(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.used = L.Conv2D(2, 3, name="used")
            self.unused = L.Conv2D(2, 3, name="unused")
            self.gap = L.GlobalAveragePooling2D(name="gap")

        def call(self, x):
            self.unused(x)  # runs, but the output ignores it
            return self.gap(self.used(x))

    with pytest.warns(RuntimeWarning, match="does not depend on layer 'unused'"):
        res = GradCAM(OffPath(), "unused").compute(rand(1, 6, 6, 3), 0)
    assert not res.weights.any()


# ------------------------------------------------------------------ public API and docs
def _public_callables(cls: type) -> dict[str, object]:
    """``__init__`` and public methods that the project defines on ``cls`` (not the framework's)."""
    out: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("visualization."):
            for name, obj in vars(klass).items():
                if (name == "__init__" or not name.startswith("_")) and callable(obj):
                    out[name] = obj
    return out


def _params(func: object) -> list[tuple[str, object, object]]:
    return [(p.name, p.kind, p.default) for p in inspect.signature(func).parameters.values()]


@pytest.mark.parametrize("module", ["cam_visualizer", "layer_visualizer"])
def test_public_api_is_identical_to_torch(module: str) -> None:
    torch_mod = importlib.import_module(f"visualization.pytorch.{module}")
    keras_mod = importlib.import_module(f"visualization.keras.{module}")
    assert torch_mod.__all__ == keras_mod.__all__
    for name in torch_mod.__all__:
        a, b = getattr(torch_mod, name), getattr(keras_mod, name)
        assert inspect.isclass(a) == inspect.isclass(b), name
        if not inspect.isclass(a):
            assert _params(a) == _params(b), name
            continue
        ma, mb = _public_callables(a), _public_callables(b)
        assert sorted(ma) == sorted(mb), name
        for meth in ma:
            assert _params(ma[meth]) == _params(mb[meth]), f"{name}.{meth}"


def test_keras_classes_bind_the_keras_backend_and_show_keras_examples() -> None:
    from visualization.core import cam as core_cam
    from visualization.keras import layer_visualizer, models
    from visualization.keras._backend import KerasBackend

    assert isinstance(BACKEND, KerasBackend) and BACKEND.name == "keras"
    for cls in ALL_CAMS:
        assert issubclass(cls, core_cam.BaseCAM) and cls.backend is BACKEND
    assert CNNLayerVisualizer.backend is BACKEND
    documented = [*ALL_CAMS, compare_cam_methods, CNNLayerVisualizer, models.CatDogCNN, k_cam, layer_visualizer]
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for obj in documented[:-1]:  # the layer_visualizer module docstring has no example
        doc = obj.__doc__
        assert ">>>" in doc and "omitted for Keras" not in doc, obj
        code = "\n".join(line for line in doc.splitlines() if line.strip().startswith((">>>", "...")))
        assert "torch" not in code and "(N, C, H, W)" not in code, obj
        if obj in (*ALL_CAMS, CNNLayerVisualizer):  # translated from the core's PyTorch example
            assert "from visualization.keras." in code and "keras.Sequential(" in code, obj
        module = obj if inspect.ismodule(obj) else inspect.getmodule(obj)
        for test in doctest.DocTestFinder(recurse=False).find(obj, obj.__name__, module=module):
            runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    assert runner.summarize(verbose=False).attempted >= 3 * len(documented)


def test_every_core_example_renders_for_keras_as_keras_or_not_at_all() -> None:
    """Other Keras modules render the core's docstrings too: each example is either translated into
    torch-free code that parses, or dropped with the pointer note; never half-translated. Examples of
    modules not in ``KERAS_TRANSLATED`` (yet) are dropped."""
    from visualization.core import activation_max, cam_methods, cam_perturbation, layer_viz, saliency
    from visualization.core.docs import KERAS_TRANSLATED, for_framework

    translated = dropped = 0
    for module in (activation_max, cam_methods, cam_perturbation, layer_viz, saliency):
        for obj in vars(module).values():
            doc = getattr(obj, "__doc__", None)
            if getattr(obj, "__module__", None) != module.__name__ or not doc or "import torch" not in doc:
                continue
            rendered = for_framework(doc, "keras")
            examples = doctest.DocTestParser().get_examples(rendered)
            assert not any("torch" in ex.source for ex in examples), obj
            imported = set(re.findall(r"visualization\.pytorch\.(\w+)", doc))
            assert bool(examples) == (imported <= KERAS_TRANSLATED), obj
            if examples:
                translated += 1
                for ex in examples:
                    compile(ex.source, repr(obj), "single")
                assert "import keras" in rendered and "keras.Sequential(" in rendered, obj
            else:
                dropped += 1
                assert "omitted for Keras" in rendered, obj
    # the CAM family, the visualizer, the saliency methods and activation maximization (all in KERAS_TRANSLATED)
    assert translated == 21, (translated, dropped)
    assert dropped == 0, (translated, dropped)
