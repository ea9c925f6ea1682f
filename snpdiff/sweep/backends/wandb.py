"""The W&B backend: ``wandb.sweep`` creates the sweep, W&B's agent runs it, W&B's public API lists its runs.

The sweep sent to W&B runs ``python -m snpdiff.sweep.trial`` instead of ``train.py ${args_no_hyphens}``: that entry
point reads the run's parameters from ``WANDB_SWEEP_PARAM_PATH`` and renders them with the bridge, because W&B's
own rendering (``None`` as "None", dicts in Python syntax) is not Hydra's grammar.

Credentials come from ``WANDB_API_KEY`` or ``wandb login`` (~/.netrc); none means a SweepError, never a prompt, and
the key is never written anywhere by snpdiff.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from snpdiff.errors import SweepError
from snpdiff.loggers import wandb_credentials_source
from snpdiff.sweep.backends.base import AgentOptions, AgentReport, SweepBackend, TrialRecord
from snpdiff.sweep.spec import SweepSpec, load_sweep
from snpdiff.sweep.store import SPEC_FILE, SWEEPS_DIR_ENV, SweepInfo
from snpdiff.sweep.trial import best_value

TRIAL_COMMAND = ["${env}", "${interpreter}", "-m", "snpdiff.sweep.trial"]
NO_CREDENTIALS = (
    "the W&B backend needs W&B credentials, and none were found. Provide them in one of two ways: "
    "set WANDB_API_KEY in the environment (batch jobs: export it in the job, never in a file), or run "
    "`wandb login` once (it stores the key in ~/.netrc). Or run the sweep without W&B: --backend local"
)
_STATES = {"running": "running", "pending": "running", "finished": "finished", "crashed": "failed",
           "failed": "failed", "killed": "interrupted", "preempted": "interrupted"}


def require_credentials() -> None:
    if wandb_credentials_source() is None:
        raise SweepError(NO_CREDENTIALS)


def wandb_sweep_config(spec: SweepSpec) -> dict[str, Any]:
    """The sweep as W&B receives it: canonical parameter names, and the bridge's trial entry point as command."""
    config = spec.to_wandb()
    config["command"] = TRIAL_COMMAND
    return config


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class WandbBackend(SweepBackend):
    """Sweeps on the W&B server. ``api`` (a ``wandb.Api``) is made on first use."""

    name = "wandb"

    def __init__(self, info: SweepInfo, spec: SweepSpec | None = None, api: Any = None):
        self._api = api
        if spec is None:
            spec = self._local_definition(info)
        super().__init__(info, spec)

    @property
    def api(self) -> Any:
        if self._api is None:
            require_credentials()
            import wandb

            self._api = wandb.Api()
        return self._api

    def _sweep_path(self, info: SweepInfo | None = None) -> str:
        info = info or self.info
        return "/".join(p for p in (info.entity, info.project, info.sweep_id) if p)

    def _local_definition(self, info: SweepInfo) -> SweepSpec:
        """The sweep's definition, from its folder, or fetched from W&B and written there for the trial processes."""
        path = info.directory / SPEC_FILE
        if path.is_file():
            return load_sweep(yaml.safe_load(path.read_text()))
        sweep = self.api.sweep(self._sweep_path(info))
        spec = load_sweep(dict(sweep.config))
        info.url = info.url or getattr(sweep, "url", None)
        info.save(spec, info.directory.parent)
        return spec

    @classmethod
    def check_available(cls) -> None:
        require_credentials()

    @classmethod
    def create(cls, spec: SweepSpec, root: Path, project: str | None = None, entity: str | None = None,
               **_: Any) -> SweepInfo:
        require_credentials()
        import wandb

        project = project or spec.project or "snpdiff"
        entity = entity or spec.entity
        sweep_id = wandb.sweep(wandb_sweep_config(spec), project=project, entity=entity)
        entity = entity or wandb.Api().default_entity
        return SweepInfo(sweep_id=sweep_id, backend=cls.name, sweep_dir=str(root / sweep_id), project=project,
                         entity=entity, url=f"https://wandb.ai/{entity}/{project}/sweeps/{sweep_id}")

    def run_agent(self, options: AgentOptions) -> AgentReport:
        """W&B's own agent: it asks the server for runs and starts each one's command in a subprocess."""
        require_credentials()
        import wandb

        os.environ[SWEEPS_DIR_ENV] = str(self.info.directory.parent)  # where the trial entry point looks
        wandb.agent(self.info.sweep_id, entity=self.info.entity, project=self.info.project, count=options.count,
                    forward_signals=True, max_consecutive_failed_runs=options.max_consecutive_failures)
        return AgentReport(stopped_by="done")

    def _value(self, run: Any) -> float | None:
        """Best value of the metric over the run's history (not the last), else its summary value."""
        metric = self.spec.metric
        values = [row.get(metric) for row in run.scan_history(keys=[metric])]
        return best_value([*values, run.summary.get(metric)], self.spec.goal)

    def trials(self) -> list[TrialRecord]:
        runs = sorted(self.api.sweep(self._sweep_path()).runs, key=lambda r: str(getattr(r, "created_at", "")))
        records = []
        for number, run in enumerate(runs):
            started = _parse_time(getattr(run, "created_at", None))
            runtime = run.summary.get("_runtime")
            finished = None
            if started is not None and isinstance(runtime, (int, float)) and run.state != "running":
                finished = datetime.fromtimestamp(started.timestamp() + runtime, started.tzinfo)
            records.append(TrialRecord(
                number=number,
                state=_STATES.get(run.state, run.state),
                value=self._value(run),
                params={name: run.config.get(name) for name in self.spec.parameters},
                started=started,
                finished=finished,
                run_id=run.id,
                run_dir=str(self.info.trial_dir(run.id)),
            ))
        return records

    def state(self) -> str:
        return str(self.api.sweep(self._sweep_path()).state).lower()
