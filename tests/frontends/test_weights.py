"""Trained weights into a model, safely: a PyTorch state_dict read with weights_only=True,
the weights of a .keras file loaded with safe_mode=True, and a factory called with
num_classes= when it takes it. Every mismatch is one line that names it."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import torch
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends.load import load_model
from stridescope.frontends.weights import load_weights


def _net(classes: int = 3) -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2 * 4 * 4, classes))


def test_a_state_dict_loads_bit_for_bit(tmp_path: Path) -> None:
    trained = _net()
    path = tmp_path / "w.pt"
    torch.save(trained.state_dict(), path)
    fresh = load_weights(_net(), path)
    for key, value in trained.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)


@pytest.mark.parametrize(
    ("saved", "message"),
    [
        (lambda: _net(5).state_dict(), "2.weight: (5, 32) in the file, (3, 32) in the model"),
        (lambda: {"0.weight": torch.zeros(2, 1, 3, 3)}, "0.bias: missing in the file"),
        (lambda: [torch.zeros(1)], "holds list, not a state_dict"),
    ],
)
def test_weights_that_do_not_fit_are_named(saved, message: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "w.pt"
    torch.save(saved(), path)
    with pytest.raises(StridescopeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_weights(_net(), path)


def test_pickled_code_is_never_run(tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(_net(), path)  # a whole pickled module, not a state_dict
    with pytest.raises(StridescopeError, match=r"weights_only=True\): UnpicklingError"):
        load_weights(_net(), path)


def _keras_net(units: int = 3) -> keras.Model:
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(units)(x))


def test_a_keras_file_gives_its_weights_to_a_keras_model(tmp_path: Path) -> None:
    keras.utils.set_random_seed(1)
    trained = _keras_net()
    path = tmp_path / "trained.keras"
    trained.save(path)
    keras.utils.set_random_seed(2)
    fresh = load_weights(_keras_net(), path)
    for ours, theirs in zip(fresh.get_weights(), trained.get_weights(), strict=True):
        assert np.array_equal(ours, theirs)
    with pytest.raises(
        StridescopeError,
        match=r"do not fit the model: dense\S*/kernel: \(32, 3\) in the file, \(32, 4\) in",
    ):
        load_weights(_keras_net(4), path)
    with pytest.raises(StridescopeError, match="holds Keras weights; the model is Sequential"):
        load_weights(_net(), path)
    torch.save(_net().state_dict(), tmp_path / "w.pt")
    with pytest.raises(StridescopeError, match=r"takes its weights from a \.keras file"):
        load_weights(_keras_net(), tmp_path / "w.pt")


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(StridescopeError, match="no such file"):
        load_weights(_net(), tmp_path / "none.pt")


def test_a_factory_gets_num_classes_when_it_takes_it(tmp_path: Path) -> None:
    source = tmp_path / "models.py"
    source.write_text(
        "from torch import nn\n"
        "def with_classes(num_classes=10):\n"
        "    return nn.Linear(4, num_classes)\n"
        "def without():\n"
        "    return nn.Linear(4, 7)\n"
        "model = nn.Linear(4, 2)\n"
    )
    assert load_model(f"{source}:with_classes", num_classes=3).out_features == 3
    assert load_model(f"{source}:with_classes").out_features == 10
    assert load_model(f"{source}:without", num_classes=3).out_features == 7
    assert load_model(f"{source}:model", num_classes=3).out_features == 2
    with pytest.raises(StridescopeError, match="spec file"):
        load_model("examples/seed_cnn.toml")
