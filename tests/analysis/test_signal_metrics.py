"""Signal metrics: aliasing (known values on bundled photos), shift errors, recoverable
information (known ranks), frequency response and the bundled images."""

from __future__ import annotations

import pytest
import torch

from stridescope.analysis.images import IMAGE_NAMES, load_images
from stridescope.analysis.signal import aliasing_share, frequency_response, ideal_lowpass
from stridescope.analysis.signal_rank import recoverable_fraction
from stridescope.analysis.signal_shift import shift_errors
from stridescope.errors import StridescopeError
from stridescope.ops import create_op, op_names
from stridescope.ops.blurpool import binomial_filter

# FACTS.md: 4 skimage photos, mean removed, random 1x1 weights
KNOWN_ALIASING = {
    ("conv1x1_s2", 0): 0.028,
    ("conv3x3_s2", 0): 0.032,
    ("maxpool_conv1x1", 0): 0.024,
    ("avgpool_conv1x1", 0): 0.006,
    ("blurpool_conv1x1", 3): 0.0022,
    ("blurpool_conv1x1", 4): 0.0008,
    ("blurpool_conv1x1", 5): 0.0004,
}


def _op(name: str, k: int, cin: int = 3, cout: int = 16) -> torch.nn.Module:
    torch.manual_seed(0)
    options = {"filter_size": k} if k else {}
    return create_op(name, cin, cout, **options).eval()


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    return load_images((3, 66, 66), 4)


def test_aliasing_matches_known_values_and_order(photos: torch.Tensor) -> None:
    x = photos[:, :, :64, :64]
    share = {key: aliasing_share(_op(*key), x) for key in KNOWN_ALIASING}
    for key, known in KNOWN_ALIASING.items():
        assert known / 2.5 < share[key] < known * 2.5, (key, share[key], known)
    blur3, blur4, blur5 = (share[("blurpool_conv1x1", k)] for k in (3, 4, 5))
    avg = share[("avgpool_conv1x1", 0)]
    plain = min(share[(n, 0)] for n in ("conv1x1_s2", "conv3x3_s2", "maxpool_conv1x1"))
    assert blur5 < blur4 < blur3 < avg < plain / 2


def test_aliasing_is_zero_on_band_limited_input() -> None:
    x = ideal_lowpass(torch.randn(2, 3, 32, 32), 0.2)
    for name in ("conv1x1_s2", "conv3x3_s2", "avgpool_conv1x1", "s2d_conv1x1", "dwsep_s2"):
        assert aliasing_share(_op(name, 0), x) < 1e-6, name


def test_ideal_lowpass_removes_only_high_frequencies() -> None:
    col = torch.arange(32.0)
    low = torch.cos(2 * torch.pi * 0.125 * col).expand(1, 1, 32, 32)
    high = torch.cos(2 * torch.pi * 0.375 * col).expand(1, 1, 32, 32)
    torch.testing.assert_close(ideal_lowpass(low + high), low, atol=1e-5, rtol=0)


def test_recoverable_known_values() -> None:
    assert recoverable_fraction(_op("conv1x1_s2", 0), 3) == 0.25
    assert recoverable_fraction(_op("s2d_conv1x1", 0), 3) == 1.0
    assert recoverable_fraction(_op("avgpool_conv1x1", 0), 3) == 0.25
    assert recoverable_fraction(_op("s2d_conv1x1", 0, 3, 6), 3) == 0.5  # 6 of 12 per block
    assert recoverable_fraction(_op("blurpool_conv1x1", 3), 3) == 0.25


def test_shift_errors(photos: torch.Tensor) -> None:
    errors = {name: shift_errors(_op(name, 0), photos) for name in op_names()}
    assert errors["conv1x1_s2"].circular == 0.0 and errors["conv1x1_s2"].crop == 0.0
    assert errors["conv1x1_s2"].one_position > 0.2
    assert errors["aps_conv1x1"].one_position == 0.0  # APS: exactly invariant
    assert errors["conv3x3_s2"].circular > 0.01  # zero padding breaks circular equivariance
    assert errors["blurpool_conv1x1"].one_position < errors["conv1x1_s2"].one_position


def test_frequency_response_shapes() -> None:
    freqs = (0.0, 0.25, 0.5)
    flat = frequency_response(_op("conv1x1_s2", 0), 3, 32, freqs)
    assert all(abs(v - 1.0) < 1e-6 for v in flat)  # a bare stride passes every frequency
    blur = frequency_response(_op("blurpool_conv1x1", 5), 3, 32, freqs)
    assert blur[0] == 1.0 and blur[2] < 1e-6 and 0.1 < blur[1] < 0.5


def test_bundled_images() -> None:
    rgb = load_images((3, 20, 30), 2)
    assert rgb.shape == (2, 3, 20, 30) and rgb.dtype == torch.float32
    assert float(rgb.min()) >= 0.0 and float(rgb.max()) <= 1.0
    grey = load_images((1, 8, 8), 2)
    torch.testing.assert_close(grey[:, 0], load_images((3, 8, 8), 2).mean(1))
    five = load_images((5, 8, 8), 1)
    torch.testing.assert_close(five[:, 3:], five[:, :2])  # channels cycle R, G, B, R, G
    camera = load_images((3, 8, 8), 2)[1]  # the grey camera photo: channels replicated
    torch.testing.assert_close(camera[0], camera[2])
    with pytest.raises(StridescopeError, match="between 1 and"):
        load_images((3, 8, 8), len(IMAGE_NAMES) + 1)


def test_aps_aliasing_is_the_stride_at_the_phase_it_keeps(photos: torch.Tensor) -> None:
    # aliasing is measured with APS's phase choice fixed at the input (its Jacobian there):
    # rolling each image so that its kept phase is (0, 0) turns APS into the bare 1x1 stride
    # with the same weights, and the ideal low-pass commutes with circular shifts
    from stridescope.ops.polyphase import polyphase_select

    x = photos[:, :, :64, :64]
    aps, stride = _op("aps_conv1x1", 0), _op("conv1x1_s2", 0)
    centred = x - x.mean(dim=(2, 3), keepdim=True)
    kept = polyphase_select(centred)
    rolled = []
    for n in range(x.shape[0]):
        (phase,) = [
            (i, j)
            for i in (0, 1)
            for j in (0, 1)
            if torch.equal(centred[n, :, i::2, j::2], kept[n])
        ]
        rolled.append(torch.roll(x[n], (-phase[0], -phase[1]), dims=(1, 2)))
    expected = aliasing_share(stride, torch.stack(rolled))
    assert aliasing_share(aps, x) == pytest.approx(expected, rel=1e-6)
    assert aliasing_share(aps, x) < 0.06  # comparing with D(low(x)) gave 0.09-0.14


def test_dwsep_aliasing_follows_its_depthwise_filters(photos: torch.Tensor) -> None:
    # random 3x3 depthwise filters are not low-pass (one per input channel, no averaging over
    # many filters as in conv3x3_s2): a binomial depthwise filter brings dwsep_s2 to BlurPool
    x = photos[:, :, :64, :64]
    op = _op("dwsep_s2", 0)
    random_filters = aliasing_share(op, x)
    taps = torch.tensor(binomial_filter(3))
    depthwise = op.depthwise
    assert isinstance(depthwise, torch.nn.Conv2d)
    with torch.no_grad():
        depthwise.weight.copy_(torch.outer(taps, taps).expand(3, 1, 3, 3))
    blurred = aliasing_share(op, x)
    assert blurred < 0.01 < 0.03 < random_filters
    assert blurred == pytest.approx(aliasing_share(_op("blurpool_conv1x1", 3), x), rel=0.5)
