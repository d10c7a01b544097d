"""Saved models as targets: Keras files (``.keras``, Keras 2's ``.h5``), TorchScript archives
(``.pt``, ``.pth``, ``.ts``, ``.torchscript``) and ``torch.export`` archives (``.pt2``).

Each is loaded the safe way (Keras with ``safe_mode=True``; TorchScript and exported programs
are no pickles); a file of ``torch.save`` is refused, since loading a pickle runs its code.
Errors are one line (:class:`~stridescope.errors.StridescopeError`).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frontends.inputs import KeywordInput
from stridescope.frontends.spec import TypedShape

__all__ = [
    "KERAS",
    "TORCH",
    "exported_module",
    "guarded",
    "is_exported",
    "load_keras_file",
    "load_torch_file",
    "one_line",
]

TORCH = (".pt", ".pth", ".ts", ".torchscript", ".pt2")
KERAS = (".keras", ".h5", ".hdf5")  # (the last two: Keras 2's whole-model HDF5 files)


def one_line(error: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}".rstrip(": ")


def _archive(path: Path, kind: str, expected: str) -> None:
    """Refuse a missing file, or one that is not a zip archive (as every saved model is but
    Keras 2's HDF5 files, whose signature is checked instead)."""
    if not path.is_file():
        raise StridescopeError(f"cannot read {kind}{str(path)!r}: no such file")
    with path.open("rb") as file:
        hdf5 = file.read(8) == b"\x89HDF\r\n\x1a\n"
    if not (hdf5 if path.suffix in (".h5", ".hdf5") else zipfile.is_zipfile(path)):
        raise StridescopeError(f"cannot load {str(path)!r}: not {expected}")


def load_keras_file(path: Path) -> Any:
    if path.suffix in (".h5", ".hdf5"):
        _archive(path, "Keras file ", "an HDF5 file (a Keras model saved by model.save('name.h5'))")
    else:
        _archive(
            path, "Keras file ", "a .keras file (a zip archive saved by model.save('name.keras'))"
        )
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    import stridescope.ops.keras_layers  # noqa: F401  (registers the layers `fix` inserts)

    try:
        return keras.saving.load_model(path, safe_mode=True)
    except Exception as error:
        raise StridescopeError(f"cannot load {str(path)!r}: {one_line(error)}") from None


def load_torch_file(path: Path) -> tuple[Any, list[tuple[int, ...]]]:
    """A TorchScript archive's module, or an exported program's (``.pt2``) with the input
    shapes it was exported with; on the CPU, whatever device it was saved from."""
    _archive(path, "", "a TorchScript (torch.jit.save) or torch.export (.pt2) archive")
    import torch

    if path.suffix == ".pt2":
        try:
            program = torch.export.load(str(path))
        except Exception as error:
            raise StridescopeError(f"cannot load {str(path)!r}: {one_line(error)}") from None
        return exported_module(program)
    with zipfile.ZipFile(path) as archive:
        scripted = any("/code/" in f"/{name}" for name in archive.namelist())
    if not scripted:
        raise StridescopeError(
            f"cannot load {str(path)!r}: it is a torch.save file (a pickle, whose loading runs "
            "its code), not a TorchScript archive; save it with torch.jit.save(torch.jit."
            "script(model)) or torch.export.save, or give FILE.py:FACTORY"
        )
    try:
        return torch.jit.load(str(path), map_location="cpu"), []  # type: ignore[no-untyped-call]
    except Exception as error:
        raise StridescopeError(f"cannot load {str(path)!r}: {one_line(error)}") from None


def exported_module(program: Any) -> tuple[Any, list[Any]]:
    """An exported program's (``torch.export.export``'s result) module, with the input shapes
    it was exported with (those it was given by keyword as :class:`KeywordInput`)."""
    import torch

    module = program.module()
    # the inputs it was exported with: their sizes are the example's even where they are
    # dynamic (never int() of a symbolic size: that specialises the program's guards)
    example: tuple[Any, ...] = getattr(program, "example_inputs", None) or ((), {})
    named = [
        KeywordInput(k, _typed(v)) for k, v in example[1].items() if isinstance(v, torch.Tensor)
    ]
    own: list[Any] = [_typed(t) for t in example[0] if isinstance(t, torch.Tensor)] + named or [
        tuple(getattr(getattr(d, "node", None), "hint", d) for d in node.meta["val"].shape)
        for node in program.graph.nodes
        if node.op == "placeholder"
        and node.name in program.graph_signature.user_inputs
        and isinstance(node.meta.get("val"), torch.Tensor)
    ]
    return module, own


def _typed(tensor: Any) -> tuple[int, ...]:
    """A tensor's shape, naming its dtype where it is not a float's (token ids, a mask)."""
    shape = tuple(tensor.shape)
    if tensor.dtype.is_floating_point:
        return shape
    return TypedShape(shape, str(tensor.dtype).removeprefix("torch."))


def is_exported(target: object) -> bool:
    """Whether ``target`` is a ``torch.export.ExportedProgram`` (without importing torch)."""
    cls = type(target)
    return cls.__name__ == "ExportedProgram" and cls.__module__.startswith("torch.export")


def guarded(error: StridescopeError, source: str, shapes: Sequence[Any]) -> StridescopeError:
    """A failed guard of an exported program, said as the inputs it was exported for and the
    input ``shapes`` it received; any other error as it is."""
    text = str(error)
    if "Guard failed: " not in text:
        return error
    condition = text.split("Guard failed: ", 1)[1].split(" While executing", 1)[0].strip()
    received = " and ".join(str(s if isinstance(s, KeywordInput) else tuple(s)) for s in shapes)
    return StridescopeError(
        f"{source!r} was exported for inputs where {condition}; received {received} (give "
        "--input within those bounds, or export it with dynamic_shapes that admit it)"
    )
