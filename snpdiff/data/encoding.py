"""The genotype encoding: the one place that maps genotype codes to model values and back.

Genotype codes are int8: diploid dosages 0/1/2 (count of alternate alleles), or 0/1 for
haplotypes. ``MISSING_CODE`` (-1) marks a missing call in memory and in caches.

Scalar encodings (``unit``, ``centered``, ``dosage``) give each SNP one value, the model's input one channel, and a
sample is decoded to the nearest code. ``onehot`` treats the codes as categories: each SNP gets one channel per
code, +scale for its code and -scale for the others (continuous diffusion on one-hot vectors), and a sample is
decoded by the largest channel (argmax), so the model never has to place a dosage between two codes.
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
    "onehot": None,  # one channel per code: +1 for the code, -1 for the others; decoded by argmax
}


def ploidy_of(haplotype: bool) -> int:
    """Alleles per row, also the largest genotype code: 1 for haplotype rows, 2 for individuals' dosages."""
    return 1 if haplotype else 2


class GenotypeEncoding:
    """Maps int8 genotype codes to float model inputs and back.

    ``value = scale * (low + (high - low) * code / max_code)`` for ``unit`` and ``centered``;
    ``value = scale * code`` for ``dosage``. ``decode`` maps each value to the nearest valid code.
    ``onehot``: ``encode`` adds a channel axis before the SNP axis (``[..., snps]`` -> ``[..., n_codes, snps]``,
    ``+scale`` on the code's channel, ``-scale`` elsewhere) and ``decode`` takes the largest channel.
    ``code_values`` is the value of each code ``[n_codes]`` (scalar encodings; None for ``onehot``, whose codes are
    channels); ``clip_range`` is ``(low, high)``, the range every entry of the model layout lies in and a sample is
    clipped to (``(-scale, scale)`` for ``onehot``); ``entry_values`` are the values one entry takes (``code_values``,
    or the two ends of ``clip_range`` for ``onehot``: the targets of the discrete loss).
    ``channels`` is the model's input width; ``to_model``/``from_model`` map rows ``[n, snps]`` to and from the model
    layout ``[n, channels, snps]`` for every mode.
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
        self.channels = len(self.codes) if mode == "onehot" else 1
        if mode == "onehot":
            fractions = np.array([-1.0, 1.0], dtype=np.float32)
        elif bounds is None:
            fractions = self.codes.astype(np.float32)
        else:
            low, high = bounds
            fractions = low + (high - low) * self.codes.astype(np.float32) / max_code
        # the values one entry of the model layout takes, ascending: float32 [n]
        self.entry_values = (self.scale * fractions).astype(np.float32)
        self.code_values = None if mode == "onehot" else self.entry_values
        self.clip_range = (float(self.entry_values.min()), float(self.entry_values.max()))

    @property
    def ploidy(self) -> int:
        """Alleles per row: 1 for haplotype rows, 2 for individuals' dosages (``ploidy_of``)."""
        return ploidy_of(self.haplotype)

    def encode(self, codes: np.ndarray) -> np.ndarray:
        """int8 codes [..., snps] (no missing values) -> float32 values of the same shape (``onehot``:
        ``[..., n_codes, snps]``)."""
        codes = np.asarray(codes, dtype=np.int64)
        if self.mode == "onehot":
            hot = codes[..., None, :] == np.arange(self.channels)[:, None]
            return np.where(hot, self.scale, -self.scale).astype(np.float32)
        return self.code_values[codes]

    def decode(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        """Float values [..., snps] -> int8 codes of the nearest valid value (``onehot``: ``[..., n_codes, snps]``
        -> the code of the largest channel)."""
        values = _as_numpy(values)
        if self.mode == "onehot":
            return self.codes[values.argmax(axis=-2)]
        distance = np.abs(values[..., None] - self.code_values)
        return self.codes[distance.argmin(axis=-1)]

    def to_model(self, codes: np.ndarray) -> np.ndarray:
        """int8 rows ``[n, snps]`` -> float32 model inputs ``[n, channels, snps]``."""
        values = self.encode(codes)
        return values if self.mode == "onehot" else values[:, None, :]

    def from_model(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        """Model outputs ``[n, channels, snps]`` -> int8 codes ``[n, snps]`` (``decode``)."""
        return self.decode(values if self.mode == "onehot" else values[:, 0])

    def scores(self, values: np.ndarray | torch.Tensor) -> np.ndarray:
        """Model outputs ``[n, channels, snps]`` -> one float per SNP that orders the codes: the value itself for
        scalar encodings, the expected code under a softmax over the channels for ``onehot``."""
        values = _as_numpy(values)
        if self.mode != "onehot":
            return values[:, 0]
        weights = np.exp(values - values.max(axis=1, keepdims=True))
        return (weights * self.codes[:, None]).sum(axis=1) / weights.sum(axis=1)

    def decode_by_frequencies(self, values: np.ndarray | torch.Tensor, frequencies: np.ndarray) -> np.ndarray:
        """Scores ``[individuals, snps]`` (``scores``) -> int8 codes by per-SNP thresholds fitted to genotype
        frequencies.

        ``frequencies[j, k]`` is the training share of code k at SNP j (``[snps, n_codes]``, rows summing to 1). At
        each SNP the values are ranked and cut at the cumulative frequencies, so the decoded set has the training
        genotype frequencies (up to rounding) while each individual keeps its rank: an alternative to nearest-code
        decoding for samples whose values are still spread between codes.
        """
        values = _as_numpy(values)
        cumulative = np.cumsum(np.asarray(frequencies, dtype=np.float64), axis=1)[:, :-1]  # [snps, n_codes - 1]
        thresholds = np.stack(
            [np.quantile(values[:, j], cumulative[j]) for j in range(values.shape[1])]
        )  # [snps, n_codes - 1]
        return self.codes[(values[..., None] > thresholds[None]).sum(axis=-1)]

    def values_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """``entry_values`` as a tensor ``[n]``."""
        import torch

        return torch.as_tensor(self.entry_values, device=device)

    def to_dict(self) -> dict:
        return {"mode": self.mode, "scale": self.scale, "haplotype": self.haplotype}

    def __repr__(self) -> str:
        return f"GenotypeEncoding(mode={self.mode!r}, scale={self.scale}, haplotype={self.haplotype})"


def _as_numpy(values: np.ndarray | torch.Tensor) -> np.ndarray:
    """float32 numpy of a tensor (detached, on the CPU) or an array."""
    if not isinstance(values, np.ndarray) and hasattr(values, "detach"):
        values = values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float32)
