"""Real 1-D signals for the signal metrics on sequences, made on this machine (never
downloaded), as the photos are for images (:mod:`stridescope.analysis.images`):

- ``speech``: sentences spoken by Debian's ``espeak-ng`` (a system package:
  ``apt-get install espeak-ng``), written as WAV files and read back, 22,050 Hz mono. Voiced
  speech has most of its energy below 4 kHz (0.18 cycles per sample) and fricatives above.
- ``chirp``: exponential sweeps over 50 Hz - 8 kHz at 22,050 Hz (0.002 - 0.36 cycles per
  sample), the signal acousticians measure rooms with; each item its own sweep rate and phase.
- ``noise``: Gaussian noise band-limited to 0.02 - 0.45 cycles per sample (seeded).

Each item is ``(C, L)``: channel ``c`` of item ``i`` is crop ``i * C + c`` of the source,
crops spread evenly over it (speech: over the spoken sentences, silences trimmed). Values are
in [-1, 1]; the metrics remove each crop's mean.

>>> load_signals("chirp", (2, 100), count=3).shape
torch.Size([3, 2, 100])
"""

from __future__ import annotations

import functools
import math
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from stridescope.errors import StridescopeError

__all__ = [
    "SAMPLE_RATE",
    "SOURCES",
    "SPEECH",
    "available_sources",
    "espeak",
    "load_signals",
    "speech_waveform",
]

#: The sources, in the order ``compare`` measures them (the first available is the main one).
SOURCES = ("speech", "chirp", "noise")
#: Hz of every source (espeak-ng's own rate; the sweeps are written for it).
SAMPLE_RATE = 22050
#: What espeak-ng says: (voice, sentence).
SPEECH = (
    ("en-us", "A strided convolution reads only part of the signal it is given."),
    ("en-gb", "Speech keeps most of its energy below four kilohertz, and its hiss above."),
    ("en-us+f3", "The quick brown fox jumps over the lazy dog, twice, in the rain."),
    ("en-gb-x-rp", "Seven layers of convolution turn a second of audio into fifty frames."),
    ("en-us+m3", "She sells sea shells by the sea shore, and the shells she sells are sure."),
    ("en-gb-scotland", "Anti-aliasing filters smooth a signal before it is subsampled."),
)
_SILENCE = 0.02  # |amplitude| below this at a sentence's ends is trimmed


def espeak() -> str | None:
    """The path of ``espeak-ng``, or ``None`` where it is not installed."""
    return shutil.which("espeak-ng")


def _speak(program: str, voice: str, text: str, folder: Path) -> npt.NDArray[np.float32]:
    path = folder / "speech.wav"
    try:
        subprocess.run(
            [program, "-v", voice, "-w", str(path), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        with wave.open(str(path), "rb") as wav:
            rate, width, frames = wav.getframerate(), wav.getsampwidth(), wav.getnframes()
            data = wav.readframes(frames)
    except (OSError, subprocess.SubprocessError, wave.Error) as error:
        raise StridescopeError(f"espeak-ng could not speak ({voice}): {error}") from None
    if rate != SAMPLE_RATE or width != 2:
        raise StridescopeError(
            f"espeak-ng wrote {rate} Hz, {8 * width}-bit audio; expected {SAMPLE_RATE} Hz 16-bit"
        )
    samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
    loud = np.flatnonzero(np.abs(samples) > _SILENCE)
    return samples[loud[0] : loud[-1] + 1] if loud.size else samples


@functools.lru_cache(maxsize=1)
def speech_waveform() -> npt.NDArray[np.float32]:
    """Every sentence of :data:`SPEECH`, spoken and joined (about 25 s); a one-line error
    naming the package where ``espeak-ng`` is missing."""
    program = espeak()
    if program is None:
        raise StridescopeError(
            "speech needs espeak-ng, which is not installed (Debian/Ubuntu: apt-get install "
            "espeak-ng); the chirp and noise sources need nothing"
        )
    with tempfile.TemporaryDirectory(prefix="stridescope-speech-") as folder:
        parts = [_speak(program, voice, text, Path(folder)) for voice, text in SPEECH]
    return np.concatenate(parts)


def available_sources() -> tuple[str, ...]:
    """The sources this machine can make (speech only with espeak-ng).

    >>> set(available_sources()) >= {"chirp", "noise"}
    True
    """
    return tuple(s for s in SOURCES if s != "speech" or espeak() is not None)


def _chirp(length: int, index: int) -> npt.NDArray[np.float64]:
    """An exponential sweep 50 Hz - 8 kHz over ``length`` samples (item ``index`` sweeps
    at its own rate: the band is crossed 1 + index / 3 times, from its own phase)."""
    low, high = 50.0 / SAMPLE_RATE, 8000.0 / SAMPLE_RATE  # cycles per sample
    t = np.arange(length, dtype=np.float64) / length
    crossings = 1.0 + index / 3.0
    position = (t * crossings) % 1.0  # sawtooth: where in the sweep each sample is
    k = math.log(high / low)
    period = length / crossings
    phase = 2 * math.pi * low * period * (np.exp(k * position) - 1.0) / k
    return np.sin(phase + 0.7 * index)


def _noise(length: int, index: int) -> npt.NDArray[np.float64]:
    """Gaussian noise with its spectrum cut to 0.02 - 0.45 cycles per sample (seed
    ``index``), scaled to a peak of 1."""
    rng = np.random.default_rng(index)
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length)
    spectrum[(frequencies < 0.02) | (frequencies > 0.45)] = 0.0
    noise = np.fft.irfft(spectrum, n=length)
    peak = float(np.abs(noise).max())
    return noise / peak if peak > 0 else noise


def _speech_crops(length: int, crops: int) -> list[npt.NDArray[np.float32]]:
    speech = speech_waveform()
    if speech.size < length:
        raise StridescopeError(
            f"speech has {speech.size:,} samples; a crop of {length:,} does not fit "
            "(ask for a shorter --input)"
        )
    starts = np.linspace(0, speech.size - length, crops).round().astype(int)
    return [speech[s : s + length] for s in starts]


def load_signals(source: str, shape: tuple[int, int], count: int = 4) -> torch.Tensor:
    """``count`` items of ``source`` as a ``(count, C, L)`` float32 tensor (see the module
    docstring for what each source is and how items are cut)."""
    if source not in SOURCES:
        raise StridescopeError(f"unknown signal source {source!r}; known: {', '.join(SOURCES)}")
    channels, length = shape
    if channels < 1 or length < 1 or count < 1:
        raise StridescopeError(
            f"signal shape and count must be positive (C, L), count; received {shape}, {count}"
        )
    crops = channels * count
    if source == "speech":
        items = [np.asarray(c, dtype=np.float64) for c in _speech_crops(length, crops)]
    elif source == "chirp":
        items = [_chirp(length, i) for i in range(crops)]
    else:
        items = [_noise(length, i) for i in range(crops)]
    stacked = np.stack(items).reshape(count, channels, length)
    return torch.from_numpy(stacked.astype(np.float32))
