"""Evaluate synthetic genotypes against real ones: ``python evaluate.py real=PATH synthetic=PATH [holdout=PATH]``.

Thin entry point: the composed config's keys are ``snpdiff.api.evaluate``'s arguments (the function a notebook calls
too, docs/python.md); options are in ``conf/evaluate.yaml``. A user error (missing file,
mismatched SNPs, bad option, an ``out=`` that cannot be written) ends with ``error: <message>`` on stderr and exit
status 2.
"""

from typing import Any

import hydra
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from snpdiff.cli import checked


class CheckBeforeOutput(Callback):
    """evaluate.py's run folder is ``out=`` itself, which Hydra creates (and logs into) before the app runs: the keys
    are checked first (``conf/evaluate.yaml``'s ``hydra.callbacks``), so a bad one, or an ``out=`` on a read-only file
    system, leaves nothing behind."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        from snpdiff.cli import run_or_exit
        from snpdiff.config import check_composed

        run_or_exit(
            check_composed, OmegaConf.masked_copy(config, [key for key in config if key != "hydra"]), "evaluate"
        )


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
@checked("evaluate")  # keys and types against its schema before any work (snpdiff.config.schema)
def main(cfg: DictConfig) -> None:
    from snpdiff.api import evaluate
    from snpdiff.cli import run_or_exit
    from snpdiff.cli.allocator import keep_freed_memory

    keep_freed_memory()  # the metrics' matrix blocks reuse freed memory (snpdiff/cli/allocator.py)
    run_or_exit(evaluate, **OmegaConf.to_container(cfg, resolve=True))


if __name__ == "__main__":
    from snpdiff.cli import run_hydra_app

    run_hydra_app(main, "evaluate")
