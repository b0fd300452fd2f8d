"""The networks: our compact CNN and the original app's ("seed") as a baseline.

Both take raw 0..255 float32 pixels of shape (28, 28, 1) and rescale inside
the model, so the exported .tflite needs no preprocessing beyond the sketch pipeline.
"""

import keras
import numpy as np
from keras import layers

INPUT_SHAPE = (28, 28, 1)
ARCHS = ("ours", "seed")


def build(arch: str, n_classes: int, width: int = 24, dropout: float = 0.1) -> keras.Model:
    """The named architecture with a softmax over ``n_classes``."""
    if arch == "ours":
        return ours(n_classes, width, dropout)
    if arch == "seed":
        return seed(n_classes)
    raise ValueError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}")


def _conv_block(x, filters: int):
    # No bias before BatchNorm: BN's shift does its job.
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    return layers.ReLU()(x)


def ours(n_classes: int, width: int = 24, dropout: float = 0.1) -> keras.Model:
    """Three conv stages (width, 2·width, 4·width) with BatchNorm, a small dense head."""
    inputs = keras.Input(INPUT_SHAPE, name="pixels")
    x = layers.Rescaling(1 / 255)(inputs)
    x = _conv_block(x, width)
    x = layers.MaxPooling2D()(x)  # 14×14
    x = _conv_block(x, 2 * width)
    x = _conv_block(x, 2 * width)
    x = layers.MaxPooling2D()(x)  # 7×7
    x = _conv_block(x, 4 * width)
    x = layers.MaxPooling2D()(x)  # 3×3: keep the layout, sketches are about where strokes are
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="ours")


def served(members: list[keras.Model], mirror_average: bool = True) -> keras.Model:
    """One model for serving: the mean of every member's probabilities, over the drawing and its mirror image.

    Sketches face either way and training mirrors them, so averaging both views is
    a cheap, serving-side gain; so is averaging nets trained from different seeds.
    The flip is a fixed 28×28 permutation matrix, so the export needs no extra op.
    """
    nets = [copy(member) for member in members]
    for i, net in enumerate(nets):
        net.name = f"{net.name}_{i}"  # unique layer names inside the combined model
    inputs = keras.Input(INPUT_SHAPE, name="pixels")
    views = [inputs]
    if mirror_average:
        columns = layers.Permute((1, 3, 2))(inputs)  # (28, 1, 28): width last
        flip = layers.Dense(INPUT_SHAPE[1], use_bias=False, trainable=False, name="mirror")
        views.append(layers.Permute((1, 3, 2))(flip(columns)))
        flip.set_weights([np.eye(INPUT_SHAPE[1], dtype="float32")[::-1]])
    outputs = [net(view) for net in nets for view in views]
    if len(outputs) == 1:
        return keras.Model(inputs, layers.Identity(name="probabilities")(outputs[0]), name=nets[0].name)
    return keras.Model(inputs, layers.Average(name="probabilities")(outputs), name="served")


def copy(model: keras.Model) -> keras.Model:
    """The same network with the same weights, uncompiled and outside any distribution strategy."""
    twin = keras.Model.from_config(model.get_config())  # the saved file carries no optimizer state
    twin.set_weights(model.get_weights())
    return twin


def seed(n_classes: int) -> keras.Model:
    """The original Flask app's network, unchanged apart from the input rescaling."""
    inputs = keras.Input(INPUT_SHAPE, name="pixels")
    x = layers.Rescaling(1 / 255)(inputs)
    x = layers.Conv2D(30, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(15, 3, activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Dropout(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="seed")
