"""The structure the docs describe (docs/architecture.md), held against the code: modules
small enough to read, no import circle, and the two storage backends sharing their SQL."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "seatctl"
MAX_LINES = 500
# Data rather than code: the OpenAPI document is one literal.
DATA_MODULES = {"seatctl/server/openapi.py"}


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if ".venv" not in p.parts)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The modules of `known` that `path` imports, at any depth of its code (a lazy import
    inside a function counts: it makes a circle all the same)."""
    found: set[str] = set()
    package = (
        module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    )
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "__import__"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names = [str(node.args[0].value)]
        else:
            continue
        for name in names:
            if name.split(".")[0] not in ("seatctl", "benchmarks"):
                name = f"benchmarks.{name}"  # a script's own folder is on its path
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module_name(path):
                found.add(name)
    return found


def circles(folder: Path) -> list[list[str]]:
    files = python_files(folder)
    known = {module_name(p) for p in files}
    graph = {module_name(p): imports_of(p, known) for p in files}
    # A package's __init__ importing its own submodules is how a package hands names on.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not t.startswith(name + ".")}
    found: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*trail[trail.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_module_of_the_package_is_over_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in python_files(PACKAGE)
        if (n := len(p.read_text().splitlines())) > MAX_LINES
        and str(p.relative_to(ROOT)) not in DATA_MODULES
    }
    assert long == {}


@pytest.mark.parametrize("folder", ["seatctl", "benchmarks"])
def test_no_import_circle(folder):
    assert circles(ROOT / folder) == []


def code_lines(folder: Path) -> list[tuple[str, int, str]]:
    """(file, line number, text) of every line of code below `folder`, stripped, with names
    and literals kept: blank lines, comments and lone brackets say nothing."""
    lines = []
    for path in python_files(folder):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            text = line.strip()
            if text and not text.startswith("#") and text not in {")", "]", "}", "):", '"""'}:
                lines.append((str(path.relative_to(ROOT)), number, text))
    return lines


def windows(lines: list[tuple[str, int, str]], size: int) -> dict[tuple[str, ...], str]:
    found: dict[tuple[str, ...], str] = {}
    for start in range(len(lines) - size + 1):
        run = lines[start : start + size]
        if run[0][0] == run[-1][0]:  # within one file
            found.setdefault(tuple(text for _, _, text in run), f"{run[0][0]}:{run[0][1]}")
    return found


def test_the_two_storage_backends_share_no_block_of_six_lines():
    sqlite = windows(code_lines(PACKAGE / "storage" / "sqlite"), 6)
    postgres = windows(code_lines(PACKAGE / "storage" / "postgres"), 6)
    shared = sorted(f"{sqlite[run]} ~ {postgres[run]}" for run in sqlite.keys() & postgres.keys())
    assert shared == []
