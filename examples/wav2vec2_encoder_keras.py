"""The wav2vec2-style feature encoder of examples/wav2vec2_encoder.py in Keras 3 (channels
last, (N, L, 1)): seven Conv1D layers of 512 filters, kernels (10, 3, 3, 3, 3, 2, 2), strides
(5, 2, 2, 2, 2, 2, 2), no bias, GELU, a GroupNormalization after the first.

stridescope summary examples/wav2vec2_encoder_keras.py:build --sample-rate 16000
"""

from __future__ import annotations

from typing import Any

KERNELS = (10, 3, 3, 3, 3, 2, 2)
STRIDES = (5, 2, 2, 2, 2, 2, 2)


def build(samples: int = 16000, channels: int = 512) -> Any:
    """The encoder on ``samples`` samples of mono audio (4,200,448 parameters, as in
    PyTorch)."""
    import keras

    inputs = keras.Input((samples, 1))
    x = inputs
    for index, (kernel, stride) in enumerate(zip(KERNELS, STRIDES, strict=True)):
        x = keras.layers.Conv1D(channels, kernel, strides=stride, use_bias=False)(x)
        if index == 0:
            x = keras.layers.GroupNormalization(groups=channels)(x)
        x = keras.layers.Activation("gelu")(x)
    return keras.Model(inputs, x, name="wav2vec2_encoder")
