"""The runs of a study of the user's own model: each builds the model and applies a policy.

A run of ``stridescope study --model FILE.py:FACTORY --policies original,blurpool,...`` builds
the model under its seed (``FACTORY(num_classes=...)`` when the factory takes that parameter,
else ``FACTORY()``) and applies its policy with :func:`stridescope.fix` (``original``: none).
``fix`` copies the weights of every layer it keeps or rebuilds, so for one seed every policy
starts from the same initial weights in every layer it leaves alone — the comparison between
policies is paired, as between the operators of a built-in architecture.

The images are fitted to the model (:func:`~stridescope.analysis.classifier.fit_images`):
resized to the study's ``image_size`` and grayscale repeated to three channels when the
model's first layer takes three.

>>> policy_names_of_study()
('original', 'blurpool', 'blurpool-first', 'resnet-d', 's2d', 'aps')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from stridescope.errors import StridescopeError, UnknownNameError
from stridescope.frameworks import is_keras_model
from stridescope.study.config import RunSpec

__all__ = [
    "ORIGINAL",
    "ModelInput",
    "build_policy_model",
    "check_policies",
    "fit_run_images",
    "policy_names_of_study",
]

ORIGINAL = "original"


def policy_names_of_study() -> tuple[str, ...]:
    """``original`` and every ``stridescope.fix`` policy."""
    from stridescope.surgery import policy_names

    return (ORIGINAL, *policy_names())


def check_policies(policies: tuple[str, ...]) -> None:
    """Unknown policy names -> an error listing the known ones.

    >>> check_policies(("original", "blur"))
    Traceback (most recent call last):
    ...
    stridescope.errors.UnknownNameError: unknown policy 'blur'; known: original, blurpool, blurpool-first, resnet-d, s2d, aps
    """
    known = policy_names_of_study()
    for policy in policies:
        if policy not in known:
            raise UnknownNameError("policy", policy, known)


@dataclass(frozen=True)
class ModelInput:
    """What a model run feeds the model: ``(C, H, W)`` after fitting, and the class count.

    >>> ModelInput((3, 32, 32), 10).batch_shape
    (1, 3, 32, 32)
    """

    shape: tuple[int, int, int]
    num_classes: int

    @property
    def batch_shape(self) -> tuple[int, int, int, int]:
        """``(1, C, H, W)``: the input ``fix`` and the tracer read the model with."""
        return (1, *self.shape)


def _load(target: str, num_classes: int) -> nn.Module:
    from stridescope.frontends.load import load_model

    model: Any = load_model(target, num_classes=num_classes)
    if is_keras_model(model):
        raise StridescopeError(
            f"{target!r} builds a Keras model; a study trains PyTorch models (fix the Keras "
            "model with `stridescope fix ... --save fixed.keras` and train it with Keras)"
        )
    if not isinstance(model, nn.Module):
        raise StridescopeError(f"{target!r} gave {type(model).__name__}; expected an nn.Module")
    return model


def build_policy_model(
    target: str,
    policy: str,
    model_input: ModelInput,
    *,
    seed: int,
    select: tuple[str, ...] = (),
    device: torch.device | str | None = None,
) -> nn.Module:
    """The model ``target`` builds under ``seed``, with ``policy`` applied (``original``:
    as built) to the ``select``-ed layers (default: every strided one). ``device="meta"``
    builds it without memory (shapes only). The global random stream is left as it was.

    A policy that changes no layer is an error: the run would train the original again.
    """
    check_policies((policy,))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if device is None:
            model = _load(target, model_input.num_classes)
        else:
            with torch.device(device):
                model = _load(target, model_input.num_classes)
        if policy == ORIGINAL:
            return model
        from stridescope.surgery import fix

        fixed = fix(model, policy, select=list(select) or None, input_shape=model_input.batch_shape)
    if not fixed.changes:
        why = "; ".join(f"{u.layer}: {u.reason}" for u in fixed.unchanged[:3])
        raise StridescopeError(
            f"policy {policy!r} changes no layer of {target!r}"
            + (f" ({why})" if why else " (it has no strided layer)")
        )
    fixed_model: nn.Module = fixed.model
    return fixed_model


def fit_run_images(x: torch.Tensor, spec: RunSpec) -> torch.Tensor:
    """Images ``(N, C, H, W)`` fitted to a model run: resized to ``spec.image_size`` (0: as
    they are) and repeated to ``spec.channels`` (0: as they are) from grayscale."""
    from stridescope.analysis.classifier import fit_images

    return fit_images(
        x, channels=spec.channels or None, image_size=spec.image_size or None
    )  # (N, C', H', W')
