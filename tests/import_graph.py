"""The project's import graph, read statically with `ast` (no module is run).

Shared by tests/test_layers.py (layers, no circles) and tests/test_dvc_deps.py (each DVC
stage depends on exactly the code it runs). An import counts wherever it stands: at module
level or inside a function (the package imports lazily throughout), except under
`if TYPE_CHECKING:` (never run).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "landslide"


def module_file(name: str) -> Path | None:
    """`landslide.x.y` -> src/landslide/x/y.py or src/landslide/x/y/__init__.py; `flows.x`
    -> flows/x.py."""
    root = REPO if name.split(".")[0] == "flows" else SRC
    base = root.joinpath(*name.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def all_modules() -> list[str]:
    """Every module of the package and of flows/, by dotted name."""
    names = []
    for root, top in ((SRC / PACKAGE, PACKAGE), (REPO / "flows", "flows")):
        for path in sorted(root.rglob("*.py")):
            parts = [top, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            names.append(".".join(parts))
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, at any depth, except `if TYPE_CHECKING:` ones."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for other in child.orelse:
                yield from import_nodes(ast.Module(body=[other], type_ignores=[]))
            continue
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        yield from import_nodes(child)


def imported_names(imp: ast.Import | ast.ImportFrom, current: str) -> list[str]:
    """The dotted names one import statement in module `current` may load."""
    if isinstance(imp, ast.Import):
        return [alias.name for alias in imp.names]
    if imp.level:  # relative: from the package of `current`
        package = current.split(".")
        is_package = (module_file(current) or Path()).name == "__init__.py"
        base = package[: len(package) - imp.level + (1 if is_package else 0)]
        module = ".".join([*base, *([imp.module] if imp.module else [])])
    else:
        module = imp.module or ""
    return [module, *(f"{module}.{alias.name}" for alias in imp.names)]


def project_modules(name: str) -> set[str]:
    """The project modules importing `name` runs: `a.b.c` runs a/__init__ and a/b/__init__
    too, and `from a import c` may name a submodule c."""
    parts = name.split(".")
    if parts[0] not in (PACKAGE, "flows"):
        return set()
    return {
        ".".join(parts[:i])
        for i in range(1, len(parts) + 1)
        if module_file(".".join(parts[:i])) is not None
    }


def imported_modules(node: ast.AST, current: str) -> set[str]:
    """The project modules the imports under `node` load (in module `current`)."""
    found: set[str] = set()
    for imp in import_nodes(node):
        for name in imported_names(imp, current):
            found |= project_modules(name)
    return found


def imports_with_lines(current: str) -> Iterator[tuple[str, int]]:
    """(imported project module, line) for every import in module `current`."""
    for imp in import_nodes(parse(current)):
        for name in imported_names(imp, current):
            for module in project_modules(name):
                yield module, imp.lineno


def parse(name: str) -> ast.Module:
    path = module_file(name)
    assert path is not None, name
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
