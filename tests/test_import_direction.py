"""Imports flow one way only, and no module imports itself back through others.

Every module under src/stridescope is parsed with ast (nothing is imported).

- Direction: each import -- top level, inside functions, under TYPE_CHECKING -- is checked
  against the table of which package may import which.
- Cycles: the modules and the imports between them form a graph; a strongly connected part of
  more than one module is a circle, between modules of one package or across packages. Every
  import that runs counts, top level or inside a function; an import under
  ``if TYPE_CHECKING:`` does not (it never runs). An import of ``stridescope.a.b.name`` is an
  edge to the longest prefix that is a module (``stridescope.a.b``), so importing a package
  (``from stridescope.a import name``) is an edge to its ``__init__``.
"""

from __future__ import annotations

import ast
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "stridescope"

# package -> the stridescope packages/modules it may import (itself is always allowed).
# A package missing here is not restricted, except by the rules below the table.
ALLOWED: dict[str, set[str]] = {
    "geometry": {"errors"},  # errors.py is standard-library only
    "ir": {"geometry"},
    "ops": {"geometry", "ir", "errors", "registry"},
    "frontends": {"geometry", "ir", "ops", "errors", "registry", "frameworks"},
    "analysis": {"geometry", "ir", "ops", "errors", "registry", "records", "frameworks"},
    "surgery": {
        "geometry",
        "ir",
        "ops",
        "frontends",
        "analysis",
        "errors",
        "registry",
        "records",
        "frameworks",
    },
}
# Third-party packages a package must never import.
FORBIDDEN_THIRD_PARTY: dict[str, set[str]] = {
    "geometry": {"numpy", "torch", "keras"},  # standard library only
    "report": {"torch"},
}


@dataclass(frozen=True)
class Import:
    """One imported name, where it is imported and whether that import ever runs."""

    name: str  # absolute, relative imports resolved: stridescope.ir.graph.Graph
    line: int
    statement: str  # the whole import statement, as ast.unparse writes it
    scope: str  # the function it is in; "" at module level
    type_only: bool  # under `if TYPE_CHECKING:`: never runs


def module_name(path: Path, root: Path) -> str:
    """``root/ir/graph.py`` -> ``stridescope.ir.graph`` (``root`` being the package folder)."""
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    """``TYPE_CHECKING`` or ``typing.TYPE_CHECKING``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(
    nodes: Iterable[ast.AST], type_only: bool = False, scope: str = ""
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool, str]]:
    """Every import statement below ``nodes``, with whether it is type-only and its function."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, type_only, scope
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _import_nodes(node.body, True, scope)
            yield from _import_nodes(node.orelse, type_only, scope)  # the else branch runs
        else:
            inner = node.name if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else scope
            yield from _import_nodes(ast.iter_child_nodes(node), type_only, inner)


def scan(path: Path, root: Path = SRC) -> list[Import]:
    """Everything the module at ``path`` imports, one :class:`Import` per imported name."""
    module = module_name(path, root)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node, type_only, scope in _import_nodes([tree]):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                prefix = ".".join([*base, node.module] if node.module else base)
            else:
                prefix = node.module or ""
            # `from stridescope import cli` imports stridescope.cli
            names = [f"{prefix}.{alias.name}" for alias in node.names]
        statement = ast.unparse(node)
        found += [Import(name, node.lineno, statement, scope, type_only) for name in names]
    return found


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
        # the command line is the top: only itself and `python -m stridescope` import it
        if target == "cli" and own not in ("cli", "__main__"):
            problems.append(f"{module} imports {name}: nothing may import stridescope.cli")
        if own in ALLOWED and target not in (None, own) and target not in ALLOWED[own]:
            allowed = ", ".join(sorted(ALLOWED[own])) or "nothing of stridescope"
            problems.append(f"{module} imports {name}; {own} may import only {allowed}")
        if name.split(".")[0] in FORBIDDEN_THIRD_PARTY.get(own or "", set()):
            problems.append(f"{module} imports {name}, which {own} must never import")
    return problems


# ---- cycles -----------------------------------------------------------------------------------

Graph = dict[str, dict[str, list[Import]]]
"""module -> module it imports -> the imports (that run) that make the edge."""


def _owner(name: str, modules: set[str]) -> str | None:
    """The longest prefix of ``name`` that is a module: the module an import runs."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules:
            return ".".join(parts)
        parts.pop()
    return None


def import_graph(root: Path = SRC) -> Graph:
    """The imports that run between the modules of the package at ``root``."""
    paths = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: Graph = {module: {} for module in paths}
    known = set(paths)
    for module, path in paths.items():
        for found in scan(path, root):
            target = _owner(found.name, known)
            if target is not None and target != module and not found.type_only:
                graph[module].setdefault(target, []).append(found)
    return graph


def cycles(graph: Graph) -> list[tuple[str, ...]]:
    """The strongly connected parts of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[tuple[str, ...]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph[module]):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            part = [stack.pop()]
            while part[-1] != module:
                part.append(stack.pop())
            if len(part) > 1:
                found.append(tuple(sorted(part)))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def describe(cycle: tuple[str, ...], graph: Graph, root: Path = SRC) -> str:
    """The circle's modules, then every import line between them (each lies on the circle)."""
    lines = [f"import cycle between {len(cycle)} modules: {', '.join(cycle)}"]
    for module in cycle:
        path = module.replace(".", "/")
        file = f"{path}/__init__.py" if (root.parent / path).is_dir() else f"{path}.py"
        edges = {
            (found.line, found.scope, found.statement, target)  # one per statement, not name
            for target in set(graph[module]) & set(cycle)
            for found in graph[module][target]
        }
        for line, scope, statement, target in sorted(edges):
            where = f" (in {scope})" if scope else ""
            lines.append(f"  {file}:{line}{where}: {statement}  [{module} -> {target}]")
    return "\n".join(lines)


# ---- the rules, on the real tree --------------------------------------------------------------


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_one_way(path: Path) -> None:
    names = [found.name for found in scan(path)]
    problems = violations(module_name(path, SRC), names)
    assert not problems, "\n".join(problems)


def test_no_module_imports_itself_back() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert not found, "\n".join(describe(cycle, graph) for cycle in found)


# ---- tests of the checker ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("stridescope.geometry.output", "stridescope.ir"),
        ("stridescope.geometry.output", "numpy"),
        ("stridescope.ir.graph", "stridescope.ops.blur"),
        ("stridescope.analysis.coverage", "stridescope.cli._common"),
        ("stridescope.study.runner", "stridescope.cli"),
        ("stridescope.api", "stridescope.cli"),
        ("stridescope.report.html", "torch.nn"),
        ("stridescope.ops.blur", "stridescope.frontends"),
    ],
)
def test_the_rules_catch_violations(module: str, name: str) -> None:
    assert violations(module, [name])
    assert not violations("stridescope.cli.layer", [name])


def test_python_dash_m_may_start_the_command_line() -> None:
    assert not violations("stridescope.__main__", ["stridescope.cli.main"])


def test_the_scan_sees_known_imports() -> None:
    """The parser resolves relative and `from package import module` imports."""
    names = [found.name for found in scan(SRC / "ir" / "graph.py")]
    assert any(n.startswith("stridescope.geometry") for n in names)
    assert len(MODULES) > 10


def _package(root: Path, files: dict[str, str]) -> Path:
    """Write the package ``pkg`` (its files given relative to it) under ``root``."""
    package = root / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(text, encoding="utf-8")
    return package


# The circle that study/ had: config -> executors inside a function, executors -> runner inside
# a function, runner -> config and executors at the top.
STUDY_CIRCLE = {
    "config.py": "def plan_runs():\n    from pkg.executors import available_cores\n",
    "executors.py": (
        "from pkg.config import plan_runs\n\n\n"
        "def run_in_worker():\n    from pkg.runner import execute_run\n"
    ),
    "runner.py": "from pkg.config import plan_runs\nfrom pkg.executors import run_in_worker\n",
}


def test_the_study_circle_is_reported_with_its_modules_and_import_lines(tmp_path: Path) -> None:
    package = _package(tmp_path, STUDY_CIRCLE)
    graph = import_graph(package)
    found = cycles(graph)
    assert found == [("pkg.config", "pkg.executors", "pkg.runner")]
    assert describe(found[0], graph, package).splitlines() == [
        "import cycle between 3 modules: pkg.config, pkg.executors, pkg.runner",
        "  pkg/config.py:2 (in plan_runs): from pkg.executors import available_cores"
        "  [pkg.config -> pkg.executors]",
        "  pkg/executors.py:1: from pkg.config import plan_runs  [pkg.executors -> pkg.config]",
        "  pkg/executors.py:5 (in run_in_worker): from pkg.runner import execute_run"
        "  [pkg.executors -> pkg.runner]",
        "  pkg/runner.py:1: from pkg.config import plan_runs  [pkg.runner -> pkg.config]",
        "  pkg/runner.py:2: from pkg.executors import run_in_worker  [pkg.runner -> pkg.executors]",
    ]


def test_a_circle_put_back_into_study_is_caught(tmp_path: Path) -> None:
    """A copy of the real tree, with config importing executors inside a function again."""
    copy = tmp_path / "stridescope"
    shutil.copytree(SRC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    config = copy / "study" / "config.py"
    back = "def _cores():\n    from stridescope.study.executors import LocalExecutor\n"
    config.write_text(f"{config.read_text(encoding='utf-8')}\n\n{back}", encoding="utf-8")
    graph = import_graph(copy)
    found = cycles(graph)
    assert len(found) == 1
    assert {"stridescope.study.config", "stridescope.study.executors"} <= set(found[0])
    assert "(in _cores): from stridescope.study.executors import LocalExecutor" in describe(
        found[0], graph, copy
    )


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"a.py": "from pkg.b import g\n", "b.py": "def g():\n    from pkg import a\n"},
            [("pkg.a", "pkg.b")],
            id="an import inside a function counts",
        ),
        pytest.param(
            {
                "a.py": "from pkg.b import g\n",
                "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import A\n",
            },
            [],
            id="an import under TYPE_CHECKING never runs",
        ),
        pytest.param(
            {
                "a.py": "from pkg.b import g\n",
                "b.py": "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    import pkg.a\n",
            },
            [("pkg.a", "pkg.b")],
            id="the else branch of TYPE_CHECKING runs",
        ),
        pytest.param(
            {"a.py": "from .b import g\n", "b.py": "from . import a\n"},
            [("pkg.a", "pkg.b")],
            id="relative imports",
        ),
        pytest.param(
            {"__init__.py": "from pkg.a import f\n", "a.py": "def f():\n    from pkg import X\n"},
            [("pkg", "pkg.a")],
            id="importing the own package's __init__",
        ),
        pytest.param(
            {
                "sub/__init__.py": "from pkg.a import f\n",
                "sub/c.py": "def h():\n    pass\n",
                "a.py": "from pkg.sub.c import h\n",
            },
            [],
            id="a name in a module is an edge to that module, not its package",
        ),
        pytest.param(
            {"a.py": "from pkg.b import g\n", "b.py": "import os\nfrom pkg import c\n", "c.py": ""},
            [],
            id="one way",
        ),
    ],
)
def test_cycles_are_found_where_imports_run(
    tmp_path: Path, files: dict[str, str], expected: list[tuple[str, ...]]
) -> None:
    assert cycles(import_graph(_package(tmp_path, files))) == expected
