"""Generation: load a checkpoint safely (``checkpoint``), the one assembly of sampling and the one batch loop
(``sampling``, which the training-time quality check uses too), and streamed, resumable output files (``stream``)."""

from snpdiff.generation.checkpoint import SAFE_TARGETS, TrainedModel, load_trained_model
from snpdiff.generation.sampling import (
    BatchPlan,
    PopulationLabels,
    SamplingPipeline,
    batch_generator,
    population_labels,
    sample_batches,
    sample_codes,
    sample_labels,
    synthetic_set,
    trained_pipeline,
)
from snpdiff.generation.stream import OUTPUT_FORMATS, partial_folder, write_synthetic

__all__ = [
    "OUTPUT_FORMATS",
    "SAFE_TARGETS",
    "BatchPlan",
    "PopulationLabels",
    "SamplingPipeline",
    "TrainedModel",
    "batch_generator",
    "load_trained_model",
    "partial_folder",
    "population_labels",
    "sample_batches",
    "sample_codes",
    "sample_labels",
    "synthetic_set",
    "trained_pipeline",
    "write_synthetic",
]
