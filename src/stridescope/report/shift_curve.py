"""The diagonal-shift curve of a trained model as a PNG: the mean probability of the correct
class against the shift ``(s, s)``, with the accuracy and the random-shift consistency in the
title (antialiased-cnns' ``-ed`` evaluation, drawn).

matplotlib (Agg) is imported lazily; nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stridescope.analysis.consistency_records import ConsistencyReport
from stridescope.errors import StridescopeError

__all__ = ["shift_curve_png", "shift_curves_png", "write_shift_curve_png"]


def shift_curve_png(report: ConsistencyReport) -> bytes:
    """PNG bytes of the curve.

    >>> from stridescope.analysis.consistency_records import Consistency, ShiftPoint
    >>> measured = Consistency(0.9, 0.8, (0.7, 0.9), 1.0, (ShiftPoint(0, 0.9), ShiftPoint(1, 0.7)),
    ...                        100, 1, 0, 0.95)
    >>> shift_curve_png(ConsistencyReport("m.py:build", "mnist5k", (1, 28, 28), 10, measured))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    import io

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    m = report.measured
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.add_subplot()
    shifts = [p.shift for p in m.shift_curve]
    ax.plot(shifts, [p.p_correct for p in m.shift_curve], marker="o", color="tab:blue")
    ax.set_xlabel("diagonal shift (s, s), pixels")
    ax.set_ylabel("probability of the correct class")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    low, high = m.consistency_ci
    ax.set_title(
        f"{report.source} on {report.dataset} ({m.images} images)\naccuracy {m.accuracy:.1%}, "
        f"consistency {m.consistency:.1%} [{low:.1%}, {high:.1%}], circular "
        f"{m.circular_consistency:.1%}",
        fontsize=9,
    )
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def shift_curves_png(reports: Sequence[ConsistencyReport], labels: Sequence[str] = ()) -> bytes:
    """PNG bytes of several models' curves on one plot (``labels``: one per report; default
    their sources), each labelled with its consistency.

    >>> from stridescope.analysis.consistency_records import Consistency, ShiftPoint
    >>> m = Consistency(0.9, 0.8, (0.7, 0.9), 1.0, (ShiftPoint(0, 0.9), ShiftPoint(1, 0.7)),
    ...                 100, 1, 0, 0.95)
    >>> r = ConsistencyReport("m.py:build", "mnist5k", (1, 28, 28), 10, m)
    >>> shift_curves_png([r, r], ["a", "b"])[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    import io

    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    names = list(labels) or [r.source for r in reports]
    if len(names) != len(reports):
        raise StridescopeError(f"{len(reports)} reports need as many labels; received {len(names)}")
    fig = Figure(figsize=(6.4, 4.0), dpi=100)
    ax = fig.add_subplot()
    for report, name in zip(reports, names, strict=True):
        m = report.measured
        label = f"{name}: consistency {m.consistency:.1%}, accuracy {m.accuracy:.1%}"
        points = m.shift_curve
        ax.plot([p.shift for p in points], [p.p_correct for p in points], marker="o", label=label)
    ax.set_xlabel("diagonal shift (s, s), pixels")
    ax.set_ylabel("probability of the correct class")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0.0, 1.0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    if reports:
        first = reports[0]
        ax.set_title(f"{first.dataset}, {first.measured.images} test images", fontsize=9)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def write_shift_curve_png(report: ConsistencyReport, path: str | Path) -> Path:
    """Write :func:`shift_curve_png` to ``path`` (its folder must exist); return the path."""
    target = Path(path)
    target.write_bytes(shift_curve_png(report))
    return target
