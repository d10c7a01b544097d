"""Shift-consistency of a trained classifier: the shifts against numpy index arithmetic, the
whole measurement against a direct computation image by image, and the result Chaman &
Dokmanić report: with circular padding and adaptive polyphase sampling at every downsampling,
a network is exactly invariant to circular shifts (circular consistency 1.0), where the same
network with strided convs is not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import stridescope
from stridescope.analysis.classifier import classifier
from stridescope.analysis.consistency import (
    ConsistencyOptions,
    background_value,
    draw_shifts,
    measure_consistency,
    roll,
    translate,
)
from stridescope.errors import StridescopeError


def _translate_by_hand(image: np.ndarray, dy: int, dx: int, fill: np.ndarray) -> np.ndarray:
    """Content moved down by dy and right by dx, pixel by pixel."""
    c, h, w = image.shape
    out = np.empty_like(image)
    for ch in range(c):
        for i in range(h):
            for j in range(w):
                inside = i - dy >= 0 and j - dx >= 0
                out[ch, i, j] = image[ch, i - dy, j - dx] if inside else fill[ch]
    return out


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(2, 7),
    st.integers(2, 7),
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=3),
)
def test_translate_and_roll_match_index_arithmetic(
    c: int, h: int, w: int, shifts: list[tuple[int, int]]
) -> None:
    n = len(shifts)
    x = torch.randn(n, c, h, w)
    fill = torch.randn(c)
    moves = torch.tensor(shifts)
    moved, rolled = translate(x, moves, fill), roll(x, moves)
    for k, (dy, dx) in enumerate(shifts):
        image = x[k].numpy()
        expected = _translate_by_hand(image, dy, dx, fill.numpy())
        assert np.array_equal(moved[k].numpy(), expected)
        assert np.array_equal(rolled[k].numpy(), np.roll(image, (dy, dx), axis=(1, 2)))


def test_background_is_the_median_of_the_outer_ring() -> None:
    x = torch.zeros(3, 2, 6, 6)
    x[:, 1] = 5.0
    x[:, :, 2:4, 2:4] = 9.0
    assert background_value(x).tolist() == [0.0, 5.0]


def _net(padding_mode: str = "zeros", classes: int = 5) -> nn.Module:
    """Convs without biases and a linear layer without one, so that the logits follow the
    image (random weights with biases give every image the same class)."""
    torch.manual_seed(0)
    convs = [
        nn.Conv2d(2, 6, 3, padding=1, padding_mode=padding_mode, bias=False),
        nn.Conv2d(6, 8, 3, stride=2, padding=1, padding_mode=padding_mode, bias=False),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode=padding_mode, bias=False),
    ]
    return nn.Sequential(
        convs[0],
        nn.ReLU(),
        convs[1],
        nn.ReLU(),
        convs[2],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, classes, bias=False),
    )


@torch.no_grad()
def _direct(model: nn.Module, x: torch.Tensor, y: torch.Tensor, k: int, seed: int) -> dict:
    """The measurement, image by image, with numpy shifts and the same drawn offsets."""
    model.eval()
    images = x.numpy()
    fill = background_value(x).numpy()
    draws = draw_shifts(len(x), k, seed).numpy()

    def predict(image: np.ndarray) -> torch.Tensor:
        return model(torch.from_numpy(np.ascontiguousarray(image))[None])[0]

    correct = agree = circular = 0
    for i, image in enumerate(images):
        correct += int(predict(image).argmax() == y[i])
        (ay, ax), (by, bx) = draws[0, i], draws[1, i]
        one = predict(_translate_by_hand(image, ay, ax, fill)).argmax()
        two = predict(_translate_by_hand(image, by, bx, fill)).argmax()
        agree += int(one == two)
        one = predict(np.roll(image, (ay, ax), axis=(1, 2))).argmax()
        two = predict(np.roll(image, (by, bx), axis=(1, 2))).argmax()
        circular += int(one == two)
    curve = []
    for s in range(k + 1):
        probs = [
            torch.softmax(predict(_translate_by_hand(im, s, s, fill)).double(), 0)[int(y[i])]
            for i, im in enumerate(images)
        ]
        curve.append(float(np.mean(probs)))
    n = len(images)
    return {
        "accuracy": correct / n,
        "consistency": agree / n,
        "circular": circular / n,
        "curve": curve,
    }


def test_the_measurement_agrees_with_a_direct_computation() -> None:
    model = _net()
    torch.manual_seed(1)
    x, y = torch.randn(24, 2, 12, 12), torch.randint(0, 5, (24,))
    k, seed = 4, 7
    clf = classifier(model, batch=5)  # several batches
    result = measure_consistency(clf.predict, x, y, ConsistencyOptions(max_shift=k, seed=seed))
    direct = _direct(model, x, y, k, seed)
    assert result.accuracy == direct["accuracy"]
    assert result.consistency == direct["consistency"]
    assert result.circular_consistency == direct["circular"]
    assert [p.shift for p in result.shift_curve] == list(range(k + 1))
    assert [p.p_correct for p in result.shift_curve] == pytest.approx(direct["curve"], abs=1e-6)
    low, high = result.consistency_ci
    assert 0.0 <= low <= result.consistency <= high <= 1.0 and high - low > 0.05
    assert (result.images, result.max_shift, result.seed) == (24, k, seed)
    doc = result.to_dict()
    assert set(doc) >= {"accuracy", "consistency", "consistency_ci", "circular_consistency"}
    assert doc["shift_curve"][0] == {"shift": 0, "p_correct": result.shift_curve[0].p_correct}


def test_circular_padding_and_aps_everywhere_is_exactly_circular_consistent() -> None:
    """Chaman & Dokmanić 2021: circular padding + APS at every downsampling."""
    model = _net("circular", classes=10)
    torch.manual_seed(2)
    x, y = torch.randn(96, 2, 16, 16), torch.randint(0, 10, (96,))
    options = ConsistencyOptions(max_shift=8, seed=3)
    fixed = stridescope.fix(model, "aps", input_shape=(1, 2, 16, 16))
    assert len(fixed.changes) == 2  # both strided convs: conv at stride 1, then APS
    before = measure_consistency(_predict(model), x, y, options)
    after = measure_consistency(_predict(fixed.model), x, y, options)
    assert len({int(c) for c in _predict(fixed.model)(x).argmax(1)}) >= 3  # classes vary
    assert before.circular_consistency < 0.9  # strided convs are not shift-invariant
    assert after.circular_consistency == 1.0


def _predict(model: nn.Module):  # type: ignore[no-untyped-def]
    return classifier(model).predict


@pytest.mark.parametrize(
    ("shape", "options", "message"),
    [
        ((4, 1, 6, 6), ConsistencyOptions(max_shift=6), "smaller than the images (6x6)"),
        ((4, 1, 6, 6), ConsistencyOptions(max_shift=0), "at least 1; received 0"),
        ((0, 1, 6, 6), ConsistencyOptions(max_shift=2), "received 0 and 0"),
    ],
)
def test_bad_measurements_are_one_line_errors(
    shape: tuple[int, ...], options: ConsistencyOptions, message: str
) -> None:
    x = torch.zeros(shape)
    y = torch.zeros(shape[0], dtype=torch.long)
    with pytest.raises(StridescopeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        measure_consistency(lambda t: torch.zeros(len(t), 3), x, y, options)


@pytest.mark.parametrize(("size", "k"), [(8, 1), (28, 4), (32, 4), (224, 32)])
def test_the_default_shift_is_a_seventh_of_the_image(size: int, k: int) -> None:
    x, y = torch.zeros(2, 1, size, size), torch.zeros(2, dtype=torch.long)
    result = measure_consistency(lambda t: torch.zeros(len(t), 3), x, y)
    assert result.max_shift == k and len(result.shift_curve) == k + 1
