"""``fix`` on PyTorch models: the original is untouched, wrappers are refused, layers that
cannot be swapped are listed with the reason, ``select`` and options are checked."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.frontends import load_graph
from stridescope.surgery import fix, policy_names
from tests.frontends.pytorch.resnet_models import resnet50, seed_cnn


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("policy", policy_names())
def test_the_original_model_is_untouched(policy: str) -> None:
    torch.manual_seed(0)
    model = seed_cnn().train()
    state, tree, params = _state(model), str(model), [id(p) for p in model.parameters()]
    fixed = fix(model, policy, input_shape=(1, 3, 32, 32))
    assert str(model) == tree and [id(p) for p in model.parameters()] == params
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())
    assert model.training and fixed.model.training
    new_params = {id(p) for p in fixed.model.parameters()}
    assert not new_params & set(params)  # nothing shared: training one leaves the other
    for p in fixed.model.parameters():
        p.data.add_(1.0)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())


def test_eval_mode_and_requires_grad_are_kept() -> None:
    model = seed_cnn().eval()
    model[5].weight.requires_grad_(False)
    fixed = fix(model, "blurpool", input_shape=(1, 3, 32, 32)).model
    assert not fixed.training and all(not m.training for m in fixed.modules())
    assert not fixed[5].conv.weight.requires_grad and fixed[5].conv.bias.requires_grad


def _ddp(model: nn.Module, tmp_path: Path) -> nn.Module:
    store = dist.FileStore(str(tmp_path / "store"), 1)
    dist.init_process_group("gloo", store=store, rank=0, world_size=1)
    return nn.parallel.DistributedDataParallel(model)


def test_wrapped_and_compiled_models_are_refused(tmp_path: Path) -> None:
    model = seed_cnn()
    with pytest.raises(StridescopeError, match=r"wrapped in DataParallel: pass model\.module"):
        fix(nn.DataParallel(model), "blurpool", input_shape=(1, 3, 32, 32))
    with pytest.raises(StridescopeError, match=r"compiled with torch\.compile"):
        fix(torch.compile(model), "blurpool", input_shape=(1, 3, 32, 32))
    try:
        wrapped = _ddp(model, tmp_path)
        with pytest.raises(StridescopeError, match="wrapped in DistributedDataParallel"):
            fix(wrapped, "blurpool", input_shape=(1, 3, 32, 32))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


class FunctionalStride(nn.Module):
    """A strided conv called as F.conv2d inside forward: no module to swap."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3, 1, 1))
        self.head = nn.Conv2d(4, 4, 1, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(F.conv2d(x, self.weight, stride=2))  # (N, 4, H/4, W/4)


class OwnForward(nn.Conv2d):
    """A conv subclass with its own forward (weight standardisation): swapped as a restrided
    copy (see test_fix_subclasses), except by s2d, which would rebuild it from its weight."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, w, self.bias, self.stride, self.padding)


def test_layers_that_cannot_be_swapped_are_listed_with_the_reason() -> None:
    fixed = fix(FunctionalStride(), "blurpool", input_shape=(1, 3, 16, 16))
    assert [c.layer for c in fixed.changes] == ["head"]
    (functional,) = fixed.unchanged
    assert functional.layer == "conv2d" and "functional call inside a forward" in functional.reason
    own = nn.Sequential(OwnForward(3, 4, 1, stride=2))
    assert [c.layer for c in fix(own, "resnet-d", input_shape=(1, 3, 8, 8)).changes] == [
        "0.conv2d"  # traced through its forward: the conv call is named under the module
    ]
    kept = fix(own, "s2d", input_shape=(1, 3, 8, 8))
    assert kept.changes == () and [u.layer for u in kept.unchanged] == ["0.conv2d"]
    assert "OwnForward's forward does more" in kept.unchanged[0].reason


def test_select_by_path_prefix_and_lint_code() -> None:
    model = resnet50(stride_in_1x1=True, device="meta")
    shape = (1, 3, 224, 224)
    by_path = fix(model, "resnet-d", select=["layer2.0.downsample.0"], input_shape=shape)
    assert [c.layer for c in by_path.changes] == ["layer2.0.downsample.0"]
    by_prefix = fix(model, "resnet-d", select="layer3", input_shape=shape)
    assert [c.layer for c in by_prefix.changes] == ["layer3.0.conv1", "layer3.0.downsample.0"]
    by_code = fix(model, "blurpool", select=["DS101"], input_shape=shape)
    assert len(by_code.changes) == 6 and {c.layer for c in by_code.changes} == {
        f"layer{i}.0.{part}" for i in (2, 3, 4) for part in ("conv1", "downsample.0")
    }
    stride1 = fix(model, "blurpool", select=["layer1.0.conv2"], input_shape=shape)
    assert stride1.changes == () and stride1.unchanged[0].reason.startswith("stride 1")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"select": ["layer9"]},
            "select: no layer 'layer9' in the model; its downsampling layers: conv1, maxpool",
        ),
        ({"select": ["DS999"]}, "unknown lint code 'DS999'; known: DS001, DS101, DS201"),
        ({"filter_size": 7}, "filter size must be one of 3, 4, 5; received 7"),
    ],
)
def test_bad_selects_and_options_name_what_is_allowed(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(StridescopeError, match="^" + message.replace("(", r"\(")):
        fix(resnet50(device="meta"), "blurpool", input_shape=(1, 3, 64, 64), **kwargs)  # type: ignore[arg-type]


def test_unknown_policy_and_policy_options_are_refused() -> None:
    with pytest.raises(
        UnknownNameError,
        match="unknown policy 'blur'; known: blurpool, blurpool-first, resnet-d, s2d, aps",
    ):
        fix(seed_cnn(), "blur", input_shape=(1, 3, 32, 32))
    with pytest.raises(StridescopeError, match="policy 's2d' takes no filter size"):
        fix(seed_cnn(), "s2d", input_shape=(1, 3, 32, 32), filter_size=4)
    with pytest.raises(StridescopeError, match="needs an input shape"):
        fix(seed_cnn(), "s2d")
    with pytest.raises(StridescopeError, match="received an IR graph"):
        fix(load_graph(seed_cnn(), (1, 3, 32, 32)), "s2d")


@pytest.mark.parametrize("policy", policy_names())
def test_a_saved_state_dict_loads_into_the_rebuilt_fixed_model(policy: str) -> None:
    """What the docs tell users: save the fixed model's state_dict, rebuild with
    ``fix(build(), P).model`` and load it (``weights_only=True``)."""
    torch.manual_seed(0)
    fixed = fix(seed_cnn(), policy, input_shape=(1, 3, 32, 32)).model.eval()
    buffer = io.BytesIO()
    torch.save(fixed.state_dict(), buffer)
    buffer.seek(0)
    rebuilt = fix(seed_cnn(), policy, input_shape=(1, 3, 32, 32)).model.eval()
    rebuilt.load_state_dict(torch.load(buffer, weights_only=True))
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(rebuilt(x), fixed(x))


def test_a_meta_model_is_fixed_without_allocating() -> None:
    fixed = fix(resnet50(device="meta"), "blurpool", input_shape=(1, 3, 224, 224))
    assert all(t.device.type == "meta" for t in fixed.model.parameters())
    assert all(b.device.type == "meta" for b in fixed.model.buffers())


class PadToKernel(nn.Module):
    """A patch embedding that pads its input to a multiple of its conv's kernel, read from
    the conv (timm's DaViT downsampling does): the swapped layer must still answer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.conv.kernel_size
        h, w = x.shape[-2:]
        return self.conv(F.pad(x, (0, (kw - w % kw) % kw, 0, (kh - h % kh) % kh)))


class Routed(nn.Module):
    """Layers in a flat list, each told where its input comes from by an attribute the model
    sets on it (``f``, as config-built detectors do), read back in the forward."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(8, 8, 1, stride=2)]
        )
        for i, layer in enumerate(self.layers):
            layer.f = i - 1  # type: ignore[assignment]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [x]
        for layer in self.layers:
            outputs.append(layer(outputs[layer.f + 1]))
        return outputs[-1]


@pytest.mark.parametrize("policy", ["blurpool", "blurpool-first", "aps"])
def test_a_swapped_layer_answers_what_its_parent_attached_to_it(policy: str) -> None:
    model = Routed()
    fixed = fix(model, policy, input_shape=(1, 3, 16, 16))
    assert fixed.changes
    assert [layer.f for layer in fixed.model.layers] == [-1, 0, 1]
    assert fixed.model(torch.randn(1, 3, 16, 16)).shape == (1, 8, 4, 4)


@pytest.mark.parametrize("policy", ["blurpool", "blurpool-first", "aps"])
def test_a_swapped_layer_answers_the_settings_the_forward_reads(policy: str) -> None:
    model = PadToKernel()
    fixed = fix(model, policy, input_shape=(1, 3, 15, 15))
    assert fixed.changes and isinstance(fixed.model.conv, nn.Sequential)
    conv = fixed.model.conv
    assert (conv.kernel_size, conv.stride, conv.out_channels) == ((2, 2), (2, 2), 8)
    out = fixed.model(torch.randn(1, 3, 15, 15))
    assert out.shape == model(torch.randn(1, 3, 15, 15)).shape == (1, 8, 8, 8)
    with pytest.raises(AttributeError):
        _ = conv.no_such_setting


def test_a_quantized_model_is_refused_and_a_dynamically_quantized_one_fixed() -> None:
    from torch.ao import quantization as tq

    model = nn.Sequential(
        tq.QuantStub(), nn.Conv2d(3, 8, 1, stride=2), nn.MaxPool2d(2), tq.DeQuantStub()
    ).eval()
    model.qconfig = tq.get_default_qconfig("x86")
    prepared = tq.prepare(model)
    prepared(torch.rand(2, 3, 16, 16))  # calibration
    quantized = tq.convert(prepared)
    # a float replacement of the max pool would meet quantized tensors: the model would fail
    with pytest.raises(StridescopeError, match=r"fix needs the float model; received a quantiz"):
        fix(quantized, "blurpool", input_shape=(1, 3, 16, 16))
    dynamic = tq.quantize_dynamic(
        nn.Sequential(nn.Conv2d(3, 8, 1, stride=2), nn.Flatten(), nn.Linear(8 * 8 * 8, 4)).eval(),
        {nn.Linear},
    )
    fixed = fix(dynamic, "resnet-d", input_shape=(1, 3, 16, 16))
    assert [c.layer for c in fixed.changes] == ["0"]
    assert fixed.model(torch.rand(1, 3, 16, 16)).shape == (1, 4)
