"""Hyper-parameter sweeps: sweep files (W&B's format) validated against the Hydra config, two backends (W&B and a
local Optuna one) behind one interface, agents that run each trial as ``train.py`` in its own process, monitoring
and analysis.

Modules: ``spec`` (sweep file, alias table), ``validation`` (checks against the composed config), ``bridge``
(parameters -> Hydra overrides), ``store`` (sweep folders and ids), ``backends`` (local, wandb), ``agent``,
``trial`` (one trial's process), ``pruning`` (the in-training reporter), ``monitor``, ``analysis``.
"""
