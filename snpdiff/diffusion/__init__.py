"""Gaussian diffusion for any model called as `model(x, t)`: schedules, forward process, samplers (DDPM, DDIM,
DPM-Solver++(2M)) and the sampling loop. Imports run one way: rules <- schedules <- process <- samplers <- sampling.

The value rules (`rules`) are torch-free and imported here; everything else loads on first use, so validating a
config does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

from snpdiff.diffusion.rules import PREDICTION_TYPES, SAMPLER_NAMES, SCHEDULE_TYPES, check_diffusion_config

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers
    from snpdiff.diffusion.process import GaussianDiffusion
    from snpdiff.diffusion.samplers import (
        DDIMSampler,
        DDPMSampler,
        DPMSolverMultistepSampler,
        Sampler,
        sampler_from_config,
    )
    from snpdiff.diffusion.sampling import sample
    from snpdiff.diffusion.schedules import make_betas

# submodule -> the names it defines (loaded on first use)
_LAZY = {
    "process": ["GaussianDiffusion"],
    "samplers": ["DDIMSampler", "DDPMSampler", "DPMSolverMultistepSampler", "Sampler", "sampler_from_config"],
    "sampling": ["sample"],
    "schedules": ["make_betas"],
}
__all__ = [
    "PREDICTION_TYPES",
    "SAMPLER_NAMES",
    "SCHEDULE_TYPES",
    "DDIMSampler",
    "DDPMSampler",
    "DPMSolverMultistepSampler",
    "GaussianDiffusion",
    "Sampler",
    "check_diffusion_config",
    "make_betas",
    "sample",
    "sampler_from_config",
]


__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs=_LAZY)
