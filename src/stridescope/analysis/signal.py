"""Aliasing and frequency response of a downsampling operator, measured on real data: photos
for images, speech, chirps and band-limited noise for signals (one code path for every rank:
images ``(N, C, H, W)``, signals ``(N, C, L)``, volumes ``(N, C, D, H, W)``).

Aliasing share. A stride-2 operator's output can only represent input frequencies up to a
quarter cycle per input position (pixel, sample: the output's Nyquist limit); energy from
higher input frequencies folds back onto lower ones. With ``D0(x) = D(x) - D(0)`` (the bias
removed), ``low(x)`` the ideal low-pass copy of ``x`` (its FFT over the spatial axes with every
coefficient whose frequency exceeds 1/4 cycle per position on any axis set to zero) and
``J(x)`` the Jacobian of ``D0`` at ``x``::

    aliasing = ||J(x) (x - low(x))||^2 / ||D0(x)||^2

summed over a batch of mean-removed photographs (or signals): the share of output energy that
comes from input frequencies above the output's Nyquist limit. For a linear operator ``J(x) = D0`` and
this is ``||D0(x) - D0(low(x))||^2 / ||D0(x)||^2`` exactly. Max pooling and APS are
piecewise linear: ``J(x)`` keeps their data-dependent choices (which pixel is the maximum,
which polyphase component is kept) fixed at ``x``. Comparing with ``D0(low(x))`` instead would
let APS pick another phase for the low-passed copy, a one-pixel shift of the whole output
that is not aliasing (it gave APS 0.09-0.14 at 64 px instead of about the bare stride's 0.03).

>>> import torch
>>> x = torch.randn(2, 3, 16, 16)
>>> bool(torch.allclose(ideal_lowpass(ideal_lowpass(x)), ideal_lowpass(x), atol=1e-5))
True
>>> s = torch.randn(2, 3, 64)
>>> bool(torch.allclose(ideal_lowpass(ideal_lowpass(s)), ideal_lowpass(s), atol=1e-5))
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

#: Output Nyquist limit of a stride-2 operator, in cycles per input position.
CUTOFF = 0.25
Cutoff = float | tuple[float, ...]


@contextlib.contextmanager
def quiet_forward_ad() -> Iterator[None]:
    """Silence the DeprecationWarning torch gives when its first forward-mode AD call loads
    decompositions with ``torch.jit.script`` (nothing of ours uses TorchScript)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        yield


def centered(images: torch.Tensor) -> torch.Tensor:
    """Remove each image's (signal's, volume's) per-channel mean."""
    return images - images.mean(dim=tuple(range(2, images.dim())), keepdim=True)


def ideal_lowpass(x: torch.Tensor, cutoff: Cutoff = CUTOFF) -> torch.Tensor:
    """Zero every Fourier coefficient of ``x`` (N, C, *spatial) above ``cutoff`` cycles per
    position on any spatial axis (frequencies exactly at the cutoff are kept); a tuple gives
    one cutoff per axis (an operator with stride ``s`` on an axis: ``1 / (2 s)``)."""
    sizes = tuple(x.shape[2:])
    cuts = cutoff if isinstance(cutoff, tuple) else (cutoff,) * len(sizes)
    dims = tuple(range(2, x.dim()))
    mask = torch.ones((), dtype=torch.bool, device=x.device)
    for axis, (n, cut) in enumerate(zip(sizes, cuts, strict=True)):
        last = axis == len(sizes) - 1  # the last axis is halved by the real FFT
        freqs = (
            torch.fft.rfftfreq(n, device=x.device)
            if last
            else torch.fft.fftfreq(n, device=x.device)
        )
        keep = freqs.abs() <= cut + 1e-9
        mask = mask.unsqueeze(-1) & keep.view(*(1,) * axis, -1)
    spectrum = torch.fft.rfftn(x.double(), dim=dims) * mask
    low: torch.Tensor = torch.fft.irfftn(spectrum, s=sizes, dim=dims)
    return low.to(x.dtype)


def _debiased(op: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        out: torch.Tensor = op(x) - op(torch.zeros_like(x[:1]))
    return out


def aliasing_share(op: nn.Module, images: torch.Tensor, cutoff: Cutoff = CUTOFF) -> float:
    """Share of output energy from input frequencies above the output Nyquist limit
    (``cutoff``, cycles per input position: 0.25 for stride 2; per axis as in
    :func:`ideal_lowpass`), on images ``(N, C, H, W)`` or signals ``(N, C, L)``.

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
    """Input frequencies, in cycles per position, from 0 to 0.5 (the input's Nyquist limit)."""
    return tuple(0.5 * i / (points - 1) for i in range(points))


def frequency_response(
    op: nn.Module,
    in_channels: int,
    size: int = 64,
    frequencies: tuple[float, ...] = (),
    rank: int = 2,
) -> tuple[float, ...]:
    """Output amplitude for a grating along the last axis of each frequency (cos and sin
    phases, all channels equal; on a signal, a sinusoid), relative to the largest response.
    A flat curve past 0.25 means high frequencies pass and alias; a good low-pass falls to 0
    at 0.5.

    >>> from stridescope.ops import create_op
    >>> r = frequency_response(create_op("blurpool_conv1x1", 1, 1), 1, 16, (0.0, 0.5))
    >>> r[0], r[1] < 1e-6
    (1.0, True)
    >>> r = frequency_response(create_op("conv1x1_s2", 1, 1, rank=1), 1, 16, (0.0, 0.5), rank=1)
    >>> r
    (1.0, 1.0)
    """
    freqs = frequencies or response_frequencies()
    col = torch.arange(size, dtype=torch.float64)
    gratings = []
    for f in freqs:
        for phase in (torch.cos, torch.sin):
            row = phase(2 * math.pi * f * col).float()  # (W,)
            gratings.append(row.expand(in_channels, *(size,) * rank))
    out = _debiased(op, torch.stack(gratings)).double()  # (2F, C_out, H', W')
    energy = out.square().flatten(1).sum(dim=1).view(len(freqs), 2).sum(dim=1)
    amplitude = energy.sqrt()
    peak = float(amplitude.max())
    return tuple(0.0 if peak == 0.0 else float(a) / peak for a in amplitude)
