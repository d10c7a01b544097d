"""Transposed convolution ("deconvolution") sizes, on one axis: stdlib integers only.

A transposed convolution scatters input position ``i`` to outputs ``i*s - p_before + j*d`` for
taps ``j < k``; the output length is

    ``(n - 1) * s - (p_before + p_after) + d * (k - 1) + output_padding + 1``

(PyTorch's ``ConvTranspose*d`` with symmetric ``padding=p`` is ``(p, p)``). Keras'
``Conv2DTranspose`` padding modes resolve to the same three numbers with
:func:`keras_transposed_padding`.
"""

from __future__ import annotations

from stridescope.geometry.errors import GeometryError

__all__ = ["keras_transposed_padding", "transposed_output_size"]


def _spelled(
    n: int | None, kernel: int, stride: int, dilation: int, padding: object, output_padding: int
) -> str:
    return (
        f"input={n}, kernel={kernel}, stride={stride}, dilation={dilation}, "
        f"padding={padding!r}, output_padding={output_padding}"
    )


def _pair(padding: int | tuple[int, int], described: str) -> tuple[int, int]:
    if isinstance(padding, int) and not isinstance(padding, bool):
        pair = (padding, padding)
    elif (
        isinstance(padding, tuple)
        and len(padding) == 2
        and all(isinstance(p, int) and not isinstance(p, bool) for p in padding)
    ):
        pair = (padding[0], padding[1])
    else:
        raise GeometryError(
            f"padding must be an int or a (before, after) pair of ints; received {described}"
        )
    if min(pair) < 0:
        raise GeometryError(f"padding must not be negative; received {described}")
    return pair


def transposed_output_size(
    n: int | None,
    kernel: int,
    stride: int = 1,
    dilation: int = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int = 0,
) -> int | None:
    """Output length of a transposed convolution along one axis (``None`` stays ``None``).

    ``output_padding`` must be smaller than the stride or the dilation, as in PyTorch.

    >>> transposed_output_size(16, kernel=2, stride=2)             # 2x upsampling
    32
    >>> transposed_output_size(7, kernel=3, stride=2, padding=1, output_padding=1)
    14
    >>> transposed_output_size(5, kernel=3, padding=(2, 1))
    4
    >>> transposed_output_size(None, kernel=3, stride=2)
    >>> transposed_output_size(1, kernel=1, padding=1)
    Traceback (most recent call last):
    ...
    stridescope.geometry.errors.GeometryError: transposed output size would be -1 for input=1, kernel=1, stride=1, dilation=1, padding=1, output_padding=0
    """
    described = _spelled(n, kernel, stride, dilation, padding, output_padding)
    for name, value in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise GeometryError(f"{name} must be a positive integer; received {described}")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise GeometryError(f"input must be a positive integer or None; received {described}")
    before, after = _pair(padding, described)
    if (
        not isinstance(output_padding, int)
        or isinstance(output_padding, bool)
        or not 0 <= output_padding < max(stride, dilation)
    ):
        raise GeometryError(
            "output_padding must be an integer, at least 0 and smaller than the stride or the "
            f"dilation; received {described}"
        )
    if n is None:
        return None
    out = (n - 1) * stride - (before + after) + dilation * (kernel - 1) + output_padding + 1
    if out < 1:
        raise GeometryError(f"transposed output size would be {out} for {described}")
    return out


def keras_transposed_padding(
    kernel: int, stride: int, dilation: int, padding: str, output_padding: int | None = None
) -> tuple[tuple[int, int], int]:
    """Keras ``Conv*DTranspose`` padding (``'valid'`` / ``'same'``) as ``((before, after),
    output_padding)`` for :func:`transposed_output_size`. Without ``output_padding`` Keras
    gives ``n * s`` outputs for ``'same'`` and ``n * s + max(k_eff - s, 0)`` for ``'valid'``.

    >>> keras_transposed_padding(3, 2, 1, "same")
    ((0, 1), 0)
    >>> transposed_output_size(8, 3, 2, 1, *keras_transposed_padding(3, 2, 1, "same"))
    16
    >>> keras_transposed_padding(1, 2, 1, "valid")
    ((0, 0), 1)
    """
    span = dilation * (kernel - 1) + 1
    mode = padding.lower() if isinstance(padding, str) else padding
    if mode not in ("valid", "same"):
        raise GeometryError(
            f"Keras transposed padding must be 'valid' or 'same'; received padding={padding!r} "
            f"(kernel={kernel}, stride={stride}, dilation={dilation})"
        )
    if output_padding is not None and not 0 <= output_padding < stride:
        raise GeometryError(
            f"Keras output_padding must be at least 0 and smaller than the stride; received "
            f"output_padding={output_padding} (kernel={kernel}, stride={stride}, "
            f"dilation={dilation}, padding={padding!r})"
        )
    if output_padding is not None or mode == "valid":
        extra = max(stride - span, 0) if output_padding is None else output_padding
        total = span // 2 * 2 if mode == "same" else 0
        return (total // 2, total // 2), extra
    total = span - stride  # n * s outputs; the odd pixel of the padding is cut at the end
    if total < 0:
        return (0, 0), -total
    return (total // 2, total - total // 2), 0
