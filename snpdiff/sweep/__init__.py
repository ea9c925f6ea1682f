"""Hyper-parameter sweeps: sweep files (W&B's format) validated against the Hydra config, two backends (W&B and a
local Optuna one) behind one interface, agents that run each trial as ``train.py`` in its own process, monitoring
and analysis.

Modules: ``spec`` (parses a sweep file: structure only; the alias table), ``rules`` (checks a parsed sweep against
the composed config), ``bridge`` (parameters -> Hydra overrides), ``store`` (sweep folders and ids), ``backends``
(``base`` interfaces, ``local``, ``wandb``, ``trial_loop``: the local agent loop), ``trial`` (one trial's process),
``reporter`` (the in-training callback a local trial gets through its command line), ``monitor``, ``analysis``,
``launch`` (agents as cluster jobs).

The package stands on training and never the reverse: a trial is ``train.py`` in its own process, reached only
through its command line (Hydra overrides) and its run folder.
"""
