"""Patterns of medical-imaging, detection and generative model code (as MONAI and
transformers write it) that asked traced tensors what a real forward never doubts:
``isinstance(skip, torch.Tensor)`` or ``torch.jit.isinstance(...)`` before concatenating a
skip connection (the traced branch was the other one: a wrong graph,
silently, or a layer's shape error), ``torch.as_tensor(x)``, einops' ``rearrange`` /
``reduce`` / ``repeat`` on a traced tensor, a diffusion model's second input of shape
``(B,)`` (its timesteps), and a quantiser's training-only loss and code histogram. Each model
is hand-written; numbers are checked against a real forward, torch's parameter count and hand
counts."""

from __future__ import annotations

import builtins
import math
import types
from typing import Optional

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange, reduce, repeat
from torch import is_tensor as early_is_tensor  # bound before any trace, as a library binds it
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph
from tests.frontends.pytorch import format_checks

# what model code asks ``isinstance`` for a tensor: the class, a tuple, unions
ISINSTANCE_TARGETS: dict[str, object] = {
    "isinstance": torch.Tensor,
    "isinstance tuple": (list, (tuple, torch.Tensor)),
    "isinstance union": torch.Tensor | None,
    "isinstance Optional": Optional[torch.Tensor],  # noqa: UP045 (the spelling under test)
}


def _is_tensor(value: object, target: object) -> bool:
    """A helper of the model's module (as a box coder's format check is)."""
    return isinstance(value, target)  # type: ignore[arg-type]


class UpCat(nn.Module):
    """Concatenates the skip only when it is a tensor (``None`` at the top of a decoder)."""

    def __init__(self, ask: str) -> None:
        super().__init__()
        self.ask = ask
        self.down = nn.Conv2d(3, 8, 3, padding=1)
        self.joined = nn.Conv2d(16, 4, 1)
        self.alone = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(x)
        skip = y
        tensor = torch.jit.isinstance(skip, torch.Tensor) if self.ask == "jit" else None
        if self.ask == "is_tensor":
            tensor = torch.is_tensor(skip)
        if self.ask == "early is_tensor":
            tensor = early_is_tensor(skip)
        if self.ask in ISINSTANCE_TARGETS:
            tensor = _is_tensor(skip, ISINSTANCE_TARGETS[self.ask])
        if self.ask == "helper module":
            tensor = format_checks.is_a_tensor(skip)
        if tensor:
            return self.joined(torch.cat([y, skip], 1))
        return self.alone(y)


@pytest.mark.parametrize(
    "ask", ["jit", "is_tensor", "early is_tensor", *ISINSTANCE_TARGETS, "helper module"]
)
def test_a_tensor_check_on_a_traced_tensor_takes_the_tensor_branch(ask: str) -> None:
    model = UpCat(ask)
    graph = load_graph(model, (1, 3, 16, 16))
    names = [n.name for n in graph.nodes]
    assert "joined" in names and "alone" not in names
    used = sum(p.numel() for m in (model.down, model.joined) for p in m.parameters())
    assert graph.params == used  # alone's weights unused, and so noted
    assert any("alone.weight" in note for note in graph.notes)
    assert torch.jit.isinstance(torch.zeros(1), torch.Tensor)  # torch's own after the trace


class AskedFrom(nn.Module):
    """Asks ``isinstance(x, torch.Tensor)`` from code of the packages named (as code of those
    packages would)."""

    def __init__(self, packages: list[str]) -> None:
        super().__init__()
        self.packages = packages
        self.answers: dict[str, bool] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.packages:
            scope = {"__name__": name, "x": x, "torch": torch}
            exec("answer = isinstance(x, torch.Tensor)", scope)
            self.answers[name] = scope["answer"]
        return x


def test_model_code_gets_true_and_torch_and_the_standard_library_the_builtin_answer() -> None:
    model = AskedFrom(["__main__", "transformers.image_transforms", "torch.nn.functional"])
    model.packages += ["functools", "stridescope.frontends.spec", "timm.layers"]
    load_graph(model, (1, 3, 4, 4))
    assert model.answers == {
        "__main__": True,
        "transformers.image_transforms": True,
        "torch.nn.functional": False,
        "functools": False,
        "stridescope.frontends.spec": False,
        "timm.layers": True,
    }
    assert type(builtins.isinstance) is types.BuiltinFunctionType  # the builtin again
    assert not isinstance(object(), torch.Tensor)


class AsTensor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.as_tensor(self.conv(x))
        return y + torch.as_tensor(y, dtype=torch.float64).float() + torch.as_tensor([1.0])


def test_as_tensor_of_a_traced_tensor_is_that_tensor() -> None:
    graph = load_graph(AsTensor(), (1, 3, 16, 16))
    assert graph.output.output_shape == (1, 8, 16, 16)
    assert graph.uncounted == ()
    (add, _) = [n for n in graph.nodes if n.kind == "add"]
    assert len(add.parents) == 2  # the conv's output and its cast, both traced
    assert stridescope.summary(AsTensor(), (1, 3, 16, 16)).input_coverage == 1.0


class Einops(nn.Module):
    """A channels-last norm by ``rearrange``, a token mean by ``reduce``, heads by
    ``repeat``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.LayerNorm(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = rearrange(self.conv(x), "n c h w -> n h w c")
        y = rearrange(self.norm(y), "n h w c -> n c h w")
        tokens = reduce(y, "n c (h p) (w q) -> n (h w) c", "mean", p=2, q=2)
        return repeat(tokens, "n t c -> n k t c", k=3)


def test_einops_functions_on_traced_tensors_are_traced() -> None:
    model = Einops().eval()
    graph = load_graph(model, (1, 3, 16, 16))
    assert graph.output.output_shape == tuple(model(torch.randn(1, 3, 16, 16)).shape)
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert graph.uncounted == ()
    assert stridescope.summary(model, (1, 3, 16, 16)).input_coverage == 1.0


class Denoiser(nn.Module):
    """A diffusion step: an image and its timesteps, one number per sample."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.time = nn.Linear(16, 8)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        freqs = torch.exp(-math.log(10000.0) * torch.arange(8, dtype=torch.float32) / 8)
        emb = t[:, None].float() * freqs[None]
        emb = torch.cat([emb.sin(), emb.cos()], dim=-1)
        return self.conv(x) + self.time(emb)[:, :, None, None]


def test_a_further_input_may_be_a_batch_of_numbers() -> None:
    model = Denoiser()
    for shapes in ([(2, 3, 16, 16), (2,)], ["2x3x16x16", "2"]):
        graph = load_graph(model, shapes)
        assert graph.output.output_shape == (2, 8, 16, 16)
        assert graph.params == sum(p.numel() for p in model.parameters())
        time = next(n for n in graph.nodes if n.name == "time")
        assert time.macs == 2 * 16 * 8
    with pytest.raises(StridescopeError, match=r"at least 2 sizes.*received \(2,\)"):
        load_graph(model, ["2", "2x3x16x16"])  # the first input is never a bare batch


class Quantiser(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = self.conv(x)
        loss = F.mse_loss(y.detach(), y) + F.l1_loss(y, torch.zeros(1), reduction="sum")
        each = F.binary_cross_entropy_with_logits(y, y.sigmoid(), reduction="none")
        usage = torch.histc(y.argmax(1).float(), bins=4, min=0, max=4)
        return y, loss, each, usage


def test_losses_and_histc_in_a_forward_are_counted() -> None:
    graph = load_graph(Quantiser(), (1, 3, 16, 16))
    assert graph.uncounted == ()
    made = {n.name: (n.kind.value, n.output_shape, n.macs) for n in graph.nodes}
    elements = 4 * 16 * 16
    assert made["mse_loss"] == ("add", (1, 4, 16, 16), elements)
    assert made["mse_loss.mean"] == ("reduce", (), elements)
    assert made["l1_loss.sum"] == ("reduce", (), elements)
    assert made["binary_cross_entropy_with_logits"] == ("add", (1, 4, 16, 16), elements)
    assert made["histc"] == ("reduce", (4,), 16 * 16)


class WeighedLosses(nn.Module):
    """A detector's training losses with per-class weights (``pos_weight`` for the rare
    positives) and the deprecated ``reduce=False``: they were uncounted."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.register_buffer("positives", torch.tensor([1.0, 2.0, 4.0, 8.0]).view(1, 4, 1, 1))
        self.register_buffer("classes", torch.rand(1, 4, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = self.conv(x)
        target = torch.zeros_like(y)
        pos = F.binary_cross_entropy_with_logits(y, target, pos_weight=self.positives)
        both = F.binary_cross_entropy(
            y.sigmoid(), target, weight=self.classes, reduction="sum"
        ) + nn.BCEWithLogitsLoss(weight=self.classes, pos_weight=self.positives)(y, target)
        each = F.mse_loss(y, target, reduce=False)  # as reduction="none"
        return pos, both, each


def test_weighed_losses_multiply_each_element() -> None:
    model = WeighedLosses()
    pos, both, each = model(torch.randn(1, 3, 16, 16))
    graph = load_graph(model, (1, 3, 16, 16))
    assert graph.uncounted == ()
    made = {n.name: (n.kind.value, n.output_shape, n.macs) for n in graph.nodes}
    y, elements = (1, 4, 16, 16), 4 * 16 * 16
    weighed = "binary_cross_entropy_with_logits.pos_weight", "binary_cross_entropy.weight"
    module = "BCEWithLogitsLoss.binary_cross_entropy_with_logits"
    for name in (*weighed, f"{module}.weight", f"{module}.pos_weight"):
        assert made[name] == ("mul", y, elements)
    assert made["binary_cross_entropy_with_logits.mean"][1] == tuple(pos.shape) == ()
    assert made["mse_loss"] == ("add", tuple(each.shape), elements)  # reduce=False: no mean
    assert "mse_loss.mean" not in made and both.shape == ()


class MetricLosses(nn.Module):
    """A metric-learning model's training losses in its forward (triplet, cosine embedding,
    a margin ranking, a Gaussian likelihood whose variance torch checks by value): they were
    uncounted, and the Gaussian one refused (its check read the values)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(12, 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        e = self.embed(x.flatten(1))  # (N, 8)
        a, p, n = e, e.flip(0), e.roll(1, 0)
        ones = torch.ones(e.shape[0])
        triplet = F.triplet_margin_loss(a, p, n, reduction="none")  # (N,)
        cosine = F.cosine_embedding_loss(a, p, ones)
        ranking = F.margin_ranking_loss(a[:, 0], p[:, 0], ones, reduction="none")  # (N,)
        gauss = F.gaussian_nll_loss(a, p, e.exp(), reduction="none")  # (N, 8)
        return triplet, cosine, ranking, gauss


def test_metric_losses_are_counted_with_torch_s_shapes() -> None:
    model = MetricLosses()
    want = [tuple(o.shape) for o in model(torch.randn(4, 3, 2, 2))]
    graph = load_graph(model, (4, 3, 2, 2))
    assert graph.uncounted == ()
    made = {n.name: (n.kind.value, n.output_shape, n.macs) for n in graph.nodes}
    assert made["triplet_margin_loss"] == ("reduce", want[0], 3 * 4 * 8)  # each element once
    assert made["cosine_embedding_loss"][:2] == ("reduce", (4,))
    assert made["cosine_embedding_loss.mean"][1] == want[1] == ()
    assert made["margin_ranking_loss"] == ("add", want[2], 3 * 4)
    assert made["gaussian_nll_loss"] == ("add", want[3], 3 * 4 * 8)
