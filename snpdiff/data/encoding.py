"""The genotype encoding: the one place that maps genotype codes to model values and back.

Genotype codes are int8: diploid dosages 0/1/2 (count of alternate alleles), or 0/1 for
haplotypes. ``MISSING_CODE`` (-1) marks a missing call in memory and in caches.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from snpdiff.errors import ConfigError

if TYPE_CHECKING:  # torch loads where tensors are used: config validation reads ENCODING_MODES without it
    import torch

MISSING_CODE = -1
DOSAGE_CODES = (0, 1, 2)
HAPLOTYPE_CODES = (0, 1)

# mode -> value of each code as a fraction of the code range [0, max_code]
ENCODING_MODES = {
    "unit": (0.0, 1.0),  # dosage 0/1/2 -> 0/0.5/1 (the old tool's mapping)
    "centered": (-1.0, 1.0),  # dosage 0/1/2 -> -1/0/1 (matches the N(0, 1) diffusion prior)
    "dosage": None,  # raw codes: 0/1/2
}


class GenotypeEncoding:
    """Maps int8 genotype codes to float model inputs and back.

    ``value = scale * (low + (high - low) * code / max_code)`` for ``unit`` and ``centered``;
    ``value = scale * code`` for ``dosage``. ``decode`` maps each value to the nearest valid code.
    """

    def __init__(self, mode: str = "centered", scale: float = 1.0, haplotype: bool = False):
        if mode not in ENCODING_MODES:
            raise ConfigError(f"data.encoding={mode!r} is not an encoding; allowed: {sorted(ENCODING_MODES)}")
        if not scale > 0:
            raise ConfigError(f"data.scale={scale!r} must be > 0")
        self.mode = mode
        self.scale = float(scale)
        self.haplotype = bool(haplotype)
        self.codes = np.array(HAPLOTYPE_CODES if haplotype else DOSAGE_CODES, dtype=np.int8)
        max_code = float(self.codes[-1])
        bounds = ENCODING_MODES[mode]
        if bounds is None:
            values = self.codes.astype(np.float32)
        else:
            low, high = bounds
            values = low + (high - low) * self.codes.astype(np.float32) / max_code
        self.values = (self.scale * values).astype(np.float32)

    def encode(self, codes: np.ndarray) -> np.ndarray:
        """int8 codes [..., snps] (no missing values) -> float32 values of the same shape."""
        return self.values[np.asarray(codes, dtype=np.int64)]

    def decode(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        """Float values [..., snps] -> int8 codes of the nearest valid value."""
        import torch

        if isinstance(values, torch.Tensor):
            values = values.detach().float().cpu().numpy()
        distance = np.abs(np.asarray(values, dtype=np.float32)[..., None] - self.values)
        return self.codes[distance.argmin(axis=-1)]

    def decode_by_frequencies(self, values: np.ndarray | torch.Tensor, frequencies: np.ndarray) -> np.ndarray:
        """Float values ``[individuals, snps]`` -> int8 codes by per-SNP thresholds fitted to genotype frequencies.

        ``frequencies[j, k]`` is the training share of code k at SNP j (``[snps, n_codes]``, rows summing to 1). At
        each SNP the values are ranked and cut at the cumulative frequencies, so the decoded set has the training
        genotype frequencies (up to rounding) while each individual keeps its rank: an alternative to nearest-code
        decoding for samples whose values are still spread between codes.
        """
        import torch

        if isinstance(values, torch.Tensor):
            values = values.detach().float().cpu().numpy()
        values = np.asarray(values, dtype=np.float32)
        cumulative = np.cumsum(np.asarray(frequencies, dtype=np.float64), axis=1)[:, :-1]  # [snps, n_codes - 1]
        thresholds = np.stack(
            [np.quantile(values[:, j], cumulative[j]) for j in range(values.shape[1])]
        )  # [snps, n_codes - 1]
        return self.codes[(values[..., None] > thresholds[None]).sum(axis=-1)]

    def values_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The encoded value of every valid code, ascending: ``[n_codes]``."""
        import torch

        return torch.as_tensor(self.values, device=device)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "scale": self.scale, "haplotype": self.haplotype}

    def __repr__(self) -> str:
        return f"GenotypeEncoding(mode={self.mode!r}, scale={self.scale}, haplotype={self.haplotype})"
