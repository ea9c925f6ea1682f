"""Denoising networks for SNP windows: plain `torch.nn.Module`s, x [batch, in_channels, seq_length] -> same shape.

Each model has a `check_*_config(**keys) -> list[str]` that returns every problem with the keys it is given (it has
no defaults: they live in the constructor's signature, and the config schema reports unknown keys); the models
call it on construction with every key, and the config validator with the composed `model` node.
"""

from snpdiff.models.mlp import MLPDenoiser, check_mlp_config
from snpdiff.models.unet import UNet1D, check_unet_config

__all__ = ["MLPDenoiser", "UNet1D", "check_mlp_config", "check_unet_config"]
