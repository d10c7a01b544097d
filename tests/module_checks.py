"""What the suite checks of its own modules: each file under ``tests/`` loaded once
(``tests/conftest.py``'s session check; why: its text)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path


def loaded_twice(modules: Mapping[str, object], root: Path) -> dict[str, list[str]]:
    """Files under ``root`` loaded as more than one module, each with its module names."""
    files: dict[str, list[str]] = defaultdict(list)
    for name, module in modules.items():
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and Path(file).is_relative_to(root):
            files[file].append(name)
    return {file: sorted(names) for file, names in files.items() if len(names) > 1}
