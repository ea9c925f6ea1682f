"""Denoising networks for SNP windows: plain `torch.nn.Module`s, x [batch, in_channels, seq_length] -> same shape.

Every model family is one row of `MODELS` (`snpdiff.models.registry`), from which its config node, its value rules
and its place on the checkpoint allow-list derive; `ModelInputs` carries what the data decide (window, channels,
labels). Each model has a `check_*_config(**keys) -> list[str]` that returns every problem with the keys it is given
(it has no defaults: they live in the constructor's signature, and the config schema reports unknown keys); the
models call it on construction with every key, and the config validator with the composed `model` node. The checks
are torch-free (`snpdiff.models.rules`); the networks load on first use, so validating a config does not import
torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

from snpdiff.models.registry import MODELS, ModelInputs, ModelKind, model_kind
from snpdiff.models.rules import check_mlp_config, check_unet_config

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers
    from snpdiff.models.mlp import MLPDenoiser
    from snpdiff.models.unet import UNet1D

# submodule -> the class it defines (loaded on first use), one per row of MODELS
_LAZY = {kind.module.rsplit(".", 1)[1]: [kind.class_name] for kind in MODELS}
__all__ = [
    "MODELS",
    "MLPDenoiser",
    "ModelInputs",
    "ModelKind",
    "UNet1D",
    "check_mlp_config",
    "check_unet_config",
    "model_kind",
]


__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs=_LAZY)
