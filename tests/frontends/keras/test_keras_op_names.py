"""Raw Keras operations read as their established twins are: each op on an ``(8, 8, 3)``
input gives the graph (node kinds, MACs, output shape) of the op it computes like (``amax``
as ``max``, ``cosh`` as ``cos``, ``fmod`` as ``floor_divide``...), and none is uncounted.
Before, 116 of the 238 ``keras.ops`` functions that build on one map were uncounted or
stopped the summary; 27 were uncounted after that: linear algebra, histograms, data-sized
results, scalars, and ``hypot``, ``heaviside``, ``hstack``/``vstack``/``dstack`` and ``append``
(read since the twenty-second session), ``cumsum``/``sort`` without an axis (along the
flattened tensor), ``cdist``, ``polar``, ``array`` and ranges between traced ends (read since
the twenty-third), ``dot`` and the cross entropies (since the twenty-fifth; the linear systems:
``test_keras_solves.py``)."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

import stridescope
from stridescope.frontends.keras import read_keras
from stridescope.ir import OpKind

Op = Callable[[Any, Any], Any]
# op: (it, its twin)
TWINS: dict[str, tuple[Op, Op]] = {
    "amax": (lambda o, x: o.amax(x, axis=1), lambda o, x: o.max(x, axis=1)),
    "amin": (lambda o, x: o.amin(x, axis=(1, 2)), lambda o, x: o.min(x, axis=(1, 2))),
    "ptp": (lambda o, x: o.ptp(x, axis=2), lambda o, x: o.max(x, axis=2)),
    "nanmean": (lambda o, x: o.nanmean(x, axis=1), lambda o, x: o.mean(x, axis=1)),
    "nansum": (lambda o, x: o.nansum(x, axis=-1), lambda o, x: o.sum(x, axis=-1)),
    "average": (lambda o, x: o.average(x, axis=1), lambda o, x: o.mean(x, axis=1)),
    "nanmax": (lambda o, x: o.nanmax(x, axis=1), lambda o, x: o.max(x, axis=1)),
    "nancumsum": (lambda o, x: o.nancumsum(x, axis=1), lambda o, x: o.cumsum(x, axis=1)),
    "argpartition": (lambda o, x: o.argpartition(x, 2, axis=-1), lambda o, x: o.argsort(x)),
    "cosh": (lambda o, x: o.cosh(x), lambda o, x: o.cos(x)),
    "tan": (lambda o, x: o.tan(x), lambda o, x: o.sin(x)),
    "expm1": (lambda o, x: o.expm1(x), lambda o, x: o.exp(x)),
    "log2": (lambda o, x: o.log2(x), lambda o, x: o.log(x)),
    "trunc": (lambda o, x: o.trunc(x), lambda o, x: o.floor(x)),
    "fabs": (lambda o, x: o.fabs(x), lambda o, x: o.abs(x)),
    "sparsemax": (lambda o, x: o.sparsemax(x), lambda o, x: o.softmax(x)),
    "isnan": (lambda o, x: o.isnan(x), lambda o, x: o.greater(x, 0.0)),
    "signbit": (lambda o, x: o.signbit(x), lambda o, x: o.less(x, 0.0)),
    "isin": (lambda o, x: o.isin(x, o.ones((2,))), lambda o, x: o.equal(x, 1.0)),
    "fmax": (lambda o, x: o.fmax(x, x), lambda o, x: o.maximum(x, x)),
    "fmod": (lambda o, x: o.fmod(x, 2.0), lambda o, x: o.floor_divide(x, 2.0)),
    "arctan2": (lambda o, x: o.arctan2(x, x), lambda o, x: o.divide(x, x)),
    "hypot": (lambda o, x: o.hypot(x, x), lambda o, x: o.divide(x, x)),
    "heaviside": (lambda o, x: o.heaviside(x, x), lambda o, x: o.greater(x, x)),
    "hstack": (lambda o, x: o.hstack([x, x]), lambda o, x: o.concatenate([x, x], axis=1)),
    "vstack": (lambda o, x: o.vstack([x, x]), lambda o, x: o.concatenate([x, x], axis=0)),
    "dstack": (lambda o, x: o.dstack([x, x]), lambda o, x: o.concatenate([x, x], axis=2)),
    "divide_no_nan": (lambda o, x: o.divide_no_nan(x, x), lambda o, x: o.divide(x, x)),
    "ravel": (lambda o, x: o.ravel(x), lambda o, x: o.reshape(x, (-1,))),
    "fliplr": (lambda o, x: o.fliplr(x), lambda o, x: o.flip(x, axis=1)),
    "rot90": (lambda o, x: o.rot90(x, axes=(1, 2)), lambda o, x: o.flip(x, axis=1)),
    "outer": (
        lambda o, x: o.outer(x, o.ones((2,))),
        lambda o, x: o.kron(o.ravel(x)[:, None], o.ones((1, 2))),
    ),
    # read since the twenty-third session
    "cumsum flattened": (lambda o, x: o.cumsum(x), lambda o, x: o.cumsum(o.ravel(x), axis=0)),
    "sort flattened": (lambda o, x: o.sort(x, axis=None), lambda o, x: o.sort(o.ravel(x))),
    "cdist": (
        lambda o, x: o.cdist(o.reshape(x, (1, 64, 3)), o.reshape(x, (1, 64, 3))),
        lambda o, x: o.matmul(o.reshape(x, (1, 64, 3)), o.reshape(x, (1, 3, 64))),
    ),
    "polar": (lambda o, x: o.nn.polar(x, x), lambda o, x: o.multiply(x, x)),
    "array": (lambda o, x: o.array(x), lambda o, x: o.copy(x)),
    "linspace": (
        lambda o, x: o.linspace(o.mean(x), o.max(x), 5),
        lambda o, x: o.multiply(o.ones((5,)), o.mean(x)),
    ),
    # read since the twenty-fifth session
    "dot": (lambda o, x: o.dot(x, o.ones((3, 4))), lambda o, x: o.matmul(x, o.ones((3, 4)))),
    "dot number": (lambda o, x: o.dot(x, 2.0), lambda o, x: o.multiply(x, 2.0)),
    "categorical_crossentropy": (
        lambda o, x: o.categorical_crossentropy(x, o.softmax(x)),
        lambda o, x: o.sum(o.softmax(x), axis=-1),
    ),
    "sparse_categorical_crossentropy": (
        lambda o, x: o.sparse_categorical_crossentropy(o.zeros((1, 8, 8)), o.softmax(x)),
        lambda o, x: o.sum(o.softmax(x), axis=-1),
    ),
    "binary_crossentropy": (
        lambda o, x: o.binary_crossentropy(x, o.sigmoid(x)),
        lambda o, x: o.add(x, o.sigmoid(x)),
    ),
}


def _last(keras: ModuleType, make: Op) -> tuple[Any, ...]:
    x = keras.Input((8, 8, 3), batch_size=1)
    graph = read_keras(keras.Model(x, make(keras.ops, x)))
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    node = graph.output
    return node.kind, node.macs, node.output_shape if node.kind is not OpKind.MOVE else ()


@pytest.mark.parametrize("case", list(TWINS))
def test_an_op_reads_as_its_twin(keras: ModuleType, case: str) -> None:
    op, twin = TWINS[case]
    kind, macs, shape = _last(keras, op)
    twin_kind, twin_macs, _ = _last(keras, twin)
    assert (kind, macs) == (twin_kind, twin_macs)
    x = keras.Input((8, 8, 3), batch_size=1)
    known = op(keras.ops, x).shape
    assert not shape or all(k in (None, d) for k, d in zip(known, shape, strict=True))


def test_moments_over_one_int_axis(keras: ModuleType) -> None:
    """``moments(x, axes=1)`` (an int, which Keras takes) stopped the whole summary."""
    x = keras.Input((8, 8, 3), batch_size=1)
    model = keras.Model(x, keras.ops.moments(x, axes=1)[0])
    assert stridescope.summary(model).totals.uncounted == ()
