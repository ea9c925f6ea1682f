"""The local backend: W&B sweep semantics on Optuna, with no account and no server.

One Optuna study per sweep (named by the sweep id) in a storage that several agents share: by default
``sqlite:///<sweep folder>/optuna.db``; ``--storage`` takes any URL Optuna accepts (``postgresql://...``) or a journal
file (``journal:/shared/path.log`` or a path ending in ``.log``/``.journal``), for clusters whose shared filesystem
dislikes SQLite. The sweep file is stored in the study, so an agent needs only the storage and the sweep id.

How W&B's semantics map onto Optuna:

============================  ==========================================================================
W&B                           local backend
============================  ==========================================================================
method: grid                  every combination once, in W&B's order: trial number n runs grid point n
                              (trial numbers are handed out atomically by the storage, so agents never
                              run a point twice); agents stop when the grid is exhausted
method: random                ``RandomSampler``
method: bayes                 ``TPESampler`` (model-based; ``constant_liar`` for parallel agents)
values / value                ``CategoricalDistribution`` / a fixed value (lists and dicts as JSON text)
int_uniform                   ``IntDistribution(min, max)``
uniform, q_uniform            ``FloatDistribution(min, max)``; q_*: rounded to q (an int when q is)
log_uniform_values            ``FloatDistribution(min, max, log=True)``; ``log_uniform``: bounds exp(min),
                              exp(max); ``inv_log_uniform(_values)``: the same log-uniform bounds
normal, log_normal (+ q_*)    the normal quantile u in (0, 1) is sampled (``FloatDistribution``), the value
                              is mu + sigma * Phi^-1(u) (exp of it for log_normal): exactly normal under
                              random search, a monotone re-scaling for TPE; tails beyond ~5 sigma are cut
metric.goal                   study direction (minimize / maximize)
early_terminate: hyperband    ``HyperbandPruner``: min_iter -> min_resource, max_iter -> max_resource,
                              eta -> reduction_factor (resource = epochs), fed every epoch by the trial
run_cap                       trial number >= run_cap is never run, across all agents
============================  ==========================================================================

A trial's value is the best value of the metric over its epochs. Stale trials are Optuna's: agents record a running
trial's heartbeat in the storage (``record_heartbeat``) and every agent and monitor that looks has Optuna fail the
trials silent for longer than the grace period (``optuna.storages.fail_stale_trials``; see ``fail_stale_trials``
for how the grace period is chosen). Optuna keeps heartbeats in RDB storages only; a journal file gets them through
``JournalHeartbeatStorage``, Optuna's heartbeat interface on a journal. Our own part is SLURM's requeue: a trial
awaiting the requeue of its job (``await_requeue``) is kept alive while the job is queued, and the job's next start
resumes it (``reattach``).

Agents run ``snpdiff.sweep.agent.loop.run_trial_loop`` on this backend. With ``early_terminate`` each trial gets a
reporter callback (``snpdiff.sweep.reporter.SweepTrialReporter``, named by ``REPORTER_TARGET``) through its command
line, which sends its agent the metric every epoch over a socket pair; the agent feeds the pruner (``report``) and
answers whether to stop. Without a pruner the agent reads the trial's value from its ``metrics.json``.
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import secrets
import shutil
import socket
import string
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from snpdiff.compat import optuna_heartbeat_base
from snpdiff.errors import StorageFault, SweepError
from snpdiff.secrets import redact_text, redact_url
from snpdiff.sweep.agent.interface import DEFAULT_HEARTBEAT_INTERVAL_S, AgentOptions, AgentReport, ClaimedTrial
from snpdiff.sweep.agent.loop import run_trial_loop
from snpdiff.sweep.agent.trial import agent_say
from snpdiff.sweep.backends.base import SweepBackend, TrialRecord
from snpdiff.sweep.backends.damaged import check_journal_end, damaged_journal, is_sqlite_damage, sqlite_recovery
from snpdiff.sweep.spec import NORMAL_FAMILY, NORMAL_QUANTILE_BOUNDS, ParamSpec, SweepSpec, load_sweep, quantize
from snpdiff.sweep.store import SweepInfo, storage_url

SPEC_ATTR = "snpdiff_spec"
# trial user attributes
PARAMS_ATTR = "snpdiff_params"
OVERRIDES_ATTR = "snpdiff_overrides"
STATE_ATTR = "snpdiff_state"
ERROR_ATTR = "snpdiff_error"
RUN_DIR_ATTR = "snpdiff_run_dir"
AGENT_ATTR = "snpdiff_agent"
PRUNED_ATTR = "snpdiff_pruned_epoch"
JOB_ATTR = "snpdiff_slurm_job"  # the SLURM job (SLURM_JOB_ID) whose agent claimed the trial
AWAITING_REQUEUE_ATTR = "snpdiff_awaiting_requeue"  # set while the trial waits for its requeued job to come back
DISCARDED = "discarded"  # a trial number beyond run_cap or the grid: created by the race, never run
# trial system attribute: the seconds between the heartbeats of the trial's agent (``--heartbeat-interval``)
HEARTBEAT_INTERVAL_ATTR = "snpdiff_heartbeat_interval"
JOURNAL_HEARTBEAT_ATTR = "snpdiff_heartbeat"  # trial system attribute: a journal's last heartbeat (time.time())
# a running trial silent for longer than this many heartbeat intervals is failed (see ``fail_stale_trials``)
STALE_AFTER_INTERVALS = 3.0
# squeue's states of a job that may still run (a requeued job is PENDING until it starts again)
QUEUED_JOB_STATES = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING", "COMPLETING",
                     "SUSPENDED", "RESIZING", "STAGE_OUT", "SIGNALING")
SQLITE_TIMEOUT_S = 60
# the in-training reporter, as a string: the agent must not import Lightning to name it
REPORTER_TARGET = "snpdiff.sweep.reporter.SweepTrialReporter"

optuna.logging.set_verbosity(optuna.logging.WARNING)
T = TypeVar("T")


@contextmanager
def _quiet_heartbeats() -> Iterator[None]:
    """Silence what Optuna says about its heartbeats: they are experimental (``ExperimentalWarning``) and meant for
    ``Study.optimize`` (a ``UserWarning`` from ``ask``). Our agents keep the same contract without ``optimize``: each
    beats for the trial it runs as a process, as ``optimize``'s heartbeat thread beats for its objective."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
        yield


def new_sweep_id(root: Path) -> str:
    """A fresh 8-character id (W&B's style) that no folder under ``root`` has yet."""
    while True:
        sweep_id = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))
        if not (root / sweep_id).exists():
            return sweep_id


def default_storage(sweep_dir: Path) -> str:
    return f"sqlite:///{Path(sweep_dir).resolve() / 'optuna.db'}"


class JournalHeartbeatStorage(optuna.storages.JournalStorage, optuna_heartbeat_base()):
    """A journal file with Optuna's heartbeat interface, which Optuna implements for RDB storages only: a heartbeat
    is a trial system attribute holding the agent's wall-clock time, and a running trial whose last heartbeat is
    older than ``grace_period`` seconds is stale (``optuna.storages.fail_stale_trials`` then fails it). Journals
    serve clusters whose shared filesystem dislikes SQLite, where a lost node is the case heartbeats are for; unlike
    an RDB storage, whose database stamps the time, the agents' clocks must agree to well within the grace period
    (as NTP keeps them)."""

    def __init__(self, backend: Any, heartbeat_interval: int, grace_period: int | None = None):
        super().__init__(backend)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period or 2 * heartbeat_interval

    def record_heartbeat(self, trial_id: int) -> None:
        self.set_trial_system_attr(trial_id, JOURNAL_HEARTBEAT_ATTR, time.time())

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        oldest = time.time() - self.grace_period
        running = self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,))
        return [self.get_trial_id_from_study_id_trial_number(study_id, trial.number) for trial in running
                if trial.system_attrs.get(JOURNAL_HEARTBEAT_ATTR, math.inf) < oldest]

    def get_heartbeat_interval(self) -> int:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> None:
        return None

    def get_failed_trial_callback(self) -> None:  # the same, by its name before Optuna 4.9
        return None


def open_storage(url: str) -> BaseStorage:
    """An Optuna storage for ``url``: an RDB URL, ``journal:<path>``, or a path ending in ``.log``/``.journal``;
    heartbeats on in both (``fail_stale_trials``)."""
    if url.startswith("journal:") or ("://" not in url and url.endswith((".log", ".journal"))):
        path = Path(url.removeprefix("journal:")).expanduser().resolve()
        path.parent.mkdir(parents=True, exist_ok=True)
        return _open_journal(path)
    if "://" not in url:
        raise SweepError(f"--storage {url!r}: give an Optuna URL (sqlite:///path.db, postgresql://...) or a journal "
                         "file (journal:/path.log or a path ending in .log)")
    engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else None
    try:
        # heartbeats on; the interval is only Optuna's beat for ``Study.optimize``, which no agent calls: each agent
        # beats at its own ``--heartbeat-interval``, and each stale check sets the grace period (``fail_stale_trials``)
        with _quiet_heartbeats():
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs,
                                              heartbeat_interval=math.ceil(DEFAULT_HEARTBEAT_INTERVAL_S))
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy/driver errors: one clear message, without the password
        reason = _fault_reason(exc)
        if hint := _damage_hint(url, reason):  # an SQLite file holds no password
            raise SweepError(f"sweep storage {storage_place(url)}: {reason}{hint}") from None
        raise SweepError(f"cannot open Optuna storage {redact_url(url)!r}: {redact_text(str(exc), url)}") from None


def _open_journal(path: Path) -> JournalHeartbeatStorage:
    """The journal file at ``path`` (created when missing), heartbeats on; a SweepError naming it, where it is damaged
    and how to recover when Optuna cannot read it whole (``snpdiff.sweep.backends.damaged``)."""
    from optuna.storages.journal import JournalFileBackend

    backend = JournalFileBackend(str(path))
    check_journal_end(path)
    try:
        return JournalHeartbeatStorage(backend, math.ceil(DEFAULT_HEARTBEAT_INTERVAL_S))
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - Optuna's replay of a damaged record: JSON, format or lookup errors
        raise damaged_journal(path, exc) from None


def storage_place(url: str) -> str:
    """Where a storage lives, for messages: an SQLite or journal file's path, else the URL without its password."""
    if url.startswith("sqlite:///"):
        return url.removeprefix("sqlite:///")
    if url.startswith("journal:") or ("://" not in url and url.endswith((".log", ".journal"))):
        return url.removeprefix("journal:")
    return redact_url(url)


def _fault_reason(exc: BaseException) -> str:
    """What went wrong, in a few words: "no space left on device" for a full disk (SQLite's "database or disk is
    full", ENOSPC from a journal file), else the first line of the deepest cause (Optuna wraps the driver's error)."""
    chain = [exc]
    while chain[-1].__cause__ is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__)
    if any(getattr(e, "errno", None) == errno.ENOSPC or "disk is full" in str(e) for e in chain):
        return "no space left on device"
    lines = str(chain[-1]).strip().splitlines()
    return lines[0] if lines else type(chain[-1]).__name__


def _damage_hint(url: str, reason: str) -> str:
    """How to recover an SQLite storage that SQLite cannot read (``reason``: what it said); "" for anything else."""
    if url.startswith("sqlite") and is_sqlite_damage(reason):
        return f"; {sqlite_recovery(storage_place(url))}"
    return ""


@contextmanager
def storage_faults(url: str) -> Iterator[None]:
    """Turn the storage's errors inside the block (Optuna's ``StorageInternalError``, SQLAlchemy's, a journal file's
    ``OSError``) into one ``StorageFault``: ``sweep storage <where>: no space left on device ...``, or for an SQLite
    file that SQLite cannot read, how to recover it."""
    import sqlalchemy.exc

    try:
        yield
    except (optuna.exceptions.StorageInternalError, sqlalchemy.exc.SQLAlchemyError, OSError) as exc:
        reason = redact_text(_fault_reason(exc), url)
        hint = _damage_hint(url, reason)
        if reason == "no space left on device":
            hint = ("; free space there: the trial this agent ran is then failed by the next agent or `sweep.py "
                    "monitor` that looks (its heartbeats stopped)")
        raise StorageFault(f"sweep storage {storage_place(url)}: {reason}{hint}") from None


def _storage_call(method: Callable[..., T]) -> Callable[..., T]:
    """A ``LocalBackend`` method whose storage errors become one ``StorageFault`` (``storage_faults``)."""

    @functools.wraps(method)
    def call(self: LocalBackend, *args: Any, **kwargs: Any) -> T:
        with storage_faults(self.info.storage or ""):
            return method(self, *args, **kwargs)

    return call


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def optuna_name(param: ParamSpec) -> str:
    """The Optuna parameter name: the canonical name, or ``<name>:quantile`` for the normal family."""
    return f"{param.name}:quantile" if param.distribution in NORMAL_FAMILY else param.name


def optuna_distribution(param: ParamSpec, grid: bool = False) -> BaseDistribution:
    """The Optuna distribution that samples ``param`` (grid search: a categorical of its finite values)."""
    if grid or param.distribution == "categorical":
        values = param.finite_values()
        if all(_is_plain(v) for v in values):
            return CategoricalDistribution(values)
        return CategoricalDistribution([json.dumps(v) for v in values])
    if param.distribution == "int_uniform":
        return IntDistribution(int(param.min), int(param.max))
    if param.distribution in NORMAL_FAMILY:
        return FloatDistribution(*NORMAL_QUANTILE_BOUNDS)
    low, high, log = param.sample_range()
    return FloatDistribution(low, high, log=log)


def decode(param: ParamSpec, sampled: Any, grid: bool = False) -> Any:
    """The parameter's value from what Optuna sampled (JSON text decoded, quantile mapped, q rounding applied)."""
    if grid or param.distribution == "categorical":
        values = param.finite_values()
        return sampled if all(_is_plain(v) for v in values) else json.loads(sampled)
    if param.distribution == "int_uniform":
        return int(sampled)
    if param.distribution in NORMAL_FAMILY:
        return param.from_unit(sampled)
    return quantize(sampled, param.q) if param.distribution.startswith("q_") else float(sampled)


def suggest(trial: optuna.Trial, name: str, distribution: BaseDistribution) -> Any:
    """Ask ``trial`` for ``name`` from ``distribution`` (through the sampler, as the public suggest API does)."""
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)


class _GridByTrialNumber(optuna.samplers.BaseSampler):
    """Grid point ``trial.number`` for every parameter: no two trials (of any agent) get the same point. Each point is
    computed from its number (``SweepSpec.grid_point``): a grid of millions of points is never listed."""

    def __init__(self, spec: SweepSpec):
        self.spec = spec
        self.as_json = {name: not all(_is_plain(v) for v in p.finite_values()) for name, p in spec.parameters.items()
                        if p.distribution == "categorical"}

    def infer_relative_search_space(self, study: optuna.Study, trial: FrozenTrial) -> dict[str, BaseDistribution]:
        return {}

    def sample_relative(self, study: optuna.Study, trial: FrozenTrial, search_space: dict) -> dict[str, Any]:
        return {}

    def sample_independent(
        self, study: optuna.Study, trial: FrozenTrial, param_name: str, param_distribution: BaseDistribution
    ) -> Any:
        value = self.spec.grid_point(trial.number)[param_name]
        return json.dumps(value) if self.as_json.get(param_name) else value


def make_sampler(spec: SweepSpec) -> optuna.samplers.BaseSampler:
    if spec.method == "grid":
        return _GridByTrialNumber(spec)
    if spec.method == "random":
        return optuna.samplers.RandomSampler()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(constant_liar=True)


def make_pruner(spec: SweepSpec) -> optuna.pruners.BasePruner:
    if spec.early_terminate is None:
        return optuna.pruners.NopPruner()
    min_resource, max_resource = spec.early_terminate.resource_bounds()
    return optuna.pruners.HyperbandPruner(min_resource, max_resource, spec.early_terminate.eta)


def load_study(storage: BaseStorage, sweep_id: str, place: str) -> tuple[optuna.Study, SweepSpec]:
    """The sweep's study, with the sampler and pruner its sweep file asks for, and the sweep itself (``place``: where
    the storage is, for messages)."""
    try:
        study_id = storage.get_study_id_from_name(sweep_id)
    except KeyError:
        raise SweepError(f"no local sweep {sweep_id!r} in the Optuna storage {place}; was it created there with "
                         "`sweep.py init`, or was that storage replaced or emptied since (then restore it from a "
                         "backup)?") from None
    stored = storage.get_study_user_attrs(study_id).get(SPEC_ATTR)
    if stored is None:  # ``init`` records it right after the study: a storage cut short between the two
        raise SweepError(f"sweep storage {place} holds sweep {sweep_id!r} without its definition ({SPEC_ATTR}): the "
                         "storage was cut short or damaged; restore it from a backup, or create the sweep again with "
                         "`sweep.py init`")
    spec = load_sweep(stored)
    study = optuna.load_study(study_name=sweep_id, storage=storage, sampler=make_sampler(spec),
                              pruner=make_pruner(spec))
    return study, spec


def _job_queued(job_id: str | None) -> bool:
    """Whether SLURM job ``job_id`` may still run (pending after a requeue, or running); True where ``squeue`` is
    missing or does not answer (then only an agent on the cluster can tell)."""
    if not job_id:
        return False
    try:
        done = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return True
    if done.returncode != 0:
        return "Invalid job id" not in done.stderr  # an unknown (long ended) job; other errors: cannot tell
    return any(state in QUEUED_JOB_STATES for state in done.stdout.split())


class LocalBackend(SweepBackend):
    """Sweeps on Optuna (see the module docstring for the mapping of W&B's semantics)."""

    name = "local"

    def __init__(self, info: SweepInfo, spec: SweepSpec | None = None):
        if not info.storage:
            raise SweepError(f"local sweep {info.sweep_id}: its record has no storage")
        self.storage = open_storage(storage_url(info.storage))
        with storage_faults(info.storage):
            self.study, stored_spec = load_study(self.storage, info.sweep_id, storage_place(info.storage))
            self.study_id = self.storage.get_study_id_from_name(info.sweep_id)
        super().__init__(info, spec or stored_spec)

    @classmethod
    def create(cls, spec: SweepSpec, root: Path, storage: str | None = None, **options: Any) -> SweepInfo:
        """A new study in ``storage`` (default: SQLite in the new sweep folder ``root/<id>``); the record keeps the
        URL with its password redacted."""
        sweep_id = new_sweep_id(root)
        sweep_dir = root / sweep_id
        storage = storage or default_storage(sweep_dir)
        info = SweepInfo(sweep_id=sweep_id, backend=cls.name, sweep_dir=str(sweep_dir),
                         project=options.get("project") or spec.project, entity=options.get("entity") or spec.entity,
                         storage=redact_url(storage))
        info.directory.mkdir(parents=True)
        direction = "maximize" if spec.goal == "maximize" else "minimize"
        try:
            with storage_faults(storage):
                study = optuna.create_study(study_name=info.sweep_id, storage=open_storage(storage),
                                            direction=direction)
                study.set_user_attr(SPEC_ATTR, spec.to_dict())
        except BaseException:
            shutil.rmtree(info.directory, ignore_errors=True)  # a failed init leaves nothing behind
            raise
        return info

    # --- the agent's side -------------------------------------------------------------------------------------
    def run_agent(self, options: AgentOptions) -> AgentReport:
        return run_trial_loop(self, options)

    def _live_trials(self) -> list[FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get(STATE_ATTR) != DISCARDED]

    def remaining(self) -> int | None:
        """Trials still to start across all agents (None: unbounded)."""
        capacity = self.capacity()
        return None if capacity is None else max(0, capacity - len(self._live_trials()))

    @_storage_call
    def claim(self, heartbeat_interval_s: float) -> ClaimedTrial | None:
        """Start the next trial, or None when the grid or ``run_cap`` is used up (checked atomically by number)."""
        self.fail_stale_trials()
        if self.remaining() == 0 or self.target_reached():
            return None
        with _quiet_heartbeats():
            trial = self.study.ask()
        capacity = self.capacity()
        if capacity is not None and trial.number >= capacity:  # another agent took the last one meanwhile
            trial.set_user_attr(STATE_ATTR, DISCARDED)
            self.study.tell(trial, state=TrialState.FAIL)
            return None
        trial_id = self.trial_id(trial.number)
        self._start_beating(trial_id, heartbeat_interval_s)
        grid = self.spec.method == "grid"
        params = {}
        # group choices first: a conditional parameter is sampled only where it applies (grid: every point's value
        # is fixed by its number, and the inapplicable ones are dropped)
        order = sorted(self.spec.parameters.items(), key=lambda item: item[0] in self.spec.conditions)
        for name, param in order:
            if not grid and not self.spec.applies(name, params):
                continue
            if param.is_fixed:
                params[name] = param.value
            else:
                sampled = suggest(trial, optuna_name(param), optuna_distribution(param, grid))
                params[name] = decode(param, sampled, grid)
        params = self.spec.applicable({name: params[name] for name in self.spec.parameters if name in params})
        run_dir = self.info.trial_dir(trial.number)
        trial.set_user_attr(PARAMS_ATTR, params)
        trial.set_user_attr(RUN_DIR_ATTR, str(run_dir))
        trial.set_user_attr(AGENT_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        if os.environ.get("SLURM_JOB_ID"):  # a requeued job finds its trial again by this (see ``reattach``)
            trial.set_user_attr(JOB_ATTR, os.environ["SLURM_JOB_ID"])
        return ClaimedTrial(trial.number, trial_id, params, run_dir, self.reporter(trial.number))

    @_storage_call
    def await_requeue(self, trial: ClaimedTrial, job_id: str) -> None:
        """Leave ``trial`` running for job ``job_id``, which SLURM is about to requeue: no stale check fails it while
        the job is queued, and the job's next start resumes it (``reattach``)."""
        self.storage.set_trial_user_attr(trial.trial_id, AWAITING_REQUEUE_ATTR, f"awaiting requeue of job {job_id}")

    @_storage_call
    def reattach(self, job_id: str, heartbeat_interval_s: float) -> ClaimedTrial | None:
        """The trial that job ``job_id`` was running when SLURM requeued it (None: none still running), claimed again
        by this agent with fresh heartbeats."""
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.user_attrs.get(JOB_ATTR) != job_id or RUN_DIR_ATTR not in trial.user_attrs:
                continue
            trial_id = self.trial_id(trial.number)
            self._start_beating(trial_id, heartbeat_interval_s)
            self.storage.set_trial_user_attr(trial_id, AWAITING_REQUEUE_ATTR, None)
            self.storage.set_trial_user_attr(trial_id, AGENT_ATTR, f"{socket.gethostname()}:{os.getpid()}")
            params = dict(trial.user_attrs.get(PARAMS_ATTR, {}))
            return ClaimedTrial(trial.number, trial_id, params, Path(trial.user_attrs[RUN_DIR_ATTR]),
                                self.reporter(trial.number))
        return None

    @_storage_call
    def trials_of_job(self, job_id: str) -> list[int]:
        """Numbers of the trials that job ``job_id``'s agent claimed, over all its runs (requeues included)."""
        return [t.number for t in self.study.get_trials(deepcopy=False) if t.user_attrs.get(JOB_ATTR) == job_id]

    def target_reached(self) -> bool:
        """Whether a trial has reached ``metric.target`` (then the sweep is done: agents claim no more trials)."""
        target = self.spec.target
        if target is None:
            return False
        values = [r.value for r in self.trials() if r.state == "finished" and r.value is not None]
        reached = [v for v in values if (v >= target if self.spec.goal == "maximize" else v <= target)]
        if reached:
            print(f"sweep {self.info.sweep_id}: metric.target {target} reached ({self.spec.metric}="
                  f"{reached[0]:.6g}); no more trials", flush=True)
        return bool(reached)

    def reporter(self, number: int) -> dict[str, Any] | None:
        """The callback node that sends trial ``number``'s values to its agent, which reports them to the pruner
        (``report``); None: no pruner listens."""
        if self.spec.early_terminate is None:
            return None
        return {"_target_": REPORTER_TARGET, "metric": self.spec.metric}

    @_storage_call
    def report(self, trial: ClaimedTrial, epoch: int, value: float) -> bool:
        """Give the pruner ``trial``'s ``value`` after ``epoch`` epochs; True when the trial should stop: pruned
        (recorded, so ``finish`` records it as pruned) or no longer running (failed meanwhile by a stale check)."""
        running = optuna.Trial(self.study, trial.trial_id)
        try:
            running.report(value, epoch)
            if not running.should_prune():
                return False
            self.storage.set_trial_user_attr(trial.trial_id, PRUNED_ATTR, epoch)
            agent_say(f"trial {trial.number} pruned after epoch {epoch} ({self.spec.metric}={value:.6g})")
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError) as exc:
            agent_say(f"trial {trial.number} is no longer running ({exc}); stopping it")
        return True

    def trial_id(self, number: int) -> int:
        """The storage's id of trial ``number`` of this sweep."""
        return self.storage.get_trial_id_from_study_id_trial_number(self.study_id, number)

    def _start_beating(self, trial_id: int, heartbeat_interval_s: float) -> None:
        """Record the interval the trial's agent beats at (the stale check's grace period covers it) and its first
        heartbeat: Optuna never judges a trial that has none."""
        self.storage.set_trial_system_attr(trial_id, HEARTBEAT_INTERVAL_ATTR, heartbeat_interval_s)
        self.storage.record_heartbeat(trial_id)

    @_storage_call
    def heartbeat(self, trial: ClaimedTrial) -> None:
        self.storage.record_heartbeat(trial.trial_id)

    @_storage_call
    def record_overrides(self, trial: ClaimedTrial, overrides: list[str]) -> None:
        self.storage.set_trial_user_attr(trial.trial_id, OVERRIDES_ATTR, overrides)

    @_storage_call
    def finish(self, trial: ClaimedTrial, state: str, value: float | None = None, error: str | None = None) -> str:
        """Record the outcome (``finished``/``pruned``/``failed``/``interrupted``); returns the state recorded."""
        frozen = self.storage.get_trial(trial.trial_id)
        if frozen.state.is_finished():  # failed meanwhile by another agent's stale check
            return self._state_of(frozen)
        if state == "finished" and frozen.user_attrs.get(PRUNED_ATTR) is not None:
            state = "pruned"
        self.storage.set_trial_user_attr(trial.trial_id, STATE_ATTR, state)
        if error:
            self.storage.set_trial_user_attr(trial.trial_id, ERROR_ATTR, error)
        if state == "finished" and value is not None:
            self.study.tell(trial.number, value)
        elif state == "pruned":
            self.study.tell(trial.number, state=TrialState.PRUNED)
        else:
            self.study.tell(trial.number, state=TrialState.FAIL)
        return state

    @_storage_call
    def fail_stale_trials(self) -> None:
        """Have Optuna fail every running trial whose agent stopped sending heartbeats (killed, node lost).

        Optuna judges all trials by one grace period per storage object, but a sweep's agents may beat at different
        intervals (``--heartbeat-interval``, per agent): so each trial records its agent's interval, and the grace
        period is ``STALE_AFTER_INTERVALS`` times the longest interval among the running trials, in whole seconds
        (Optuna's unit; SQLite's clock counts whole seconds). No agent's live trial is failed, at the cost of a slower
        verdict beside a slowly beating agent. In an RDB storage heartbeats are stamped by the database's clock, so
        the nodes' clocks need not agree; a journal stamps the agent's (``JournalHeartbeatStorage``).

        SLURM's requeue is the one case Optuna cannot see: a trial awaiting the requeue of its job has no agent to
        beat for it until the job starts again, and Optuna has no way to exempt a running trial. So while ``squeue``
        lists the job, the check beats for it; once the job is gone the trial is failed like any other."""
        running = self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        intervals = [t.system_attrs[HEARTBEAT_INTERVAL_ATTR] for t in running
                     if HEARTBEAT_INTERVAL_ATTR in t.system_attrs]
        if not intervals:
            return
        for trial in running:
            if trial.user_attrs.get(AWAITING_REQUEUE_ATTR) and _job_queued(trial.user_attrs.get(JOB_ATTR)):
                self.storage.record_heartbeat(self.trial_id(trial.number))
        self.storage.grace_period = math.ceil(STALE_AFTER_INTERVALS * max(intervals))
        with _quiet_heartbeats():
            optuna.storages.fail_stale_trials(self.study)

    # --- monitor and analyze ----------------------------------------------------------------------------------
    @staticmethod
    def _state_of(trial: FrozenTrial) -> str:
        if trial.user_attrs.get(STATE_ATTR):
            return trial.user_attrs[STATE_ATTR]
        return {TrialState.COMPLETE: "finished", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}.get(
            trial.state, "running"
        )

    @staticmethod
    def _error_of(trial: FrozenTrial) -> str | None:
        """Why the trial failed or stopped. A trial that Optuna's stale check failed carries none of our attributes
        (a finished trial takes no more), so its reason is told from that."""
        if trial.state != TrialState.FAIL or STATE_ATTR in trial.user_attrs:
            return trial.user_attrs.get(ERROR_ATTR)
        why = f"its agent ({trial.user_attrs.get(AGENT_ATTR, '?')}) stopped sending heartbeats (killed or lost)"
        if trial.user_attrs.get(AWAITING_REQUEUE_ATTR):
            why += f"; it was {trial.user_attrs[AWAITING_REQUEUE_ATTR]}, which left SLURM's queue"
        return why

    def _best_intermediate(self, trial: FrozenTrial) -> float | None:
        values = list(trial.intermediate_values.values())
        if not values:
            return None
        return max(values) if self.spec.goal == "maximize" else min(values)

    @_storage_call
    def trials(self) -> list[TrialRecord]:
        self.fail_stale_trials()
        records = []
        for trial in self._live_trials():
            value = trial.value if trial.state == TrialState.COMPLETE else self._best_intermediate(trial)
            records.append(TrialRecord(
                number=trial.number,
                state=self._state_of(trial),
                value=value,
                params=dict(trial.user_attrs.get(PARAMS_ATTR, {})),
                started=trial.datetime_start,
                finished=trial.datetime_complete,
                error=self._error_of(trial),
                run_dir=trial.user_attrs.get(RUN_DIR_ATTR),
                overrides=list(trial.user_attrs.get(OVERRIDES_ATTR, [])),
            ))
        return sorted(records, key=lambda r: r.number)

    def state(self) -> str:
        records = self.trials()
        if any(r.state == "running" for r in records):
            return "running"
        capacity = self.capacity()
        if capacity is not None and len(records) >= capacity:
            return "finished"
        return "idle" if records else "created"
