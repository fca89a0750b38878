"""Train a cat-vs-dog classifier with PaddlePaddle, then look inside it with cnn-visualization.

    python examples/paddle/cat_dog_classifier.py --data-dir data/pets                      # pretrained head
    python examples/paddle/cat_dog_classifier.py --data-dir data/pets --model catdogcnn    # from scratch
    python examples/paddle/cat_dog_classifier.py                                          # no data: demo

The PyTorch twin, examples/pytorch/cat_dog_classifier.py, has the same options, functions and outputs;
the framework-free parts (options, data, initial weights, output files) are in visualization.tutorial.
See examples/README.md for every option and the accuracies to expect.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # write files, open no window

import numpy as np
import paddle
import paddle.nn.functional as F
from tqdm import tqdm

from visualization import tutorial
from visualization.convert import torch_to_paddle_state_dict
from visualization.core.plotting.evolution import animate_feature_maps
from visualization.models import CAT_CLASSES, DOG_CLASSES, imagenet_class_names, load_model
from visualization.paddle.cam_visualizer import GradCAM, GradCAMPlusPlus, ScoreCAM
from visualization.paddle.layer_visualizer import CNNLayerVisualizer
from visualization.paddle.models import CatDogCNN
from visualization.paddle.tensorboard import VisualizationLogger

FRAMEWORK = "paddle"
CHECKPOINT = ".pdparams"  # a state_dict; read it back with visualization.models.pdparams.load_pdparams


def to_tensor(x: np.ndarray) -> paddle.Tensor:
    return paddle.to_tensor(np.ascontiguousarray(x, dtype=np.float32))


def build_model(args, num_classes: int) -> paddle.nn.Layer:
    """CatDogCNN with seeded initial weights, or the pretrained EfficientNet-Lite0 with a new, seeded head."""
    # torch layout -> Paddle layout (Linear weights transposed), so both frameworks start from the same numbers
    weights = torch_to_paddle_state_dict(tutorial.initial_weights(args.model, num_classes, args.image_size, args.seed))
    if args.model == "catdogcnn":
        model = CatDogCNN(num_classes, args.image_size)
        model.set_state_dict(weights)
        return model
    model = load_model("efficientnet-lite0", FRAMEWORK, num_classes=num_classes)  # pretrained, eval mode
    for p in model.parameters():  # frozen features: only the head learns
        p.stop_gradient = True
    model._fc.set_state_dict({k.removeprefix("_fc."): v for k, v in weights.items()})
    for p in model._fc.parameters():
        p.stop_gradient = False
    return model


def trainable(model: paddle.nn.Layer, args) -> paddle.nn.Layer:
    """The part that is trained: the whole CNN, or only EfficientNet's head (fed with cached features)."""
    return model if args.model == "catdogcnn" else model._fc


def extract_features(model: paddle.nn.Layer, data: tutorial.TrainingData, args, desc: str) -> np.ndarray:
    """Pooled 1280-d features of the frozen network, computed once per image."""
    rows = []
    with paddle.no_grad():
        for x, _ in tqdm(data.batches(args.batch_size), total=data.num_batches(args.batch_size), desc=desc):
            rows.append(model.forward_features(to_tensor(x)).numpy())
    return np.concatenate(rows)


def predict(net: paddle.nn.Layer, data: tutorial.TrainingData, args) -> np.ndarray:
    net.eval()
    with paddle.no_grad():
        return np.concatenate([net(to_tensor(x)).numpy() for x, _ in data.batches(args.batch_size)])


def snapshot(model: paddle.nn.Layer, probe: np.ndarray, args, num_classes: int) -> np.ndarray:
    """One frame of the animation: how the fixed probe image looks inside the model right now."""
    layers = tutorial.LAYERS[args.model]
    if not layers.frozen:  # the network learns its features: watch them change
        maps = CNNLayerVisualizer(model).get_feature_maps(to_tensor(probe), layers.animated)
        return maps[0, : tutorial.ANIMATED_CHANNELS]
    # EfficientNet's features are frozen (its maps never change): animate the head's Grad-CAM instead
    return tutorial.cam_frame(GradCAM(model, args.cam_layer).compute_many(to_tensor(probe), list(range(num_classes))))


def open_tensorboard(model: paddle.nn.Layer, split: tutorial.Split, probes: tutorial.Probes, args):
    """The logger of --tensorboard DIR (None without it): the tutorial's layers and probe images, in TensorBoard."""
    if args.tensorboard is None:
        return None
    options = tutorial.tensorboard_options(args, probes, split.classes)
    return VisualizationLogger(model, args.tensorboard, to_tensor(probes.x), **options)


def train(model: paddle.nn.Layer, split: tutorial.Split, probes: tutorial.Probes, args):
    """Adam on cross-entropy; returns the validation logits, the history and the animation frames."""
    n_classes = len(split.classes)
    train_data = tutorial.TrainingData(split.train, args.image_size, args.model)
    val_data = tutorial.TrainingData(split.val, args.image_size, args.model)
    if args.model == "efficientnet-lite0":  # frozen features: compute them once, then train the head on them
        train_data.features = extract_features(model, train_data, args, "features (train)")
        val_data.features = extract_features(model, val_data, args, "features (validation)")
    net = trainable(model, args)
    optimizer = paddle.optimizer.Adam(learning_rate=args.lr, parameters=net.parameters())
    rng = np.random.default_rng(args.seed)
    frames, history = [snapshot(model, probes.x[:1], args, n_classes)], []
    board = open_tensorboard(model, split, probes, args)
    if board is not None:
        board.log_epoch(0)  # step 0: before training
    for epoch in range(1, args.epochs + 1):
        net.train()
        losses, correct = [], 0
        batches = train_data.batches(args.batch_size, rng)
        for x, y in tqdm(batches, total=train_data.num_batches(args.batch_size), desc=f"epoch {epoch}", leave=False):
            logits = net(to_tensor(x))
            loss = F.cross_entropy(logits, paddle.to_tensor(y))
            loss.backward()
            optimizer.step()
            optimizer.clear_grad()
            losses.append(loss.item() * len(y))
            correct += int((logits.argmax(1).numpy() == y).sum())
        val_logits = predict(net, val_data, args)
        row = {"epoch": epoch, "loss": sum(losses) / len(train_data), "train_accuracy": correct / len(train_data)}
        row["val_accuracy"] = tutorial.accuracy(val_logits, split.val.labels)
        history.append(row)
        print(tutorial.epoch_line(epoch, args.epochs, row["loss"], row["train_accuracy"], row["val_accuracy"]))
        frames.append(snapshot(model, probes.x[:1], args, n_classes))
        if board is not None:  # the logger leaves train/eval flags, weights and gradients as they were
            board.log_epoch(epoch, scalars=tutorial.epoch_scalars(row))
    if board is not None:
        board.close()
        print(f"TensorBoard event files in {args.tensorboard}; view them with: tensorboard --logdir {args.tensorboard}")
    model.eval()
    return val_logits, history, frames


def visualize(model: paddle.nn.Layer, split: tutorial.Split, probes: tutorial.Probes, frames, args) -> list:
    """Filters, feature maps, the three CAM methods, their comparison, a 3-D surface and the GIF."""
    layers, out, classes = tutorial.LAYERS[args.model], args.out, list(split.classes)
    x = to_tensor(probes.x)  # one validation image per class; x[:1] is the probe
    v = CNNLayerVisualizer(model)
    files = [
        tutorial.save_figure(v.visualize_conv_filters(name), out / f"filters_{name}.png") for name in layers.filters
    ]
    for name in layers.feature_maps:
        fig = v.visualize_feature_maps(x[:1], name, max_maps=16, order="activation")
        files.append(tutorial.save_figure(fig, out / f"feature_maps_{name}.png"))
    # Each method once for both images: Score-CAM runs the network once per channel of the layer (up to
    # 1280 times per image at EfficientNet's _act1), so its maps are computed once and drawn twice.
    layer = args.cam_layer
    cams = [GradCAM(model, layer), GradCAMPlusPlus(model, layer), ScoreCAM(model, layer, progress=True)]
    results = [cam.compute(x, probes.labels.tolist()) for cam in cams]
    files += tutorial.save_cam_figures(results, probes, classes, out)
    fig = v.visualize_feature_map_surface(x[:1], layers.surface)
    files.append(tutorial.save_figure(fig, out / f"surface_{layers.surface}.png"))
    fig = v.visualize_feature_map_surface(x[:1], layers.surface, interactive=True)
    files.append(tutorial.save_html(fig, out / f"surface_{layers.surface}.html"))
    gif, title = tutorial.animation_file(args, probes.names[0], classes)
    files.append(animate_feature_maps(frames, gif, labels=tutorial.animation_labels(args.epochs), title=title))
    return files


def run_demo(args) -> None:
    """No data: ask the pretrained ImageNet network cat or dog about the photos bundled with scikit-image."""
    print("no --data-dir given: demo with the pretrained EfficientNet-Lite0 on photos bundled with scikit-image\n")
    model = load_model("efficientnet-lite0", FRAMEWORK)  # 1000 ImageNet classes
    x_np, crops, names, labels = tutorial.demo_photos(args.image_size)
    x = to_tensor(x_np)
    with paddle.no_grad():
        logits = model(x).numpy()
    p_cat, p_dog = tutorial.cat_dog_probabilities(logits)
    verdicts = tutorial.demo_verdicts(p_cat, p_dog)
    layer, out = args.cam_layer, args.out
    cam = GradCAM(model, layer)
    files = []
    for i, name in enumerate(names):  # the top ImageNet class of each photo
        fig = cam.visualize_cam(x[i : i + 1], None, original_image=crops[i], class_names=imagenet_class_names())
        files.append(tutorial.save_figure(fig, out / f"gradcam_{name}.png"))

    def cat_evidence(logits):  # log-odds of "some cat class" against "some dog class"
        cats, dogs = logits[:, CAT_CLASSES.start : CAT_CLASSES.stop], logits[:, DOG_CLASSES.start : DOG_CLASSES.stop]
        return paddle.logsumexp(cats, axis=1) - paddle.logsumexp(dogs, axis=1)

    cat_maps, dog_maps = (r.heatmaps for r in cam.compute_many(x, [cat_evidence, lambda z: -cat_evidence(z)]))
    fig = tutorial.demo_figure(crops, names, p_cat, p_dog, verdicts, cat_maps, dog_maps, layer)
    files.append(tutorial.save_figure(fig, out / "gradcam_cat_vs_dog.png"))
    tutorial.finish_demo(args, files, names, labels, p_cat, p_dog, verdicts)


def main(argv=None) -> None:
    args = tutorial.parse_args(FRAMEWORK, argv)
    paddle.seed(args.seed)
    if args.data_dir is None:
        run_demo(args)
        return
    split = tutorial.load_split(args)
    probes = tutorial.pick_probes(split.val, args.image_size, args.model)
    model = build_model(args, len(split.classes))
    tutorial.check_layer(args.cam_layer, CNNLayerVisualizer(model).layer_names())
    val_logits, history, frames = train(model, split, probes, args)
    checkpoint = args.out / f"{args.model}{CHECKPOINT}"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    paddle.save(model.state_dict(), str(checkpoint))
    files = [checkpoint, *visualize(model, split, probes, frames, args)]
    tutorial.finish_training(args, files, split, probes, history, tutorial.accuracy(val_logits, split.val.labels))


if __name__ == "__main__":
    main()
