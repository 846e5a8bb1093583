"""The layers inside pipelines/ (the pipelines-layers contract of .importlinter, which import-linter
checks too): no module imports a module of a higher layer, not even lazily inside a function."""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONTRACT = "importlinter:contract:pipelines-layers"


def layers() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(REPO / ".importlinter")
    return parser[CONTRACT]["layers"].split()


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (relative imports resolved)."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return names


def layer_of(module: str, order: list[str]) -> int | None:
    for index, layer in enumerate(order):
        if module == layer or module.startswith(layer + "."):
            return index
    return None


def test_every_pipelines_module_is_in_a_layer() -> None:
    order = layers()
    loose = [module_name(p) for p in sorted((REPO / "pipelines").rglob("*.py"))
             if layer_of(module_name(p), order) is None and p.name != "__init__.py"]
    assert not loose, f"modules in no layer of .importlinter's pipelines-layers contract: {loose}"


def test_no_module_imports_a_higher_layer() -> None:
    order = layers()
    upward = []
    for path in sorted((REPO / "pipelines").rglob("*.py")):
        mine = layer_of(module_name(path), order)
        if mine is None:
            continue
        for name in imported(path):
            theirs = layer_of(name, order)
            if theirs is not None and theirs < mine:
                upward.append(f"{module_name(path)} imports {name} ({order[theirs]} is above "
                              f"{order[mine]})")
    assert not upward, "\n".join(upward)


def test_flows_never_import_argparse() -> None:
    order = layers()
    for path in sorted((REPO / "pipelines").rglob("*.py")):
        if layer_of(module_name(path), order) is not None and \
                layer_of(module_name(path), order) > order.index("pipelines.flags"):
            assert "argparse" not in imported(path), module_name(path)
