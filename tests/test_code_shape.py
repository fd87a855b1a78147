"""The code's shape, checked: one direction of dependency, small functions, CLIs kept apart."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 80


def _modules(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_function_in_core_or_dashboard_is_longer_than_a_screen():
    long = []
    for path in _modules("core", "dashboard"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not long, long


def test_core_never_imports_streamlit():
    offenders = [p for p in _modules("core") if any(n.split(".")[0] == "streamlit" for n in _imports(p))]
    assert not offenders, offenders


def test_only_the_cli_module_touches_argparse_and_no_library_module_imports_a_cli():
    argparse_users = [p.relative_to(ROOT) for p in _modules("core") if "argparse" in _imports(p)]
    assert argparse_users == [Path("core/cli.py")], argparse_users
    for path in _modules("core"):
        if path.name == "__main__.py" or path.name == "cli.py":
            continue
        tree = ast.parse(path.read_text())
        top_level = {n.module for n in tree.body if isinstance(n, ast.ImportFrom) and n.module} | {
            a.name for n in tree.body if isinstance(n, ast.Import) for a in n.names
        }
        assert "core.cli" not in top_level, f"{path.relative_to(ROOT)} imports the CLI module at top level"
        assert not any(m.endswith("__main__") for m in _imports(path)), path


def test_dashboard_pages_compute_nothing_themselves():
    """Pages import the service layer, the caches, widgets and figures; never the engine's internals."""
    allowed = ("core.service", "core.models.registry", "core.store.runs", "dashboard", "streamlit")
    for page in _modules("dashboard/app_pages"):
        internal = [m for m in _imports(page) if m.startswith("core") and not m.startswith(allowed)]
        assert not internal, f"{page.name} reaches into {internal}"
