"""Study configs: TOML loading, type checks, CLI overrides and the run plan."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from stridescope.errors import StridescopeError
from stridescope.study.config import (
    DEFAULT_OPS,
    StudyConfig,
    load_config,
    plan_runs,
    with_overrides,
)
from stridescope.study.resources import default_workers

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "study.toml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_documented_study() -> None:
    cfg = StudyConfig()
    assert (cfg.dataset, cfg.arch, cfg.epochs, cfg.seeds) == ("mnist5k", "seed-cnn", 3, (0, 1, 2))
    assert len(cfg.ops) == 6 and cfg.ops[0] == "conv1x1_s2" and cfg.ops == DEFAULT_OPS


def test_the_example_config_loads() -> None:
    cfg = load_config(EXAMPLE)
    assert cfg.ops and cfg.seeds


def test_toml_values_and_seed_forms(tmp_path: Path) -> None:
    cfg = load_config(
        _write(tmp_path, 'dataset = "digits"\nops = ["conv3x3_s2"]\nseeds = 2\nlr = 1\n')
    )
    assert (cfg.dataset, cfg.ops, cfg.seeds, cfg.lr) == ("digits", ("conv3x3_s2",), (0, 1), 1.0)
    cfg = load_config(_write(tmp_path, "[study]\nseeds = [4, 7]\nepochs = 2\n"))
    assert (cfg.seeds, cfg.epochs) == ((4, 7), 2)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("epoch = 1\n", r"unknown study config key 'epoch'; allowed keys: dataset, .*epochs"),
        ('epochs = "3"\n', r"key 'epochs' must be int; received str '3'"),
        ("epochs = true\n", r"key 'epochs' must be int; received bool True"),
        ('ops = "conv1x1_s2"\n', r"key 'ops' must be list or tuple; received str"),
        ("ops = [1, 2]\n", r"key 'ops' must be a non-empty list of str"),
        ("seeds = 0\n", r"seeds must be a count >= 1"),
        ("epochs = 0\n", r"epochs must be positive; received 0"),
        ("epochs = = 3\n", r"cannot read study config"),
    ],
)
def test_bad_configs_name_the_key_and_what_was_received(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(StridescopeError, match=message):
        load_config(_write(tmp_path, text))


def test_missing_file() -> None:
    with pytest.raises(StridescopeError, match="not found"):
        load_config("/nonexistent/study.toml")


def test_overrides_win_and_none_is_ignored() -> None:
    cfg = with_overrides(StudyConfig(epochs=5), epochs=None, seeds=4, ops=("s2d_conv1x1",))
    assert (cfg.epochs, cfg.seeds, cfg.ops) == (5, (0, 1, 2, 3), ("s2d_conv1x1",))


def test_plan_covers_ops_times_seeds_with_distinct_keys() -> None:
    cfg = with_overrides(StudyConfig(), seeds=3)
    specs = plan_runs(cfg, cores=2)
    assert len(specs) == 18 and len({s.key for s in specs}) == 18
    assert {s.threads for s in specs} == {1}  # two workers on two cores: one thread each
    assert "out" not in specs[0].config() and "workers" not in specs[0].config()
    # the output folder does not change what a run is
    assert [s.key for s in plan_runs(replace(cfg, out="elsewhere"), cores=2)] == [
        s.key for s in specs
    ]
    # any change in what is trained does
    assert plan_runs(replace(cfg, lr=2e-3), cores=2)[0].key != specs[0].key


def test_the_thread_count_is_stored_but_not_keyed() -> None:
    # resuming with another --workers (or from a machine with more cores) skips finished runs
    one = plan_runs(replace(StudyConfig(), workers=1), cores=4)
    four = plan_runs(replace(StudyConfig(), workers=4), cores=4)
    assert (one[0].threads, four[0].threads) == (4, 1)
    assert [s.key for s in one] == [s.key for s in four]
    assert one[0].config()["threads"] == 4 and one[0].record().config["threads"] == 4


def test_threads_are_a_fair_share_of_the_cores() -> None:
    assert plan_runs(replace(StudyConfig(), workers=1), cores=4)[0].threads == 4
    assert plan_runs(replace(StudyConfig(), workers=3), cores=4)[0].threads == 1
    assert default_workers(2) == 2
