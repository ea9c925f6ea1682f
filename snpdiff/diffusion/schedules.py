"""Noise schedules: the per-step variances beta_t of the forward process q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1},
beta_t I), for t = 0 .. timesteps - 1."""

import math

import torch

from snpdiff.diffusion.rules import SCHEDULE_TYPES, check_schedule_config  # noqa: F401 (re-exported)
from snpdiff.errors import ConfigError

COSINE_OFFSET = 0.008  # s in Nichol & Dhariwal (2021), eq. 17: keeps beta_0 from being vanishingly small
MAX_BETA = 0.999  # Nichol & Dhariwal clip betas below 1 so that no step destroys the signal completely
SIGMOID_RANGE = 6.0  # the sigmoid schedule walks sigmoid(x) for x in [-6, 6], rescaled onto [beta_start, beta_end]


def make_betas(schedule_type: str, timesteps: int, beta_start: float, beta_end: float) -> torch.Tensor:
    """The betas of one schedule, float64 `[timesteps]`, every value in (0, 1).

    - `linear`: evenly spaced from `beta_start` to `beta_end` (the values are used as given, not rescaled by
      1000 / timesteps; with few timesteps raise `beta_end` so that the last step is close to pure noise).
    - `cosine`: Nichol & Dhariwal (2021): alphas_cumprod(t) = f(t) / f(0) with f(t) = cos(((t / T + s) / (1 + s))
      pi / 2)^2, s = 0.008, betas clipped to 0.999. Ignores `beta_start` and `beta_end`.
    - `sigmoid`: sigmoid(x) for x evenly spaced in [-6, 6], rescaled so the first beta is `beta_start` and the last
      `beta_end`: small steps at both ends, the fastest change in the middle.

    Raises ConfigError naming the key at fault before computing anything.
    """
    settings = {"schedule_type": schedule_type, "timesteps": timesteps, "beta_start": beta_start, "beta_end": beta_end}
    problems = check_schedule_config(settings)
    if problems:
        raise ConfigError("; ".join(problems))
    if schedule_type == "linear":
        return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float64)
    if schedule_type == "cosine":
        steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
        f = torch.cos((steps + COSINE_OFFSET) / (1 + COSINE_OFFSET) * math.pi / 2) ** 2
        alphas_cumprod = f / f[0]
        return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(max=MAX_BETA)
    sigmoid = torch.sigmoid(torch.linspace(-SIGMOID_RANGE, SIGMOID_RANGE, timesteps, dtype=torch.float64))
    low, high = torch.sigmoid(torch.tensor([-SIGMOID_RANGE, SIGMOID_RANGE], dtype=torch.float64))
    return beta_start + (sigmoid - low) / (high - low) * (beta_end - beta_start)
