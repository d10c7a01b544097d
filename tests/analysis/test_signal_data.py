"""The 1-D signal sources: made here (espeak-ng, sweeps, seeded noise), deterministic, with
the spectra they claim."""

from __future__ import annotations

import numpy as np
import pytest

from stridescope.analysis.signal_data import (
    SAMPLE_RATE,
    SOURCES,
    available_sources,
    espeak,
    load_signals,
    speech_waveform,
)
from stridescope.errors import StridescopeError

NO_SPEECH = "espeak-ng is not installed (apt-get install espeak-ng; .ci/speech.sh does it in CI)"


def _band_share(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x - x.mean(axis=-1, keepdims=True), axis=-1)) ** 2
    freqs = np.fft.rfftfreq(x.shape[-1])
    return float(spectrum[..., (freqs >= low) & (freqs <= high)].sum() / spectrum.sum())


@pytest.mark.parametrize("source", ["chirp", "noise"])
def test_sources_are_deterministic_crops_of_the_requested_shape(source: str) -> None:
    a, b = load_signals(source, (3, 500), 2), load_signals(source, (3, 500), 2)
    assert a.shape == (2, 3, 500) and a.dtype.is_floating_point
    assert bool((a == b).all()) and float(a.abs().max()) <= 1.0
    flat = a.reshape(6, 500)
    assert len({tuple(row[:20].tolist()) for row in flat}) == 6  # every crop its own


def test_noise_is_band_limited_and_chirps_stay_below_8_khz() -> None:
    noise = load_signals("noise", (1, 8192), 4).double().numpy()
    assert _band_share(noise, 0.02, 0.45) > 0.999
    chirp = load_signals("chirp", (1, 8192), 4).double().numpy()
    assert _band_share(chirp, 0.0, 8000 / SAMPLE_RATE + 0.01) > 0.99
    assert 0.02 < _band_share(chirp, 0.25, 0.5) < 0.2  # some energy above a stride's Nyquist


@pytest.mark.skipif(espeak() is None, reason=NO_SPEECH)
def test_speech_is_spoken_here_and_has_speech_spectra() -> None:
    speech = speech_waveform()
    assert 10 * SAMPLE_RATE < speech.size < 60 * SAMPLE_RATE  # seconds of sentences
    crops = load_signals("speech", (1, 4096), 8).double().numpy()
    assert _band_share(crops, 0.0, 4000 / SAMPLE_RATE) > 0.8  # voiced speech: below 4 kHz
    assert _band_share(crops, 0.25, 0.5) > 1e-4  # fricatives above 5.5 kHz
    assert "speech" in available_sources()


def test_errors_name_what_was_asked() -> None:
    with pytest.raises(StridescopeError, match="unknown signal source 'radio'; known: speech"):
        load_signals("radio", (1, 10))
    with pytest.raises(StridescopeError, match="must be positive"):
        load_signals("chirp", (0, 10))
    assert SOURCES == ("speech", "chirp", "noise")
