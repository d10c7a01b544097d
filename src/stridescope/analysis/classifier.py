"""A trained model seen as a classifier of images, and images fitted to it.

:func:`classifier` wraps a PyTorch module or a Keras model (on the torch backend) as one
function from ``(N, C, H, W)`` float images to ``(N, classes)`` logits, evaluated in batches
without gradients, with the number of channels its first layer takes. :func:`fit_images`
resizes images and repeats grayscale to three channels when the model takes three;
:func:`check_classifier` checks, on two images, that the model takes them and gives one logit
per class — otherwise a one-line error naming the shapes. What ``stridescope consistency``
and a study of the user's own model run before anything else.

>>> import torch
>>> from torch import nn
>>> model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
>>> clf = classifier(model)
>>> clf.framework, clf.channels
('torch', 3)
>>> x = fit_images(torch.zeros(5, 1, 28, 28), channels=clf.channels, image_size=32)
>>> tuple(x.shape), tuple(clf.predict(x).shape)
((5, 3, 32, 32), (5, 10))
>>> check_classifier(clf, x, num_classes=2)
Traceback (most recent call last):
...
stridescope.errors.StridescopeError: the model gives logits of shape (2, 10) for images (2, 3, 32, 32); the data has 2 classes: it must give one logit per class, (N, 2)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frameworks import is_keras_model

__all__ = ["Classifier", "check_classifier", "classifier", "fit_images"]

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class Classifier:
    """``predict(x)``: the logits ``(N, classes)`` of float images ``x`` ``(N, C, H, W)``,
    in eval mode, without gradients, in batches of ``batch``; ``channels``: what the model's
    first layer takes (``None``: unknown, e.g. a first dense layer); ``size``: the ``(H, W)``
    its input fixes (a Keras model's input; ``None``: not fixed or unknown)."""

    predict: Callable[[torch.Tensor], torch.Tensor]
    channels: int | None
    framework: Literal["torch", "keras"]
    size: tuple[int, int] | None = None


def _keras(model: Any, batch: int) -> Classifier:
    import keras

    shape = tuple(model.inputs[0].shape) if model.inputs else None
    channels = None if shape is None or shape[-1] is None else int(shape[-1])
    size = None
    if shape is not None and len(shape) == 4 and None not in shape[1:3]:
        size = (int(shape[1]), int(shape[2]))

    def predict(x: torch.Tensor) -> torch.Tensor:
        outs = []
        for i in range(0, len(x), batch):
            nhwc = x[i : i + batch].permute(0, 2, 3, 1)  # Keras layers are channels-last
            out = model(nhwc, training=False)
            outs.append(torch.as_tensor(keras.ops.convert_to_numpy(out)))
        return torch.cat(outs)

    return Classifier(predict, channels, "keras", size)


def _torch(model: nn.Module, batch: int) -> Classifier:
    first = next((m for m in model.modules() if isinstance(m, _CONVS)), None)
    channels = None if first is None else int(first.in_channels)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))

    @torch.no_grad()
    def predict(x: torch.Tensor) -> torch.Tensor:
        was_training = model.training
        model.eval()
        try:
            outs = [
                model(x[i : i + batch].to(device)).float().cpu() for i in range(0, len(x), batch)
            ]
        finally:
            model.train(was_training)
        return torch.cat(outs)

    return Classifier(predict, channels, "torch")


def classifier(model: object, batch: int = 256) -> Classifier:
    """``model`` (an ``nn.Module`` or a Keras model) as a :class:`Classifier`."""
    if batch < 1:
        raise StridescopeError(f"batch must be at least 1; received {batch}")
    if is_keras_model(model):
        return _keras(model, batch)
    if isinstance(model, nn.Module):
        return _torch(model, batch)
    raise StridescopeError(
        f"expected a torch.nn.Module or a Keras model; received {type(model).__name__}"
    )


def fit_images(x: torch.Tensor, *, channels: int | None, image_size: int | None) -> torch.Tensor:
    """Images ``(N, C, H, W)`` fitted to a model: resized to ``image_size`` x ``image_size``
    (bilinear, antialiased; ``None`` keeps their size), grayscale repeated to three channels
    when the model's first layer takes three. Other channel mismatches are an error."""
    if x.ndim != 4:
        raise StridescopeError(f"images must be (N, C, H, W); received shape {tuple(x.shape)}")
    if image_size is not None:
        if image_size < 1:
            raise StridescopeError(f"image size must be at least 1; received {image_size}")
        if tuple(x.shape[2:]) != (image_size, image_size):
            size = (image_size, image_size)
            try:
                x = F.interpolate(
                    x, size=size, mode="bilinear", antialias=True, align_corners=False
                )
            except (MemoryError, RuntimeError) as error:  # (no memory for them: one line)
                need = x.shape[0] * x.shape[1] * image_size**2 * x.element_size()
                raise StridescopeError(
                    f"{x.shape[0]} images of {image_size}x{image_size} take {need / 2**30:,.1f} "
                    f"GiB, which this machine cannot give ({str(error).splitlines()[0][:80]}); "
                    "choose a smaller image size"
                ) from None
    have = int(x.shape[1])
    if channels is None or channels == have:
        return x
    if have == 1 and channels == 3:
        return x.repeat(1, 3, 1, 1)  # (N, 3, H, W)
    raise StridescopeError(
        f"the model's first layer takes {channels} channels; the images have {have} (only "
        "grayscale images are repeated, to 3 channels)"
    )


def check_classifier(clf: Classifier, x: torch.Tensor, num_classes: int) -> None:
    """Run the model on two images of ``x``: it must take them and give ``(2, num_classes)``
    logits; otherwise a one-line error naming the shapes."""
    probe = x[:2]
    shape = tuple(probe.shape)
    if clf.size is not None and tuple(shape[2:]) != clf.size:
        h, w = clf.size
        raise StridescopeError(
            f"the model takes {h}x{w} images; the data's are {shape[2]}x{shape[3]} (give an "
            f"image size of {h})" + ("" if h == w else "; the model's input is not square")
        )
    try:
        out = clf.predict(probe)
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise StridescopeError(
            f"the model cannot take images {shape}: {type(error).__name__}: {first}"
        ) from None
    if tuple(out.shape) != (len(probe), num_classes):
        raise StridescopeError(
            f"the model gives logits of shape {tuple(out.shape)} for images {shape}; the data "
            f"has {num_classes} classes: it must give one logit per class, (N, {num_classes})"
        )
