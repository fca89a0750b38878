"""Train a cat-vs-dog classifier with Keras 3 (TensorFlow), then look inside it with cnn-visualization.

    python examples/keras/cat_dog_classifier.py --data-dir data/pets                      # pretrained head
    python examples/keras/cat_dog_classifier.py --data-dir data/pets --model catdogcnn    # from scratch
    python examples/keras/cat_dog_classifier.py                                          # no data: demo

The PyTorch and Paddle twins, examples/pytorch/ and examples/paddle/cat_dog_classifier.py, have the same
options, functions and outputs; the framework-free parts (options, data, initial weights, output files)
are in visualization.tutorial. Those hand out channels-first numpy batches (N, 3, S, S); this script
turns each into the channels-last (N, S, S, 3) array Keras layers take, in to_tensor, and nowhere else.
What visualization.keras returns is channels-first, as in the other two frameworks.
See examples/README.md for every option and the accuracies to expect.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # write files, open no window

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from visualization import tutorial
from visualization.core.plotting.evolution import animate_feature_maps
from visualization.keras.cam_visualizer import GradCAM, GradCAMPlusPlus, ScoreCAM
from visualization.keras.layer_visualizer import CNNLayerVisualizer
from visualization.keras.models import CatDogCNN, catdog_weights_from_torch
from visualization.models import CAT_CLASSES, DOG_CLASSES, imagenet_class_names, load_model

FRAMEWORK = "keras"
CHECKPOINT = ".weights.h5"  # weights only (model.save_weights); read back with model.load_weights


def to_tensor(x: np.ndarray) -> np.ndarray:
    """A channels-first batch (N, C, H, W) of the tutorial as the channels-last array Keras takes (N, H, W, C)."""
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32).transpose(0, 2, 3, 1))


def build_model(args, num_classes: int) -> keras.Model:
    """CatDogCNN with seeded initial weights, or the pretrained EfficientNet-Lite0 with a new, seeded head."""
    weights = tutorial.initial_weights(args.model, num_classes, args.image_size, args.seed)  # torch layout
    if args.model == "catdogcnn":
        model = CatDogCNN(num_classes, args.image_size)
        model.set_weights(catdog_weights_from_torch(weights, args.image_size))  # the same numbers as torch/Paddle
        return model
    model = load_model("efficientnet-lite0", FRAMEWORK, num_classes=num_classes)  # pretrained
    head = model.get_layer("_fc")
    head.set_weights([weights["_fc.weight"].T, weights["_fc.bias"]])  # Dense kernels are (in, out)
    return model


def trainable(model: keras.Model, args) -> keras.layers.Layer:
    """The part that is trained: the whole CNN, or only EfficientNet's head (fed with cached features)."""
    return model if args.model == "catdogcnn" else model.get_layer("_fc")


def extract_features(model: keras.Model, data: tutorial.TrainingData, args, desc: str) -> np.ndarray:
    """Pooled 1280-d features of the frozen network, computed once per image."""
    rows = []
    for x, _ in tqdm(data.batches(args.batch_size), total=data.num_batches(args.batch_size), desc=desc):
        rows.append(np.asarray(model.forward_features(to_tensor(x), training=False)))
    return np.concatenate(rows)


def as_input(x: np.ndarray) -> np.ndarray:
    """Images become channels-last; cached feature rows (N, 1280) stay as they are."""
    return to_tensor(x) if x.ndim == 4 else np.asarray(x, np.float32)


def forward(net: keras.layers.Layer, x, training: bool):
    # inside a name scope: TensorFlow refuses a layer name with a leading underscore ("_fc") as a root scope
    with tf.name_scope("tutorial"):
        return net(x, training=training)


def predict(net: keras.layers.Layer, data: tutorial.TrainingData, args) -> np.ndarray:
    return np.concatenate([np.asarray(forward(net, as_input(x), False)) for x, _ in data.batches(args.batch_size)])


def snapshot(model: keras.Model, probe: np.ndarray, args, num_classes: int) -> np.ndarray:
    """One frame of the animation: how the fixed probe image looks inside the model right now."""
    layers = tutorial.LAYERS[args.model]
    if not layers.frozen:  # the network learns its features: watch them change
        maps = CNNLayerVisualizer(model).get_feature_maps(to_tensor(probe), layers.animated)  # (1, C, h, w)
        return maps[0, : tutorial.ANIMATED_CHANNELS]
    # EfficientNet's features are frozen (its maps never change): animate the head's Grad-CAM instead
    return tutorial.cam_frame(GradCAM(model, args.cam_layer).compute_many(to_tensor(probe), list(range(num_classes))))


def open_tensorboard(model: keras.Model, split: tutorial.Split, probes: tutorial.Probes, args):
    """The logger of --tensorboard DIR (None without it): the tutorial's layers and probe images, in TensorBoard."""
    if args.tensorboard is None:
        return None
    from visualization.keras.tensorboard import VisualizationLogger

    options = tutorial.tensorboard_options(args, probes, split.classes)
    return VisualizationLogger(model, args.tensorboard, to_tensor(probes.x), **options)


def train(model: keras.Model, split: tutorial.Split, probes: tutorial.Probes, args):
    """Adam on cross-entropy; returns the validation logits, the history and the animation frames."""
    n_classes = len(split.classes)
    train_data = tutorial.TrainingData(split.train, args.image_size, args.model)
    val_data = tutorial.TrainingData(split.val, args.image_size, args.model)
    if args.model == "efficientnet-lite0":  # frozen features: compute them once, then train the head on them
        train_data.features = extract_features(model, train_data, args, "features (train)")
        val_data.features = extract_features(model, val_data, args, "features (validation)")
    net = trainable(model, args)
    # torch's Adam defaults (epsilon 1e-8, Keras's is 1e-7), so the three scripts take the same steps
    optimizer = keras.optimizers.Adam(learning_rate=args.lr, epsilon=1e-8)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # mean over the batch, as F.cross_entropy

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = forward(net, x, True)
            loss = loss_fn(y, logits)
        variables = net.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss, logits

    rng = np.random.default_rng(args.seed)
    frames, history = [snapshot(model, probes.x[:1], args, n_classes)], []
    board = open_tensorboard(model, split, probes, args)
    if board is not None:
        board.log_epoch(0)  # step 0: before training
    for epoch in range(1, args.epochs + 1):
        losses, correct = [], 0
        batches = train_data.batches(args.batch_size, rng)
        for x, y in tqdm(batches, total=train_data.num_batches(args.batch_size), desc=f"epoch {epoch}", leave=False):
            loss, logits = step(tf.constant(as_input(x)), tf.constant(y.astype(np.int64)))
            losses.append(float(loss) * len(y))
            correct += int((np.asarray(logits).argmax(1) == y).sum())
        val_logits = predict(net, val_data, args)
        row = {"epoch": epoch, "loss": sum(losses) / len(train_data), "train_accuracy": correct / len(train_data)}
        row["val_accuracy"] = tutorial.accuracy(val_logits, split.val.labels)
        history.append(row)
        print(tutorial.epoch_line(epoch, args.epochs, row["loss"], row["train_accuracy"], row["val_accuracy"]))
        frames.append(snapshot(model, probes.x[:1], args, n_classes))
        if board is not None:  # the logger leaves trainable flags and weights as they were
            board.log_epoch(epoch, scalars=tutorial.epoch_scalars(row))
    if board is not None:
        board.close()
        print(f"TensorBoard event files in {args.tensorboard}; view them with: tensorboard --logdir {args.tensorboard}")
    return val_logits, history, frames


def visualize(model: keras.Model, split: tutorial.Split, probes: tutorial.Probes, frames, args) -> list:
    """Filters, feature maps, the three CAM methods, their comparison, a 3-D surface and the GIF."""
    layers, out, classes = tutorial.LAYERS[args.model], args.out, list(split.classes)
    x = to_tensor(probes.x)  # one validation image per class, channels-last; x[:1] is the probe
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
    logits = np.asarray(model(x, training=False))
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
        return tf.reduce_logsumexp(cats, axis=1) - tf.reduce_logsumexp(dogs, axis=1)

    cat_maps, dog_maps = (r.heatmaps for r in cam.compute_many(x, [cat_evidence, lambda z: -cat_evidence(z)]))
    fig = tutorial.demo_figure(crops, names, p_cat, p_dog, verdicts, cat_maps, dog_maps, layer)
    files.append(tutorial.save_figure(fig, out / "gradcam_cat_vs_dog.png"))
    tutorial.finish_demo(args, files, names, labels, p_cat, p_dog, verdicts)


def main(argv=None) -> None:
    args = tutorial.parse_args(FRAMEWORK, argv)
    keras.utils.set_random_seed(args.seed)  # Python, numpy and TensorFlow: a run repeats to the last digit
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
    model.save_weights(checkpoint)
    files = [checkpoint, *visualize(model, split, probes, frames, args)]
    tutorial.finish_training(args, files, split, probes, history, tutorial.accuracy(val_logits, split.val.labels))


if __name__ == "__main__":
    main()
