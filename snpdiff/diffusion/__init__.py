"""Gaussian diffusion for any model called as `model(x, t)`: schedules, forward process, DDPM/DDIM samplers."""

from snpdiff.diffusion.process import PREDICTION_TYPES, GaussianDiffusion, check_diffusion_config
from snpdiff.diffusion.samplers import SAMPLER_NAMES, DDIMSampler, DDPMSampler, Sampler, build_sampler
from snpdiff.diffusion.schedules import SCHEDULE_TYPES, make_betas

__all__ = [
    "PREDICTION_TYPES",
    "SAMPLER_NAMES",
    "SCHEDULE_TYPES",
    "DDIMSampler",
    "DDPMSampler",
    "GaussianDiffusion",
    "Sampler",
    "build_sampler",
    "check_diffusion_config",
    "make_betas",
]
