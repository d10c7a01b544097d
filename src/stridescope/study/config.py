"""What a study is (:class:`StudyConfig`), what one run is (:class:`RunSpec`), and the plan.

A study config comes from a TOML file (:func:`load_config`), command-line overrides
(:func:`with_overrides`) or both. Every key is checked: an unknown key or a value of the wrong
type is a :class:`~stridescope.errors.StridescopeError` that names the key, what was received and
what is allowed.

>>> cfg = with_overrides(StudyConfig(), ops=("conv1x1_s2", "conv3x3_s2"), seeds=2, epochs=1)
>>> [(s.op, s.seed) for s in plan_runs(cfg)]
[('conv1x1_s2', 0), ('conv1x1_s2', 1), ('conv3x3_s2', 0), ('conv3x3_s2', 1)]
>>> plan_runs(cfg)[0].key == plan_runs(cfg)[0].key
True
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from stridescope.errors import StridescopeError
from stridescope.records import RunResult, now_iso, run_key
from stridescope.study.resources import share_cores

__all__ = [
    "DEFAULT_OPS",
    "DEFAULT_POLICIES",
    "RunSpec",
    "StudyConfig",
    "auto_pad",
    "load_config",
    "plan_runs",
    "variants",
    "with_overrides",
]

DEFAULT_OPS: tuple[str, ...] = (
    "conv1x1_s2",
    "conv3x3_s2",
    "maxpool_conv1x1",
    "avgpool_conv1x1",
    "blurpool_conv1x1",
    "s2d_conv1x1",
)
DEFAULT_POLICIES: tuple[str, ...] = ("original", "blurpool", "resnet-d", "s2d", "aps")
"""A study of the user's own model (``model``): ``original`` (as built) and each fix policy."""


def auto_pad(height: int, width: int) -> int:
    """The default largest shift: a seventh of the smaller side, at least one pixel.

    >>> auto_pad(28, 28), auto_pad(32, 32), auto_pad(8, 8), auto_pad(224, 224)
    (4, 4, 1, 32)
    """
    return max(1, min(height, width) // 7)


@dataclass(frozen=True)
class StudyConfig:
    """A whole study: every operator x every seed, trained on one dataset and architecture.

    ``seeds`` is a tuple of explicit seeds; a TOML file or the CLI may give a count ``N``, which
    means seeds ``0 .. N-1``. ``workers=0`` means "choose":
    :func:`~stridescope.study.resources.default_workers`. ``preset`` and ``slot`` only matter
    for ``resnet-mini`` (see :mod:`stridescope.study.archs`).
    ``consistency_pad`` is the largest shift, in pixels, of the shift-consistency test; 0 means
    "choose from the image size": :func:`auto_pad` (4 for 28x28 MNIST, 1 for 8x8 digits).

    ``model`` (``FILE.py:FACTORY`` or ``package.module:ATTR``) studies the user's own network
    instead of ``arch``: each of ``policies`` (``original``, or a ``stridescope.fix`` policy
    applied to the ``select``-ed layers, default every strided one) takes an operator's place.
    ``image_size`` resizes the images (0: the dataset's own) and ``channels`` is what the
    model's first layer takes (0: find out; grayscale is repeated to 3 channels when needed).
    """

    dataset: str = "mnist5k"
    dataset_path: str | None = None
    arch: str = "seed-cnn"
    preset: str = "v1"
    slot: str = "both"
    ops: tuple[str, ...] = DEFAULT_OPS
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    device: str = "cpu"
    workers: int = 0
    out: str = "study-out"
    test_fraction: float = 0.2
    consistency_pad: int = 0
    model: str = ""
    policies: tuple[str, ...] = DEFAULT_POLICIES
    select: tuple[str, ...] = ()
    image_size: int = 0
    channels: int = 0

    def __post_init__(self) -> None:
        _check_values(self)


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one run (not where results go, not how many run at once)."""

    dataset: str
    dataset_path: str | None
    test_fraction: float
    arch: str
    preset: str
    slot: str
    op: str
    seed: int
    epochs: int
    batch_size: int
    lr: float
    device: str
    threads: int
    consistency_pad: int
    model: str = ""
    select: tuple[str, ...] = ()
    image_size: int = 0
    channels: int = 0

    def config(self) -> dict[str, object]:
        """The JSON-ready config of this run (stored with its result). The keys of a study of
        the user's own model (``model``, ``select``, ``image_size``, ``channels``) are left out
        of a built-in architecture's run, so its key is what it was before they existed."""
        config = asdict(self)
        if not self.model:
            for name in _MODEL_KEYS:
                del config[name]
        else:
            config["select"] = list(self.select)
        return config

    @property
    def key(self) -> str:
        """The store key: a hash of :meth:`config` without ``threads``.

        The thread count says how a run executes, not what it is: it follows ``workers`` and
        the cores of the machine that plans the study, so keying on it would make a resume with
        another ``workers`` (or from another machine) retrain every run. It is still stored in
        the run's config.

        >>> a = plan_runs(StudyConfig(workers=1), cores=1)[0]
        >>> b = plan_runs(StudyConfig(workers=1), cores=4)[0]
        >>> (a.threads, b.threads, a.key == b.key)
        (1, 4, True)
        """
        return run_key({k: v for k, v in self.config().items() if k != "threads"})

    def record(
        self,
        *,
        error: str = "",
        params: int | None = None,
        macs: int | None = None,
        test_accuracy: float | None = None,
        consistency: float | None = None,
        train_seconds: float | None = None,
        images_per_second: float | None = None,
    ) -> RunResult:
        """The :class:`~stridescope.records.RunResult` of this run, finished now: ``failed``
        with ``error`` as the reason when one is given, else ``ok``.

        >>> spec = plan_runs(StudyConfig(), cores=1)[0]
        >>> failed = spec.record(error="the worker died")
        >>> (failed.status, failed.error, failed.key == spec.key, failed.test_accuracy)
        ('failed', 'the worker died', True, None)
        """
        return RunResult(
            key=self.key,
            op=self.op,
            arch=self.arch,
            dataset=self.dataset,
            seed=self.seed,
            epochs=self.epochs,
            status="failed" if error else "ok",
            error=error,
            test_accuracy=test_accuracy,
            consistency=consistency,
            params=params,
            macs=macs,
            train_seconds=train_seconds,
            images_per_second=images_per_second,
            config=self.config(),
            finished_at=now_iso(),
        )


_MODEL_KEYS = ("model", "select", "image_size", "channels")

_TYPES: dict[str, tuple[type, ...]] = {
    "dataset": (str,),
    "dataset_path": (str,),
    "arch": (str,),
    "preset": (str,),
    "slot": (str,),
    "ops": (list, tuple),
    "seeds": (int, list, tuple),
    "epochs": (int,),
    "batch_size": (int,),
    "lr": (float, int),
    "device": (str,),
    "workers": (int,),
    "out": (str,),
    "test_fraction": (float,),
    "consistency_pad": (int,),
    "model": (str,),
    "policies": (list, tuple),
    "select": (list, tuple),
    "image_size": (int,),
    "channels": (int,),
}
_LISTS = ("ops", "policies", "select")
_ALLOWED = ", ".join(f.name for f in fields(StudyConfig))


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def _check_field(key: str, value: object) -> None:
    if key not in _TYPES:
        raise StridescopeError(f"unknown study config key {key!r}; allowed keys: {_ALLOWED}")
    types = _TYPES[key]
    if isinstance(value, bool) or not isinstance(value, types):
        raise StridescopeError(
            f"study config key {key!r} must be {_type_names(types)}; "
            f"received {type(value).__name__} {value!r}"
        )
    if key in (*_LISTS, "seeds") and isinstance(value, list | tuple):
        item = str if key in _LISTS else int
        bad = [v for v in value if isinstance(v, bool) or not isinstance(v, item)]
        if bad or not value:
            raise StridescopeError(
                f"study config key {key!r} must be a non-empty list of {item.__name__}; "
                f"received {value!r}"
            )


def _normalise(key: str, value: Any) -> Any:
    if key in _LISTS:
        return tuple(value)
    if key == "seeds":
        if isinstance(value, int):
            if value < 1:
                raise StridescopeError(f"seeds must be a count >= 1 or a list; received {value}")
            return tuple(range(value))
        return tuple(value)
    if key == "lr":
        return float(value)
    return value


def _check_values(cfg: StudyConfig) -> None:
    for name in ("epochs", "batch_size", "consistency_pad", "image_size", "channels"):
        if getattr(cfg, name) < (1 if name in ("epochs", "batch_size") else 0):
            raise StridescopeError(f"{name} must be positive; received {getattr(cfg, name)}")
    if cfg.workers < 0:
        raise StridescopeError(f"workers must be 0 (choose) or more; received {cfg.workers}")
    if not 0.0 < cfg.test_fraction < 1.0:
        raise StridescopeError(f"test_fraction must be in (0, 1); received {cfg.test_fraction}")
    if not cfg.lr > 0.0:
        raise StridescopeError(f"lr must be positive; received {cfg.lr}")
    if len(set(cfg.ops)) != len(cfg.ops) or len(set(cfg.seeds)) != len(cfg.seeds):
        raise StridescopeError(f"ops and seeds must not repeat; received {cfg.ops}, {cfg.seeds}")
    if len(set(cfg.policies)) != len(cfg.policies):
        raise StridescopeError(f"policies must not repeat; received {cfg.policies}")
    _check_model_keys(cfg)


def _check_model_keys(cfg: StudyConfig) -> None:
    """``model`` replaces ``arch`` and ``ops`` (policies take the operators' place); the keys
    of a model study mean nothing without one."""
    if cfg.model:
        if cfg.arch != "seed-cnn" or cfg.ops != DEFAULT_OPS:
            raise StridescopeError(
                f"a study of your own model (model {cfg.model!r}) compares policies, not "
                f"architectures or operators; received arch {cfg.arch!r}, ops {list(cfg.ops)} "
                "(drop them, or drop model)"
            )
        return
    given = [
        name
        for name, default in (
            ("policies", DEFAULT_POLICIES),
            ("select", ()),
            ("image_size", 0),
            ("channels", 0),
        )
        if getattr(cfg, name) != default
    ]
    if given:
        raise StridescopeError(
            f"{', '.join(given)} apply to a study of your own model; give model too "
            "(FILE.py:FACTORY or package.module:ATTR)"
        )


def variants(cfg: StudyConfig) -> tuple[str, ...]:
    """What the study compares: ``policies`` for a model study, else ``ops``.

    >>> variants(StudyConfig(model="net.py:build", policies=("original", "s2d")))
    ('original', 's2d')
    """
    return cfg.policies if cfg.model else cfg.ops


def with_overrides(cfg: StudyConfig, **values: object) -> StudyConfig:
    """``cfg`` with the given keys replaced (``None`` values are ignored), each type-checked."""
    changes = {}
    for key, value in values.items():
        if value is None:
            continue
        _check_field(key, value)
        changes[key] = _normalise(key, value)
    return replace(cfg, **changes)


def load_config(path: str | Path) -> StudyConfig:
    """Read a study config from TOML (top-level keys, or a ``[study]`` table).

    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = os.path.join(d, "s.toml")
    ...     _ = open(p, "w").write('ops = ["conv1x1_s2"]\\nseeds = 2\\nepoch = 1\\n')
    ...     load_config(p)
    Traceback (most recent call last):
    ...
    stridescope.errors.StridescopeError: unknown study config key 'epoch'; allowed keys: ...
    """
    file = Path(path)
    if file.suffix in (".py", ".keras", ".h5", ".pt", ".pt2"):  # (a model, given as config)
        raise StridescopeError(
            f"a study config is a TOML file; received {str(file)!r}, a model file: give a "
            "model to study with --model FILE.py:FACTORY"
        )
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StridescopeError(f"study config file not found: {file}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise StridescopeError(f"cannot read study config {file}: {error}") from None
    if set(data) == {"study"} and isinstance(data["study"], dict):
        data = data["study"]
    return with_overrides(StudyConfig(), **data)


def plan_runs(cfg: StudyConfig, cores: int | None = None) -> list[RunSpec]:
    """One :class:`RunSpec` per (operator, seed), operators outermost, in config order (a
    model study: per (policy, seed); the policy is the run's ``op``, the model its ``arch``).

    Each run gets its share of the ``cores`` (default: those this process may use) as torch
    threads: :func:`~stridescope.study.resources.share_cores`.
    """
    threads = share_cores(cfg.workers, cores).threads
    return [
        RunSpec(
            dataset=cfg.dataset,
            dataset_path=cfg.dataset_path,
            test_fraction=cfg.test_fraction,
            arch=cfg.model or cfg.arch,
            preset=cfg.preset,
            slot=cfg.slot,
            op=op,
            seed=seed,
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            device=cfg.device,
            threads=threads,
            consistency_pad=cfg.consistency_pad,
            model=cfg.model,
            select=cfg.select if cfg.model else (),
            image_size=cfg.image_size if cfg.model else 0,
            channels=cfg.channels if cfg.model else 0,
        )
        for op in variants(cfg)
        for seed in cfg.seeds
    ]
