"""cnn-visualization: see inside convolutional networks, with one API for PyTorch and PaddlePaddle.

Importing this package loads no deep-learning framework. Pick one explicitly::

    from visualization.pytorch.cam_visualizer import GradCAM     # loads torch
    from visualization.paddle.cam_visualizer import GradCAM      # loads paddle
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
