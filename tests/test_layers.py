"""The package's layers (ARCHITECTURE.md): each module imports only from its own layer or
the ones below, the imports form no circle, and no module is over 400 lines.

Read statically (tests/import_graph.py): imports inside functions count like module-level
ones, since the package imports lazily throughout. A module's own parent packages are not
counted (Python runs them first, whatever the module imports).
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from import_graph import all_modules, imports_with_lines, module_file

# Lowest first. A module belongs to the entry naming it or its nearest parent package.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core",
        (
            "landslide",
            "landslide.params",
            "landslide.errors",
            "landslide.io",
            "landslide.console",
            "landslide.phash",
            "landslide.tracking",
            "landslide.versioning",
            "landslide.stages",
        ),
    ),
    ("data model", ("landslide.annotations",)),
    (
        "data stages",
        (
            "landslide.sample",
            "landslide.prepare",
            "landslide.validate",
            "landslide.split",
            "landslide.augment",
        ),
    ),
    (
        "modelling",
        (
            "landslide.model",
            "landslide.data",
            "landslide.engine",
            "landslide.inference",
            "landslide.metrics",
            "landslide.registry",
            "landslide.serving",
            "landslide.train",
        ),
    ),
    ("evaluation", ("landslide.evaluate", "landslide.report")),
    (
        "applications",
        (
            "landslide.predict",
            "landslide.raster",
            "landslide.export",
            "landslide.prefill",
            "landslide.curate",
            "landslide.scrape",
            "landslide.retrain",
        ),
    ),
    ("interfaces", ("landslide.cli", "flows")),
]
RANK = {prefix: rank for rank, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes}
MAX_LINES = 400


def layer_of(module: str) -> int | None:
    """The layer's rank; every `__main__` module is an entry point (interfaces)."""
    if module.rsplit(".", 1)[-1] == "__main__":
        return len(LAYERS) - 1
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        prefix = ".".join(parts[:i])
        if prefix == "landslide" and module != prefix:
            break  # the package's __init__ is core; it is no catch-all for new modules
        if prefix in RANK:
            return RANK[prefix]
    return None


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: first line importing it}, parent packages left out."""
    edges: dict[str, dict[str, int]] = defaultdict(dict)
    for module in all_modules():
        skip = _ancestors(module) | {module}
        for target, line in imports_with_lines(module):
            if target not in skip:
                edges[module].setdefault(target, line)
    return edges


def circles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
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
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(edges.get(child, {})))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [m for m in all_modules() if layer_of(m) is None]
    assert not unplaced, (
        f"modules in no layer: {', '.join(unplaced)}: add them to LAYERS in "
        "tests/test_layers.py and to ARCHITECTURE.md"
    )


def test_no_module_imports_from_a_higher_layer() -> None:
    upward = []
    for module, targets in sorted(graph().items()):
        for target, line in sorted(targets.items()):
            rank, target_rank = layer_of(module), layer_of(target)
            if rank is not None and target_rank is not None and target_rank > rank:
                upward.append(
                    f"{module_file(module)}:{line}: {module} ({LAYERS[rank][0]}) imports "
                    f"{target} ({LAYERS[target_rank][0]})"
                )
    assert not upward, "imports that run up a layer:\n" + "\n".join(upward)


def test_the_imports_form_no_circle() -> None:
    found = circles(graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_module_is_over_400_lines() -> None:
    long = {
        m: n
        for m in all_modules()
        if (n := len(module_file(m).read_text(encoding="utf-8").splitlines())) > MAX_LINES  # type: ignore[union-attr]
    }
    assert not long, f"modules over {MAX_LINES} lines (split them by responsibility): {long}"


def test_the_checks_see_a_circle_and_an_upward_import() -> None:
    edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert circles(edges) == [["a", "b", "c"]]
    assert layer_of("landslide.annotations.via") == 1
    assert layer_of("landslide.train.__main__") == len(LAYERS) - 1
    assert layer_of("landslide") == 0
    assert layer_of("landslide.new_stage") is None
    assert layer_of("landslide.cli.data") > layer_of("landslide.predict") > layer_of("landslide.io")


@pytest.mark.parametrize("module", ["landslide.inference", "landslide.annotations"])
def test_the_low_modules_import_nothing_above_modelling(module: str) -> None:
    """The inference primitives (prefill, predict, raster, evaluate, serving and retrain all
    use them) and the data model sit below every application."""
    edges = graph()
    reach = {m for m in edges if m == module or m.startswith(module + ".")}
    todo = list(reach)
    while todo:
        for target in edges.get(todo.pop(), {}):
            if target not in reach:
                reach.add(target)
                todo.append(target)
    too_high = sorted(m for m in reach if (layer_of(m) or 0) > RANK["landslide.train"])
    assert not too_high, f"{module} reaches {too_high}"
