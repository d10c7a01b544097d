"""Plans turned into Keras layers: ``keras.models.clone_model(..., clone_function=...)`` on a
Sequential or Functional model, every weight copied.

A planned layer (an exact ``Conv1D/2D/3D``, ``DepthwiseConv1D/2D`` or ``MaxPooling1D/2D/3D``)
is replaced by a small ``keras.Sequential`` named like it, whose parts are named ``pad``,
``conv``/``pool``, ``blur``, ``aps``; the blur and APS are the registered layers of
:mod:`stridescope.ops.keras_layers`, so the model saves to ``.keras`` and loads back with
``safe_mode=True``. The layer's own activation stays in its conv (``blurpool`` blurs after it).
``s2d`` is written as the equal 2x2 stride-2 ``Conv2D`` (Keras has no pixel-unshuffle layer):
the same params, MACs and output as space-to-depth then a 1x1 conv. A strided
``SeparableConv1D/2D`` (its IR node ``<name>/depthwise``) becomes the depthwise conv's
replacement, then its 1x1 ``pointwise`` conv with the bias and activation; a layer inside
``TimeDistributed`` (``<name>/<inner>``) is replaced inside it, for every step.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

from stridescope.errors import StridescopeError
from stridescope.ir import Graph, Node
from stridescope.ops.keras_layers import AdaptivePolyphase, BlurPool
from stridescope.surgery.estimate import LayerCheck
from stridescope.surgery.plans import (
    AvgPoolStep,
    BlurStep,
    Plan,
    PolyphaseStep,
    Restride,
    Step,
)
from stridescope.surgery.records import CHANGED, EXPECTATION, OutputAtStart

__all__ = ["apply_keras", "check_keras_model", "keras_layers_by_name", "layer_check"]

L = keras.layers
_CONVS = (L.Conv1D, L.Conv2D, L.Conv3D, L.DepthwiseConv1D, L.DepthwiseConv2D)
_MAXPOOLS = (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D)
_ZERO_PADS = (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D)
_AVGPOOLS = (L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D)
_SEPARABLE_PARTS = {  # a SeparableConv's two parts: its depthwise conv, then its 1x1 conv
    L.SeparableConv1D: (L.DepthwiseConv1D, L.Conv1D),
    L.SeparableConv2D: (L.DepthwiseConv2D, L.Conv2D),
}
_SEPARABLE = tuple(_SEPARABLE_PARTS)

Override = tuple[OutputAtStart, str]  # what a fused activation makes of the output, and why


def check_keras_model(model: Any) -> None:
    """Refuse subclassed models: only Sequential and Functional models can be cloned."""
    if not isinstance(model, keras.Sequential | keras.Function):
        raise StridescopeError(
            f"fix takes Sequential and Functional Keras models; received a subclassed model "
            f"({type(model).__name__}), whose layers and calls Keras cannot clone: build it "
            "with keras.Sequential or the functional API"
        )


def keras_layers_by_name(model: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every leaf layer with the name the IR gives it (``outer.inner`` in nested models)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            yield from keras_layers_by_name(layer, f"{prefix}{layer.name}.")
        else:
            yield f"{prefix}{layer.name}", layer


def _stride1_same(config: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    size = config.get("kernel_size") or config["pool_size"]
    dilation = config.get("dilation_rate") or (1,) * len(size)
    totals = [d * (k - 1) for k, d in zip(size, dilation, strict=True)]
    return tuple((t // 2, t - t // 2) for t in totals)


def _keras_padding(config: dict[str, Any], step: Restride) -> str | None:
    """The Keras padding that gives ``step``'s: 'valid', 'same', or ``None`` (neither)."""
    if all(p == (0, 0) for p in step.padding):
        return "valid"
    return "same" if step.padding == _stride1_same(config) else None


def _max_pool_refusal(layer: Any, step: Restride) -> str:
    """Why a max pool cannot be restrided as ``step`` asks ('' when it can)."""
    if not isinstance(layer, _MAXPOOLS) or _keras_padding(layer.get_config(), step):
        return ""
    return (
        "Keras pads max pools only as 'valid' or 'same'; at stride 1 this one needs "
        f"padding {step.padding}"
    )


def _restride(layer: Any, step: Restride) -> list[Any] | str:
    if refusal := _max_pool_refusal(layer, step):
        return refusal
    config = layer.get_config()
    config.update(strides=step.stride, name="pool" if isinstance(layer, _MAXPOOLS) else "conv")
    if padding := _keras_padding(config, step):
        config["padding"] = padding
        return [type(layer).from_config(config)]
    config["padding"] = "valid"
    pad_class = _ZERO_PADS[len(step.padding) - 1]
    pads = step.padding[0] if len(step.padding) == 1 else step.padding
    pad = pad_class(pads, data_format=config.get("data_format"), name="pad")
    return [pad, type(layer).from_config(config)]


def _s2d(layer: Any) -> Any:
    config = layer.get_config()
    config.update(kernel_size=(2, 2), strides=(2, 2), padding="same", name="conv")
    return type(layer).from_config(config)


def _avgpool_refusal(node: Node, step: AvgPoolStep, data_format: str) -> str:
    """Why Keras cannot pool as ``step`` asks ('' when it can)."""
    spatial = node.input_shape[1:-1] if data_format == "channels_last" else node.input_shape[2:]
    if any(s != 2 and (n or 0) % s for n, s in zip(spatial, step.size, strict=True)):
        return "Keras' 'same' average pooling would split a partial window's padding"
    return ""


def _avgpool(layer: Any, node: Node, step: AvgPoolStep, data_format: str) -> Any | str:
    if refusal := _avgpool_refusal(node, step, data_format):
        return refusal
    pool_class = _AVGPOOLS[len(step.size) - 1]
    return pool_class(step.size, step.size, padding="same", data_format=data_format, name="pool")


def _parts(layer: Any, node: Node, step: Step, data_format: str) -> list[Any] | str:
    if isinstance(step, Restride):
        return _restride(layer, step)
    if isinstance(step, BlurStep):
        return [BlurPool(step.size, step.stride, step.padding, data_format, name="blur")]
    if isinstance(step, AvgPoolStep):
        made = _avgpool(layer, node, step, data_format)
        return made if isinstance(made, str) else [made]
    if isinstance(step, PolyphaseStep):
        return [AdaptivePolyphase(data_format, name="aps")]
    return [_s2d(layer)]


def _nonlinear(config: dict[str, Any]) -> str:
    """The name of a layer's fused activation (by its config) when not linear ('' else)."""
    act = config.get("activation")
    name = act if isinstance(act, str) or act is None else str(act.get("config", act))
    return "" if name in (None, "linear") else str(name)


def _replacement(layer: Any, node: Node, plan: Plan) -> tuple[Any, Override | None] | str:
    if isinstance(layer, L.TimeDistributed):  # every step's layer replaced at once
        inner = _replacement(layer.layer, node, plan)
        if isinstance(inner, str):
            return inner
        return L.TimeDistributed(inner[0], name=layer.name), inner[1]
    config = layer.get_config()
    separable = isinstance(layer, _SEPARABLE)
    if separable:  # the depthwise part is replaced; its pointwise part follows
        depthwise, pointwise = _SEPARABLE_PARTS[type(layer)]
        layer = depthwise.from_config({**_depthwise(config), "name": "conv"})
    data_format = config.get("data_format") or keras.config.image_data_format()
    parts: list[Any] = []
    for step in plan.steps:
        made = _parts(layer, node, step, data_format)
        if isinstance(made, str):
            return made
        parts += made
    override = None
    act = _nonlinear(config)
    last_blurs = isinstance(plan.steps[-1], BlurStep) and not separable
    if plan.output_at_start == EXPECTATION and act and not last_blurs:
        override = (CHANGED, f"the layer's fused {act} follows the filter and is not linear")
    if separable:
        parts.append(pointwise.from_config(_pointwise(config)))
    return keras.Sequential([_any_size(node, data_format), *parts], name=config["name"]), override


def _any_size(node: Node, data_format: str) -> Any:
    """The replacement's input: the layer's channels at any spatial size, so that a layer the
    model calls at several sizes (a head shared by pyramid levels) takes each of them."""
    channels = node.input_shape[-1] if data_format == "channels_last" else node.input_shape[1]
    spatial = (None,) * (len(node.input_shape) - 2)
    shape = (*spatial, channels) if data_format == "channels_last" else (channels, *spatial)
    return keras.Input(shape)


def _depthwise(config: dict[str, Any]) -> dict[str, Any]:
    """A SeparableConv's depthwise part as a DepthwiseConv config (no bias, linear)."""
    keys = ("kernel_size", "strides", "padding", "data_format", "dilation_rate", "trainable")
    return {
        **{k: config[k] for k in keys if k in config},
        "depth_multiplier": config.get("depth_multiplier", 1),
        "use_bias": False,
        "activation": None,
        "depthwise_initializer": config.get("depthwise_initializer"),
        "depthwise_regularizer": config.get("depthwise_regularizer"),
        "depthwise_constraint": config.get("depthwise_constraint"),
    }


def _pointwise(config: dict[str, Any]) -> dict[str, Any]:
    """A SeparableConv's 1x1 part as a Conv config, with its bias and activation."""
    keys = ("filters", "data_format", "use_bias", "activation", "bias_initializer")
    return {
        **{k: config[k] for k in keys if k in config},
        "kernel_size": (1,) * len(config["kernel_size"]),
        "kernel_initializer": config.get("pointwise_initializer"),
        "kernel_regularizer": config.get("pointwise_regularizer"),
        "bias_regularizer": config.get("bias_regularizer"),
        "name": "pointwise",
    }


def _load(old: Any, new: Any, plan: Plan) -> None:
    """Copy ``old``'s weights into its replacement ``new`` (a Sequential; inside
    TimeDistributed, the wrapped layer's; a SeparableConv's 1x1 part's into ``pointwise``)."""
    if isinstance(old, L.TimeDistributed):
        old, new = old.layer, new.layer
    weights = old.get_weights()
    if not weights:  # a max pool
        return
    if isinstance(old, _SEPARABLE):
        new.get_layer("pointwise").set_weights(weights[1:])
        weights = weights[:1]
    target = next(layer for layer in new.layers if layer.name == "conv")
    if target.get_weights()[0].shape != weights[0].shape:  # s2d: the old 1x1 on phase (0, 0)
        kernel = np.zeros(target.get_weights()[0].shape, dtype=weights[0].dtype)
        kernel[0, 0] = weights[0][0, 0]
        weights = [kernel, *weights[1:]]
    target.set_weights(weights)


def _planned_layer(layers: dict[str, Any], name: str) -> Any:
    """The layer the IR node ``name`` stands for, where it can be swapped: a conv or max pool
    (``name``), a SeparableConv (``name/depthwise``) or one inside TimeDistributed (whose
    ``call`` runs the inner layer's operations: ``name/conv``, ``name/max_pool``...); else
    why not."""
    head, _, part = name.partition("/")  # (Keras names hold no '/')
    layer = layers.get(name) or layers.get(head)
    swappable = (*_CONVS, *_MAXPOOLS, *_SEPARABLE)
    if isinstance(layer, L.TimeDistributed) and part and type(layer.layer) in swappable:
        return layer
    if type(layer) in _SEPARABLE and part == "depthwise":
        return layer
    if layer is not None and name in layers and type(layer) in (*_CONVS, *_MAXPOOLS):
        return layer
    kind = "no layer" if layer is None else type(layer).__name__
    return (
        f"{kind}: only Conv*D, DepthwiseConv*D, SeparableConv*D and MaxPooling*D layers are "
        "swapped (alone or inside TimeDistributed)"
    )


def layer_check(model: Any) -> LayerCheck:
    """What ``fix`` would do with a layer of ``model`` (``fix_estimate``'s ``check``): why it
    leaves the layer (not a layer it swaps, a padding Keras cannot give at stride 1), else
    ``None`` (swapped at the IR's price). Each layer is looked at once per plan."""
    layers = dict(keras_layers_by_name(model))
    seen: dict[tuple[str, Plan], str | None] = {}

    def check(graph: Graph, node: Node, plan: Plan) -> str | None:
        key = (node.name, plan)
        if key not in seen:
            layer = _planned_layer(layers, node.name)
            seen[key] = (layer if isinstance(layer, str) else _refusal(layer, node, plan)) or None
        return seen[key]

    return check


def _refusal(layer: Any, node: Node, plan: Plan) -> str:
    """Why :func:`_replacement` would leave ``layer`` under ``plan`` ('' when it swaps it),
    without building anything."""
    inner = layer.layer if isinstance(layer, L.TimeDistributed) else layer
    data_format = inner.get_config().get("data_format") or keras.config.image_data_format()
    for step in plan.steps:
        if isinstance(step, Restride) and (refusal := _max_pool_refusal(inner, step)):
            return refusal
        if isinstance(step, AvgPoolStep) and (refusal := _avgpool_refusal(node, step, data_format)):
            return refusal
    return ""


def apply_keras(
    model: Any, plans: dict[str, tuple[Node, Plan]]
) -> tuple[Any, dict[str, str], dict[str, Override]]:
    """A clone of ``model`` with each planned layer (by IR name) replaced and every weight
    copied; returns it with the reasons for the planned layers that were not swapped and the
    output-at-start classes a layer's fused activation changes."""
    layers = dict(keras_layers_by_name(model))
    refused: dict[str, str] = {}
    overrides: dict[str, Override] = {}
    made: dict[int, tuple[Any, Plan]] = {}
    for name, (node, plan) in plans.items():
        layer = _planned_layer(layers, name)
        if isinstance(layer, str):
            refused[name] = layer
            continue
        built = _replacement(layer, node, plan)
        if isinstance(built, str):
            refused[name] = built
            continue
        made[id(layer)] = (built[0], plan)
        if built[1] is not None:
            overrides[name] = built[1]

    clones: dict[int, Any] = {}  # per original layer, what the fixed model calls instead

    def clone(layer: Any) -> Any:
        if id(layer) in made:
            return made[id(layer)][0]
        try:
            clones[id(layer)] = type(layer).from_config(layer.get_config())
        except Exception:  # a config that does not rebuild it (a Lambda of a lambda, a custom
            clones[id(layer)] = layer  # layer without **kwargs): the fixed model calls it
        return clones[id(layer)]

    fixed = keras.models.clone_model(model, clone_function=clone, recursive=True)
    new_layers = dict(_leaves_or_replacements(fixed, {id(m[0]) for m in made.values()}))
    for name, layer in layers.items():
        if id(layer) in made:
            _load(layer, made[id(layer)][0], made[id(layer)][1])
        elif layer.weights:  # (found by the layer: a rebuilt one may come back renamed)
            new = clones[id(layer)] if id(layer) in clones else new_layers[name]
            if new is not layer:
                new.set_weights(layer.get_weights())
    return fixed, refused, overrides


def _leaves_or_replacements(
    model: Any, stop: set[int], prefix: str = ""
) -> Iterator[tuple[str, Any]]:
    for layer in model.layers:
        if isinstance(layer, keras.Model) and id(layer) not in stop:
            yield from _leaves_or_replacements(layer, stop, f"{prefix}{layer.name}.")
        else:
            yield f"{prefix}{layer.name}", layer
