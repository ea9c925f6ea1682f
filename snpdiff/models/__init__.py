"""Denoising networks for SNP windows: plain `torch.nn.Module`s, x [batch, in_channels, seq_length] -> same shape.

Each model has a `check_*_config(**keys) -> list[str]` that returns every problem with its keys; the models call
it on construction and the config validator calls it before training starts.
"""

from snpdiff.models.mlp import MLPDenoiser, check_mlp_config
from snpdiff.models.unet import UNet1D, check_unet_config

__all__ = ["MLPDenoiser", "UNet1D", "check_mlp_config", "check_unet_config"]
