"""Run one training run (:func:`execute_run`) and a whole study (:func:`run_study`).

``execute_run`` is self-contained (it can run in another process): it builds the model, counts
params and MACs through the PyTorch frontend, trains, measures test accuracy, inference images/s
and shift-consistency, and returns a :class:`~stridescope.records.RunResult`. A non-finite loss
or any exception inside training gives a ``failed`` result with the reason, never a crash.

``run_study`` is the pipeline: check the config, plan the runs, skip those the store has
finished, run the rest through an executor while recording each result as it arrives, then
summarise and write the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.records import RunResult
from stridescope.study.archs import (
    PRESETS,
    SLOTS,
    ArchInput,
    arch_names,
    build_model,
    is_custom_op,
    make_op,
)
from stridescope.study.config import (
    RunSpec,
    StudyConfig,
    auto_pad,
    default_workers,
    plan_runs,
)
from stridescope.study.consistency import shift_consistency
from stridescope.study.executors import (
    DatasetRef,
    Executor,
    LocalExecutor,
    available_cores,
    dataset_for,
    remember_dataset,
)
from stridescope.study.store import RESULTS_FILE, ResultStore
from stridescope.study.train import NonFiniteLossError, TrainOptions, evaluate, train_model

if TYPE_CHECKING:
    from stridescope.analysis.stats import StudySummary
    from stridescope.study.data import Dataset

__all__ = [
    "StudyOutcome",
    "StudyProgress",
    "ValidStudy",
    "check_config",
    "clear_results",
    "dataset_ref",
    "execute_run",
    "read_grids",
    "run_study",
    "validate_study",
]

REPORT_FILES = ("report.html", "report.md")


@dataclass(frozen=True)
class StudyProgress:
    """Where a study stands: sent once before the first run (``last=None``) and after each."""

    planned: int
    skipped: int
    to_run: int
    done: int
    failed: int
    last: RunResult | None = None


@dataclass(frozen=True)
class StudyOutcome:
    """What a study produced: where, how many runs ran or were skipped, and the summary."""

    out_dir: Path
    store_path: Path
    report_html: Path
    report_markdown: Path
    summary: StudySummary
    runs: tuple[RunResult, ...]
    ran: int
    skipped: int
    failed: int
    seconds: float
    baseline: str = field(default="conv1x1_s2")


def dataset_ref(cfg: StudyConfig) -> DatasetRef:
    """The data of a study; the split seed is fixed (0) so every run tests on the same images."""
    return DatasetRef(cfg.dataset, cfg.dataset_path, 0, cfg.test_fraction)


def _spec_ref(spec: RunSpec) -> DatasetRef:
    return DatasetRef(spec.dataset, spec.dataset_path, 0, spec.test_fraction)


def execute_run(spec: RunSpec, dataset: Dataset | None = None) -> RunResult:
    """Train and measure one run. Failures inside training come back as ``failed`` results."""
    data = dataset if dataset is not None else dataset_for(_spec_ref(spec))
    torch.set_num_threads(spec.threads)
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    params: int | None = None
    macs: int | None = None
    try:
        from stridescope.frontends.pytorch import trace_torch

        arch_input = ArchInput(
            spec.op, data.input_shape, data.num_classes, spec.seed, spec.preset, spec.slot
        )
        model = build_model(arch_input, spec.arch)
        graph = trace_torch(model, (1, *data.input_shape))
        params, macs = graph.params, graph.macs
        device = torch.device(spec.device)
        model.to(device)
        x_train = torch.from_numpy(data.x_train).to(device)
        y_train = torch.from_numpy(data.y_train).to(device)
        x_test = torch.from_numpy(data.x_test).to(device)
        y_test = torch.from_numpy(data.y_test).to(device)
        options = TrainOptions(spec.epochs, spec.batch_size, spec.lr, spec.seed)
        trained = train_model(model, x_train, y_train, options)
        scores = evaluate(model, x_test, y_test)
        pad = spec.consistency_pad or auto_pad(*data.input_shape[1:])
        consistency = shift_consistency(model, x_test, pad=pad, seed=spec.seed)
    except NonFiniteLossError as error:
        return spec.record(error=str(error), params=params, macs=macs)
    except Exception as error:
        return spec.record(error=f"{type(error).__name__}: {error}", params=params, macs=macs)
    finally:
        torch.use_deterministic_algorithms(deterministic)
    return spec.record(
        params=params,
        macs=macs,
        test_accuracy=scores.accuracy,
        consistency=consistency,
        train_seconds=trained.seconds,
        images_per_second=scores.images_per_second,
    )


def check_config(cfg: StudyConfig, *, check_device: bool = True) -> None:
    """Unknown dataset, architecture, operator, preset or slot -> an error listing known names.

    ``check_device``: also try ``cfg.device`` in this process. Off when the runs execute
    elsewhere (on Ray workers, where the executor checks the cluster has the GPUs they need).
    """
    from stridescope.ops import op_names
    from stridescope.study.data import dataset_names

    if cfg.dataset not in dataset_names():
        raise UnknownNameError("dataset", cfg.dataset, dataset_names())
    if cfg.arch not in arch_names():
        raise UnknownNameError("architecture", cfg.arch, arch_names())
    known_ops = op_names()
    for op in cfg.ops:
        if is_custom_op(op):
            check_custom_op(op)
        elif op not in known_ops:
            raise UnknownNameError("operator", op, known_ops)
    if cfg.preset not in PRESETS:
        raise UnknownNameError("resnet-mini preset", cfg.preset, PRESETS)
    if cfg.slot not in SLOTS:
        raise UnknownNameError("resnet-mini slot", cfg.slot, SLOTS)
    if check_device and cfg.device != "cpu":
        try:
            torch.empty(1, device=cfg.device)
        except (RuntimeError, AssertionError) as error:
            raise StridescopeError(f"device {cfg.device!r} is not usable here: {error}") from None


def check_custom_op(op: str, channels: int = 4, side: int = 11) -> None:
    """A user's operator (``FILE.py:FACTORY``) must build and map ``(N, C, H, W)`` to
    ``(N, C_out, ceil(H/2), ceil(W/2))`` like the zoo, or the layers after the slot would not
    fit: checked once, on an odd side, before any run starts."""
    from stridescope.frontends.pytorch import trace_torch

    graph = trace_torch(make_op(op, channels, 2 * channels), (1, channels, side, side))
    out = graph.output.output_shape
    want = (1, 2 * channels, -(-side // 2), -(-side // 2))
    if out != want:
        got = "x".join(str(d) for d in out[1:])
        raise StridescopeError(
            f"operator {op!r} maps {channels}x{side}x{side} to {got}; a study's slot needs "
            f"C_out x ceil(H/2) x ceil(W/2) ({'x'.join(map(str, want[1:]))})"
        )


def read_grids(
    ops: tuple[str, ...], channels: int = 1, size: int = 8, map_size: int = 16
) -> dict[str, list[list[bool]]]:
    """For each operator, which pixels of the top-left ``size`` x ``size`` corner of a
    ``map_size`` x ``map_size`` input it reads (from the IR, no forward pass).

    >>> read_grids(("conv1x1_s2",), size=4)["conv1x1_s2"][:2]
    [[True, False, True, False], [False, False, False, False]]
    """
    from stridescope.analysis.compare import op_graph
    from stridescope.analysis.coverage import coverage_map, read_grid
    from stridescope.frontends.pytorch import trace_torch

    grids: dict[str, list[list[bool]]] = {}
    for op in ops:
        module = make_op(op, channels, channels)
        graph = op_graph(module, (1, channels, map_size, map_size), op, trace_torch)
        grids[op] = read_grid(coverage_map(graph), size=size)
    return grids


def clear_results(out: Path) -> None:
    """Delete a previous study's store and report in ``out`` (``--fresh``)."""
    for name in (RESULTS_FILE, f"{RESULTS_FILE}-wal", f"{RESULTS_FILE}-shm", *REPORT_FILES):
        (out / name).unlink(missing_ok=True)
    for png in out.glob("report-*.png"):
        png.unlink()


@dataclass(frozen=True)
class ValidStudy:
    """A config that :func:`validate_study` checked: its output folder exists and its data is
    loaded (and kept for the runs of this process)."""

    config: StudyConfig
    out: Path
    dataset: Dataset


def validate_study(cfg: StudyConfig, executor: Executor | None = None) -> ValidStudy:
    """Check everything a study needs before any output: names (:func:`check_config`), the
    device (where the runs execute here), the output folder (made) and the dataset (loaded).

    Raises a one-line :class:`~stridescope.errors.StridescopeError` for the first problem.
    :func:`run_study` calls it, or takes its result, so a caller can validate, print, then run.

    >>> validate_study(StudyConfig(dataset="nope"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stridescope.errors.UnknownNameError: unknown dataset 'nope'; known: mnist5k, digits, ...
    """
    check_config(cfg, check_device=executor is None or isinstance(executor, LocalExecutor))
    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        why = "it is a file" if out.is_file() else error.strerror or str(error)
        raise StridescopeError(f"cannot make the output folder (out) {cfg.out!r}: {why}") from None
    ref = dataset_ref(cfg)
    dataset = ref.load()  # fails early on a bad path, before any run starts
    remember_dataset(ref, dataset)
    return ValidStudy(cfg, out, dataset)


def run_study(
    cfg: StudyConfig | ValidStudy,
    executor: Executor | None = None,
    on_progress: Callable[[StudyProgress], None] | None = None,
    *,
    fresh: bool = False,
) -> StudyOutcome:
    """Validate (unless given a :class:`ValidStudy`), plan, skip finished runs, run the rest
    (recording each as it arrives), summarise, report. Runs are reported in plan order."""
    from stridescope.analysis.stats import summarize_study
    from stridescope.report import write_report

    start = time.perf_counter()
    valid = cfg if isinstance(cfg, ValidStudy) else validate_study(cfg, executor)
    cfg, out = valid.config, valid.out
    ref = dataset_ref(cfg)
    remember_dataset(ref, valid.dataset)
    if fresh:
        clear_results(out)
    cores = available_cores()
    workers = cfg.workers or default_workers(cores)
    specs = plan_runs(cfg, cores)
    with ResultStore(out / RESULTS_FILE) as store:
        finished = store.finished_keys()
        todo = [spec for spec in specs if spec.key not in finished]
        counts = {"done": 0, "failed": 0}

        def report(last: RunResult | None) -> None:
            if on_progress is not None:
                on_progress(
                    StudyProgress(
                        len(specs),
                        len(specs) - len(todo),
                        len(todo),
                        counts["done"],
                        counts["failed"],
                        last,
                    )
                )

        def on_result(run: RunResult) -> None:
            store.record(run)
            counts["done"] += 1
            counts["failed"] += 0 if run.ok else 1
            report(run)

        report(None)
        runner = executor if executor is not None else LocalExecutor(min(workers, len(todo) or 1))
        if todo:
            runner.map(todo, ref, on_result)
        order = {spec.key: index for index, spec in enumerate(specs)}
        runs = tuple(
            sorted((run for run in store.runs() if run.key in order), key=lambda r: order[r.key])
        )
    baseline = "conv1x1_s2" if "conv1x1_s2" in cfg.ops else cfg.ops[0]
    summary = summarize_study(list(runs), baseline=baseline)
    grids = read_grids(cfg.ops, channels=1)
    title = f"stridescope study: {cfg.arch} on {cfg.dataset}"
    paths = write_report(out, summary, list(runs), read_grids=grids, title=title)
    return StudyOutcome(
        out_dir=out,
        store_path=out / RESULTS_FILE,
        report_html=Path(paths.html),
        report_markdown=Path(paths.markdown),
        summary=summary,
        runs=runs,
        ran=counts["done"],
        skipped=len(specs) - len(todo),
        failed=sum(1 for run in runs if not run.ok),
        seconds=time.perf_counter() - start,
        baseline=baseline,
    )
