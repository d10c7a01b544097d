"""The training study: datasets, architectures, the train loop, executors and the results store.

Data side: :func:`load_dataset` (bundled ``mnist5k``/``digits``, IDX, CIFAR and image folders),
:class:`ResultStore` (SQLite, written as each run finishes) and :class:`RunResult`.
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
from stridescope.study.data import DATASETS, Dataset, dataset_names, load_dataset
from stridescope.study.executors import DatasetRef, Executor, LocalExecutor
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
