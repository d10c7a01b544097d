"""``torch.nn.attention.flex_attention.flex_attention`` on traced tensors.

In eager mode torch runs it through ``torch.compile`` (the eager backend) around its
higher-order operator, and Dynamo cannot trace a traced tensor's ``__torch_function__``: the
summary stopped ("Unsupported hasattr call ... flex_attention"). While a trace runs it is
routed here, by attribute and where model code bound it (as :mod:`.constructors` routes
``torch.tensor``): on traced tensors it is ``F.scaled_dot_product_attention`` with the same
scale and head grouping, so its products are those of every score and every value, as
``sdpa`` counts them. That is an upper bound where a ``block_mask`` skips blocks; a
``score_mod``'s arithmetic on each score (a bias, a soft cap) is not counted. With
``return_lse=True`` the log-sum-exp of each query's scores is a product and a reduction of its
own. Anything else is torch's own function.

>>> import torch
>>> import torch.nn.attention.flex_attention as flex
>>> from stridescope.frontends import load_graph
>>> class M(torch.nn.Module):
...     def forward(self, x):
...         return flex.flex_attention(x, x, x)
>>> load_graph(M(), (1, 2, 16, 8)).macs  # (16 x 16 scores and as many weighted sums) x 8 x 2
8192
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.attention.flex_attention as flex
import torch.nn.functional as F

from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["FLEX_ATTENTION", "flex_attention"]

FLEX_ATTENTION: Callable[..., Any] = flex.flex_attention


def flex_attention(*args: Any, **kwargs: Any) -> Any:
    """``flex_attention`` while a trace runs (see the module)."""
    given = _SIGNATURE.bind(*args, **kwargs).arguments
    query, key, value = given["query"], given["key"], given["value"]
    if given.get("return_aux") is not None or not any(
        type(t) is ShapeProxy for t in (query, key, value)
    ):
        return FLEX_ATTENTION(*args, **kwargs)
    scale, grouped = given.get("scale"), bool(given.get("enable_gqa", False))
    out = F.scaled_dot_product_attention(query, key, value, scale=scale, enable_gqa=grouped)
    if not given.get("return_lse", False):
        return out
    if grouped and key.shape[-3] != query.shape[-3]:
        key = key.repeat_interleave(query.shape[-3] // key.shape[-3], dim=-3)
    return out, torch.logsumexp(query @ key.transpose(-2, -1), dim=-1)


_SIGNATURE = inspect.signature(FLEX_ATTENTION)


def route() -> None:
    flex.flex_attention = flex_attention


def unroute() -> None:
    flex.flex_attention = FLEX_ATTENTION
