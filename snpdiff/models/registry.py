"""The one table of denoisers, and ``ModelInputs``: plain data, no torch, Lightning or Hydra.

A model family is one ``ModelKind`` row of ``MODELS``; everything else derives from it: its lazily loaded class
(``snpdiff.models``), its config node (``conf/model/<name>.yaml`` pulls ``schema/<target>``, and
``snpdiff.config.schema`` lists its constructor defaults), its value rules in config validation
(``snpdiff.config.rules``), and its place on the checkpoint allow-list (``snpdiff.generation.checkpoint``).
``tests/models/test_registry.py`` checks that ``conf/model/`` and the table agree.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from snpdiff.models.rules import check_mlp_config, check_unet_config


@dataclass(frozen=True)
class ModelKind:
    """One denoiser family: ``name`` (``conf/model/<name>.yaml``), ``target`` (the ``_target_`` conf/ writes and
    checkpoints store), ``module`` (where the class is defined) and ``check`` (its keys' value rules, torch-free)."""

    name: str
    target: str
    module: str
    check: Callable[..., list[str]]

    @property
    def class_name(self) -> str:
        return self.target.rsplit(".", 1)[1]

    @property
    def targets(self) -> tuple[str, str]:
        """Both names a checkpoint's stored config may give the class: the public one and the defining module's."""
        return self.target, f"{self.module}.{self.class_name}"

    def load(self) -> type:
        """The class itself (imports torch)."""
        return getattr(importlib.import_module(self.module), self.class_name)


MODELS: tuple[ModelKind, ...] = (
    ModelKind("unet", "snpdiff.models.UNet1D", "snpdiff.models.unet", check_unet_config),
    ModelKind("mlp", "snpdiff.models.MLPDenoiser", "snpdiff.models.mlp", check_mlp_config),
)


def model_kind(target: object) -> ModelKind | None:
    """The row whose class ``target`` names (either of its ``targets``); None for anything else."""
    return next((kind for kind in MODELS if target in kind.targets), None)


@dataclass(frozen=True)
class ModelInputs:
    """The numbers a denoiser is built from that the data decide, not the config: the SNP window (``seq_length``),
    the encoding's channels per SNP and, for a population-conditioned model, the labels its class indices stand
    for (sorted; None: no conditioning). The data module produces it (``GenotypeDataModule.model_inputs``), the
    checkpoint stores it (``seq_length``, ``populations.names``; the channels follow the stored encoding) and both
    builders, training's and generation's, read it."""

    seq_length: int
    channels: int
    population_names: tuple[str, ...] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.population_names) if self.population_names else 0

    def keywords(self) -> dict[str, Any]:
        """The constructor arguments these fix (``num_classes`` only for a conditioned model)."""
        labels = {"num_classes": self.num_classes} if self.num_classes else {}
        return {"seq_length": self.seq_length, "in_channels": self.channels, **labels}
