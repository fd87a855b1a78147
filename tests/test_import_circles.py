"""No import circle through core/jobs (issue 29), counting imports anywhere in a file."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str = "core") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports, at top level or inside functions."""
    files = {_module_name(p): p for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in files and t != name}
        graph[name] = found
    return graph


def circle_through(graph: dict[str, set[str]], start: str) -> list[str] | None:
    """A chain of imports from ``start`` back to itself, or None (depth-first search)."""
    stack, seen = [(start, [start])], set()
    while stack:
        node, chain = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt == start:
                return chain + [start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, chain + [nxt]))
    return None


def test_circle_finder_sees_a_circle():
    assert circle_through({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "a") == ["a", "b", "c", "a"]
    assert circle_through({"a": {"b"}, "b": set()}, "a") is None


def test_no_import_circle_through_the_jobs_modules():
    graph = import_graph()
    jobs = sorted(m for m in graph if m.startswith("core.jobs.") and m != "core.jobs.__main__")
    assert jobs, "no core.jobs modules found"
    circles = {m: circle_through(graph, m) for m in jobs}
    assert not {m: c for m, c in circles.items() if c}, circles
