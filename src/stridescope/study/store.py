"""The results store: one SQLite file (``OUT/results.sqlite``), one row per finished run.

- **Written as each run finishes.** :meth:`ResultStore.record` commits at once (WAL journal,
  ``synchronous=FULL``), so killing the study loses at most the runs still in flight, and a
  rerun skips every key in :meth:`ResultStore.finished_keys`.
- **Nothing duplicated.** ``key`` (see :func:`stridescope.records.run_key`) is the primary key.
  A row with status ``ok`` is final: recording the same key again is ignored. A ``failed`` row
  may be replaced by a later attempt of the same run (a retry that succeeded, or failed anew
  with a fresher reason) — that is the only update the store ever makes.
- **Several processes.** Each process opens its own store; writes are single short
  ``BEGIN IMMEDIATE`` transactions and a busy timeout lets concurrent writers wait their turn.
  Readers never block writers (WAL).

>>> import tempfile, pathlib
>>> from stridescope.records import RUN_FIELDS, RunResult
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> run = RunResult(key="k1", op="conv1x1_s2", arch="seed_cnn", dataset="mnist5k", seed=0,
...                 epochs=1, status="ok", error="", test_accuracy=0.9, consistency=0.8,
...                 params=10, macs=100, train_seconds=1.0, images_per_second=100.0, config={})
>>> with ResultStore(folder / "results.sqlite") as store:
...     store.record(run), store.record(run), store.finished_keys(), len(store)
(True, False, {'k1'}, 1)
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import TracebackType

from stridescope.errors import StridescopeError
from stridescope.records import RUN_FIELDS, RunResult

__all__ = ["RESULTS_FILE", "SCHEMA_VERSION", "ResultStore"]

RESULTS_FILE = "results.sqlite"
SCHEMA_VERSION = 1

_COLUMNS = RUN_FIELDS  # key, op, ..., config, finished_at

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    op TEXT NOT NULL,
    arch TEXT NOT NULL,
    dataset TEXT NOT NULL,
    seed INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error TEXT NOT NULL,
    test_accuracy REAL,
    consistency REAL,
    params INTEGER,
    macs INTEGER,
    train_seconds REAL,
    images_per_second REAL,
    config TEXT NOT NULL,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_UPSERT = (
    f"INSERT INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT(key) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "key")
    + " WHERE runs.status = 'failed'"
)


_HAS_RUNS = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'"


class ResultStore:
    """Open (and with ``create=True`` create) the store at ``path``; use as a context manager."""

    def __init__(self, path: str | Path, *, create: bool = True, timeout: float = 60.0) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise StridescopeError(
                f"no results store at {str(self.path)!r} (expected a file "
                f"{RESULTS_FILE} written by `stridescope study`)"
            )
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            if not create and not self._db.execute(_HAS_RUNS).fetchone():  # (an empty file:
                self._db.close()  # a database of no tables, which the schema would fill)
                raise sqlite3.DatabaseError("it holds no table of runs")
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (name, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        except sqlite3.DatabaseError as error:
            raise StridescopeError(
                f"{str(self.path)!r} is not a stridescope results store (SQLite said: {error})"
            ) from None

    def record(self, run: RunResult) -> bool:
        """Store one finished run and commit now; False when an ``ok`` row had that key already."""
        row = tuple(
            json.dumps(run.config, sort_keys=True) if c == "config" else getattr(run, c)
            for c in _COLUMNS
        )
        cursor = self._db.execute("BEGIN IMMEDIATE")
        try:
            cursor = self._db.execute(_UPSERT, row)
            changed = cursor.rowcount > 0
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return changed

    def finished_keys(self, *, include_failed: bool = True) -> set[str]:
        """Keys of the runs done: all recorded ones, or only the ``ok`` ones (to retry failures)."""
        sql = "SELECT key FROM runs" + ("" if include_failed else " WHERE status = 'ok'")
        return {row[0] for row in self._db.execute(sql)}

    def runs(self) -> list[RunResult]:
        """Every recorded run, in the order they were first recorded."""
        cursor = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs ORDER BY rowid")
        return [self._to_run(row) for row in cursor]

    def get(self, key: str) -> RunResult | None:
        """The run with this key, or None."""
        cursor = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs WHERE key = ?", (key,))
        row = cursor.fetchone()
        return None if row is None else self._to_run(row)

    def integrity_check(self) -> str:
        """SQLite's own check of the file: ``"ok"`` when sound."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def close(self) -> None:
        """Close the connection (the WAL is folded back into the file by SQLite)."""
        self._db.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @staticmethod
    def _to_run(row: tuple[object, ...]) -> RunResult:
        values = dict(zip(_COLUMNS, row, strict=True))
        values["config"] = json.loads(str(values["config"]))
        return RunResult(**values)  # type: ignore[arg-type]
