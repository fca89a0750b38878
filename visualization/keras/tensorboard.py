"""Watch a Keras model train in TensorBoard: ``VisualizationLogger`` and, for ``model.fit``, ``VisualizationCallback``
(needs ``pip install tensorboardX tensorboard``).

The same logger as :mod:`visualization.pytorch.tensorboard`, for Keras 3 models: probe images are
channels-last ``(N, H, W, C)`` (numpy or ``tf.Tensor``), every forward pass is an eager call with
``training=False`` (BatchNorm statistics, weights and the optimizer's state are left alone), and
Grad-CAM differentiates with ``tf.GradientTape`` with respect to the target layer's output only.
Feature maps are drawn from the channels-first maps the toolkit returns, so the images equal the
torch twin's. Weight histograms are named after the Keras variables (``weights/conv1.kernel``,
``weights/conv1.bias``; BatchNorm's moving statistics are left out). No graph is written:
tensorboardX draws graphs with ``torch.jit.trace`` only; the ``structure`` text has the layer table
(``keras.callbacks.TensorBoard(write_graph=True)`` writes TensorFlow's own graph, if wanted).

Writing with tensorboardX imports torch when torch is installed (tensorboardX does that itself); on
a machine with Keras only it works without.

Example (the seed tutorial's loop, with ``model.fit``):
    >>> import tempfile
    >>> import numpy as np
    >>> from visualization.keras.models import CatDogCNN
    >>> from visualization.keras.tensorboard import VisualizationCallback
    >>> model = CatDogCNN(image_size=32)
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    >>> x, y = np.random.default_rng(0).random((8, 32, 32, 3), dtype=np.float32), np.arange(8) % 2
    >>> board = VisualizationCallback(tempfile.mkdtemp(), x[:2], feature_layers=["conv2"])
    >>> _ = model.fit(x, y, epochs=2, batch_size=4, verbose=0, callbacks=[board])
    >>> board.logged_epochs, "gradcam/probe_1" in board.last_tags, "loss" in board.last_tags
    ([0, 1], True, True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from ..core import training_log as _core
from ..core.docs import for_framework
from ._backend import BACKEND
from ._structure import FACTS
from .cam_visualizer import GradCAM

__all__ = ["VisualizationCallback", "VisualizationLogger"]

_KERAS_NOTE = """
    Keras: ``model`` is a ``keras.Model`` (Sequential, functional or subclassed) and ``probe_images``
    are channels-last ``(N, H, W, C)`` (numpy array or ``tf.Tensor``). Feature maps are the toolkit's
    channels-first maps; ``weights/<layer>.<variable>`` histograms use Keras variable names
    (``kernel``, ``bias``, ``gamma``, ``beta``); no graph is written (:meth:`log_graph` returns
    ``False``). During ``model.fit`` use :class:`VisualizationCallback`.

    Example:
        >>> import tempfile
        >>> import numpy as np
        >>> import keras
        >>> from visualization.keras.tensorboard import VisualizationLogger
        >>> L = keras.layers
        >>> net = keras.Sequential([keras.Input((16, 16, 3)), L.Conv2D(4, 3, name="conv"), L.ReLU(name="relu"),
        ...                         L.GlobalAveragePooling2D(name="gap"), L.Dense(2, name="fc")])
        >>> probes = np.random.default_rng(0).random((2, 16, 16, 3), dtype=np.float32)
        >>> with VisualizationLogger(net, tempfile.mkdtemp(), probes, feature_layers=["conv"]) as board:
        ...     tags = board.log_epoch(0, scalars={"loss": 0.7})      # then after each epoch: log_epoch(epoch, ...)
        >>> for tag in sorted(tags):
        ...     print(tag)
        activations/conv
        activations/relu
        dead_relu/relu
        feature_maps/conv/probe_0
        feature_maps/conv/probe_1
        filters/conv
        gradcam/probe_0
        gradcam/probe_1
        loss
        structure
        weights/conv.bias
        weights/conv.kernel
        weights/fc.bias
        weights/fc.kernel
"""


def _keras_doc(doc: str | None) -> str:
    """The core's docstring in Keras terms: its PyTorch example replaced by :data:`_KERAS_NOTE`'s."""
    text = (for_framework(doc, "keras") or "").split("\n    Example:")[0].rstrip()
    for old, new in (
        ("(``torch.nn.Module`` / ``paddle.nn.Layer``)", "(a ``keras.Model``)"),
        ("fixed images ``(N, C, H, W)``", "fixed channels-last images ``(N, H, W, C)``"),
    ):
        text = text.replace(old, new)
    return text + "\n" + _KERAS_NOTE


class VisualizationLogger(_core.VisualizationLogger):
    __doc__ = _keras_doc(_core.VisualizationLogger.__doc__)
    backend = BACKEND
    facts = FACTS
    gradcam_class = GradCAM


class VisualizationCallback(keras.callbacks.Callback):
    """A ``keras.callbacks.Callback`` that runs :meth:`VisualizationLogger.log_epoch` at the end of epochs.

    ``model.fit(x, y, callbacks=[VisualizationCallback("runs/exp1", probe_images)])`` writes, at the
    end of every ``every``-th epoch (and of the last one), everything :class:`VisualizationLogger`
    writes, with the epoch's ``logs`` (``loss``, ``accuracy``, ``val_loss``, ...) as scalars at step
    ``epoch``. The logger is made when training begins (``fit`` gives the model) and closed when it
    ends; :attr:`logger` is it.

    Args:
        log_dir: the run's folder, as for :class:`VisualizationLogger`.
        probe_images: channels-last probe images ``(N, H, W, C)``, normalized like the training data.
        every: log every ``every`` epochs (epochs ``every - 1``, ``2 * every - 1``, ...) and the last epoch.
        **options: passed to :class:`VisualizationLogger` (``feature_layers``, ``cam_layer``,
            ``class_names``, ``writer``, ...); they are checked when training begins.

    Attributes:
        logger: the :class:`VisualizationLogger` while ``fit`` runs (``None`` before and after).
        logged_epochs: the epochs logged so far.
        last_tags: the tags written at the last logged epoch.
    """

    def __init__(self, log_dir: str | Path, probe_images: Any, *, every: int = 1, **options: Any) -> None:
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int (log every n-th epoch); got {every!r}.")
        if probe_images is None:
            raise ValueError(
                "VisualizationCallback needs probe_images: a few channels-last images (N, H, W, C), "
                "normalized like the training data, whose feature maps and Grad-CAM are logged."
            )
        self.log_dir = Path(log_dir)
        self.probe_images = probe_images
        self.every = every
        self.options = options
        self.logger: VisualizationLogger | None = None
        self.logged_epochs: list[int] = []
        self.last_tags: list[str] = []
        self._epochs: int | None = None

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.logger is None:
            self.logger = VisualizationLogger(self.model, self.log_dir, self.probe_images, **self.options)
        self._epochs = self.params.get("epochs") if isinstance(self.params, dict) else None

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        last = self._epochs is not None and epoch == self._epochs - 1
        if self.logger is None or not ((epoch + 1) % self.every == 0 or last):
            return
        scalars = {k: float(v) for k, v in (logs or {}).items() if _is_number(v)}
        self.last_tags = self.logger.log_epoch(epoch, scalars=scalars)
        self.logged_epochs.append(epoch)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.logger is not None:
            self.logger.close()
            self.logger = None


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True
