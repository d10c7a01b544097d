"""`compare` on signals (C x L): the zoo in 1-D, measured on speech (espeak-ng), chirps and
band-limited noise. The issue's claims: aliasing orders as in 2-D (blur < average pool < max
pool ~ 1-tap stride 2) on speech and chirps; the 1-tap stride-2 conv reads 50% and recovers
50%."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from stridescope import api
from stridescope.analysis import signal_data
from stridescope.analysis.compare import CompareOptions, Comparison, compare
from stridescope.analysis.signal_data import espeak
from stridescope.errors import StridescopeError

NO_SPEECH = "espeak-ng is not installed (apt-get install espeak-ng; .ci/speech.sh does it in CI)"
ORDER = ["conv1x1_s2", "maxpool_conv1x1", "avgpool_conv1x1", "blurpool_conv1x1"]
FAST = CompareOptions(images=4, latency_min_time=0.001, sources=("chirp", "noise"))


def _by_name(c: Comparison) -> dict[str, dict[str, float]]:
    return {r.name: dict(r.aliasing_by_source) for r in c.results}


def _assert_order(shares: dict[str, dict[str, float]], source: str) -> None:
    one_tap, max_pool, avg_pool, blur = (shares[name][source] for name in ORDER)
    assert blur < avg_pool / 2 < max_pool / 4, (source, shares)
    assert 0.7 < max_pool / one_tap < 1.4, (source, shares)  # max pool ~ the bare stride


@pytest.fixture(scope="module")
def chirps() -> Comparison:
    return compare((1, 2048), 8, None, options=FAST)


def test_the_1_tap_stride_2_conv_reads_and_recovers_half(chirps: Comparison) -> None:
    results = {r.name: r for r in chirps.results}
    one_tap = results["conv1x1_s2"]
    assert (one_tap.output_shape, one_tap.read_fraction, one_tap.recoverable) == (
        (8, 1024),
        0.5,
        0.5,
    )
    assert results["s2d_conv1x1"].recoverable == 1.0  # the fold keeps everything (C_out >= 2 C)
    assert results["conv3x3_s2"].read_fraction == 1.0
    assert one_tap.shift_error.circular < 1e-6 and one_tap.shift_error.one_position > 0.2
    assert results["aps_conv1x1"].shift_error.one_position == 0.0  # APS: phase-invariant
    assert one_tap.read_grid == ((1, 0) * 16,)


def test_aliasing_orders_as_in_2d_on_chirps(chirps: Comparison) -> None:
    assert chirps.sources == ("chirp", "noise") and chirps.position_unit == "samples"
    _assert_order(_by_name(chirps), "chirp")
    record = chirps.to_dict()
    assert record["sources"] == ["chirp", "noise"] and record["input_shape"] == [1, 2048]
    op = record["ops"][0]
    assert set(op["aliasing_by_source"]) == {"chirp", "noise"}
    assert op["aliasing"] == op["aliasing_by_source"]["chirp"]
    assert set(op["shift_error"]) == {"circular", "crop", "one_position"}


@pytest.mark.skipif(espeak() is None, reason=NO_SPEECH)
def test_aliasing_orders_as_in_2d_on_speech() -> None:
    options = CompareOptions(images=4, latency_min_time=0.001, sources=("speech",))
    speech = compare((1, 4096), 8, ORDER, options=options)
    assert speech.sources == ("speech",) and not speech.notes
    _assert_order(_by_name(speech), "speech")


def test_without_espeak_speech_is_skipped_with_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signal_data, "espeak", lambda: None)
    options = CompareOptions(images=1, latency_min_time=0.001, sources=("speech", "chirp"))
    c = compare((2, 64), 4, ["conv1x1_s2"], options=options)
    assert c.sources == ("chirp",)
    assert c.notes == ("speech skipped: espeak-ng is not installed (apt-get install espeak-ng)",)
    only_speech = CompareOptions(images=1, latency_min_time=0.001, sources=("speech",))
    with pytest.raises(StridescopeError, match="no signal source can be made here"):
        compare((2, 64), 4, ["conv1x1_s2"], options=only_speech)


def test_your_own_1d_operator_is_traced_and_checked() -> None:
    def strided(c_in: int, c_out: int) -> nn.Module:
        return nn.Conv1d(c_in, c_out, 4, stride=2, padding=1)

    def same(c_in: int, c_out: int) -> nn.Module:
        return nn.Conv1d(c_in, c_out, 3, padding=1)

    options = CompareOptions(images=1, latency_min_time=0.001, sources=("noise",))
    c = api.compare((2, 64), 4, ["mine"], options=options, custom={"mine": strided})
    (result,) = c.results
    assert (result.output_shape, result.params, result.read_fraction) == ((4, 32), 36, 1.0)
    with pytest.raises(StridescopeError, match=r"maps 2x64 to 4x64; .* 4 x L/2"):
        api.compare((2, 64), 4, ["same"], options=options, custom={"same": same})


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((1, 3), "compare needs L >= 4"),
        ((1, 10**6), "L up to 262144"),
        ((1, 8, 8, 8), "C,L (a signal) or C,H,W (an image)"),
    ],
)
def test_bad_signal_requests_fail_in_one_line(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(StridescopeError, match=re.escape(message)):
        compare(shape, 4, ["conv1x1_s2"], options=FAST)


def test_the_response_of_a_signal_operator_is_measured_on_sinusoids(chirps: Comparison) -> None:
    response = {r.name: r.response for r in chirps.results}
    assert response["conv1x1_s2"][0] == pytest.approx(1.0)
    assert response["blurpool_conv1x1"][-1] < 1e-6  # the binomial filter kills 0.5 cycles
    assert min(response["conv1x1_s2"]) > 0.99  # a bare stride passes every frequency
    assert torch.tensor(chirps.frequencies).max() == 0.5
