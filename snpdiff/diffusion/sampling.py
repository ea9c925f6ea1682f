"""The sampling loop (diffusers' pipeline seam): draw x_T ~ N(0, I), then let a sampler step it down to x0.

The loop is the only place that calls the model during sampling and the only one that reports progress; the process
(`process.py`) and the samplers (`samplers.py`) are pure maths. Any sampler instance drives any model::

    x0 = sample(model, diffusion, DDIMSampler(eta=0.0), (batch, 1, snps), sampling_steps=25)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from snpdiff.diffusion.process import GaussianDiffusion
from snpdiff.diffusion.samplers import Sampler, standard_normal

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # model(x [batch, ...], t long [batch]) -> prediction
StepCallback = Callable[[int, int], None]  # on_step(steps done, steps in all), after every step


@torch.inference_mode()
def sample(
    model: Model,
    diffusion: GaussianDiffusion,
    sampler: Sampler,
    shape: Sequence[int],
    sampling_steps: int | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """Draw x0 float32 `shape` (`[batch, channels, snps]` for the SNP models) by running `diffusion`'s reverse process
    from x_T ~ N(0, I) with `sampler`.

    `model` returns the diffusion's `prediction`; put it in eval mode first (the loop does not change its mode).
    `sampling_steps` defaults to `diffusion.sampling_steps`. `generator` seeds the starting noise and every step's
    noise (the same seed gives the same samples). `device` defaults to the diffusion's buffers' device. `on_step`,
    if given, is called after every step with (steps done, steps in all), e.g. to advance a progress bar.
    ConfigError before any model call for a step count outside [1, diffusion.timesteps].
    """
    sampler.set_timesteps(diffusion, diffusion.sampling_steps if sampling_steps is None else sampling_steps)
    device = diffusion.betas.device if device is None else torch.device(device)
    x = standard_normal(shape, generator, device, torch.float32)
    timesteps = sampler.timesteps.tolist()
    for done, t in enumerate(timesteps, start=1):
        t_batch = torch.full((x.shape[0],), t, device=device, dtype=torch.long)
        x = sampler.step(model(x, t_batch), t, x, generator)
        if on_step is not None:
            on_step(done, len(timesteps))
    return x
