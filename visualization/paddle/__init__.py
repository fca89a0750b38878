"""PaddlePaddle side of the toolkit: ``layer_visualizer``, ``cam_visualizer`` and ``models``.

Importing this package loads paddle (and never torch).
"""
