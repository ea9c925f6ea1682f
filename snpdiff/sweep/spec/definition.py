"""A parsed sweep (``SweepSpec``): W&B's sweep keys, and what the agents and backends read from them.

The spec is what ``init`` stores with the sweep (``to_dict``) and every later command loads: parameters under the
keys they set, in file order; the grid enumerated by number, never listed.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snpdiff.sweep.spec.params import ParamSpec

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
TOP_LEVEL_KEYS = (
    "method", "metric", "parameters", "early_terminate", "run_cap", "program", "command",
    "name", "description", "project", "entity", "controller", "count",
)
# The stored sweep's own key (``to_dict``): what W&B's spec cannot say (agents' default count, conditional parameters).
STORED_KEY = "snpdiff"
DEFAULT_PROGRAM = "train.py"
DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args_no_hyphens}")
# W&B's argument macros. For a Hydra program every one of them means "the trial's Hydra overrides", rendered by
# snpdiff.sweep.bridge (W&B's own rendering writes None as "None" and dicts in Python syntax, which Hydra rejects).
ARGS_MACROS = ("${args}", "${args_no_hyphens}", "${args_no_boolean_flags}")
# W&B's ${args_json}, ${args_json_file} and per-parameter macros have no Hydra form: refused with these listed.
OTHER_MACROS = ("${env}", "${interpreter}", "${program}")


def shown_command(command: Sequence[str], program: str) -> str:
    """What a trial of a sweep with ``command`` runs, for messages: ``python train.py <the trial's overrides>`` with
    the command's own tokens shell-quoted."""
    shown = {"${env}": "", "${interpreter}": "python", "${program}": program}
    tokens = (shown.get(t, "<the trial's overrides>" if t in ARGS_MACROS else shlex.quote(t)) for t in command)
    return " ".join(t for t in tokens if t)


@dataclass(frozen=True)
class Hyperband:
    """W&B ``early_terminate: {type: hyperband}``. Resources are epochs (the training reports once per epoch)."""

    eta: int = 3
    min_iter: int | None = None
    max_iter: int | None = None
    s: int | None = None
    strict: bool | None = None  # W&B's stricter brackets; kept for W&B, not applicable to Optuna's pruner

    def resource_bounds(self) -> tuple[int, int | str]:
        """``(min_resource, max_resource)`` in epochs; max is ``"auto"`` when only ``min_iter`` is given.

        W&B's brackets are ``min_iter * eta**k`` (k < s) or ``max_iter / eta**k`` (k <= s).
        """
        if self.max_iter is not None:
            return max(1, int(self.max_iter // self.eta ** (self.s or 0))), int(self.max_iter)
        if self.s is not None:
            return int(self.min_iter), int(self.min_iter * self.eta**self.s)
        return int(self.min_iter), "auto"


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file. ``parameters`` maps canonical names (Hydra keys or groups) to their specs, in file order."""

    method: str
    metric: str
    goal: str
    parameters: dict[str, ParamSpec]
    early_terminate: Hyperband | None = None
    run_cap: int | None = None
    program: str = DEFAULT_PROGRAM
    command: tuple[str, ...] = DEFAULT_COMMAND
    name: str | None = None
    description: str | None = None
    project: str | None = None
    entity: str | None = None
    metric_given: bool = True
    target: float | None = None  # metric.target: the sweep stops once a trial reaches it
    controller: dict[str, Any] | None = None  # W&B's controller, passed on unchanged
    count: int | None = None  # the agents' default --count (an old file's top-level count)
    # key -> {group: options}: a key that only some options of a swept group have is set only under those options
    # (found against the composed config by snpdiff.sweep.rules, then stored with the sweep)
    conditions: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)
    warnings: tuple[str, ...] = field(default=(), compare=False)  # accepted, but the user should know
    coerced: tuple[str, ...] = field(default=(), compare=False)  # numbers written as text, read as numbers

    def fixed_params(self) -> dict[str, Any]:
        return {name: p.value for name, p in self.parameters.items() if p.is_fixed}

    def varying_names(self) -> list[str]:
        return [name for name, p in self.parameters.items() if not p.is_fixed]

    def _grid_columns(self) -> list[tuple[str, Sequence[Any]]]:
        """Each parameter's grid values, in file order (an ``int_uniform`` as a range: never listed whole)."""
        return [(name, range(int(p.min), int(p.max) + 1) if p.distribution == "int_uniform" else p.finite_values())
                for name, p in self.parameters.items()]

    def grid_size(self) -> int:
        """How many points a grid sweep has: the product of its parameters' numbers of values."""
        return math.prod(len(values) for _, values in self._grid_columns())

    def grid_point(self, number: int) -> dict[str, Any]:
        """Point ``number`` (0-based, below ``grid_size()``) of a grid sweep, in W&B's order: that of
        ``itertools.product`` over the parameters in file order (the last varies fastest), computed from the number
        as a mixed-radix numeral, so no grid is ever listed."""
        point: dict[str, Any] = {}
        for name, values in reversed(self._grid_columns()):
            number, index = divmod(number, len(values))
            point[name] = values[index]
        return {name: point[name] for name in self.parameters}

    def command_overrides(self) -> list[str]:
        """Literal tokens after ``${program}`` in ``command``: Hydra overrides every trial gets."""
        tokens = list(self.command)
        start = tokens.index("${program}") + 1 if "${program}" in tokens else len(tokens)
        return [t for t in tokens[start:] if not (t.startswith("${") and t.endswith("}"))]

    def applies(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether parameter ``name`` applies with the group choices in ``params`` (see ``conditions``)."""
        return all(params.get(group) in options for group, options in self.conditions.get(name, {}).items())

    def applicable(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` without the conditional parameters that do not apply to its group choices."""
        return {name: value for name, value in params.items() if self.applies(name, params)}

    def to_wandb(self) -> dict[str, Any]:
        """The sweep as W&B's spec: every W&B key of the file, parameters under their canonical names."""
        out: dict[str, Any] = {
            "method": self.method,
            "metric": {"name": self.metric, "goal": self.goal,
                       **({"target": self.target} if self.target is not None else {})},
            "parameters": {name: p.to_wandb() for name, p in self.parameters.items()},
            "program": self.program,
            "command": list(self.command),
        }
        if self.early_terminate is not None:
            hb = self.early_terminate
            out["early_terminate"] = {
                "type": "hyperband",
                **{k: v for k, v in (("eta", hb.eta), ("min_iter", hb.min_iter), ("max_iter", hb.max_iter),
                                     ("s", hb.s), ("strict", hb.strict)) if v is not None},
            }
        for key in ("run_cap", "name", "description", "project", "entity", "controller"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The canonical sweep file (flattened, aliases resolved): what is stored with the sweep."""
        out = self.to_wandb()
        stored = {"count": self.count,
                  "conditions": {k: {g: list(o) for g, o in c.items()} for k, c in self.conditions.items()}}
        stored = {k: v for k, v in stored.items() if v}
        if stored:
            out[STORED_KEY] = stored
        return out
