"""snpdiff: diffusion models for synthetic SNP genotypes, configured with Hydra and trained with Lightning."""

__version__ = "0.1.0"
