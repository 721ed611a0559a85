"""dvc.yaml names, for every stage, all the project code the stage runs.

A stage's code is what its `landslide <command>` imports: the lazy imports inside the CLI
command's function (the stage modules), then everything those import, transitively
(module-level imports and imports inside functions alike: the package imports lazily
throughout). A module missing from `deps:` is a change that `dvc repro`, and the Prefect
flow (its cache keys are fingerprints of the same deps, see `landslide.stages`), would
not re-run. Found statically with `ast` (tests/import_graph.py), so the test keeps dvc.yaml right as
imports move.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from import_graph import REPO, SRC, imported_modules, module_file, parse
from landslide import stages as S
from landslide.params import Params

# Modules with no stage logic, left out of every closure. The cli package (every module
# of it) is the entry of every stage but only parses options and calls the stage function
# (its command bodies are read here for their imports instead); console.py is terminal
# output (rich console, progress bars); __main__.py runs cli. Counting them would make a
# change to a help text or a progress bar re-run the whole pipeline. The package's own
# __init__.py holds only the docstring and `__version__`; Python runs it before any
# landslide module, so counting it would tie every stage to the version string.
CLI_MODULES = {
    "landslide.cli",
    *(f"landslide.cli.{p.stem}" for p in (SRC / "landslide" / "cli").glob("*.py")),
} - {"landslide.cli.__init__"}
NO_STAGE_LOGIC = {*CLI_MODULES, "landslide.console", "landslide.__main__", "landslide"}


def closure(entries: set[str]) -> set[str]:
    """`entries` and every project module they import, transitively."""
    seen: set[str] = set()
    todo = [m for m in entries if m not in NO_STAGE_LOGIC]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(m for m in imported_modules(parse(name), name) if m not in NO_STAGE_LOGIC)
    return seen


def cli_commands() -> dict[str, ast.FunctionDef]:
    """`landslide <command>` -> the function the cli package registers for it
    (`@app.command(...)` in any of its modules)."""
    commands = {}
    for module in sorted(CLI_MODULES):
        for node in parse(module).body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for deco in node.decorator_list:
                if (
                    isinstance(deco, ast.Call)
                    and isinstance(deco.func, ast.Attribute)
                    and deco.func.attr == "command"
                    and isinstance(deco.func.value, ast.Name)
                    and deco.func.value.id == "app"
                ):
                    if deco.args and isinstance(deco.args[0], ast.Constant):
                        commands[str(deco.args[0].value)] = node
                    else:  # typer's default: the function's name, with dashes
                        commands[node.name.replace("_", "-")] = node
    return commands


def stage_code(command: str) -> set[str]:
    """The project modules `landslide <command>` runs."""
    function = cli_commands()[command]
    return closure(imported_modules(function, "landslide.cli"))


def covered(path: str, deps: tuple[str, ...]) -> bool:
    """A dep names the file, or a directory above it."""
    return any(path == dep or path.startswith(dep.rstrip("/") + "/") for dep in deps)


def landslide_stages() -> dict[str, tuple[str, S.StageSpec]]:
    """Every (expanded) dvc.yaml stage whose cmd runs `landslide <command>`: its command."""
    found = {}
    for name, spec in S.load_stages(REPO / "dvc.yaml", Params()).items():
        words = spec.cmd.split()
        if len(words) >= 2 and words[0] == "landslide":
            found[name] = (words[1], spec)
    return found


def test_the_import_scan_sees_lazy_and_module_level_imports() -> None:
    tree = ast.parse(
        "import landslide.io\n"
        "from landslide.annotations import coco\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from landslide.predict import Detector\n"
        "def f():\n"
        "    from landslide.augment import OnlineAugment\n"
    )
    assert imported_modules(tree, "landslide.x") == {
        "landslide",  # the package: run first, but no stage logic (NO_STAGE_LOGIC)
        "landslide.io",
        "landslide.annotations",
        "landslide.annotations.coco",
        "landslide.augment",
    }
    assert "landslide.augment" in stage_code("train")  # train's online augmentation


def test_every_landslide_stage_is_a_cli_command() -> None:
    stages = landslide_stages()
    assert {"prepare", "validate", "split", "train@resnet50-A", "report"} <= set(stages)
    unknown = {name: cmd for name, (cmd, _) in stages.items() if cmd not in cli_commands()}
    assert not unknown, f"dvc.yaml stages run commands cli.py does not define: {unknown}"


@pytest.mark.parametrize("stage", sorted(landslide_stages()))
def test_the_stage_depends_on_all_the_code_it_runs(stage: str) -> None:
    command, spec = landslide_stages()[stage]
    code = sorted(str(module_file(m).relative_to(REPO)) for m in stage_code(command))  # type: ignore[union-attr]
    missing = [path for path in code if not covered(path, spec.deps)]
    assert not missing, (
        f"dvc.yaml stage {stage!r} (`landslide {command}`) runs code its deps lack: "
        f"{', '.join(missing)}"
    )


@pytest.mark.parametrize("stage", sorted(landslide_stages()))
def test_the_stage_depends_on_no_code_it_does_not_run(stage: str) -> None:
    """The other way round: a module listed but never imported re-runs the stage (training,
    hours on a GPU) for nothing. A directory dep is fine when the stage runs code in it."""
    command, spec = landslide_stages()[stage]
    code = {str(module_file(m).relative_to(REPO)) for m in stage_code(command)}  # type: ignore[union-attr]
    listed = [d for d in spec.deps if d.startswith("src/") and not d.endswith((".yaml", ".yml"))]
    idle = [dep for dep in listed if not any(covered(path, (dep,)) for path in code)]
    assert not idle, (
        f"dvc.yaml stage {stage!r} (`landslide {command}`) lists code it never imports: "
        f"{', '.join(idle)}"
    )


def test_the_flows_cache_key_follows_the_code_a_stage_runs(tmp_path: Path) -> None:
    """The Prefect flow keys a stage by `stages.fingerprint` of the same deps: a change to
    the online augmentation re-runs training there too."""
    spec = S.load_stages(REPO / "dvc.yaml", Params())["train@resnet50-A"]
    code = tmp_path / "src" / "landslide" / "augment" / "online.py"
    code.parent.mkdir(parents=True)
    code.write_text("FLIP = 0.5\n")
    first = S.fingerprint(spec, Params(), tmp_path)
    code.write_text("FLIP = 0.25\n")
    assert S.fingerprint(spec, Params(), tmp_path) != first
