"""The example model of each rule in docs/lint.md (examples/lint_rules.py) gives that rule's
finding, and the anti-aliased variant gives none."""

from __future__ import annotations

from pathlib import Path

import pytest

import stridescope

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "lint_rules.py"


@pytest.mark.parametrize(
    ("factory", "codes"),
    [
        ("skipped_input", ["DS101", "DS401"]),
        ("dropped_border", ["DS201", "DS202", "DS401"]),
        ("unread_input", ["DS101", "DS202", "DS401"]),
        ("misaligned_merge", ["DS301", "DS401"]),
        ("aliasing", ["DS401"]),
        ("antialiased", []),
        ("short_field", ["DS501"]),
        ("not_understood", ["DS001"]),
    ],
)
def test_each_example_shows_its_rule(factory: str, codes: list[str]) -> None:
    report = stridescope.lint(f"{EXAMPLES}:{factory}", (1, 3, 32, 32))
    assert [f.code for f in report.findings] == codes
