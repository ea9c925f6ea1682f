"""Sample synthetic genotypes from a checkpoint and write them as PLINK, VCF or npy.

``python generate.py ckpt=<run>/checkpoints/last.ckpt n=1000 out=synthetic format=plink``

Thin entry point: the composed config's keys are ``snpdiff.api.generate``'s arguments (the function a notebook calls
too, docs/python.md). Batches are written to the output as they finish; a killed run started again with the same
arguments resumes (``snpdiff.generation.stream``; docs/generation.md). A user error (a bad key, checkpoint, format,
count or device, an output that cannot be written, an existing output, a partial run in use or not generate.py's,
too little or no disk space left) ends with ``error: <message>`` on stderr and exit status 2.
"""

import logging

import hydra
from omegaconf import DictConfig, OmegaConf

from snpdiff.cli import checked

log = logging.getLogger("snpdiff")


@hydra.main(version_base="1.3", config_path="conf", config_name="generate")
@checked("generate")  # keys and types against its schema before any work (snpdiff.config.schema)
def main(cfg: DictConfig) -> None:
    from snpdiff.api import generate
    from snpdiff.cli import run_or_exit
    from snpdiff.cli.allocator import keep_freed_memory

    keep_freed_memory()  # model calls reuse freed memory instead of page-faulting it in (snpdiff/cli/allocator.py)

    for path in run_or_exit(generate, **OmegaConf.to_container(cfg, resolve=True)):
        log.info("wrote %s", path)  # on the console and in the run folder's generate.log


if __name__ == "__main__":
    from snpdiff.cli import run_hydra_app

    run_hydra_app(main, "generate")
