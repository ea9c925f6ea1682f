"""Train a genotype diffusion model: ``python train.py [group=option ...] [key=value ...]``.

Thin Hydra entry point; the work happens in ``snpdiff.training.run.run_training``. A user error (bad config, bad data
file, a run folder another run is training in, no space left on device) ends with ``error: <message>`` on stderr and
exit status 2, before training starts where it can be found early; a run whose training loss turns non-finite ends
with ``error: training diverged at step ...`` and exit status 3 (``snpdiff.cli.exit``).
"""

import logging

import hydra
from omegaconf import DictConfig

from snpdiff.cli import checked
from snpdiff.cluster import expose_launchers
from snpdiff.config.resolvers import register_resolvers
from snpdiff.config.schema import register_schemas

log = logging.getLogger("snpdiff")
expose_launchers()  # conf/train.yaml puts $SNPDIFF_LAUNCHERS on Hydra's search path
register_schemas()  # schema/<target>: every constructor argument, settable without "+" (snpdiff/config/schema.py)
register_resolvers()  # ${metric_mode:...} and ${fused_optimizer:...} in conf/ (snpdiff/config/resolvers.py)


# every config problem is reported before torch and Lightning load (seconds): a bad sweep trial fails fast
@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@checked("train")
def main(cfg: DictConfig) -> float | None:
    from snpdiff.cli import run_or_exit
    from snpdiff.cli.allocator import keep_freed_memory
    from snpdiff.cli.console import setup_console
    from snpdiff.run_folder import metrics_path
    from snpdiff.training.run import run_training

    setup_console()  # after Hydra's logging setup: one line per event, no advertisements (snpdiff/cli/console.py)
    keep_freed_memory()  # feature maps reuse freed memory instead of page-faulting it in (snpdiff/cli/allocator.py)
    metrics = run_or_exit(run_training, cfg)
    log.info("checkpoints: %s", metrics["checkpoints"]["last"])
    log.info("metrics: %s", metrics_path(metrics["output_dir"]))
    return metrics.get(cfg.optimized_metric)


if __name__ == "__main__":
    from snpdiff.cli import run_hydra_app

    run_hydra_app(main, "train")  # an unknown key is "error: unknown key ...; did you mean ...?", exit status 2
