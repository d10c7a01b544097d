"""The builder's shortcuts change nothing: memoised geometry gives the nodes a fresh computation
gives, a value that only compares equal (a bool for 1) never shares a memo entry, and nodes
made without ``Node.__init__`` are the nodes ``Node()`` makes.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stridescope.ir import GraphBuilder, LayerError, Node, OpKind, builder_memo, builder_windows


def _forget() -> None:
    builder_windows._CONVS.clear()
    builder_memo._SLICES.clear()
    builder_memo.memo_window.cache_clear()
    builder_memo.memo_slide.cache_clear()


def _conv(layout: str, args: dict[str, object]) -> str:
    shape = (1, 6, 9, 7) if layout == "nchw" else (1, 9, 7, 6)
    builder = GraphBuilder(shape, layout)  # type: ignore[arg-type]
    try:
        node = builder.conv(0, "c", **args)  # type: ignore[arg-type]
    except LayerError as error:
        return str(error)
    return repr(builder.build().nodes[node])


@settings(max_examples=60, deadline=None)
@given(
    layout=st.sampled_from(["nchw", "nhwc"]),
    out_channels=st.sampled_from([2, 3, 6]),
    kernel=st.sampled_from([1, 3, (1, 3), [2, 2], (True, 1)]),
    stride=st.sampled_from([1, 2, (2, 1)]),
    padding=st.sampled_from(["valid", "same", 1, [1, 0], [(1, 0), (0, 2)]]),
    groups=st.sampled_from([1, 2, 3]),
)
def test_a_memoised_convolution_is_the_fresh_one(
    layout: str,
    out_channels: int,
    kernel: object,
    stride: object,
    padding: object,
    groups: int,
) -> None:
    args = {"out_channels": out_channels, "kernel": kernel, "stride": stride}
    args |= {"padding": padding, "groups": groups}
    first = _conv(layout, args)  # fills the memos (or raises)
    again = _conv(layout, args)  # answered from them
    _forget()
    assert first == again == _conv(layout, args)


def test_a_bool_never_shares_an_entry_with_1() -> None:
    """``True == 1`` and they hash alike, but geometry refuses a bool kernel."""
    builder = GraphBuilder((1, 4, 8, 8), "nchw")
    builder.conv(0, "ones", out_channels=4, kernel=(1, 1))
    with pytest.raises(LayerError, match=r"^layer 'bools': kernel must be a positive integer"):
        builder.conv(0, "bools", out_channels=4, kernel=(True, True))
    builder.slice(0, "s1", spatial=[(0, 8, 1), (0, 8, 1)], output_shape=(1, 4, 8, 8))
    with pytest.raises(LayerError, match=r"^layer 'sb': stride must be a positive integer"):
        builder.slice(0, "sb", spatial=[(0, 8, True), (0, 8, 1)], output_shape=(1, 4, 8, 8))


def test_nodes_are_what_node_makes() -> None:
    """The builder fills a node's fields in one dictionary; the result is ``Node(**fields)``."""
    builder = GraphBuilder((1, 3, 8, 8), "nchw")
    x = builder.conv(0, "conv", out_channels=4, kernel=3, padding=1)
    x = builder.pointwise(x, "bn", kind=OpKind.NORM, params=8)
    x = builder.permute(x, "nhwc", dims=(0, 2, 3, 1))
    builder.pointwise(x, "act", kind=OpKind.ACTIVATION)
    names = [f.name for f in dataclasses.fields(Node)]
    for node in builder.build().nodes:
        assert list(vars(node)) == names
        made = Node(**vars(node))
        assert made == node and repr(made) == repr(node) and hash(made) == hash(node)
