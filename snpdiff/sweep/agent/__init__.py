"""The agent: what runs a sweep's trials, one after another, each as ``train.py`` in its own process.

``interface`` (what an agent needs from a backend: ``TrialQueue``; its options and report), ``loop`` (the local
backend's agent loop), ``trial`` (one trial's command line, environment, process and outcome, for both backends'
agents), ``channel`` (the socket pair a trial's reporter sends its metric over), ``heartbeat`` (the thread that beats
for a trial), ``requeue`` (signals and SLURM's requeue). The trial's side of the channel is
``snpdiff.sweep.reporter``, a callback named by its ``_target_`` on the trial's command line.
"""
