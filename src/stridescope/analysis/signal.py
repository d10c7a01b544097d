"""Aliasing and frequency response of a downsampling operator, measured on real images.

Aliasing share. A stride-2 operator's output can only represent input frequencies up to a
quarter cycle per input pixel (the output's Nyquist limit); energy from higher input
frequencies folds back onto lower ones. With ``D0(x) = D(x) - D(0)`` (the bias removed),
``low(x)`` the ideal low-pass copy of ``x`` (its 2-D FFT with every coefficient whose
frequency exceeds 1/4 cycle per pixel on either axis set to zero) and ``J(x)`` the Jacobian
of ``D0`` at ``x``::

    aliasing = ||J(x) (x - low(x))||^2 / ||D0(x)||^2

summed over a batch of mean-removed photographs: the share of output energy that comes from
input frequencies above the output's Nyquist limit. For a linear operator ``J(x) = D0`` and
this is ``||D0(x) - D0(low(x))||^2 / ||D0(x)||^2`` exactly. Max pooling and APS are
piecewise linear: ``J(x)`` keeps their data-dependent choices (which pixel is the maximum,
which polyphase component is kept) fixed at ``x``. Comparing with ``D0(low(x))`` instead would
let APS pick another phase for the low-passed copy, a one-pixel shift of the whole output
that is not aliasing (it gave APS 0.09-0.14 at 64 px instead of about the bare stride's 0.03).

>>> import torch
>>> x = torch.randn(2, 3, 16, 16)
>>> bool(torch.allclose(ideal_lowpass(ideal_lowpass(x)), ideal_lowpass(x), atol=1e-5))
True
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import torch
from torch import nn
from torch.func import jvp

__all__ = [
    "aliasing_share",
    "centered",
    "frequency_response",
    "ideal_lowpass",
    "quiet_forward_ad",
    "response_frequencies",
]

#: Output Nyquist limit of a stride-2 operator, in cycles per input pixel.
CUTOFF = 0.25


@contextlib.contextmanager
def quiet_forward_ad() -> Iterator[None]:
    """Silence the DeprecationWarning torch gives when its first forward-mode AD call loads
    decompositions with ``torch.jit.script`` (nothing of ours uses TorchScript)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        yield


def centered(images: torch.Tensor) -> torch.Tensor:
    """Remove each image's per-channel mean."""
    return images - images.mean(dim=(2, 3), keepdim=True)


def ideal_lowpass(x: torch.Tensor, cutoff: float | tuple[float, float] = CUTOFF) -> torch.Tensor:
    """Zero every 2-D Fourier coefficient of ``x`` (N, C, H, W) above ``cutoff`` cycles per
    pixel on either axis (frequencies exactly at the cutoff are kept); a pair gives the
    cutoff of H and of W (an operator with stride ``s`` on an axis: ``1 / (2 s)``)."""
    h, w = x.shape[-2:]
    cut_h, cut_w = cutoff if isinstance(cutoff, tuple) else (cutoff, cutoff)
    fy = torch.fft.fftfreq(h, device=x.device).abs() <= cut_h + 1e-9
    fx = torch.fft.rfftfreq(w, device=x.device).abs() <= cut_w + 1e-9
    spectrum = torch.fft.rfft2(x.double())
    spectrum = spectrum * (fy[:, None] & fx[None, :])
    low: torch.Tensor = torch.fft.irfft2(spectrum, s=(h, w))
    return low.to(x.dtype)


def _debiased(op: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out: torch.Tensor = op(x) - op(torch.zeros_like(x[:1]))
    return out


def aliasing_share(
    op: nn.Module, images: torch.Tensor, cutoff: float | tuple[float, float] = CUTOFF
) -> float:
    """Share of output energy from input frequencies above the output Nyquist limit
    (``cutoff``, cycles per input pixel: 0.25 for stride 2; per axis ``(H, W)`` as in
    :func:`ideal_lowpass`).

    >>> from stridescope.ops import create_op
    >>> torch.manual_seed(0) and None
    >>> x = torch.randn(1, 3, 32, 32)
    >>> smooth = ideal_lowpass(x, 0.1)
    >>> aliasing_share(create_op("conv1x1_s2", 3, 4), smooth) < 1e-6
    True
    """
    x = centered(images)

    def d0(inp: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = op(inp) - op(torch.zeros_like(inp[:1]))
        return out

    with torch.no_grad(), quiet_forward_ad():
        pair = jvp(d0, (x,), (x - ideal_lowpass(x, cutoff),))
    full, high = pair[0], pair[1]  # D0(x), J(x) (x - low(x))
    energy = float(full.double().square().sum())
    return 0.0 if energy == 0.0 else float(high.double().square().sum()) / energy


def response_frequencies(points: int = 33) -> tuple[float, ...]:
    """Input frequencies, in cycles per pixel, from 0 to 0.5 (the input's Nyquist limit)."""
    return tuple(0.5 * i / (points - 1) for i in range(points))


def frequency_response(
    op: nn.Module, in_channels: int, size: int = 64, frequencies: tuple[float, ...] = ()
) -> tuple[float, ...]:
    """Output amplitude for a horizontal grating of each frequency (cos and sin phases,
    all channels equal), relative to the largest response. A flat curve past 0.25 means
    high frequencies pass and alias; a good low-pass falls to 0 at 0.5.

    >>> from stridescope.ops import create_op
    >>> r = frequency_response(create_op("blurpool_conv1x1", 1, 1), 1, 16, (0.0, 0.5))
    >>> r[0], r[1] < 1e-6
    (1.0, True)
    """
    freqs = frequencies or response_frequencies()
    col = torch.arange(size, dtype=torch.float64)
    gratings = []
    for f in freqs:
        for phase in (torch.cos, torch.sin):
            row = phase(2 * math.pi * f * col).float()  # (W,)
            gratings.append(row.expand(in_channels, size, size))
    out = _debiased(op, torch.stack(gratings)).double()  # (2F, C_out, H', W')
    energy = out.square().flatten(1).sum(dim=1).view(len(freqs), 2).sum(dim=1)
    amplitude = energy.sqrt()
    peak = float(amplitude.max())
    return tuple(0.0 if peak == 0.0 else float(a) / peak for a in amplitude)
