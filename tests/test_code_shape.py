"""The code stays in pieces a reader can hold: no source file over 400 lines, no function body
over 60 lines, and no formatter pragma (fmt skip / fmt off: ruff format owns the layout).

A function's body is counted from its first statement after the docstring, so a command's
option list (the typed parameters typer reads) does not count against it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "src" / "stridescope").rglob("*.py"))
FORMATTED = sorted(
    p for folder in ("src", "tests", "bench", "examples") for p in (ROOT / folder).rglob("*.py")
)
MAX_FILE_LINES, MAX_BODY_LINES = 400, 60
SKIP = re.compile(r"#\s*fmt:\s*(skip|off)\b")


def body_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function."""
    body = node.body
    if (
        len(body) > 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    return (node.end_lineno or node.lineno) - body[0].lineno + 1


def long_functions(source: str) -> list[tuple[str, int, int]]:
    """(name, line, body lines) of every function whose body is over the limit."""
    return [
        (node.name, node.lineno, body_lines(node))
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and body_lines(node) > MAX_BODY_LINES
    ]


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", SOURCES, ids=_rel)
def test_source_files_and_functions_are_short(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    assert lines <= MAX_FILE_LINES, f"{_rel(path)}: {lines} lines (at most {MAX_FILE_LINES})"
    problems = [f"{_rel(path)}:{line} {name}: {n} lines" for name, line, n in long_functions(text)]
    assert not problems, "function bodies over 60 lines:\n" + "\n".join(problems)


def test_ruff_format_owns_the_layout() -> None:
    found = [
        f"{_rel(p)}:{i}"
        for p in FORMATTED
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if SKIP.search(line)
    ]
    assert not found, "formatter pragmas (write the table so ruff format keeps it):\n" + "\n".join(
        found
    )


def test_the_checks_catch_what_they_should() -> None:
    long_body = "def f():\n    '''doc'''\n" + "    x = 1\n" * 61
    signature_only = "def g(\n" + "    a: int = 1,\n" * 80 + "):\n    return a\n"
    assert [(n, b) for n, _, b in long_functions(long_body)] == [("f", 61)]
    assert long_functions(signature_only) == []
    pragma = "# fmt" + ": skip"  # spelled apart so this file has none
    assert SKIP.search(f"x = 1  {pragma}") and not SKIP.search("x = 1  # format me")
