"""Patterns of forwards written by hand, each the way public vision models write it: tensors
made and filled inside the forward, masks from comparisons, parameters used outside any layer,
the ``*_as`` family, broadcasting merges and a layer run on a tensor the forward made. Each
traces, counts every parameter once, leaves nothing uncounted, and has torch's shapes and
``FlopCounterMode`` / 2 products."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import Graph, OpKind

SHAPE = (2, 3, 16, 16)


def _check(module: nn.Module, shape: tuple[int, ...] = SHAPE) -> Graph:
    """Trace ``module`` and compare with a real forward: shape, products, parameters."""
    module.eval()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        expected = module(torch.rand(shape))
    graph = trace_torch(module, shape)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    assert graph.output.output_shape == tuple(expected.shape)
    products = sum(
        n.macs for n in graph.nodes if n.kind in (OpKind.CONV, OpKind.MATMUL, OpKind.LINEAR)
    )
    assert 2 * products == counter.get_total_flops()
    return graph


class _Stem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 4, stride=4)  # (N, 8, 4, 4)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).flatten(2).transpose(1, 2)  # (N, 16, 8)


class ShiftedWindowMask(_Stem):
    """A region mask made with ``torch.zeros`` / ``new_zeros``, filled by slice assignment and
    turned into an attention mask with ``!=`` and ``masked_fill`` of a Python float."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tokens(x)
        attn = t @ t.transpose(1, 2)
        n = 4
        regions = torch.zeros((1, n, n, 1), device=x.device, dtype=x.dtype)
        traced = t.new_zeros((n, n))
        for i, part in enumerate((slice(0, -2), slice(-2, -1), slice(-1, None))):
            regions[:, part, :, :] = i
            traced[part, :] = float(i)
        flat = regions.reshape(1, n * n)
        attn = attn.masked_fill(flat.unsqueeze(1) - flat.unsqueeze(2) != 0, -100.0)
        grid = traced.reshape(1, n * n)
        attn = attn.masked_fill(grid.unsqueeze(1) != grid.unsqueeze(2), -100.0)
        made = torch.full((n * n,), 0.5, dtype=torch.float32, device=x.device)
        ramp = torch.arange(n * n, dtype=x.dtype, device=x.device) + torch.ones(n * n)
        return attn.softmax(-1) * made + ramp.view(1, 1, -1) + torch.empty(1, device=x.device)


class Selects(_Stem):
    """``where`` / ``masked_fill`` / ``clamp`` with Python numbers and bool masks."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.tokens(x)
        keep = (t > 0) & (t < 1) | ~(t == 0.5)
        y = torch.where(keep, t, 0.0) + t.where(t >= 0, torch.zeros(1))
        y = y.masked_fill(t <= -1, 1) + t.clamp(min=0.1) + t.clamp(max=t.mean(-1, keepdim=True))
        y.masked_fill_(torch.isnan(y), 0.0)
        return y * (t % 2) + t // 3 + (t != t).float()


class OutsideLayers(nn.Module):
    """Parameters no layer owns, each used the way a transformer uses it."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.pos_embed = nn.Parameter(torch.zeros(1, 17, 8))
        self.gamma = nn.Parameter(torch.ones(8))
        self.scale = nn.Parameter(torch.ones(8))
        self.bias_table = nn.Parameter(torch.zeros(9, 2))
        self.register_buffer("index", torch.randint(0, 9, (17, 17)))
        self.proj = nn.Parameter(torch.randn(8, 8))
        self.aux_head = nn.Linear(8, 4)  # forward never calls it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(t.shape[0], -1, -1), t], dim=1) + self.pos_embed
        t = t + t.mul(self.gamma) + t * self.scale.view(1, 1, -1) + t * self.gamma
        heads = t.reshape(-1, 17, 2, 4).transpose(1, 2)
        attn = heads @ heads.transpose(-2, -1)
        bias = self.bias_table[self.index.view(-1)].view(17, 17, 2).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        return (attn.softmax(-1) @ heads).transpose(1, 2).reshape(-1, 17, 8) @ self.proj


def test_a_mask_made_in_the_forward_and_filled_by_slices() -> None:
    graph = _check(ShiftedWindowMask())
    assert graph.params == 8 * 3 * 16 + 8


def test_selects_with_python_numbers_and_comparison_masks() -> None:
    _check(Selects())


def test_parameters_used_outside_any_layer_are_counted_once_where_used() -> None:
    module = OutsideLayers()
    graph = _check(module)
    unused = sum(p.numel() for p in module.aux_head.parameters())
    assert graph.params == sum(p.numel() for p in module.parameters()) - unused
    assert any("aux_head.weight, aux_head.bias" in note for note in graph.notes)
    cat = next(n for n in graph.nodes if n.kind is OpKind.CONCAT)
    assert cat.params == 8  # the class token, at the op that first uses it


AS_FAMILY: list[tuple[str, Callable[[torch.Tensor], torch.Tensor]]] = [
    ("reshape_as", lambda t: t.reshape(-1).reshape_as(t)),
    ("view_as", lambda t: t.flatten(1).view_as(t)),
    ("expand_as", lambda t: t.mean(1, keepdim=True).expand_as(t)),
    ("type_as", lambda t: (t > 0).type_as(t) * t),
]


class _Apply(_Stem):
    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.tokens(x))


@pytest.mark.parametrize(("label", "fn"), AS_FAMILY, ids=[c[0] for c in AS_FAMILY])
def test_the_as_family_takes_the_other_tensors_shape(
    label: str, fn: Callable[[torch.Tensor], torch.Tensor]
) -> None:
    graph = _check(_Apply(fn))
    assert graph.output.output_shape == (2, 16, 8), label


def test_broadcasting_merges_cost_one_mac_per_output_element_per_extra_operand() -> None:
    class Scale(_Stem):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)  # (2, 8, 4, 4)
            return y * y.mean((2, 3), keepdim=True) + y.amax(1, keepdim=True)

    graph = _check(Scale())
    merges = [n for n in graph.nodes if n.kind in (OpKind.ADD, OpKind.MUL)]
    assert [n.macs for n in merges] == [2 * 8 * 4 * 4, 2 * 8 * 4 * 4]


def test_a_layer_run_on_a_tensor_the_forward_made_is_counted() -> None:
    class PositionalEncoding(_Stem):
        def __init__(self) -> None:
            super().__init__()
            self.project = nn.Conv2d(4, 8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.conv(x)
            n, _, h, w = y.shape
            grid = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
            codes = torch.cat([grid.sin(), grid.cos(), grid / h, grid % w], dim=1)
            return y + self.project(codes.expand(n, -1, -1, -1))

    module = PositionalEncoding()
    graph = _check(module)
    assert graph.params == sum(p.numel() for p in module.parameters())


class PerSampleWeights(nn.Module):
    """A convolution and a linear layer whose weights and bias the forward computes from the
    input: a mixture of expert kernels weighted per sample by routing on pooled features."""

    def __init__(self) -> None:
        super().__init__()
        self.route = nn.Linear(3, 4)
        self.experts = nn.Parameter(torch.randn(4, 5 * 3 * 3 * 3))
        self.biases = nn.Parameter(torch.zeros(4, 5))
        self.heads = nn.Parameter(torch.randn(4, 2 * 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        routing = self.route(x.mean((2, 3))).softmax(-1)  # (N, 4)
        weight = (routing @ self.experts).view(n * 5, 3, 3, 3)
        bias = (routing @ self.biases).view(n * 5)
        y = F.conv2d(x.reshape(1, n * c, h, w), weight, bias, padding=1, groups=n)
        head = (routing[:1] @ self.heads).view(2, 5)
        return F.linear(y.view(n, 5, h, w).mean((2, 3)), head)


def test_weights_computed_from_the_input_are_traced_into_their_layer() -> None:
    module = PerSampleWeights()
    graph = _check(module)
    assert graph.params == sum(p.numel() for p in module.parameters())
    conv = next(n for n in graph.nodes if n.kind == OpKind.CONV)
    assert conv.macs == 2 * 5 * 16 * 16 * 3 * 3 * 3  # torch's: groups of one sample each
    joined = graph.nodes[conv.id + 1]
    assert joined.parents[0] == conv.id and len(joined.parents) == 3  # the weight, the bias


class _BiasTable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(2, 7, 7))
        self.register_buffer("lookup", torch.randn(4, 4, 7))

    def bias(self) -> torch.Tensor:  # a method, not the forward: never a module call
        rows = torch.einsum("nhw,ixh->nixw", self.table, self.lookup)
        return torch.einsum("nixw,jyw->nijxy", rows, self.lookup).reshape(2, 16, 16)


class LookedUpBias(_Stem):
    """Attention scores plus a bias a child module computes in a method: a table looked up by
    ``einsum`` with a buffer, in a forward without parameters of its own (so on real
    kernels, outside the parameter mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.relative = _BiasTable()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = self.tokens(x).view(-1, 16, 2, 4).transpose(1, 2)  # (N, 2, 16, 4)
        scores = q @ q.transpose(-1, -2) + self.relative.bias()
        return scores.softmax(-1) @ q


def test_products_on_parameters_alone_on_real_kernels_are_counted() -> None:
    module = LookedUpBias()
    graph = _check(module)  # the lookups' products are FlopCounterMode's too
    assert graph.params == sum(p.numel() for p in module.parameters())
    lookups = [n for n in graph.nodes if n.op == "bmm" and not n.parents]
    assert [n.macs for n in lookups] == [2 * 4 * 4 * 7 * 7, 2 * 4 * 4 * 4 * 4 * 7]


class MoreOps(nn.Module):
    """Patch unfolding and folding, repeats, fused multiply-adds, ``baddbmm``, an embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 4, stride=4)  # (N, 4, 4, 4)
        self.alpha = nn.Parameter(torch.ones(4, 1, 1))
        self.beta = nn.Parameter(torch.zeros(4, 1, 1))
        self.table = nn.Embedding(16, 4)
        self.register_buffer("ids", torch.arange(16))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.addcmul(self.beta, self.alpha, self.conv(x))
        y = y + torch.addcdiv(y, y, y.abs() + 1, value=0.5)
        patches = nn.functional.unfold(y, 2, stride=2)  # (N, 16, 4)
        y = nn.functional.fold(patches, (4, 4), 2, stride=2) + y.repeat_interleave(1, dim=1)
        tokens = y.flatten(2).transpose(1, 2)  # (N, 16, 4)
        scores = torch.baddbmm(tokens @ tokens.transpose(1, 2), tokens, tokens.transpose(1, 2))
        return scores @ (tokens + self.table(self.ids)) + y.unfold(2, 2, 2).sum()


def test_unfold_fold_repeats_fused_multiply_adds_baddbmm_and_embeddings() -> None:
    module = MoreOps()
    graph = _check(module)
    assert graph.params == sum(p.numel() for p in module.parameters())
    fused = [n for n in graph.nodes if n.op == "addcmul"]
    assert [n.macs for n in fused] == [2 * 2 * 4 * 4 * 4]  # two per output element


class Statistics(_Stem):
    """A global response norm and a hand-written layer norm over the channel axis."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)  # (N, 8, 4, 4)
        g = torch.norm(y, p=2, dim=(2, 3), keepdim=True)
        y = y * (g / (g.mean(dim=1, keepdim=True) + 1e-6)) + y.norm(dim=1, keepdim=True)
        centred = y - y.mean(1, keepdim=True)
        return centred / (y.var(1, keepdim=True, unbiased=False) + 1e-5).sqrt() + y.std(
            1, True, True
        )


def test_norms_and_variances_are_reductions() -> None:
    graph = _check(Statistics())
    assert sum(n.kind in (OpKind.REDUCE, OpKind.ADAPTIVE_AVGPOOL) for n in graph.nodes) >= 5


class _DropPath(nn.Module):
    """Stochastic depth as models write it for training: a per-sample keep mask drawn with
    ``bernoulli_`` on a tensor made like the input, and other random fills."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        keep = y.new_empty((y.shape[0], 1, 1, 1)).bernoulli_(0.9)
        noise = torch.empty_like(y).normal_().uniform_() + torch.bernoulli(torch.full_like(y, 0.5))
        return x + y * keep / 0.9 + noise


def test_random_fills_of_a_model_in_training_are_counted() -> None:
    module = _DropPath().train()
    graph = trace_torch(module, SHAPE)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    assert graph.output.output_shape == SHAPE
    fills = [n for n in graph.nodes if n.op in ("bernoulli", "normal", "uniform")]
    assert len(fills) == 4 and all(n.macs == 0 for n in fills)
    assert fills[0].output_shape == (SHAPE[0], 1, 1, 1)


class MergeOrig(nn.Module):
    """Adds the tensor its caller attached to its input (``x.orig``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + x.orig  # type: ignore[attr-defined]


class AttachesOrig(nn.Module):
    """Attaches the block's input to each layer's input as a Python attribute (as fastai's
    ``SequentialEx`` does for its merge layers)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Conv2d(4, 4, 3, padding=1), MergeOrig()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = x
        for layer in self.layers:
            res.orig = x  # type: ignore[attr-defined]
            res = layer(res)
        return res


def test_an_attribute_set_on_a_traced_tensor_reads_back() -> None:
    graph = trace_torch(AttachesOrig(), (1, 4, 8, 8))
    (add,) = [n for n in graph.nodes if n.kind is OpKind.ADD]
    assert add.parents == (1, 0)  # the conv's output and the block's input


def test_a_forward_may_set_requires_grad_on_its_input() -> None:
    """wav2vec2's and HuBERT's feature encoders set ``x.requires_grad = True`` in training."""

    class Sets(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(1, 4, 10, stride=5)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.training:
                x.requires_grad = True
            return self.conv(x)

    model = Sets().train()
    graph = trace_torch(model, [(2, 1, 100)])
    assert graph.output.output_shape == tuple(model(torch.rand(2, 1, 100)).shape) == (2, 4, 19)
    assert graph.params == 44 and not graph.uncounted
