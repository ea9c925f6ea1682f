"""Gaussian diffusion for any model called as `model(x, t)`: schedules, forward process, DDPM/DDIM samplers and the
sampling loop. Imports run one way: schedules <- process <- samplers <- sampling."""

from snpdiff.diffusion.process import PREDICTION_TYPES, SAMPLER_NAMES, GaussianDiffusion, check_diffusion_config
from snpdiff.diffusion.samplers import DDIMSampler, DDPMSampler, Sampler, sampler_from_config
from snpdiff.diffusion.sampling import sample
from snpdiff.diffusion.schedules import SCHEDULE_TYPES, make_betas

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
