"""The package's arrows run one way (README: Architecture). Read statically from the source with ``ast``: every
import counts, at module level or inside a function (a lazy import is still an arrow).

- every module sits on one of the README's floors (``FLOORS``) and imports only from its own floor or below;
- no import loops between snpdiff modules;
- ``snpdiff.models`` knows nothing of Lightning, Hydra (or OmegaConf) and W&B;
- ``snpdiff`` never imports the entry points.

Training never reaching ``snpdiff.sweep`` follows from the floors (sweep is above training).
"""

from __future__ import annotations

import ast
import re
from collections import deque
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "snpdiff"
FORBIDDEN_IN_MODELS = ("lightning", "pytorch_lightning", "hydra", "omegaconf", "wandb")
ENTRY_POINTS = ("train", "sweep", "generate", "evaluate")
# top to bottom, as the README draws them: a module may import from its own floor and those below, never above
FLOORS = (
    ("sweep", ("snpdiff.sweep",)),
    ("training", ("snpdiff.training",)),
    ("components", ("snpdiff.generation", "snpdiff.cli", "snpdiff.api")),
    ("config", ("snpdiff.config",)),
    ("blocks", ("snpdiff.data", "snpdiff.models", "snpdiff.diffusion", "snpdiff.metrics", "snpdiff.cluster")),
    ("base", ("snpdiff.run_folder", "snpdiff.files", "snpdiff.compat", "snpdiff.secrets")),
    ("errors", ("snpdiff.errors", "snpdiff")),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    """Every module of the package: dotted name -> file."""
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def _absolute(module: str, node: ast.ImportFrom) -> str:
    """The absolute name ``from ... import`` reads from (relative imports resolved against ``module``)."""
    if node.level == 0:
        return node.module or ""
    is_package = modules()[module].name == "__init__.py"
    base = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
    return ".".join([*base, *([node.module] if node.module else [])])


def _known(name: str) -> str | None:
    """The snpdiff module ``name`` or its nearest enclosing module (``snpdiff.x.Class`` -> ``snpdiff.x``)."""
    parts = name.split(".")
    while parts:
        if ".".join(parts) in modules():
            return ".".join(parts)
        parts.pop()
    return None


@cache
def imports(module: str) -> tuple[frozenset[str], frozenset[str]]:
    """``(snpdiff modules, other top-level names)`` that ``module`` imports anywhere in its source.

    ``from pkg import sub`` is an arrow to ``pkg.sub`` when that is a module, else to ``pkg``; importing a
    submodule is not counted as importing its package's ``__init__`` (Python runs it, but it is not an arrow the
    code draws, and counting it would make every package that lazily imports its submodules a loop).
    """
    tree = ast.parse(modules()[module].read_text(), filename=str(modules()[module]))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(module, node)
            names += [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules() else source
                      for alias in node.names]
    inside = {_known(name) for name in names if name.split(".")[0] == "snpdiff"}
    outside = {name.split(".")[0] for name in names if name.split(".")[0] != "snpdiff"}
    return frozenset(inside - {None, module}), frozenset(outside)


def chain_to(start: str, goal) -> list[str] | None:
    """The shortest import chain from ``start`` to a module for which ``goal(module)`` holds (None: none)."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in sorted(imports(current)[0]):
            if goal(target):  # before the visited check: a loop's goal is its own start
                chain = [current]
                while parent[chain[-1]] is not None:
                    chain.append(parent[chain[-1]])
                return [*chain[::-1], target]
            if target not in parent:
                parent[target] = current
                queue.append(target)
    return None


def floor_of(module: str) -> int:
    """The floor's index in ``FLOORS`` (0 = top); the longest matching room wins (``snpdiff`` itself is the
    package's face, on the bottom floor)."""
    matches = [(len(room), index) for index, (_, rooms) in enumerate(FLOORS) for room in rooms
               if module == room or module.startswith(room + ".")]
    assert matches, f"{module} is on no floor: add its room to FLOORS and to the README's picture"
    return max(matches)[1]


def arrows_up(imports_of) -> list[str]:
    """Every import that runs up a floor, as ``a (floor) -> b (floor)``."""
    found = []
    for module in modules():
        for target in sorted(imports_of(module)):
            if floor_of(target) < floor_of(module):
                found.append(f"{module} ({FLOORS[floor_of(module)][0]}) -> {target} ({FLOORS[floor_of(target)][0]})")
    return found


def test_the_walker_sees_lazy_imports_and_resolves_submodules():
    """The walker itself, on modules whose imports are known: a sanity check that the rules below can fail."""
    assert len(modules()) > 20 and "snpdiff.sweep.backends" in modules()
    assert "snpdiff.sweep.backends.local" in imports("snpdiff.sweep.backends")[0]  # inside backend_class
    assert "snpdiff.run_folder" in imports("snpdiff.sweep.agent.trial")[0]
    assert "lightning" in imports("snpdiff.training.loggers")[1]  # imported inside a function


def test_every_module_sits_on_a_floor_and_no_import_runs_up_a_floor():
    found = arrows_up(lambda module: imports(module)[0])
    assert not found, "imports up a floor:\n" + "\n".join(found)


def test_a_planted_import_up_a_floor_fails_the_floor_rule():
    """The rule can fail: a models module that imported the training room would be reported."""
    planted = {"snpdiff.models.unet": {"snpdiff.training.run"}}
    found = arrows_up(lambda module: imports(module)[0] | planted.get(module, set()))
    assert found == ["snpdiff.models.unet (blocks) -> snpdiff.training.run (training)"]


def drawn_floors(readme: str) -> list[tuple[str, list[str]]]:
    """The floors of the README's picture (the code block after "Floors, top to bottom"): each line's first word
    and the rooms it names (``snpdiff/x/`` or ``snpdiff/x.py`` -> ``snpdiff.x``), entry points left out."""
    picture = readme.split("Floors, top to bottom", 1)[1].split("```")[1]
    floors = []
    for line in picture.strip().splitlines():
        name = line.split()[0]
        rooms = [re.sub(r"(/__init__)?(\.py)?/?$", "", room).replace("/", ".")
                 for room in re.findall(r"snpdiff/[\w/.]*", line)]
        if rooms:
            floors.append((name, sorted(rooms)))
    return floors


def test_the_readme_draws_the_floors_this_test_enforces():
    """The README's floor picture lists the same floors, top to bottom, with the same rooms."""
    expected = [(name, sorted(rooms)) for name, rooms in FLOORS]
    assert drawn_floors((ROOT / "README.md").read_text()) == expected


def test_no_import_loops():
    loops: dict[frozenset[str], str] = {}  # one line per loop, whichever of its modules it was found from
    for module in modules():
        chain = chain_to(module, lambda target, start=module: target == start)
        if chain is not None:
            loops.setdefault(frozenset(chain), " -> ".join(chain))
    assert not loops, "import loops:\n" + "\n".join(sorted(loops.values()))


def test_models_know_nothing_of_lightning_hydra_or_wandb():
    found = [f"{module} imports {', '.join(sorted(set(imports(module)[1]) & set(FORBIDDEN_IN_MODELS)))}"
             for module in modules() if module.startswith("snpdiff.models")
             and set(imports(module)[1]) & set(FORBIDDEN_IN_MODELS)]
    assert not found, "\n".join(found)


def test_the_package_never_imports_an_entry_point():
    found = [f"{module} imports {name}" for module in modules() for name in sorted(imports(module)[1])
             if name in ENTRY_POINTS]
    assert not found, "\n".join(found)
