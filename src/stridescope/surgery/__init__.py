"""Fix policies: swap a model's downsampling layers for better ones, weights kept.

:func:`fix` returns a new model (PyTorch or Keras) and, per layer, what changed, its cost and
what the output at the start keeps; :func:`fix_cost` prices one policy on one layer of any IR
graph; :func:`fix_estimate` prices the fix of a lint finding (each finding's ``fix`` in
``stridescope.lint``). The policies (``blurpool``, ``blurpool-first``, ``resnet-d``, ``s2d``,
``aps``) are in :mod:`stridescope.surgery.policies`.

>>> from stridescope.surgery import policy_names
>>> policy_names()
('blurpool', 'blurpool-first', 'resnet-d', 's2d', 'aps')
"""

from stridescope.surgery.estimate import fix_estimate
from stridescope.surgery.fix import fix, fix_cost
from stridescope.surgery.policies import POLICIES, FixOptions, policy_names, policy_options
from stridescope.surgery.records import (
    CHANGED,
    EXPECTATION,
    IDENTICAL,
    Change,
    FixCost,
    Fixed,
    Unchanged,
)
from stridescope.surgery.select import layers_for_code, selectable_codes

__all__ = [
    "CHANGED",
    "EXPECTATION",
    "IDENTICAL",
    "POLICIES",
    "Change",
    "FixCost",
    "FixOptions",
    "Fixed",
    "Unchanged",
    "fix",
    "fix_cost",
    "fix_estimate",
    "layers_for_code",
    "policy_names",
    "policy_options",
    "selectable_codes",
]
