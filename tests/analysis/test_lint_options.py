"""Lint options and records: select / ignore by code or prefix, severity overrides, unknown
codes, fail-on levels, the JSON record, the fix hook, and deterministic cases of each rule."""

from __future__ import annotations

import json

import pytest

import stridescope
from stridescope.analysis.lint import (
    FAIL_ON,
    Finding,
    Fix,
    LintOptions,
    attach_fixes,
    lint_graph,
    rule_named,
    rules,
)
from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.ir import Graph, GraphBuilder, OpKind

KNOWN = "DS001, DS101, DS201, DS202, DS301, DS401, DS501"


def strided_1x1() -> Graph:
    """A 1x1 stride-2 conv on 8x8, a global pool: DS101, DS202 (coverage 25%) and DS401."""
    b = GraphBuilder((1, 3, 8, 8), "nchw", source="strided_1x1")
    x = b.conv(b.input, "down", out_channels=4, kernel=1, stride=2)
    b.flatten(b.adaptive_pool(x, "pool", mode="avg", output_size=1), "flatten")
    return b.build()


def _codes(graph: Graph, **options: object) -> list[str]:
    opts = LintOptions.parse(measure=False, **options)  # type: ignore[arg-type]
    return [f.code for f in lint_graph(graph, opts).findings]


@pytest.mark.parametrize(
    ("select", "ignore", "expected"),
    [
        (None, None, ["DS101", "DS202", "DS401"]),
        ("DS1", None, ["DS101"]),
        (["DS101", "DS4"], None, ["DS101", "DS401"]),
        ("ds2, ds4", None, ["DS202", "DS401"]),
        (None, "DS2", ["DS101", "DS401"]),
        ("DS", "DS101 DS202", ["DS401"]),
    ],
)
def test_select_and_ignore_take_codes_and_prefixes(
    select: str | list[str] | None, ignore: str | None, expected: list[str]
) -> None:
    assert _codes(strided_1x1(), select=select, ignore=ignore) == expected


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"select": "DS102"}, f"unknown lint code 'DS102'; known: {KNOWN}"),
        ({"ignore": ["DS1", "E501"]}, f"unknown lint code 'E501'; known: {KNOWN}"),
        ({"severity": {"DS9": "info"}}, f"unknown lint code 'DS9'; known: {KNOWN}"),
        (
            {"severity": {"DS201": "fatal"}},
            "severity of DS201 must be one of error, warning, info; received 'fatal'",
        ),
        (
            {"severity": "DS201"},
            "a severity override is CODE=LEVEL (DS201=warning); received 'DS201'",
        ),
    ],
)
def test_bad_options_are_one_line_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(StridescopeError) as info:
        stridescope.lint(strided_1x1(), **options)  # type: ignore[arg-type]
    assert str(info.value) == message
    if "unknown" in message:
        assert isinstance(info.value, UnknownNameError)


def test_severity_overrides_take_the_longest_prefix() -> None:
    opts = LintOptions.parse(
        severity={"DS": "error", "DS1": "info", "DS401": "warning"}, measure=False
    )
    found = {f.code: f.severity for f in lint_graph(strided_1x1(), opts).findings}
    assert found == {"DS101": "info", "DS202": "error", "DS401": "warning"}
    assert LintOptions.parse(severity="DS101=ERROR").severity == {"DS101": "error"}


@pytest.mark.parametrize(
    ("fail_on", "fails"), [("error", False), ("warning", True), ("info", True), ("never", False)]
)
def test_fail_on_levels(fail_on: str, fails: bool) -> None:
    report = lint_graph(strided_1x1(), LintOptions(measure=False))
    assert fail_on in FAIL_ON
    assert report.fails(fail_on) is fails


def test_fail_on_refuses_unknown_levels() -> None:
    report = lint_graph(strided_1x1(), LintOptions(measure=False))
    with pytest.raises(
        StridescopeError,
        match="fail-on must be one of error, warning, info, never; received 'fatal'",
    ):
        report.fails("fatal")


def test_json_record_has_the_documented_keys() -> None:
    report = lint_graph(strided_1x1(), LintOptions(measure=False))
    data = json.loads(report.to_json())
    assert {"findings", "counts", "input_coverage"} <= set(data)
    assert data["counts"] == {"error": 0, "warning": 2, "info": 1}
    assert data["input_coverage"] == 0.25
    first = data["findings"][0]
    assert set(first) == {"code", "severity", "layer", "message", "evidence", "fix", "policy"}
    assert (first["code"], first["layer"], first["fix"], first["policy"]) == (
        "DS101",
        "down",
        None,
        "resnet-d",
    )
    assert first["evidence"]["read_fraction"] == 0.25


def test_fix_hook_fills_findings_that_name_a_policy() -> None:
    graph = strided_1x1()
    seen: list[tuple[str, tuple[int, ...]]] = []

    def estimate(g: Graph, finding: Finding) -> Fix | None:
        assert g is graph
        seen.append((finding.code, finding.nodes))
        return Fix(finding.policy or "", delta_params=0, delta_macs=len(finding.nodes))

    plain = lint_graph(graph, LintOptions(ignore=("DS4",), measure=False))
    fixed = attach_fixes(plain, graph, estimate)
    assert seen == [("DS101", (1,)), ("DS202", (1,))]  # DS202 names the responsible layer
    assert [f.fix for f in fixed.findings] == [Fix("resnet-d", 0, 1), Fix("resnet-d", 0, 1)]
    assert fixed.findings[0].to_dict()["fix"] == {
        "policy": "resnet-d",
        "delta_params": 0,
        "delta_macs": 1,
        "adds": [],
    }
    assert lint_graph(graph, LintOptions(measure=False), fix_estimate=estimate).findings[0].fix


def test_every_rule_is_documented() -> None:
    codes = [r.code for r in rules()]
    assert ", ".join(codes) == KNOWN
    assert rule_named("DS202").severity == "warning" and rule_named("DS501").severity == "info"
    assert all(r.doc.endswith(".") and r.name for r in rules())


def _branches(main: dict[str, object], short: dict[str, object], size: int = 16) -> Graph:
    b = GraphBuilder((1, 4, size, size), "nchw")
    left = b.conv(b.input, "main", out_channels=4, **main)  # type: ignore[arg-type]
    kind = short.pop("pool", None)
    if kind:
        right = b.pool(b.input, "short", mode=str(kind), **short)  # type: ignore[arg-type]
    else:
        right = b.conv(b.input, "short", out_channels=4, **short)  # type: ignore[arg-type]
    b.merge([left, right], "add", kind=OpKind.ADD)
    return b.build()


@pytest.mark.parametrize(
    ("main", "short", "misalignment"),
    [
        ({"kernel": 3, "stride": 2, "padding": 1}, {"pool": "avg", "kernel": 2}, [0.5, 0.5]),
        ({"kernel": 3, "stride": 2, "padding": 1}, {"kernel": 1, "stride": 2}, None),
        (
            {"kernel": 3, "stride": 2, "padding": 1},
            {"pool": "max", "kernel": 3, "stride": 2, "padding": 1},
            None,
        ),
        ({"kernel": 4, "stride": 2, "padding": 1}, {"kernel": 1, "stride": 2}, [0.5, 0.5]),
        (
            {"kernel": (3, 1), "stride": 2, "padding": [(0, 2), (0, 0)]},
            {"kernel": 1, "stride": 2},
            [1.0, 0.0],
        ),
    ],
)
def test_merge_table(
    main: dict[str, object], short: dict[str, object], misalignment: list[float] | None
) -> None:
    found = [f for f in lint_graph(_branches(main, short), LintOptions(select=("DS301",))).findings]
    if misalignment is None:
        assert not found
    else:
        (finding,) = found
        assert finding.evidence["misalignment"] == misalignment
        assert finding.evidence["split"] == "input" and finding.layer == "add"


def test_different_jumps_are_reported() -> None:
    graph = _branches({"kernel": 2, "stride": 2}, {"kernel": 9}, size=16)  # both 8x8
    (finding,) = lint_graph(graph, LintOptions(select=("DS301",))).findings
    assert not finding.evidence["same_jump"]
    assert [b["jump"] for b in finding.evidence["branches"]] == [[2.0, 2.0], [1.0, 1.0]]
    assert "sampled with jumps 2x2 vs 1x1 px of the input" in finding.message


def test_uncounted_op_is_an_info_finding() -> None:
    b = GraphBuilder((1, 3, 8, 8), "nchw")
    b.other(
        b.input,
        "mystery",
        kind=OpKind.UNCOUNTED,
        output_shape=(1, 3, 8, 8),
        counted=False,
        op="torch.special_thing",
    )
    (finding,) = lint_graph(b.build(), LintOptions(measure=False)).findings
    assert (finding.code, finding.severity, finding.layer) == ("DS001", "info", "mystery")
    assert finding.message.startswith("torch.special_thing is not understood")


def test_crops_and_slices_are_not_dropped_borders() -> None:
    b = GraphBuilder((1, 3, 8, 8), "nchw")
    crop = b.pad(b.input, "crop", padding=[(-1, -1), (0, -2)])
    b.slice(crop, "rows", spatial=[(0, 5, 1), (0, 6, 1)], output_shape=(1, 3, 5, 6))
    codes = {f.code for f in lint_graph(b.build(), LintOptions(measure=False)).findings}
    assert "DS201" not in codes and "DS202" in codes
