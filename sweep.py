"""Hyper-parameter sweeps over train.py, on W&B or on the embedded local backend (Optuna).

    python sweep.py init conf/sweeps/cpu_smoke.yaml [--backend wandb|local] [--project P] [--entity E] [--storage URL]
    python sweep.py agent [ID] [--count N] [--max-consecutive-failures K]
    python sweep.py agent [ID] --launcher slurm [--agents K] [--count N] [--detach] [--launcher-override key=value]
    python sweep.py monitor [ID] [--watch SECONDS] [--json]
    python sweep.py analyze [ID] [--top-k K] [--experiment-name NAME] [--json]
    python sweep.py dashboard [ID] [--port 8080] [--host 127.0.0.1]   # a local sweep in a browser (optuna-dashboard)
    python sweep.py migrate OLD.yaml -o NEW.yaml   # the old tool's sweep file -> the modern one

ID: ``entity/project/id``, a short id, or nothing for the sweep ``init`` created last (``sweeps/current_sweep.yaml``).
Thin entry point: the work happens in ``snpdiff.sweep``, every backend reached through ``snpdiff.sweep.backends``.
A user error (bad sweep file, unknown sweep, missing credentials) prints ``error: ...`` and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

from snpdiff.cli import fail, user_errors
from snpdiff.sweep.agent.interface import DEFAULT_HEARTBEAT_INTERVAL_S
from snpdiff.sweep.backends import BACKEND_NAMES, AgentOptions, open_sweep
from snpdiff.sweep.spec import DEFAULT_COMMAND, shown_command


class _Parser(argparse.ArgumentParser):
    """argparse ending a bad argument as every user error ends: one ``error:`` line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message}; see: python {self.prog} --help")


def _positive_int(text: str) -> int:
    """An argument that counts something (trials, failures, jobs): an integer of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; allowed: 1 or more") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not allowed; allowed: an integer of 1 or more")
    return value


def _positive_seconds(text: str) -> float:
    """An interval in seconds: a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; allowed: seconds above 0") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} is not allowed; allowed: a finite number of seconds above 0")
    return value


def _port(text: str) -> int:
    """A TCP port to listen on: 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer; allowed: a port from 0 to 65535") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port; allowed: 0 (any free port) to 65535")
    return value


def _init(args: argparse.Namespace) -> int:
    from snpdiff.sweep.initialize import init_sweep

    if args.storage and args.backend == "wandb":
        fail("--storage is for the local backend (W&B keeps its sweeps on its server)")
    info, notice = init_sweep(args.sweep_file, backend=args.backend, project=args.project, entity=args.entity,
                              storage=args.storage, sweeps_dir=args.sweeps_dir)
    if notice:
        print(notice)
    print(f"created {info.backend} sweep {info.sweep_id} ({info.url or info.storage})")
    print(f"sweep folder: {info.sweep_dir}")
    print(f"run an agent: python sweep.py agent {info.sweep_id} --count 4")
    return 0


def _agent(args: argparse.Namespace) -> int:
    if args.launcher:
        return _agent_jobs(args)
    if args.agents != 1 or args.detach or args.launcher_override:
        fail("--agents, --detach and --launcher-override need --launcher")

    from snpdiff.sweep.agent.trial import agent_say
    from snpdiff.sweep.monitor import agent_summary

    backend = open_sweep(args.sweep, args.sweeps_dir)
    if backend.spec.command != DEFAULT_COMMAND:
        agent_say(f"command: each trial runs `{shown_command(backend.spec.command, backend.spec.program)}` (the "
                  "sweep file's command)")
    count = args.count if args.count is not None else backend.spec.count  # an old file's top-level count
    options = AgentOptions(count=count, max_consecutive_failures=args.max_consecutive_failures,
                           heartbeat_interval_s=args.heartbeat_interval)
    report = backend.run_agent(options)
    print(agent_summary(report, backend.trials(), backend.spec))
    return report.exit_code


def _agent_jobs(args: argparse.Namespace) -> int:
    """``agent --launcher``: submit ``--agents`` jobs, each running this command without ``--launcher``."""
    from pathlib import Path

    from snpdiff.sweep.launch import job_sweep_ref, submit_sweep_agents, watch_agent_jobs
    from snpdiff.sweep.store import resolve_sweep

    info = resolve_sweep(args.sweep, args.sweeps_dir)
    agent_argv = [sys.executable, str(Path(__file__).resolve()), "agent", job_sweep_ref(info),
                  "--max-consecutive-failures", str(args.max_consecutive_failures),
                  "--heartbeat-interval", str(args.heartbeat_interval)]
    if args.count is not None:
        agent_argv += ["--count", str(args.count)]
    jobs = submit_sweep_agents(info, agent_argv, args.agents, args.launcher, args.launcher_override)
    print(f"submitted {len(jobs)} agent job(s) of sweep {info.sweep_id}: {' '.join(job.job_id for job in jobs)}")
    print(f"job logs: {info.directory / 'jobs'}")
    if args.detach:
        return 0
    failures = watch_agent_jobs(info, jobs, None if args.count is None else args.count * args.agents)
    for job_id, why in failures.items():
        print(f"agent job {job_id} failed: {why}", file=sys.stderr)
    print(f"{len(jobs) - len(failures)} of {len(jobs)} agent job(s) succeeded; see: python sweep.py monitor "
          f"{info.sweep_id}")
    return 1 if failures else 0


def _monitor(args: argparse.Namespace) -> int:
    import json
    import time

    from snpdiff.sweep.monitor import monitor_json, print_monitor

    backend = open_sweep(args.sweep, args.sweeps_dir)
    while True:
        if args.json:  # one document per refresh, one line each (JSON Lines with --watch)
            print(json.dumps(monitor_json(backend, recent=args.recent), allow_nan=False), flush=True)
        else:
            print_monitor(backend, recent=args.recent)
        if not args.watch:
            return 0
        time.sleep(args.watch)


def _analyze(args: argparse.Namespace) -> int:
    import json

    from snpdiff.sweep.analysis import analysis_json, analyze_sweep
    from snpdiff.sweep.monitor import output_console, trials_table

    backend = open_sweep(args.sweep, args.sweeps_dir)
    result = analyze_sweep(backend, top_k=args.top_k, experiment_name=args.experiment_name,
                           write_best=not args.no_experiment)
    if args.json:
        print(json.dumps(analysis_json(backend, result), allow_nan=False))
        return 0
    console = output_console()
    spec = backend.spec
    if result.top:
        console.print(trials_table(result.top, backend, f"top {len(result.top)} trials by {spec.metric} "
                                                        f"({spec.goal}, best value of each trial)"))
    if result.importances:
        console.print("parameter importances (fANOVA): " + ", ".join(f"{k} {v:.2f}"
                                                                     for k, v in result.importances.items()))
    for note in result.notes:
        console.print(f"note: {note}")
    for path in result.plots:
        console.print(f"plot: {path}")
    if result.experiment_path:
        console.print(f"best trial {result.best.number} written to {result.experiment_path}; reproduce it with: "
                      f"python train.py experiment={result.experiment_name}")
    return 0


def _dashboard(args: argparse.Namespace) -> int:
    from snpdiff.sweep.dashboard import serve_dashboard

    return serve_dashboard(args.sweep, args.sweeps_dir, args.host, args.port)


def _migrate(args: argparse.Namespace) -> int:
    from snpdiff.sweep.legacy.migrate import migrate_file

    warnings: list[str] = []
    new = migrate_file(args.old, args.output, warnings)
    for warning in warnings:
        print(f"warning: {warning}")
    print(f"wrote {new}; check it and create the sweep with: python sweep.py init {new}")
    return 0


def _add_agent_parser(commands: argparse._SubParsersAction) -> None:
    """``agent``'s arguments (each checked at parse: counts and intervals must be positive)."""
    agent = commands.add_parser("agent", help="run trials of a sweep in this process or as cluster jobs")
    agent.add_argument("sweep", nargs="?", help="entity/project/id or short id (default: the current sweep)")
    agent.add_argument("--count", type=_positive_int,
                       help="run at most this many trials (default: until the sweep is done)")
    agent.add_argument("--max-consecutive-failures", type=_positive_int, default=5,
                       help="stop after this many failed trials in a row (default: 5)")
    agent.add_argument("--heartbeat-interval", type=_positive_seconds, default=DEFAULT_HEARTBEAT_INTERVAL_S,
                       help="local backend: seconds between heartbeats (default: %(default)s); a running trial silent "
                            "for 3 intervals of the slowest-beating agent is failed")
    agent.add_argument("--launcher", help="run the agents as jobs of this launcher profile (slurm, slurm_cpu, local; "
                                          "launchers/hydra/launcher/) instead of in this process")
    agent.add_argument("--agents", type=_positive_int, default=1,
                       help="with --launcher: number of agent jobs (default: 1)")
    agent.add_argument("--detach", action="store_true", help="with --launcher: print the job ids and return")
    agent.add_argument("--launcher-override", action="append", default=[], metavar="KEY=VALUE",
                       help="with --launcher: a profile key, e.g. partition=gpu or timeout_min=60 (repeatable)")
    agent.set_defaults(run=_agent)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweeps-dir", help="folder of the sweeps (default: $SNPDIFF_SWEEPS_DIR or ./sweeps)")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", help="validate a sweep file and create the sweep")
    init.add_argument("sweep_file", nargs="?", default="conf/sweeps/cpu_smoke.yaml")
    init.add_argument("--backend", choices=BACKEND_NAMES,
                      help="default: wandb when W&B credentials exist, else local")
    init.add_argument("--project", help="W&B project (default: the sweep file's, else snpdiff)")
    init.add_argument("--entity", help="W&B entity (default: your default entity)")
    init.add_argument("--storage", help="local backend: Optuna storage URL (postgresql://..., sqlite:///...) or "
                                        "journal file (journal:/path.log); default: SQLite in the sweep folder")
    init.set_defaults(run=_init)

    _add_agent_parser(commands)

    monitor = commands.add_parser("monitor", help="show a sweep's state, progress, recent trials and best")
    monitor.add_argument("sweep", nargs="?")
    monitor.add_argument("--recent", type=int, default=10, help="how many recent trials to list")
    monitor.add_argument("--watch", type=float, help="refresh every this many seconds")
    monitor.add_argument("--json", action="store_true", help="print one JSON document (schema: docs/sweeps.md)")
    monitor.set_defaults(run=_monitor)

    analyze = commands.add_parser("analyze", help="top trials, importances, plots, best trial as an experiment")
    analyze.add_argument("sweep", nargs="?")
    analyze.add_argument("--top-k", type=int, default=10)
    analyze.add_argument("--experiment-name", help="default: sweep_<id>_best")
    analyze.add_argument("--no-experiment", action="store_true", help="do not write conf/experiment/<name>.yaml")
    analyze.add_argument("--json", action="store_true", help="print one JSON document (schema: docs/sweeps.md)")
    analyze.set_defaults(run=_analyze)

    dashboard = commands.add_parser("dashboard", help="a local sweep's trials in a browser (optuna-dashboard, "
                                                      "read-only) until Ctrl-C")
    dashboard.add_argument("sweep", nargs="?", help="short id or sweep folder (default: the current sweep)")
    dashboard.add_argument("--port", type=_port, default=8080, help="default: %(default)s; 0: any free port")
    dashboard.add_argument("--host", default="127.0.0.1",
                           help="address to listen on (default: %(default)s, this machine only)")
    dashboard.set_defaults(run=_dashboard)

    migrate = commands.add_parser("migrate", help="rewrite an old tool's sweep file as the modern equivalent")
    migrate.add_argument("old", help="the old sweep file (kept as it is)")
    migrate.add_argument("-o", "--output", required=True, help="where to write the modern sweep file")
    migrate.set_defaults(run=_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    with user_errors():
        return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
