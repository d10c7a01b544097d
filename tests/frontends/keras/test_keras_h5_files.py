"""Keras 2's whole-model HDF5 files (``model.save("name.h5")``) as targets, loaded with
``safe_mode=True`` as ``.keras`` files are: the same summary as the model itself; a Python
lambda inside is refused, and so is a file that is not HDF5, in one line (exit 2 on the CLI)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

import stridescope
from stridescope.cli import app
from stridescope.errors import StridescopeError
from stridescope.frontends import load_model

runner = CliRunner()


def _model(keras: ModuleType) -> Any:
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(8, 3, strides=2),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.GlobalAveragePooling2D(),
            layers.Dense(4),
        ]
    )


@pytest.mark.parametrize("suffix", [".h5", ".hdf5"])
def test_an_h5_model_summarises_as_the_model(
    keras: ModuleType, tmp_path: Path, suffix: str
) -> None:
    model = _model(keras)
    path = tmp_path / f"model{suffix}"
    model.save(path)
    saved, own = stridescope.summary(str(path)), stridescope.summary(model)
    assert (saved.totals.params, saved.totals.macs, saved.input_shape) == (
        own.totals.params,
        own.totals.macs,
        own.input_shape,
    )
    assert saved.totals.params == model.count_params()
    assert load_model(str(path)).count_params() == model.count_params()  # fix, study


def test_unsafe_and_broken_h5_files_are_refused_in_one_line(
    keras: ModuleType, tmp_path: Path
) -> None:
    unsafe = tmp_path / "lambda.h5"
    keras.Sequential([keras.Input((8,)), keras.layers.Lambda(lambda x: x * 2)]).save(unsafe)
    with pytest.raises(StridescopeError, match="Lambda"):
        stridescope.summary(str(unsafe))
    broken = tmp_path / "broken.h5"
    broken.write_text("not hdf5")
    result = runner.invoke(app, ["summary", str(broken)])
    assert result.exit_code == 2 and "not an HDF5 file" in result.output
    assert "Traceback" not in result.output
