"""The fix tests reuse the hand-written models of the frontend tests (tests/frontends/pytorch)."""

from __future__ import annotations

import sys
from pathlib import Path

_FRONTENDS = str(Path(__file__).resolve().parents[1] / "frontends" / "pytorch")
if _FRONTENDS not in sys.path:
    sys.path.insert(0, _FRONTENDS)
