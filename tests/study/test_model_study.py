"""A study of the user's own model: config keys, the build under each policy, data fitted to the
model, the checks before any run, a whole study and its report against ``original``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from stridescope.errors import StridescopeError
from stridescope.ops.space_to_depth import SpaceToDepthConv
from stridescope.study import memory
from stridescope.study.config import StudyConfig, load_config, plan_runs
from stridescope.study.execute import _build, execute_run
from stridescope.study.model_runs import ModelInput, build_policy_model
from stridescope.study.runner import run_study
from stridescope.study.validate import validate_study

MODEL_SOURCE = '''
import torch
from torch import nn


def build(num_classes=10, in_channels=1):
    """conv3x3 -> ReLU -> conv1x1 stride 2 (the layer the policies change) -> ReLU -> GAP -> fc."""
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 1, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, num_classes),
    )


def rgb(num_classes=10):
    return build(num_classes, in_channels=3)


def five_logits():
    return build(5)


def flat(num_classes=10):
    return nn.Sequential(nn.Flatten(), nn.Linear(64, num_classes))
'''


@pytest.fixture
def net(tmp_path: Path) -> str:
    path = tmp_path / "net.py"
    path.write_text(MODEL_SOURCE, encoding="utf-8")
    return str(path)


def _cfg(net: str, out: Path, **changes: object) -> StudyConfig:
    base = StudyConfig(
        dataset="digits",
        model=f"{net}:build",
        policies=("original", "s2d", "resnet-d"),
        seeds=(0, 1),
        epochs=1,
        workers=1,
        out=str(out),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_builtin_runs_key_is_what_it_was_before_model_studies() -> None:
    # keys measured on main before the model keys existed: old stores still resume
    assert plan_runs(StudyConfig(), cores=1)[0].key == "57361a600ff15bb6"
    last = plan_runs(StudyConfig(arch="resnet-mini", seeds=(5,)), cores=1)[-1]
    assert last.key == "de5e9b18403a10b6"
    assert "model" not in last.config()


def test_the_toml_keys_and_what_they_exclude(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'model = "net.py:build"\npolicies = ["original", "s2d"]\nselect = ["DS101"]\n'
        "image_size = 16\nseeds = 2\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert (cfg.model, cfg.policies, cfg.select, cfg.image_size) == (
        "net.py:build",
        ("original", "s2d"),
        ("DS101",),
        16,
    )
    specs = plan_runs(cfg, cores=1)
    assert [(s.op, s.seed, s.arch) for s in specs][:2] == [
        ("original", 0, "net.py:build"),
        ("original", 1, "net.py:build"),
    ]
    assert len({s.key for s in specs}) == 4
    with pytest.raises(StridescopeError, match="compares policies, not architectures"):
        replace(cfg, ops=("conv1x1_s2",))
    with pytest.raises(StridescopeError, match=r"^policies, image_size apply to a study of your"):
        StudyConfig(policies=("original",), image_size=16)


def test_every_policy_starts_from_the_originals_weights_where_it_keeps_the_layer(net: str) -> None:
    model_input = ModelInput((1, 8, 8), 10)
    original = build_policy_model(f"{net}:build", "original", model_input, seed=3)
    other_seed = build_policy_model(f"{net}:build", "original", model_input, seed=4)
    kept = {name: p for name, p in original.state_dict().items() if not name.startswith("2.")}
    assert not torch.equal(kept["0.weight"], other_seed.state_dict()["0.weight"])
    for policy in ("blurpool", "resnet-d", "s2d", "aps"):
        fixed = build_policy_model(f"{net}:build", policy, model_input, seed=3).state_dict()
        for name, value in kept.items():
            assert torch.equal(fixed[name], value), (policy, name)


def test_s2d_runs_start_with_the_originals_predictions(net: str, tmp_path: Path) -> None:
    cfg = _cfg(net, tmp_path, policies=("original", "s2d"))
    valid = validate_study(cfg)
    by_policy = {s.op: s for s in plan_runs(valid.config) if s.seed == 1}
    x = torch.from_numpy(valid.dataset.x_test[:64])
    shape = valid.dataset.input_shape
    original = _build(by_policy["original"], shape, 10).eval()
    s2d = _build(by_policy["s2d"], shape, 10).eval()
    assert any(isinstance(m, SpaceToDepthConv) for m in s2d.modules())
    with torch.no_grad():
        before, after = original(x), s2d(x)
    torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)
    assert torch.equal(after.argmax(1), before.argmax(1))


def test_the_data_is_fitted_to_the_model_before_any_run(net: str, tmp_path: Path) -> None:
    rgb = validate_study(_cfg(net, tmp_path, model=f"{net}:rgb", image_size=12))
    assert (rgb.config.channels, rgb.config.image_size) == (3, 12)
    run = execute_run(plan_runs(rgb.config)[0])
    assert run.ok, run.error
    assert run.config["channels"] == 3 and run.config["image_size"] == 12
    same = validate_study(_cfg(net, tmp_path, image_size=8))  # the images' own size
    assert (same.config.channels, same.config.image_size) == (1, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"model": "five_logits"},
            r"^the model '.*:five_logits' gives logits 2x5 for images 2x1x8x8; the data has 10 "
            r"classes: it must give one logit per class \(2x10\)$",
        ),
        (
            {"model": "flat", "image_size": 9},
            r"^the model '.*:flat' cannot take images 2x1x9x9: RuntimeError: ",
        ),
        ({"model": "flat"}, r"^policy 's2d' changes no layer of '.*:flat' \(it has no strided"),
        ({"policies": ("original", "blur")}, r"^unknown policy 'blur'; known: original, "),
        ({"select": ("nope",)}, r"select: no layer 'nope' in the model"),
    ],
)
def test_a_model_that_does_not_fit_fails_in_one_line_before_any_run(
    net: str, tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    if "model" in changes:
        changes = {**changes, "model": f"{net}:{changes['model']}"}
    with pytest.raises(StridescopeError, match=message) as caught:
        run_study(_cfg(net, tmp_path / "o", **changes))
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "o" / "results.sqlite").exists()


def test_a_model_too_large_for_the_memory_fails_with_the_estimate(
    net: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "_meminfo_available", lambda: 1_000_000)
    from stridescope.study import model_check

    monkeypatch.setattr(model_check, "available_memory", lambda device: 1_000_000)
    with pytest.raises(
        StridescopeError,
        match=r"^the study needs about [0-9.]+ MB .* but the RAM "
        r"has 1.0 MB free; use a smaller batch size",
    ):
        validate_study(_cfg(net, tmp_path))
    assert memory.available_memory("cpu") == 1_000_000
    assert memory.available_memory("meta") is None


def test_a_model_study_reports_each_policy_against_original(net: str, tmp_path: Path) -> None:
    outcome = run_study(_cfg(net, tmp_path))
    assert (outcome.ran, outcome.failed, outcome.baseline) == (6, 0, "original")
    rows = {row.op: row for row in outcome.summary.rows}
    assert list(rows) == ["original", "s2d", "resnet-d"]
    assert rows["original"].accuracy_vs_baseline is None
    for policy in ("s2d", "resnet-d"):
        assert rows[policy].accuracy_vs_baseline is not None
        assert rows[policy].consistency_vs_baseline is not None
    report = outcome.report_markdown.read_text(encoding="utf-8")
    assert "original" in report and "resnet-d" in report
    assert "## Per policy" in report and "| policy | setting |" in report
    assert outcome.summary.varied == "policy"
    again = run_study(_cfg(net, tmp_path))
    assert (again.ran, again.skipped) == (0, 6)


def test_the_example_model_study_config_loads() -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "study_model.toml"
    cfg = load_config(example)
    assert (cfg.model, cfg.policies[0], cfg.image_size) == (
        "examples/resnet18_mini.py:build",
        "original",
        0,
    )
    assert len(plan_runs(cfg, cores=1)) == 12
