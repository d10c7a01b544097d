"""The table of layers that a layer expression may name, with their parameters in the
framework's own positional order.

Each layer is one :class:`LayerSpec`: its framework, the category whose translation maps it
onto the IR (see :mod:`stridescope.frontends.expr.translate`), its parameters and the spatial
rank it needs.
Adding a layer is adding a row here, not writing code.

>>> spec = LAYERS["keras"]["Conv2D"]
>>> spec.positional[:3]
('filters', 'kernel_size', 'strides')
>>> spec.param("padding").default
'valid'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

from stridescope.frontends.expr.checks import REQUIRED

__all__ = ["LAYERS", "Framework", "LayerSpec", "Param"]

Framework = Literal["keras", "torch"]


@dataclass(frozen=True)
class Param:
    """One parameter: its name, the kind of value it takes (a key of
    :data:`~stridescope.frontends.expr.checks.CHECKS`), and its default (:data:`REQUIRED` if
    it must be given)."""

    name: str
    kind: str
    default: object = REQUIRED


@dataclass(frozen=True)
class LayerSpec:
    """One layer a layer expression may name."""

    framework: Framework
    category: str
    params: tuple[Param, ...]
    rank: int | None = None
    fixed: dict[str, object] = field(default_factory=dict)

    @property
    def positional(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param:
        return next(p for p in self.params if p.name == name)


def _p(name: str, kind: str, default: object = REQUIRED) -> Param:
    return Param(name, kind, default)


_NAME = _p("name", "opt_str", None)
_DATA_FORMAT = _p("data_format", "data_format", None)
_ACT = _p("activation", "opt_str", None)
_INIT = (_p("kernel_initializer", "opt_str", None), _p("bias_initializer", "opt_str", None))


def _torch_pad(mode: str) -> LayerSpec:
    return LayerSpec("torch", "pad", (_p("padding", "torch_pad2d"),), 2, fixed={"mode": mode})


def _keras_conv(rank: int) -> LayerSpec:
    padding = "keras_causal_padding" if rank == 1 else "keras_padding"  # Conv1D only
    params = (
        _p("filters", "pos_int"),
        _p("kernel_size", "pos_ints"),
        _p("strides", "pos_ints", 1),
        _p("padding", padding, "valid"),
        _DATA_FORMAT,
        _p("dilation_rate", "pos_ints", 1),
        _p("groups", "pos_int", 1),
        _ACT,
        _p("use_bias", "bool", True),
        *_INIT,
        _NAME,
    )
    return LayerSpec("keras", "conv", params, rank)


def _keras_conv_transpose(rank: int) -> LayerSpec:
    output_padding = _p("output_padding", "opt_nonneg_ints", None)
    # Conv3DTranspose takes data_format before output_padding; 1-D and 2-D after it
    middle = (_DATA_FORMAT, output_padding) if rank == 3 else (output_padding, _DATA_FORMAT)
    params = (
        _p("filters", "pos_int"),
        _p("kernel_size", "pos_ints"),
        _p("strides", "pos_ints", 1),
        _p("padding", "keras_padding", "valid"),
        *middle,
        _p("dilation_rate", "pos_ints", 1),
        _ACT,
        _p("use_bias", "bool", True),
        *_INIT,
        _NAME,
    )
    return LayerSpec("keras", "conv_transpose", params, rank)


def _keras_depthwise(separable: bool, rank: int = 2) -> LayerSpec:
    head = (_p("filters", "pos_int"),) if separable else ()
    middle = (
        (_DATA_FORMAT, _p("dilation_rate", "pos_ints", 1), _p("depth_multiplier", "pos_int", 1))
        if separable
        else (
            _p("depth_multiplier", "pos_int", 1),
            _DATA_FORMAT,
            _p("dilation_rate", "pos_ints", 1),
        )
    )
    params = (
        *head,
        _p("kernel_size", "pos_ints"),
        _p("strides", "pos_ints", 1),
        _p("padding", "keras_padding", "valid"),
        *middle,
        _ACT,
        _p("use_bias", "bool", True),
        _NAME,
    )
    return LayerSpec("keras", "separable" if separable else "depthwise", params, rank)


def _keras_pool(mode: str, rank: int = 2) -> LayerSpec:
    params = (
        _p("pool_size", "pos_ints", 2),
        _p("strides", "opt_pos_ints", None),
        _p("padding", "keras_padding", "valid"),
        _DATA_FORMAT,
        _NAME,
    )
    return LayerSpec("keras", "pool", params, rank, {"mode": mode})


def _keras_global(mode: str, rank: int = 2) -> LayerSpec:
    params = (_DATA_FORMAT, _p("keepdims", "bool", False), _NAME)
    return LayerSpec("keras", "global_pool", params, rank, {"mode": mode})


def _torch_conv(rank: int) -> LayerSpec:
    params = (
        _p("in_channels", "pos_int"),
        _p("out_channels", "pos_int"),
        _p("kernel_size", "pos_ints"),
        _p("stride", "pos_ints", 1),
        _p("padding", "torch_padding", 0),
        _p("dilation", "pos_ints", 1),
        _p("groups", "pos_int", 1),
        _p("bias", "bool", True),
        _p("padding_mode", "pad_mode", "zeros"),
    )
    return LayerSpec("torch", "conv", params, rank)


def _torch_conv_transpose(rank: int) -> LayerSpec:
    params = (
        _p("in_channels", "pos_int"),
        _p("out_channels", "pos_int"),
        _p("kernel_size", "pos_ints"),
        _p("stride", "pos_ints", 1),
        _p("padding", "nonneg_ints", 0),
        _p("output_padding", "nonneg_ints", 0),
        _p("groups", "pos_int", 1),
        _p("bias", "bool", True),
        _p("dilation", "pos_ints", 1),
        _p("padding_mode", "pad_mode", "zeros"),
    )
    return LayerSpec("torch", "conv_transpose", params, rank)


def _torch_pool(mode: str, rank: int = 2) -> LayerSpec:
    head = (
        _p("kernel_size", "pos_ints"),
        _p("stride", "opt_pos_ints", None),
        _p("padding", "torch_padding", 0),
    )
    ceil = _p("ceil_mode", "bool", False)
    rest: tuple[Param, ...]
    if mode == "max":
        rest = (_p("dilation", "pos_ints", 1), _p("return_indices", "bool", False), ceil)
    else:  # nn.AvgPool1d has no divisor_override
        rest = (ceil, _p("count_include_pad", "bool", True))
        rest += (_p("divisor_override", "opt_int", None),) if rank > 1 else ()
    return LayerSpec("torch", "pool", (*head, *rest), rank, {"mode": mode})


def _torch_adaptive(mode: str, rank: int = 2) -> LayerSpec:
    extra = (_p("return_indices", "bool", False),) if mode == "max" else ()
    params = (_p("output_size", "output_size"), *extra)
    return LayerSpec("torch", "adaptive_pool", params, rank, {"mode": mode})


def _keras_rows() -> dict[str, LayerSpec]:
    """The convolutions and pools of every rank, in each spelling Keras exports."""
    rows: dict[str, LayerSpec] = {}
    for r in (1, 2, 3):
        rows[f"Conv{r}D"] = _keras_conv(r)
        rows[f"Conv{r}DTranspose"] = _keras_conv_transpose(r)
    for r in (1, 2):  # Keras has no 3-D depthwise or separable conv
        rows[f"DepthwiseConv{r}D"] = _keras_depthwise(separable=False, rank=r)
        rows[f"SeparableConv{r}D"] = _keras_depthwise(separable=True, rank=r)
    for r in (1, 2, 3):
        for mode, names in (
            ("max", ("MaxPool", "MaxPooling")),
            ("avg", ("AvgPool", "AveragePooling")),
        ):
            for name in names:
                rows[f"{name}{r}D"] = _keras_pool(mode, r)
    for r in (1, 2, 3):
        for mode, names in (
            ("avg", ("GlobalAveragePooling", "GlobalAvgPool")),
            ("max", ("GlobalMaxPooling", "GlobalMaxPool")),
        ):
            for name in names:
                rows[f"{name}{r}D"] = _keras_global(mode, r)
    return rows


def _torch_rows() -> dict[str, LayerSpec]:
    """The convolutions and pools of every rank (``nn.Conv1d`` ... ``nn.AdaptiveMaxPool3d``)."""
    rows: dict[str, LayerSpec] = {}
    for r in (1, 2, 3):
        rows[f"Conv{r}d"] = _torch_conv(r)
        rows[f"ConvTranspose{r}d"] = _torch_conv_transpose(r)
    for r in (1, 2, 3):
        rows[f"MaxPool{r}d"] = _torch_pool("max", r)
        rows[f"AvgPool{r}d"] = _torch_pool("avg", r)
    for r in (1, 2, 3):
        rows[f"AdaptiveAvgPool{r}d"] = _torch_adaptive("avg", r)
        rows[f"AdaptiveMaxPool{r}d"] = _torch_adaptive("max", r)
    return rows


_KERAS_BN = (
    _p("axis", "int", -1),
    _p("momentum", "number", 0.99),
    _p("epsilon", "number", 0.001),
    _p("center", "bool", True),
    _p("scale", "bool", True),
    _NAME,
)
_TORCH_BN = (
    _p("num_features", "pos_int"),
    _p("eps", "number", 1e-5),
    _p("momentum", "opt_number", 0.1),
    _p("affine", "bool", True),
    _p("track_running_stats", "bool", True),
)

#: framework -> layer name (as written, without prefix) -> spec
LAYERS: Final[dict[Framework, dict[str, LayerSpec]]] = {
    "keras": {
        **_keras_rows(),
        "Flatten": LayerSpec("keras", "flatten", (_DATA_FORMAT, _NAME)),
        "ZeroPadding2D": LayerSpec(
            "keras", "pad", (_p("padding", "keras_pad2d", 1), _DATA_FORMAT, _NAME), 2
        ),
        "Dense": LayerSpec(
            "keras",
            "dense",
            (_p("units", "pos_int"), _ACT, _p("use_bias", "bool", True), *_INIT, _NAME),
        ),
        "BatchNormalization": LayerSpec("keras", "norm", _KERAS_BN),
        "Activation": LayerSpec("keras", "activation", (_p("activation", "str"), _NAME)),
        "ReLU": LayerSpec(
            "keras",
            "activation",
            (
                _p("max_value", "opt_number", None),
                _p("negative_slope", "number", 0.0),
                _p("threshold", "number", 0.0),
                _NAME,
            ),
            fixed={"activation": "relu"},
        ),
        "Dropout": LayerSpec(
            "keras",
            "dropout",
            (
                _p("rate", "number"),
                _p("noise_shape", "opt_pos_ints", None),
                _p("seed", "opt_int", None),
                _NAME,
            ),
        ),
    },
    "torch": {
        **_torch_rows(),
        "Linear": LayerSpec(
            "torch",
            "dense",
            (_p("in_features", "pos_int"), _p("out_features", "pos_int"), _p("bias", "bool", True)),
        ),
        "Flatten": LayerSpec(
            "torch", "flatten", (_p("start_dim", "int", 1), _p("end_dim", "int", -1))
        ),
        "BatchNorm2d": LayerSpec("torch", "norm", _TORCH_BN, 2),
        "ReLU": LayerSpec(
            "torch", "activation", (_p("inplace", "bool", False),), fixed={"activation": "relu"}
        ),
        "Dropout": LayerSpec(
            "torch", "dropout", (_p("p", "number", 0.5), _p("inplace", "bool", False))
        ),
        "ZeroPad2d": _torch_pad("zeros"),
        "ReflectionPad2d": _torch_pad("reflect"),
        "ReplicationPad2d": _torch_pad("replicate"),
        "PixelUnshuffle": LayerSpec(
            "torch", "pixel_unshuffle", (_p("downscale_factor", "pos_int"),), 2
        ),
    },
}
