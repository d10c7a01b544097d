"""Every function the tracer treats as position-wise (activations, norms, dropout, unary
math) keeps the shape torch gives it: each spelling in the tables is called once, traced and
run for real (``F.glu`` halves its axis and once slipped in here); so does every module
class of the same families."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from stridescope.frontends.pytorch import trace_torch
from stridescope.frontends.pytorch.elementwise_names import ACTIVATIONS, DROPOUTS, MATH, NORMS
from tests.frontends.pytorch.applied import Apply

SPELLINGS = sorted({*ACTIVATIONS.split(), *NORMS.split(), *DROPOUTS.split(), *MATH.split()})
C = 4
# the arguments some functions need besides the tensor (others take none), by name, else by
# the name without underscores
EXTRA: dict[str, tuple[Any, ...]] = {
    "_softmax": (1, False),  # (dim, half_to_float): core ATen's kernels
    "_log_softmax": (1, False),
    "_safe_softmax": (1,),
    "softmax": (1,),
    "log_softmax": (1,),
    "softmin": (1,),
    "threshold": (0.1, 0.0),
    "prelu": (torch.full((C,), 0.25),),
    "batch_norm": (torch.zeros(C), torch.ones(C)),
    "instance_norm": (),
    "layer_norm": ((6, 6),),
    "rms_norm": ((6, 6),),
    "group_norm": (2,),
    "local_response_norm": (3,),
    "clamp": (0.0,),
    "clip": (0.0,),
    "clamp_min": (0.0,),
    "clamp_max": (0.0,),
    "renorm": (2, 1, 1.0),
    "mvlgamma": (1,),
    "multigammaln": (1,),
    **dict.fromkeys(
        ("dropout", "alpha_dropout", "feature_dropout", "feature_alpha_dropout"), (0.5, True)
    ),
    **{
        f"{kind}_polynomial_{letter}": (2,)
        for kind, letters in (
            ("chebyshev", "tuvw"),
            ("shifted_chebyshev", "tuvw"),
            ("hermite", ("h", "he")),
            ("laguerre", "l"),
            ("legendre", "p"),
        )
        for letter in letters
    },
}
SHAPES = {"dropout1d": (2, C, 6), "dropout3d": (2, C, 3, 3, 3)}


def _call(spelled: str) -> Any:
    space, attr = spelled.split(".", 1)
    owner = {"F": torch.nn.functional, "torch": torch, "Tensor": torch.Tensor}[space]
    func: Any = owner
    for part in attr.split("."):  # torch.special.expit
        func = getattr(func, part, None)
    if func is None:
        pytest.skip(f"{spelled} is not in this torch")
    last = attr.rsplit(".", 1)[-1]
    extra = EXTRA.get(last, EXTRA.get(last.strip("_"), ()))
    if space == "Tensor":  # as a user writes it: x.relu(), x.clamp_(0.0), abs(x)
        return lambda x: getattr(x.clone() if attr.endswith("_") else x, attr)(*extra)
    return lambda x: func(x.clone() if attr.endswith("_") else x, *extra)


@pytest.mark.parametrize("spelled", SPELLINGS)
def test_position_wise_functions_keep_the_shape_torch_gives(spelled: str) -> None:
    fn = _call(spelled)
    module = Apply(fn).eval()
    shape = SHAPES.get(spelled.split(".", 1)[1], (2, C, 6, 6))
    with torch.no_grad():
        expected = tuple(module(torch.rand(shape) + 0.5).shape)
    graph = trace_torch(module, shape)
    assert graph.output.output_shape == expected, spelled
    assert not graph.uncounted, spelled


MODULES: list[nn.Module] = [
    nn.ReLU(),
    nn.ReLU6(),
    nn.LeakyReLU(),
    nn.PReLU(),
    nn.ELU(),
    nn.SELU(),
    nn.CELU(),
    nn.GELU(),
    nn.SiLU(),
    nn.Mish(),
    nn.Sigmoid(),
    nn.Tanh(),
    nn.Hardswish(),
    nn.Hardsigmoid(),
    nn.Hardtanh(),
    nn.Softmax(dim=1),
    nn.LogSoftmax(dim=1),
    nn.Softplus(),
    nn.Softsign(),
    nn.LogSigmoid(),
    nn.Dropout(),
    nn.Dropout2d(),
    nn.AlphaDropout(),
    nn.FeatureAlphaDropout(),
    nn.GroupNorm(2, C),
    nn.LayerNorm((6, 6)),
    nn.LocalResponseNorm(3),
    nn.BatchNorm2d(C),
    nn.InstanceNorm2d(C),
    nn.GLU(dim=1),
    nn.Softmin(dim=1),
    nn.Hardshrink(),
    nn.Softshrink(),
    nn.Tanhshrink(),
    nn.Threshold(0.1, 0),
]


@pytest.mark.parametrize("module", MODULES, ids=[type(m).__name__ for m in MODULES])
def test_position_wise_modules_have_the_shape_torch_gives(module: nn.Module) -> None:
    module.eval()
    shape = (2, C, 6, 6)
    with torch.no_grad():
        expected = tuple(module(torch.rand(shape)).shape)
    graph = trace_torch(module, shape)
    assert graph.output.output_shape == expected
    assert not graph.uncounted
    assert graph.params == sum(p.numel() for p in module.parameters())
