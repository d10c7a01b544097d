"""stridescope.analysis.compare: every operator, every metric, JSON-ready record."""

from __future__ import annotations

import json

import pytest
import torch

from stridescope.analysis.compare import (
    LIMITS,
    RECORD_KEYS,
    CompareOptions,
    Comparison,
    check_request,
    compare,
    op_graph,
)
from stridescope.analysis.latency import check_device, time_fn
from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.ops import create_op, op_names

FAST = CompareOptions(images=1, latency_min_time=0.002)


def test_record_keys_are_the_documented_json_schema() -> None:
    # issue 4: {"ops": [{"name", "output_shape", ..., "latency_ms"}]}
    schema = "name output_shape params macs read_fraction recoverable aliasing"
    assert tuple(f"{schema} shift_error latency_ms".split()) == RECORD_KEYS


@pytest.fixture(scope="module")
def comparison() -> Comparison:
    calls: list[tuple[str, int, int]] = []
    result = compare((3, 16, 16), 16, options=FAST, progress=lambda *a: calls.append(a))
    assert [c[0] for c in calls] == list(op_names()) and calls[-1][1:] == (8, 8)
    return result


def test_every_operator_has_every_metric(comparison: Comparison) -> None:
    record = json.loads(json.dumps(comparison.to_dict()))
    assert [op["name"] for op in record["ops"]] == list(op_names())
    for op in record["ops"]:
        assert set(op) >= set(RECORD_KEYS), op["name"]
        assert op["output_shape"] == [16, 8, 8]
        assert set(op["shift_error"]) == {"circular", "crop", "one_position"}
        assert op["latency_ms"]["forward"]["median_ms"] > 0
        assert op["latency_ms"]["forward_backward"]["median_ms"] > 0
        assert 0 <= op["aliasing"] <= 1 and 0 < op["recoverable"] <= 1


def test_known_values(comparison: Comparison) -> None:
    by_name = {r.name: r for r in comparison.results}
    assert by_name["conv1x1_s2"].read_fraction == 0.25
    assert by_name["conv1x1_s2"].recoverable == 0.25
    assert by_name["s2d_conv1x1"].recoverable == 1.0
    fractions = {r.name: r.read_fraction for r in comparison.results}
    assert fractions == {n: 0.25 if n == "conv1x1_s2" else 1.0 for n in op_names()}
    assert by_name["conv1x1_s2"].read_grid[0][:4] == (1, 0, 1, 0)
    for r in comparison.results:
        torch.manual_seed(0)
        op = create_op(r.name, 3, 16)
        assert r.params == sum(p.numel() for p in op.parameters())
        assert r.macs == op_graph(op, (1, 3, 16, 16)).macs


def test_bad_input_fails_before_measuring() -> None:
    with pytest.raises(UnknownNameError, match="known: conv1x1_s2"):
        compare((3, 16, 16), 4, ["conv1x1_s2", "conv9"])
    with pytest.raises(StridescopeError, match="H and W >= 4"):
        compare((3, 2, 16), 4)
    with pytest.raises(StridescopeError, match="device must be one of cpu, cuda"):
        compare((3, 16, 16), 4, ["conv1x1_s2"], device="tpu", options=FAST)


def test_cuda_is_used_or_refused_in_one_line() -> None:
    if torch.cuda.is_available():
        assert check_device("cuda").type == "cuda"
    else:
        with pytest.raises(StridescopeError, match="no CUDA device"):
            check_device("cuda")


def test_time_fn_reports_median_and_iqr() -> None:
    timing = time_fn(lambda: sum(range(100)), 0.002)
    assert timing.median_ms > 0 and timing.iqr_ms >= 0 and timing.runs == 15


@pytest.mark.parametrize(
    ("shape", "cout", "options", "message"),
    [
        ((LIMITS["channels"] + 1, 8, 8), 4, FAST, "input channels up to 4096; received 4097"),
        ((3, 8, 8), 10**8, FAST, "out_channels up to 4096; received 100000000"),
        ((3, 8, 4096), 4, FAST, "H and W up to 2048; received 4096"),
        ((3, 8, 8), 0, FAST, "out_channels must be a positive integer; received 0"),
        ((3, 8, 8), 4, CompareOptions(images=0), "image count must be between 1 and 8"),
        ((3, 8, 8), 4, CompareOptions(latency_min_time=float("nan")), "received nan"),
        ((3, 8, 8), 4, CompareOptions(latency_min_time=float("inf")), "in (0, 60]"),
        ((3, 8, 8), 4, CompareOptions(batch=0), "latency batch must be positive"),
    ],
)
def test_requests_out_of_range_fail_in_one_line(
    shape: tuple[int, int, int], cout: int, options: CompareOptions, message: str
) -> None:
    with pytest.raises(StridescopeError) as info:
        check_request(shape, cout, ["conv1x1_s2"], "cpu", options)
    assert message in str(info.value) and "\n" not in str(info.value)
