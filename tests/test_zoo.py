"""The model zoo (``tests/zoo.py``): twelve architectures, every CAM method, both frameworks.

For every architecture: the automatic layer is the conventional one, every CAM method that applies
runs and gives a map that is not constant, the methods that cannot apply say why, and PyTorch and
Paddle agree on the same weights.
"""

from __future__ import annotations

import numpy as np
import pytest

from visualization.core.errors import LayerOutputError, TargetError
from visualization.paddle import cam_visualizer as pd_cam
from visualization.paddle import targets as pd_targets
from visualization.pytorch import cam_visualizer as pt_cam
from visualization.pytorch import targets as pt_targets

from .zoo import ZOO, make

METHODS = (
    "CAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "XGradCAM",
    "LayerCAM",
    "HiResCAM",
    "EigenCAM",
    "EigenGradCAM",
    "SmoothGradCAMPlusPlus",
    "ScoreCAM",
    "AblationCAM",
)
KWARGS = {"SmoothGradCAMPlusPlus": {"n_samples": 2, "seed": 3}, "ScoreCAM": {"batch_size": 64}}
# CAM needs a global-average-pooling + linear head on the explained layer: transformers (a norm layer
# inside the last block) and dense-prediction networks have none.
NO_CAM = {"vit", "swin", "deeplabv3", "detector"}


def target_for(name: str, framework: str, model, x):
    """The target each kind of network is explained for: the predicted class, the predicted pixels of
    the most frequent category, the best-scoring box."""
    spec = ZOO[name]
    mod = pt_targets if framework == "torch" else pd_targets
    if spec.kind == "classifier":
        return None
    out = model(x)
    if spec.kind == "segmentation":
        labels = np.asarray(out["out"].detach().cpu().numpy() if framework == "torch" else out["out"].numpy())[0]
        pred = labels.argmax(0)
        category = int(np.bincount(pred.ravel()).argmax())
        return mod.SemanticSegmentationTarget(category, pred == category)
    det = out[0]
    scores = det["scores"].detach().numpy() if framework == "torch" else det["scores"].numpy()
    best = int(scores.argmax())
    boxes = det["boxes"].detach().numpy() if framework == "torch" else det["boxes"].numpy()
    labels = det["labels"].numpy() if framework == "paddle" else det["labels"].detach().numpy()
    return mod.DetectionBoxTarget([int(labels[best])], boxes[best : best + 1], 0.5)


def _run(name: str, method: str):
    z = make(name)
    xt, xp = z.inputs(1, seed=1)
    out = []
    for mod, model, x, fw in ((pt_cam, z.torch_model, xt, "torch"), (pd_cam, z.paddle_model, xp, "paddle")):
        cam = getattr(mod, method)(model, None, output=z.spec.output, **KWARGS.get(method, {}))
        out.append((cam, cam.compute(x, target_for(name, fw, model, x))))
    return out


@pytest.mark.parametrize("name", list(ZOO))
def test_auto_layer_is_the_conventional_one(name, caplog):
    (tc, tr), (pc, pr) = _run(name, "GradCAM")
    assert tc.target_layer_name == pc.target_layer_name == ZOO[name].auto_layer
    assert tr.heatmaps.std() > 0.05 and pr.heatmaps.std() > 0.05  # not a constant map
    np.testing.assert_allclose(tr.heatmaps, pr.heatmaps, atol=1e-5)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", list(ZOO))
def test_every_method_runs_on_every_architecture(name, method):
    if method == "CAM" and name in NO_CAM:
        with pytest.raises((LayerOutputError, TargetError)):
            _run(name, method)
        return
    (_, tr), (_, pr) = _run(name, method)
    assert tr.heatmaps.shape == pr.heatmaps.shape == (1, 32, 32)
    # Ablation-CAM's weight (y - y_k) / y flips sign for a negative logit y (random weights: the
    # predicted class can have one), which can leave nothing after the ReLU
    degenerate = method == "AblationCAM" and tr.targets is not None and tr.outputs[0, tr.targets[0]] <= 0
    if not degenerate:
        assert tr.heatmaps.std() > 0.01, "the map is (nearly) constant"
        assert pr.heatmaps.std() > 0.01
    # the same weights give the same map in both frameworks; Ablation-CAM subtracts nearly equal scores
    atol = 1e-4 if method == "AblationCAM" else 1e-5
    np.testing.assert_allclose(tr.heatmaps, pr.heatmaps, atol=atol)


@pytest.mark.parametrize("name", ["vit", "deeplabv3", "detector"])
def test_twin_outputs_agree(name):
    z = make(name)
    xt, xp = z.inputs(2)
    a, b = z.torch_model(xt), z.paddle_model(xp)
    if isinstance(a, dict):
        a, b = a["out"], b["out"]
    if isinstance(a, list):
        a = np.stack([d["boxes"].detach().numpy() for d in a])
        b = np.stack([d["boxes"].numpy() for d in b])
    a = a if isinstance(a, np.ndarray) else a.detach().numpy()
    b = b if isinstance(b, np.ndarray) else b.numpy()
    np.testing.assert_allclose(a, b, atol=1e-5 * max(1.0, float(np.abs(a).max())))


def test_paddle_vision_googlenet_tuple_output(caplog):
    """Paddle's own GoogLeNet returns (logits, aux1, aux2) and runs its auxiliary heads last: with
    output=0 the automatic layer skips them (they do not reach the logits) and picks the last
    inception block."""
    import logging

    import paddle
    from paddle.vision.models import googlenet

    paddle.seed(0)
    model = googlenet(num_classes=5)
    model.eval()
    x = paddle.to_tensor(np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype("float32"))
    with pytest.raises(TargetError, match=r"a tuple of 3 .*output="):
        pd_cam.GradCAM(model).compute(x)
    with caplog.at_level(logging.INFO, logger="visualization"):
        cam = pd_cam.GradCAM(model, output=0)
        res = cam.compute(x)
    assert cam.target_layer_name == "_ince5b" and "do not reach the selected output" in caplog.text
    assert res.heatmaps.std() > 0.05
