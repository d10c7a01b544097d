"""The SQLite results store: one row per key, committed at once, safe across processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from stridescope.errors import StridescopeError
from stridescope.records import RunResult, run_key
from stridescope.study.store import ResultStore

FORK = multiprocessing.get_context("fork")  # children reuse the parent's imports: fast


def make_run(op: str, seed: int, *, status: str = "ok", accuracy: float = 0.9) -> RunResult:
    config = {"op": op, "seed": seed, "arch": "seed_cnn", "dataset": "mnist5k", "epochs": 1}
    ok = status == "ok"
    return RunResult(
        key=run_key(config),
        op=op,
        arch="seed_cnn",
        dataset="mnist5k",
        seed=seed,
        epochs=1,
        status=status,
        error="" if ok else "RuntimeError: boom",
        test_accuracy=accuracy if ok else None,
        consistency=0.8 if ok else None,
        params=1234 if ok else None,
        macs=56789 if ok else None,
        train_seconds=1.5 if ok else None,
        images_per_second=1000.0 if ok else None,
        config=config,
        finished_at="2026-01-01T00:00:00+00:00",
    )


def test_record_roundtrip_and_no_duplicates(tmp_path: Path) -> None:
    runs = [make_run("conv1x1_s2", s) for s in range(3)]
    with ResultStore(tmp_path / "out" / "results.sqlite") as store:
        assert [store.record(r) for r in runs] == [True, True, True]
        assert store.record(runs[0]) is False  # an ok row is final
        assert store.record(make_run("conv1x1_s2", 0, accuracy=0.1)) is False
        assert store.runs() == runs
        assert len(store) == 3
    with ResultStore(tmp_path / "out" / "results.sqlite", create=False) as store:
        assert store.runs() == runs  # survives reopening, config dict included
        assert store.get(runs[1].key) == runs[1] and store.get("nope") is None
        assert store.integrity_check() == "ok"
        mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "wal"


def test_failed_runs_are_finished_but_can_be_retried(tmp_path: Path) -> None:
    failed = make_run("blurpool", 0, status="failed")
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.record(failed)
        store.record(make_run("conv1x1_s2", 0))
        assert store.finished_keys() == {failed.key, make_run("conv1x1_s2", 0).key}
        assert store.finished_keys(include_failed=False) == {make_run("conv1x1_s2", 0).key}
        retried = make_run("blurpool", 0)  # same config, same key: the retry succeeded
        assert store.record(retried) is True
        assert store.get(failed.key) == retried and len(store) == 2
        assert store.record(failed) is False  # a later failure does not undo a success


def test_bad_files_give_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(StridescopeError, match="no results store at"):
        ResultStore(tmp_path / "missing.sqlite", create=False)
    (tmp_path / "text.sqlite").write_text("this is not a database, it is long enough text " * 9)
    with pytest.raises(StridescopeError, match="not a stridescope results store") as info:
        ResultStore(tmp_path / "text.sqlite")
    assert "\n" not in str(info.value)
    with pytest.raises(StridescopeError, match="status must be one of ok, failed"):
        make_run("x", 0, status="crashed")


def _writer(path: str, worker: int, count: int) -> None:
    with ResultStore(path, timeout=30) as store:
        for i in range(count):
            store.record(make_run(f"op{i % 5}", i))  # the same keys from both writers
            store.record(make_run(f"w{worker}", i))  # keys only this writer has


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    path = str(tmp_path / "results.sqlite")
    ResultStore(path).close()
    workers = [FORK.Process(target=_writer, args=(path, w, 60)) for w in range(2)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
    assert [p.exitcode for p in workers] == [0, 0]
    with ResultStore(path) as store:
        keys = [r.key for r in store.runs()]
        assert len(keys) == len(set(keys)) == 3 * 60  # shared + one set per writer
        assert store.integrity_check() == "ok"


def _record_then_die(path: str, count: int, in_flight: bool) -> None:
    store = ResultStore(path)
    for seed in range(count):
        store.record(make_run("conv3x3_s2", seed))
    if in_flight:  # die inside an open write transaction, as a kill mid-commit would
        store._db.execute("BEGIN IMMEDIATE")
        store._db.execute(
            "INSERT INTO runs (key, op, arch, dataset, seed, epochs, status, error, config, "
            "finished_at) VALUES ('half', 'x', 'a', 'd', 0, 1, 'ok', '', '{}', '')"
        )
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("in_flight", [False, True])
def test_sigkill_loses_nothing_recorded(tmp_path: Path, in_flight: bool) -> None:
    path = str(tmp_path / "results.sqlite")
    child = FORK.Process(target=_record_then_die, args=(path, 7, in_flight))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    with ResultStore(path, timeout=5) as store:
        assert store.integrity_check() == "ok"
        runs = store.runs()
        assert [r.seed for r in runs] == list(range(7))  # all committed runs, none twice
        assert store.get("half") is None  # the transaction in flight is gone
        assert store.record(make_run("conv3x3_s2", 7)) is True  # no lock left behind
        assert store.record(make_run("conv3x3_s2", 3)) is False
    raw = sqlite3.connect(path)
    assert raw.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 8
    raw.close()
