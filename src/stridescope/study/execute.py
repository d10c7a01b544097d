"""One training run, start to finish: :func:`execute_run`.

It is self-contained, so it can run in another process (a pool worker, a Ray task): it builds
the model (a built-in architecture with the run's operator, or the user's model under the run's
policy: :mod:`stridescope.study.model_runs`), counts params and MACs through the PyTorch frontend, trains, measures test accuracy,
inference images/s and shift-consistency, and returns a :class:`~stridescope.records.RunResult`.
A non-finite loss or any exception inside training gives a ``failed`` result with the reason,
never a crash.
"""

from __future__ import annotations

import torch
from torch import nn

from stridescope.records import RunResult
from stridescope.study.archs import ArchInput, build_model
from stridescope.study.config import RunSpec, auto_pad
from stridescope.study.consistency import shift_consistency
from stridescope.study.data import Dataset, DatasetRef, dataset_for
from stridescope.study.model_runs import ModelInput, build_policy_model, fit_run_images
from stridescope.study.train import NonFiniteLossError, TrainOptions, evaluate, train_model

__all__ = ["execute_run"]


def _build(spec: RunSpec, shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The run's model: the user's under the run's policy, or a built-in architecture with the
    run's operator in its slots; initialised from the run's seed."""
    if spec.model:
        model_input = ModelInput(shape, num_classes)
        return build_policy_model(
            spec.model, spec.op, model_input, seed=spec.seed, select=spec.select
        )
    arch_input = ArchInput(spec.op, shape, num_classes, spec.seed, spec.preset, spec.slot)
    return build_model(arch_input, spec.arch)


def execute_run(spec: RunSpec, dataset: Dataset | None = None) -> RunResult:
    """Train and measure one run on ``dataset`` (default: the one its spec names, loaded once
    per process). Failures inside training come back as ``failed`` results.

    >>> from stridescope.study.config import StudyConfig, plan_runs
    >>> spec = plan_runs(StudyConfig(dataset="digits", ops=("conv9",)))[0]
    >>> run = execute_run(spec)
    >>> (run.status, run.op, run.test_accuracy)
    ('failed', 'conv9', None)
    >>> run.error  # doctest: +ELLIPSIS
    "UnknownNameError: unknown operator 'conv9'; known: conv1x1_s2, ..."
    """
    data = dataset if dataset is not None else dataset_for(DatasetRef.of(spec))
    torch.set_num_threads(spec.threads)
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    params: int | None = None
    macs: int | None = None
    try:
        from stridescope.frontends import trace_torch

        x_train, x_test = torch.from_numpy(data.x_train), torch.from_numpy(data.x_test)
        if spec.model:  # the user's model under a policy, the images fitted to it
            x_train, x_test = fit_run_images(x_train, spec), fit_run_images(x_test, spec)
        shape = (int(x_train.shape[1]), int(x_train.shape[2]), int(x_train.shape[3]))
        model = _build(spec, shape, data.num_classes)
        graph = trace_torch(model, (1, *shape))
        params, macs = graph.params, graph.macs
        device = torch.device(spec.device)
        model.to(device)
        x_train, x_test = x_train.to(device), x_test.to(device)
        y_train = torch.from_numpy(data.y_train).to(device)
        y_test = torch.from_numpy(data.y_test).to(device)
        options = TrainOptions(spec.epochs, spec.batch_size, spec.lr, spec.seed)
        trained = train_model(model, x_train, y_train, options)
        scores = evaluate(model, x_test, y_test)
        pad = spec.consistency_pad or auto_pad(*shape[1:])
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
