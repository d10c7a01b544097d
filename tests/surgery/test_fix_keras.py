"""``fix`` on Keras models (Sequential, Functional, nested): every policy on every layer kind
it handles keeps the output shape, copies weights bit for bit and keeps its word about the
output at the start; the fixed models save to ``.keras`` and load back in safe mode."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import torch

import stridescope
from stridescope.errors import StridescopeError
from stridescope.ops.blurpool import binomial_kernel
from stridescope.ops.keras_layers import AdaptivePolyphase, BlurPool
from stridescope.surgery import CHANGED, EXPECTATION, IDENTICAL, fix, policy_names
from tests.surgery.claims import assert_claim

E, C, SAME, U = EXPECTATION, CHANGED, IDENTICAL, None
L = keras.layers
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

LAYERS: dict[str, tuple[Any, tuple[int, ...]]] = {
    "conv1x1_s2_same": (lambda: L.Conv2D(6, 1, strides=2, padding="same"), (9, 10, 8)),
    "conv3x3_s2_same": (
        lambda: L.Conv2D(6, 3, strides=2, padding="same", use_bias=False),
        (10, 10, 8),
    ),
    "conv3x3_s2_valid": (lambda: L.Conv2D(6, 3, strides=2), (10, 9, 8)),
    "depthwise3x3_s2_same": (lambda: L.DepthwiseConv2D(3, strides=2, padding="same"), (9, 10, 8)),
    "maxpool2": (lambda: L.MaxPooling2D(2), (10, 9, 8)),
    "maxpool3_s2_same": (lambda: L.MaxPooling2D(3, 2, padding="same"), (10, 10, 8)),
    "conv1d_k1_s2": (lambda: L.Conv1D(6, 1, strides=2), (15, 8)),
    "conv1d_causal_k3_s2": (lambda: L.Conv1D(6, 3, strides=2, padding="causal"), (15, 8)),
    "conv3d_k1_s2": (lambda: L.Conv3D(6, 1, strides=2), (5, 6, 7, 4)),
    "conv1x1_s2_channels_first": (
        lambda: L.Conv2D(6, 1, strides=2, data_format="channels_first"),
        (8, 9, 10),
    ),
    "conv1x1_s2x1": (lambda: L.Conv2D(6, 1, strides=(2, 1)), (9, 10, 8)),
}
EXPECTED: dict[str, tuple[str | None, ...]] = {
    "blurpool": (E, C, E, C, E, U, E, C, E, E, E),
    "blurpool-first": (E, E, E, E, E, U, E, E, E, E, E),
    "resnet-d": (E, U, U, U, U, U, E, U, E, E, E),
    "s2d": (SAME, U, U, U, U, U, U, U, U, SAME, U),
    "aps": (C, C, C, C, C, U, U, U, U, C, U),
}
CASES = [
    (policy, layer, expected)
    for policy, row in EXPECTED.items()
    for layer, expected in zip(LAYERS, row, strict=True)
]


def _model(layer: str, functional: bool) -> tuple[keras.Model, tuple[int, ...]]:
    keras.utils.set_random_seed(0)
    make, shape = LAYERS[layer]
    down = make()
    down.name = "down"
    if functional:
        inputs = keras.Input(shape)
        return keras.Model(inputs, L.Activation("linear", name="out")(down(inputs))), shape
    return keras.Sequential([keras.Input(shape), down]), shape


def _run(model: keras.Model) -> Any:
    return lambda x: model(x, training=False)


@pytest.mark.parametrize(("policy", "layer", "expected"), CASES)
def test_policy_on_keras_layer(policy: str, layer: str, expected: str | None) -> None:
    model, shape = _model(layer, functional=layer.startswith("conv1x1"))
    fixed = fix(model, policy)
    if expected is None:
        assert fixed.changes == () and [u.layer for u in fixed.unchanged] == ["down"]
        assert fixed.unchanged[0].reason
        return
    (change,) = fixed.changes
    assert change.layer == "down" and change.output_at_start == expected
    x = torch.randn(2, *shape)
    assert tuple(fixed.model(x).shape) == tuple(model(x).shape)
    assert_claim(_run(model), _run(fixed.model), expected, (1, *shape))
    old, new = model.get_layer("down"), fixed.model.get_layer("down")
    _assert_weights_copied(old, new)
    _assert_blur_is_binomial(new, rank=len(shape) - 1)
    before, after = stridescope.summary(model), stridescope.summary(fixed.model)
    assert after.totals.uncounted == ()
    assert fixed.delta_params == after.totals.params - before.totals.params
    assert fixed.delta_macs == after.totals.macs - before.totals.macs


def _assert_weights_copied(old: Any, new: Any) -> None:
    if not old.weights:
        assert new.count_params() == 0
        return
    conv = new.get_layer("conv")
    old_weights, new_weights = old.get_weights(), conv.get_weights()
    if new_weights[0].shape != old_weights[0].shape:  # s2d: the 2x2 stride-2 conv
        assert np.array_equal(new_weights[0][0, 0], old_weights[0][0, 0])
        assert not new_weights[0][1:].any() and not new_weights[0][0, 1:].any()
        new_weights, old_weights = new_weights[1:], old_weights[1:]
    assert all(np.array_equal(a, b) for a, b in zip(old_weights, new_weights, strict=True))


def _assert_blur_is_binomial(new: Any, rank: int) -> None:
    for blur in (layer for layer in new.layers if isinstance(layer, BlurPool)):
        kernel = keras.ops.convert_to_numpy(blur.kernel)  # (*size, 1, C)
        expected = binomial_kernel(blur.size, rank).numpy()
        assert all(np.array_equal(kernel[..., 0, c], expected) for c in range(kernel.shape[-1]))


def test_the_seed_cnn_fixed_with_resnet_d_saves_and_loads_in_safe_mode(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("seed_keras", EXAMPLES / "seed_cnn_keras.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    keras.utils.set_random_seed(1)
    model = module.build()
    fixed = fix(model, "resnet-d")
    assert [c.layer for c in fixed.changes] == ["conv2d_2"]
    assert fixed.changes[0].output_at_start == CHANGED  # its fused relu follows the pool
    path = tmp_path / "seed_resnet_d.keras"
    fixed.model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(fixed.model(x))
    assert np.array_equal(keras.ops.convert_to_numpy(loaded(x)), expected)
    assert stridescope.summary(str(path)).totals == stridescope.summary(fixed.model).totals


@pytest.mark.parametrize("policy", ["blurpool", "aps"])
def test_models_with_the_new_layers_save_and_load(policy: str, tmp_path: Path) -> None:
    model, _ = _model("conv1x1_s2_same", functional=True)
    fixed = fix(model, policy)
    path = tmp_path / "fixed.keras"
    fixed.model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    inner = loaded.get_layer("down").layers
    assert any(isinstance(layer, BlurPool | AdaptivePolyphase) for layer in inner)
    x = np.random.default_rng(0).normal(size=(3, 9, 10, 8)).astype("float32")
    assert np.allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(fixed.model(x))
    )


def test_the_original_is_untouched_and_nothing_is_shared() -> None:
    model, _ = _model("conv3x3_s2_same", functional=True)
    weights, layers = [w.copy() for w in model.get_weights()], list(model.layers)
    fixed = fix(model, "blurpool")
    assert list(model.layers) == layers
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))
    conv = fixed.model.get_layer("down").get_layer("conv")
    conv.set_weights([w + 1.0 for w in conv.get_weights()])
    assert all(np.array_equal(a, b) for a, b in zip(weights, model.get_weights(), strict=True))


def test_nested_models_are_fixed_by_their_path() -> None:
    block = keras.Sequential(
        [
            keras.Input((8, 8, 4)),
            L.Conv2D(4, 3, padding="same", name="c"),
            L.Conv2D(8, 1, strides=2, name="down"),
        ],
        name="block",
    )
    inputs = keras.Input((8, 8, 4))
    model = keras.Model(inputs, L.Flatten(name="flat")(block(inputs)))
    fixed = fix(model, "s2d")
    assert [c.layer for c in fixed.changes] == ["block.down"]
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    assert np.allclose(
        keras.ops.convert_to_numpy(fixed.model(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-5
    )


class Subclassed(keras.Model):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.down = L.Conv2D(4, 1, strides=2)

    def call(self, x: Any) -> Any:
        return self.down(x)


def test_subclassed_models_are_refused() -> None:
    model = Subclassed()
    model(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(StridescopeError, match="received a subclassed model \\(Subclassed\\)"):
        fix(model, "blurpool", input_shape=(1, 8, 8, 3))


@pytest.mark.parametrize("policy", policy_names())
def test_the_seed_cnn_in_both_frameworks_gets_the_same_costs(policy: str) -> None:
    spec = importlib.util.spec_from_file_location("seed_keras", EXAMPLES / "seed_cnn_keras.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from tests.frontends.pytorch.resnet_models import seed_cnn

    in_keras = fix(module.build(), policy)
    in_torch = fix(seed_cnn(), policy, input_shape=(1, 3, 32, 32))
    costs = [(c.kind, c.before, c.after, c.delta_params, c.delta_macs) for c in in_keras.changes]
    assert costs == [
        (c.kind, c.before, c.after, c.delta_params, c.delta_macs) for c in in_torch.changes
    ]


class _Gain(keras.layers.Layer):  # type: ignore[misc]
    """A custom layer whose ``__init__`` takes no ``**kwargs`` (its config cannot rebuild it)."""

    def __init__(self, start: float) -> None:
        super().__init__()
        self.start = start

    def build(self, shape: Any) -> None:
        self.gain = self.add_weight(shape=(shape[-1],), initializer="ones")

    def call(self, x: Any) -> Any:
        return x * self.gain


class _NamedGain(_Gain):
    """Takes ``**kw`` but drops the name into them: its rebuilt copy gets another name."""

    def __init__(self, start: float, **kw: Any) -> None:
        keras.layers.Layer.__init__(self, **kw)
        self.start = start


def test_layers_their_config_cannot_rebuild_are_called_as_they_are() -> None:
    """A Lambda of a lambda and a custom layer without ``**kwargs`` fail
    ``from_config(get_config())`` (Keras' own ``clone_model`` fails on them): the fixed model
    calls them as they are, and swaps the strided conv; a rebuilt layer that comes back under
    another name still gets its weights."""
    x = keras.Input((16, 16, 3))
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="down")(x)
    y = _NamedGain(0.1)(_Gain(0.1)(y))
    y = keras.layers.Lambda(lambda t: t * 2.0)(y)
    model = keras.Model(x, y)
    for layer in model.layers:
        if isinstance(layer, _NamedGain):
            layer.set_weights([np.full((8,), 3.0, "float32")])
    result = fix(model, "blurpool")
    assert [c.layer for c in result.changes] == ["down"]
    image = np.random.default_rng(0).random((1, 16, 16, 3)).astype("float32")
    assert tuple(result.model(image).shape) == (1, 8, 8, 8)
    named = [layer for layer in result.model.layers if isinstance(layer, _NamedGain)]
    assert np.allclose(named[0].get_weights()[0], 3.0)


def test_a_layer_called_again_changes_with_its_first_call() -> None:
    """A strided conv shared by two inputs (a siamese stem): swapped once, so its second
    call (weights counted at the first) changes with it, priced at its own input without
    new weights; where the first call stays, the second names the layer (not a blur)."""
    a, b = keras.Input((16, 16, 3)), keras.Input((16, 16, 3))
    conv = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="stem")
    model = keras.Model([a, b], keras.layers.Add()([conv(a), conv(b)]))
    result = fix(model, "blurpool")
    first, second = result.changes
    assert (first.layer, second.layer, result.unchanged) == ("stem", "stem@1", ())
    assert (first.after, first.delta_macs) == (second.after, second.delta_macs)
    assert second.delta_params == 0
    before, after = stridescope.summary(model), stridescope.summary(result.model)
    assert result.delta_macs == after.totals.macs - before.totals.macs == 2 * first.delta_macs
    image = np.zeros((1, 16, 16, 3), "float32")
    assert tuple(result.model([image, image]).shape) == (1, 8, 8, 8)
    kept = fix(model, "resnet-d")  # (3x3: not its kind) both calls stay, the second says why
    reasons = {u.layer: u.reason for u in kept.unchanged}
    assert kept.changes == () and reasons["stem"].startswith("resnet-d swaps")
    assert reasons["stem@1"] == (
        "the layer 'stem' called again: fixed, or not, where it is first called"
    )


WRAPPED: dict[str, tuple[Any, tuple[int, ...], str]] = {
    "separable": (
        lambda: L.SeparableConv2D(6, 3, strides=2, padding="same", depth_multiplier=2),
        (10, 10, 4),
        "down/depthwise",
    ),
    "separable_relu_valid": (
        lambda: L.SeparableConv2D(6, 3, strides=2, activation="relu"),
        (11, 11, 4),
        "down/depthwise",
    ),
    "time_distributed_conv1x1": (
        lambda: L.TimeDistributed(L.Conv2D(6, 1, strides=2)),
        (3, 9, 9, 4),
        r"down/conv(_\d+)?",  # (raw operations: names Keras numbers per process)
    ),
    "time_distributed_separable": (
        lambda: L.TimeDistributed(L.SeparableConv2D(6, 3, strides=2, padding="same")),
        (2, 8, 8, 4),
        r"down/separable_conv(_\d+)?/depthwise",
    ),
}


@pytest.mark.parametrize("policy", ["blurpool", "blurpool-first", "aps", "resnet-d", "s2d"])
@pytest.mark.parametrize("layer", list(WRAPPED))
def test_separable_and_time_distributed_layers_are_swapped(policy: str, layer: str) -> None:
    """A strided SeparableConv (its depthwise part, then its 1x1 with the bias and
    activation) and a layer inside TimeDistributed (every step at once) are swapped as the
    plain layers are, weights copied, the output shape kept and the claim about the output
    kept; or refused with the reason the plain layer would have."""
    keras.utils.set_random_seed(0)
    make, shape, node = WRAPPED[layer]
    down = make()
    down.name = "down"
    inputs = keras.Input(shape)
    model = keras.Model(inputs, L.Activation("linear", name="out")(down(inputs)))
    fixed = fix(model, policy)
    steps = shape[0] if layer.startswith("time") else 1  # TimeDistributed: each step's node
    looked_at = [c.layer for c in fixed.changes] + [u.layer for u in fixed.unchanged]
    assert re.fullmatch(node, looked_at[0]) and len(looked_at) == steps
    if not fixed.changes:
        assert all("only Conv" not in u.reason for u in fixed.unchanged)
        return
    assert len(fixed.changes) == steps and not fixed.unchanged
    change = fixed.changes[0]
    assert {(c.after, c.delta_macs, c.output_at_start) for c in fixed.changes} == {
        (change.after, change.delta_macs, change.output_at_start)
    }
    x = torch.randn(2, *shape)
    assert tuple(fixed.model(x).shape) == tuple(model(x).shape)
    assert_claim(_run(model), _run(fixed.model), change.output_at_start, (1, *shape))
    old, new = model.get_layer("down"), fixed.model.get_layer("down")
    if isinstance(old, L.TimeDistributed):
        assert isinstance(new, L.TimeDistributed)
        old, new = old.layer, new.layer
    weights = old.get_weights()
    if isinstance(old, L.SeparableConv2D):
        pointwise = new.get_layer("pointwise").get_weights()
        assert all(np.array_equal(a, b) for a, b in zip(weights[1:], pointwise, strict=True))
        weights = weights[:1]
    conv = new.get_layer("conv").get_weights()
    if conv[0].shape == weights[0].shape:
        assert all(np.array_equal(a, b) for a, b in zip(weights, conv, strict=True))
    before, after = stridescope.summary(model), stridescope.summary(fixed.model)
    assert after.totals.uncounted == ()
    assert fixed.delta_params == after.totals.params - before.totals.params
    assert fixed.delta_macs == steps * change.delta_macs
    if steps == 1:  # (TimeDistributed's call adds its bias as an operation: MACs of an add)
        assert fixed.delta_macs == after.totals.macs - before.totals.macs


@pytest.mark.parametrize("policy", ["blurpool", "blurpool-first", "aps"])
def test_a_layer_called_at_two_sizes_is_swapped_for_both(policy: str) -> None:
    """A strided head shared by a 16x16 and an 8x8 input (pyramid levels): its replacement
    takes any spatial size, so the fixed model runs on both, each call priced at its own."""
    a, b = keras.Input((16, 16, 3)), keras.Input((8, 8, 3))
    head = L.Conv2D(8, 3, strides=2, padding="same", name="head")
    pooled = [L.GlobalAveragePooling2D()(head(x)) for x in (a, b)]
    model = keras.Model([a, b], L.Add()(pooled))
    fixed = fix(model, policy)
    assert [c.layer for c in fixed.changes] == ["head", "head@1"] and not fixed.unchanged
    assert fixed.changes[0].delta_macs > fixed.changes[1].delta_macs > 0  # (at 16x16, 8x8)
    images = [np.ones((2, 16, 16, 3), "float32"), np.ones((2, 8, 8, 3), "float32")]
    assert tuple(fixed.model(images).shape) == (2, 8)
    before, after = stridescope.summary(model), stridescope.summary(fixed.model)
    assert fixed.delta_macs == after.totals.macs - before.totals.macs
    assert after.totals.params == before.totals.params + fixed.delta_params


def test_lint_prices_no_swap_that_fix_leaves_and_every_one_it_makes() -> None:
    """A 3x3 stride-2 'same' max pool on an even map pads (0, 1), which Keras cannot give at
    stride 1: fix leaves it, and lint, asking the model, no longer prices it (it quoted a
    blurpool price before); the 1x1 after it is priced at what fix reports."""
    inputs = keras.Input((32, 32, 3))
    x = L.Conv2D(8, 3, padding="same")(inputs)
    x = L.MaxPooling2D(3, 2, padding="same", name="pool")(x)
    model = keras.Model(inputs, L.Conv2D(8, 1, strides=2, name="down")(x))
    priced = {(f.layer, f.fix.policy): f.fix for f in stridescope.lint(model).findings if f.fix}
    assert ("pool", "blurpool") not in priced
    fixed = fix(model, "blurpool")
    assert [u.layer for u in fixed.unchanged] == ["pool"]
    first = fix(model, "blurpool-first", select=["down"])
    change = first.changes[0]
    assert (change.delta_params, change.delta_macs) == (
        priced["down", "blurpool-first"].delta_params,
        priced["down", "blurpool-first"].delta_macs,
    )


@pytest.mark.parametrize("step", [0, 1])
def test_every_step_of_a_time_distributed_layer_is_priced_and_reported(step: int) -> None:
    """A TimeDistributed conv's later steps (``td/conv_1``...) were unpriced by lint though fix
    swaps them, and selecting the first step reported it alone (512 of 1,536 MACs); selecting
    a later step swapped the layer."""
    inputs = keras.Input((3, 8, 8, 8))
    layer = L.TimeDistributed(L.Conv2D(8, 1, strides=2, use_bias=False), name="td")
    model = keras.Model(inputs, layer(inputs))
    priced = {f.layer: f.fix for f in stridescope.lint(model).findings if f.code == "DS101"}
    steps = sorted(priced, key=str)  # (one per step, named by Keras' ops: td/conv, td/conv_1...)
    assert len(steps) == 3 and all(p is not None and p.delta_macs == 512 for p in priced.values())
    fixed = fix(model, "resnet-d", select=[str(steps[step])])
    assert sorted(c.layer for c in fixed.changes) == steps
    before = stridescope.summary(model).totals.macs
    assert stridescope.summary(fixed.model).totals.macs - before == fixed.delta_macs == 1536
