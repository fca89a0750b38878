"""Write the tutorial notebooks in ``notebooks/`` from the Python source below.

The notebooks are generated, not edited by hand: change a cell here and run

    python scripts/make_notebooks.py             # rewrite notebooks/*.ipynb (cells only, no outputs)
    python scripts/make_notebooks.py --execute   # run them and keep their figures, for the repository page
    python scripts/make_notebooks.py --check     # exit 1 if a notebook's cells differ from this source

Cells have fixed ids, so running the script twice gives identical files and a diff shows only real
changes. ``--execute`` (a few minutes) stores the outputs a student should see when browsing the
repository: text, and figures as small palette PNGs (60 dpi, at most 720 px wide); interactive plotly
outputs become a one-line note. ``tests/test_notebooks.py`` executes every notebook from its cells
alone (committed outputs are removed first, never rewritten) and checks that the committed cells match
this script and that the committed outputs stay small.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import textwrap
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"


def md(text: str) -> tuple[str, str]:
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text: str) -> tuple[str, str]:
    return ("code", textwrap.dedent(text).strip("\n"))


# --------------------------------------------------------------------------------------------- 01
OVERVIEW = [
    md(
        """
        # 01 概览：预训练网络在"看"哪里？

        这一组笔记本对应教程的各章，用同一个工具包 `visualization` 把卷积神经网络（CNN）内部"打开来看"：

        | 笔记本 | 内容 |
        |---|---|
        | **01 概览**（本篇） | 加载预训练模型，预测一张照片，画出第一张 Grad-CAM |
        | 02 卷积层 | 手写卷积、输出尺寸公式、预训练网络的卷积核 |
        | 03 特征图分析 | 不同深度的特征图、交互式与 3D 视图、"死"通道、训练过程中的特征图动画 |
        | 04 CAM 技术 | Grad-CAM、Grad-CAM++、Score-CAM 的公式与对比，一个可以手算验证的小网络 |
        | 05 框架对比 | 同一份权重在 PyTorch 与 PaddlePaddle 中的数值、权重转换、速度与 API 差异 |
        | 07 显著图与激活最大化 | 梯度、SmoothGrad、积分梯度、遮挡、Guided Backprop；健全性检查；TV 正则的激活最大化 |

        全部在 CPU 上运行，不需要联网：预训练权重随 pip 包一起安装，示例照片来自 scikit-image 自带的 CC0 图片。
        图中的文字使用英文（避免缺少中文字体时出现方框），说明文字使用中文。
        """
    ),
    code(
        """
        import matplotlib.pyplot as plt
        import torch
        from skimage import data

        from visualization.models import CAT_CLASSES, available_models, imagenet_class_names, load_model, preprocess
        from visualization.pytorch.cam_visualizer import GradCAM
        from visualization.pytorch.layer_visualizer import CNNLayerVisualizer

        print("可用模型:", available_models())
        """
    ),
    md(
        """
        ## 1. 加载预训练的 EfficientNet-Lite0

        `load_model` 按名字构建模型并载入 ImageNet 预训练权重（约 470 万个参数，1000 个类别）。
        返回的就是普通的 `torch.nn.Module`，并且已经处于 `eval()` 模式。
        把 `framework="torch"` 换成 `framework="paddle"` 就得到同一份权重的 PaddlePaddle 模型（见 05）。
        """
    ),
    code(
        """
        model = load_model("efficientnet-lite0", framework="torch")
        n_params = sum(p.numel() for p in model.parameters())
        print(f"{type(model).__name__}: {n_params / 1e6:.2f} M 参数, training = {model.training}")
        """
    ),
    md(
        """
        ## 2. 准备输入图片

        `skimage.data.chelsea()` 是一张猫的照片（CC0）。`preprocess` 做的正是这份权重训练时的预处理：
        短边缩放到 256、中心裁剪 224×224、每个通道做 `(像素 - 127) / 128`，
        得到通道在前（CHW）的 float32 数组，同时返回裁剪后的 PIL 图片，方便之后和热力图叠加显示。
        """
    ),
    code(
        """
        photo = data.chelsea()
        x, crop = preprocess(photo)
        print("原图:", photo.shape, photo.dtype)
        print("网络输入:", x.shape, x.dtype, f"取值范围 [{x.min():.2f}, {x.max():.2f}]")

        input_tensor = torch.from_numpy(x)[None]  # 增加 batch 维度 -> (1, 3, 224, 224)

        fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained")
        axes[0].imshow(photo)
        axes[0].set_title(f"original {photo.shape[1]}x{photo.shape[0]}")
        axes[1].imshow(crop)
        axes[1].set_title("network input (224x224 crop)")
        for ax in axes:
            ax.axis("off")
        plt.show()
        """
    ),
    md(
        """
        ## 3. 预测：Top-5 类别

        模型输出的是 1000 个类别的 logits（softmax 之前的分数）。`imagenet_class_names()` 给出类别名称，
        `CAT_CLASSES`（281–285）是 ImageNet 里的五个家猫类别。
        """
    ),
    code(
        """
        names = imagenet_class_names()
        with torch.no_grad():
            logits = model(input_tensor)
        probs = torch.softmax(logits, dim=1)[0]
        top5 = torch.topk(probs, 5)

        for p, i in zip(top5.values.tolist(), top5.indices.tolist()):
            mark = "  <- 猫" if i in CAT_CLASSES else ""
            print(f"{i:4d}  {names[i]:<16s} {p:6.3f}{mark}")

        pred = int(top5.indices[0])
        cat_prob = float(probs[list(CAT_CLASSES)].sum())
        print(f"\\n预测类别: {pred} ({names[pred]}); 五个猫类别的概率之和: {cat_prob:.3f}")
        assert pred in CAT_CLASSES
        """
    ),
    md(
        """
        网络把概率分给了几种相近的猫（tiger cat、Egyptian cat、tabby……）：细粒度的品种很难分，
        但"这是一只猫"这件事它非常确定。

        ## 4. 网络由哪些层组成？

        可视化工具用**带点的层名**来指定层，例如 `'_blocks.15'` 或 `'_blocks.3._depthwise_conv'`。
        `CNNLayerVisualizer.layer_names()` 列出所有子层；下面只看前两级。
        """
    ),
    code(
        """
        v = CNNLayerVisualizer(model)
        all_layers = v.layer_names()
        print(len(all_layers), "个子层。前两级:")
        print([name for name in all_layers if name.count(".") <= 1])

        for layer in ["_act0", "_blocks.2", "_blocks.4", "_blocks.10", "_blocks.15", "_act1"]:
            print(f"{layer:<11s} 输出形状 {v.get_feature_maps(input_tensor, layer).shape}")
        """
    ),
    md(
        """
        越往深处，特征图的空间尺寸越小（112 → 56 → 28 → 14 → 7），通道数越多：
        网络逐步把"哪里有什么像素"变成"哪里有什么概念"。

        ## 5. 第一张 Grad-CAM

        Grad-CAM 回答："对于类别 *c*，图像的哪些区域最重要？"
        它取某个卷积层的输出 $A$（每个通道是一张特征图），用类别分数 $S_c$ 对 $A$ 的梯度在空间上的平均值作为通道权重，
        再对特征图加权求和：

        $$w_k = \\frac{1}{hw}\\sum_{i,j}\\frac{\\partial S_c}{\\partial A_k(i,j)},\\qquad L = \\mathrm{ReLU}\\Big(\\sum_k w_k A_k\\Big)$$

        这里选最后一个 block `'_blocks.15'`（320 个通道，7×7），它兼顾语义与空间位置。
        `generate_cam` 返回与输入同样大小、归一化到 [0, 1] 的热力图；`visualize_cam` 返回一张 matplotlib 图。
        """
    ),
    code(
        """
        cam = GradCAM(model, "_blocks.15")
        heatmap = cam.generate_cam(input_tensor, target_class=pred)
        print("热力图:", heatmap.shape, heatmap.dtype, f"[{heatmap.min():.1f}, {heatmap.max():.1f}]")

        fig = cam.visualize_cam(input_tensor, target_class=pred, original_image=crop, class_names=names)
        plt.show()
        """
    ),
    md(
        """
        这张裁剪图几乎全是猫脸，所以热力图回答的是"脸上哪些部分最重要"：最亮的是左眼下方和两眼之间的毛纹，
        图像边缘和右眼一带的分数最低。7×7 的目标层决定了热力图是块状的（04 会详细讨论选层）。

        > 所有 `visualize_*` 方法都**返回**图对象而不显示它；在笔记本里用 `plt.show()`（或让单元格显示返回值）。
        > 模型本身不会被改动：没有残留的 hook，参数和 train/eval 状态保持原样。

        ## 6. 同样的事，用 Keras

        `visualization.keras` 是 Keras 3（TensorFlow 后端）版：类名和参数完全相同，只是输入按 Keras 的习惯**通道在后**，
        `(N, H, W, C)`。返回的热力图仍是 `(H, W)` / `(N, H, W)`，所以可以直接和上面 PyTorch 的结果相减。
        `load_model(..., framework="keras")` 从同一份随包安装的权重构建 Keras 版的 EfficientNet-Lite0，层名相同。
        （安装：`pip install -e ".[keras]"`。同一个进程里还要用 PaddlePaddle 时，必须先 `import paddle` 再导入 TensorFlow。）
        """
    ),
    code(
        """
        from visualization.keras.cam_visualizer import GradCAM as KerasGradCAM

        keras_model = load_model("efficientnet-lite0", framework="keras")
        keras_input = x.transpose(1, 2, 0)[None]  # (3, 224, 224) -> (1, 224, 224, 3)
        keras_heatmap = KerasGradCAM(keras_model, "_blocks.15").generate_cam(keras_input, target_class=pred)
        print("Keras 热力图:", keras_heatmap.shape, f"与 PyTorch 的最大差 {abs(keras_heatmap - heatmap).max():.1e}")
        assert abs(keras_heatmap - heatmap).max() < 1e-5
        """
    ),
    md(
        """
        ## 接下来

        - **02-convolution-layers.ipynb**：卷积到底在算什么？手写一个卷积，再看预训练网络学到的卷积核。
        - **03-feature-map-analysis.ipynb**：特征图在不同深度长什么样，以及它们在训练中如何变化。
        - **04-cam-techniques.ipynb**：CAM 家族（Grad-CAM、Grad-CAM++、XGrad-CAM、LayerCAM、HiResCAM、Eigen-CAM、Smooth Grad-CAM++、Score-CAM、Ablation-CAM、CAM）的原理、差异与选项，以及"解释猫"和"解释狗"的对比。
        - **05-comparison-guide.ipynb**：同样的代码在 PaddlePaddle 和 Keras 中运行，数值差异有多小。
        """
    ),
]

# --------------------------------------------------------------------------------------------- 02
CONVOLUTION = [
    md(
        """
        # 02 卷积层：从手写卷积到预训练网络的卷积核

        本篇先用 numpy 亲手实现一个 3×3 卷积，并确认它与 PyTorch 的 `conv2d` 结果完全一致；
        然后用输出尺寸公式核对真实网络每一层的形状；最后看看预训练网络第一层和更深层学到的卷积核。
        """
    ),
    code(
        """
        import math

        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        import torch.nn.functional as F
        from PIL import Image
        from skimage import data

        from visualization.models import load_model, preprocess
        from visualization.pytorch.layer_visualizer import CNNLayerVisualizer
        from visualization.pytorch.models import CatDogCNN

        torch.manual_seed(0)  # CatDogCNN 的随机初始化可复现
        print("torch", torch.__version__)
        """
    ),
    md(
        """
        ## 1. 手写一个卷积

        深度学习框架里的"卷积"其实是**互相关**：卷积核不翻转，直接在输入上滑动，逐元素相乘再求和。
        对单通道输入 $x$、大小为 $k\\times k$ 的卷积核 $K$、步长 $s$、四周补零 $p$ 圈：

        $$y[i, j] = \\sum_{u=0}^{k-1}\\sum_{v=0}^{k-1} K[u, v]\\; x_{\\text{pad}}[i\\,s + u,\\; j\\,s + v]$$

        下面的实现故意写成两重循环，和公式一一对应。输入是缩小后的灰度猫图。
        """
    ),
    code(
        """
        def conv2d_numpy(image, kernel, stride=1, padding=0):
            \"\"\"单通道二维卷积（互相关），与公式逐项对应。\"\"\"
            if padding:
                image = np.pad(image, padding)  # 四周补 padding 圈 0
            kh, kw = kernel.shape
            out_h = (image.shape[0] - kh) // stride + 1
            out_w = (image.shape[1] - kw) // stride + 1
            out = np.zeros((out_h, out_w), dtype=np.float32)
            for i in range(out_h):
                for j in range(out_w):
                    patch = image[i * stride : i * stride + kh, j * stride : j * stride + kw]
                    out[i, j] = np.sum(patch * kernel)
            return out


        gray = np.asarray(Image.fromarray(data.chelsea()).convert("L").resize((120, 80)), dtype=np.float32) / 255
        kernels = {
            "sobel x (vertical edges)": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float32),
            "sobel y (horizontal edges)": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float32),
            "box blur": np.full((3, 3), 1 / 9, np.float32),
            "sharpen": np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32),
        }
        print("输入:", gray.shape)
        """
    ),
    md(
        """
        用同一个卷积核调用 `torch.nn.functional.conv2d`（输入形状 `(N, C_in, H, W)`，卷积核形状 `(C_out, C_in, k, k)`），
        对几种步长和补零组合逐一比较：
        """
    ),
    code(
        """
        results = {}
        for name, k in kernels.items():
            for stride, padding in [(1, 0), (1, 1), (2, 1)]:
                mine = conv2d_numpy(gray, k, stride=stride, padding=padding)
                ref = F.conv2d(
                    torch.from_numpy(gray)[None, None], torch.from_numpy(k)[None, None], stride=stride, padding=padding
                )[0, 0].numpy()
                assert mine.shape == ref.shape, (mine.shape, ref.shape)
                np.testing.assert_allclose(mine, ref, atol=1e-5)
                if (stride, padding) == (1, 1):
                    results[name] = mine
            print(f"{name:<28s} 与 torch 一致, 最大差 {np.abs(mine - ref).max():.1e}, stride=2 时输出 {mine.shape}")
        """
    ),
    code(
        """
        fig, axes = plt.subplots(1, 5, figsize=(15, 2.8), layout="constrained")
        axes[0].imshow(gray, cmap="gray")
        axes[0].set_title("input")
        for ax, (name, out) in zip(axes[1:], results.items()):
            if abs(kernels[name].sum()) < 1e-6:  # 边缘检测核: 正负对称, 用以 0 为中心的红蓝色
                lim = np.abs(out).max()
                ax.imshow(out, cmap="RdBu_r", vmin=-lim, vmax=lim)
            else:
                ax.imshow(out, cmap="gray")
            ax.set_title(name, fontsize=9)
        for ax in axes:
            ax.axis("off")
        plt.show()
        """
    ),
    md(
        """
        Sobel 核对亮度变化敏感（红蓝分别表示由暗到亮和由亮到暗），模糊核求局部平均，锐化核放大与周围的差异。
        CNN 的第一层学到的卷积核，很多正是这类"边缘 / 颜色"检测器——只不过它们是从数据中学出来的。

        ## 2. 输出尺寸公式

        输入边长 $H$、卷积核 $k$、步长 $s$、两侧共补零 $P$（对称补零时 $P = 2p$）：

        $$H_{\\text{out}} = \\left\\lfloor \\frac{H + P - k}{s} \\right\\rfloor + 1$$

        最大池化也是同一个公式（没有参数的"卷积"）。先在教程的 `CatDogCNN` 上核对：
        `3×3` 卷积、`padding=1`、步长 1 保持尺寸不变，每个 `2×2` 池化把尺寸减半，所以 `fc1` 的输入是 `128 × (H/8)²`。
        `get_feature_maps` 返回任意一层的真实输出。
        """
    ),
    code(
        """
        def out_size(h, k, s=1, total_pad=0):
            return (h + total_pad - k) // s + 1


        size = 64
        cnn = CatDogCNN(num_classes=2, image_size=size).eval()
        cnn_viz = CNNLayerVisualizer(cnn)
        x_small = torch.rand(1, 3, size, size)

        h = size
        for name in ["conv1", "conv2", "conv3"]:
            conv = getattr(cnn, name)
            h = out_size(h, conv.kernel_size[0], conv.stride[0], 2 * conv.padding[0])
            real = cnn_viz.get_feature_maps(x_small, name).shape
            print(f"{name}: 公式 {conv.out_channels}x{h}x{h}, 实际 {real[1:]}")
            assert real[1:] == (conv.out_channels, h, h)
            h = out_size(h, 2, 2)  # 后面的 2x2 池化
        print(f"池化后展平: 128*{h}*{h} = {128 * h * h}, fc1.in_features = {cnn.fc1.in_features}")
        assert cnn.fc1.in_features == 128 * h * h
        """
    ),
    md(
        """
        EfficientNet-Lite0 沿用了 TensorFlow 的 **SAME** 补零：步长为 $s$ 时输出边长是 $\\lceil H/s \\rceil$，
        需要的总补零量 $P = \\max\\big((\\lceil H/s\\rceil - 1)s + k - H,\\ 0\\big)$ 可能是奇数，于是右/下侧多补一行。
        下面用 PyTorch 的 forward hook 记录网络里**每一个**卷积层的输入和输出边长，再用公式逐一核对。
        """
    ),
    code(
        """
        model = load_model("efficientnet-lite0")
        x, crop = preprocess(data.chelsea())
        input_tensor = torch.from_numpy(x)[None]

        records = []
        handles = [
            module.register_forward_hook(
                lambda mod, inputs, output, name=name: records.append((name, mod, inputs[0].shape[-1], output.shape[-1]))
            )
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Conv2d)
        ]
        try:
            with torch.no_grad():
                model(input_tensor)
        finally:
            for handle in handles:
                handle.remove()  # hook 用完一定要移除

        for name, conv, h_in, h_out in records:
            k, s = conv.kernel_size[0], conv.stride[0]
            total_pad = 2 * conv.padding[0] if s == 1 else max((math.ceil(h_in / s) - 1) * s + k - h_in, 0)
            assert out_size(h_in, k, s, total_pad) == h_out, name
            if s > 1:
                print(f"{name:<26s} k={k} s={s} P={total_pad}: {h_in} -> {h_out}")
        print(f"全部 {len(records)} 个卷积层的输出尺寸都与公式一致")
        """
    ),
    md(
        """
        ## 3. 预训练网络第一层的卷积核

        第一层 `_conv_stem` 有 32 个 3×3×3 的卷积核。因为输入正好是 RGB 三个通道，
        每个卷积核可以直接画成一张彩色小图（`mode="rgb"`，每个核单独做 min-max 缩放）。
        """
    ),
    code(
        """
        v = CNNLayerVisualizer(model)
        print("卷积核形状 (C_out, C_in, kh, kw):", v.get_conv_filters("_conv_stem").shape)
        fig = v.visualize_conv_filters("_conv_stem", max_filters=32, mode="rgb")
        plt.show()
        """
    ),
    md(
        """
        能看到明暗对比的边缘检测器（一侧亮、一侧暗）以及对某种颜色敏感的核。
        `mode="channels"` 把每个卷积核拆成 R、G、B 三个通道分别显示，颜色以 0 为中心（红正蓝负）：
        """
    ),
    code(
        """
        fig = v.visualize_conv_filters("_conv_stem", max_filters=8, mode="channels")
        plt.show()
        """
    ),
    md(
        """
        ## 4. 更深的层

        EfficientNet 的 block 由三种卷积组成：1×1 的扩展卷积（`_expand_conv`）、逐通道的 k×k 深度卷积
        （`_depthwise_conv`，`groups` 等于通道数，**每个核只看一个输入通道**）和 1×1 的投影卷积（`_project_conv`）。
        """
    ),
    code(
        """
        for name in ["_blocks.3._expand_conv", "_blocks.3._depthwise_conv", "_blocks.3._project_conv"]:
            print(f"{name:<26s} {v.get_conv_filters(name).shape}")
        """
    ),
    md(
        """
        输入通道多于 3 时不能画成彩色图。`mode="mean"` 显示对输入通道求平均后的核；
        对深度卷积来说每个核只有一个输入通道，平均值就是核本身。下面是 `_blocks.3` 的 5×5 深度卷积核：
        """
    ),
    code(
        """
        fig = v.visualize_conv_filters("_blocks.3._depthwise_conv", max_filters=16, mode="mean")
        plt.show()
        """
    ),
    md(
        """
        `mode="channels"` 对同一层只有一列（每个核一个输入通道），这正是深度卷积的特点：
        """
    ),
    code(
        """
        fig = v.visualize_conv_filters("_blocks.3._depthwise_conv", max_filters=4, mode="channels")
        plt.show()
        """
    ),
    md(
        """
        作为对照，看一个**未训练**的普通卷积：`CatDogCNN` 的 `conv2`（64 个核，每个有 32 个输入通道）。
        刚初始化的权重是随机噪声，看不出任何结构——预训练卷积核里的规律完全来自训练数据。
        """
    ),
    code(
        """
        fig = cnn_viz.visualize_conv_filters("conv2", max_filters=6, mode="channels", max_channels=8)
        plt.show()
        fig = cnn_viz.visualize_conv_filters("conv2", max_filters=16, mode="mean")
        plt.show()
        """
    ),
]

# --------------------------------------------------------------------------------------------- 03
FEATURE_MAPS = [
    md(
        """
        # 03 特征图分析

        卷积层的输出是一组**特征图**：每个通道一张，表示某个"模式"在图像各处出现的强弱。
        本篇依次看：不同深度的特征图、交互式浏览全部通道、3D 曲面视图、从不激活的"死"通道，
        以及一个小网络在训练过程中特征图如何变化（保存成 GIF 动画）。
        """
    ),
    code(
        """
        import tempfile
        import time
        from pathlib import Path

        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        from IPython.display import Image as ShowImage
        from IPython.display import display
        from PIL import Image
        from skimage import data

        from visualization.core.plotting.evolution import animate_feature_maps
        from visualization.models import load_model, preprocess
        from visualization.pytorch.layer_visualizer import CNNLayerVisualizer
        from visualization.pytorch.models import CatDogCNN

        torch.manual_seed(0)
        model = load_model("efficientnet-lite0")
        x, crop = preprocess(data.chelsea())
        input_tensor = torch.from_numpy(x)[None]
        v = CNNLayerVisualizer(model)
        """
    ),
    md(
        """
        ## 1. 三个深度的特征图

        `visualize_feature_maps` 画出一层输出的若干通道；`order="activation"` 让平均激活最大的通道排在前面，
        默认所有小图共用一个色标，便于相互比较。依次看浅层 `_blocks.2`、中层 `_blocks.4`、深层 `_blocks.10`：
        """
    ),
    code(
        """
        for layer in ["_blocks.2", "_blocks.4", "_blocks.10"]:
            maps = v.get_feature_maps(input_tensor, layer)
            print(f"{layer}: {maps.shape[1]} 个通道, 每张 {maps.shape[2]}x{maps.shape[3]}")
            fig = v.visualize_feature_maps(input_tensor, layer, max_maps=16, order="activation")
            plt.show()
        """
    ),
    md(
        """
        - **浅层**（56×56）：还能认出猫的眼睛、鼻梁和胡须，很多通道像是边缘或纹理的响应。
        - **中层**（28×28）：图像变粗糙，但有的通道仍然清楚地勾出眼睛的圆环（例如通道 16）。
        - **深层**（14×14）：几乎看不出原图，不少通道只在少数位置有强响应，例如通道 51 和 7 在两只眼睛的位置各有一个亮斑。

        注意 block 的输出是"线性瓶颈"（投影卷积之后没有激活函数），所以数值可以为负。

        ## 2. 交互式浏览所有通道

        静态图只能放下十几个通道。`visualize_feature_maps_interactive` 返回一个 plotly 图：
        拖动滑块切换通道，鼠标悬停查看坐标和数值，按钮在"共享色标"和"每通道单独色标"之间切换。
        """
    ),
    code(
        """
        fig = v.visualize_feature_maps_interactive(input_tensor, "_blocks.4")
        fig.show()
        """
    ),
    md(
        """
        ## 3. 3D 曲面

        把一张特征图画成曲面，高度就是激活值，峰的位置和尖锐程度一目了然。
        把 `_blocks.10` 的通道 51 画出来，两个峰正对应两只眼睛（`channel=None` 则自动选平均激活最大的通道）：
        """
    ),
    code(
        """
        fig = v.visualize_feature_map_surface(input_tensor, "_blocks.10", channel=51)
        plt.show()
        """
    ),
    md("`interactive=True` 返回可以旋转、缩放、悬停读数的 plotly 版本："),
    code(
        """
        fig = v.visualize_feature_map_surface(input_tensor, "_blocks.10", channel=51, interactive=True)
        fig.show()
        """
    ),
    md(
        """
        ## 4. "死"通道：从不变化的特征图

        EfficientNet-Lite 使用 ReLU6 激活：$\\min(\\max(x, 0), 6)$。如果一个通道在整张图上都被截成 0
        （或都饱和在 6），它的特征图就是常数，不携带任何位置信息。
        下面对三张不同的照片（猫、咖啡、宇航员）统计几个激活层里的常数通道：
        """
    ),
    code(
        """
        photos = {"chelsea": data.chelsea(), "coffee": data.coffee(), "astronaut": data.astronaut()}
        batch = torch.from_numpy(np.stack([preprocess(img)[0] for img in photos.values()]))  # (3, 3, 224, 224)

        print(f"{'layer':<17s}{'channels':>9s}  constant per image (chelsea, coffee, astronaut)  all zero  in all 3")
        for layer in ["_act0", "_blocks.5._act1", "_blocks.10._act1", "_blocks.15._act1", "_act1"]:
            maps = v.get_feature_maps(batch, layer)  # (3, C, h, w)
            constant = maps.max(axis=(2, 3)) == maps.min(axis=(2, 3))
            zero = np.abs(maps).max(axis=(2, 3)) == 0
            print(
                f"{layer:<17s}{maps.shape[1]:>9d}  {constant.sum(axis=1).tolist()!s:<47s}"
                f"  {zero.sum(axis=1).tolist()!s:<8s}  {int(constant.all(axis=0).sum())}"
            )
        """
    ),
    md(
        """
        浅层几乎没有死通道；越深，常数通道越多，而且**取决于输入**：一个在猫图上沉默的通道，可能在咖啡图上活跃。
        只有在所有图片上都常数的通道，才可能是真正"死掉"的。深层的常数通道里有一部分是饱和在 6 而不是 0。

        这对 Score-CAM（见 04）很重要：常数通道没有可用的空间信息，工具包会直接跳过它们、省下前向计算。

        ## 5. 训练过程中的特征图演化

        最后用教程里的 `CatDogCNN` 做一个很小的实验：输入缩小到 32×32，用两张自带照片（猫和咖啡）的随机裁剪
        作为两个"类别"，训练 12 步，每一步都记录同一张探针图片在 `conv1` 的 8 个通道，最后用
        `animate_feature_maps` 保存成 GIF。

        > 这只是演示训练中特征图如何变化，不是真正的猫狗分类：几十张图从零训练小网络学不到可靠的分类器。
        """
    ),
    code(
        """
        size = 32
        rng = np.random.default_rng(0)
        sources = [
            np.asarray(Image.fromarray(img).resize((96, 72)), np.float32) / 255 for img in (data.chelsea(), data.coffee())
        ]


        def to_input(images):
            \"\"\"(N, H, W, 3) in [0, 1] -> (N, 3, H, W) float32 tensor, centred.\"\"\"
            return torch.from_numpy(((np.stack(images) - 0.5) / 0.25).transpose(0, 3, 1, 2).astype(np.float32))


        def random_batch(n=16):
            labels = rng.integers(0, 2, n)
            crops = []
            for label in labels:
                img = sources[label]
                top, left = rng.integers(0, img.shape[0] - size), rng.integers(0, img.shape[1] - size)
                crop_ = img[top : top + size, left : left + size]
                crops.append(crop_[:, ::-1] if rng.random() < 0.5 else crop_)  # 随机水平翻转
            return to_input(crops), torch.from_numpy(labels)


        probe = to_input([np.asarray(Image.fromarray(data.chelsea()).resize((size, size)), np.float32) / 255])

        net = CatDogCNN(num_classes=2, image_size=size)
        net_viz = CNNLayerVisualizer(net)
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        loss_fn = torch.nn.CrossEntropyLoss()

        frames, labels = [net_viz.get_feature_maps(probe, "conv1")[0, :8]], ["step 0"]
        start = time.perf_counter()
        net.train()
        for step in range(1, 13):
            inputs, targets = random_batch()
            optimizer.zero_grad()
            loss = loss_fn(net(inputs), targets)
            loss.backward()
            optimizer.step()
            frames.append(net_viz.get_feature_maps(probe, "conv1")[0, :8])  # 不会改变 net 的 train 状态
            labels.append(f"step {step}  loss {loss.item():.3f}")
        print(f"训练 12 步用时 {time.perf_counter() - start:.1f} s, 最后的 loss {loss.item():.3f}")
        print("训练结束后 net.training =", net.training)
        print("每一帧:", frames[0].shape)

        base = np.abs(frames[0]).mean()
        change = [float(np.abs(frame - frames[0]).mean() / base) for frame in frames]
        print("与 step 0 相比的平均相对变化:", [f"{c:.2f}" for c in change[::3]], "(每 3 步)")
        """
    ),
    code(
        """
        out_dir = Path(tempfile.mkdtemp(prefix="cnnvis-notebook-"))
        gif_path = animate_feature_maps(frames, out_dir / "conv1_training.gif", labels=labels, title="conv1", fps=3)
        print(gif_path, f"{gif_path.stat().st_size / 1024:.0f} KiB")
        display(ShowImage(filename=str(gif_path)))
        """
    ),
    md(
        """
        所有帧共用一个色标，所以能看到某些通道的响应逐渐增强、某些逐渐减弱；上面打印的相对变化量化了这一点。
        把 `"conv1"` 换成 `"conv3"`、或者把步数加大，就能看到深层特征图的变化。

        ## 6. Keras：中间模型与 `get_feature_maps`

        Keras 教程读特征图的常见写法，是用原模型的输入和若干层的输出另搭一个模型：
        `keras.Model(model.inputs, [model.get_layer(name).output ...])`，再 `predict`。
        `visualization.keras` 的 `get_feature_maps` 给出同样的数字，区别只在布局：Keras 的张量通道在后 `(N, h, w, C)`，
        工具包返回的数组通道在前 `(N, C, h, w)`，和 PyTorch、Paddle 一致。下面把刚训练好的 `net` 的权重载入 Keras 版的
        `CatDogCNN`（层名相同），三种写法逐层核对（安装：`pip install -e ".[keras]"`）：
        """
    ),
    code(
        """
        import keras

        from visualization.keras.layer_visualizer import CNNLayerVisualizer as KerasLayerVisualizer
        from visualization.keras.models import CatDogCNN as KerasCatDogCNN
        from visualization.keras.models import catdog_weights_from_torch

        kmodel = KerasCatDogCNN(num_classes=2, image_size=size)
        kmodel.set_weights(catdog_weights_from_torch(net.state_dict(), image_size=size))
        probe_nhwc = probe.numpy().transpose(0, 2, 3, 1)  # Keras 的输入通道在后：(1, 32, 32, 3)

        names = ["conv1", "conv2", "conv3"]
        feature_model = keras.Model(kmodel.inputs, [kmodel.get_layer(n).output for n in names])
        keras_maps = feature_model.predict(probe_nhwc, verbose=0)  # 每层一个 (1, h, w, C)
        kviz = KerasLayerVisualizer(kmodel)
        for name, theirs in zip(names, keras_maps):
            ours = kviz.get_feature_maps(probe_nhwc, name)  # (1, C, h, w)
            vs_keras = np.abs(ours - theirs.transpose(0, 3, 1, 2)).max()
            vs_torch = np.abs(ours - net_viz.get_feature_maps(probe, name)).max()
            print(f"{name}: keras.Model {theirs.shape} -> 工具包 {ours.shape}；差 {vs_keras:.1e}，与 PyTorch 差 {vs_torch:.1e}")
            assert vs_keras < 1e-5 and vs_torch < 1e-5
        """
    ),
    code(
        """
        conv1_keras = keras_maps[0][0]  # (32, 32, 32)：通道在最后
        conv1_ours = kviz.get_feature_maps(probe_nhwc, "conv1")[0]  # (32, 32, 32)：通道在最前
        fig, axes = plt.subplots(2, 6, figsize=(9, 3.4), layout="constrained")
        for c in range(6):
            axes[0, c].imshow(conv1_keras[:, :, c], cmap="viridis")
            axes[0, c].set_title(f"keras.Model ch {c}", fontsize=8)
            axes[1, c].imshow(conv1_ours[c], cmap="viridis")
            axes[1, c].set_title(f"get_feature_maps ch {c}", fontsize=8)
        for ax in axes.flat:
            ax.axis("off")
        plt.show()
        """
    ),
    md(
        """
        两行一模一样。中间模型只适用于函数式和 Sequential 模型；工具包在一次调用里临时替换层实例的 `call` 来读输出，
        所以子类化模型也能用（层名写成点分路径），调用结束后模型保持原样。
        """
    ),
]

# --------------------------------------------------------------------------------------------- 04
CAM = [
    md(
        """
        # 04 CAM 技术：从 Grad-CAM 到整个 CAM 家族

        类激活图（Class Activation Map, CAM）把"模型为什么认为这是类别 *c*"画成一张热力图。
        这些方法的流程基本相同，主要是**通道权重** $w_k$ 的算法不同：

        1. 取目标层的输出 $A$（$C$ 个通道，每个 $h\\times w$）；
        2. 为每个通道计算权重 $w_k$；
        3. $L = \\mathrm{ReLU}\\big(\\sum_k w_k A_k\\big)$，双线性上采样到输入尺寸，再归一化到 [0, 1]。

        本篇先逐一介绍 Grad-CAM、Grad-CAM++ 和 Score-CAM，比较它们，对比"解释猫"和"解释狗"，在一个可以手算的小网络上验证 Grad-CAM；
        然后是家族的其他成员（CAM、XGrad-CAM、HiResCAM、LayerCAM、Eigen-CAM、Eigen-Grad-CAM、Smooth Grad-CAM++、Ablation-CAM）、
        所有方法共用的选项，以及把几种方法放在一起的对比。
        """
    ),
    code(
        """
        import time

        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        from skimage import data

        from visualization.core.image import overlay
        from visualization.models import DOG_CLASSES, imagenet_class_names, load_model, preprocess
        from visualization.pytorch.cam_visualizer import (
            CAM,
            AblationCAM,
            EigenCAM,
            EigenGradCAM,
            GradCAM,
            GradCAMPlusPlus,
            HiResCAM,
            LayerCAM,
            ScoreCAM,
            SmoothGradCAMPlusPlus,
            XGradCAM,
            compare_cam_methods,
        )

        torch.manual_seed(0)
        model = load_model("efficientnet-lite0")
        names = imagenet_class_names()
        x, crop = preprocess(data.chelsea())
        input_tensor = torch.from_numpy(x)[None]
        layer = "_blocks.15"  # 最后一个 block: 320 个通道, 7x7

        with torch.no_grad():
            logits = model(input_tensor)[0]
        pred = int(logits.argmax())
        dog = max(DOG_CLASSES, key=lambda c: float(logits[c]))  # 最像的狗类别
        print(f"预测: {pred} {names[pred]}; 最像的狗: {dog} {names[dog]} (logit {logits[dog]:.2f} vs {logits[pred]:.2f})")
        """
    ),
    md(
        """
        ## 1. Grad-CAM

        权重是类别分数（softmax 之前）对特征图梯度的空间平均：

        $$w_k = \\frac{1}{hw}\\sum_{i,j}\\frac{\\partial S_c}{\\partial A_k(i,j)}$$

        梯度只需要从输出反传到目标层，所以 Grad-CAM 只比一次前向计算贵一点。
        目标层可以写成层名（`"_blocks.15"`）、层对象（`model._blocks[15]`），或 `None`（自动选最后一个有空间维度的层）。
        """
    ),
    code(
        """
        gradcam = GradCAM(model, layer)
        fig = gradcam.visualize_cam(input_tensor, target_class=pred, original_image=crop, class_names=names)
        plt.show()
        """
    ),
    md(
        """
        ### `CAMResult`：热力图之外的中间结果

        `compute` 返回一个 `CAMResult`，包含每一步的结果：`raw` 是目标层分辨率上（ReLU 之后、上采样之前）的图，
        `weights` 是每个通道的权重，`targets` 是解释的类别，`outputs` 是模型输出。
        """
    ),
    code(
        """
        res = gradcam.compute(input_tensor, target_class=pred)
        print("method     :", res.method, "| layer:", res.layer_name)
        print("heatmaps   :", res.heatmaps.shape, "(N, H, W), 归一化到 [0, 1]")
        print("raw        :", res.raw.shape, "(N, h, w), 目标层分辨率")
        print("weights    :", res.weights.shape, "(N, C)")
        print("targets    :", res.targets, "| outputs:", res.outputs.shape)

        order = np.argsort(-res.weights[0])
        print("权重最大的 5 个通道:", order[:5].tolist(), [f"{w:.4f}" for w in res.weights[0, order[:5]]])
        print(f"正权重通道 {int((res.weights[0] > 0).sum())} 个, 负权重 {int((res.weights[0] < 0).sum())} 个")

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), layout="constrained")
        im = axes[0].imshow(res.raw[0], cmap="jet")
        axes[0].set_title(f"raw map {res.raw.shape[1]}x{res.raw.shape[2]}")
        fig.colorbar(im, ax=axes[0])
        axes[1].bar(np.arange(res.weights.shape[1]), res.weights[0], width=1.0)
        axes[1].set_title("channel weights")
        axes[1].set_xlabel("channel")
        plt.show()
        """
    ),
    md(
        """
        7×7 的 `raw` 图很粗糙，最终的热力图只是把它平滑地放大。这也是选层时的取舍：
        越深的层语义越强，但分辨率越低。

        ## 2. Grad-CAM++

        Grad-CAM 对所有位置的梯度一视同仁；Grad-CAM++ 用二阶、三阶项给每个位置一个系数 $\\alpha$，
        只累加正梯度，使得图中多个目标、或者目标的多个部分都能得到响应（论文 Eq. 19，$g = \\partial S_c / \\partial A$）：

        $$\\alpha_k(i,j) = \\frac{g_k(i,j)^2}{2 g_k(i,j)^2 + \\sum_{a,b} A_k(a,b)\\, g_k(i,j)^3},\\qquad
        w_k = \\sum_{i,j} \\alpha_k(i,j)\\, \\mathrm{ReLU}\\big(g_k(i,j)\\big)$$
        """
    ),
    code(
        """
        gradcampp = GradCAMPlusPlus(model, layer)
        fig = gradcampp.visualize_cam(input_tensor, target_class=pred, original_image=crop, class_names=names)
        plt.show()
        """
    ),
    md(
        """
        ## 3. Score-CAM

        Score-CAM 完全不用梯度：把每个通道的特征图上采样、归一化成 [0, 1] 的掩码 $M_k$，
        乘到输入图像上再跑一次前向，用目标类别的 softmax 概率作为权重：

        $$w_k = \\mathrm{softmax}\\big(f(x \\odot M_k)\\big)_c$$

        代价是**每个通道一次前向**：`_blocks.15` 有 320 个通道，就是 320 张掩码图（分批计算，常数通道跳过）。
        `compute_many` 可以一次算多个类别而只跑一遍掩码图，这里同时解释预测的猫和最像的狗。
        """
    ),
    code(
        """
        scorecam = ScoreCAM(model, layer, batch_size=64)
        start = time.perf_counter()
        score_pred, score_dog = scorecam.compute_many(input_tensor, [pred, dog])
        print(f"Score-CAM, 两个类别, {score_pred.weights.shape[1]} 个通道: {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        grad_pred, grad_dog = gradcam.compute_many(input_tensor, [pred, dog])
        print(f"Grad-CAM,  两个类别: {time.perf_counter() - start:.2f} s")
        """
    ),
    md(
        """
        ## 4. 解释"猫"与解释"狗"

        同一张图、同一层，只换目标类别。把四张热力图叠加到原图上：
        """
    ),
    code(
        """
        image = np.asarray(crop, dtype=np.float32) / 255
        panels = {
            f"Grad-CAM: {names[pred]}": grad_pred,
            f"Grad-CAM: {names[dog]}": grad_dog,
            f"Score-CAM: {names[pred]}": score_pred,
            f"Score-CAM: {names[dog]}": score_dog,
        }
        fig, axes = plt.subplots(1, 4, figsize=(15, 4), layout="constrained")
        for ax, (title, result) in zip(axes, panels.items()):
            ax.imshow(overlay(image, result.heatmaps[0], alpha=0.5))
            ax.set_title(title, fontsize=10)
            ax.axis("off")
        plt.show()

        for label, a, b in [("Grad-CAM", grad_pred, grad_dog), ("Score-CAM", score_pred, score_dog)]:
            corr = np.corrcoef(a.heatmaps[0].ravel(), b.heatmaps[0].ravel())[0, 1]
            print(f"{label}: 猫与狗热力图的相关系数 {corr:+.2f}")
        """
    ),
    md(
        """
        Grad-CAM 下两个类别的热力图相当相似：在这一层，支持"猫"和支持"狗"的证据有很大一部分来自同一批特征
        （毛、眼睛这类两者共有的东西）。Score-CAM 下差别更大：猫的证据集中在鼻子和嘴周围，狗的证据在别处。
        注意热力图在每张图内部单独归一化：它只说明"相对而言哪里更重要"，不说明模型有多相信这个类别——
        狗的 logit 远低于猫，它的热力图照样会有最亮的区域。

        ## 5. 三种方法放在一起：`compare_cam_methods`

        一次调用画出三种方法的结果。Score-CAM 的代价与通道数成正比，这里换到 `_blocks.10`（112 个通道，14×14）：
        层更浅、分辨率更高，计算也更快。
        """
    ),
    code(
        """
        start = time.perf_counter()
        fig = compare_cam_methods(model, "_blocks.10", input_tensor, crop, target_class=pred, class_names=names)
        print(f"compare_cam_methods: {time.perf_counter() - start:.1f} s")
        plt.show()
        """
    ),
    md(
        """
        和上面 `_blocks.15` 的结果相比，`_blocks.10` 上的三张图都更零散：这一层的通道表达的是更局部的纹理，
        空间分辨率高了，语义却弱了。选层就是在"在哪里"和"是什么"之间取舍，通常从最后几个 block 开始尝试。

        - **Grad-CAM**：快，结果通常集中在最有判别力的区域。
        - **Grad-CAM++**：只累加正梯度并按位置加权；图中有多个目标、或目标有多个部分时，通常覆盖得更完整。
        - **Score-CAM**：不依赖梯度（不受梯度饱和、噪声影响），但需要 $C$ 次前向，慢得多。

        没有"标准答案"：不同方法给出不同的视角，结论最好在几种方法上都成立。

        ## 6. 验证：Grad-CAM 等于经典 CAM

        最早的 CAM（Zhou et al., 2016）只适用于"卷积 → 全局平均池化 → 全连接"的网络：
        类别 $c$ 的图就是 $\\sum_k W_{c,k} A_k$，$W$ 是全连接层的权重。对这种网络，
        $S_c = \\sum_k W_{c,k} \\frac{1}{hw}\\sum_{i,j} A_k(i,j) + b_c$，
        所以 $\\partial S_c / \\partial A_k(i,j) = W_{c,k}/(hw)$，Grad-CAM 的权重正好是 $W_{c,k}/(hw)$：
        两者只差一个正的常数因子，归一化之后完全相同。下面在一个随机初始化的小网络上验证：
        """
    ),
    code(
        """
        toy = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.ReLU(),  # 目标层: 它的输出 A 直接进入全局平均池化
            torch.nn.AdaptiveAvgPool2d(1),
            torch.nn.Flatten(),
            torch.nn.Linear(8, 3),
        ).eval()
        x_toy = torch.randn(1, 3, 16, 16)
        target = 2

        toy_res = GradCAM(toy, "1").compute(x_toy, target_class=target)

        with torch.no_grad():
            A = toy[1](toy[0](x_toy))[0].numpy()  # (8, 16, 16)
        W = toy[4].weight.detach().numpy()  # (3, 8)
        classic = np.maximum(np.einsum("k,khw->hw", W[target], A), 0)  # 经典 CAM
        h, w = A.shape[1:]

        np.testing.assert_allclose(toy_res.weights[0], W[target] / (h * w), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(toy_res.raw[0], classic / (h * w), rtol=1e-4, atol=1e-6)
        classic_norm = (classic - classic.min()) / (classic.max() - classic.min())
        np.testing.assert_allclose(toy_res.heatmaps[0], classic_norm, atol=1e-5)
        max_diff = np.abs(toy_res.heatmaps[0] - classic_norm).max()
        print(f"Grad-CAM 权重 = W[c] / (h*w); 归一化后的热力图与经典 CAM 一致 (最大差 {max_diff:.1e})")
        """
    ),
    md(
        """
        ## 7. CAM 家族的其他成员

        前面的方法给每个通道一个权重。后来的方法从三个方向改动了模板（公式、出处和本项目的取舍见教程第 04 章第 10–17 节）：

        | 方法 | 通道（或位置）的权重 | 需要梯度 | 需要类别 |
        |---|---|---|---|
        | CAM | 全连接层的权重 $W_{c,k}$（只适用于"GAP → 全连接"之前的层） | 否 | 是 |
        | XGrad-CAM | $\\sum_{i,j} \\frac{A_k(i,j)}{\\sum A_k}\\, g_k(i,j)$ | 是 | 是 |
        | HiResCAM | 每个位置就用梯度本身：$\\mathrm{ReLU}\\big(\\sum_k g_k \\odot A_k\\big)$ | 是 | 是 |
        | LayerCAM | 每个位置用正梯度：$\\mathrm{ReLU}\\big(\\sum_k \\mathrm{ReLU}(g_k) \\odot A_k\\big)$ | 是 | 是 |
        | Eigen-CAM | 不加权：特征的第一主成分 | 否 | 否 |
        | Eigen-Grad-CAM | $g \\odot A$ 的第一主成分 | 是 | 是 |
        | Smooth Grad-CAM++ | Grad-CAM++，导数在加噪的输入拷贝上平均 | 是 | 是 |
        | Ablation-CAM | 把第 $k$ 个通道置零后 logit 下降的比例 | 否 | 是 |

        ### 在"GAP → 全连接"之前的层上，四种方法是同一个公式

        `_act1` 之后只有全局平均池化和全连接层，梯度在空间上是常数 $g_k(i,j) = W_{c,k}/(hw)$。
        于是 Grad-CAM、XGrad-CAM 和 HiResCAM 都等于 CAM 除以 $hw$，归一化之后完全相同：
        """
    ),
    code(
        """
        same = {
            cls.__name__: cls(model, "_act1").generate_cam(input_tensor, pred) for cls in (CAM, GradCAM, XGradCAM, HiResCAM)
        }
        for name, heat in same.items():
            print(f"{name:9s} 与 CAM 的最大差 {np.abs(heat - same['CAM']).max():.1e}")
            assert np.allclose(heat, same["CAM"], atol=1e-4)

        try:  # 结构不符时 CAM 报错，而不是画出错误的图
            CAM(model, "_conv_head").generate_cam(input_tensor, pred)
        except ValueError as err:
            print(err)
        """
    ),
    md(
        """
        ### 按公式手算 XGrad-CAM、HiResCAM、LayerCAM

        在 ReLU6 之后的 `_blocks.15._act1`（激活非负）上取出激活 $A$ 和梯度 $g$，逐一核对：
        """
    ),
    code(
        """
        from visualization.pytorch.layer_visualizer import CNNLayerVisualizer

        v = CNNLayerVisualizer(model)
        grad = v.get_gradients(input_tensor, pred, "_blocks.15._act1")
        A = grad.activations[0].astype(np.float64)  # (1152, 7, 7)
        g = grad.gradients[0].astype(np.float64)

        res_x = XGradCAM(model, "_blocks.15._act1").compute(input_tensor, pred)
        total = A.sum(axis=(1, 2))
        w_x = np.divide((A * g).sum(axis=(1, 2)), total, out=np.zeros_like(total), where=total != 0)
        assert np.allclose(res_x.weights[0], w_x, rtol=1e-4, atol=1e-9)

        res_h = HiResCAM(model, "_blocks.15._act1").compute(input_tensor, pred)
        assert np.allclose(res_h.raw[0], np.maximum((g * A).sum(axis=0), 0), rtol=1e-4, atol=1e-7)

        res_l = LayerCAM(model, "_blocks.15._act1").compute(input_tensor, pred)
        assert np.allclose(res_l.raw[0], np.maximum((np.maximum(g, 0) * A).sum(axis=0), 0), rtol=1e-4, atol=1e-7)
        print("XGrad-CAM 权重", res_x.weights.shape, "| HiResCAM / LayerCAM 的逐位置权重", res_h.weights.shape)
        """
    ),
    md(
        """
        ### Eigen-CAM 与 Eigen-Grad-CAM

        Eigen-CAM 把 $hw$ 个位置看成 $C$ 维空间中的点，按论文不减均值，取第一个右奇异向量（符号与平均激活同向）方向上的投影（`center=True` 先减均值）。它不看类别：猫和狗得到同一张图。
        Eigen-Grad-CAM 对 $g \\odot A$ 做同样的事，也就是打开 `eigen_smooth` 的 HiResCAM；它随类别变化，但类别之间的差别变小了。
        """
    ),
    code(
        """
        eig_cat, eig_dog = EigenCAM(model, layer).compute_many(input_tensor, [pred, dog])
        assert np.array_equal(eig_cat.heatmaps, eig_dog.heatmaps)  # 与类别无关

        eg = EigenGradCAM(model, layer).generate_cam(input_tensor, pred)
        assert np.allclose(eg, HiResCAM(model, layer).generate_cam(input_tensor, pred, eigen_smooth=True))

        for cls in (GradCAM, EigenGradCAM):
            cat_res, dog_res = cls(model, layer).compute_many(input_tensor, [pred, dog])
            r = np.corrcoef(cat_res.heatmaps.ravel(), dog_res.heatmaps.ravel())[0, 1]
            print(f"{cls.__name__:12s} 猫与狗两张图的相关系数 {r:.2f}")
        """
    ),
    md(
        """
        ### Smooth Grad-CAM++ 与 Ablation-CAM

        Smooth Grad-CAM++ 在 `n_samples` 份加了高斯噪声的拷贝上平均 Grad-CAM++ 用到的三个导数；没有噪声、只有一份拷贝时它就是 Grad-CAM++。
        Ablation-CAM 把目标层的第 $k$ 个通道置零，权重是 logit 下降的比例 $(y_c - y_c^{(k)}) / y_c$。
        在 `_act1` 上置零第 $k$ 个通道，logit 正好减少 $W_{c,k}$ 乘以该通道的均值，可以直接核对：
        """
    ),
    code(
        """
        plain_pp = GradCAMPlusPlus(model, "_blocks.15._act1").compute(input_tensor, pred)
        no_noise = SmoothGradCAMPlusPlus(model, "_blocks.15._act1", n_samples=1, noise_level=0.0).compute(input_tensor, pred)
        assert np.allclose(no_noise.weights, plain_pp.weights, rtol=1e-4, atol=1e-9)

        res_a = AblationCAM(model, "_act1", batch_size=64).compute(input_tensor, pred)
        A_act1 = v.get_feature_maps(input_tensor, "_act1")[0].astype(np.float64)
        W_fc = model._fc.weight.detach().numpy()
        y = float(res_a.outputs[0, pred])
        assert np.allclose(res_a.weights[0], W_fc[pred] * A_act1.mean(axis=(1, 2)) / y, atol=1e-5)
        print("Ablation-CAM 的权重与 W[c, k] * mean(A_k) / y 一致")
        """
    ),
    md(
        """
        ## 8. 所有方法共用的选项

        - `aug_smooth`：六个视角（水平翻转 × 缩放 0.9 / 1 / 1.1）各算一次，映射回原图坐标后平均；代价 ×6，对网格位置更不敏感。
        - `eigen_smooth`：用加权特征的第一主成分代替加权和。
        - 多个目标层：一次前向（和反向）取到所有层，每层的图上采样、归一化后融合（默认取平均，`LayerCAM` 用 tanh 缩放后取最大值）。

        前两个既可以在构造时给出，也可以每次调用时给出：
        """
    ),
    code(
        """
        g15 = GradCAM(model, layer)
        panels = {
            "Grad-CAM": g15.generate_cam(input_tensor, pred),
            "aug_smooth=True": g15.generate_cam(input_tensor, pred, aug_smooth=True),
            "eigen_smooth=True": g15.generate_cam(input_tensor, pred, eigen_smooth=True),
            "LayerCAM, 3 layers fused": LayerCAM(model, ["_blocks.4", "_blocks.10", layer]).generate_cam(input_tensor, pred),
        }
        fig, axes = plt.subplots(1, 4, figsize=(15, 4), layout="constrained")
        for ax, (title, heat) in zip(axes, panels.items()):
            ax.imshow(overlay(image, heat, alpha=0.5))
            ax.set_title(title, fontsize=10)
            ax.axis("off")
        plt.show()
        """
    ),
    md(
        """
        ### Score-CAM 的 `top_k`

        只给正激活总量 $\\sum_{i,j}\\mathrm{ReLU}(A_k(i,j))$ 最大的 $k$ 个通道打分（$k$ 次前向而不是每个通道一次），
        其余非常数通道取这 $k$ 个分数中最低的那个。命令行里的 `fastscorecam` 就是带 `top_k` 的 Score-CAM。
        """
    ),
    code(
        """
        start = time.perf_counter()
        fast = ScoreCAM(model, layer, top_k=16, batch_size=16).compute(input_tensor, pred)
        print(f"{fast.method}: {time.perf_counter() - start:.1f} s")

        A15 = v.get_feature_maps(input_tensor, layer)[0].astype(np.float64)
        scored = np.argsort(-np.maximum(A15, 0).sum(axis=(1, 2)), kind="stable")[:16]
        rest = np.setdiff1d(np.arange(A15.shape[0]), scored)
        assert np.allclose(fast.weights[0, rest], fast.weights[0, scored].min())
        corr = np.corrcoef(fast.heatmaps.ravel(), score_pred.heatmaps.ravel())[0, 1]
        print(f"与第 3 节的精确 Score-CAM（320 次前向）的相关系数 {corr:.2f}")
        """
    ),
    md(
        """
        ### Ablation-CAM 的捷径

        置零的是目标层的输出，所以只有目标层之后的网络需要对每个通道重新运行；目标层之前的部分每批只在一张缩小的"替身"图上跑一次。
        这只在目标层之前的值不绕过它时成立，所以第一次使用前先和完整的前向比较：有相加的残差连接时改为广播这条连接，
        还不行（例如拼接）就退回完整的前向并给出 WARNING。`strategy="full"` 强制使用完整的前向。两种情形的结果都与完整前向相同：
        """
    ),
    code(
        """
        class SkipNet(torch.nn.Module):
            def __init__(self, join):
                super().__init__()
                self.join = join
                self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
                self.body = torch.nn.Conv2d(8, 8, 3, padding=1)  # 目标层
                self.head = torch.nn.Linear(16 if join == "cat" else 8, 3)

            def forward(self, inp):
                h = torch.relu(self.stem(inp))
                z = torch.cat([self.body(h), h], dim=1) if self.join == "cat" else self.body(h) + h  # h 绕过了 body
                return self.head(z.mean(dim=(2, 3)))


        torch.manual_seed(0)
        x_small = torch.rand(1, 3, 32, 32)
        for join in ["add", "cat"]:
            net = SkipNet(join).eval()
            shortcut = AblationCAM(net, "body").compute(x_small, 1).weights
            full = AblationCAM(net, "body", strategy="full").compute(x_small, 1).weights
            print(join, f"捷径与完整前向的最大差 {np.abs(shortcut - full).max():.1e}")
            assert np.allclose(shortcut, full, atol=1e-5)
        """
    ),
    md(
        """
        ## 9. 所有方法放在一起

        `compare_cam_methods` 的 `methods` 可以混合放类（用传入的模型和层、默认选项构造）和配置好的实例（按它自己的层和选项运行）。
        下面这个单元格可以单独运行：
        """
    ),
    code(
        """
        from visualization.models.imagenet import preprocess
        from visualization.pytorch.cam_visualizer import EigenCAM, GradCAM, LayerCAM, ScoreCAM, XGradCAM, compare_cam_methods
        from visualization.pytorch.efficientnet import efficientnet_lite0

        model = efficientnet_lite0(pretrained=True)
        arr, crop = preprocess(data.chelsea())
        input_tensor = torch.from_numpy(arr)[None]

        fig = compare_cam_methods(
            model,
            "_blocks.15",
            input_tensor,
            crop,
            target_class=282,
            methods=[GradCAM, XGradCAM, LayerCAM, EigenCAM, ScoreCAM(model, "_blocks.15", top_k=16, batch_size=16)],
            class_names=names,
        )
        plt.show()
        """
    ),
    md(
        """
        在 `_blocks.15`（线性瓶颈，激活有正有负）上，基于梯度的方法和 Eigen-CAM、Score-CAM 指向不同的区域；
        而在 `_act1` 上，大多数方法几乎重合——其中几种在数学上就是同一个公式。所以**层的选择往往比方法的选择影响更大**，
        结论最好在几种原理不同的方法和两三个层上都成立。教程第 04 章第 19 节有全部十一种方法在两个层上的对比图和一张总结表。
        """
    ),
]

# --------------------------------------------------------------------------------------------- 05
COMPARISON = [
    md(
        """
        # 05 框架对比：PyTorch 与 PaddlePaddle

        工具包对两个框架提供同一套 API：只需把 `visualization.pytorch` 换成 `visualization.paddle`。
        本篇验证这句话：同一份预训练权重在两个框架里给出（几乎）相同的数字；把 PyTorch 权重转换给 Paddle；
        比较速度；最后看看两个框架在 hook 和求梯度上的差异——正是工具包替你屏蔽掉的部分。
        """
    ),
    code(
        """
        import time

        import matplotlib.pyplot as plt
        import numpy as np
        import paddle
        import torch
        from skimage import data

        import visualization.paddle.cam_visualizer as paddle_cam
        import visualization.pytorch.cam_visualizer as torch_cam
        from visualization.convert import StateDictMismatchError, torch_to_paddle_state_dict
        from visualization.models import imagenet_class_names, load_model, preprocess
        from visualization.paddle.models import CatDogCNN as PaddleCatDogCNN
        from visualization.pytorch.models import CatDogCNN as TorchCatDogCNN

        torch.manual_seed(0)
        paddle.seed(0)
        print("torch", torch.__version__, "| paddle", paddle.__version__)
        """
    ),
    md(
        """
        ## 1. 同一份预训练权重，两个框架

        `load_model(..., framework="paddle")` 构建 Paddle 版的 EfficientNet-Lite0，读取的是同一个权重文件（不需要安装 torch 也能读）。
        两个模型的层名完全相同，所以 `"_blocks.15"` 在两边指的是同一层。
        """
    ),
    code(
        """
        names = imagenet_class_names()
        x, crop = preprocess(data.chelsea())
        layer = "_blocks.15"

        torch_model = load_model("efficientnet-lite0", framework="torch")
        paddle_model = load_model("efficientnet-lite0", framework="paddle")
        x_torch = torch.from_numpy(x)[None]
        x_paddle = paddle.to_tensor(x[None])

        with torch.no_grad():
            logits_torch = torch_model(x_torch).numpy()
        with paddle.no_grad():
            logits_paddle = paddle_model(x_paddle).numpy()

        print("logits 最大绝对差:", f"{np.abs(logits_torch - logits_paddle).max():.2e}")
        for name, logits in [("torch ", logits_torch), ("paddle", logits_paddle)]:
            top = np.argsort(-logits[0])[:3]
            print(name, [names[i] for i in top])
        assert np.abs(logits_torch - logits_paddle).max() < 1e-4
        """
    ),
    md("同样的 Grad-CAM / Grad-CAM++ 代码，两个框架各算一遍："),
    code(
        """
        heatmaps = {}
        for fw, cam_module, model, inp in [
            ("torch", torch_cam, torch_model, x_torch),
            ("paddle", paddle_cam, paddle_model, x_paddle),
        ]:
            heatmaps[fw, "Grad-CAM"] = cam_module.GradCAM(model, layer).generate_cam(inp)
            heatmaps[fw, "Grad-CAM++"] = cam_module.GradCAMPlusPlus(model, layer).generate_cam(inp)

        for method in ["Grad-CAM", "Grad-CAM++"]:
            diff = np.abs(heatmaps["torch", method] - heatmaps["paddle", method]).max()
            print(f"{method:<11s} 热力图最大绝对差: {diff:.2e}")
            assert diff < 1e-4

        fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
        axes[0].imshow(heatmaps["torch", "Grad-CAM"], cmap="jet", vmin=0, vmax=1)
        axes[0].set_title("PyTorch Grad-CAM")
        axes[1].imshow(heatmaps["paddle", "Grad-CAM"], cmap="jet", vmin=0, vmax=1)
        axes[1].set_title("Paddle Grad-CAM")
        diff_map = np.abs(heatmaps["torch", "Grad-CAM"] - heatmaps["paddle", "Grad-CAM"])
        im = axes[2].imshow(diff_map, cmap="magma")
        axes[2].set_title("|difference|")
        fig.colorbar(im, ax=axes[2])
        for ax in axes:
            ax.axis("off")
        plt.show()
        """
    ),
    md(
        """
        第三个框架 Keras（`visualization.keras`，TensorFlow 后端）也是同一套 API，只是输入通道在后 `(N, H, W, C)`；
        返回的热力图和另外两个框架一样是 `(H, W)`。这个笔记本开头已经 `import paddle`，所以现在导入 TensorFlow 是安全的顺序
        （反过来，先 TensorFlow 后 Paddle，进程会崩溃）。
        """
    ),
    code(
        """
        import visualization.keras.cam_visualizer as keras_cam

        keras_model = load_model("efficientnet-lite0", framework="keras")
        x_keras = x.transpose(1, 2, 0)[None]  # (1, 224, 224, 3)
        logits_keras = keras_model(x_keras, training=False).numpy()
        print("logits 最大绝对差 (torch - keras):", f"{np.abs(logits_torch - logits_keras).max():.2e}")
        for method, cls in [("Grad-CAM", keras_cam.GradCAM), ("Grad-CAM++", keras_cam.GradCAMPlusPlus)]:
            heatmaps["keras", method] = cls(keras_model, layer).generate_cam(x_keras)
            diff = np.abs(heatmaps["torch", method] - heatmaps["keras", method]).max()
            print(f"{method:<11s} 热力图最大绝对差 (torch - keras): {diff:.2e}")
            assert diff < 1e-4
        """
    ),
    md(
        """
        差异在 1e-6 量级，来自两个框架浮点运算顺序的不同（float32 的精度约 1e-7），对可视化没有任何影响。

        ## 2. 把 PyTorch 权重转换给 Paddle

        两个框架保存同一个网络的方式几乎一样，只有三处不同：
        `Linear` 权重在 torch 是 `(out, in)`、在 Paddle 是 `(in, out)`（需要转置）；
        BatchNorm 的统计量名字不同（`running_mean/var` ↔ `_mean/_variance`）；torch 多一个 `num_batches_tracked`。
        `visualization.convert.torch_to_paddle_state_dict` 处理这些差异，并按目标模型检查每个键和形状。
        """
    ),
    code(
        """
        size = 32
        torch_net = TorchCatDogCNN(num_classes=2, image_size=size).eval()
        paddle_net = PaddleCatDogCNN(num_classes=2, image_size=size)
        paddle_net.eval()

        converted = torch_to_paddle_state_dict(torch_net.state_dict(), paddle_net)
        paddle_net.set_state_dict(converted)

        for key in ["conv1.weight", "fc1.weight", "fc2.bias"]:
            print(f"{key:<13s} torch {tuple(torch_net.state_dict()[key].shape)} -> paddle {converted[key].shape}")

        batch = np.random.default_rng(0).standard_normal((4, 3, size, size)).astype(np.float32)
        with torch.no_grad():
            out_torch = torch_net(torch.from_numpy(batch)).numpy()
        with paddle.no_grad():
            out_paddle = paddle_net(paddle.to_tensor(batch)).numpy()
        print("logits 最大绝对差:", f"{np.abs(out_torch - out_paddle).max():.2e}")
        np.testing.assert_allclose(out_torch, out_paddle, atol=1e-5)
        """
    ),
    md(
        "如果两边的结构对不上（比如 `image_size` 不同导致 `fc1` 的形状不同），转换会直接报错并列出所有问题，而不是悄悄载入错误的权重："
    ),
    code(
        """
        try:
            torch_to_paddle_state_dict(torch_net.state_dict(), PaddleCatDogCNN(num_classes=2, image_size=64))
        except StateDictMismatchError as err:
            print(type(err).__name__, ":", err)
        """
    ),
    md(
        """
        ## 3. 速度

        用 `time.perf_counter` 测量一次前向和一次 Grad-CAM（各跑几次取中位数，先预热一次）。
        结果与机器和负载有关，这里只打印不做断言。
        """
    ),
    code(
        """
        def median_time(fn, repeat=5):
            fn()  # 预热
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return float(np.median(times))


        def torch_forward():
            with torch.no_grad():
                torch_model(x_torch)


        def paddle_forward():
            with paddle.no_grad():
                paddle_model(x_paddle)


        torch_gradcam = torch_cam.GradCAM(torch_model, layer)
        paddle_gradcam = paddle_cam.GradCAM(paddle_model, layer)
        timings = {
            ("torch", "forward"): median_time(torch_forward),
            ("paddle", "forward"): median_time(paddle_forward),
            ("torch", "Grad-CAM"): median_time(lambda: torch_gradcam.generate_cam(x_torch)),
            ("paddle", "Grad-CAM"): median_time(lambda: paddle_gradcam.generate_cam(x_paddle)),
        }
        print(f"{'':<10s}{'PyTorch':>10s}{'Paddle':>10s}")
        for what in ["forward", "Grad-CAM"]:
            print(f"{what:<10s}{timings['torch', what] * 1000:>8.0f}ms{timings['paddle', what] * 1000:>8.0f}ms")
        """
    ),
    md(
        """
        Grad-CAM 的耗时与一次前向在同一量级：工具包只对目标层之后的部分求梯度，不计算任何权重的梯度。
        （在繁忙的机器上单次计时波动很大，要比较请多跑几次。）

        ## 4. API 差异：工具包在底层替你做了什么

        | 作用 | PyTorch | PaddlePaddle |
        |---|---|---|
        | 层的基类 | `torch.nn.Module` | `paddle.nn.Layer` |
        | 卷积层 | `nn.Conv2d` | `nn.Conv2D` |
        | 前向 hook | `register_forward_hook(fn)` | `register_forward_post_hook(fn)` |
        | 求梯度 | `torch.autograd.grad(y, x)` | `paddle.grad(y, x)` |
        | 是否需要梯度 | `requires_grad=True` | `stop_gradient=False` |
        | numpy → 张量 | `torch.from_numpy(a)` | `paddle.to_tensor(a)` |
        | 遍历子层 | `named_modules()` | `named_sublayers()` |
        | `Linear` 权重 | `(out, in)` | `(in, out)` |

        **前向 hook**：在某层的 forward 之后被调用，拿到它的输出。两个框架的回调签名一样 `(layer, inputs, output)`，
        注册方法的名字不同；都返回一个句柄，用完要 `remove()`。
        """
    ),
    code(
        """
        captured = {}
        handle = torch_net.conv3.register_forward_hook(lambda layer, inputs, output: captured.update(torch=output))
        try:
            torch_scores = torch_net(torch.from_numpy(batch[:1]))
        finally:
            handle.remove()
        print("torch  conv3 输出:", tuple(captured["torch"].shape))
        """
    ),
    code(
        """
        handle = paddle_net.conv3.register_forward_post_hook(lambda layer, inputs, output: captured.update(paddle=output))
        try:
            paddle_scores = paddle_net(paddle.to_tensor(batch[:1]))
        finally:
            handle.remove()
        print("paddle conv3 输出:", tuple(captured["paddle"].shape))
        """
    ),
    md(
        """
        **求梯度**：Grad-CAM 需要类别分数对这个中间输出的梯度。`torch.autograd.grad` 和 `paddle.grad`
        都直接返回梯度，而不像 `.backward()` 那样把梯度累加到每个参数的 `.grad` 上。
        两个网络的权重相同，所以梯度也应当相同：
        """
    ),
    code(
        """
        (grad_torch,) = torch.autograd.grad(torch_scores[0, 1], captured["torch"])
        print("torch.autograd.grad:", tuple(grad_torch.shape))
        """
    ),
    code(
        """
        (grad_paddle,) = paddle.grad(paddle_scores[0, 1], captured["paddle"])
        print("paddle.grad:        ", tuple(grad_paddle.shape))
        print("两个框架的梯度最大差:", f"{np.abs(grad_torch.numpy() - grad_paddle.numpy()).max():.2e}")
        """
    ),
    md(
        """
        还有一些细节差异，工具包都在适配层里处理了，例如：Paddle 中如果输入和参数都不需要梯度，`paddle.grad` 会失败
        （工具包会给输入一份 `stop_gradient=False` 的拷贝）；Paddle 的 `Layer.eval()` 会同时切换全局的动态图模式
        （工具包只改各个子层的 `training` 标志，并在调用结束后恢复）。

        所以用户代码在两个框架里一模一样：
        """
    ),
    code(
        """
        for cam_module, net, inp in [
            (torch_cam, torch_net, torch.from_numpy(batch[:1])),
            (paddle_cam, paddle_net, paddle.to_tensor(batch[:1])),
        ]:
            cam = cam_module.GradCAM(net, "conv3")
            print(cam_module.__name__, cam, cam.generate_cam(inp, target_class=1).shape)
        """
    ),
    md(
        """
        ## 热力图可信吗？用两个框架算同一个忠实度指标

        下面的"模型"只看图像左半边。一张指向左半边的热力图，删除曲线应当下降得快（AUC 低）、插入曲线上升得快（AUC 高）；
        左右翻转后结论相反。`visualization.pytorch.metrics` 和 `visualization.paddle.metrics` 同名同参，数字也相同
        （第 05 章第 8 节有手算的答案 0.25 和 0.75）。
        """
    ),
    code(
        """
        from visualization.paddle import metrics as paddle_metrics
        from visualization.pytorch import metrics as torch_metrics


        class LeftHalfTorch(torch.nn.Module):
            def forward(self, x):
                left = x[:, :, :, : x.shape[3] // 2].mean(axis=(1, 2, 3))
                return torch.stack([left, torch.zeros_like(left)], dim=1)


        class LeftHalfPaddle(paddle.nn.Layer):
            def forward(self, x):
                left = x[:, :, :, : x.shape[3] // 2].mean(axis=(1, 2, 3))
                return paddle.stack([left, paddle.zeros_like(left)], axis=1)


        images = np.random.default_rng(0).random((4, 3, 32, 32)).astype(np.float32) + 0.5
        left_map = np.zeros((4, 32, 32), np.float32)
        left_map[:, :, :16] = np.random.default_rng(1).random((4, 32, 16))
        for name, maps in [("指向左半边", left_map), ("左右翻转", left_map[:, :, ::-1].copy())]:
            auc_torch = torch_metrics.deletion_curve(
                LeftHalfTorch(), torch.from_numpy(images), maps, 0, n_steps=16, output="logit"
            ).auc.mean()
            auc_paddle = paddle_metrics.deletion_curve(
                LeftHalfPaddle(), paddle.to_tensor(images), maps, 0, n_steps=16, output="logit"
            ).auc.mean()
            print(f"{name}: 删除 AUC  torch {auc_torch:.3f}  paddle {auc_paddle:.3f}")
        """
    ),
    md(
        """
        对一个文件夹里的真实照片，`cnnvis evaluate` 会对每种 CAM 方法、每个指标给出均值和 95% 置信区间，
        `cnnvis explain --images-dir` 可以流式处理成千上万张图（`--engine ray` 交给 Ray）。用法和在 Oxford-IIIT Pet
        样本上的实测结果见第 05 章第 8、9 节。
        """
    ),
]

# --------------------------------------------------------------------------------------------- exercise answers
# Each chapter's exercises (the last section of docs/0N-*.md) are answered at the end of its notebook.
# The cells import what they need, so they also run on their own.
OVERVIEW_ANSWERS = [
    md(
        """
        ## 练习答案（第 01 章第 7 节）

        **练习 1**：咖啡杯的照片。前几名是 "espresso"、"cup" 一类；热力图落在杯中的咖啡和杯沿上。
        """
    ),
    code(
        """
        import numpy as np
        import torch
        from skimage import data

        from visualization.models import imagenet_class_names, load_model, preprocess
        from visualization.pytorch.cam_visualizer import GradCAM

        model = load_model("efficientnet-lite0", framework="torch")
        names = imagenet_class_names()
        arr_coffee, crop_coffee = preprocess(data.coffee())
        x_coffee = torch.from_numpy(arr_coffee)[None]
        with torch.no_grad():
            p = torch.softmax(model(x_coffee), dim=1)[0]
        top3 = p.argsort(descending=True)[:3].tolist()
        print([(c, names[c], round(float(p[c]), 3)) for c in top3])
        fig = GradCAM(model, "_blocks.15").visualize_cam(x_coffee, top3[0], original_image=crop_coffee, class_names=names)
        """
    ),
    md(
        """
        **练习 2**：两种猫的热力图几乎一样（相关系数接近 1）。两个类别在最后一层共用大部分"猫"的特征，
        Grad-CAM 的通道权重也就相近；要看出区别，得解释差别本身，例如用目标函数 `out[:, 282] - out[:, 285]`。
        """
    ),
    code(
        """
        arr_cat, _ = preprocess(data.chelsea())
        x_cat = torch.from_numpy(arr_cat)[None]
        cam = GradCAM(model, "_blocks.15")
        h_tiger, h_egypt = cam.generate_cam(x_cat, 282), cam.generate_cam(x_cat, 285)
        print(f"相关系数 {np.corrcoef(h_tiger.ravel(), h_egypt.ravel())[0, 1]:.2f}")
        """
    ),
    md("**练习 3**：错误信息列出最接近的层名（`_blocks.15` 等），并说明怎样列出全部层名。"),
    code(
        """
        try:
            GradCAM(model, "_block.15")
        except KeyError as err:  # LayerNotFoundError 是 KeyError 的子类
            print(str(err)[:300])
        """
    ),
]

CONVOLUTION_ANSWERS = [
    md(
        """
        ## 练习答案（第 02 章第 7 节）

        **练习 1**：$\\lfloor (64 + 2 - 5)/2 \\rfloor + 1 = 31$，输出 `(1, 16, 31, 31)`。
        """
    ),
    code(
        """
        import numpy as np
        import torch
        import torch.nn.functional as F
        from skimage import color, data

        print(torch.nn.Conv2d(3, 16, kernel_size=5, stride=2, padding=1)(torch.zeros(1, 3, 64, 64)).shape)
        """
    ),
    md(
        """
        **练习 2**：三个 3×3 卷积的感受野是 $1 + 3 \\times 2 = 7$，和一个 7×7 卷积相同；
        参数量 $3 \\times 9 = 27$ 对 $49$，而且中间还能插入两次非线性。
        """
    ),
    code(
        """
        r = 1
        for _ in range(3):
            r += 3 - 1  # r_out = r_in + (k - 1) * j，步长 1 时 j = 1
        print("感受野", r, "参数", 3 * 3 * 3, "对", 7 * 7)
        """
    ),
    md("**练习 3**：对角线一侧为正、另一侧为负的核，只对“左上到右下”方向的边缘有强响应。"),
    code(
        """
        import matplotlib.pyplot as plt

        grey = torch.from_numpy(color.rgb2gray(data.chelsea()).astype(np.float32))[None, None]
        diagonal = torch.tensor([[0.0, 1.0, 1.0], [-1.0, 0.0, 1.0], [-1.0, -1.0, 0.0]])[None, None]
        response = F.conv2d(grey, diagonal, padding=1)[0, 0]
        fig, axes = plt.subplots(1, 2, figsize=(8, 3.2), layout="constrained")
        axes[0].imshow(grey[0, 0], cmap="gray")
        axes[1].imshow(response.abs(), cmap="magma")
        for ax in axes:
            ax.axis("off")
        """
    ),
]

FEATURE_MAPS_ANSWERS = [
    md(
        """
        ## 练习答案（第 03 章第 11 节）

        **练习 1**：处处 $\\le 0$ 的通道数和每层的空间尺寸（56×56、14×14、7×7）。块的输出是线性瓶颈，没有激活函数，
        可以取负值：`_blocks.15` 在这张图上有二十来个通道处处 $\\le 0$，但这只说明它们对这张图没有正响应，不是"死"通道。
        判断死通道要像第 3 节那样，在激活函数之后的层上、对多张图统计。
        """
    ),
    code(
        """
        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        from skimage import data

        from visualization.models import load_model, preprocess
        from visualization.pytorch.layer_visualizer import CNNLayerVisualizer

        model = load_model("efficientnet-lite0", framework="torch")
        v = CNNLayerVisualizer(model)
        arr_cat, crop_cat = preprocess(data.chelsea())
        x_cat = torch.from_numpy(arr_cat)[None]
        for layer in ["_blocks.2", "_blocks.8", "_blocks.15"]:
            maps = v.get_feature_maps(x_cat, layer)[0]
            dead = int((maps.reshape(len(maps), -1).max(axis=1) <= 0).sum())
            print(f"{layer:10s} 形状 {maps.shape}，最大值不超过 0 的通道 {dead}")
        """
    ),
    md("**练习 2**：平均激活最大的通道。"),
    code(
        """
        maps4 = v.get_feature_maps(x_cat, "_blocks.4")[0]
        best = int(maps4.mean(axis=(1, 2)).argmax())
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.2), layout="constrained")
        axes[0].imshow(crop_cat)
        axes[1].imshow(maps4[best], cmap="viridis")
        axes[1].set_title(f"_blocks.4 channel {best}")
        for ax in axes:
            ax.axis("off")
        """
    ),
    md(
        """
        **练习 3**：两张完全不同的照片，最活跃的通道仍有一部分重合：这些通道响应的是很多图片都有的纹理和颜色，
        而不是"猫"或"咖啡"本身。
        """
    ),
    code(
        """
        arr_coffee, _ = preprocess(data.coffee())
        maps_coffee = v.get_feature_maps(torch.from_numpy(arr_coffee)[None], "_blocks.4")[0]
        top_cat = set(np.argsort(maps4.mean(axis=(1, 2)))[-5:].tolist())
        top_coffee = set(np.argsort(maps_coffee.mean(axis=(1, 2)))[-5:].tolist())
        print("猫", sorted(top_cat), "咖啡", sorted(top_coffee), "重合", sorted(top_cat & top_coffee))
        """
    ),
]

CAM_ANSWERS = [
    md(
        """
        ## 练习答案（第 04 章第 22 节）

        **练习 1**：在 `_act1` 上 Grad-CAM 的权重是全连接权重除以 $hw = 49$，所以 `raw` 之比是常数 1/49。
        """
    ),
    code(
        """
        from pathlib import Path

        import numpy as np
        import torch
        from skimage import data

        import visualization
        from visualization.models import load_model, preprocess
        from visualization.models.imagenet import MEAN, STD
        from visualization.pytorch.cam_visualizer import CAM, GradCAM, GradCAMPlusPlus, LayerCAM

        model = load_model("efficientnet-lite0", framework="torch")
        arr_cat, _ = preprocess(data.chelsea())
        x_cat = torch.from_numpy(arr_cat)[None]
        raw_cam = CAM(model, "_act1").compute(x_cat, 282).raw[0]
        raw_grad = GradCAM(model, "_act1").compute(x_cat, 282).raw[0]
        mask = raw_cam > 1e-3 * raw_cam.max()
        ratio = raw_grad[mask] / raw_cam[mask]
        print(f"比值 {ratio.mean():.5f} ± {ratio.std():.1e}，1/49 = {1 / 49:.5f}")
        """
    ),
    md(
        """
        **练习 2**：拼图（第 04 章第 20 节）在两层上的四象限平均值。两层都把猫和狗分开了；`_act1`（激活之后、紧接分类器）
        漏到另一类动物上的更少，但解释"狗"时几乎只剩左下的萨摩耶，`_blocks.15` 则两只狗都覆盖到了，同时也漏到左上的猫上一些。
        """
    ),
    code(
        """
        pets = Path(visualization.__file__).resolve().parents[1] / "tests" / "data" / "pets"
        files = ["cats/Egyptian_Mau_10.jpg", "dogs/beagle_10.jpg", "dogs/samoyed_108.jpg", "cats/Bengal_123.jpg"]
        tiles = [np.asarray(preprocess(pets / f)[1].resize((160, 160))) for f in files]
        grid = np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)
        x_grid = torch.from_numpy(((grid - np.float32(MEAN)) / np.float32(STD)).transpose(2, 0, 1).astype(np.float32))[None]


        def quadrants(h):
            k = h.shape[0] // 2
            return np.round([h[:k, :k].mean(), h[:k, k:].mean(), h[k:, :k].mean(), h[k:, k:].mean()], 2)


        targets = {"cats": lambda out: out[:, 281:286].sum(dim=1), "dogs": lambda out: out[:, 151:269].sum(dim=1)}
        for layer in ["_blocks.15", "_act1"]:
            for label, target in targets.items():
                print(f"{layer:10s} {label}: 左上 右上 左下 右下 = {quadrants(GradCAM(model, layer).generate_cam(x_grid, target))}")
        """
    ),
    md(
        "**练习 3**：`_blocks.10`（20×20）上四个象限几乎一样亮：这一层还在描述纹理和边缘，几乎不区分猫和狗。"
        "分辨率更高，类别信息却更少。"
    ),
    code(
        """
        for cls in (GradCAM, GradCAMPlusPlus, LayerCAM):
            print(f"{cls.__name__:16s}", quadrants(cls(model, "_blocks.10").generate_cam(x_grid, targets["cats"])))
        """
    ),
    md(
        "**练习 4**：几乎没有变化。只解释猫类之和时，狗的位置本来就接近 0（ReLU 去掉了负的证据）；"
        "减去狗类别的平均 logit 只稍微改变了通道权重。"
    ),
    code(
        """
        def cat_not_dog(out):
            return out[:, 281:286].sum(dim=1) - out[:, 151:269].mean(dim=1)


        print("猫之和     ", quadrants(GradCAM(model, "_blocks.15").generate_cam(x_grid, targets["cats"])))
        print("更像猫不像狗", quadrants(GradCAM(model, "_blocks.15").generate_cam(x_grid, cat_not_dog)))
        """
    ),
]

COMPARISON_ANSWERS = [
    md(
        """
        ## 练习答案（第 05 章第 11 节）

        **练习 1**：Paddle 的 `Linear(4, 3)` 权重是 `(4, 3)`（输入在前），`torch_to_paddle_state_dict` 会把它转置。
        """
    ),
    code(
        """
        import numpy as np
        import paddle
        import torch
        from skimage import data

        from visualization.convert import torch_to_paddle_state_dict
        from visualization.models import load_model, preprocess
        from visualization.paddle.cam_visualizer import GradCAMPlusPlus as PaddleGradCAMPlusPlus
        from visualization.pytorch.cam_visualizer import GradCAM, GradCAMPlusPlus

        torch_linear = torch.nn.Linear(4, 3)
        paddle_linear = paddle.nn.Linear(4, 3)
        print("torch", tuple(torch_linear.weight.shape), "paddle", tuple(paddle_linear.weight.shape))
        paddle_linear.set_state_dict(torch_to_paddle_state_dict(torch_linear.state_dict(), paddle_linear))
        v = np.random.default_rng(0).random((2, 4)).astype(np.float32)
        diff = np.abs(torch_linear(torch.from_numpy(v)).detach().numpy() - paddle_linear(paddle.to_tensor(v)).numpy()).max()
        print(f"输出最大差 {diff:.1e}")
        """
    ),
    md("**练习 2**：Grad-CAM++ 在两个框架里的差在 $10^{-5}$ 以内。"),
    code(
        """
        arr_cat, _ = preprocess(data.chelsea())
        tmodel = load_model("efficientnet-lite0", framework="torch")
        pmodel = load_model("efficientnet-lite0", framework="paddle")
        h_torch = GradCAMPlusPlus(tmodel, "_blocks.15").generate_cam(torch.from_numpy(arr_cat)[None], 282)
        h_paddle = PaddleGradCAMPlusPlus(pmodel, "_blocks.15").generate_cam(paddle.to_tensor(arr_cat[None]), 282)
        print(f"max |torch - paddle| = {np.abs(h_torch - h_paddle).max():.1e}")
        """
    ),
    md("**练习 3**：自己测比值。各重复 5 次取中位数；Grad-CAM 通常只比一次前向多 10%–50%（机器忙时波动更大）。"),
    code(
        """
        x_cat = torch.from_numpy(arr_cat)[None]
        cam = GradCAM(tmodel, "_blocks.15")


        def median_ms(fn, repeats=5):
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                fn()
                times.append(time.perf_counter() - start)
            return 1000 * float(np.median(times))


        with torch.no_grad():
            tmodel(x_cat)  # 预热
        forward_ms = median_ms(lambda: tmodel(x_cat).detach())
        cam_ms = median_ms(lambda: cam.generate_cam(x_cat, 282))
        print(f"前向 {forward_ms:.1f} ms，Grad-CAM {cam_ms:.1f} ms，比值 {cam_ms / forward_ms:.2f}")
        """
    ),
]


# --------------------------------------------------------------------------------------------- 07
SALIENCY = [
    md(
        """
        # 07 显著图与激活最大化

        对应教程第 07 章（`docs/07-saliency-and-activation-maximization.md`）。CAM 在某一层上回答"哪里重要"；
        显著图直接在**输入像素**上回答，激活最大化则反过来**合成**一张让某个类别得分最高的图片。

        本篇依次做：梯度、SmoothGrad、梯度×输入、积分梯度、遮挡、Guided Backprop 与反卷积网络；
        用参数随机化检验看哪些图真的依赖模型；最后用 TV 正则做激活最大化。结尾是第 07 章练习的答案。
        """
    ),
    code(
        """
        import copy
        import warnings

        import matplotlib.pyplot as plt
        import numpy as np
        import torch
        from skimage import data

        from visualization.models import imagenet_class_names, load_model, preprocess
        from visualization.models.imagenet import MEAN, STD
        from visualization.pytorch.activation_maximization import ActivationMaximization
        from visualization.pytorch.metrics import model_parameter_randomization, spearman_rank_correlation
        from visualization.pytorch.saliency import (
            Deconvolution,
            GradientXInput,
            GuidedBackprop,
            IntegratedGradients,
            Occlusion,
            SmoothGrad,
            VanillaGradient,
        )

        torch.manual_seed(0)
        model = load_model("efficientnet-lite0", framework="torch")
        names = imagenet_class_names()
        arr, crop = preprocess(data.chelsea())
        x = torch.from_numpy(arr)[None]
        TIGER_CAT, VIZSLA = 282, 211


        def show(ax, attributions, title, signed=False):
            \"\"\"|归因|（三个颜色通道取最大）或带符号的和，在第 99 百分位处截断。\"\"\"
            a = np.asarray(attributions)[0]
            if signed:
                m = a.sum(axis=0)
                lim = np.percentile(np.abs(m), 99) or 1.0
                ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
            else:
                m = np.abs(a).max(axis=0)
                ax.imshow(np.clip(m / (np.percentile(m, 99) or 1.0), 0, 1), cmap="inferno")
            ax.set_title(title, fontsize=9)
            ax.axis("off")
        """
    ),
    md(
        """
        ## 1. ReLU6 网络上，Guided Backprop 就是梯度

        Guided Backprop 和反卷积网络只改写 **ReLU** 的反向传播。EfficientNet-Lite0 用的是 ReLU6，
        工具包不替它"发明"引导规则，于是两种方法退化成普通梯度，并发出 `RuntimeWarning`：
        """
    ),
    code(
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            g = VanillaGradient(model).compute(x, TIGER_CAT).attributions
            gb = GuidedBackprop(model).compute(x, TIGER_CAT).attributions
        print(caught[0].category.__name__, ":", str(caught[0].message)[:100], "...")
        print("与梯度逐元素相同：", np.allclose(g, gb))
        """
    ),
    md(
        """
        为了看到它们真正的样子，复制一份模型，把每个 `nn.ReLU6` 换成 `nn.ReLU`（权重不变）。
        这个**孪生网络**已经不是训练出来的那个网络，但它对这张照片的前三名仍然都是猫：
        """
    ),
    code(
        """
        def relu_twin(net):
            twin = copy.deepcopy(net)
            for module in list(twin.modules()):
                for child_name, child in list(module.named_children()):
                    if isinstance(child, torch.nn.ReLU6):
                        setattr(module, child_name, torch.nn.ReLU())
            return twin


        twin = relu_twin(model)
        with torch.no_grad():
            for label, net in [("ReLU6", model), ("ReLU twin", twin)]:
                p = torch.softmax(net(x), dim=1)[0]
                print(label, [(names[c], round(float(p[c]), 3)) for c in p.argsort(descending=True)[:3].tolist()])
        """
    ),
    md(
        """
        ## 2. 梯度与 SmoothGrad

        `visualize_saliency` 画出"原图 | 显著图 | 带符号的和 | 叠加"。SmoothGrad 对加了噪声的 `n_samples` 份输入求平均（这里只取 4 份，为了快；论文建议 50 份左右）。
        """
    ),
    code(
        """
        fig = VanillaGradient(twin).visualize_saliency(x, TIGER_CAT, original_image=crop, class_names=names)
        """
    ),
    code(
        """
        fig = SmoothGrad(VanillaGradient(twin), n_samples=4, noise_level=0.15, seed=0).visualize_saliency(
            x, TIGER_CAT, original_image=crop, class_names=names
        )
        """
    ),
    md(
        """
        ## 3. 梯度×输入与积分梯度：完备性

        积分梯度的归因之和应当等于 $S(x) - S(x')$（基准图 $x'$ 默认全 0）。这里用 8 个求积节点，只是近似相等（练习 1 看步数的影响）：
        """
    ),
    code(
        """
        with torch.no_grad():
            gap = float(twin(x)[0, TIGER_CAT] - twin(torch.zeros_like(x))[0, TIGER_CAT])
        ig_attr = IntegratedGradients(twin, n_steps=8, internal_batch_size=8).compute(x, TIGER_CAT).attributions
        gxi_attr = GradientXInput(twin).compute(x, TIGER_CAT).attributions
        print(f"IG 归因之和 {ig_attr.sum():.2f}，S(x) - S(x') = {gap:.2f}")
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.4), layout="constrained")
        axes[0].imshow(crop)
        axes[0].axis("off")
        show(axes[1], gxi_attr, "gradient x input (signed)", signed=True)
        show(axes[2], ig_attr, "Integrated Gradients, 8 steps (signed)", signed=True)
        """
    ),
    md(
        """
        ## 4. 遮挡：看 logit 还是看 log 概率

        灰色方块会让孪生网络的**所有** logit 一起升高，所以以 logit 为目标时几乎整张图都是负值。
        以 log 概率为目标（softmax 之后类别之间相互竞争）才能看出"遮住这里，判断变了多少"。
        """
    ),
    code(
        """
        def log_prob(out):
            return torch.log_softmax(out, dim=1)[:, TIGER_CAT]


        occ = Occlusion(twin, window=(56, 56), stride=(56, 56))  # 4x4 个位置：粗，但快
        occ_logit = occ.compute(x, TIGER_CAT).attributions
        occ_logp = occ.compute(x, log_prob).attributions
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.4), layout="constrained")
        show(axes[0], occ_logit, f"logit: {(occ_logit[0].sum(0) < 0).mean():.0%} negative", signed=True)
        show(axes[1], occ_logp, f"log p: {(occ_logp[0].sum(0) < 0).mean():.0%} negative", signed=True)
        """
    ),
    md(
        """
        ## 5. Guided Backprop 与反卷积网络

        在孪生网络上，它们与梯度完全不同：Guided Backprop 勾出清晰的轮廓，反卷积网络则是一片棋盘格。
        """
    ),
    code(
        """
        g_twin = VanillaGradient(twin).compute(x, TIGER_CAT).attributions
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), layout="constrained")
        for ax, (label, a) in zip(
            axes,
            [
                ("gradient", g_twin),
                ("Guided Backprop", GuidedBackprop(twin).compute(x, TIGER_CAT).attributions),
                ("Deconvolution", Deconvolution(twin).compute(x, TIGER_CAT).attributions),
            ],
        ):
            show(ax, a, f"{label}\\ncorrelation with gradient {np.corrcoef(a.ravel(), g_twin.ravel())[0, 1]:+.2f}")
        """
    ),
    md(
        """
        ## 6. 健全性检查

        从顶层往下级联随机化权重：梯度图随之改变，Guided Backprop 的图几乎不变——它主要反映输入的边缘，而不是模型的判断依据。
        """
    ),
    code(
        """
        layers = ["_fc", "_conv_head", "_blocks.15._project_conv"]
        fig, axes = plt.subplots(2, len(layers) + 1, figsize=(11, 5.6), layout="constrained")
        for row, method in enumerate([VanillaGradient(twin), GuidedBackprop(twin)]):
            check = model_parameter_randomization(twin, method, x, TIGER_CAT, layers=layers, keep_maps=True)
            maps = [check.original_maps[0], *[m[0] for m in check.randomized_maps]]
            titles = ["pretrained", *[f"+ {n}\\nSpearman {s:+.2f}" for n, s in zip(layers, check.spearman[:, 0])]]
            for ax, m, t in zip(axes[row], maps, titles):
                ax.imshow(np.clip(m / (np.percentile(m, 99) or 1.0), 0, 1), cmap="inferno")
                ax.set_title(f"{method.method_name}: {t}", fontsize=8)
                ax.axis("off")
        """
    ),
    md(
        """
        ## 7. 激活最大化与 TV 正则

        从灰色噪声图出发对图片做梯度上升，让"goldfinch"（11）的 logit 最大。`tv_weight` 越大图片越平滑。
        为了运行快，这里只用 48×48、32 步，三种强度的差别还不明显；第 07 章的图用的是 128×128、256 步。
        """
    ),
    code(
        """
        am = ActivationMaximization(model, image_size=48, mean=MEAN, std=STD)
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.3), layout="constrained")
        for ax, tv in zip(axes, [0.0, 0.1, 1.0]):
            r = am.maximize(class_index=11, steps=32, tv_weight=tv, seed=0)
            ax.imshow(r.image)
            ax.set_title(f"tv_weight={tv}: logit {r.value:.1f}", fontsize=9)
            ax.axis("off")
        """
    ),
    md(
        """
        ## 练习答案

        **练习 1**：积分梯度的步数与完备性误差。下面的输出里，4 步时误差很大，8 步降到百分之几，但 32 步并没有更好：
        误差没有随步数一直下降。沿着从灰图到照片的直线，ReLU 网络的得分是分段线性的，有很多折点，
        Gauss-Legendre 这类高阶求积公式假设被积函数光滑，在折点处并不占优；可以自己试试 128 步，
        或者换成 `method="riemann_trapezoid"`。完备性是检查步数够不够的好工具，但不要指望它随步数单调变好。
        """
    ),
    code(
        """
        for n_steps in (4, 8, 32):
            attr = IntegratedGradients(twin, n_steps=n_steps, internal_batch_size=16).compute(x, TIGER_CAT).attributions
            print(f"n_steps={n_steps:3d}: 相对误差 {abs(attr.sum() - gap) / abs(gap):.1%}")
        """
    ),
    md(
        """
        **练习 2**：换一个类别，图变不变？Guided Backprop 对"虎斑猫"和"维希拉猎犬"给出几乎相同的图（秩相关接近 1），
        梯度则明显不同：Guided Backprop 对类别不敏感，这和参数随机化检验的结论一致。
        """
    ),
    code(
        """
        for method in (VanillaGradient(twin), GuidedBackprop(twin)):
            cat_map, dog_map = (method.generate_saliency(x, c) for c in (TIGER_CAT, VIZSLA))
            rho = float(spearman_rank_correlation(cat_map[None], dog_map[None])[0])
            print(f"{method.method_name:16s} 猫 vs 狗 秩相关 {rho:+.2f}")
        """
    ),
    md(
        """
        **练习 3**：见第 4 节的两张图。以 logit 为目标时，灰色方块让所有类别的 logit 一起升高，
        "遮住后得分下降"几乎处处为负；log 概率减去了所有类别共同的变化（$\\log p_c = z_c - \\log\\sum_k e^{z_k}$），
        只剩下这一类相对于其他类的变化，正负各半，幅度很小：这张特写里猫到处都是，遮住任何一块判断都不变。

        **练习 4**：`_blocks.4` 前 8 个通道喜欢的图案。浅层通道多是某个方向的条纹或某种颜色，
        与第 03 章中这一层特征图在猫的胡须、眼睛边缘上的响应相互印证。
        """
    ),
    code(
        """
        fig = ActivationMaximization(model, image_size=64, mean=MEAN, std=STD).visualize_channels(
            "_blocks.4", range(8), ncols=8, steps=16, batch_size=8
        )
        """
    ),
]


# --------------------------------------------------------------------------------------------- 06
def chapter_cells(chapter: str) -> list[tuple[str, str]]:
    """A chapter's text as notebook cells: each ```python block a code cell, the prose between them
    markdown (``bash`` / ``text`` blocks stay in the markdown), so the notebook is the chapter itself."""
    text = (ROOT / "docs" / chapter).read_text(encoding="utf-8")
    cells: list[tuple[str, str]] = []
    for i, part in enumerate(re.split(r"^```python\n(.*?)^```\s*$", text, flags=re.S | re.M)):
        part = part.strip("\n")
        if part:
            cells.append(("code" if i % 2 else "markdown", part.replace("](images/", "](../docs/images/")))
    return cells


NOTEBOOKS = {
    "01-overview.ipynb": OVERVIEW + OVERVIEW_ANSWERS,
    "02-convolution-layers.ipynb": CONVOLUTION + CONVOLUTION_ANSWERS,
    "03-feature-map-analysis.ipynb": FEATURE_MAPS + FEATURE_MAPS_ANSWERS,
    "04-cam-techniques.ipynb": CAM + CAM_ANSWERS,
    "05-comparison-guide.ipynb": COMPARISON + COMPARISON_ANSWERS,
    "06-transformers-segmentation-detection.ipynb": chapter_cells("06-transformers-segmentation-detection.md"),
    "07-saliency-and-activation-maximization.ipynb": SALIENCY,
}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """A notebook with no outputs, execution counts None and fixed cell ids (c00, c01, ...)."""
    nb = new_notebook(
        metadata={
            "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        }
    )
    for i, (kind, source) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell["id"] = f"c{i:02d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[name])) + "\n"


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without outputs and execution counts: what :func:`build` writes."""
    clean = copy.deepcopy(nb)
    for cell in clean.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    return clean


def source_text(path: Path) -> str:
    """The committed notebook at ``path`` with its outputs removed, in :func:`render`'s format."""
    return nbformat.writes(strip_outputs(nbformat.read(path, as_version=4))) + "\n"


def keep_outputs(nb: nbformat.NotebookNode, old: nbformat.NotebookNode) -> int:
    """Copy the stored outputs of ``old`` into ``nb`` for every code cell whose id and source are unchanged
    (and that follows only unchanged code cells, since a changed cell may change what later cells print)."""
    previous = {c.id: c for c in old.cells if c.cell_type == "code"}
    kept = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        before = previous.get(cell.id)
        if before is None or before.source != cell.source:
            break
        cell.outputs, cell.execution_count = before.outputs, before.execution_count
        kept += 1
    return kept


#: Outputs kept when a notebook is executed for the repository page (``--execute``): PNG figures
#: redrawn at this many dots per inch, at most this wide, as 256-colour palette images.
OUTPUT_DPI = 60
OUTPUT_MAX_WIDTH = 720
STREAM_MAX_CHARS = 4000


def _small_png(data: str) -> str:
    import base64
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")
    if img.width > OUTPUT_MAX_WIDTH:
        img = img.resize((OUTPUT_MAX_WIDTH, round(img.height * OUTPUT_MAX_WIDTH / img.width)), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    img.quantize(colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE).save(
        buf, "PNG", optimize=True
    )
    return base64.b64encode(buf.getvalue()).decode("ascii")


#: TensorFlow's start-up log on stderr (absl's prefix: severity letter, date 0000, time), e.g. "oneDNN custom
#: operations are on": a time stamp and a process id that change on every run, and nothing a student needs.
ABSL_LOG_LINE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IWE]\d{4} \d\d:\d\d:\d\d)")


def _keep(output: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The part of one output worth committing: text and small PNGs; interactive (plotly, HTML) outputs
    become a one-line note, since GitHub's notebook view cannot run them. TensorFlow's log lines are dropped."""
    if output.output_type == "stream":
        text = "".join(line for line in output.text.splitlines(keepends=True) if not ABSL_LOG_LINE.match(line))
        if not text:
            return None
        text = text if len(text) <= STREAM_MAX_CHARS else text[:STREAM_MAX_CHARS] + "\n...\n"
        return nbformat.v4.new_output("stream", name=output.name, text=text)
    if output.output_type in ("display_data", "execute_result"):
        data = output.get("data", {})
        if "image/png" in data:
            return nbformat.v4.new_output("display_data", data={"image/png": _small_png(data["image/png"])})
        if any(k.startswith("application/vnd.plotly") or k == "text/html" for k in data):
            note = "(interactive figure: run the notebook to explore it)\n"
            return nbformat.v4.new_output("stream", name="stdout", text=note)
        if "text/plain" in data:
            return nbformat.v4.new_output("display_data", data={"text/plain": data["text/plain"][:STREAM_MAX_CHARS]})
    return None  # errors never get here (execution stops), widgets and the rest are dropped


def execute(name: str, timeout: int = 900) -> nbformat.NotebookNode:
    """Run notebook ``name`` top to bottom (working directory: a temporary folder) and keep small outputs."""
    import os
    import tempfile

    from nbclient import NotebookClient

    nb = build(NOTEBOOKS[name])
    metadata = copy.deepcopy(nb.metadata)  # the kernel adds its language_info; keep build()'s
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "ipython" / "profile_default"
        profile.mkdir(parents=True)
        (profile / "ipython_kernel_config.py").write_text(
            f"c.InlineBackend.figure_formats = {{'png'}}\nc.InlineBackend.rc = {{'figure.dpi': {OUTPUT_DPI}}}\n"
        )
        env = dict(os.environ, IPYTHONDIR=str(Path(tmp) / "ipython"), PYTHONPATH=str(ROOT))
        env.pop("MPLBACKEND", None)  # the inline backend, so that figures become outputs
        work = Path(tmp) / "work"
        work.mkdir()
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(work)}})
        client.record_timing = False
        client.execute(env=env)
    nb.metadata = metadata
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in (_keep(o) for o in cell.outputs) if o is not None]
    nbformat.validate(nb)
    return nb


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a notebook's cells differ from this script")
    parser.add_argument(
        "--execute",
        nargs="*",
        metavar="NAME",
        help="run the notebooks (all, or those whose name starts with NAME) and commit their figures and text outputs",
    )
    args = parser.parse_args(argv)
    stale = []
    for name in NOTEBOOKS:
        path = NOTEBOOK_DIR / name
        text = render(name)
        if args.check:
            if not path.exists() or source_text(path) != text:
                stale.append(name)
        elif args.execute is not None:
            if args.execute and not any(name.startswith(prefix) for prefix in args.execute):
                continue
            NOTEBOOK_DIR.mkdir(exist_ok=True)
            path.write_text(nbformat.writes(execute(name)) + "\n", encoding="utf-8")
            print(f"executed {path.relative_to(ROOT)} ({path.stat().st_size // 1024} KiB)")
        else:
            NOTEBOOK_DIR.mkdir(exist_ok=True)
            nb = build(NOTEBOOKS[name])
            kept = keep_outputs(nb, nbformat.read(path, as_version=4)) if path.exists() else 0
            path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)} (outputs kept for {kept} unchanged code cells)")
    if stale:
        print(f"out of date (run python scripts/make_notebooks.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
