"""The layout's house rules, checked on the source: no import cycle between modules (lazy
imports inside functions included), no module over 400 lines, no function over 60, and
one name per class across eager_local/."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[3]
CORE = ROOT / "eager_local"


def _cycle(graph, modules: set[str]) -> list[str] | None:
    """One import cycle among ``modules`` (a list of names), or None (iterative DFS)."""
    colour: dict[str, int] = {}
    for start in sorted(modules):
        if start in colour:
            continue
        stack = [(start, iter(sorted(graph.find_modules_directly_imported_by(start) & modules)))]
        path, colour[start] = [start], 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = 2
                stack.pop()
                path.pop()
            elif colour.get(child) == 1:
                return path[path.index(child):] + [child]
            elif child not in colour:
                colour[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
    return None


def test_no_import_cycle_between_modules():
    graph = grimp.build_graph("eager_local", "tui")
    modules = {m for m in graph.modules if m.startswith(("eager_local", "tui"))}
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    packages = {m for m in modules if (ROOT / m.replace(".", "/")).is_dir()}
    assert _cycle(graph, modules - packages) is None


def test_the_cycle_finder_finds_a_cycle():
    class Graph:
        def find_modules_directly_imported_by(self, m):
            return {"a": {"b"}, "b": {"c"}, "c": {"a"}}.get(m, set())

    assert _cycle(Graph(), {"a", "b", "c"}) == ["a", "b", "c", "a"]
    assert _cycle(Graph(), {"a", "b"}) is None


def _sources():
    return sorted(CORE.rglob("*.py"))


def test_modules_and_functions_stay_small():
    long_modules = [str(p.relative_to(ROOT)) for p in _sources()
                    if len(p.read_text(encoding="utf-8").splitlines()) > 400]
    long_functions = [f"{p.relative_to(ROOT)}:{n.name}"
                      for p in _sources() for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.end_lineno - n.lineno + 1 > 60]
    assert long_modules == [] and long_functions == []


def test_one_name_per_class():
    where = defaultdict(list)
    for p in _sources():
        for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            if isinstance(n, ast.ClassDef):
                where[n.name].append(str(p.relative_to(ROOT)))
    assert {name: files for name, files in where.items() if len(files) > 1} == {}


def test_at_most_twelve_modules_at_the_top():
    top = sorted(p.name for p in CORE.glob("*.py"))
    assert len(top) <= 12, top
