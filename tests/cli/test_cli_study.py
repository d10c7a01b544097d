"""`stridescope study` from the command line: a small study, and bad input as one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stridescope.cli import app

runner = CliRunner()


def test_a_small_study_prints_the_table_the_comparison_and_the_report(tmp_path: Path) -> None:
    args = ["study", "--dataset", "digits", "--ops", "conv1x1_s2,conv3x3_s2", "--seeds", "2"]
    args += ["--epochs", "1", "--workers", "1", "--out", str(tmp_path)]
    result = runner.invoke(app, args, env={"COLUMNS": "150"})
    assert result.exit_code == 0, result.output
    assert "conv3x3_s2" in result.output and "significant" in result.output
    assert str((tmp_path / "report.html").resolve()) in result.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert "4 of 4 runs already finished: skipped" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ops", "conv1x1_s2,conv9"], "unknown operator 'conv9'; known: "),
        (["--arch", "vgg"], "unknown architecture 'vgg'; known: seed-cnn, resnet-mini"),
        (["--dataset", "imagenet"], "unknown dataset 'imagenet'; known: mnist5k"),
        (["--epochs", "0"], "epochs must be positive; received 0"),
        (["--ops", " , "], "--ops needs operator names separated by commas"),
        (["--preset", "c", "--arch", "resnet-mini"], "unknown resnet-mini preset 'c'"),
        (["--executor", "dask"], "unknown executor 'dask'; known: local, ray"),
        (
            ["--address", "head:6379"],
            "address 'head:6379' is for executor 'ray'; received executor 'local' (--executor, --address)",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["study", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_an_output_folder_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a folder", encoding="utf-8")
    result = runner.invoke(app, ["study", "--dataset", "digits", "--out", str(tmp_path / "taken")])
    assert result.exit_code == 2
    assert f"cannot make the output folder (out) '{tmp_path / 'taken'}': it is a file" in (
        result.stderr
    )
    assert "Traceback" not in result.output


def test_a_config_file_with_a_wrong_key(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text("dataset = 'digits'\nseed = 3\n", encoding="utf-8")
    result = runner.invoke(app, ["study", str(config), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown study config key 'seed'; allowed keys:" in result.output


@pytest.mark.slow
def test_executor_ray_runs_the_study_and_checks_the_device_on_the_cluster(tmp_path: Path) -> None:
    args = ["study", "--dataset", "digits", "--ops", "conv1x1_s2", "--seeds", "1", "--epochs", "1"]
    args += ["--executor", "ray"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "ray")], env={"COLUMNS": "150"})
    assert result.exit_code == 0, result.output
    assert "1 run trained, 0 skipped, 0 failed" in result.output
    assert (tmp_path / "ray" / "report.html").is_file()

    # A CUDA study is not refused because this (driver) process has no GPU: Ray checks that the
    # cluster has one for each run, and here it has none.
    import torch

    assert not torch.cuda.is_available(), "this test expects a CPU-only machine"
    cuda = runner.invoke(app, [*args, "--device", "cuda", "--out", str(tmp_path / "cuda")])
    assert cuda.exit_code == 2
    assert "but the Ray cluster has CPU=" in cuda.output and "GPU=0 in all" in cuda.output
    assert "device 'cuda' is not usable here" not in cuda.output
    assert "Traceback" not in cuda.output


def test_dataset_help_names_exactly_the_known_datasets() -> None:
    """`--help` used to offer 'idx' and 'folder', which the study refuses as unknown."""
    from stridescope.cli.study import DATASET_HELP
    from stridescope.study import dataset_names

    names = DATASET_HELP.split(":", 1)[1].replace("(bundled)", "").split("(read")[0]
    assert sorted(n.strip(" ;,") for n in names.replace(";", ",").split(",")) == sorted(
        dataset_names()
    )
    result = runner.invoke(app, ["study", "--help"], terminal_width=200)
    assert result.exit_code == 0 and "fashion-mnist-idx" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dataset", "nope"], "unknown dataset 'nope'; known: mnist5k"),
        (["--dataset", "mnist-idx", "--dataset-path", "{tmp}/missing"], "missing"),
        (["--dataset", "digits", "--device", "nodevice"], "device 'nodevice' is not usable here"),
        (["--dataset", "digits", "--out", "{tmp}/file/sub"], "cannot make the output folder"),
    ],
)
def test_nothing_is_printed_before_the_input_is_checked(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """The header line used to come first, then the error: a failed study printed as started."""
    (tmp_path / "file").write_text("not a folder", encoding="utf-8")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    result = runner.invoke(app, ["study", "--out", str(tmp_path / "out"), *args])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    args = ["study", "--dataset", "digits", "--ops", "conv1x1_s2", "--seeds", "1"]
    args += ["--epochs", "1", "--workers", "1", "--out", str(tmp_path)]
    result = runner.invoke(app, args, env={"COLUMNS": "150"})
    assert result.exit_code == 0, result.output
    assert f"study: seed-cnn on digits, 1 operator x 1 seed, 1 epoch -> {tmp_path}" in result.stdout
    assert "1 run: 1 ok, 0 failed" in result.stdout
    assert "1 run trained, 0 skipped, 0 failed" in result.stdout
    assert "1 run: 1 ok, 0 failed." in (tmp_path / "report.md").read_text(encoding="utf-8")
    again = runner.invoke(app, args)
    assert "1 of 1 run already finished: skipped" in again.stdout
    assert "0 runs trained, 1 skipped" in again.stdout
    shown = runner.invoke(app, ["results", str(tmp_path)])
    assert shown.exit_code == 0 and "1 run: 1 ok, 0 failed" in shown.stdout


def test_ctrl_c_is_one_line_and_exit_code_130(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stridescope.study.runner

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(stridescope.study.runner, "run_study", interrupted)
    result = runner.invoke(app, ["study", "--dataset", "digits", "--out", str(tmp_path)])
    assert result.exit_code == 130
    assert result.stderr == "interrupted\n"


MY_OPS = """
from torch import nn
import torch.nn.functional as F


class Down(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 1)

    def forward(self, x):
        return self.conv(F.avg_pool2d(x, 2, ceil_mode=True))


def pool_then_1x1(c_in, c_out):
    return Down(c_in, c_out)


def floors(c_in, c_out):
    return nn.Conv2d(c_in, c_out, 2, stride=2)
"""


def test_a_study_trains_your_own_operator_in_the_slot(tmp_path: Path) -> None:
    """``FILE.py:FACTORY`` in ``--ops``: built in the worker, labelled by FACTORY in the
    tables, stored under the whole string; the read grid comes from the PyTorch frontend."""
    import json

    mine = tmp_path / "my_ops.py"
    mine.write_text(MY_OPS, encoding="utf-8")
    out = tmp_path / "out"
    ops = f"conv1x1_s2,{mine}:pool_then_1x1"
    args = ["study", "--dataset", "digits", "--ops", ops, "--seeds", "2", "--epochs", "1"]
    result = runner.invoke(
        app, [*args, "--workers", "2", "--out", str(out)], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 0, result.output
    assert "pool_then_1x1" in result.output and str(mine) not in result.output
    exported = runner.invoke(app, ["results", str(out), "--format", "json"])
    runs = json.loads(exported.stdout)
    assert sorted({run["op"] for run in runs}) == sorted(ops.split(","))
    assert all(run["test_accuracy"] is not None for run in runs)
    grids = [p.name for p in out.glob("report-read-*.png")]
    assert len(grids) == 2 and any(name.endswith("pool_then_1x1.png") for name in grids)


def test_your_own_operator_must_fit_the_slot(tmp_path: Path) -> None:
    mine = tmp_path / "my_ops.py"
    mine.write_text(MY_OPS, encoding="utf-8")
    args = ["study", "--dataset", "digits", "--ops", f"conv1x1_s2,{mine}:floors"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert (
        "maps 4x11x11 to 8x5x5; a study's slot needs C_out x ceil(H/2) x ceil(W/2)" in result.output
    )
    assert "Traceback" not in result.output
