"""Signals and volumes read naturally: samples for 1-D inputs, voxels for 3-D, never pixels,
in every command and format; `--sample-rate` gives receptive fields and jumps in
milliseconds; coverage draws a 1-D map as a strip and a 3-D map as slices."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stridescope.cli import app

ROOT = Path(__file__).resolve().parents[2]
ENCODER = ["examples/wav2vec2_encoder.py:build", "--input", "1x1x16000"]
runner = CliRunner()

SIGNAL = 'input = "1x1x40"\nlayers = ["nn.Conv1d(1, 2, 1, stride=2)", "nn.Conv1d(2, 2, 3)"]\n'
SIGNAL_KERAS = 'input = "1x40x2"\nlayers = ["Conv1D(4, 1, strides=2)", "MaxPooling1D(2)"]\n'
VOLUME = 'input = "1x1x6x10x10"\nlayers = ["nn.Conv3d(1, 2, 1, stride=2)", "nn.Conv3d(2, 2, 3)"]\n'


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("specs")  # not named after a test: paths are printed
    paths = {}
    for name, text in (("signal", SIGNAL), ("signal_keras", SIGNAL_KERAS), ("volume", VOLUME)):
        paths[name] = folder / f"{name}.toml"
        paths[name].write_text(text)
    return paths


def _run(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("spec", ["signal", "signal_keras", "volume"])
@pytest.mark.parametrize(
    "command",
    [
        ["summary"],
        ["summary", "-f", "json"],
        ["summary", "-f", "csv"],
        ["summary", "-f", "markdown"],
        ["coverage"],
        ["coverage", "-f", "json"],
        ["lint", "--fail-on", "never"],
        ["lint", "--fail-on", "never", "-f", "json"],
    ],
)
def test_no_pixel_in_any_output_about_signals_or_volumes(
    specs: dict[str, Path], spec: str, command: list[str]
) -> None:
    output = _run([*command, str(specs[spec])])
    assert "pixel" not in output.lower() and " px" not in output
    word = "voxel" if spec == "volume" else "sample"
    if command[-1] != "csv" and command[0::4] != ["lint", "json"]:
        assert word in output  # lint's JSON and the CSV carry numbers, not nouns


@pytest.mark.parametrize(
    ("expr", "shape", "word"),
    [
        ("nn.Conv1d(1, 8, 1, stride=2)", "1x1x40", "samples read"),
        ("MaxPooling3D(2)", "1x4x8x8x3", "voxels read"),
    ],
)
def test_layer_speaks_in_samples_and_voxels(expr: str, shape: str, word: str) -> None:
    output = _run(["layer", expr, "--input", shape, "--compare", expr])
    assert word in output and "pixel" not in output.lower()
    assert ("NCL" if "1d" in expr else "NDHWC") in output


def test_the_encoder_has_a_25_ms_field_and_a_20_ms_jump(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = _run(["summary", *ENCODER, "--sample-rate", "16000"])
    last_conv = next(line for line in reversed(text.splitlines()) if line.startswith("13 "))
    assert last_conv.split()[-5:-1] == ["400", "320", "25", "20"]  # RF, jump, RF ms, jump ms
    assert "receptive field 400 samples = 25 ms, jump 320 samples = 20 ms" in text
    assert "16000 input samples (1,000 ms at 16000 Hz)" in text
    data = json.loads(_run(["summary", *ENCODER, "--sample-rate", "16000", "-f", "json"]))
    assert data["position_unit"] == "samples" and data["sample_rate"] == 16000
    field = data["layers"][-1]["receptive_field"]
    assert (field["size_ms"], field["jump_ms"]) == (25.0, 20.0)
    header = _run(["summary", *ENCODER, "--sample-rate", "16000", "-f", "csv"]).splitlines()[0]
    assert "rf_ms,jump_ms" in header


def test_the_keras_encoder_gives_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("keras")
    monkeypatch.chdir(ROOT)
    torch_run = json.loads(_run(["summary", *ENCODER, "--sample-rate", "16000", "-f", "json"]))
    keras_target = "examples/wav2vec2_encoder_keras.py:build"
    keras_run = json.loads(_run(["summary", keras_target, "--sample-rate", "16000", "-f", "json"]))
    assert keras_run["totals"]["params"] == torch_run["totals"]["params"] == 4_200_448
    assert keras_run["totals"]["macs"] == torch_run["totals"]["macs"]
    fields = [r["receptive_field"] for r in (keras_run["layers"][-1], torch_run["layers"][-1])]
    assert (
        fields[0] == fields[1] == {"size": [400], "jump": [320], "size_ms": 25.0, "jump_ms": 20.0}
    )
    assert keras_run["position_unit"] == "samples" and keras_run["layout"] == "nhwc"


def test_coverage_and_layer_take_a_sample_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    text = _run(["coverage", *ENCODER, "--sample-rate", "16000"])
    assert "receptive field 400 samples = 25 ms, outputs 320 samples = 20 ms apart" in text
    assert "1 run of 240 samples (15 ms): 15760-15999" in text
    data = json.loads(_run(["coverage", *ENCODER, "--sample-rate", "16000", "-f", "json"]))
    assert data["receptive_field"] == {"size": 400, "jump": 320, "size_ms": 25.0, "jump_ms": 20.0}
    text = _run(
        ["layer", "nn.Conv1d(1, 8, 10, stride=5)", "-i", "1x1x400", "--sample-rate", "16000"]
    )
    assert "10 samples = 0.625 ms" in text and "5 samples = 0.3125 ms" in text
    line = _run(
        ["layer", "nn.Conv1d(1, 8, 10, 5)", "-i", "1x1x400", "--sample-rate", "8000", "-f", "json"]
    )
    field = json.loads(line)["layers"][0]["receptive_field"]
    assert (field["size"], field["jump"], field["size_ms"], field["jump_ms"]) == (
        [10],
        [5],
        1.25,
        0.625,
    )


def test_a_video_takes_a_frame_rate(
    monkeypatch: pytest.MonkeyPatch, specs: dict[str, Path]
) -> None:
    text = _run(["summary", str(specs["volume"]), "--sample-rate", "25"])
    assert "receptive field 5 frames = 200 ms, jump 2 frames = 80 ms" in text
    assert "6x10x10 input voxels (240 ms at 25 Hz)" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "examples/seed_cnn.toml", "--sample-rate", "16000"], "a 1-D input (samples)"),
        (["coverage", "examples/seed_cnn.toml", "--sample-rate", "8000"], "2 spatial axes"),
        (["layer", "Conv2D(4, 1)", "-i", "1x8x8x3", "--sample-rate", "100"], "2 spatial axes"),
        ([*["summary", *ENCODER], "--sample-rate", "0"], "positive number of Hz; received 0"),
        ([*["summary", *ENCODER], "--sample-rate", "inf"], "positive number of Hz"),
        (["layer", "Conv1D(4, 1)", "-i", "1x8x3", "--layout", "ncdhw"], "names 3 spatial axes"),
    ],
)
def test_bad_sample_rates_are_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, args: list[str], message: str
) -> None:
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


def test_a_signal_is_a_strip_with_its_unread_runs(specs: dict[str, Path]) -> None:
    lines = _run(["coverage", str(specs["signal"])]).splitlines()
    assert "50.0% of the 40 input samples can influence the output (20 never read)" in lines[0]
    assert "windows per sample" in lines[1]
    assert lines[3] == "█·" * 20  # 40 cells: one per sample
    assert lines[5].split() == ["1", ".", "2", "."] + ["3", "."] * 16 + ["2", ".", "1", "."]
    assert lines[7] == "  20 runs of 1 sample, every 2 samples from 1 to 39"


def test_a_volume_is_one_grid_per_slice(specs: dict[str, Path]) -> None:
    lines = _run(["coverage", str(specs["volume"])]).splitlines()
    assert lines[2] == "read per slice (D): 0: 25%, 1: 0%, 2: 25%, 3: 0%, 4: 25%, 5: 0%"
    assert lines[3].startswith("slice D=0 (25% read)")
    assert lines[4].split()[:3] == ["1", ".", "2"]
    assert lines[14:17] == [
        "slice D=1 (0% read): never read",
        "slice D=2 (25% read): the same counts as D=0",
        "slice D=3 (0% read): never read",
    ]
    assert "slices D=4-5 not shown" in lines[-1]


@pytest.mark.parametrize(("spec", "rate"), [("signal", ["--sample-rate", "8000"]), ("volume", [])])
def test_png_forms_for_signals_and_volumes(
    specs: dict[str, Path], tmp_path: Path, spec: str, rate: list[str]
) -> None:
    import matplotlib.image

    out = tmp_path / f"{spec}.png"
    _run(["coverage", str(specs[spec]), "--png", str(out), *rate])
    pixels = matplotlib.image.imread(out)
    height, width = pixels.shape[:2]
    assert width > height >= 300  # a wide strip; slices side by side
    assert len(np.unique(pixels.reshape(-1, pixels.shape[-1]), axis=0)) > 20
