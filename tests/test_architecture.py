"""The direction of imports (pyproject's [tool.importlinter] contracts; README, Architecture).

CI runs only the tests, so the contracts run here too: a broken one fails with
import-linter's own report (which import, on which line). A second test looks for
import cycles between any two modules, including imports made inside functions.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("plugin", "consent", "workers", "graphql_schema")


def test_the_import_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint_imports), "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, f"broken import contract(s):\n{run.stdout}\n{run.stderr}"


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.find_modules_directly_imported_by(nxt)))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_module_imports_itself_back() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None, exclude_type_checking_imports=True)
    cycles = _cycles(graph)
    report = []
    for cycle in cycles:
        members = set(cycle)
        lines = [
            f"  {m} -> {i}" for m in cycle
            for i in sorted(graph.find_modules_directly_imported_by(m)) if i in members
        ]
        report.append("\n".join(lines))
    assert not cycles, "import cycle(s):\n" + "\n\n".join(report)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.a")
    graph.add_import(importer="p.c", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b"]]


MAX_MODULE_LINES = 500


def test_no_module_is_longer_than_500_lines() -> None:
    """Small modules with one job: past 500 lines a module is doing two (migrations aside:
    tortoise writes them)."""
    too_long = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        if "migrations" not in path.parts
        and (lines := len(path.read_text("utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not too_long, f"modules over {MAX_MODULE_LINES} lines: {too_long}"


def test_tracking_holds_only_its_models_and_repository_beside_its_three_parts() -> None:
    """plugin/tracking/ is split by where the code runs: edge/ (serve, on every hit),
    pipeline/ (the worker), instrument/ (the send job)."""
    tracking = ROOT / "plugin" / "tracking"
    modules = sorted(p.name for p in tracking.glob("*.py"))
    packages = sorted(p.name for p in tracking.iterdir() if (p / "__init__.py").exists())
    assert modules == ["__init__.py", "models.py", "repository.py"]
    assert packages == ["edge", "instrument", "pipeline"]


def _exists(dotted: str) -> bool:
    """A module, or a name defined in one (``plugin.jobs.check_jobs``)."""
    module, _, attribute = dotted, "", ""
    while module:
        try:
            found = importlib.import_module(module)
        except ModuleNotFoundError:
            module, _, last = module.rpartition(".")
            attribute = f"{last}.{attribute}".strip(".")
            continue
        for part in filter(None, attribute.split(".")):
            if not hasattr(found, part):
                return False
            found = getattr(found, part)
        return True
    return False


def test_architecture_md_names_only_modules_that_exist() -> None:
    """ARCHITECTURE.md matches the code: every module path or dotted name it gives exists."""
    text = (ROOT / "ARCHITECTURE.md").read_text("utf-8")
    paths = set(re.findall(r"\b(?:plugin|consent|workers|graphql_schema)/[\w/]*\w\.py", text))
    dotted = set(re.findall(r"\b((?:plugin|consent|workers|graphql_schema)(?:\.\w+)+)", text))
    missing = sorted(
        [path for path in paths if not (ROOT / path).exists()]
        + [name for name in dotted if not _exists(name)]
    )
    assert paths and dotted
    assert not missing, f"ARCHITECTURE.md names what the code does not have: {missing}"
