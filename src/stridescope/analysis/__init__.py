"""Analyses of an :class:`stridescope.ir.Graph`: coverage maps and more."""

from stridescope.analysis.coverage import CoverageMap, coverage_fraction, coverage_map, read_grid
from stridescope.analysis.stats import (
    Difference,
    Estimate,
    OpRow,
    StudySummary,
    mean_ci,
    paired_difference,
    summarize_study,
)
from stridescope.analysis.summary import LayerRow, Summary, Totals, summarize

__all__ = [
    "CoverageMap",
    "Difference",
    "Estimate",
    "LayerRow",
    "OpRow",
    "StudySummary",
    "Summary",
    "Totals",
    "coverage_fraction",
    "coverage_map",
    "mean_ci",
    "paired_difference",
    "read_grid",
    "summarize",
    "summarize_study",
]
