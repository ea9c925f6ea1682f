"""Generation: load a checkpoint safely (``checkpoint``), sample batches (``sampling``), stream them to files,
resumably (``stream``)."""

from snpdiff.generation.checkpoint import SAFE_TARGETS, TrainedModel, load_trained_model
from snpdiff.generation.sampling import (
    batch_generator,
    batch_labels,
    sample_batch,
    sample_codes,
    sample_labels,
    synthetic_set,
)
from snpdiff.generation.stream import OUTPUT_FORMATS, partial_folder, write_synthetic

__all__ = [
    "OUTPUT_FORMATS",
    "SAFE_TARGETS",
    "TrainedModel",
    "batch_generator",
    "batch_labels",
    "load_trained_model",
    "partial_folder",
    "sample_batch",
    "sample_codes",
    "sample_labels",
    "synthetic_set",
    "write_synthetic",
]
