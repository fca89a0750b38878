"""Quick start (PyTorch): every seed call on a real photo, figures saved as PNG/HTML.

The network is the tutorial's CatDogCNN with *random* weights (seeded): the pictures show what
each call draws, not what a trained network decides. ``cnnvis demo`` uses a pretrained network.

Run: ``python examples/quickstart_pytorch.py --out out/quickstart``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import torch
from PIL import Image

from visualization.pytorch.cam_visualizer import GradCAM, compare_cam_methods
from visualization.pytorch.layer_visualizer import CNNLayerVisualizer
from visualization.pytorch.models import CatDogCNN

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def load_photo(size: int) -> Image.Image:
    """Chelsea the cat, a CC0 photo bundled with scikit-image, centre-cropped to a square."""
    from skimage import data

    img = Image.fromarray(data.chelsea())
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    return img.crop((left, top, left + side, top + side)).resize((size, size), Image.BILINEAR)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("out/quickstart"), help="folder for the figures")
    ap.add_argument("--image-size", type=int, default=224, help="input size (multiple of 8)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    model = CatDogCNN(num_classes=2, image_size=args.image_size).eval()
    photo = load_photo(args.image_size)
    x = torch.from_numpy(((np.asarray(photo, np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)).unsqueeze(0)

    v = CNNLayerVisualizer(model)
    figures = {
        "filters_conv1.png": v.visualize_conv_filters("conv1", max_filters=16),
        "feature_maps_conv1.png": v.visualize_feature_maps(x, "conv1", max_maps=16),
        "feature_maps_conv3.png": v.visualize_feature_maps(x, "conv3", max_maps=16, order="activation"),
        "gradients_conv2.png": v.visualize_gradients(x, 0, "conv2"),
        "gradcam_conv3.png": GradCAM(model, model.conv3).visualize_cam(
            x, target_class=0, original_image=photo, class_names=["cat", "dog"]
        ),
        "compare_cams_conv3.png": compare_cam_methods(model, model.conv3, x, photo, class_names=["cat", "dog"]),
    }
    for name, fig in figures.items():
        fig.savefig(args.out / name, dpi=90)
    v.visualize_feature_maps_interactive(x, "conv2").write_html(
        args.out / "feature_maps_conv2.html", include_plotlyjs=True
    )
    for p in sorted(args.out.iterdir()):
        print(p)


if __name__ == "__main__":
    main()
