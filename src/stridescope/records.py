"""The record of one finished training run, shared by the study, the store and the analyses.

It lives at the top level (not in ``stridescope.study``) so that ``stridescope.analysis`` can read
runs without importing the study package (analysis must not import study).

>>> config = {"op": "conv1x1_s2", "arch": "seed_cnn", "dataset": "mnist5k", "seed": 0}
>>> key = run_key(config)
>>> key == run_key(dict(reversed(list(config.items()))))  # key order does not matter
True
>>> len(key)
16
>>> run = RunResult(key=key, op="conv1x1_s2", arch="seed_cnn", dataset="mnist5k", seed=0,
...                 epochs=3, status="ok", error="", test_accuracy=0.9, consistency=0.8,
...                 params=1000, macs=20000, train_seconds=4.5, images_per_second=2600.0,
...                 config=config, finished_at="2026-01-01T00:00:00+00:00")
>>> RunResult.from_dict(run.to_dict()) == run
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime

from stridescope.errors import StridescopeError

__all__ = ["RUN_FIELDS", "RUN_STATUSES", "RunResult", "now_iso", "op_label", "plural", "run_key"]

RUN_STATUSES = ("ok", "failed")


def run_key(config: Mapping[str, object]) -> str:
    """Identify a run by its full config: sha256 of canonical JSON (sorted keys), 16 hex chars.

    Two configs that differ in any value (seed, epochs, learning rate, ...) get different keys, so
    a resumed study re-runs exactly the runs whose config it has not finished yet.

    >>> run_key({"seed": 1, "op": "a"}) == run_key({"op": "a", "seed": 1})
    True
    >>> run_key({"seed": 1}) == run_key({"seed": 2})
    False
    """
    try:
        text = json.dumps(dict(config), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise StridescopeError(
            f"a run config must be plain JSON data (str, int, float, bool, None, lists, dicts); "
            f"got {dict(config)!r}: {error}"
        ) from None
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def op_label(op: str) -> str:
    """How tables and plots name an operator: a user's ``FILE.py:FACTORY`` by its FACTORY
    (the store, JSON and CSV keep the whole string).

    >>> op_label("conv1x1_s2"), op_label("examples/maxblurpool.py:max_blur_pool")
    ('conv1x1_s2', 'max_blur_pool')
    """
    return op.rpartition(":")[2] if ":" in op else op


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, with an ``s`` (or ``many``) unless ``n`` is 1: the one way counts are
    worded in the study's, the report's and the results command's text.

    >>> plural(1, "run"), plural(0, "run"), plural(3, "seed"), plural(2, "epoch")
    ('1 run', '0 runs', '3 seeds', '2 epochs')
    >>> plural(1, "shared seed"), plural(2, "was", "were")
    ('1 shared seed', '2 were')
    """
    return f"{n} {word if n == 1 else (many if many is not None else word + 's')}"


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds, e.g. ``2026-01-01T12:00:00+00:00``."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunResult:
    """One finished run: what was trained (op, arch, dataset, seed, config) and what it measured.

    ``status`` is ``"ok"`` or ``"failed"``; a failed run carries its reason in ``error`` and
    ``None`` for the measurements. ``consistency`` is the shift-consistency of the trained model's
    predictions (share of test images whose predicted class survives a small shift).
    """

    key: str
    op: str
    arch: str
    dataset: str
    seed: int
    epochs: int
    status: str
    error: str
    test_accuracy: float | None
    consistency: float | None
    params: int | None
    macs: int | None
    train_seconds: float | None
    images_per_second: float | None
    config: dict[str, object] = field(default_factory=dict)
    finished_at: str = ""

    def __post_init__(self) -> None:
        if self.status not in RUN_STATUSES:
            raise StridescopeError(
                f"run status must be one of {', '.join(RUN_STATUSES)}; got {self.status!r}"
            )

    @property
    def ok(self) -> bool:
        """True when the run finished without error."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict with every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RunResult:
        """Rebuild a record from :meth:`to_dict` output; unknown or missing fields are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        required = {"key", "op", "arch", "dataset", "seed", "epochs", "status"}
        missing = sorted(required - set(data))
        if unknown or missing:
            raise StridescopeError(
                f"not a run record: unknown fields {unknown}, missing fields {missing}; "
                f"expected the fields {sorted(names)}"
            )
        values: dict[str, object] = {
            "error": "",
            "test_accuracy": None,
            "consistency": None,
            "params": None,
            "macs": None,
            "train_seconds": None,
            "images_per_second": None,
            "config": {},
            "finished_at": "",
        }
        values.update(data)
        values["config"] = dict(values["config"])  # type: ignore[call-overload]
        return cls(**values)  # type: ignore[arg-type]


RUN_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RunResult))
"""The fields of a :class:`RunResult`, in order: the columns of the store and of exports.

>>> RUN_FIELDS[:3], RUN_FIELDS[-2:]
(('key', 'op', 'arch'), ('config', 'finished_at'))
"""
