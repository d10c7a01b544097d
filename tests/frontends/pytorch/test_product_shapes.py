"""Products take their output shape from torch's shape rules, not from a meta run: the rules
give torch's shape wherever torch accepts the operands, and step aside where it refuses."""

from __future__ import annotations

import itertools
import random
from typing import Any

import torch
import torch.nn.functional as F

from stridescope.frontends.pytorch.handlers.products import attention_shape, matmul_shape

SHAPES = [(), (3,), (1,), (2, 3), (3, 4), (1, 3), (3, 1), (2, 3, 4), (1, 4, 5), (2, 1, 3, 4)]


def meta(shape: tuple[int, ...]) -> torch.Tensor:
    return torch.empty(shape, device="meta")


def test_matmul_shape_is_torchs_or_steps_aside() -> None:
    for a, b in itertools.product(SHAPES, SHAPES):
        try:
            expected: tuple[int, ...] | None = tuple(torch.matmul(meta(a), meta(b)).shape)
        except RuntimeError:
            expected = None
        assert matmul_shape(a, b) == expected, (a, b)


def test_attention_shape_is_torchs_on_random_operands() -> None:
    rng = random.Random(0)
    for _ in range(200):
        batch = tuple(rng.randint(1, 3) for _ in range(rng.randint(0, 2)))
        length, source, embed, value = (rng.randint(1, 6) for _ in range(4))
        q, k, v = (*batch, length, embed), (*batch, source, embed), (*batch, source, value)
        keywords: dict[str, Any] = {}
        if rng.random() < 0.5:
            keywords["attn_mask"] = meta((length, source)).bool()
        expected = tuple(
            F.scaled_dot_product_attention(meta(q), meta(k), meta(v), **keywords).shape
        )
        assert attention_shape(q, k, v, (), keywords) == expected


def test_attention_shape_steps_aside_for_what_it_does_not_check() -> None:
    q = k = v = (1, 2, 4, 8)
    assert attention_shape(q, k, v, (None,), {}) is None  # positional extras
    assert attention_shape(q, k, v, (), {"enable_gqa": True}) is None
    assert attention_shape(q, (1, 2, 4, 7), v, (), {}) is None  # embed sizes differ
    mask = torch.ones(4, 4, dtype=torch.bool)
    assert attention_shape(q, k, v, (), {"attn_mask": mask, "is_causal": True}) is None


class _Attend(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = x.reshape(1, 2, 8, 4)
        return F.scaled_dot_product_attention(q, q, q, attn_mask=None, dropout_p=0.0)


def test_attention_with_mask_none_by_keyword_takes_the_shape_rule(monkeypatch: Any) -> None:
    """``attn_mask=None`` passed by keyword (as attention blocks write it) still takes the
    shape rule: no meta run of the attention."""
    from stridescope.frontends.pytorch.handlers import products
    from stridescope.frontends.pytorch.trace import trace_torch

    def refuse(*args: Any) -> Any:
        raise AssertionError("meta run")

    monkeypatch.setattr(products, "meta_call", refuse)
    graph = trace_torch(_Attend(), (1, 64))
    assert graph.nodes[-1].output_shape == (1, 2, 8, 4)
    assert graph.nodes[-1].macs == 2 * 8 * 8 * (4 + 4)
