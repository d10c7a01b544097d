"""The summary's flags column and ``stridescope.lint`` never disagree: each row shows the codes
of the findings lint reports for that layer, and the footer counts every finding by code."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import stridescope
from stridescope.analysis.lint import LintOptions, lint_graph
from stridescope.analysis.summary import summarize
from stridescope.analysis.summary_format import footer_lines
from stridescope.frontends import load_graph
from stridescope.ir import Graph, OpKind
from tests.analysis.lint_chains import Win, chain_fits, chain_graph, wins
from tests.frontends.pytorch.resnet_models import resnet50

ROOT = Path(__file__).resolve().parents[2]


def _agree(graph: Graph) -> None:
    report = lint_graph(graph, LintOptions(measure=False))
    per_layer: dict[str, list[str]] = {}
    for finding in report.findings:
        if finding.layer is not None:
            per_layer.setdefault(finding.layer, []).append(finding.code)
    summary = summarize(graph)
    assert {row.path: list(row.flags) for row in summary.layers if row.flags} == per_layer
    assert dict(summary.lint) == dict(Counter(f.code for f in report.findings))


@settings(max_examples=60, deadline=None)
@given(st.lists(wins(max_stride=3), min_size=1, max_size=4), st.booleans())
def test_random_chains_agree(chain: list[Win], merge: bool) -> None:
    spatial = (17, 14)
    assume(chain_fits(chain, spatial))
    builder, last = chain_graph(chain, spatial)
    if merge and builder.shape(last) == builder.shape(1):
        builder.merge([1, last], "add", kind=OpKind.ADD)
    _agree(builder.build())


@pytest.mark.parametrize(
    ("target", "shape"),
    [
        ("examples/seed_cnn.toml", None),
        ("examples/conv1x1_s2.toml", None),
        ("examples/resnet20_option_a.py:resnet20", (1, 3, 32, 32)),
        ("resnet50 v1", (1, 3, 224, 224)),
    ],
)
def test_models_agree(target: str, shape: tuple[int, ...] | None) -> None:
    model: object = (
        resnet50(stride_in_1x1=True, device="meta")
        if target == "resnet50 v1"
        else str(ROOT / target)
    )
    _agree(load_graph(model, shape))


def test_footer_names_every_code_and_points_to_lint() -> None:
    summary = stridescope.summary(str(ROOT / "examples/conv1x1_s2.toml"))
    assert footer_lines(summary)[-1] == (
        "lint: 1 DS101 skipped input, 1 DS202 unread input, 1 DS401 aliasing, "
        "1 DS501 receptive field short of the input (evidence and fixes: stridescope lint)"
    )
    assert summary.to_dict()["lint"] == {"DS101": 1, "DS202": 1, "DS401": 1, "DS501": 1}
