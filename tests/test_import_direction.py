"""Imports flow one way only. Every module under src/stridescope is parsed with ast (nothing is
imported), and each import -- top level, inside functions, under TYPE_CHECKING -- is checked
against the table below."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stridescope"

# package -> the stridescope packages/modules it may import (itself is always allowed).
# A package missing here is not restricted, except by the rules below the table.
ALLOWED: dict[str, set[str]] = {
    "geometry": {"errors"},  # errors.py is standard-library only
    "ir": {"geometry"},
    "ops": {"geometry", "ir", "errors", "registry"},
    "frontends": {"geometry", "ir", "ops", "errors", "registry"},
    "analysis": {"geometry", "ir", "ops", "errors", "registry", "records"},
}
# Third-party packages a package must never import.
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "geometry": {"numpy", "torch", "keras"},  # standard library only
    "report": {"torch"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # `from stridescope import cli` imports stridescope.cli
            names += [f"{prefix}.{alias.name}" for alias in node.names]
    return names


MODULES = sorted(SRC.rglob("*.py"))


def _top(name: str) -> str | None:
    """The stridescope package or module a name belongs to, e.g. 'ir' for stridescope.ir.graph."""
    parts = name.split(".")
    return parts[1] if parts[0] == "stridescope" and len(parts) > 1 else None


def violations(module: str, names: list[str]) -> list[str]:
    """Every rule that ``module`` importing ``names`` breaks, as one line each."""
    own = _top(module)
    problems = []
    for name in names:
        target = _top(name)
        if target == "cli" and own != "cli":
            problems.append(f"{module} imports {name}: nothing may import stridescope.cli")
        if own in ALLOWED and target not in (None, own) and target not in ALLOWED[own]:
            allowed = ", ".join(sorted(ALLOWED[own])) or "nothing of stridescope"
            problems.append(f"{module} imports {name}; {own} may import only {allowed}")
        if name.split(".")[0] in FORBIDDEN_THIRD_PARTY.get(own or "", set()):
            problems.append(f"{module} imports {name}, which {own} must never import")
    return problems


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_one_way(path: Path) -> None:
    problems = violations(_module_name(path), _imports(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("stridescope.geometry.output", "stridescope.ir"),
        ("stridescope.geometry.output", "numpy"),
        ("stridescope.ir.graph", "stridescope.ops.blur"),
        ("stridescope.analysis.coverage", "stridescope.cli._common"),
        ("stridescope.study.runner", "stridescope.cli"),
        ("stridescope.report.html", "torch.nn"),
        ("stridescope.ops.blur", "stridescope.frontends"),
    ],
)
def test_the_rules_catch_violations(module: str, name: str) -> None:
    assert violations(module, [name])
    assert not violations("stridescope.cli.layer", [name])


def test_the_scan_sees_known_imports() -> None:
    """The parser resolves relative and `from package import module` imports."""
    names = _imports(SRC / "ir" / "graph.py")
    assert any(n.startswith("stridescope.geometry") for n in names)
    assert len(MODULES) > 10
