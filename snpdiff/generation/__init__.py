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
from snpdiff.generation.stream import (
    OUTPUT_FORMATS,
    batch_plan,
    check_format,
    output_path,
    partial_folder,
    write_synthetic,
    write_trained,
    write_whole_set,
)

__all__ = [
    "OUTPUT_FORMATS",
    "SAFE_TARGETS",
    "BatchPlan",
    "PopulationLabels",
    "SamplingPipeline",
    "TrainedModel",
    "batch_generator",
    "batch_plan",
    "check_format",
    "load_trained_model",
    "output_path",
    "partial_folder",
    "population_labels",
    "sample_batches",
    "sample_codes",
    "sample_labels",
    "synthetic_set",
    "trained_pipeline",
    "write_synthetic",
    "write_trained",
    "write_whole_set",
]
