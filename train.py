"""Train a genotype diffusion model: ``python train.py [group=option ...] [key=value ...]``.

Thin Hydra entry point; the work happens in ``snpdiff.training.run_training``.
"""

import logging

import hydra
from omegaconf import DictConfig

from snpdiff.cluster import expose_launchers

log = logging.getLogger("snpdiff")
expose_launchers()  # conf/train.yaml puts $SNPDIFF_LAUNCHERS on Hydra's search path


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from snpdiff.errors import SnpdiffError
    from snpdiff.training import run_training

    try:
        metrics = run_training(cfg)
    except SnpdiffError as exc:
        log.error("%s", exc)
        raise SystemExit(f"error: {exc}") from None
    log.info("checkpoints: %s", metrics["checkpoints"]["last"].rsplit("/", 1)[0])
    log.info("metrics: %s/metrics.json", metrics["output_dir"])
    print(f"checkpoints: {metrics['checkpoints']['last']}\nmetrics: {metrics['output_dir']}/metrics.json")
    return metrics.get(cfg.optimized_metric)


if __name__ == "__main__":
    main()
