"""A Hydra callback of ``train.py`` (``conf/train.yaml``, ``hydra.callbacks``): a run folder that holds an earlier
run is refused before Hydra writes into it, so that nothing of that run changes, not even its ``.hydra/`` record
and log file.

Hydra writes ``<hydra.run.dir>/.hydra/`` and starts the log file before the app's function runs; ``on_run_start``
comes before both. The training checks the same again under the folder's lock (``snpdiff.training.run``), for
multiruns and in-process callers; a folder a live run holds is left to that check, which names the holder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from snpdiff.cli.exit import run_or_exit
from snpdiff.run_folder import earlier_run, lock_is_held, refuse_earlier_run


class RefuseEarlierRun(Callback):
    """``snpdiff.run_folder.refuse_earlier_run`` on ``hydra.run.dir`` before Hydra writes into it, ending the process
    itself (``error: ...``, exit status 2): Hydra turns an exception a callback raises into a warning and goes on."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            run_dir = Path(str(config.hydra.run.dir))
            ckpt_path, overwrite = OmegaConf.select(config, "ckpt_path"), OmegaConf.select(config, "overwrite")
        except OmegaConfBaseException:
            return  # config validation names what does not resolve
        if earlier_run(run_dir) and not lock_is_held(run_dir):
            run_or_exit(refuse_earlier_run, run_dir, None if ckpt_path is None else str(ckpt_path), overwrite is True)
