"""Evaluate synthetic genotypes against real ones: ``python evaluate.py real=PATH synthetic=PATH [holdout=PATH]``.

Thin entry point: the composed config becomes ``snpdiff.metrics.settings.EvaluationSettings`` and the work is
``snpdiff.metrics.evaluation.evaluate_files``; options are in ``conf/evaluate.yaml``. A user error (missing file,
mismatched SNPs, bad option) ends with ``error: <message>`` on stderr and exit status 2.
"""

import hydra
from omegaconf import DictConfig, OmegaConf

from snpdiff.cli import checked


@hydra.main(config_path="conf", config_name="evaluate", version_base="1.3")
@checked("evaluate")  # keys and types against its schema before any work (snpdiff.config.schema)
def main(cfg: DictConfig) -> None:
    from snpdiff.cli import run_or_exit
    from snpdiff.cli.allocator import keep_freed_memory
    from snpdiff.metrics.evaluation import evaluate_files
    from snpdiff.metrics.settings import EvaluationSettings

    keep_freed_memory()  # the metrics' matrix blocks reuse freed memory (snpdiff/cli/allocator.py)
    run_or_exit(evaluate_files, EvaluationSettings(**OmegaConf.to_container(cfg, resolve=True)))


if __name__ == "__main__":
    from snpdiff.cli import run_hydra_app

    run_hydra_app(main, "evaluate")
