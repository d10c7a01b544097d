"""The model zoo: every public vision family, traced and summarised, against the peers.

For each model of ``bench/zoo_models.py`` (torchvision and timm definitions, random weights),
one row: traced or not, parameters against ``sum(p.numel())`` (with the note on parameters
forward never touches), uncounted ops, conv/linear/matmul MACs against ``FlopCounterMode`` / 2,
input coverage, and the time of ``stridescope.summary`` against torchinfo, torchscan, fvcore,
ptflops and ``FlopCounterMode`` (a real forward), all in this process, 1 thread, medians of thread CPU time measured in rounds (see
``rounds_medians``).

Goals (issue 10; exit 1 if one is missed): every model traces, params equal torch's count
(unless the note names parameters forward never uses), 0 uncounted ops, MACs within 0.5% of
``FlopCounterMode`` / 2; ``stridescope.summary`` >= 10x faster than torchinfo on every model
(median >= 15x) and faster than each other peer on every model.

    .venv/bin/python bench/zoo.py [--models resnet50,swin_t] [--repeats 5] [--no-timing]
                                  [--markdown docs/zoo-table.md]

Needs the model definitions and the peers, installed without their dependencies (they are
CUDA builds otherwise; see bench/zoo_models.py)::

    .venv/bin/pip install --no-deps torchvision==0.28.0 timm torchinfo==1.8.0 torchscan==0.2.0 \
        fvcore==0.1.5.post20221221 ptflops==0.7.5 iopath yacs tabulate termcolor portalocker tqdm
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import re
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_models import ZOO, ZooModel, missing_packages

import stridescope
from stridescope.frontends import load_graph
from stridescope.frontends.pytorch.meta_calls import walk_values
from stridescope.ir import Graph, OpKind

PEERS = ("torchinfo", "torchscan", "fvcore", "ptflops")
TORCHINFO_GOAL, TORCHINFO_MEDIAN_GOAL, MAC_TOLERANCE = 10.0, 15.0, 0.005
# the graph note on work the forward runs and discards: its parameters
DISCARDED = re.compile(r"\(([\d,]+) parameters, [\d,]+ MACs, counted\) compute results the")
PRODUCTS = {OpKind.CONV, OpKind.CONV_TRANSPOSE, OpKind.LINEAR, OpKind.MATMUL}
# products FlopCounterMode counts 0 for (fused kernels, ops it has no formula for)
UNSEEN = {"LSTM", "F.bilinear", "mv", "dot", "vdot", "cdist", "F.affine_grid"} | {
    f"{kind}{rank}"
    for kind in ("fft", "ifft", "rfft", "irfft", "hfft", "ihfft")
    for rank in ("", "2", "n")
}


@dataclass
class Row:
    model: ZooModel
    traced: bool = False
    error: str = ""
    params: int = 0
    torch_params: int = 0
    used_params: int = 0  # parameters a real forward uses (a gradient reaches them)
    read_params: int = 0  # parameters a real forward hands to torch ops (values read)
    unused_note: str = ""
    discarded: int = 0  # parameters of work the forward runs and discards (a graph note)
    uncounted: list[str] = field(default_factory=list)
    macs: int = 0
    flop_macs: int = 0
    coverage: float | None = None
    times: dict[str, float | None] = field(default_factory=dict)  # seconds; None: failed

    @property
    def params_ok(self) -> bool:
        """Ours equal torch's count, or, with the unused ones named, the parameters a real
        forward reads, or those a gradient reaches with the work the forward discards
        (counted: it runs) named too. (A gradient does not reach a parameter whose result
        only picks indices or is detached: a detection head's top-k query selection.)"""
        if self.params == self.torch_params:
            return True
        named = bool(self.unused_note) or bool(self.discarded)
        return named and self.params in (self.used_params + self.discarded, self.read_params)

    @property
    def macs_ok(self) -> bool:
        return abs(self.macs - self.flop_macs) <= MAC_TOLERANCE * max(self.flop_macs, 1)

    def speedup(self, peer: str) -> float | None:
        ours, theirs = self.times.get("stridescope"), self.times.get(peer)
        return None if not ours or theirs is None else theirs / ours


def cpu_times(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Thread CPU seconds of each of ``repeats`` calls of ``fn``, after one warm-up: what
    other processes on a busy machine do is not counted."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.thread_time()
        fn()
        times.append(time.thread_time() - start)
    return times


def cpu_median(fn: Callable[[], Any], repeats: int) -> float:
    """Median of :func:`cpu_times`."""
    return statistics.median(cpu_times(fn, repeats))


def zoo_entries(models: str | None) -> list[ZooModel] | None:
    """The zoo models ``--models`` names (all when ``None``), in zoo order; ``None``, with
    the reason printed, when a package the bench needs is missing or a name is unknown."""
    needed = missing_packages() + [p for p in PEERS if importlib.util.find_spec(p) is None]
    if needed:
        print(f"not installed: {', '.join(needed)}; see the install line in bench/zoo.py")
        return None
    chosen = models.split(",") if models else None
    entries = [m for m in ZOO if chosen is None or m.name in chosen]
    if chosen and len(entries) != len(chosen):
        known = ", ".join(m.name for m in ZOO)
        print(f"unknown model in --models {models!r}; known: {known}")
        return None
    return entries


def report_goals(missed: list[str], goals: str = "goals") -> int:
    """Print each missed goal and the verdict; the exit code (1 if one was missed)."""
    for line in missed:
        print(f"goal missed: {line}")
    print(f"all {goals} met" if not missed else f"{len(missed)} {goals} missed")
    return 1 if missed else 0


def check_correctness(entries: Iterable[Any], markdown_file: Path | None) -> int:
    """Measure each entry without timing (one progress line each on stderr), print the table
    (and write it to ``markdown_file``), report the correctness goals: the exit code."""
    rows: list[Row] = []
    for entry in entries:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows.append(measure(entry, 0, timing=False))
        seconds = time.perf_counter() - start
        print(f"  {entry.family:<28} {entry.name:<44} {seconds:6.1f} s", file=sys.stderr)
    table = markdown(rows, timing=False)
    print(table)
    if markdown_file:
        markdown_file.write_text(table, encoding="utf-8")
    return report_goals(missed_goals(rows, timing=False), goals="correctness goals")


def flop_counter_macs(model: nn.Module, shape: tuple[int, ...]) -> int:
    """Conv, linear and matmul MACs of one real forward: ``FlopCounterMode`` / 2.

    Attention runs on its plain path here: ``nn.MultiheadAttention``'s fast path (one fused
    native op in eval mode) and the CPU flash kernel of ``scaled_dot_product_attention`` are
    not counted by ``FlopCounterMode`` at all, so the reference would miss both products.
    """
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        try:
            return _flops(model, shape, grad=False) // 2
        except AssertionError:  # torch's module tracker fails on CaiT's class attention
            return _flops(model, shape, grad=True) // 2  # under no_grad; with grad it runs
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)


def _flops(model: nn.Module, shape: tuple[int, ...], grad: bool) -> int:
    with (
        torch.set_grad_enabled(grad),
        sdpa_kernel(SDPBackend.MATH),
        FlopCounterMode(display=False) as counter,
    ):
        model(torch.randn(shape))
    return int(counter.get_total_flops())


def used_parameters(model: nn.Module, shape: tuple[int, ...]) -> int:
    """Parameters one real forward uses: those a gradient of the output reaches (frozen
    ones too: ``requires_grad`` is set on each for the run, as it was after)."""
    frozen = [p for p in model.parameters() if not p.requires_grad]
    for p in frozen:  # a fixed position embedding made with requires_grad=False
        p.requires_grad_(True)
    model.zero_grad(set_to_none=True)
    try:
        out = model(torch.randn(shape))  # a tensor, or tensors in tuples, lists and dicts
        outputs = [o for o in walk_values(out) if isinstance(o, torch.Tensor) and o.requires_grad]
        sum(o.float().sum() for o in outputs).backward()
        return sum(p.numel() for p in model.parameters() if p.grad is not None)
    finally:
        model.zero_grad(set_to_none=True)
        for p in frozen:
            p.requires_grad_(False)


# what a tensor answers without its values being read
_QUERIES = frozenset(
    [
        "size",
        "dim",
        "numel",
        "nelement",
        "element_size",
        "stride",
        "storage_offset",
        "is_floating_point",
        "is_complex",
        "get_device",
        "is_contiguous",
        "data_ptr",
        "__len__",
    ]
)
_GETTERS = frozenset({"data", "T", "mT", "H", "mH", "real", "imag"})  # attributes with values


class _Reads(TorchFunctionMode):
    """Collects the ids of the parameters among the arguments of every torch call."""

    def __init__(self, ids: set[int]) -> None:
        super().__init__()
        self.ids, self.read = ids, set[int]()

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        name = getattr(func, "__name__", "")
        if name == "__get__":
            owner = getattr(getattr(func, "__self__", None), "__name__", "")
            name = "" if owner in _GETTERS else "size"
        if name not in _QUERIES:
            self.read.update(id(v) for v in walk_values((args, kwargs or {})) if id(v) in self.ids)
        return func(*args, **(kwargs or {}))


def read_parameters(model: nn.Module, shape: tuple[int, ...]) -> int:
    """Parameters one real forward hands to a torch op (not only asked their shape, dtype or
    device), whatever becomes of the result."""
    params = {id(p): p for p in model.parameters()}
    with torch.no_grad(), _Reads(set(params)) as reads:
        model(torch.randn(shape))
    return sum(params[i].numel() for i in reads.read)


def product_macs(graph: Graph) -> int:
    """Conv, linear and matmul MACs, as ``FlopCounterMode`` counts them: not an ``nn.LSTM``'s
    or ``nn.Bilinear``'s (their fused kernels count 0 there; see docs/zoo.md). A Keras graph's
    products all count: its layers run as ``mm`` and ``convolution`` on the torch backend
    (a Keras ``LSTM`` node is named as torch's, but its kernels are seen)."""
    unseen = frozenset() if graph.source.startswith("keras") else UNSEEN
    return sum(n.macs for n in graph.nodes if n.kind in PRODUCTS and n.op not in unseen)


def peer_calls(model: nn.Module, shape: tuple[int, ...]) -> dict[str, Callable[[], Any]]:
    """One call per peer tool, each doing what its user would do to get a summary."""
    x = torch.randn(shape)

    def torchinfo_call() -> Any:
        import torchinfo

        return torchinfo.summary(model, input_size=shape, verbose=0)

    def torchscan_call() -> Any:
        import torchscan

        return torchscan.crawl_module(model, shape[1:])

    def fvcore_call() -> Any:
        from fvcore.nn import FlopCountAnalysis

        analysis = FlopCountAnalysis(model, x)
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        return analysis.total()

    def ptflops_call() -> Any:
        from ptflops import get_model_complexity_info

        return get_model_complexity_info(
            model, tuple(shape[1:]), as_strings=False, print_per_layer_stat=False, verbose=False
        )

    def flop_counter_call() -> Any:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x)
        return counter.get_total_flops()

    return {
        "torchinfo": torchinfo_call,
        "torchscan": torchscan_call,
        "fvcore": fvcore_call,
        "ptflops": ptflops_call,
        "FlopCounterMode": flop_counter_call,
    }


def measure(entry: ZooModel, repeats: int, timing: bool) -> Row:
    row = Row(entry)
    torch.manual_seed(0)
    model = entry.build()
    shape = entry.input_shape
    row.torch_params = sum(p.numel() for p in model.parameters())
    try:
        graph = load_graph(model, shape)
        summary = stridescope.summary(model, input_shape=shape)
    except Exception as error:  # the bench reports every failure, whatever its class
        row.error = f"{type(error).__name__}: {error}".splitlines()[0][:160]
        return row
    row.traced = True
    row.params = graph.params
    row.unused_note = next((n for n in graph.notes if "not used" in n), "")
    row.discarded = sum(
        int(m.group(1).replace(",", "")) for n in graph.notes for m in [DISCARDED.search(n)] if m
    )
    if row.params != row.torch_params:
        row.used_params = used_parameters(model, shape)
        row.read_params = read_parameters(model, shape)
    row.uncounted = sorted({n.op or str(n.kind) for n in graph.uncounted})
    row.macs = product_macs(graph)
    row.flop_macs = flop_counter_macs(model, shape)
    row.coverage = summary.input_coverage
    if timing:
        row.times = rounds_medians(
            lambda: stridescope.summary(model, input_shape=shape),
            peer_calls(model, shape),
            repeats,
        )
    return row


def rounds_medians(
    ours: Callable[[], Any], peers: dict[str, Callable[[], Any]], repeats: int
) -> dict[str, float | None]:
    """Thread CPU medians of ``stridescope.summary`` (``ours``) and of each peer, measured in
    rounds on the same model: each round runs ours three times, then each peer once, so a
    slow or fast phase of a busy machine (the same code's time swings 1.5-2x over seconds
    here) falls on every tool alike; timing all of one tool's repeats before the next tool's
    let such a phase change decide a ratio. ``max(3, repeats // 2)`` rounds after a warm-up
    call of each; ours's median is over its three calls of every round (the first of them
    follows a peer's real forward, on colder caches). A peer that fails is ``None``; prints
    and warnings are silenced."""
    sink = io.StringIO()
    calls: dict[str, Callable[[], Any]] = {"stridescope": ours, **peers}
    times: dict[str, list[float] | None] = {name: [] for name in calls}
    with (
        warnings.catch_warnings(),
        contextlib.redirect_stdout(sink),
        contextlib.redirect_stderr(sink),
        torch.no_grad(),
    ):
        warnings.simplefilter("ignore")
        for round_ in range(1 + max(3, repeats // 2)):  # round 0: the warm-up, not kept
            for name, call in calls.items():
                kept = times[name]
                for _ in range(3 if name == "stridescope" else 1):
                    if kept is None:
                        break
                    try:
                        start = time.thread_time()
                        call()
                        spent = time.thread_time() - start
                    except Exception:  # a peer that cannot summarise this model: "fail"
                        times[name] = kept = None
                        break
                    if round_:
                        kept.append(spent)
    return {name: None if t is None else statistics.median(t) for name, t in times.items()}


def _ms(seconds: float | None) -> str:
    return "fail" if seconds is None else f"{seconds * 1e3:.1f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}×"


def markdown(rows: list[Row], timing: bool) -> str:
    head = ["family", "model", "input", "traced", "params (ours / torch)", "uncounted"]
    head += ["product MACs (ours / FlopCounterMode÷2)", "input coverage"]
    if timing:
        head += ["ours ms", *(f"{p} ms" for p in (*PEERS, "FlopCounterMode")), "vs torchinfo"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        m = r.model
        size = "x".join(str(s) for s in m.input_shape[2:])
        if not r.traced:
            lines.append(f"| {m.family} | {m.name} | {size} | **no**: {r.error} |")
            continue
        params = f"{r.params:,} / {r.torch_params:,}" + ("" if r.params_ok else " **≠**")
        if r.params != r.torch_params:
            params += f" (forward uses {r.used_params:,}, reads {r.read_params:,}"
            params += f", discards {r.discarded:,})" if r.discarded else ")"
        macs = f"{r.macs:,} / {r.flop_macs:,}" + ("" if r.macs_ok else " **≠**")
        cov = "?" if r.coverage is None else f"{r.coverage:.4f}"
        cells = [m.family, m.name, size, "yes", params, ", ".join(r.uncounted) or "0", macs, cov]
        if timing:
            cells += [_ms(r.times.get(k)) for k in ("stridescope", *PEERS, "FlopCounterMode")]
            cells.append(_ratio(r.speedup("torchinfo")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def missed_goals(rows: list[Row], timing: bool) -> list[str]:
    missed = []
    for r in rows:
        name = r.model.name
        if not r.traced:
            missed.append(f"{name}: does not trace ({r.error})")
            continue
        if not r.params_ok:
            missed.append(
                f"{name}: params {r.params:,}; torch has {r.torch_params:,}, "
                f"forward uses {r.used_params:,}, reads {r.read_params:,}"
            )
        if r.uncounted:
            missed.append(f"{name}: uncounted {', '.join(r.uncounted)}")
        if not r.macs_ok:
            missed.append(f"{name}: MACs {r.macs:,} vs FlopCounterMode/2 {r.flop_macs:,}")
        if timing:
            missed += _speed_misses(r)
    if timing:
        speedups = [s for r in rows if (s := r.speedup("torchinfo")) is not None]
        if speedups and statistics.median(speedups) < TORCHINFO_MEDIAN_GOAL:
            missed.append(f"median speed-up vs torchinfo {statistics.median(speedups):.1f}x < 15x")
    return missed


def _speed_misses(r: Row) -> list[str]:
    missed = []
    vs_info = r.speedup("torchinfo")
    if vs_info is not None and vs_info < TORCHINFO_GOAL:
        missed.append(f"{r.model.name}: {vs_info:.1f}x torchinfo (goal >= 10x)")
    for peer in (*PEERS[1:], "FlopCounterMode"):
        ratio = r.speedup(peer)
        if ratio is not None and ratio <= 1.0:
            missed.append(f"{r.model.name}: slower than {peer} ({ratio:.2f}x)")
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated names (default: the whole zoo)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-timing", action="store_true", help="correctness columns only")
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    timing = not args.no_timing
    entries = zoo_entries(args.models)
    if entries is None:
        return 2
    torch.set_num_threads(1)
    rows = []
    for entry in entries:
        start = time.perf_counter()
        rows.append(measure(entry, args.repeats, timing))
        print(f"  {entry.name:<26} {time.perf_counter() - start:6.1f} s", file=sys.stderr)
    table = markdown(rows, timing)
    print(table)
    if args.markdown:
        args.markdown.write_text(table, encoding="utf-8")
    return report_goals(missed_goals(rows, timing))


if __name__ == "__main__":
    sys.exit(main())
