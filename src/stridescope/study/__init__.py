"""The training study: datasets, architectures, the train loop, executors and the results store.

Data side: :func:`load_dataset` (bundled ``mnist5k``/``digits``, IDX, CIFAR and image folders),
:class:`ResultStore` (SQLite, written as each run finishes) and :class:`RunResult`.

The modules, in the order imports flow (each imports only modules listed before it):

=================  ==========================================================================
``lifeline``,      standard library: workers that die with their driver, a reaper for
``reaper``,        a killed driver's local Ray instance, SIGTERM as Ctrl-C, and one study
``stop``, ``lock`` per output folder (``OUT/study.lock``)
``resources``      cores, runs at once (workers) and torch threads per run: one formula
``data``           datasets (``data_base`` and one ``data_*`` module per format) and
                   :class:`DatasetRef`, how a worker finds the study's data
``archs``          the architectures with a downsampling slot; ``train``, ``consistency``
``config``         :class:`StudyConfig`, :class:`RunSpec` and the plan
``store``          :class:`ResultStore`
``execute``        one run: ``execute_run``
``workers``        the worker processes of :class:`LocalExecutor` (a dead worker's run retried)
``executors_ray``  ``RayExecutor``
``executors``      the :class:`Executor` protocol, :class:`LocalExecutor` and ``make_executor``
``validate``       every check before the first run: ``validate_study``
``outcome``        the summary and the report: ``StudyOutcome``
``runner``         the whole study: ``run_study``
=================  ==========================================================================

``runner``, ``validate``, ``execute`` and ``outcome`` import torch; importing this package does
not.
"""

from __future__ import annotations

from stridescope.records import RunResult, run_key
from stridescope.study.config import (
    DEFAULT_OPS,
    RunSpec,
    StudyConfig,
    load_config,
    plan_runs,
    with_overrides,
)
from stridescope.study.data import DATASETS, Dataset, DatasetRef, dataset_names, load_dataset
from stridescope.study.executors import Executor, LocalExecutor
from stridescope.study.store import RESULTS_FILE, ResultStore

__all__ = [
    "DATASETS",
    "DEFAULT_OPS",
    "RESULTS_FILE",
    "Dataset",
    "DatasetRef",
    "Executor",
    "LocalExecutor",
    "ResultStore",
    "RunResult",
    "RunSpec",
    "StudyConfig",
    "dataset_names",
    "load_config",
    "load_dataset",
    "plan_runs",
    "run_key",
    "with_overrides",
]
