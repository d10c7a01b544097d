"""One layer call written as text, Keras or PyTorch spelling, parsed with :mod:`ast` (never
evaluated) and added to a graph through :class:`~stridescope.ir.GraphBuilder`.

>>> call = parse_layer("Conv2D(16, 1, strides=2, padding='same')")
>>> call.layer, call.framework, call.args
('Conv2D', 'keras', (('filters', 16), ('kernel_size', 1), ('strides', 2), ('padding', 'same')))
>>> parse_layer("nn.Conv2d(3, 16, kernel_size=1, stride=2)").args[:3]
(('in_channels', 3), ('out_channels', 16), ('kernel_size', 1))
>>> from stridescope.ir import GraphBuilder
>>> b = GraphBuilder((1, 32, 32, 3), default_layout(call))
>>> last = add_layer(b, b.input, call, "conv")
>>> b.build().nodes[last].output_shape, b.build().params
((1, 16, 16, 16), 64)
>>> parse_layer("Conv2D(16, 3, stride=2)")
Traceback (most recent call last):
...
stridescope.errors.StridescopeError: Conv2D got an unknown argument 'stride'; allowed: filters, kernel_size, strides, padding, data_format, dilation_rate, groups, activation, use_bias, kernel_initializer, bias_initializer, name
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.frontends.expr.checks import CHECKS, REQUIRED
from stridescope.frontends.expr.table import LAYERS, Framework, LayerSpec
from stridescope.frontends.expr.translate import TRANSLATORS
from stridescope.ir import GraphBuilder, Layout

__all__ = ["LayerCall", "add_layer", "default_layout", "known_layers", "parse_layer"]

# Accepted module prefixes, per framework (a bare name is looked up in Keras first).
_PREFIXES: dict[str, Framework] = {
    "keras.layers": "keras",
    "layers": "keras",
    "tf.keras.layers": "keras",
    "tensorflow.keras.layers": "keras",
    "nn": "torch",
    "torch.nn": "torch",
}


@dataclass(frozen=True)
class LayerCall:
    """A parsed layer call. ``args`` holds every argument given, as keywords, in the order of
    the framework's signature; defaults are not filled in (see :meth:`options`)."""

    text: str
    layer: str
    framework: Framework
    args: tuple[tuple[str, object], ...]

    @property
    def spec(self) -> LayerSpec:
        return LAYERS[self.framework][self.layer.removeprefix("nn.")]

    def options(self) -> dict[str, Any]:
        """Every parameter of the layer: the given arguments over the defaults.

        >>> parse_layer("MaxPool2D()").options()["pool_size"]
        2
        """
        values: dict[str, Any] = {p.name: p.default for p in self.spec.params}
        values.update(self.args)
        values.update(self.spec.fixed)
        return values

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "layer": self.layer,
            "framework": self.framework,
            "args": {k: list(v) if isinstance(v, tuple) else v for k, v in self.args},
        }


def known_layers() -> list[str]:
    """Every layer name a layer expression may use, Keras first.

    >>> "nn.Conv2d" in known_layers() and "SeparableConv2D" in known_layers()
    True
    """
    return [*LAYERS["keras"], *(f"nn.{name}" for name in LAYERS["torch"])]


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return None if head is None else f"{head}.{node.attr}"
    return None


def _resolve(name: str) -> tuple[Framework, str]:
    prefix, _, bare = name.rpartition(".")
    if prefix:
        framework = _PREFIXES.get(prefix)
        if framework is not None and bare in LAYERS[framework]:
            return framework, bare
    else:
        for candidate in LAYERS:  # Keras first
            if bare in LAYERS[candidate]:
                return candidate, bare
    raise StridescopeError(
        f"unknown layer {name!r}; known: {', '.join(known_layers())} "
        f"(prefixes allowed: {', '.join(_PREFIXES)})"
    )


def _literal(node: ast.expr, layer: str, what: str) -> object:
    try:
        value = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        raise StridescopeError(
            f"{layer}: {what} must be a literal (int, float, string, bool, None or a tuple); "
            f"received {ast.unparse(node)!r}"
        ) from None
    if isinstance(value, list):
        value = tuple(value)
    return value


def _check(spec: LayerSpec, layer: str, name: str, value: object) -> None:
    test, allowed = CHECKS[spec.param(name).kind]
    if not test(value):
        raise StridescopeError(f"{layer}: {name} must be {allowed}; received {value!r}")


def parse_layer(text: str) -> LayerCall:
    """Parse one layer call; raise :class:`StridescopeError` (one line) for anything wrong.

    >>> parse_layer("keras.layers.MaxPooling2D(pool_size=2)").layer
    'MaxPooling2D'
    >>> parse_layer("torch.nn.AvgPool2d(2, ceil_mode=True)").layer
    'nn.AvgPool2d'
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as error:
        raise StridescopeError(
            f"cannot parse layer expression {text!r}: {error.msg}; "
            "expected one call such as Conv2D(16, 1, strides=2) or nn.MaxPool2d(2)"
        ) from None
    call = tree.body
    if not isinstance(call, ast.Call):
        raise StridescopeError(
            f"layer expression {text!r} is not a call; expected e.g. Conv2D(16, 1, strides=2)"
        )
    name = _dotted(call.func)
    if name is None:
        raise StridescopeError(f"layer expression {text!r} must call a layer by name")
    framework, bare = _resolve(name)
    spec = LAYERS[framework][bare]
    layer = bare if framework == "keras" else f"nn.{bare}"
    allowed = ", ".join(spec.positional) or "(none)"
    given: dict[str, object] = {}
    if len(call.args) > len(spec.params):
        raise StridescopeError(
            f"{layer} takes at most {len(spec.params)} positional arguments ({allowed}); "
            f"received {len(call.args)}"
        )
    for param, node in zip(spec.params, call.args, strict=False):
        if isinstance(node, ast.Starred):
            raise StridescopeError(f"{layer}: *args are not allowed; name each argument")
        given[param.name] = _literal(node, layer, param.name)
    for keyword in call.keywords:
        if keyword.arg is None:
            raise StridescopeError(f"{layer}: **kwargs are not allowed; allowed: {allowed}")
        if keyword.arg not in spec.positional:
            raise StridescopeError(
                f"{layer} got an unknown argument {keyword.arg!r}; allowed: {allowed}"
            )
        if keyword.arg in given:
            raise StridescopeError(f"{layer} got argument {keyword.arg!r} twice")
        given[keyword.arg] = _literal(keyword.value, layer, keyword.arg)
    missing = [p.name for p in spec.params if p.default is REQUIRED and p.name not in given]
    if missing:
        raise StridescopeError(
            f"{layer} is missing required argument(s) {', '.join(missing)}; "
            f"signature: {layer}({allowed})"
        )
    for key, value in given.items():
        _check(spec, layer, key, value)
    ordered = tuple((p.name, given[p.name]) for p in spec.params if p.name in given)
    return LayerCall(text=text.strip(), layer=layer, framework=framework, args=ordered)


def default_layout(call: LayerCall) -> Layout:
    """The layout the framework uses for this layer: NHWC for Keras (NCHW with
    ``data_format='channels_first'``), NCHW for PyTorch.

    >>> default_layout(parse_layer("nn.MaxPool2d(2)")), default_layout(parse_layer("Flatten()"))
    ('nchw', 'nhwc')
    """
    if call.framework == "torch":
        return "nchw"
    return "nchw" if call.options().get("data_format") == "channels_first" else "nhwc"


def add_layer(builder: GraphBuilder, parent: int, call: LayerCall, name: str) -> int:
    """Append the layer's node(s) after ``parent``; return the id of the last one.

    A Keras ``activation=`` other than ``None``/``'linear'`` adds an activation node after the
    layer; ``SeparableConv2D`` adds a depthwise and a pointwise convolution.
    """
    options = call.options()
    if call.framework == "keras" and options.get("data_format") is not None:
        wanted = default_layout(call)
        if wanted != builder.layout:
            raise StridescopeError(
                f"{call.layer}: data_format={options['data_format']!r} needs layout {wanted}; "
                f"the graph is {builder.layout}"
            )
    rank = call.spec.rank
    shape = builder.shape(parent)
    if rank is not None and len(shape) != rank + 2:
        raise StridescopeError(
            f"{call.layer} needs a {rank + 2}-D input (batch, channels and {rank} spatial "
            f"axes); received shape {tuple(shape)!r}"
        )
    translate = TRANSLATORS[call.framework][call.spec.category]
    return translate(builder, parent, call.layer, options, name)
