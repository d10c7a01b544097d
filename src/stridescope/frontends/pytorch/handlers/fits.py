"""Norms and activations whose settings fix the input's shape, checked as torch checks them
(a model torch refuses to run is refused, not summarised): ``LayerNorm`` / ``F.layer_norm``
/ ``RMSNorm`` / ``F.rms_norm`` (the input's last axes are ``normalized_shape``),
``GroupNorm`` (``num_channels`` on axis 1) and ``F.group_norm`` (channels a multiple of
``num_groups``), ``PReLU`` with one slope per channel (``num_parameters`` on axis 1).
"""

from __future__ import annotations

from typing import Any

from stridescope.frontends.pytorch.errors import LayerInputError
from stridescope.frontends.pytorch.proxy import ShapeProxy

__all__ = ["function_fits", "module_fits"]


def _last_axes(name: str, op: str, x: ShapeProxy, normalized: Any) -> None:
    shape = (normalized,) if isinstance(normalized, int) else tuple(normalized)
    if len(x.dims) < len(shape) or x.dims[len(x.dims) - len(shape) :] != shape:
        raise LayerInputError(name, op, f"an input whose last axes are {shape}", x.dims)


def _channels(name: str, op: str, x: ShapeProxy, channels: int) -> None:
    if len(x.dims) < 2 or x.dims[1] != channels:
        raise LayerInputError(name, op, f"{channels} channels on axis 1", x.dims)


def module_fits(m: Any, name: str, x: ShapeProxy) -> None:
    """Raise :class:`LayerInputError` where torch would refuse ``m(x)`` for its shape."""
    own = m.__dict__
    if "normalized_shape" in own:
        _last_axes(name, type(m).__name__, x, own["normalized_shape"])
    elif "num_groups" in own and "num_channels" in own:
        _channels(name, type(m).__name__, x, own["num_channels"])
    elif own.get("num_parameters", 1) != 1:
        _channels(name, type(m).__name__, x, own["num_parameters"])


def function_fits(op: str, name: str, x: Any, options: tuple[Any, ...], kw: dict[str, Any]) -> None:
    """The same for ``F.layer_norm(x, normalized_shape)``, ``F.rms_norm(x,
    normalized_shape)`` and ``F.group_norm(x, num_groups)``."""
    if not isinstance(x, ShapeProxy):
        return
    if op in ("F.layer_norm", "F.rms_norm"):
        normalized = options[0] if options else kw.get("normalized_shape")
        if normalized is not None:
            _last_axes(name, op, x, normalized)
    elif op == "F.group_norm":
        groups = options[0] if options else kw.get("num_groups")
        if isinstance(groups, int) and (len(x.dims) < 2 or x.dims[1] % groups):
            expected = f"channels on axis 1 in a multiple of num_groups={groups}"
            raise LayerInputError(name, op, expected, x.dims)
