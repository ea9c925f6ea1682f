"""Denoising networks for SNP windows: plain `torch.nn.Module`s, x [batch, in_channels, seq_length] -> same shape.

Each model has a `check_*_config(**keys) -> list[str]` that returns every problem with the keys it is given (it has
no defaults: they live in the constructor's signature, and the config schema reports unknown keys); the models
call it on construction with every key, and the config validator with the composed `model` node. The checks are
torch-free (`snpdiff.models.rules`); the networks load on first use, so validating a config does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

from snpdiff.models.rules import check_mlp_config, check_unet_config

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers
    from snpdiff.models.mlp import MLPDenoiser
    from snpdiff.models.unet import UNet1D

# submodule -> the names it defines (loaded on first use)
_LAZY = {
    "mlp": ["MLPDenoiser"],
    "unet": ["UNet1D"],
}
__all__ = ["MLPDenoiser", "UNet1D", "check_mlp_config", "check_unet_config"]


__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs=_LAZY)
