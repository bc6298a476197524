"""The core imports no domain and no worker: composition happens in plugin.composition."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ["settings", "hooks", "errors", "db", "runtime", "private_files", "net"]
CORE_MODULES = {f"plugin.{name}" for name in CORE}


def runtime_imports(path: Path) -> set[str]:
    """Modules a file imports when it runs (``if TYPE_CHECKING:`` blocks left out)."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test).endswith("TYPE_CHECKING")
        for statement in block.body
        for node in ast.walk(statement)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("name", CORE)
def test_the_core_imports_only_the_core(name: str) -> None:
    ours = {
        module for module in runtime_imports(ROOT / "plugin" / f"{name}.py")
        if module.split(".")[0] in {"plugin", "consent", "workers", "graphql_schema"}
    }
    assert ours <= CORE_MODULES, f"plugin/{name}.py imports {sorted(ours - CORE_MODULES)}"
