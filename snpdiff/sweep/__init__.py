"""Hyper-parameter sweeps: sweep files (W&B's format) validated against the Hydra config, two backends (W&B and a
local Optuna one) behind one interface, agents that run each trial as ``train.py`` in its own process, monitoring
and analysis.

Rooms by job: ``spec`` (the sweep file's structure and limits: ``yaml_io`` reads and writes every sweep YAML,
``parse`` parses a file without the config), ``legacy`` (the old tool's flat names and ``migrate``: the only place
that knows them), ``rules`` (checks a parsed sweep against the composed config), ``bridge`` (parameters -> Hydra
overrides), ``store`` (sweep folders and ids), ``backends`` (``base``: the one interface; ``local``: Optuna;
``wandb``), ``agent`` (the loop, one trial's process, the report channel, heartbeats, SLURM's requeue),
``reporter`` (the in-training callback a local trial gets through its command line), ``initialize`` (``init``),
``monitor``, ``analysis``, ``launch`` (agents as cluster jobs).

The package stands on training and never the reverse: a trial is ``train.py`` in its own process, reached only
through its command line (Hydra overrides) and its run folder.
"""
