"""What a forward returns is the graph's output, and layers whose settings fix the input's
shape refuse what torch refuses (patterns from segmentation_models_pytorch: an encoder that
runs a stage whose feature it drops, a mask returned beside a class label, a channels-first
tensor given to ``nn.LayerNorm(C)``). Hand-written models; numbers against a real forward."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import stridescope
from stridescope.errors import StridescopeError
from stridescope.frontends import load_graph


class ReturnsEarlier(nn.Module):
    """Computes a probe after the tensor it returns, and drops it."""

    def __init__(self) -> None:
        super().__init__()
        self.skip = nn.Conv2d(3, 8, 1, stride=2)
        self.probe = nn.Conv2d(3, 16, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.skip(x)
        _ = self.probe(x)
        return y


class MaskAndLabel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.seg = nn.Conv2d(3, 2, 1, stride=2)
        self.cls = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.seg(x), self.cls(x.mean((2, 3)))


@pytest.mark.parametrize("model", [ReturnsEarlier(), MaskAndLabel()], ids=type)
def test_the_output_is_the_first_tensor_the_forward_returns(model: nn.Module) -> None:
    graph = load_graph(model, (1, 3, 16, 16))
    out = model(torch.randn(1, 3, 16, 16))
    first = out[0] if isinstance(out, tuple) else out
    assert graph.output.output_shape == tuple(first.shape)
    assert graph.output.macs == 0 and graph.output.op == "output"
    assert stridescope.summary(model, (1, 3, 16, 16)).input_coverage == 0.25  # 1x1, stride 2


def test_a_forward_whose_last_node_is_its_output_gets_no_output_node() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert [n.name for n in load_graph(model, (1, 3, 8, 8)).nodes] == ["input", "0", "1"]


class FunctionalNorms(nn.Module):
    def __init__(self, which: str) -> None:
        super().__init__()
        self.which = which

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.which == "layer_norm":
            return F.layer_norm(x, (8,))
        return F.group_norm(x, 3)


@pytest.mark.parametrize(
    ("layer", "expects"),
    [
        (nn.LayerNorm(8), r"\(LayerNorm\) expects an input whose last axes are \(8,\)"),
        (nn.GroupNorm(4, 12), r"\(GroupNorm\) expects 12 channels on axis 1"),
        (nn.PReLU(16), r"\(PReLU\) expects 16 channels on axis 1"),
        (FunctionalNorms("layer_norm"), r"\(F.layer_norm\) expects an input whose last axes"),
        (FunctionalNorms("group_norm"), r"in a multiple of num_groups=3"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "",
)
def test_a_norm_torch_refuses_for_the_input_shape_is_refused(
    layer: nn.Module, expects: str
) -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), layer)
    with pytest.raises(RuntimeError):
        model(torch.randn(1, 3, 16, 16))
    with pytest.raises(StridescopeError, match=expects):
        load_graph(model, (1, 3, 16, 16))


def test_norms_that_fit_are_read() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.GroupNorm(4, 8),
        nn.PReLU(8),
        nn.PReLU(),
        nn.LayerNorm(16),
        nn.LayerNorm((8, 16, 16), elementwise_affine=False),
    )
    graph = load_graph(model, (1, 3, 16, 16))
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert graph.output.output_shape == (1, 8, 16, 16)


class Attend(nn.Module):
    """Self-attention over the positions of a conv's output."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.attn = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.conv(x).flatten(2).transpose(1, 2)
        return self.attn(tokens, tokens, tokens)[0]


def test_attention_of_another_width_than_its_embed_dim_is_refused() -> None:
    with pytest.raises(AssertionError, match="embedding dimension of 16"):
        Attend(8)(torch.randn(1, 3, 4, 4))
    with pytest.raises(StridescopeError, match="expects queries of embed_dim=16 features"):
        load_graph(Attend(8), (1, 3, 4, 4))
    assert load_graph(Attend(16), (1, 3, 4, 4)).output.output_shape == (1, 16, 16)


class DropsAStage(nn.Module):
    """An encoder loop that runs one stage more than the features it keeps (as smp's encoders
    do below their full depth)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.extra = nn.Conv2d(8, 16, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for stage in (self.stem, self.extra):
            x = stage(x)
            features.append(x)
        return features[:2][-1]


def test_work_whose_result_the_forward_discards_is_counted_and_named() -> None:
    graph = load_graph(DropsAStage(), (1, 3, 16, 16))
    extra = 16 * 8 * 9 + 16
    assert graph.params == 8 * 3 * 9 + 8 + extra  # it runs: counted
    assert graph.output.output_shape == (1, 8, 16, 16)
    (note,) = graph.notes
    macs = 8 * 8 * 16 * 8 * 9
    assert note == (
        f"1 ops ({extra:,} parameters, {macs:,} MACs, counted) compute results the forward "
        "discards: extra"
    )
    assert load_graph(ReturnsEarlier(), (1, 3, 16, 16)).notes[0].endswith("discards: probe")
    assert load_graph(MaskAndLabel(), (1, 3, 16, 16)).notes == ()  # both outputs returned


class SharedHead(nn.Module):
    """A deep-supervision branch that runs the output head first, on a feature it drops;
    the head runs again (twice, inside a block) on the feature it returns."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.aux = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.stem(x)
        self.head(self.aux(y))
        return self.head(self.head(y))


def test_a_module_also_called_on_a_kept_path_is_not_counted_as_discarded() -> None:
    model = SharedHead()
    graph = load_graph(model, (1, 3, 16, 16))
    assert graph.params == sum(p.numel() for p in model.parameters())
    (note,) = graph.notes
    aux = 8 * 8 * 9 + 8
    assert note.startswith(f"2 ops ({aux:,} parameters, ")
    assert note.endswith("discards: aux, head.0")  # (a ReLU has no MACs)
