"""The one table from Keras 3 layer classes to handlers (in
:mod:`~stridescope.frontends.keras.handlers` and
:mod:`~stridescope.frontends.keras.shape_handlers`), found along each layer's MRO.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from functools import partial
from typing import Any

from stridescope.frontends.keras import handlers, shape_handlers
from stridescope.frontends.keras.axis_ops import outputs_beside
from stridescope.frontends.keras.cells import custom_cell_rnn
from stridescope.frontends.keras.expand import add_custom_layer
from stridescope.frontends.keras.handlers import Handler
from stridescope.frontends.keras.operations import add_operation
from stridescope.frontends.keras.shapes import recorded_shapes, tensors_of
from stridescope.frontends.keras.torch_calls import add_torch_call, countable
from stridescope.frontends.keras.weights import count_weights, counted_once
from stridescope.ir import GraphBuilder, OpKind

__all__ = ["add_keras_layer", "keras_table"]


def _ranks(name: str) -> str:
    """``name`` for signals, images and volumes: ``"X1D X2D X3D"``."""
    return " ".join(f"{name}{rank}D" for rank in (1, 2, 3))


def _rows() -> list[tuple[Handler, str]]:
    """Every row: a handler and the ``keras.layers`` class names it reads."""
    return [
        (handlers.conv, "Conv1D Conv2D Conv3D"),
        (handlers.conv_transpose, "Conv1DTranspose Conv2DTranspose Conv3DTranspose"),
        (handlers.depthwise_conv, "DepthwiseConv1D DepthwiseConv2D"),
        (handlers.separable_conv, "SeparableConv1D SeparableConv2D"),
        (handlers.dense, "Dense"),
        (handlers.pool("max"), "MaxPooling1D MaxPooling2D MaxPooling3D"),
        (handlers.pool("avg"), "AveragePooling1D AveragePooling2D AveragePooling3D"),
        (handlers.global_pool("max"), "GlobalMaxPooling1D GlobalMaxPooling2D GlobalMaxPooling3D"),
        (
            handlers.global_pool("avg"),
            "GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D",
        ),
        (handlers.adaptive_pool("avg"), _ranks("AdaptiveAveragePooling")),
        (handlers.adaptive_pool("max"), _ranks("AdaptiveMaxPooling")),
        (handlers.pointwise(OpKind.ACTIVATION), "Activation ReLU Softmax LeakyReLU ELU"),
        (
            handlers.pointwise(OpKind.DROPOUT),
            "Dropout SpatialDropout1D SpatialDropout2D SpatialDropout3D GaussianNoise "
            "GaussianDropout AlphaDropout",
        ),
        (handlers.weighted(OpKind.ACTIVATION), "PReLU"),
        (handlers.weighted(OpKind.NORM), "GroupNormalization UnitNormalization"),
        (
            handlers.identity,
            "Identity ActivityRegularization Masking RandomFlip RandomRotation RandomZoom "
            "RandomTranslation RandomContrast RandomBrightness RandomGrayscale RandomHue "
            "RandomSaturation RandomSharpness RandomShear RandomColorJitter "
            "RandomColorDegeneration RandomInvert RandomPosterization RandomErasing "
            "RandomGaussianBlur RandomPerspective RandomElasticTransform MixUp CutMix AugMix "
            "RandAugment Solarization",
        ),
        (shape_handlers.recurrent, "SimpleRNN GRU LSTM RNN"),
        (shape_handlers.conv_lstm, "ConvLSTM1D ConvLSTM2D ConvLSTM3D"),
        (shape_handlers.resizing, "Resizing RandomCrop"),
        (shape_handlers.center_crop, "CenterCrop"),
        (shape_handlers.attention, "MultiHeadAttention GroupQueryAttention"),
        (shape_handlers.dot_attention, "Attention AdditiveAttention"),
        (
            handlers.pointwise(OpKind.NORM),
            "Rescaling AutoContrast ContrastLimitedAdaptiveHistogramEqualization",
        ),
        (handlers.weighted(OpKind.NORM), "Normalization"),
        (handlers.norm(moving_stats=True), "BatchNormalization"),
        (handlers.norm(moving_stats=False), "LayerNormalization"),
        (handlers.weighted(OpKind.NORM), "RMSNormalization"),
        (handlers.flatten, "Flatten"),
        (shape_handlers.merge(OpKind.ADD), "Add Average Subtract Maximum Minimum"),
        (shape_handlers.merge(OpKind.MUL), "Multiply"),
        (shape_handlers.merge(OpKind.CONCAT), "Concatenate"),
        (shape_handlers.zero_padding, "ZeroPadding1D ZeroPadding2D ZeroPadding3D"),
        (shape_handlers.cropping, "Cropping1D Cropping2D Cropping3D"),
        (shape_handlers.resize(OpKind.INTERPOLATE), "UpSampling1D UpSampling2D UpSampling3D"),
        (shape_handlers.reshape, "Reshape"),
        (shape_handlers.permute, "Permute"),
    ]


def _table() -> dict[type, Handler]:
    import keras

    return {  # (a name this Keras lacks is skipped)
        cls: h
        for h, names in _rows()
        for name in names.split()
        if (cls := getattr(keras.layers, name, None)) is not None
    }


_TABLE: dict[type, Handler] | None = None


def keras_table() -> dict[type, Handler]:
    """The class → handler table (built on first use, so importing this module is cheap)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _table()
    return _TABLE


def _config(layer: Any) -> dict[str, Any]:
    """``layer.get_config()``; for a layer class that has no ``get_config`` of its own and was
    made with arguments Keras cannot serialise (``Identity(dtype=policy)``: Keras raises
    ``NotImplementedError``), just its name: such a layer has no settings to read."""
    try:
        config: dict[str, Any] = layer.get_config()
    except NotImplementedError:
        return {"name": layer.name}
    return config


def add_keras_layer(
    b: GraphBuilder,
    parents: Sequence[int],
    layer: Any,
    name: str,
    call: Any = None,
    seen: set[int] | None = None,
) -> list[int]:
    """Append one Keras layer's or raw operation's node(s); return one node id per output.

    The handler is found along the class's MRO, so subclasses of known layers are read as
    their base; a layer with a ``stridescope_ir(builder, parent, name)`` method
    (stridescope's own) describes itself, as in the PyTorch tracer; a raw ``keras.ops``
    operation goes to :func:`~stridescope.frontends.keras.operations.add_operation`;
    anything else is read through its ``call``
    (:func:`~stridescope.frontends.keras.expand.add_custom_layer`) or left uncounted, with
    the shape Keras computes (``call``: the layer's node in
    the Functional graph, ``None`` in a Sequential; ``seen``: the ids of the weights layers
    and raw operations of the same read counted before, each counted once: see
    :func:`~stridescope.frontends.keras.weights.counted_once`). Outputs a handler does not make (a
    layer called with ``return_attention_scores=True``) are 0-MAC nodes read from its first,
    of the shapes Keras recorded."""
    import keras

    seen = set() if seen is None else seen
    describe = getattr(layer, "stridescope_ir", None)
    if callable(describe) and len(parents) == 1:
        return [int(describe(b, parents[0], name))]
    if not isinstance(layer, keras.layers.Layer):
        if countable(layer):  # a torch function on a symbolic tensor (torch backend)
            return add_torch_call(b, parents, layer, name)
        return add_operation(b, parents, layer, call, name, seen)
    table = keras_table()
    handler = next((table[cls] for cls in type(layer).__mro__ if cls in table), None)
    lora = _lora_product(b, layer, name) if getattr(layer, "lora_enabled", False) else None
    if handler is None:  # (an Embedding, an EinsumDense: read through their call)
        return add_custom_layer(b, parents, layer, call, name, add_keras_layer, seen)
    if handler is shape_handlers.recurrent and not shape_handlers.known_cells(layer):
        handler = partial(custom_cell_rnn, read=add_keras_layer)  # (an RNN of a custom cell)
    if handler is shape_handlers.attention and call is not None:
        parents = _attention_roles(b, layer, call, parents, name)
    first = b.size
    made = handler(b, parents, layer, _config(layer), name)
    made = made if isinstance(made, list) else [made]
    if lora is not None:
        _lora_kernels(b, first, layer)
    counted_once(b, first, layer.weights, seen, name)  # (those another layer counted: once)
    if call is not None and len(call.outputs) > len(made):  # return_attention_scores=True
        kind = b._nodes[made[0]].kind  # what the layer computed on the way: 0-MAC nodes
        more = recorded_shapes(b, call)[len(made) :]
        op = type(layer).__name__
        made += outputs_beside(b, made[0], name, more, kind=kind, op=op, start=len(made))
    return made


def _lora_product(b: GraphBuilder, layer: Any, name: str) -> int | None:
    """The product ``lora_kernel_a @ lora_kernel_b`` (an ``Embedding``'s
    ``lora_embeddings_a @ lora_embeddings_b``) a layer after ``enable_lora(rank)`` adds to its
    kernel on every call (on weights alone, once per call whatever the batch): a node without
    parents for its MACs, as a parametrized torch layer's product is. (A quantized layer
    multiplies its input by the two instead: not this product.)"""
    if getattr(layer, "quantization_mode", None) is not None:
        return None
    a, k = getattr(layer, "lora_kernel_a", None), getattr(layer, "lora_kernel_b", None)
    if a is None:
        a, k = getattr(layer, "lora_embeddings_a", None), getattr(layer, "lora_embeddings_b", None)
    if a is None or k is None or len(k.shape) != 2:
        return None
    shape = (*(int(d) for d in a.shape[:-1]), int(k.shape[-1]))
    macs = math.prod(int(d) for d in a.shape) * int(k.shape[-1])
    return b.computed(f"{name}.lora", output_shape=shape, macs=macs, op="matmul")


def _lora_kernels(b: GraphBuilder, first: int, layer: Any) -> None:
    """A layer after ``enable_lora(rank)`` (``Dense``, ``Conv2D``...: read from its config)
    also holds the two low-rank kernels its call adds to the kernel: counted on its first node
    with weights (``count_params()`` counts them; until 2026-12-07 they were left out)."""
    kernels = [getattr(layer, "lora_kernel_a", None), getattr(layer, "lora_kernel_b", None)]
    extra = count_weights(kernels, set())
    nodes = range(first, b.size)
    if extra and nodes:
        b.add_params(next((i for i in nodes if b._nodes[i].params), first), extra)


def _attention_roles(
    b: GraphBuilder, layer: Any, call: Any, parents: Sequence[int], name: str
) -> list[int]:
    """An attention layer's parents as (query, value, key, the rest): bound by argument
    name, so ``mha(query=x, value=y, attention_mask=m)`` sizes the products by ``x`` and
    ``y``, not by the mask (a missing key is the value, as Keras takes it). A query that is
    no traced tensor (a pooling head's learned probe, ``mha(probe, x)``) is a node of its
    shape without parents (its weight is counted by the layer that holds it)."""
    node = {id(t): p for t, p in zip(tensors_of(call.arguments), parents, strict=False)}
    try:
        bound = inspect.signature(layer.call).bind_partial(
            *call.arguments.args, **call.arguments.kwargs
        )
    except TypeError:
        return list(parents)
    role = {k: node[id(v)] for k, v in bound.arguments.items() if id(v) in node}
    probe: Any = bound.arguments.get("query")
    if "query" not in role and hasattr(probe, "shape") and None not in tuple(probe.shape):
        shape = tuple(int(d) for d in probe.shape)
        role["query"] = b.computed(
            f"{name}.query", output_shape=shape, macs=0, op="constant", kind=OpKind.MOVE
        )
    if "query" not in role:
        return list(parents)
    query = role["query"]
    value = role.get("value", query)
    key = role.get("key", value)
    return [query, value, key, *(p for p in parents if p not in (query, value, key))]
