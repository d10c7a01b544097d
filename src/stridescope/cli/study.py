"""`stridescope study`: train every operator x seed, show progress, print the table, write the report."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stridescope.cli._common import console, err_console, guarded
from stridescope.errors import StridescopeError
from stridescope.records import op_label, plural

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from stridescope.study.config import StudyConfig
    from stridescope.study.executors import Executor
    from stridescope.study.lock import Holder
    from stridescope.study.outcome import StudyOutcome
    from stridescope.study.runner import StudyProgress
    from stridescope.study.validate import ValidStudy


def _split_ops(
    ops: str | list[str] | None, flag: str = "--ops", what: str = "operator"
) -> tuple[str, ...] | None:
    if ops is None:
        return None
    entries = [ops] if isinstance(ops, str) else ops
    names = tuple(name.strip() for entry in entries for name in entry.split(",") if name.strip())
    if not names:
        raise StridescopeError(f"{flag} needs {what} names separated by commas; received {ops!r}")
    return names


def _executor(kind: str, address: str | None) -> Executor | None:
    """The executor ``--executor`` and ``--address`` ask for; an error names those flags too
    (the study's own message names its ``executor`` and ``address`` options)."""
    from stridescope.study.executors import make_executor

    try:
        return make_executor(kind, address=address)
    except StridescopeError as error:
        flags = "--executor" if address is None else "--executor, --address"
        raise StridescopeError(f"{error} ({flags})") from None


def _config(path: Path | None, overrides: Mapping[str, object]) -> StudyConfig:
    """The TOML config at ``path`` (or the default one), with the options given on top."""
    from stridescope.study.config import StudyConfig, load_config, with_overrides

    base = load_config(path) if path is not None else StudyConfig()
    return with_overrides(base, **overrides)


class _Bar:
    """A rich progress bar over the runs still to do, with an ETA."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None
        self.started = False

    def __call__(self, event: StudyProgress) -> None:
        if not self.started:
            self.started = True
            if event.skipped:
                console.print(
                    f"{event.skipped} of {plural(event.planned, 'run')} already finished: "
                    "skipped (use --fresh to start over)"
                )
            if event.to_run:
                self.task = self.progress.add_task("runs", total=event.to_run)
            return
        last = event.last
        if last is not None:
            what = f"{op_label(last.op)} seed {last.seed}"
            if last.ok:
                line = (
                    f"{what}: accuracy {last.test_accuracy:.4f}, "
                    f"consistency {last.consistency:.4f}, {last.train_seconds:.1f} s"
                )
            else:
                line = f"{what}: failed: {last.error}"
            self.progress.console.print(line, markup=False)
        if self.task is not None:
            self.progress.update(self.task, completed=event.done)


def _run(valid: ValidStudy, executor: Executor | None, fresh: bool) -> StudyOutcome:
    """Print the header, run the study under a progress bar with an ETA, return its outcome."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from stridescope.study.runner import run_study

    cfg = valid.config
    compared = (
        plural(len(cfg.policies), "policy", "policies")
        if cfg.model
        else plural(len(cfg.ops), "operator")
    )
    console.print(
        f"study: {cfg.model or cfg.arch} on {cfg.dataset}, {compared} x "
        f"{plural(len(cfg.seeds), 'seed')}, {plural(cfg.epochs, 'epoch')} -> {cfg.out}"
    )
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        return run_study(valid, executor, on_progress=_Bar(progress), fresh=fresh)


@contextlib.contextmanager
def _sigterm_ends_like_ctrl_c() -> Iterator[None]:
    """SIGTERM stops the study as Ctrl-C does (workers ended, finished runs kept), then one
    line and exit code 143."""
    from stridescope.study.stop import (
        TERMINATED_EXIT_CODE,
        sigterm_as_interrupt,
        sigterm_received,
    )

    try:
        with sigterm_as_interrupt():
            yield
    except KeyboardInterrupt:
        if not sigterm_received():  # Ctrl-C: the guard's `interrupted`, exit code 130
            raise
        err_console.print(
            "terminated (SIGTERM): the finished runs are kept; run the same command again "
            "to train the rest",
            markup=False,
        )
        raise typer.Exit(code=TERMINATED_EXIT_CODE) from None


def _say_waiting(running: Holder) -> None:
    console.print(f"another study is running on OUT ({running}): waiting for it", markup=False)


def _print_outcome(outcome: StudyOutcome) -> None:
    from stridescope.cli.results import render_summary

    render_summary(outcome.summary)  # the same tables as `stridescope results OUT`
    console.print(
        f"{plural(outcome.ran, 'run')} trained, {outcome.skipped} skipped, "
        f"{outcome.failed} failed; {outcome.seconds:.0f} s"
    )
    console.print(f"results: {outcome.store_path}")
    console.print(f"report:  {outcome.report_html.resolve()}")
    console.print(f"         {outcome.report_markdown.resolve()}")


DATASET_HELP = (
    "Dataset: mnist5k, digits (bundled); mnist-idx, fashion-mnist-idx, cifar10, cifar100, "
    "imagefolder (read from --dataset-path)."
)


@guarded
def study(
    config: Annotated[
        Path | None, typer.Argument(help="A TOML study config; options below override it.")
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help=DATASET_HELP),
    ] = None,
    dataset_path: Annotated[
        str | None, typer.Option(help="Where a dataset read from disk lies.")
    ] = None,
    arch: Annotated[str | None, typer.Option(help="Architecture: seed-cnn or resnet-mini.")] = None,
    preset: Annotated[str | None, typer.Option(help="resnet-mini preset: v1, b or d.")] = None,
    slot: Annotated[
        str | None, typer.Option(help="resnet-mini slots the operator fills: both, main, shortcut.")
    ] = None,
    ops: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated operators, e.g. conv1x1_s2,conv3x3_s2; FILE.py:FACTORY adds "
            "your own."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Your own model instead of --arch: FILE.py:FACTORY or package.module:ATTR "
            "(called with num_classes= when it takes it); the runs compare --policies."
        ),
    ] = None,
    policies: Annotated[
        str | None,
        typer.Option(
            help="With --model: original and fix policies, comma-separated (default "
            "original,blurpool,resnet-d,s2d,aps)."
        ),
    ] = None,
    select: Annotated[
        list[str] | None,
        typer.Option(
            help="With --model: the layers the policies change, as module paths or lint codes "
            "(e.g. DS101); default every strided layer."
        ),
    ] = None,
    image_size: Annotated[
        int | None,
        typer.Option(help="With --model: resize the images to N x N (default: their own size)."),
    ] = None,
    seeds: Annotated[int | None, typer.Option(help="Number of seeds (0 .. N-1).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs per run.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size.")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate.")] = None,
    device: Annotated[str | None, typer.Option(help="torch device, e.g. cpu or cuda.")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Runs in parallel processes (0: min(2, cores)); threads are shared."),
    ] = None,
    out: Annotated[
        str | None, typer.Option(help="Output folder for results.sqlite and the report.")
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Delete previous results in OUT first.")
    ] = False,
    executor: Annotated[
        str, typer.Option(help="Where runs execute: local (processes here) or ray.")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster, e.g. HEAD:6379 (default: start a local Ray instance)."),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="If another study is running on OUT, wait for it, then train only what it "
            "left (default: stop at once, exit code 2).",
        ),
    ] = False,
) -> None:
    """Train each operator in the architecture's downsampling slot (or your --model under each
    fix policy) over several seeds; print accuracy and shift-consistency with 95% CIs and the
    paired comparison with conv1x1_s2 (or original).

    Results are stored as each run finishes: rerunning (or resuming a killed study) skips
    finished runs. A worker that dies costs only its run: retried once, then recorded as
    failed. One study per OUT at a time (OUT/study.lock). Exit codes: 0 all runs ok, 1 some
    run failed, 2 bad input or OUT busy, 130 Ctrl-C, 143 SIGTERM (finished runs kept).
    """
    from stridescope.study.lock import study_lock
    from stridescope.study.validate import validate_study

    runner = _executor(executor, address)
    overrides = {
        "dataset": dataset,
        "dataset_path": dataset_path,
        "arch": arch,
        "preset": preset,
        "slot": slot,
        "ops": _split_ops(ops),
        "model": model,
        "policies": _split_ops(policies, "--policies", "policy"),
        "select": _split_ops(select, "--select", "layer or code"),
        "image_size": image_size,
        "seeds": seeds,
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "device": device,
        "workers": workers,
        "out": out,
    }
    with _sigterm_ends_like_ctrl_c():
        valid = validate_study(_config(config, overrides), runner)  # checks before any output
        with study_lock(valid.out, wait=wait, on_wait=_say_waiting):
            outcome = _run(valid, runner, fresh)
    _print_outcome(outcome)
    if outcome.failed:
        raise typer.Exit(code=1)


EPILOG = """**Examples**


`stridescope study` — the default study (mnist5k, seed-cnn, six operators, 3 seeds; what
`make demo` runs), written to study-out/


`stridescope study --dataset digits --ops conv1x1_s2,maxpool_conv1x1 --seeds 5 --epochs 2
--out digits-out` — a quick one


`stridescope study --ops conv1x1_s2,examples/maxblurpool.py:max_blur_pool` — your own layer
in the slot: FILE.py:FACTORY, FACTORY(in_channels, out_channels) returning an nn.Module that
halves H and W (rounding up)


`stridescope study --model examples/resnet18_mini.py:build --policies
original,blurpool,resnet-d,s2d` — your own model, as built and fixed by each policy
(docs/own-model.md)


`stridescope study examples/study.toml --executor ray --address HEAD:6379` — a config file,
each run a task on a Ray cluster
"""


def register(app: typer.Typer) -> None:
    """Add the command to the app."""
    app.command("study", epilog=EPILOG)(study)
