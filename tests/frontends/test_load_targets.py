"""Target resolution: every form of TARGET, and one-line errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.frontends.load import load_graph, resolve_target
from stridescope.ir import GraphBuilder

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FACTORIES = """
from torch import nn

def build():
    return nn.Sequential(nn.Conv2d(3, 8, 1, stride=2), nn.ReLU())

def broken():
    raise RuntimeError("no weights here")

def not_a_model():
    return 42

MODEL = nn.Conv2d(3, 4, 3)
"""


@pytest.fixture
def factories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ss_factories.py"
    path.write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    return path


def test_file_factory_and_module_attr(factories: Path) -> None:
    graph = load_graph(f"{factories}:build", "1x3x16x16")
    assert graph.layout == "nchw"
    assert graph.output.output_shape == (1, 8, 8, 8)
    assert graph.params == 3 * 8 + 8
    instance = load_graph("ss_factories:MODEL", (1, 3, 10, 10))
    assert instance.output.output_shape == (1, 4, 8, 8)


def test_a_torch_target_names_its_graph(factories: Path) -> None:
    """Summary titles and JSON `source` show the target the user gave (as for Keras and spec
    files), not the bare word 'torch'; a module passed as an object keeps 'torch'."""
    assert load_graph(f"{factories}:build", "1x3x16x16").source == f"{factories}:build"
    assert load_graph("ss_factories:MODEL", "1x3x10x10").source == "ss_factories:MODEL"
    assert load_graph(nn.Conv2d(3, 4, 3), "1x3x8x8").source == "torch"


def test_objects_are_targets() -> None:
    module = nn.Sequential(nn.Conv2d(3, 4, 3))
    assert load_graph(module, "1x3x8x8").output.output_shape == (1, 4, 6, 6)
    b = GraphBuilder((1, 4, 4, 2), "nhwc")
    graph = b.build()
    assert load_graph(graph) is graph


def test_torch_seed_equals_spec_up_to_layout() -> None:
    torch_graph = load_graph(f"{EXAMPLES / 'seed_cnn_torch.py'}:build", "1x3x32x32")
    spec_graph = load_graph(str(EXAMPLES / "seed_cnn.toml"))
    assert torch_graph.params == spec_graph.params == 54_922
    assert torch_graph.macs == spec_graph.macs
    assert torch_graph.activation_bytes == spec_graph.activation_bytes

    def nhwc(shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return (shape[0], *shape[2:], shape[1]) if len(shape) == 4 else shape

    assert [nhwc(n.output_shape) for n in torch_graph.nodes] == [
        n.output_shape for n in spec_graph.nodes
    ]


@pytest.mark.parametrize(
    ("target", "shape", "message"),
    [
        ("{f}:broken", "1x3x8x8", "factory .* raised RuntimeError: no weights here"),
        ("{f}:not_a_model", "1x3x8x8", "gave an int; expected"),
        ("{f}:missing", "1x3x8x8", "has no attribute 'missing'; it has: .*build"),
        ("{d}/nope.py:build", "1x3x8x8", "cannot import .*no such file"),
        ("ss_no_such_module:build", "1x3x8x8", "No module named 'ss_no_such_module'"),
        ("{f}:build", None, "needs an input shape"),
        ("{f}:build", "1x3x8", "expects a 4-D input"),
        ("{f}:build", "1x5x8x8", "with C=3"),
        ("net.onnx", None, "allowed: FILE.py:FACTORY"),
        ("{d}/model.keras", None, "no such file"),
    ],
)
def test_bad_targets_are_one_line_errors(
    factories: Path, target: str, shape: str | None, message: str
) -> None:
    text = target.format(f=factories, d=factories.parent)
    with pytest.raises(StridescopeError, match=message) as caught:
        load_graph(text, shape)
    assert "\n" not in str(caught.value)


def test_import_error_in_file(tmp_path: Path) -> None:
    path = tmp_path / "ss_bad_import.py"
    path.write_text("import ss_not_installed_anywhere\n")
    with pytest.raises(StridescopeError, match=r"cannot import .*ModuleNotFoundError"):
        resolve_target(f"{path}:build")
