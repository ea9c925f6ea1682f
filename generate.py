"""Sample synthetic genotypes from a checkpoint and write them as PLINK, VCF or npy.

``python generate.py ckpt=<run>/checkpoints/last.ckpt n=1000 out=synthetic format=plink``
"""

import logging

import hydra
from omegaconf import DictConfig

log = logging.getLogger("snpdiff")


@hydra.main(version_base="1.3", config_path="conf", config_name="generate")
def main(cfg: DictConfig) -> None:
    from snpdiff.errors import SnpdiffError
    from snpdiff.generation import write_synthetic

    try:
        paths = write_synthetic(cfg)
    except SnpdiffError as exc:
        raise SystemExit(f"error: {exc}") from None
    for path in paths:
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
