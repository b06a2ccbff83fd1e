"""The import graph points one way: no cycle among aquaembed's modules, and the library
never imports the service or the dashboard (only the CLI's ``serve``/``demo`` do).

Static: every module of ``aquaembed/`` and of ``dashboard/`` (installed as
``aquaembed.dashboard``) is parsed with :mod:`ast`; nothing is imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ROOTS = {"aquaembed": REPO / "aquaembed", "aquaembed.dashboard": REPO / "dashboard"}
APPS = ("aquaembed.service", "aquaembed.dashboard")
"""What the library must not import."""


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for prefix, root in ROOTS.items():
        for path in root.rglob("*.py"):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([prefix, *parts])] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(name: str, path: Path) -> Iterator[tuple[str, int, bool]]:
    """``(imported module, line, at module level)`` for every aquaembed import of a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]

    def walk(nodes: list[ast.stmt], top: bool) -> Iterator[tuple[str, int, bool]]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue  # annotations only, never executed
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name, node.lineno, top
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    yield (sub if sub in MODULES else base), node.lineno, top
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list) and children and isinstance(children[0], ast.AST):
                    inner = isinstance(node, (ast.If, ast.Try, ast.With)) and top
                    yield from walk(children, inner)  # type: ignore[arg-type]

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for target, line, top in walk(tree.body, True):
        if target == "aquaembed" or target.startswith("aquaembed."):
            yield target, line, top


def _graph(*, lazy: bool) -> dict[str, set[str]]:
    """Module -> the aquaembed modules it imports (with ``lazy``, inside functions too)."""
    return {
        name: {t for t, _, top in _imports(name, path) if (top or lazy) and t in MODULES and t != name}
        for name, path in MODULES.items()
    }


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_modules_were_found() -> None:
    for name in ("aquaembed.cli", "aquaembed.matching.kernels", "aquaembed.metrics.reports", "aquaembed.dashboard"):
        assert name in MODULES


@pytest.mark.parametrize("lazy", [False, True], ids=["module level", "with imports inside functions"])
def test_no_import_cycle_among_the_modules(lazy: bool) -> None:
    cycle = _find_cycle(_graph(lazy=lazy))
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if not n.startswith(APPS)))
def test_the_library_never_imports_the_service_or_the_dashboard(name: str) -> None:
    allowed = {("aquaembed.cli", "aquaembed.service")}  # `aquaembed serve` / `aquaembed demo`, lazily
    bad = [
        f"line {line}: {target}"
        for target, line, top in _imports(name, MODULES[name])
        if target.startswith(APPS) and not ((name, target) in allowed and not top)
    ]
    assert not bad, f"{name} imports the app: {bad}"
