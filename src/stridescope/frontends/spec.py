"""Spec files: a network written as an input shape and a list of layer expressions (TOML).

The format::

    # examples/seed_cnn.toml
    name = "seed_cnn"                 # optional
    input = [1, 32, 32, 3]            # or "1x32x32x3"; batch first
    layout = "nhwc"                   # optional: "nhwc" or "nchw"; default from the layers
    layers = [
        "Conv2D(32, (3, 3), activation='relu')",
        "MaxPooling2D((2, 2))",
        "Flatten()",
        "Dense(10, activation='softmax')",
    ]

Each entry of ``layers`` is one layer call, parsed (never evaluated) by
:func:`stridescope.frontends.expr.parse.parse_layer`; layers are chained in order. Layers are named
like Keras names them in a fresh session: ``conv2d``, ``conv2d_1``, ``max_pooling2d``, ...
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frontends.expr.parse import LayerCall, add_layer, default_layout, parse_layer
from stridescope.ir import Graph, GraphBuilder, Layout, Shape

__all__ = [
    "DTYPES",
    "Spec",
    "TypedShape",
    "layer_names",
    "load_spec",
    "parse_shape",
    "read_spec",
    "spec_graph",
]

# what an input's ``:dtype`` may name (torch's names; the model's float type is the default)
DTYPES = (
    *("bool", "uint8", "int8", "int16", "int32", "int64", "int", "long"),
    *("float16", "half", "bfloat16", "float32", "float", "float64", "double"),
)


class TypedShape(tuple[int, ...]):
    """The shape of an input of another dtype than the model's (token ids, a boolean mask),
    written ``1x16:int64``.

    >>> s = TypedShape((1, 16), "int64")
    >>> s, s.dtype, s == (1, 16)
    ((1, 16):int64, 'int64', True)
    """

    dtype: str

    def __new__(cls, sizes: tuple[int, ...], dtype: str) -> TypedShape:
        made = super().__new__(cls, sizes)
        made.dtype = dtype
        return made

    def __repr__(self) -> str:
        return f"{tuple(self)!r}:{self.dtype}"


_KEYS = ("name", "input", "layout", "layers")
_LAYOUTS = ("nhwc", "nchw")


@dataclass(frozen=True)
class Spec:
    """A parsed spec file."""

    name: str
    input_shape: Shape
    layout: Layout
    layers: tuple[LayerCall, ...]
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "input": list(self.input_shape),
            "layout": self.layout,
            "layers": [call.text for call in self.layers],
            "path": self.path,
        }


def parse_shape(value: object, what: str = "input shape", rank: int = 2) -> tuple[int, ...]:
    """A shape from ``"1x32x32x3"``, ``"1,32,32,3"`` or a list of positive integers, of at
    least ``rank`` sizes (a model's further inputs may be a batch of numbers: ``rank=1``): the
    one shape parser of every command and spec file.

    >>> parse_shape("1x3x32x32"), parse_shape([1, 10]), parse_shape("4", rank=1)
    ((1, 3, 32, 32), (1, 10), (4,))
    >>> parse_shape("1x16:int64").dtype  # an input of another dtype (PyTorch models)
    'int64'
    >>> parse_shape("1x3xa")
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: input shape must be positive sizes separated by 'x' or ',', batch first, e.g. 1x32x32x3 (NHWC) or 1x3x32x32 (NCHW); received '1x3xa', which is not a shape
    """
    if isinstance(value, str) and ":" in value:  # 1x16:int64, an input of another dtype
        sizes, _, dtype = value.rpartition(":")
        if dtype.strip() not in DTYPES:
            raise StridescopeError(
                f"{what} {value!r} names dtype {dtype.strip()!r}; allowed: {', '.join(DTYPES)}"
            )
        return TypedShape(parse_shape(sizes, what, rank), dtype.strip())
    if isinstance(value, str):
        parts = [p.strip() for p in re.split(r"[xX,×]", value.strip().strip("()[]"))]
        if all(p.isdigit() for p in parts) and parts:
            value = [int(p) for p in parts]
    if isinstance(value, (list, tuple)) and len(value) >= rank and all(map(_is_size, value)):
        return tuple(value)
    if isinstance(value, (list, tuple)) and 0 < len(value) < rank and all(map(_is_size, value)):
        raise StridescopeError(
            f"{what} needs at least {rank} sizes, batch first (a batch of one {value[0]}-long "
            f"vector is 1x{value[0]}); received {tuple(value)!r}"
        )
    raise StridescopeError(
        f"{what} must be positive sizes separated by 'x' or ',', batch first, e.g. 1x32x32x3 "
        f"(NHWC) or 1x3x32x32 (NCHW); received {value!r}, which is not a shape"
    )


def _is_size(value: object) -> bool:
    """Whether ``value`` is one size of a shape: a positive int (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _snake(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name.removeprefix("nn."))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_names(calls: tuple[LayerCall, ...]) -> list[str]:
    """Keras-style unique names: ``conv2d``, ``conv2d_1``, ...

    >>> layer_names((parse_layer("Conv2D(8, 3)"), parse_layer("MaxPooling2D()"),
    ...              parse_layer("Conv2D(8, 3)")))
    ['conv2d', 'max_pooling2d', 'conv2d_1']
    """
    seen: dict[str, int] = {}
    names = []
    for call in calls:
        base = _snake(call.layer)
        count = seen.get(base, 0)
        seen[base] = count + 1
        names.append(base if count == 0 else f"{base}_{count}")
    return names


def read_spec(path: str | Path) -> Spec:
    """Parse and check a spec file; errors name the file and the offending key."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise StridescopeError(f"cannot read spec file {str(path)!r}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise StridescopeError(f"spec file {str(path)!r} is not valid TOML: {error}") from None
    except UnicodeDecodeError as error:  # (TOML is UTF-8 text)
        raise StridescopeError(
            f"spec file {str(path)!r} is not UTF-8 text (byte {error.start}); TOML is"
        ) from None
    unknown = [key for key in data if key not in _KEYS]
    if unknown:
        raise StridescopeError(
            f"spec file {str(path)!r}: unknown key {unknown[0]!r}; allowed: {', '.join(_KEYS)}"
        )
    if "input" not in data or "layers" not in data:
        missing = "input" if "input" not in data else "layers"
        raise StridescopeError(f"spec file {str(path)!r}: missing key {missing!r}")
    shape = parse_shape(data["input"], what=f"spec file {str(path)!r}: key 'input'")
    if isinstance(shape, TypedShape):
        raise StridescopeError(
            f"spec file {str(path)!r}: key 'input' {data['input']!r} names a dtype; a spec "
            f"file's input is the model's float input"
        )
    layers = data["layers"]
    if not isinstance(layers, list) or not layers or not all(isinstance(x, str) for x in layers):
        raise StridescopeError(
            f"spec file {str(path)!r}: key 'layers' must be a non-empty list of layer "
            f"expressions (strings); received {layers!r}"
        )
    calls = []
    for index, text in enumerate(layers):
        try:
            calls.append(parse_layer(text))
        except StridescopeError as error:
            raise StridescopeError(f"spec file {str(path)!r}, layers[{index}]: {error}") from None
    layout = data.get("layout", default_layout(calls[0]))
    if layout not in _LAYOUTS:
        raise StridescopeError(
            f"spec file {str(path)!r}: key 'layout' is {layout!r}; allowed: {', '.join(_LAYOUTS)}"
        )
    name = data.get("name", path.stem)
    if not isinstance(name, str):
        raise StridescopeError(f"spec file {str(path)!r}: key 'name' must be a string")
    return Spec(name, shape, layout, tuple(calls), str(path))


def spec_graph(spec: Spec, input_shape: Shape | None = None) -> Graph:
    """Build the spec's graph; ``input_shape`` overrides the spec's own."""
    shape = spec.input_shape if input_shape is None else tuple(input_shape)
    builder = GraphBuilder(shape, spec.layout, source=spec.path or spec.name)
    node = builder.input
    where = f"spec file {spec.path!r}" if spec.path else f"spec {spec.name!r}"
    for index, (call, name) in enumerate(zip(spec.layers, layer_names(spec.layers), strict=True)):
        try:
            node = add_layer(builder, node, call, name)
        except StridescopeError as error:
            raise StridescopeError(
                f"{where}, layers[{index}] {call.text} on input {builder.shape(node)!r}: {error}"
            ) from None
    return builder.build()


def load_spec(path: str | Path, input_shape: Shape | None = None) -> Graph:
    """Read a spec file and build its graph.

    >>> import tempfile, os
    >>> text = 'input = "1x8x8x3"\\nlayers = ["Conv2D(4, 1, strides=2)"]\\n'
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = os.path.join(tmp, "net.toml")
    ...     _ = open(p, "w").write(text)
    ...     load_spec(p).output.output_shape
    (1, 4, 4, 4)
    """
    return spec_graph(read_spec(path), input_shape)
