"""Gaussian diffusion for any model called as `model(x, t)`: schedules, forward process, DDPM/DDIM samplers and the
sampling loop. Imports run one way: checks <- schedules <- process <- samplers <- sampling.

The value rules (`checks`) are torch-free and imported here; everything else loads on first use, so validating a
config does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from snpdiff.diffusion.checks import PREDICTION_TYPES, SAMPLER_NAMES, SCHEDULE_TYPES, check_diffusion_config
from snpdiff.lazy import lazy_exports

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers and snpdiff.signatures
    from snpdiff.diffusion.process import GaussianDiffusion
    from snpdiff.diffusion.samplers import DDIMSampler, DDPMSampler, Sampler, sampler_from_config
    from snpdiff.diffusion.sampling import sample
    from snpdiff.diffusion.schedules import make_betas

# name -> the submodule that defines it (loaded on first use)
_LAZY = {
    "DDIMSampler": "samplers",
    "DDPMSampler": "samplers",
    "GaussianDiffusion": "process",
    "Sampler": "samplers",
    "make_betas": "schedules",
    "sample": "sampling",
    "sampler_from_config": "samplers",
}
__all__ = [
    "PREDICTION_TYPES",
    "SAMPLER_NAMES",
    "SCHEDULE_TYPES",
    "DDIMSampler",
    "DDPMSampler",
    "GaussianDiffusion",
    "Sampler",
    "check_diffusion_config",
    "make_betas",
    "sample",
    "sampler_from_config",
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
