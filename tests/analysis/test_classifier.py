"""A trained model as a classifier of NCHW images, PyTorch and Keras alike, and images fitted
to it: resized, grayscale repeated to three channels when the first layer takes three, and a
one-line error naming the shapes when the output is not one logit per class."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import torch
from torch import nn

from stridescope.analysis.classifier import check_classifier, classifier, fit_images
from stridescope.errors import StridescopeError


def _torch_net(channels: int = 3, classes: int = 4) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 5, 3, padding=1),
        nn.BatchNorm2d(5),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(5, classes),
    )


def _keras_net(size: int = 12, channels: int = 3, classes: int = 4) -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, channels))
    x = keras.layers.Conv2D(5, 3, strides=2, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


def test_a_torch_model_predicts_in_eval_mode_in_batches_and_keeps_its_mode() -> None:
    model = _torch_net()
    model.train()
    clf = classifier(model, batch=3)
    x = torch.randn(7, 3, 10, 10)
    with torch.no_grad():
        expected = model.eval()(x)
    model.train()
    assert (clf.framework, clf.channels) == ("torch", 3)
    assert torch.allclose(clf.predict(x), expected, atol=1e-6)
    assert model.training  # restored


def test_a_keras_model_gets_channels_last_images() -> None:
    model = _keras_net()
    clf = classifier(model, batch=4)
    assert (clf.framework, clf.channels) == ("keras", 3)
    x = torch.randn(6, 3, 12, 12)
    direct = keras.ops.convert_to_numpy(model(x.permute(0, 2, 3, 1).numpy(), training=False))
    assert np.allclose(clf.predict(x).numpy(), direct, atol=1e-5)


@pytest.mark.parametrize(
    ("shape", "channels", "size", "expected"),
    [
        ((2, 1, 28, 28), 3, None, (2, 3, 28, 28)),  # grayscale repeated
        ((2, 1, 28, 28), 1, 32, (2, 1, 32, 32)),  # resized
        ((2, 1, 28, 28), 3, 16, (2, 3, 16, 16)),  # both
        ((2, 3, 8, 8), None, None, (2, 3, 8, 8)),  # first layer unknown: as they are
    ],
)
def test_images_are_fitted_to_the_model(
    shape: tuple[int, ...], channels: int | None, size: int | None, expected: tuple[int, ...]
) -> None:
    x = torch.rand(shape)
    fitted = fit_images(x, channels=channels, image_size=size)
    assert tuple(fitted.shape) == expected
    if size is None and channels == 3 and shape[1] == 1:
        assert torch.equal(fitted[:, 2], x[:, 0])


def test_a_constant_image_stays_constant_when_resized() -> None:
    fitted = fit_images(torch.full((1, 1, 28, 28), 0.5), channels=1, image_size=40)
    assert torch.allclose(fitted, torch.full_like(fitted, 0.5))


@pytest.mark.parametrize(
    ("shape", "channels", "size", "message"),
    [
        ((2, 2, 8, 8), 3, None, "takes 3 channels; the images have 2"),
        ((2, 3, 8, 8), 1, None, "takes 1 channels; the images have 3"),
        ((2, 1, 8, 8), 1, 0, "image size must be at least 1; received 0"),
        ((8, 8), 1, None, "must be (N, C, H, W); received shape (8, 8)"),
    ],
)
def test_images_that_do_not_fit_are_refused(
    shape: tuple[int, ...], channels: int, size: int | None, message: str
) -> None:
    with pytest.raises(StridescopeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_images(torch.zeros(shape), channels=channels, image_size=size)


def test_the_output_must_be_one_logit_per_class() -> None:
    clf = classifier(_torch_net(classes=4))
    x = torch.zeros(5, 3, 8, 8)
    check_classifier(clf, x, num_classes=4)
    with pytest.raises(StridescopeError) as error:
        check_classifier(clf, x, num_classes=10)
    assert str(error.value) == (
        "the model gives logits of shape (2, 4) for images (2, 3, 8, 8); the data has 10 "
        "classes: it must give one logit per class, (N, 10)"
    )


def test_a_model_that_cannot_take_the_images_says_so_in_one_line() -> None:
    clf = classifier(nn.Sequential(nn.Flatten(), nn.Linear(64, 10)))
    with pytest.raises(
        StridescopeError, match=r"cannot take images \(2, 1, 28, 28\): Runtime"
    ) as e:
        check_classifier(clf, torch.zeros(3, 1, 28, 28), num_classes=10)
    assert "\n" not in str(e.value)


def test_a_keras_model_names_the_image_size_it_takes() -> None:
    clf = classifier(_keras_net(size=12))
    assert clf.size == (12, 12)
    with pytest.raises(StridescopeError) as error:
        check_classifier(clf, torch.zeros(3, 3, 8, 8), num_classes=4)
    assert str(error.value) == (
        "the model takes 12x12 images; the data's are 8x8 (give an image size of 12)"
    )
    check_classifier(clf, fit_images(torch.zeros(3, 1, 8, 8), channels=3, image_size=12), 4)


def test_only_models_are_classifiers() -> None:
    with pytest.raises(StridescopeError, match="received str"):
        classifier("model.pt")
