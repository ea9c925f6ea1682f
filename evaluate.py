"""Evaluate synthetic genotypes against real ones: ``python evaluate.py real=PATH synthetic=PATH [holdout=PATH]``.

Thin entry point: the work is ``snpdiff.metrics.files.evaluate_files``; options are in ``conf/evaluate.yaml``. A user
error (missing file, mismatched SNPs, bad option) ends with ``error: <message>`` on stderr and exit status 2.
"""

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from snpdiff.cli import run_or_exit
from snpdiff.cli.memory import keep_freed_memory
from snpdiff.metrics.files import evaluate_files

log = logging.getLogger("snpdiff")


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
def main(cfg: DictConfig) -> None:
    keep_freed_memory()  # the metrics' matrix blocks reuse freed memory (snpdiff/cli/memory.py)
    result = run_or_exit(
        evaluate_files,
        real=cfg.real,
        synthetic=cfg.synthetic,
        holdout=cfg.holdout,
        haplotype=cfg.haplotype,
        out_dir=cfg.out,
        selection=OmegaConf.to_container(cfg.select, resolve=True),
        ld_window=cfg.ld_window,
        n_pcs=cfg.n_pcs,
        max_snps_ld=cfg.max_snps_ld,
        seed=cfg.seed,
        plots=cfg.plots,
        synthetic_populations=cfg.synthetic_populations,
        holdout_populations=cfg.holdout_populations,
    )
    # on the console and in <out>/evaluate.log
    log.info("metrics: %s", result.metrics_path)
    log.info("report: %s", result.report_path)
    if result.plots:
        log.info("plots: %s (%d PNG files)", next(iter(result.plots.values())).parent, len(result.plots))


if __name__ == "__main__":
    from snpdiff.cli import unknown_keys_as_user_errors

    with unknown_keys_as_user_errors("evaluate"):
        main()
