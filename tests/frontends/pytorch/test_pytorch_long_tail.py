"""The long tail of torch operations models use beyond convolutions and attention, one test
per pattern (hand-written, not copied from a model): reductions that return indices or are
not sums (``argmax``, ``median``, ``kthvalue``, ``logsumexp``, ``vector_norm``...), ops along
an axis (scans, sorting, ``topk``, ``diff``), pooling with indices and unpooling (SegNet),
a spatial transformer (``affine_grid`` + ``grid_sample``), Fourier mixers (``torch.fft``,
complex tensors), distances and the other products; each counted, with torch's shapes and
dtypes, and ops whose output size depends on values refused in one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import stridescope
from stridescope.analysis.coverage import coverage_map
from stridescope.errors import StridescopeError
from stridescope.frontends.pytorch import trace_torch
from stridescope.ir import OpKind
from tests.autograd_reference import autograd_counts
from tests.frontends.pytorch.applied import Apply

X = (2, 4, 8, 6)


CALLS: dict[str, Callable[[torch.Tensor], Any]] = {
    "argmax": lambda x: x.argmax(1),
    "argmin all": lambda x: torch.argmin(x),
    "argmax keepdim": lambda x: x.argmax(dim=-1, keepdim=True),
    "median": lambda x: x.median(dim=2),
    "median all": lambda x: x.median(),
    "mode": lambda x: torch.mode(x),
    "kthvalue": lambda x: x.kthvalue(2, 1, True),
    "logsumexp": lambda x: torch.logsumexp(x, dim=(2, 3)),
    "prod": lambda x: x.prod(1),
    "nansum": lambda x: x.nansum(),
    "std_mean": lambda x: torch.std_mean(x, dim=1),
    "vector_norm": lambda x: torch.linalg.vector_norm(x, 2, dim=1, keepdim=True),
    "all": lambda x: (x > 0).all(dim=1),
    "count_nonzero": lambda x: torch.count_nonzero(x, dim=2),
    "cumsum": lambda x: x.cumsum(2),
    "cummax": lambda x: torch.cummax(x, dim=3),
    "logcumsumexp": lambda x: x.logcumsumexp(1),
    "sort": lambda x: torch.sort(x, dim=2, descending=True),
    "argsort": lambda x: x.argsort(),
    "topk": lambda x: x.topk(3, dim=1),
    "diff": lambda x: torch.diff(x, n=2, dim=3),
    "max_pool indices": lambda x: F.max_pool2d(x, 2, return_indices=True),
    "adaptive indices": lambda x: F.adaptive_max_pool2d(x, (3, 2), return_indices=True),
    "unpool": lambda x: F.max_unpool2d(*F.max_pool2d(x, 2, return_indices=True), 2),
    "fractional": lambda x: F.fractional_max_pool2d(x, 2, output_size=(5, 4)),
    "grid_sample": lambda x: F.grid_sample(x, x[:, :2].permute(0, 2, 3, 1), align_corners=False),
    "rfft2": lambda x: torch.fft.rfft2(x),
    "fft real": lambda x: torch.fft.fft(x, dim=2).real,
    "irfftn": lambda x: torch.fft.irfftn(torch.fft.rfftn(x, dim=(2, 3)), s=(8, 6), dim=(2, 3)),
    "complex abs": lambda x: torch.fft.fft2(x).abs(),
    "view_as_complex": lambda x: torch.view_as_complex(x.reshape(2, 4, 8, 3, 2)),
    "cosine_similarity": lambda x: F.cosine_similarity(x, x.flip(1)),
    "pairwise_distance": lambda x: F.pairwise_distance(x, x + 1),
    "cdist": lambda x: torch.cdist(x.flatten(2), x.flatten(2)),
    "outer": lambda x: torch.outer(x[0, 0, 0], x[0, 0, 1]),
    "mv": lambda x: torch.mv(x[0, 0], x[0, 1, 0]),
    "tensordot": lambda x: torch.tensordot(x, x, dims=([1, 3], [1, 3])),
    "linalg.matmul": lambda x: torch.linalg.matmul(x, x.transpose(2, 3)),
    "one_hot": lambda x: F.one_hot(x.argmax(1), 4),
    "bucketize": lambda x: torch.bucketize(x, torch.tensor([-1.0, 0.0, 1.0])),
    "embedding_bag": lambda x: F.embedding_bag((x[:, 0, 0, :2] > 0).long(), torch.ones(2, 3)),
    "lerp": lambda x: torch.lerp(x, x.flip(3), 0.3),
    # spellings that were uncounted (aliases, Tensor methods of torch functions, variants)
    "tile method": lambda x: x[:, :1].tile(1, 4, 1, 1),
    "greater": lambda x: torch.greater(x, 0.0) & x.less_equal(1.0) | torch.not_equal(x, x),
    "isclose": lambda x: torch.isclose(x, x.flip(1)),
    "absolute": lambda x: torch.absolute(x) + x.arccos().arcsinh(),
    "arctan2": lambda x: torch.arctan2(x, x.flip(1)) + x.fmax(x.flip(2)),
    "logaddexp method": lambda x: x.logaddexp(x.flip(1)) * x.float_power(2),
    "special": lambda x: torch.special.i0e(x) + torch.special.xlogy(x.abs(), 2.0),
    "activations": lambda x: torch.selu(torch.celu(x)),
    "quantile": lambda x: torch.quantile(x, 0.5, dim=2, keepdim=True),
    "aminmax": lambda x: torch.aminmax(x, dim=1),
    "special logsumexp": lambda x: torch.special.logsumexp(x, dim=3),
    "unsafe_chunk": lambda x: torch.unsafe_chunk(x, 2, dim=2)[1],
    "unsafe_split": lambda x: x.unsafe_split(3, dim=3)[0],
    "detach": lambda x: torch.detach(x).resolve_neg(),
    "diag_embed": lambda x: x[0, 0].diag_embed(),
    "adjoint": lambda x: torch.adjoint(x),
}


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    return [t for v in value for t in _tensors(v)]


@pytest.mark.parametrize("case", list(CALLS))
def test_each_op_is_counted_with_the_shapes_and_dtypes_torch_gives(case: str) -> None:
    model = Apply(CALLS[case])
    graph = trace_torch(model, X)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    torch.manual_seed(0)
    expected = _tensors(model(torch.randn(X)))
    got = [n.output_shape for n in graph.nodes[-len(expected) :]]
    assert got == [tuple(t.shape) for t in expected]


def test_dtypes_follow_the_op() -> None:
    """Indices are int64, a one-hot int64, a transform complex and its modulus real."""

    class Mixed(nn.Module):
        def forward(self, x: torch.Tensor) -> Any:
            return x.argmax(1), torch.fft.rfft2(x), torch.fft.fft2(x).abs(), x.sort(2).indices

    traced: list[torch.dtype] = []

    class Spy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = Mixed()

        def forward(self, x: torch.Tensor) -> Any:
            out = self.inner(x)
            traced.extend(t.dtype for t in out)
            return out[0]

    trace_torch(Spy(), X)
    real = Mixed()(torch.randn(X))
    assert traced == [t.dtype for t in real]


SPELLINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "byte": lambda x: x.clamp(0, 1).mul_(255).round_().byte(),  # a latent quantised
    "char": lambda x: x.char(),
    "short": lambda x: x.short(),
    "cfloat": lambda x: x.cfloat(),
    "cdouble": lambda x: x.cdouble(),
    "type dtype": lambda x: x.type(torch.uint8),
    "type name": lambda x: x.type("torch.HalfTensor"),
    "type asked": lambda x: x * 2 if x.type() == "torch.FloatTensor" else x[:, :1],
    "reshape shape=": lambda x: x.reshape(shape=(-1, 6)),
    "torch.reshape shape=": lambda x: torch.reshape(x, shape=(2, -1)),
    "view size=": lambda x: x.view(size=(2, 4, -1)),
    "as_subclass": lambda x: x.as_subclass(torch.Tensor),
    "view dtype": lambda x: x.view(torch.float16),
    "view wider dtype": lambda x: x.view(torch.int64),
    "rad2deg": lambda x: torch.rad2deg(x),
    "deg2rad": lambda x: x.deg2rad(),
    "asinh": lambda x: torch.asinh(x),
    "atanh": lambda x: x.clamp(-0.5, 0.5).atanh(),
    "acosh": lambda x: (x.abs() + 1).acosh(),
    "sgn": lambda x: x.sgn(),
    "+x": lambda x: +x,
    "signbit": lambda x: torch.signbit(x),
    "isposinf": lambda x: torch.isposinf(x),
    "true_divide": lambda x: torch.true_divide(x, 2.0),
    "rsub": lambda x: torch.rsub(x, 1.0),
    "subtract": lambda x: x.subtract(x),
    "logaddexp2": lambda x: torch.logaddexp2(x, x),
    "gcd": lambda x: torch.gcd(x.long(), x.long()),
    "<<": lambda x: x.long() << 1,
    "//=": lambda x: x.clone().__ifloordiv__(2),
}


@pytest.mark.parametrize("case", list(SPELLINGS))
def test_casts_and_shapes_given_by_keyword_trace_as_torch_runs_them(case: str) -> None:
    """Every cast method and ``type``, a shape given as ``shape=`` / ``size=`` (as diffusion
    transformers unpatchify), and the element-wise functions models use beyond the common
    ones (an orientation in degrees, shifts), with torch's shape and dtype."""
    dtypes: list[torch.dtype] = []

    def recorded(x: torch.Tensor) -> torch.Tensor:
        out = SPELLINGS[case](x)
        dtypes.append(out.dtype)
        return out

    graph = trace_torch(Apply(recorded), X)
    real = recorded(torch.randn(X))
    assert not graph.uncounted
    assert graph.output.output_shape == tuple(real.shape)
    assert dtypes[0] == real.dtype


class Anchors(nn.Module):
    """Per-position strides filled from a buffer's element (a real 0-d tensor), as detection
    heads build their anchor grids."""

    def __init__(self, fill: str) -> None:
        super().__init__()
        self.fill = fill
        self.register_buffer("strides", torch.tensor([2.0, 4.0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.strides[0]
        flat = x.flatten(2)
        if self.fill == "new_full":
            grid = flat.new_full((flat.shape[-1], 1), stride)
        else:
            grid = torch.full_like(flat[0, :1].T, stride)
        return flat * grid.T


@pytest.mark.parametrize("fill", ["new_full", "full_like"])
def test_a_real_scalar_tensor_as_a_fill_value_traces(fill: str) -> None:
    model = Anchors(fill)
    graph = trace_torch(model, X)
    assert graph.output.output_shape == tuple(model(torch.randn(X)).shape)
    assert not graph.uncounted


def _macs_of(graph: Any, op: str) -> int:
    return sum(n.macs for n in graph.nodes if n.op == op)


def test_products_count_what_the_flop_counter_counts() -> None:
    """(``mv``, ``dot``, ``cdist``, ``affine_grid`` and the transforms are products too, but
    ``FlopCounterMode`` has no formula for them: it counts 0.)"""
    for fn in (CALLS["tensordot"], CALLS["linalg.matmul"]):
        model = Apply(fn)
        with FlopCounterMode(display=False) as counter:
            model(torch.randn(X))
        assert trace_torch(model, X).macs == counter.get_total_flops() // 2


def test_mac_conventions_of_the_new_ops() -> None:
    n = 2 * 4 * 8 * 6
    cases = {
        "cumsum": n,  # one per input element
        "diff": 2 * 4 * 8 * 4 * 2,  # per output element and order
        "F.grid_sample": 2 * 4 * 8 * 6 * 4,  # bilinear: 2 taps per axis
        "rfft2": n * 6,  # log2(8 * 6 = 48) rounded up
        "F.cosine_similarity": 3 * n,
        "cdist": 2 * 4 * 4 * 48,
        "outer": 6 * 6,
    }
    for op, macs in cases.items():
        key = {"F.grid_sample": "grid_sample", "F.cosine_similarity": "cosine_similarity"}
        graph = trace_torch(Apply(CALLS[key.get(op, op)]), X)
        assert _macs_of(graph, op) == macs, op


def test_a_spatial_transformer_is_counted() -> None:
    """A localisation net predicts ``theta``; ``affine_grid`` is its batched product (as the
    flop counter counts it), ``grid_sample`` reads positions the data chooses: every one."""

    class STN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.loc = nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 6)
            )
            self.head = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            theta = self.loc(x).view(-1, 2, 3)
            grid = F.affine_grid(theta, list(x.shape), align_corners=False)
            return self.head(F.grid_sample(x, grid, align_corners=False))

    model = STN()
    summary = stridescope.summary(model, (1, 3, 16, 16))
    assert summary.totals.uncounted == () and summary.input_coverage == 1.0
    assert summary.totals.params == sum(p.numel() for p in model.parameters())
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 16, 16))
    graph = trace_torch(model, (1, 3, 16, 16))
    kinds = (OpKind.CONV, OpKind.LINEAR, OpKind.MATMUL)
    products = sum(n.macs for n in graph.nodes if n.kind in kinds)
    grid = next(n for n in graph.nodes if n.op == "F.affine_grid")
    assert grid.macs == 16 * 16 * 2 * 3  # (x, y, 1) times a row of theta per coordinate
    assert products - grid.macs == counter.get_total_flops() // 2  # (it counts none for it)
    sample = next(n for n in graph.nodes if n.op == "F.grid_sample")
    assert sample.kind is OpKind.INTERPOLATE and sample.macs == 3 * 16 * 16 * 4


def test_segnet_pooling_indices_and_unpooling() -> None:
    """``nn.MaxPool2d(return_indices=True)`` gives its pair; ``nn.MaxUnpool2d`` writes each
    position back into its window (a scatter, so coverage knows which outputs it reaches)."""

    class SegNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Conv2d(3, 8, 3, padding=1)
            self.pool = nn.MaxPool2d(2, return_indices=True)
            self.unpool = nn.MaxUnpool2d(2)
            self.dec = nn.Conv2d(8, 2, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y, where = self.pool(self.enc(x))
            return self.dec(self.unpool(y, where))

    model = SegNet()
    graph = trace_torch(model, (1, 3, 8, 8))
    assert not graph.uncounted and graph.output.output_shape == (1, 2, 8, 8)
    assert graph.params == sum(p.numel() for p in model.parameters())
    unpool = next(n for n in graph.nodes if n.op == "F.max_unpool2d")
    assert unpool.scatter is not None and unpool.scatter.stride == (2, 2)
    assert stridescope.summary(model, (1, 3, 8, 8)).input_coverage == 1.0


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x.cumsum(2),  # output row h reads rows 0..h
        lambda x: torch.diff(x, dim=3),  # column w reads w and w + 1
        lambda x: x.logcumsumexp(3)[:, :, ::2, ::3],
    ],
)
def test_scans_and_differences_along_an_axis_have_exact_coverage(
    fn: Callable[[torch.Tensor], torch.Tensor],
) -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.down = nn.Conv2d(1, 2, 1, stride=2, bias=False)
            nn.init.constant_(self.down.weight, 1.0)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return fn(self.down(x))

    cov = coverage_map(trace_torch(Net(), (1, 1, 12, 10)))
    assert not cov.notes
    np.testing.assert_array_equal(cov.counts, autograd_counts(Net(), 12, 10))


def test_a_global_filter_mixes_every_position() -> None:
    """A GFNet-style block: ``rfft2``, a learned complex filter, ``irfft2``: every output
    position reads every input position (a whole-axis window on each transformed axis)."""

    class GlobalFilter(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 1, stride=2)
            self.weight = nn.Parameter(torch.randn(8, 8, 5, 2))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.stem(x)
            spectrum = torch.fft.rfft2(x, norm="ortho") * torch.view_as_complex(self.weight)
            return torch.fft.irfft2(spectrum, s=x.shape[2:], norm="ortho")

    model = GlobalFilter()
    summary = stridescope.summary(model, (1, 3, 16, 16))
    assert summary.totals.uncounted == () and summary.totals.params == 8 * 3 + 8 + 640
    cov = coverage_map(trace_torch(model, (1, 3, 16, 16)))
    read = cov.counts > 0  # the stride-2 stem reads one pixel in four; the filter all of those
    assert read.sum() == 64 and (cov.counts[read] == 64).all()


@pytest.mark.parametrize(
    ("fn", "word", "after"),
    [
        (lambda x: torch.bincount(x.argmax(1).flatten()), "bincount", "the last 'flatten'"),
        (lambda x: F.one_hot(x.argmax(1)), "one_hot", "the last 'argmax'"),
    ],
)
def test_ops_sized_by_values_are_refused_in_one_line(
    fn: Callable[..., Any], word: str, after: str
) -> None:
    """... naming the last op traced before (the part before it can be summarised): sizes
    with no bound a trace could take (a selection is taken at its largest:
    test_pytorch_data_bounds.py)."""
    with pytest.raises(StridescopeError) as caught:
        trace_torch(Apply(fn), X)
    message = str(caught.value)
    assert "\n" not in message and word in message and "values" in message
    assert (after in message) if after else ("came after" not in message)


def test_in_place_methods_are_their_op_written_into_the_tensor() -> None:
    """Every in-place method whose out-of-place form is modelled is that op, its result
    written into the tensor the forward holds (``x.sqrt_()``, ``x.clamp_min_(eps)``,
    ``x.unsqueeze_(0)``, ``mask.logical_not_()``)."""

    class InPlace(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = x.abs()
            y.sqrt_().clamp_min_(0.1).log1p_()
            mask = (y > 0.5).logical_not_()
            y.mul_(mask).unsqueeze_(0).transpose_(0, 1)
            return y

    graph = trace_torch(InPlace(), X)
    assert not graph.uncounted, [(n.name, n.op) for n in graph.uncounted]
    ops = [n.op for n in graph.nodes[1:]]
    assert ops[:4] == ["abs", "sqrt", "clamp_min", "log1p"] and "logical_not" in ops
    assert graph.output.output_shape == (2, 1, 4, 8, 6)
