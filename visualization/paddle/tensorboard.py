"""Watch a PaddlePaddle model train in TensorBoard or VisualDL: ``VisualizationLogger`` (needs ``pip install tensorboardX tensorboard`` or ``visualdl``)."""

from __future__ import annotations

from ..core import training_log as _core
from ..core.docs import for_framework
from ._backend import BACKEND
from ._structure import FACTS
from .cam_visualizer import GradCAM

__all__ = ["VisualizationLogger"]


class VisualizationLogger(_core.VisualizationLogger):
    __doc__ = for_framework(_core.VisualizationLogger.__doc__, "paddle")
    backend = BACKEND
    facts = FACTS
    gradcam_class = GradCAM
