"""Products of tensors in the PyTorch tracer: ``@``, ``mm``, ``bmm``, ``einsum`` and
``F.scaled_dot_product_attention`` have torch's shapes and MACs equal to ``FlopCounterMode``
/ 2 (attention: equal to its two explicit products); a weight product on channels-last
features keeps positions."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from stridescope.analysis.summary_rf import WHOLE, receptive_fields
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind

Fn = Callable[[torch.Tensor], torch.Tensor]
WEIGHT = torch.randn(6, 5)


class _Tokens(nn.Module):
    """(B, C, H, W) -> (B, H*W, C) tokens, then ``fn``."""

    def __init__(self, fn: Fn) -> None:
        super().__init__()
        self.fn = fn
        self.weight = nn.Parameter(WEIGHT.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x.flatten(2).transpose(1, 2))


PRODUCTS: list[tuple[str, Callable[[_Tokens], Fn]]] = [
    ("matmul", lambda m: lambda t: t @ t.transpose(1, 2)),
    ("weight_matmul", lambda m: lambda t: torch.matmul(t, m.weight)),
    ("constant_left", lambda m: lambda t: torch.ones(3, 4) @ t),
    ("bmm", lambda m: lambda t: torch.bmm(t.transpose(1, 2), t)),
    ("mm", lambda m: lambda t: t[0] @ t[0].T),
    ("mT", lambda m: lambda t: torch.bmm(t, t.mT)),
    ("einsum", lambda m: lambda t: torch.einsum("bnc,bmc->bnm", t, t)),
    ("einsum_list", lambda m: lambda t: torch.einsum("bnc,cd->bnd", [t, m.weight])),
]


@pytest.mark.parametrize(("label", "make"), PRODUCTS, ids=[c[0] for c in PRODUCTS])
def test_products_match_torch_shapes_and_flop_counter(
    label: str, make: Callable[[_Tokens], Fn]
) -> None:
    module = _Tokens(lambda t: t)
    module.fn = make(module)
    shape = (2, 6, 2, 2)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        expected = tuple(module(torch.rand(shape)).shape)
    graph = trace_torch(module, shape)
    assert graph.output.output_shape == expected, label
    assert not graph.uncounted, label
    products = [n for n in graph.nodes if n.kind is OpKind.MATMUL]
    assert len(products) == 1, label
    assert 2 * products[0].macs == counter.get_total_flops(), label
    used = "weight" in label or label.endswith("list")
    assert graph.params == (WEIGHT.numel() if used else 0), label  # counted once, where used


def test_attention_costs_its_two_products() -> None:
    def split(t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, n, c = t.shape
        q, k, v = t.reshape(b, n, 3, 2, c // 6).permute(2, 0, 3, 1, 4).unbind(0)
        return q, k, v

    def fused(t: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(*split(t))

    def explicit(t: torch.Tensor) -> torch.Tensor:
        q, k, v = split(t)
        return (q @ k.transpose(-2, -1)).softmax(-1) @ v

    def masked(t: torch.Tensor) -> torch.Tensor:
        q, k, v = split(t)
        mask = (q @ k.transpose(-2, -1)) > 0  # traced: a product of its own
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)

    shape = (2, 12, 3, 3)
    with_mask = trace_torch(_Tokens(masked), shape)
    assert not with_mask.uncounted and with_mask.macs == 2 * 2 * 9 * 9 * (2 + 2) + 2 * 2 * 9 * 9 * 2
    one = trace_torch(_Tokens(fused), shape)
    two = trace_torch(_Tokens(explicit), shape)
    assert one.output.output_shape == two.output.output_shape == (2, 2, 9, 2)
    assert not one.uncounted and not two.uncounted
    assert one.macs == two.macs == 2 * 2 * 9 * 9 * (2 + 2)


def test_a_weight_product_on_channels_last_features_keeps_positions() -> None:
    class ChannelsLast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 4, 3, stride=2)
            self.weight = nn.Parameter(torch.randn(4, 4))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x).permute(0, 2, 3, 1) @ self.weight
            return y.permute(0, 3, 1, 2)

    graph = trace_torch(ChannelsLast(), (1, 2, 9, 9))
    fields = receptive_fields(graph)
    assert fields[-1] == fields[1] and fields[-1] != WHOLE  # the conv's field


EQUATIONS: list[tuple[str, Callable[[_Tokens], Fn]]] = [
    ("spaces_capitals", lambda m: lambda t: torch.einsum("B N C, B M C -> B N M", t, t)),
    ("ellipsis", lambda m: lambda t: torch.einsum("...c,...c->...", t, t)),
    ("ellipsis_broadcast", lambda m: lambda t: torch.einsum("...nc,cd->...nd", t, m.weight)),
    ("implicit_output", lambda m: lambda t: torch.einsum("bnc,cd", t, m.weight)),
    ("three_operands", lambda m: lambda t: torch.einsum("bnc,bmc,bmd->bnd", t, t, t)),
    # the sublist form: each operand, then its axes as ints (torch.functional converts it
    # only when the first operand is a tensor: a traced one first must be converted too)
    ("sublist_traced_first", lambda m: lambda t: torch.einsum(t, [0, 1, 2], m.weight, [2, 3])),
    (
        "sublist_output",
        lambda m: lambda t: torch.einsum(t, [0, 1, 2], t, [0, 3, 2], [0, 1, 3]),
    ),
    ("sublist_weight_first", lambda m: lambda t: torch.einsum(m.weight, [2, 3], t, [0, 1, 2])),
    ("sublist_ellipsis", lambda m: lambda t: torch.einsum(t, [..., 2], m.weight, [2, 3])),
]


@pytest.mark.parametrize(("label", "make"), EQUATIONS, ids=[c[0] for c in EQUATIONS])
def test_every_einsum_equation_costs_what_torch_computes(
    label: str, make: Callable[[_Tokens], Fn]
) -> None:
    module = _Tokens(lambda t: t)
    module.fn = make(module)
    shape = (2, 6, 2, 3)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        expected = tuple(module(torch.rand(shape)).shape)
    graph = trace_torch(module, shape)
    assert not graph.uncounted, label
    assert graph.output.output_shape == expected, label
    assert 2 * graph.macs == counter.get_total_flops(), label
    used = label not in ("spaces_capitals", "ellipsis", "three_operands", "sublist_output")
    assert graph.params == (WEIGHT.numel() if used else 0), label  # counted once, where used


class _Attend(nn.Module):
    """Tokens from a patchify conv into ``nn.MultiheadAttention``."""

    def __init__(self, batch_first: bool, kdim: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 4, stride=4)
        self.other = nn.Conv2d(3, kdim or 16, 4, stride=4)
        self.mha = nn.MultiheadAttention(16, 4, batch_first=batch_first, kdim=kdim, vdim=kdim)
        self.batch_first = batch_first

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        q, kv = self.conv(x).flatten(2), self.other(x).flatten(2)
        order = (0, 2, 1) if self.batch_first else (2, 0, 1)
        q, kv = q.permute(*order), kv.permute(*order)
        out, weights = self.mha(q, kv, kv, average_attn_weights=not self.batch_first)
        return out, weights


@pytest.mark.parametrize("kdim", [None, 8], ids=["packed", "separate"])
def test_multihead_attention_matches_flop_counter_and_torch_shapes(kdim: int | None) -> None:
    module = _Attend(batch_first=False, kdim=kdim).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out, weights = module(torch.rand(2, 3, 16, 12))
    graph = trace_torch(module, (2, 3, 16, 12))
    assert not graph.uncounted
    assert 2 * graph.macs == counter.get_total_flops()
    assert graph.params == sum(p.numel() for p in module.parameters())
    shapes = {n.name: n.output_shape for n in graph.nodes if n.kind is OpKind.MATMUL}
    assert weights is not None
    assert sorted(shapes.values()) == sorted([tuple(out.shape), tuple(weights.shape)])


class _AttentionPool(nn.Module):
    """Attention pooling whose output projection changes the width (CLIP's ResNet head)."""

    def __init__(self) -> None:
        super().__init__()
        self.in_proj = nn.Parameter(torch.randn(3 * 16, 16))
        self.in_bias = nn.Parameter(torch.zeros(3 * 16))
        self.out = nn.Linear(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).permute(2, 0, 1)  # (L, N, E)
        weights = (self.in_proj, self.in_bias, None, None, False, 0.0)
        out_proj = (self.out.weight, self.out.bias)
        out, _ = F.multi_head_attention_forward(
            tokens, tokens, tokens, 16, 4, *weights, *out_proj, training=False
        )
        return out


def test_attention_with_a_narrower_output_projection_has_its_width() -> None:
    module = _AttentionPool().eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(torch.rand(2, 16, 3, 4))
    graph = trace_torch(module, (2, 16, 3, 4))
    assert graph.output.output_shape == tuple(out.shape) == (12, 2, 8)
    assert 2 * graph.macs == counter.get_total_flops()


def test_batch_first_attention_costs_the_same_as_sequence_first() -> None:
    """Batch-first in eval mode takes torch's fused kernel, which ``FlopCounterMode`` does not
    see; the traced MACs are the sequence-first ones."""
    first = trace_torch(_Attend(batch_first=True).eval(), (2, 3, 16, 12))
    second = trace_torch(_Attend(batch_first=False).eval(), (2, 3, 16, 12))
    assert first.macs == second.macs and not first.uncounted
    weights = next(n for n in first.nodes if n.name.endswith(".weights"))
    assert weights.output_shape == (2, 4, 12, 12) and weights.macs == 0  # per head


class _MaskedAttend(_Attend):
    """Attention restricted by a mask the forward computes from the features (as masked
    attention in a segmentation decoder): ``nn.MultiheadAttention`` asks the mask's dtype of
    ``F._none_or_dtype``, which refused what is not a ``torch.Tensor``."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        q = self.conv(x).flatten(2).permute(2, 0, 1)  # (L, N, E)
        scores = torch.einsum("lne,sne->nls", q, q)
        mask = (scores.sigmoid() < 0.5).repeat_interleave(4, 0)  # (N * heads, L, S)
        padding = q[..., 0].T > 0  # (N, S)
        return self.mha(q, q, q, attn_mask=mask, key_padding_mask=padding, need_weights=False)


def test_attention_with_a_traced_mask_has_the_mask_for_a_parent() -> None:
    module = _MaskedAttend(batch_first=False).eval()
    with (  # (torch's CPU flash kernel is not counted by FlopCounterMode: its plain path is)
        sdpa_kernel(SDPBackend.MATH),
        FlopCounterMode(display=False) as counter,
        torch.no_grad(),
    ):
        out, _ = module(torch.rand(2, 3, 16, 12))
    graph = trace_torch(module, (2, 3, 16, 12))
    assert not graph.uncounted and 2 * graph.macs == counter.get_total_flops()
    attention = next(n for n in graph.nodes if n.op == "F.multi_head_attention_forward")
    assert attention.output_shape == tuple(out.shape) and len(attention.parents) == 3
    assert F._none_or_dtype(None) is None  # torch's own again after the trace


def test_a_linear_layer_with_a_vector_weight_contracts_the_last_axis() -> None:
    """``F.linear(x, w)`` with ``w`` of shape ``(K,)`` (a projection onto bin centres, as a
    detection head integrates a distribution): ``x @ w``."""
    graph = trace_torch(_Tokens(lambda t: F.linear(t.softmax(-1), torch.arange(6.0))), (2, 6, 2, 3))
    assert graph.output.output_shape == (2, 6) and graph.macs == 2 * 6 * 6
    assert not graph.uncounted


def test_an_einsum_step_that_contracts_nothing_costs_like_a_multiply() -> None:
    """``FlopCounterMode`` sees torch's ``mul`` there, not a product; stridescope counts one
    MAC per output element, as for any broadcasting multiply."""
    graph = trace_torch(_Tokens(lambda t: torch.einsum("bnc,bmc->bnmc", t, t)), (2, 6, 2, 3))
    assert graph.output.output_shape == (2, 6, 6, 6)
    assert graph.macs == 2 * 6 * 6 * 6 and not graph.uncounted


class _AttendAlone(nn.Module):
    """``nn.MultiheadAttention`` on one sample's tokens, ``(L, E)`` without a batch axis
    (attention run per sample in a loop): it was uncounted."""

    def __init__(self, average: bool) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(16, 4)
        self.average = average

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        tokens = x.flatten(2)[0].T  # (L, E)
        return self.mha(tokens, tokens, tokens, average_attn_weights=self.average)


@pytest.mark.parametrize("average", [True, False])
def test_unbatched_attention_costs_what_a_batch_of_one_does(average: bool) -> None:
    module = _AttendAlone(average).eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out, weights = module(torch.rand(1, 16, 3, 4))
    graph = trace_torch(module, (1, 16, 3, 4))
    assert not graph.uncounted and 2 * graph.macs == counter.get_total_flops()
    shapes = sorted(n.output_shape for n in graph.nodes if n.kind is OpKind.MATMUL)
    assert weights is not None
    assert shapes == sorted([tuple(out.shape), tuple(weights.shape)])


class _AttendWithExtraKeys(nn.Module):
    """``add_bias_kv`` and ``add_zero_attn``: a learned key and a zero key join the keys
    after their projection, so the projections cost what the tokens do (they were counted
    for one more key each)."""

    def __init__(self, extra: str) -> None:
        super().__init__()
        self.mha = nn.MultiheadAttention(
            16, 4, add_bias_kv=extra in ("bias", "both"), add_zero_attn=extra in ("zero", "both")
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).permute(2, 0, 1)  # (L, N, E)
        return self.mha(tokens, tokens, tokens, need_weights=False)[0]


@pytest.mark.parametrize("extra", ["bias", "zero", "both"])
def test_extra_keys_are_not_projected(extra: str) -> None:
    module = _AttendWithExtraKeys(extra).eval()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        module(torch.rand(2, 16, 3, 4))  # (the math kernel: FlopCounterMode counts its products)
    graph = trace_torch(module, (2, 16, 3, 4))
    assert not graph.uncounted and 2 * graph.macs == counter.get_total_flops()


class _HyperAttend(nn.Module):
    """Attention whose input projection a small network makes from the input (a
    hypernetwork): it was uncounted."""

    def __init__(self) -> None:
        super().__init__()
        self.make = nn.Linear(16, 3 * 16 * 16)
        self.out = nn.Linear(16, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).permute(2, 0, 1)  # (L, N, E)
        in_proj = self.make(tokens.mean((0, 1))).view(3 * 16, 16)
        weights = (in_proj, None, None, None, False, 0.0, self.out.weight, self.out.bias)
        out, _ = F.multi_head_attention_forward(
            tokens, tokens, tokens, 16, 4, *weights, training=False, need_weights=False
        )
        return out


def test_attention_with_computed_weights_reads_them() -> None:
    module = _HyperAttend().eval()
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(torch.rand(2, 16, 3, 4))
    graph = trace_torch(module, (2, 16, 3, 4))
    products = sum(n.macs for n in graph.nodes if n.kind in (OpKind.LINEAR, OpKind.MATMUL))
    assert not graph.uncounted and 2 * products == counter.get_total_flops()  # (not the mean's)
    assert graph.params == sum(p.numel() for p in module.parameters())
    attention = next(n for n in graph.nodes if n.op == "F.multi_head_attention_forward")
    assert attention.output_shape == tuple(out.shape)
    made = next(n.id for n in graph.nodes if n.name == "make")
    assert any(made in graph.nodes[p].parents or p == made for p in attention.parents)
