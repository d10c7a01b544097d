"""The table of torch functions, tensor methods and operators the PyTorch frontend models.

Keys are the callables torch hands to ``__torch_function__`` (``F.relu``, ``torch.relu`` and
``Tensor.relu`` are three keys); values say the node's base name, its torch spelling and the
handler. Anything missing from this table is traced on meta tensors and marked uncounted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from stridescope.frontends.pytorch.elementwise_names import (
    ACTIVATIONS,
    COMPARE,
    DIVIDE,
    DROPOUTS,
    MATH,
    NORMS,
    SELECT,
)
from stridescope.frontends.pytorch.handler_specs import FunctionSpec, is_inplace
from stridescope.frontends.pytorch.handlers import (
    attention,
    bindings,
    elementwise,
    losses,
    movement,
    pooling,
    products,
    recurrent,
    reduction,
    reshaping,
    sampling,
    selection,
    slicing,
    spectral,
    weighted,
    writes,
)
from stridescope.frontends.pytorch.known_values import membership, with_known_values
from stridescope.frontends.pytorch.per_function import PER_FUNCTION
from stridescope.frontends.pytorch.views import KEYS
from stridescope.ir import OpKind

__all__ = ["FUNCTIONS"]

_MOVEMENT = (
    "torch.permute Tensor.permute torch.transpose Tensor.transpose Tensor.t torch.squeeze "
    "Tensor.squeeze torch.unsqueeze Tensor.unsqueeze Tensor.expand Tensor.as_strided "
    "torch.chunk Tensor.chunk torch.split Tensor.split torch.unbind Tensor.unbind torch.stack "
    "Tensor.__getitem__ torch.narrow Tensor.narrow torch.select Tensor.select torch.roll "
    "Tensor.roll torch.flip Tensor.flip torch.movedim Tensor.movedim "
    "Tensor.repeat torch.tile torch.repeat_interleave Tensor.repeat_interleave F.unfold F.fold "
    "Tensor.unfold torch.gather Tensor.gather torch.index_select Tensor.index_select "
    "torch.take_along_dim Tensor.take_along_dim F.embedding Tensor.broadcast_to Tensor.multinomial "
    "torch.broadcast_to torch.meshgrid torch.tril Tensor.tril torch.triu Tensor.triu "
    "torch.hsplit Tensor.hsplit torch.vsplit Tensor.vsplit torch.dsplit Tensor.dsplit "
    "F.embedding_bag Tensor.split_with_sizes torch.split_with_sizes torch.hstack torch.vstack torch.dstack torch.column_stack "
    "torch.row_stack torch.atleast_1d torch.atleast_2d torch.atleast_3d torch.diagonal "
    "Tensor.diagonal torch.diag_embed torch.rot90 Tensor.rot90 torch.fliplr torch.flipud "
    "Tensor.fliplr Tensor.flipud torch.take Tensor.take torch.view_as_real torch.multinomial "
    "torch.view_as_complex torch.real torch.imag torch.conj Tensor.conj torch.resolve_conj "
    "Tensor.resolve_conj torch.fft.fftshift torch.fft.ifftshift torch._C._nn.pad_sequence "
    "Tensor.tile Tensor.diag_embed torch.diagflat Tensor.diagflat torch.adjoint Tensor.adjoint "
    "torch.diag Tensor.diag torch.block_diag torch.nonzero_static Tensor.nonzero_static "
    "torch.broadcast_tensors torch.linalg.diagonal torch.diagonal_copy torch.slice_copy "
    "torch.split_copy torch.squeeze_copy torch.unsqueeze_copy torch.unbind_copy torch.as_strided "
    "torch.unsafe_split_with_sizes Tensor.unsafe_split_with_sizes Tensor.resize_ Tensor.resize "
    "Tensor.resize_as_ torch.resize_as_ Tensor.resize_as torch.cartesian_prod torch.combinations"
)
_SAME = (
    "Tensor.contiguous Tensor.clone torch.clone Tensor.detach Tensor.float Tensor.to "
    "Tensor.type_as Tensor.cpu Tensor.cuda Tensor.requires_grad_ Tensor.half Tensor.double "
    "Tensor.bool Tensor.long Tensor.int Tensor.bfloat16 Tensor.short Tensor.char Tensor.byte "
    "Tensor.cfloat Tensor.cdouble Tensor.chalf Tensor.type Tensor.as_subclass "
    "Tensor.dequantize torch.dequantize torch.quantize_per_tensor torch.quantize_per_channel "
    "torch.detach torch.detach_copy torch.alias_copy torch.resolve_neg Tensor.resolve_neg "
    "torch.conj_physical Tensor.conj_physical"
)
_CONSTANTS = (
    "Tensor.new_zeros Tensor.new_ones Tensor.new_full Tensor.new_empty Tensor.new_tensor Tensor.new "
    "torch.zeros_like torch.ones_like torch.full_like torch.empty_like torch.rand_like "
    "torch.randn_like Tensor.new_empty_strided"
)


def _resolve(spelled: str) -> Any:
    space, _, attr = spelled.partition(".")
    found: Any = {"F": F, "torch": torch, "Tensor": torch.Tensor, "aten": torch.ops.aten}[space]
    for part in attr.split("."):  # torch.fft.rfft2
        found = getattr(found, part, None)
    return found


def _base(spelled: str) -> str:
    attr = spelled.split(".", 1)[1].rsplit(".", 1)[-1]
    if attr.startswith("__"):
        attr = attr.strip("_")
        return attr[1:] if attr[0] in "ir" and attr[1:] in _DUNDER_NAMES else attr
    return attr.rstrip("_")


_DUNDER_NAMES = {"add", "sub", "mul", "truediv", "pow", "and", "or", "xor", "floordiv", "mod"}


Row = tuple[Callable[..., Any] | None, str]
"""A handler (``None``: data movement, shape from meta) and the spellings it handles."""


def _windows(rank: int) -> list[Row]:
    return [
        (weighted.conv, f"F.conv{rank}d"),
        (weighted.conv_transpose, f"F.conv_transpose{rank}d"),
        (pooling.max_pool(rank), f"F.max_pool{rank}d torch.max_pool{rank}d"),
        (pooling.avg_pool(rank), f"F.avg_pool{rank}d"),
        (pooling.lp_pool(rank), f"F.lp_pool{rank}d"),
        (pooling.adaptive("avg", rank), f"F.adaptive_avg_pool{rank}d"),
        (pooling.adaptive("max", rank), f"F.adaptive_max_pool{rank}d"),
    ]


def _arithmetic() -> list[Row]:
    words = {OpKind.ADD: ("add", "sub"), OpKind.MUL: ("mul", "truediv", "div")}
    return [
        (
            elementwise.arith(kind),
            f"torch.{w} Tensor.{w} Tensor.{w}_ Tensor.__{w}__ Tensor.__r{w}__ Tensor.__i{w}__",
        )
        for kind, spelled in words.items()
        for w in spelled
    ]


def _ops_under_functions() -> list[Row]:
    """The operations ``F.conv*`` and the recurrent modules run, which a compiled or exported
    graph calls directly."""
    return [
        (weighted.convolution, "torch.convolution torch._convolution"),
        (weighted.conv, "torch._convolution_mode"),  # (F.conv*'s, with padding="same")
        *recurrent.ROWS,
    ]


def _rows() -> list[Row]:
    """Every row, in order: the first row that names a callable wins."""
    return [
        *_ops_under_functions(),
        *_windows(1),
        *_windows(2),
        *_windows(3),
        *_pools_with_indices(),
        (weighted.linear, "F.linear"),
        (elementwise.pointwise(OpKind.ACTIVATION), ACTIVATIONS),
        (elementwise.pointwise(OpKind.NORM), NORMS),
        (elementwise.unary(OpKind.NORM), "F.normalize"),
        (elementwise.unary(OpKind.ACTIVATION), MATH),
        (
            elementwise.power,
            "torch.pow Tensor.pow Tensor.pow_ Tensor.__pow__ Tensor.__rpow__ Tensor.__ipow__",
        ),
        (elementwise.select(torch.bool), COMPARE),
        (elementwise.select(), SELECT),
        (elementwise.select(torch.complex64), "torch.complex torch.polar"),  # (no MACs)
        (elementwise.arith(OpKind.MUL), DIVIDE),
        (elementwise.pointwise(OpKind.DROPOUT), DROPOUTS),
        *_arithmetic(),
        (elementwise.arith(OpKind.ADD), "torch.rsub torch.subtract Tensor.subtract torch.normal"),
        (products.matmul, "torch.matmul Tensor.matmul Tensor.__matmul__ torch.mm Tensor.mm"),
        (products.matmul, "torch.bmm Tensor.bmm torch.linalg.matmul"),
        *_beside_products(),
        (products.rmatmul, "Tensor.__rmatmul__"),
        (products.attention, "F.scaled_dot_product_attention"),
        (products.einsum, "torch.einsum"),
        (products.bilinear, "F.bilinear torch.bilinear"),
        (
            products.add_product,
            "torch.addmm Tensor.addmm torch.baddbmm Tensor.baddbmm torch.addmv Tensor.addmv",
        ),
        (elementwise.fused, "torch.addcmul Tensor.addcmul torch.addcdiv Tensor.addcdiv"),
        (reshaping.cat, "torch.cat torch.concat torch.concatenate"),
        (reshaping.flatten, "torch.flatten Tensor.flatten torch.ravel Tensor.ravel"),
        (reshaping.view, "Tensor.view Tensor.reshape torch.reshape"),
        (reshaping.same, _SAME),
        (reshaping.as_other, "Tensor.reshape_as Tensor.view_as Tensor.expand_as"),
        (writes.setitem, "Tensor.__setitem__"),
        *writes.ROWS,
        (reshaping.pixel_unshuffle, "F.pixel_unshuffle"),
        (reshaping.pixel_shuffle, "F.pixel_shuffle"),
        (reshaping.interpolate, "F.interpolate"),
        (reshaping.pad, "F.pad"),
        (reduction.reduce("avg"), "torch.mean Tensor.mean torch.sum Tensor.sum"),
        (reduction.reduce("max"), "torch.amax Tensor.amax torch.amin Tensor.amin"),
        (
            elementwise.arith(OpKind.ADD),
            "torch.maximum Tensor.maximum torch.minimum Tensor.minimum",
        ),
        (reduction.norm, "torch.norm Tensor.norm"),
        (losses.pairwise_loss, losses.LOSSES),
        (losses.class_loss, losses.CLASS_LOSSES),
        (losses.other_loss, losses.OTHER_LOSSES),
        (losses.histc, "torch.histc Tensor.histc"),
        (reduction.spread, "torch.var Tensor.var torch.std Tensor.std"),
        (reduction.extreme("max"), "torch.max Tensor.max"),
        (reduction.extreme("min"), "torch.min Tensor.min"),
    ]


def _beside_products() -> list[Row]:
    """Attention, other products, distances, sampling, lookups, buckets, ``value in x``, and
    torch's bindings of ``F``'s losses and norms (``bindings``)."""
    return [
        (membership, "Tensor.__contains__"),
        (products.grouped_mm, "F.grouped_mm torch._grouped_mm"),
        (elementwise.float_power, "torch.float_power Tensor.float_power"),
        (attention.multi_head_attention, "F.multi_head_attention_forward"),
        (attention.native_multi_head_attention, "torch._native_multi_head_attention"),
        (attention.not_left_aligned, "torch._nested_tensor_from_mask_left_aligned"),
        (products.matmul, "torch.mv Tensor.mv torch.dot Tensor.dot torch.vdot Tensor.vdot"),
        (spectral.outer, "torch.outer Tensor.outer torch.ger Tensor.ger"),
        (spectral.addr, "torch.addr Tensor.addr"),
        (spectral.tensordot, "torch.tensordot"),
        (spectral.stft, "torch.stft Tensor.stft"),
        (spectral.istft, "torch.istft Tensor.istft"),
        (spectral.cdist, "torch.cdist"),
        (sampling.grid_sample, "F.grid_sample"),
        (sampling.affine_grid, "F.affine_grid"),
        (sampling.one_hot, "F.one_hot"),
        (elementwise.bucket(0), "torch.bucketize"),
        (elementwise.bucket(1), "torch.searchsorted"),
        *bindings.BINDING_ROWS,
    ]


def _pools_with_indices() -> list[Row]:
    return [
        row
        for r in (1, 2, 3)
        for row in (
            (pooling.with_indices(pooling.max_pool(r)), f"F.max_pool{r}d_with_indices"),
            (
                pooling.with_indices(pooling.adaptive("max", r)),
                f"F.adaptive_max_pool{r}d_with_indices",
            ),
            (sampling.max_unpool(r), f"F.max_unpool{r}d"),
        )
    ]


# Slices and axis moves: where the handler declines, data movement (never uncounted).
_SLICING: list[tuple[Callable[..., Any], str]] = [
    (slicing.getitem, "Tensor.__getitem__"),
    (slicing.narrow, "torch.narrow Tensor.narrow"),
    (slicing.select, "torch.select Tensor.select"),
    (slicing.unbind, "torch.unbind Tensor.unbind"),
    (slicing.chunk, "torch.chunk Tensor.chunk torch.unsafe_chunk Tensor.unsafe_chunk"),
    (slicing.split, "torch.split Tensor.split torch.unsafe_split Tensor.unsafe_split"),
    (slicing.tensor_split, "torch.tensor_split Tensor.tensor_split"),
    (slicing.permute, "torch.permute Tensor.permute"),
    (slicing.glu, "F.glu"),
    (slicing.channel_shuffle, "F.channel_shuffle torch.native_channel_shuffle"),
    (reshaping.stack, "torch.stack"),
    (
        slicing.transpose,
        "torch.transpose Tensor.transpose torch.swapaxes Tensor.swapaxes torch.swapdims "
        "Tensor.swapdims",
    ),
    (slicing.movedim, "torch.movedim Tensor.movedim torch.moveaxis Tensor.moveaxis"),
    (slicing.index_select, "torch.index_select Tensor.index_select"),
    (movement.unflatten, "torch.unflatten Tensor.unflatten"),
    *selection.SELECTION,
]


# Data movement whose output shapes follow from the arguments (the rest: a meta run)
_SHAPED: dict[str, Callable[[Any], Callable[..., Any]]] = {
    "Tensor.__getitem__": movement.index,
    "torch.unsqueeze": movement.unsqueeze,
    "Tensor.unsqueeze": movement.unsqueeze,
    "torch.squeeze": movement.squeeze,
    "Tensor.squeeze": movement.squeeze,
    "torch.unbind": movement.unbind,
    "Tensor.unbind": movement.unbind,
    "torch.roll": movement.roll,
    "Tensor.roll": movement.roll,
}


def _build() -> dict[Any, FunctionSpec]:
    table: dict[Any, FunctionSpec] = {}

    def add(handler: Callable[..., Any] | None, names: str, moves: bool = False) -> None:
        """A spec per spelling in ``names``; ``moves``: data movement where ``handler``
        declines (the shape rule of ``_SHAPED``, else a meta run)."""
        for spelled in names.split():
            func = _resolve(spelled)
            if func is None or func in table:
                continue  # not in this torch version, or an alias registered first
            base = _base(spelled)
            op = spelled if spelled.startswith("F.") else base
            shaped = _SHAPED.get(spelled)
            otherwise = (shaped(func) if shaped else reshaping.by_meta(func)) if moves else None
            inplace = is_inplace(spelled)
            attr = spelled.rpartition(".")[2]  # (``F.unfold`` copies: only torch's views count)
            view = None if inplace or spelled.startswith("F.") else KEYS.get(attr)
            table[func] = FunctionSpec(
                base, op, handler or reshaping.by_meta(func), inplace, otherwise, view
            )

    for handler, names in _rows():
        add(handler, names)
    for factory, names in PER_FUNCTION:
        for spelled in names.split():
            if (func := _resolve(spelled)) is not None:
                add(factory(func), spelled)
    for part in ("real", "imag"):  # x.real: torch passes the property's getter
        getter = getattr(torch.Tensor, part).__get__
        table[getter] = FunctionSpec(part, part, reshaping.by_meta(getter, part))
    for handler, names in _SLICING:
        add(handler, names, moves=True)
    for spelled, shaped in _SHAPED.items():
        add(shaped(_resolve(spelled)), spelled)
    add(reshaping.unfold, "F.unfold Tensor.unfold", moves=True)  # (else as _MOVEMENT)
    add(None, _MOVEMENT)
    for spelled in _CONSTANTS.split():
        add(reshaping.constant(_resolve(spelled)), spelled)
    _add_in_place(table)
    with_known_values(table)  # (isinf(x).any() is false: see known_values)
    return table


def _add_in_place(table: dict[Any, FunctionSpec]) -> None:
    """Every in-place tensor method (``x.sqrt_()``, ``x.clamp_min_(eps)``, ``x.unsqueeze_(1)``,
    ``mask.logical_not_()``) whose out-of-place form the table holds: that form's spec, its
    result written into the tensor (as the rows that name an in-place spelling do)."""
    for attr in dir(torch.Tensor):
        if not attr.endswith("_") or attr.startswith("_"):
            continue
        func, base = getattr(torch.Tensor, attr), getattr(torch.Tensor, attr[:-1], None)
        spec = table.get(base) if base is not None else None
        if spec is not None and func not in table:
            table[func] = replace(spec, inplace=True, view=None)


FUNCTIONS: dict[Any, FunctionSpec] = _build()
