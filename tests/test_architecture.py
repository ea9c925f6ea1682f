"""The package's arrows run one way (docs: Architecture). Read statically from the source with ``ast``: every
import counts, at module level or inside a function (a lazy import is still an arrow).

- no import loops between snpdiff modules;
- the training side (``snpdiff.training``, ``snpdiff.module``, ``snpdiff.config`` and all they import) never
  imports ``snpdiff.sweep``: sweeps stand on training and reach it only through the command line;
- ``snpdiff.models`` knows nothing of Lightning, Hydra (or OmegaConf) and W&B;
- ``snpdiff`` never imports the entry points.
"""

from __future__ import annotations

import ast
from collections import deque
from functools import cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "snpdiff"
TRAINING_SIDE = ("snpdiff.training", "snpdiff.module", "snpdiff.config")
FORBIDDEN_IN_MODELS = ("lightning", "pytorch_lightning", "hydra", "omegaconf", "wandb")
ENTRY_POINTS = ("train", "sweep", "generate", "evaluate")


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


def test_the_walker_sees_lazy_imports_and_resolves_submodules():
    """The walker itself, on modules whose imports are known: a sanity check that the rules below can fail."""
    assert len(modules()) > 20 and "snpdiff.sweep.backends" in modules()
    assert "snpdiff.sweep.backends.local" in imports("snpdiff.sweep.backends")[0]  # inside backend_class
    assert "snpdiff.run_folder" in imports("snpdiff.sweep.trial")[0]
    assert "wandb" in imports("snpdiff.training")[1]  # imported inside a function


def test_no_import_loops():
    loops: dict[frozenset[str], str] = {}  # one line per loop, whichever of its modules it was found from
    for module in modules():
        chain = chain_to(module, lambda target, start=module: target == start)
        if chain is not None:
            loops.setdefault(frozenset(chain), " -> ".join(chain))
    assert not loops, "import loops:\n" + "\n".join(sorted(loops.values()))


def test_training_never_imports_the_sweep_package():
    in_sweep = lambda module: module == "snpdiff.sweep" or module.startswith("snpdiff.sweep.")  # noqa: E731
    found = [" -> ".join(chain) for chain in (chain_to(root, in_sweep) for root in TRAINING_SIDE) if chain]
    assert not found, "training reaches snpdiff.sweep:\n" + "\n".join(found)


def test_models_know_nothing_of_lightning_hydra_or_wandb():
    found = [f"{module} imports {', '.join(sorted(set(imports(module)[1]) & set(FORBIDDEN_IN_MODELS)))}"
             for module in modules() if module.startswith("snpdiff.models")
             and set(imports(module)[1]) & set(FORBIDDEN_IN_MODELS)]
    assert not found, "\n".join(found)


def test_the_package_never_imports_an_entry_point():
    found = [f"{module} imports {name}" for module in modules() for name in sorted(imports(module)[1])
             if name in ENTRY_POINTS]
    assert not found, "\n".join(found)
