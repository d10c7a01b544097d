"""fix on signals and volumes: resnet-d, blurpool and blurpool-first swap 1-D and 3-D layers
(PyTorch and Keras) and remove DS101; s2d and aps, written for two spatial axes, leave them
with their reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

from stridescope import api

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def models() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    torch.manual_seed(0)
    resnet1d = _example("resnet1d_ecg").build(leads=2)  # type: ignore[attr-defined]
    video = _example("video3d").build()  # type: ignore[attr-defined]
    return {"resnet1d": (resnet1d, (1, 2, 256)), "video3d": (video, (1, 3, 8, 32, 32))}


@pytest.mark.parametrize("policy", ["resnet-d", "blurpool", "blurpool-first"])
@pytest.mark.parametrize("name", ["resnet1d", "video3d"])
def test_policies_swap_1d_and_3d_layers_and_remove_ds101(
    models: dict[str, tuple[nn.Module, tuple[int, ...]]], name: str, policy: str
) -> None:
    model, shape = models[name]
    fixed = api.fix(model, policy, input_shape=shape)
    assert fixed.changes and fixed.model is not model
    shortcuts = [c for c in fixed.changes if "downsample" in c.layer or "shortcut" in c.layer]
    assert len(shortcuts) == 3, fixed.changes
    assert not [f for f in api.lint(fixed.model, shape).findings if f.code == "DS101"]
    x = torch.randn(*shape)
    with torch.no_grad():
        assert fixed.model.eval()(x).shape == model.eval()(x).shape


@pytest.mark.parametrize("policy", ["s2d", "aps"])
def test_s2d_and_aps_leave_signals_alone_and_say_why(
    models: dict[str, tuple[nn.Module, tuple[int, ...]]], policy: str
) -> None:
    model, shape = models["resnet1d"]
    fixed = api.fix(model, policy, input_shape=shape)
    assert not fixed.changes
    skips = [u for u in fixed.unchanged if "downsample" in u.layer]
    assert len(skips) == 3 and all("two spatial axes" in u.reason for u in skips), skips


def test_a_keras_signal_model_gets_its_blur() -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential(
        [keras.Input((64, 2)), keras.layers.Conv1D(8, 3, strides=2, padding="same")]
    )
    fixed = api.fix(model, "blurpool")
    (change,) = fixed.changes
    assert "blur" in change.after.lower()
    x = torch.randn(2, 64, 2)
    assert tuple(fixed.model(x).shape) == tuple(model(x).shape) == (2, 32, 8)
