"""Before the first run of a study of the user's own model: does the data fit the model, does
every policy change it, and do the runs fit in memory? :func:`check_model_study`.

Everything is checked on models built on PyTorch's ``meta`` device (shapes, no memory, no
arithmetic), so a model too large for the machine is refused with an estimate rather than
built: the model as built and after each policy takes two of the (fitted) images and must give
one logit per class; each policy must change at least one layer; and the training memory of the
largest variant (:mod:`stridescope.study.memory`) must fit in what the device has free.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from stridescope.errors import StridescopeError
from stridescope.study.config import StudyConfig
from stridescope.study.data import Dataset
from stridescope.study.memory import TrainingMemory, available_memory, check_memory
from stridescope.study.model_runs import ModelInput, build_policy_model, check_policies

__all__ = ["check_model_study", "fitted_input"]


def fitted_input(cfg: StudyConfig, dataset: Dataset, channels: int) -> ModelInput:
    """The ``(C, H, W)`` a model run feeds its model, and the class count.

    >>> from stridescope.study.data import load_dataset
    >>> data = load_dataset("digits")
    >>> fitted_input(StudyConfig(model="m.py:f", image_size=16), data, channels=3)
    ModelInput(shape=(3, 16, 16), num_classes=10)
    """
    _, h, w = dataset.input_shape
    size = (cfg.image_size, cfg.image_size) if cfg.image_size else (h, w)
    return ModelInput((channels, *size), dataset.num_classes)


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _probe(model: nn.Module, model_input: ModelInput, what: str) -> None:
    """Two images through the (meta) model: it must take them and give one logit per class."""
    images = (2, *model_input.shape)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.empty(images, device="meta"))
    except Exception as error:
        first = (str(error).strip().splitlines() or [""])[0]
        raise StridescopeError(
            f"{what} cannot take images {_shape(images)}: {type(error).__name__}: {first}"
        ) from None
    finally:
        model.train(was_training)
    want = (2, model_input.num_classes)
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != want:
        got = _shape(tuple(out.shape)) if isinstance(out, torch.Tensor) else type(out).__name__
        raise StridescopeError(
            f"{what} gives logits {got} for images {_shape(images)}; the data has "
            f"{model_input.num_classes} classes: it must give one logit per class "
            f"({_shape(want)})"
        )


def _channels(cfg: StudyConfig, dataset: Dataset, model: nn.Module) -> int:
    """What the model's first layer takes: ``cfg.channels``, else its first conv's input
    channels, else the data's; grayscale is repeated to three, other mismatches fail."""
    from stridescope.analysis.classifier import classifier, fit_images

    have = dataset.input_shape[0]
    want = cfg.channels or classifier(model).channels or have
    fit_images(torch.zeros(1, have, 1, 1), channels=want, image_size=None)  # raises if not
    return want


def _sizes(model: nn.Module, model_input: ModelInput) -> tuple[int, int]:
    from stridescope.frontends import trace_torch

    graph = trace_torch(model, model_input.batch_shape)
    return graph.params, graph.activation_bytes


def _check_memory(
    cfg: StudyConfig,
    dataset: Dataset,
    model_input: ModelInput,
    sizes: list[tuple[int, int]],
    workers: int,
) -> None:
    """The largest variant's training memory, all runs at once, against what is free."""
    c, h, w = model_input.shape
    images = len(dataset.y_train) + len(dataset.y_test)
    needs = [
        TrainingMemory(params, activations, cfg.batch_size, 4 * images * c * h * w, workers)
        for params, activations in sizes
    ]
    where = "RAM" if cfg.device == "cpu" else f"device {cfg.device}"
    check_memory(max(needs, key=lambda need: need.total), available_memory(cfg.device), where)


def check_model_study(cfg: StudyConfig, dataset: Dataset, *, workers: int) -> StudyConfig:
    """``cfg`` with its model's ``channels`` and ``image_size`` settled (``image_size`` 0 when
    the images keep their size), after every check; the first problem is a one-line error.
    ``workers``: runs at once on this machine (0: the runs execute elsewhere, memory is not
    checked here)."""
    check_policies(cfg.policies)
    seed = cfg.seeds[0]
    own = ModelInput(dataset.input_shape, dataset.num_classes)
    original = build_policy_model(cfg.model, "original", own, seed=seed, device="meta")
    model_input = fitted_input(cfg, dataset, _channels(cfg, dataset, original))
    _probe(original, model_input, f"the model {cfg.model!r}")
    sizes = [_sizes(original, model_input)]
    for policy in cfg.policies:
        if policy == "original":
            continue
        model = build_policy_model(
            cfg.model, policy, model_input, seed=seed, select=cfg.select, device="meta"
        )
        _probe(model, model_input, f"the model {cfg.model!r} after policy {policy!r}")
        sizes.append(_sizes(model, model_input))
    if workers:
        _check_memory(cfg, dataset, model_input, sizes, workers)
    keeps_size = model_input.shape[1:] == dataset.input_shape[1:]
    size = 0 if keeps_size else cfg.image_size
    return replace(cfg, channels=model_input.shape[0], image_size=size)
