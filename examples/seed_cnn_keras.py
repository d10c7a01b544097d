"""The seed's CNN in Keras 3, the same network as examples/seed_cnn.toml (NHWC).

    KERAS_BACKEND=torch stridescope summary examples/seed_cnn_keras.py:build

Layers are named explicitly (Keras numbers default names per session), so every build reads
the same as the spec file.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
from keras import layers


def build(num_classes: int = 10) -> keras.Model:
    """54,922 parameters; shapes (None,30,30,32) → (None,15,15,32) → (None,13,13,64) →
    (None,7,7,64) → (None,3136) → (None,10)."""
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(32, (3, 3), activation="relu", name="conv2d"),
            layers.MaxPooling2D((2, 2), name="max_pooling2d"),
            layers.Conv2D(64, (3, 3), activation="relu", name="conv2d_1"),
            layers.Conv2D(64, (1, 1), strides=2, activation="relu", name="conv2d_2"),
            layers.Flatten(name="flatten"),
            layers.Dense(num_classes, activation="softmax", name="dense"),
        ],
        name="seed_cnn",
    )
