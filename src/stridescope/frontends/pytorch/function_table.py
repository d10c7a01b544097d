"""The table of torch functions, tensor methods and operators the PyTorch frontend models.

Keys are the callables torch hands to ``__torch_function__`` (``F.relu``, ``torch.relu`` and
``Tensor.relu`` are three keys); values say the node's base name, its torch spelling and the
handler. Anything missing from this table is traced on meta tensors and marked uncounted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from stridescope.frontends.pytorch.handler_specs import FunctionSpec, is_inplace
from stridescope.frontends.pytorch.handlers import (
    elementwise,
    pooling,
    products,
    reduction,
    reshaping,
    slicing,
    weighted,
)
from stridescope.ir import OpKind

__all__ = ["FUNCTIONS"]

_ACTIVATIONS = (
    "F.relu F.relu_ torch.relu torch.relu_ Tensor.relu Tensor.relu_ F.relu6 F.leaky_relu "
    "F.leaky_relu_ F.elu F.elu_ F.selu F.celu F.gelu F.silu F.mish F.hardswish F.hardsigmoid "
    "F.hardtanh F.hardtanh_ F.sigmoid torch.sigmoid torch.sigmoid_ Tensor.sigmoid "
    "Tensor.sigmoid_ F.tanh torch.tanh torch.tanh_ Tensor.tanh Tensor.tanh_ F.softmax "
    "torch.softmax Tensor.softmax F.log_softmax torch.log_softmax Tensor.log_softmax "
    "F.softplus F.prelu F.logsigmoid F.softsign F.tanhshrink F.threshold F.softmin "
    "F.softshrink F.hardshrink Tensor.hardshrink F.rrelu F.rrelu_"
)
_MATH = (
    "torch.abs Tensor.abs Tensor.abs_ Tensor.__abs__ torch.neg Tensor.neg Tensor.neg_ "
    "Tensor.__neg__ torch.exp Tensor.exp Tensor.exp_ torch.log Tensor.log torch.log1p "
    "torch.expm1 torch.sqrt Tensor.sqrt torch.rsqrt Tensor.rsqrt torch.square Tensor.square "
    "torch.reciprocal Tensor.reciprocal torch.sign Tensor.sign torch.clamp Tensor.clamp "
    "Tensor.clamp_ torch.clip Tensor.clip Tensor.clip_ torch.sin torch.cos torch.erf Tensor.erf"
)
_NORMS = "F.batch_norm F.layer_norm F.group_norm F.instance_norm F.local_response_norm F.rms_norm"
_DROPOUTS = "F.dropout F.dropout1d F.dropout2d F.dropout3d F.alpha_dropout F.feature_alpha_dropout"
_MOVEMENT = (
    "torch.permute Tensor.permute torch.transpose Tensor.transpose Tensor.t torch.squeeze "
    "Tensor.squeeze torch.unsqueeze Tensor.unsqueeze Tensor.expand Tensor.expand_as "
    "torch.chunk Tensor.chunk torch.split Tensor.split torch.unbind Tensor.unbind torch.stack "
    "Tensor.__getitem__ torch.narrow Tensor.narrow torch.select Tensor.select torch.roll "
    "Tensor.roll torch.flip Tensor.flip Tensor.unflatten torch.movedim Tensor.movedim "
    "Tensor.repeat torch.tile"
)
_SAME = (
    "Tensor.contiguous Tensor.clone torch.clone Tensor.detach Tensor.float Tensor.to "
    "Tensor.type_as Tensor.cpu Tensor.cuda Tensor.requires_grad_ Tensor.half Tensor.double"
)


def _resolve(spelled: str) -> Any:
    space, _, attr = spelled.partition(".")
    owner = {"F": F, "torch": torch, "Tensor": torch.Tensor}[space]
    return getattr(owner, attr, None)


def _base(spelled: str) -> str:
    attr = spelled.split(".", 1)[1]
    if attr.startswith("__"):
        attr = attr.strip("_")
        return attr[1:] if attr[0] in "ir" and attr[1:] in _DUNDER_NAMES else attr
    return attr.rstrip("_")


_DUNDER_NAMES = {"add", "sub", "mul", "truediv"}


def _build() -> dict[Any, FunctionSpec]:
    table: dict[Any, FunctionSpec] = {}

    def add(handler: Callable[..., Any] | None, names: str) -> None:
        for spelled in names.split():
            func = _resolve(spelled)
            if func is None or func in table:
                continue  # not in this torch version, or an alias registered first
            base = _base(spelled)
            op = spelled if spelled.startswith("F.") else base
            inplace = is_inplace(spelled)
            table[func] = FunctionSpec(base, op, handler or fn_by_meta(func), inplace)

    def fn_by_meta(func: Any) -> Callable[..., Any]:
        return reshaping.by_meta(func)

    for rank in (1, 2, 3):
        add(weighted.conv, f"F.conv{rank}d")
        add(weighted.conv_transpose, f"F.conv_transpose{rank}d")
        add(pooling.max_pool(rank), f"F.max_pool{rank}d torch.max_pool{rank}d")
        add(pooling.avg_pool(rank), f"F.avg_pool{rank}d")
        add(pooling.lp_pool(rank), f"F.lp_pool{rank}d")
        add(pooling.adaptive("avg", rank), f"F.adaptive_avg_pool{rank}d")
        add(pooling.adaptive("max", rank), f"F.adaptive_max_pool{rank}d")
    add(weighted.linear, "F.linear")
    add(elementwise.pointwise(OpKind.ACTIVATION), _ACTIVATIONS)
    add(elementwise.pointwise(OpKind.NORM), _NORMS)
    add(elementwise.unary(OpKind.NORM), "F.normalize")
    add(elementwise.unary(OpKind.ACTIVATION), _MATH)
    add(elementwise.power, "torch.pow Tensor.pow Tensor.pow_ Tensor.__pow__ Tensor.__rpow__")
    add(elementwise.pointwise(OpKind.DROPOUT), _DROPOUTS)
    for kind, words in ((OpKind.ADD, ("add", "sub")), (OpKind.MUL, ("mul", "truediv", "div"))):
        for word in words:
            add(
                elementwise.arith(kind),
                f"torch.{word} Tensor.{word} Tensor.{word}_ Tensor.__{word}__ "
                f"Tensor.__r{word}__ Tensor.__i{word}__",
            )
    add(products.matmul, "torch.matmul Tensor.matmul Tensor.__matmul__ torch.mm Tensor.mm")
    add(products.matmul, "torch.bmm Tensor.bmm")
    add(products.rmatmul, "Tensor.__rmatmul__")
    add(products.attention, "F.scaled_dot_product_attention")
    add(products.multi_head_attention, "F.multi_head_attention_forward")
    add(products.einsum, "torch.einsum")
    add(reshaping.cat, "torch.cat torch.concat torch.concatenate")
    add(reshaping.flatten, "torch.flatten Tensor.flatten")
    add(reshaping.view, "Tensor.view Tensor.reshape torch.reshape")
    add(reshaping.same, _SAME)
    add(reshaping.pixel_unshuffle, "F.pixel_unshuffle")
    add(reshaping.pixel_shuffle, "F.pixel_shuffle")
    add(reshaping.interpolate, "F.interpolate")
    add(reshaping.pad, "F.pad")
    add(reduction.reduce("avg"), "torch.mean Tensor.mean torch.sum Tensor.sum")
    add(reduction.reduce("max"), "torch.amax Tensor.amax torch.amin Tensor.amin")
    add(elementwise.arith(OpKind.ADD), "torch.maximum Tensor.maximum torch.minimum Tensor.minimum")
    add(reduction.extreme("max"), "torch.max Tensor.max")
    add(reduction.extreme("min"), "torch.min Tensor.min")
    for handler, names in (
        (slicing.getitem, "Tensor.__getitem__"),
        (slicing.narrow, "torch.narrow Tensor.narrow"),
        (slicing.chunk, "torch.chunk Tensor.chunk"),
        (slicing.split, "torch.split Tensor.split"),
        (slicing.permute, "torch.permute Tensor.permute"),
        (slicing.glu, "F.glu"),
        (slicing.channel_shuffle, "F.channel_shuffle torch.native_channel_shuffle"),
        (slicing.transpose, "torch.transpose Tensor.transpose torch.swapaxes Tensor.swapaxes"),
        (slicing.movedim, "torch.movedim Tensor.movedim torch.moveaxis Tensor.moveaxis"),
    ):
        for spelled in names.split():  # what is not a slice is data movement, not uncounted
            add(reshaping.or_movement(handler, _resolve(spelled)), spelled)
    add(None, _MOVEMENT)
    return table


FUNCTIONS: dict[Any, FunctionSpec] = _build()
