"""``sweep.py analyze``: top-k trials on the sweep's own metric and goal, parameter importances, plots, and the best
trial written as a Hydra experiment (``conf/experiment/<name>.yaml``) that reproduces its config exactly.
``analysis_json``: the same as one JSON document for ``analyze --json`` (schema in docs/sweeps.md).

Works on ``TrialRecord``s, so both backends are analysed the same way (importances by Optuna's fANOVA on an
in-memory study built from the records).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from snpdiff.errors import SweepError
from snpdiff.sweep.backends.base import SweepBackend, TrialRecord
from snpdiff.sweep.bridge import config_groups, params_to_overrides
from snpdiff.sweep.monitor import sweep_json, trial_json
from snpdiff.sweep.spec import SweepSpec

ANALYSIS_DIR = "analysis"
# the plots analyze writes into ANALYSIS_DIR (docs/sweeps.md names them); PARAM_PLOT is formatted per parameter
HISTORY_PLOT = "history.png"
IMPORTANCES_PLOT = "importances.png"
PARAM_PLOT = "param_{name}.png"
# groups that conf/train.yaml lists after `experiment`: an experiment cannot select them (their content would
# land after the experiment's), so their effect is written out as values instead
_NOT_OVERRIDABLE = ("experiment", "debug", "local", "hydra")
# paths.output_dir is each run's own folder, not part of what a trial chose
_RUN_SPECIFIC_KEYS = ("paths.output_dir",)


@dataclass
class AnalysisResult:
    """What ``analyze`` found and wrote. ``top``: best trials first (finished and pruned ones with a value)."""

    top: list[TrialRecord]
    importances: dict[str, float]
    plots: list[Path] = field(default_factory=list)
    experiment_path: Path | None = None
    experiment_name: str | None = None
    best: TrialRecord | None = None
    notes: list[str] = field(default_factory=list)


def ranked_trials(records: list[TrialRecord], goal: str) -> list[TrialRecord]:
    """Trials with a value, best first (each trial's value is already its best over epochs)."""
    scored = [r for r in records if r.value is not None and math.isfinite(r.value) and r.state in ("finished",
                                                                                                     "pruned")]
    return sorted(scored, key=lambda r: r.value, reverse=goal == "maximize")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _param_label(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def param_importances(records: list[TrialRecord], spec: SweepSpec) -> dict[str, float]:
    """fANOVA importance (sums to 1) of each varying parameter for the metric, from the finished trials."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    finished = [r for r in records if r.state == "finished" and r.value is not None and math.isfinite(r.value)]
    distributions = {}
    for name in spec.varying_names():
        if any(name not in r.params for r in finished):
            continue  # a conditional parameter (some trials never had it): fANOVA needs it in every trial
        values = [r.params[name] for r in finished]
        if len({_param_label(v) for v in values}) < 2:
            continue
        if all(_is_number(v) for v in values):
            log = spec.parameters[name].distribution in ("log_uniform", "log_uniform_values", "q_log_uniform",
                                                         "q_log_uniform_values", "inv_log_uniform",
                                                         "inv_log_uniform_values", "log_normal", "q_log_normal")
            distributions[name] = FloatDistribution(min(values), max(values), log=log and min(values) > 0)
        else:
            distributions[name] = CategoricalDistribution(sorted({_param_label(v) for v in values}))
    if len(finished) < 2 or not distributions:
        return {}
    study = optuna.create_study(direction="maximize" if spec.goal == "maximize" else "minimize")
    for record in finished:
        params = {n: (float(record.params[n]) if isinstance(d, FloatDistribution) else _param_label(record.params[n]))
                  for n, d in distributions.items()}
        study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=record.value))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        return dict(optuna.importance.get_param_importances(study, evaluator=evaluator))


def make_plots(records: list[TrialRecord], spec: SweepSpec, importances: dict[str, float], out_dir: Path) -> list[Path]:
    """PNG files: optimisation history, importances, and the metric against each varying parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    scored = sorted((r for r in records if r.value is not None and r.state in ("finished", "pruned")),
                    key=lambda r: r.number)
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    numbers = [r.number for r in scored]
    values = [r.value for r in scored]
    pick = max if spec.goal == "maximize" else min
    best_so_far = [pick(values[: i + 1]) for i in range(len(values))]
    ax.scatter(numbers, values, label=spec.metric, s=18)
    ax.step(numbers, best_so_far, where="post", color="tab:red", label="best so far")
    ax.set(xlabel="trial", ylabel=spec.metric, title=f"optimisation history ({spec.goal})")
    ax.legend()
    paths.append(_save(fig, out_dir / HISTORY_PLOT))

    if importances:
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(importances) + 1.5))
        names = list(importances)[::-1]
        ax.barh(names, [importances[n] for n in names])
        ax.set(xlabel="importance (fANOVA)", title=f"parameter importances for {spec.metric}")
        paths.append(_save(fig, out_dir / IMPORTANCES_PLOT))

    for name in spec.varying_names():
        points = [(r.params.get(name), r.value) for r in scored if name in r.params]
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(6, 4))
        xs = [p[0] for p in points]
        if all(_is_number(x) for x in xs):
            ax.scatter(xs, [p[1] for p in points], s=18)
            low, high = min(xs), max(xs)
            if low > 0 and high / low > 20:
                ax.set_xscale("log")
        else:
            labels = sorted({_param_label(x) for x in xs})
            ax.scatter([labels.index(_param_label(x)) for x in xs], [p[1] for p in points], s=18)
            ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
        ax.set(xlabel=name, ylabel=spec.metric, title=f"{spec.metric} against {name}")
        paths.append(_save(fig, out_dir / PARAM_PLOT.format(name=name.lstrip("+").replace("/", "_"))))
    return paths


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def trial_overrides(record: TrialRecord, spec: SweepSpec) -> list[str]:
    """The Hydra overrides the trial ran with (``hydra.*`` ones left out): recorded, or rebuilt with the bridge."""
    overrides = record.overrides or [*spec.command_overrides(),
                                     *params_to_overrides(record.params, spec.command_overrides())]
    return [o for o in overrides if not o.lstrip("+~").startswith("hydra.")]


def group_choices(overrides: list[str]) -> dict[str, Any]:
    """The option of every config group after composing with ``overrides`` (Hydra's ``runtime.choices``)."""
    from hydra import compose, initialize_config_dir

    from snpdiff.config import CONF_DIR
    from snpdiff.config.schema import register_schemas

    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    return OmegaConf.to_container(cfg.hydra.runtime.choices)


def comparable(cfg: DictConfig) -> dict[str, Any]:
    """The config as unresolved containers, without what differs between any two runs (their output folders)."""
    data = OmegaConf.to_container(cfg, resolve=False)
    for key in _RUN_SPECIFIC_KEYS:
        *parents, last = key.split(".")
        node = data
        for part in parents:
            node = node.get(part, {})
        node.pop(last, None)
    return data


def _differences(trial: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """The leaves of ``trial`` that ``base`` lacks or holds with another value (mappings compared key by key)."""
    out = {}
    for key, value in trial.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            nested = _differences(value, base[key])
            if nested:
                out[key] = nested
        elif key not in base or base[key] != value or type(base[key]) is not type(value):
            out[key] = value
    return out


def _classes_set_by_value(values: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted keys of every ``_target_`` in ``values`` (config options chosen as such never land there)."""
    keys = []
    for key, value in values.items():
        if key == "_target_":
            keys.append(f"{prefix}{key}={value!r}")
        elif isinstance(value, dict):
            keys.extend(_classes_set_by_value(value, f"{prefix}{key}."))
    return keys


def experiment_text(overrides: list[str], header: str,
                    compose: Callable[[list[str]], DictConfig]) -> str:
    """A ``# @package _global_`` experiment that composes to the same config as ``overrides``."""
    chosen, default = group_choices(overrides), group_choices([])
    selectable = [g for g in config_groups() if g not in _NOT_OVERRIDABLE]
    changed = {g: chosen.get(g) for g in selectable if chosen.get(g) != default.get(g)}
    base = comparable(compose([f"{g}={'null' if o is None else o}" for g, o in changed.items()]))
    values = _differences(comparable(compose(overrides)), base)
    # the overrides come from the sweep's storage, which others may write: like a checkpoint, input, not code
    if classes := _classes_set_by_value(values):
        raise SweepError(f"the trial's overrides set {', '.join(classes)}: an experiment written from a sweep may "
                         "select config options and set plain values, never name a class by value")
    lines = ["# @package _global_", *(f"# {line}" for line in header.splitlines())]
    if changed:
        lines.append("defaults:")
        lines += [f"  - override /{g}: {'null' if o is None else o}" for g, o in changed.items()]
    # OmegaConf's dumper quotes strings its loader would read as numbers (e.g. "1e-3"), unlike PyYAML's
    body = OmegaConf.to_yaml(OmegaConf.create(values)) if values else ""
    return "\n".join(lines) + "\n" + body


def write_experiment(record: TrialRecord, backend: SweepBackend, name: str,
                     compose: Callable[[list[str]], DictConfig] | None = None) -> Path:
    """Write ``conf/experiment/<name>.yaml`` so that ``train.py experiment=<name>`` runs ``record``'s config."""
    from snpdiff.config import CONF_DIR, compose_config

    compose = compose or compose_config
    overrides = trial_overrides(record, backend.spec)
    spec = backend.spec
    header = (f"Best trial {record.number} of sweep {backend.info.path}: {spec.metric}={record.value:.6g} "
              f"({spec.goal}).\nWritten by `sweep.py analyze`; run it with: python train.py experiment={name}")
    text = experiment_text(overrides, header, compose)
    path = CONF_DIR / "experiment" / f"{name}.yaml"
    path.write_text(text)
    if comparable(compose([f"experiment={name}"])) != comparable(compose(overrides)):
        raise SweepError(f"{path} does not reproduce trial {record.number}'s config (a conf/local override?); "
                         f"its overrides: {' '.join(overrides)}")
    return path


def analyze_sweep(backend: SweepBackend, top_k: int = 10, out_dir: Path | None = None,
                  experiment_name: str | None = None, write_best: bool = True) -> AnalysisResult:
    """Rank, score importances, plot into ``out_dir`` (default ``<sweep>/analysis``) and write the best trial."""
    spec = backend.spec
    records = backend.trials()
    ranked = ranked_trials(records, spec.goal)
    result = AnalysisResult(top=ranked[:top_k], importances=param_importances(records, spec))
    result.notes += [f"trial {r.number} failed: {r.error}" for r in records
                     if r.state == "failed" and r.error and r.error.startswith("diverged")]
    if not ranked:
        result.notes.append(f"no trial has a value of {spec.metric} yet")
        return result
    result.plots = make_plots(records, spec, result.importances, out_dir or backend.info.directory / ANALYSIS_DIR)
    finished = [r for r in ranked if r.state == "finished"]
    result.best = finished[0] if finished else None
    if not result.importances:
        result.notes.append("importances need at least 2 finished trials with varying parameters")
    if write_best and result.best is not None:
        result.experiment_name = experiment_name or f"sweep_{backend.info.sweep_id}_best"
        result.experiment_path = write_experiment(result.best, backend, result.experiment_name)
    return result


def analysis_json(backend: SweepBackend, result: AnalysisResult) -> dict[str, Any]:
    """What ``analyze --json`` prints (docs/sweeps.md#json-output)."""
    return {
        "sweep": sweep_json(backend),
        "top": [trial_json(r) for r in result.top],
        "importances": result.importances,
        "plots": [str(path) for path in result.plots],
        "best": None if result.best is None else trial_json(result.best),
        "experiment": None if result.experiment_path is None else {"name": result.experiment_name,
                                                                    "path": str(result.experiment_path)},
        "notes": result.notes,
    }
