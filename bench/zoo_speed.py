"""Summary speed on the model zoo: ``stridescope.summary`` against every peer, as ratios.

For each model of ``bench/zoo_models.py``: the thread CPU time (``time.thread_time``, so other
processes on a busy machine do not count) of ``stridescope.summary`` and of torchinfo,
torchscan, fvcore, ptflops and ``FlopCounterMode`` (a real forward), medians of rounds in
which every tool runs (``zoo.rounds_medians``: a busy machine's slow phases fall on all of
them alike), 1 thread, all in this process; then the ratios and the goal verdict. ``--resnet-scaling`` also
times ResNet-50 at 2048² against 224².

Goals (issue 10; exit 1 if one is missed): ``stridescope.summary`` >= 10x faster than torchinfo
on every model (median >= 15x), faster than each other peer on every model; ResNet-50 at 2048²
costs <= 1.5x its time at 224².

    .venv/bin/python bench/zoo_speed.py [--models resnet50,lcnet_050] [--repeats 7]
                                        [--resnet-scaling] [--markdown FILE]

Needs the same packages as ``bench/zoo.py`` (see its install line).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo import (
    PEERS,
    TORCHINFO_GOAL,
    TORCHINFO_MEDIAN_GOAL,
    peer_calls,
    report_goals,
    rounds_medians,
    zoo_entries,
)
from zoo_models import ZOO, ZooModel

import stridescope

ALL_PEERS = (*PEERS, "FlopCounterMode")
SCALING_GOAL = 1.5


def time_model(entry: ZooModel, repeats: int) -> dict[str, float | None]:
    """Seconds per tool for one model; ``None`` where the tool failed."""
    torch.manual_seed(0)
    model = entry.build()
    shape = entry.input_shape
    return rounds_medians(
        lambda: stridescope.summary(model, input_shape=shape), peer_calls(model, shape), repeats
    )


def _cell(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None:
        return "     fail"
    return f"{theirs / ours:8.1f}x"


def verdict(rows: dict[str, dict[str, float | None]]) -> list[str]:
    """The goals each model misses, and the median goal."""
    missed = []
    vs_info = []
    for name, times in rows.items():
        ours = times["stridescope"]
        if ours is None:
            missed.append(f"{name}: stridescope.summary failed")
            continue
        info = times["torchinfo"]
        if info is not None:
            vs_info.append(info / ours)
            if info / ours < TORCHINFO_GOAL:
                missed.append(f"{name}: {info / ours:.1f}x torchinfo (goal >= 10x)")
        for peer in ALL_PEERS[1:]:
            theirs = times[peer]
            if theirs is not None and theirs <= ours:
                missed.append(f"{name}: slower than {peer} ({theirs / ours:.2f}x)")
    if vs_info and statistics.median(vs_info) < TORCHINFO_MEDIAN_GOAL:
        missed.append(f"median {statistics.median(vs_info):.1f}x torchinfo (goal >= 15x)")
    return missed


def markdown(rows: dict[str, dict[str, float | None]]) -> str:
    """The table as Markdown: our milliseconds, then each peer's time as our speed-up."""
    lines = [
        f"| model | ours ms | {' | '.join(ALL_PEERS)} |",
        "|---|---:|" + "---:|" * len(ALL_PEERS),
    ]
    for name, times in rows.items():
        ours = times["stridescope"]
        cells = [_cell(ours, times[p]).strip().replace("x", "×") for p in ALL_PEERS]
        lines.append(f"| {name} | {(ours or 0) * 1e3:.1f} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


def resnet_scaling(repeats: int) -> tuple[float, float]:
    """ResNet-50 (torchvision definition) summary seconds at 224² and at 2048², timed in
    rounds (``rounds_medians``), so a slow phase of the machine falls on both sizes alike."""
    model = next(m for m in ZOO if m.name == "resnet50").build()
    times = rounds_medians(
        lambda: stridescope.summary(model, input_shape=(1, 3, 224, 224)),
        {"large": lambda: stridescope.summary(model, input_shape=(1, 3, 2048, 2048))},
        repeats,
    )
    small, large = times["stridescope"], times["large"]
    if small is None or large is None:
        raise RuntimeError("ResNet-50's summary failed")
    return small, large


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: the whole zoo)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--resnet-scaling", action="store_true", help="also 2048² vs 224²")
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    args = parser.parse_args()
    entries = zoo_entries(args.models)
    if entries is None:
        return 2
    torch.set_num_threads(1)
    head = "".join(f"{p:>16}" for p in ALL_PEERS)
    print(
        "thread CPU ms (medians of rounds, see zoo.rounds_medians), speed-up of stridescope.summary"
    )
    print(f"{'model':<26}{'ours ms':>9}{head}")
    rows: dict[str, dict[str, float | None]] = {}
    for entry in entries:
        times = rows[entry.name] = time_model(entry, args.repeats)
        ours = times["stridescope"]
        cells = "".join(
            f"{(t or 0) * 1e3:7.1f}{_cell(ours, t)}" if t is not None else f"{'fail':>16}"
            for t in (times[p] for p in ALL_PEERS)
        )
        print(f"{entry.name:<26}{(ours or 0) * 1e3:9.2f}{cells}", flush=True)
    missed = verdict(rows)
    infos = [
        t["torchinfo"] / t["stridescope"]
        for t in rows.values()
        if t["torchinfo"] and t["stridescope"]
    ]
    if infos:
        print(f"vs torchinfo: min {min(infos):.1f}x, median {statistics.median(infos):.1f}x")
    if args.resnet_scaling:
        small, large = resnet_scaling(args.repeats)
        print(
            f"ResNet-50 summary 224²: {small * 1e3:.2f} ms, 2048²: {large * 1e3:.2f} ms, "
            f"ratio {large / small:.2f}x (goal <= {SCALING_GOAL}x)"
        )
        if large / small > SCALING_GOAL:
            missed.append(f"ResNet-50 2048²/224² = {large / small:.2f}x (goal <= 1.5x)")
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows))
        print(f"wrote {args.markdown}")
    return report_goals(missed, "speed goals")


if __name__ == "__main__":
    sys.exit(main())
