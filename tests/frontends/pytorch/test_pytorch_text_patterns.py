"""Patterns of text models' forwards that stopped or miscounted a trace until 2026-12-05,
found by a probe of 56 Hugging Face ``transformers`` text models (small random configurations,
token ids as input): each written here by hand, not copied from a model."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import stridescope
from stridescope.frontends import load_graph


class _WarnsOfPadding(nn.Module):
    """Embeds token ids after checking whether the padding id ends or starts them (to warn of
    a missing attention mask): ``pad in ids[:, [-1, 0]]``."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 8)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if 0 in ids[:, [-1, 0]]:
            warnings.warn("padding without an attention mask", stacklevel=1)
        return self.emb(ids)


def test_membership_of_a_value_in_traced_ids_is_taken_as_absent() -> None:
    """``value in x`` read the traced values (``bool(tensor)``, refused: 10 of the 52 models
    stopped there); it is now taken as False, with a note, and the forward goes on."""
    summary = stridescope.summary(_WarnsOfPadding(), "2x6:int64")
    assert summary.layers[-1].output_shape == (2, 6, 8) and summary.totals.params == 400
    assert any("`0 in` a traced tensor" in note for note in summary.notes)


def test_add_products_take_their_operands_by_keyword() -> None:
    """``alibi.baddbmm(batch1=q, batch2=k, beta=..., alpha=...)`` (BLOOM's attention scores),
    ``torch.addmm(b, mat1=..., mat2=...)``, ``torch.addmv(b, m, vec=...)``: the handler took
    only positional operands ("add_product() missing 2 required positional arguments")."""

    class Scores(nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            base = torch.zeros(x.shape[0], x.shape[1], x.shape[1])
            scores = base.baddbmm(batch1=x, batch2=x.transpose(1, 2), beta=1.0, alpha=0.5)
            dense = torch.addmm(torch.zeros(3), mat1=x[0], mat2=torch.ones(4, 3))
            vector = torch.addmv(torch.zeros(5), x[0], vec=torch.ones(4))
            return scores, dense, vector

    model = Scores()
    graph = load_graph(model, (2, 5, 4))
    macs = {n.op: n.macs for n in graph.nodes if n.op in ("baddbmm", "addmm", "addmv")}
    assert macs == {"baddbmm": 2 * 5 * 5 * 4, "addmm": 5 * 4 * 3, "addmv": 5 * 4}
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(2, 5, 4))
    assert 2 * (macs["baddbmm"] + macs["addmm"]) == counter.get_total_flops()  # (no addmv)
    assert graph.uncounted == ()


class _Chunks(nn.Module):
    """Overlapping chunks of a sequence, as sliding-window attention makes them: a view whose
    sizes are one-element tensors (``torch.div(n, w, rounding_mode="trunc")`` of sizes), then
    ``as_strided``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, d = x.shape
        w = 4
        chunks = x.view(n, torch.div(length, w, rounding_mode="trunc"), w, d)
        size = (n, 2 * chunks.shape[1] - 1, w, d)
        stride = (length * d, w * d // 2, d, 1)
        return x.as_strided(size=size, stride=stride) + chunks.sum()


def test_sizes_as_tensors_and_as_strided_are_counted() -> None:
    """Both were uncounted nodes (the view's sizes were not ints; ``as_strided`` had no row):
    now a reshape and data movement, torch's shapes."""
    graph = load_graph(_Chunks(), (1, 16, 8))
    real = _Chunks()(torch.randn(1, 16, 8))
    assert graph.uncounted == () and graph.output.output_shape == tuple(real.shape)
    view = next(n for n in graph.nodes if n.op == "view")
    assert view.output_shape == (1, 4, 4, 8)


def test_the_compiler_s_markers_take_a_traced_tensor() -> None:
    """``torch._dynamo.mark_static_address(cache)`` on a tensor the forward made from a traced
    one (a static cache, Mamba's in Hugging Face): "mark_static_address expects a tensor but
    received ShapeProxy"; now a traced tensor is one to it, as to model code."""

    class Cached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = nn.Linear(8, 8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            cache = x.new_zeros(x.shape)
            torch._dynamo.mark_static_address(cache)
            return self.proj(x) + cache

    graph = load_graph(Cached(), (2, 8))
    assert graph.output.output_shape == (2, 8) and graph.params == 72


class _Experts(nn.Module):
    """A mixture of 4 experts, top-2 routing: the tokens sorted by expert, their counts made
    offsets, each group through its expert by ``F.grouped_mm``, weighted and summed back."""

    def __init__(self, experts: int = 4, width: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.router = nn.Linear(width, experts, bias=False)
        self.up = nn.Parameter(torch.randn(experts, width, hidden) * 0.1)
        self.down = nn.Parameter(torch.randn(experts, hidden, width) * 0.1)
        self.experts = experts

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.reshape(-1, x.shape[-1])
        weights, chosen = self.router(tokens).softmax(-1).topk(2, dim=-1)
        flat = chosen.reshape(-1)
        order = flat.argsort()
        rows = tokens.repeat_interleave(2, dim=0)[order]
        counts = torch.histc(flat.float(), bins=self.experts, min=0, max=self.experts - 1)
        offs = counts.cumsum(0).to(torch.int32)
        out = F.grouped_mm(F.gelu(F.grouped_mm(rows, self.up, offs=offs)), self.down, offs=offs)
        back = torch.empty_like(out).index_copy(0, order, out)
        return (back.view(-1, 2, x.shape[-1]) * weights[..., None]).sum(1).view(x.shape)


def test_a_mixture_of_experts_by_grouped_mm() -> None:
    """``F.grouped_mm`` of the routed rows with the experts' stacked weights stopped the trace
    (torch's meta kernel takes bfloat16 only: "Expected inputs of BF16 type"): five Hugging
    Face MoE models. Now ``(S, K) x (E, K, N)`` is ``(S, N)``, ``S * K * N`` MACs (each row
    through one expert), the experts' weights counted once."""
    model = _Experts()
    graph = load_graph(model, (1, 6, 8))
    grouped = [n for n in graph.nodes if n.op == "_grouped_mm"]
    assert [(n.output_shape, n.macs) for n in grouped] == [
        ((12, 16), 12 * 8 * 16),
        ((12, 8), 12 * 16 * 8),
    ]
    assert graph.params == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        real = model(torch.randn(1, 6, 8))
    assert graph.output.output_shape == tuple(real.shape) and graph.uncounted == ()


class _Masked(nn.Module):
    """Token ids and an attention mask, which the forward drops where it masks nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 8)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if mask.all():
            return self.emb(ids)
        return self.emb(ids) * mask[..., None]


def test_a_mask_given_as_an_input_and_read_is_all_ones() -> None:
    """A mask's values decide the branch (Hugging Face's ``mask.all()`` before it builds the
    attention mask): refused until the twenty-fifth session (with where the values come from
    and what to do instead); now taken as all ones, the branch a batch without padding takes,
    with a note (``mask_inputs``): the graph is the one without the mask's product."""
    graph = load_graph(_Masked(), ["2x6:int64", "2x6:int64"])
    assert [n.name for n in graph.nodes[2:]] == ["all", "emb.embedding"]  # (no product)
    assert any("taken as all ones" in note for note in graph.notes)
    assert graph.params == 400


def test_lengths_counted_from_the_ids_are_the_padded_length() -> None:
    """XLM's and FlauBERT's ``lengths = (ids != pad).sum(1)`` then ``lengths.max().item()``
    (refused until the twenty-fifth session: a number read): ids unequal to the padding id
    everywhere give lengths of the whole sequence, carried through the sum and the maximum."""

    class Lengths(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(50, 8)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            lengths = (ids != 2).sum(dim=1).long()
            longest = lengths.max().item()
            assert lengths.max().item() <= ids.shape[1] and int(lengths[0]) == longest
            return self.emb(ids[:, :longest])

    graph = load_graph(Lengths(), "2x6:int64")
    assert graph.output.output_shape == (2, 6, 8)
    assert any("never equal" in note for note in graph.notes)


class _Buckets(nn.Module):
    """Relative-position buckets picked by segment (CPM-Ant's): ``torch.where`` of a traced
    condition between a real int32 table and traced int64 buckets, looked up in an
    embedding; and a real mask table filled where traced ids say."""

    def __init__(self) -> None:
        super().__init__()
        self.bias = nn.Embedding(64, 2)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = ids.shape[1]
        segments = ids[:, :, None] * 4 + ids[:, None, :]
        table = (
            torch.arange(n, dtype=torch.int32)[None, :]
            - torch.arange(n, dtype=torch.int32)[:, None]
        )
        buckets = torch.where(ids[:, :, None] == ids[:, None, :], table[None] + n, segments)
        filled = torch.zeros(1, n).masked_fill(ids > 3, 1.0)
        return self.bias(buckets.clamp(0, 63)), filled


def test_where_takes_its_values_promoted_dtype() -> None:
    """``where(cond, x, y)`` took the condition's dtype (bool) where ``x`` was not traced, so
    the embedding lookup after it stopped the trace ("indices ... but got torch.bool");
    ``masked_fill`` of a real tensor by a traced mask took the mask's. Now torch's: int64 (the
    promotion of int32 and int64), float32."""
    graph = load_graph(_Buckets(), "1x6:int64")
    with torch.no_grad():
        real = _Buckets()(torch.randint(0, 8, (1, 6)))
    lookup = next(n for n in graph.nodes if n.op == "F.embedding")
    assert lookup.output_shape == tuple(real[0].shape) == (1, 6, 6, 2)
    fill = next(n for n in graph.nodes if n.op == "masked_fill")
    assert fill.activation_bytes == 6 * real[1].element_size() == 24
    where = next(n for n in graph.nodes if n.op == "where")
    assert where.activation_bytes == 36 * 8  # int64, as torch promotes int32 with int64


class _PadChecks(nn.Module):
    """A padding mask made from the ids and dropped where it masks nothing (``ids.eq(pad)
    .any()``, ``(ids != pad).all()``), beside a comparison only used as a tensor."""

    def __init__(self, read: bool) -> None:
        super().__init__()
        self.emb, self.read = nn.Embedding(50, 8), read

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != 0).float()  # (used as values: nothing read)
        out = self.emb(ids) * keep[..., None]
        if self.read and ids.eq(1).any():
            out = out.masked_fill(ids.eq(1)[..., None], 0.0)
        if self.read and not (ids != 0).all():
            out = out * 0
        return out


@pytest.mark.parametrize("read", [False, True])
def test_ids_compared_with_a_number_are_taken_as_unequal_where_read(read: bool) -> None:
    """``ids.eq(pad).any()`` and ``(ids != pad).all()`` read the ids' values (refused: DPR,
    FSMT); ids are now taken as unequal to any number, as data without padding, and the
    note says so only where an answer is read."""
    summary = stridescope.summary(_PadChecks(read), "2x6:int64")
    assert summary.layers[-1].output_shape == (2, 6, 8)
    noted = [n for n in summary.notes if "compared with a number is taken as never equal" in n]
    assert len(noted) == int(read)
    assert [row.kind for row in summary.layers].count(
        "mul"
    ) == 1  # (the padding branches not taken)
