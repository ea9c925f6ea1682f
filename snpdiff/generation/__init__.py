"""Generation: load a checkpoint safely (``checkpoint``), sample and write synthetic cohorts (``sampling``)."""

from snpdiff.generation.checkpoint import SAFE_TARGETS, TrainedModel, load_trained_model
from snpdiff.generation.sampling import OUTPUT_FORMATS, sample_codes, synthetic_set, write_synthetic

__all__ = [
    "OUTPUT_FORMATS",
    "SAFE_TARGETS",
    "TrainedModel",
    "load_trained_model",
    "sample_codes",
    "synthetic_set",
    "write_synthetic",
]
