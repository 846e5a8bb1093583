"""The structure rules of docs/architecture.md that import-linter's contracts (.importlinter) do
not state: no import cycle between any two modules (a package and its own modules included),
no top-level package over a quarter of the code, no module over 400 lines. tests/ and
benchmarks/ are not held to the size rules."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "grading", "engines", "store", "annotators", "ingest", "reconcile", "report", "export",
            "review", "pipelines")
MAX_MODULE_LINES = 400
MAX_PACKAGE_SHARE = 0.25


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def _package_files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    for package in PACKAGES:
        origin = Path(importlib.util.find_spec(package).origin).resolve()
        assert origin.is_relative_to(REPO), f"{package} imports from {origin}, not this checkout: set PYTHONPATH"
    return grimp.build_graph(*PACKAGES, include_external_packages=False, exclude_type_checking_imports=True)


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The import cycles: each strongly connected component of more than one module (Tarjan's
    algorithm, iterative), plus any module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)

    for root in sorted(graph.modules):
        if root in index:
            continue
        visit(root)
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        while work:
            module, imported = work[-1]
            for other in imported:
                if other not in index:
                    visit(other)
                    work.append((other, iter(sorted(graph.find_modules_directly_imported_by(other)))))
                    break
                if other in on_stack:
                    low[module] = min(low[module], index[other])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[module])
                if low[module] == index[module]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == module:
                            break
                    if len(component) > 1 or module in graph.find_modules_directly_imported_by(module):
                        found.append(sorted(component))
    return found


def _describe(graph: grimp.ImportGraph, component: list[str]) -> str:
    members = set(component)
    lines = []
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            for detail in graph.get_import_details(importer=importer, imported=imported):
                lines.append(f"  {importer}:{detail['line_number']}  {detail['line_contents']}")
    return "cycle " + " <-> ".join(component) + "\n" + "\n".join(lines)


def test_strongly_connected_finds_a_cycle_and_only_it():
    toy = grimp.ImportGraph()
    for importer, imported in [("a", "a.b"), ("a.b", "a"), ("a.b", "c"), ("c", "d"), ("d", "c"), ("e", "a")]:
        toy.add_import(importer=importer, imported=imported)
    assert sorted(strongly_connected(toy)) == [["a", "a.b"], ["c", "d"]]


def test_no_import_cycle_between_any_two_modules(graph):
    cycles = strongly_connected(graph)
    assert not cycles, "\n".join(_describe(graph, component) for component in cycles)


def test_no_top_level_package_holds_more_than_a_quarter_of_the_code():
    lines = {package: sum(_lines(path) for path in _package_files(package)) for package in PACKAGES}
    total = sum(lines.values())
    over = {package: f"{n / total:.0%} ({n} of {total} lines)" for package, n in lines.items()
            if n > MAX_PACKAGE_SHARE * total}
    assert not over, over


def test_no_module_over_400_lines():
    over = {str(path.relative_to(REPO)): n for package in PACKAGES for path in _package_files(package)
            if (n := _lines(path)) > MAX_MODULE_LINES}
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them by job): {over}"
