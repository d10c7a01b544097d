"""Everything a study checks before its first run, and before any output: :func:`validate_study`.

Names (dataset, architecture, operators, preset, slot), a user's own operator in the slot, the
device (where the runs execute here), the output folder (made) and the dataset (loaded); for a
study of the user's own model, that the data fits it, each policy changes it and the runs fit
in memory (:mod:`stridescope.study.model_check`). The first problem is a one-line
:class:`~stridescope.errors.StridescopeError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.ops import op_names
from stridescope.study.archs import PRESETS, SLOTS, arch_names, is_custom_op, make_op
from stridescope.study.config import StudyConfig
from stridescope.study.data import Dataset, DatasetRef, dataset_names, remember_dataset
from stridescope.study.executors import Executor, LocalExecutor
from stridescope.study.lock import check_writable
from stridescope.study.resources import share_cores

__all__ = ["ValidStudy", "check_config", "check_custom_op", "validate_study"]


def check_config(cfg: StudyConfig, *, check_device: bool = True) -> None:
    """Unknown dataset, architecture, operator, preset or slot -> an error listing known names.

    ``check_device``: also try ``cfg.device`` in this process. Off when the runs execute
    elsewhere (on Ray workers, where the executor checks the cluster has the GPUs they need).

    >>> check_config(StudyConfig(ops=("conv1x1_s2", "conv9")))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    stridescope.errors.UnknownNameError: unknown operator 'conv9'; known: conv1x1_s2, ...
    """
    if cfg.dataset not in dataset_names():
        raise UnknownNameError("dataset", cfg.dataset, dataset_names())
    if cfg.model:
        from stridescope.study.model_runs import check_policies

        check_policies(cfg.policies)
    elif cfg.arch not in arch_names():
        raise UnknownNameError("architecture", cfg.arch, arch_names())
    known_ops = op_names()
    for op in () if cfg.model else cfg.ops:
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
    from stridescope.frontends import trace_torch

    graph = trace_torch(make_op(op, channels, 2 * channels), (1, channels, side, side))
    out = graph.output.output_shape
    want = (1, 2 * channels, -(-side // 2), -(-side // 2))
    if out != want:
        got = "x".join(str(d) for d in out[1:])
        raise StridescopeError(
            f"operator {op!r} maps {channels}x{side}x{side} to {got}; a study's slot needs "
            f"C_out x ceil(H/2) x ceil(W/2) ({'x'.join(map(str, want[1:]))})"
        )


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
    ``run_study`` calls it, or takes its result, so a caller can validate, print, then run.

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
    check_writable(out)  # read-only, full: refused before any run
    ref = DatasetRef.of(cfg)
    dataset = ref.load()  # fails early on a bad path, before any run starts
    remember_dataset(ref, dataset)
    if cfg.model:  # the data fits the model, each policy changes it, the runs fit in memory
        from stridescope.study.model_check import check_model_study

        runs = len(cfg.policies) * len(cfg.seeds)
        workers = share_cores(cfg.workers).workers if executor is None else 0
        if isinstance(executor, LocalExecutor):
            workers = executor.workers
        workers = min(workers, runs)  # 0: on Ray, the memory is the cluster's
        cfg = check_model_study(cfg, dataset, workers=workers)
    return ValidStudy(cfg, out, dataset)
