"""Reverse-process samplers with the diffusers seam: `set_timesteps(diffusion, num_steps)`, then
`step(model_output, t, sample)` once per entry of `.timesteps` (descending). A sampler is built from its own settings
only (`DDIMSampler(eta=0.5)`), so any sampler works with any model, any process and any prediction type: the
`GaussianDiffusion` turns the model output into (x0, eps) and the sampler only decides how to step. The loop that
drives them is `snpdiff.diffusion.sampling.sample`.

Timestep spacing is "trailing" (Lin et al. 2024, table 2): `num_steps` timesteps evenly spaced down from the noisiest
one, `round(T - i * T / num_steps) - 1` for i = 0 .. num_steps - 1, so sampling always starts at t = T - 1, where
x_T ~ N(0, I) holds; with num_steps == T they are T - 1 .. 0. Each step goes from t to the *previous strided*
timestep, and after the last one to the clean data (alpha_cumprod = 1).

`SAMPLER_NAMES` -> class: `ddpm` DDPMSampler (ancestral, stochastic), `ddim` DDIMSampler (deterministic at eta = 0),
`dpmpp_2m` DPMSolverMultistepSampler (DPM-Solver++(2M): deterministic, second order, meant for 10-25 steps).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch

from snpdiff.diffusion.process import GaussianDiffusion, check_sampler, check_sampling_steps
from snpdiff.errors import ConfigError

CLEAN_TIMESTEP = -1  # the "previous timestep" of the last step: the data itself, alpha_cumprod = 1


def trailing_timesteps(num_steps: int, timesteps: int) -> torch.Tensor:
    """`num_steps` timesteps evenly spaced down from `timesteps - 1`: long `[num_steps]`, strictly descending."""
    offsets = torch.arange(num_steps, dtype=torch.float64) * timesteps / num_steps
    return torch.round(timesteps - offsets).long() - 1


def standard_normal(
    shape: Sequence[int], generator: torch.Generator | None, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """N(0, I) noise of `shape` on `device`. Drawn on the generator's own device, so a CPU generator with a given seed
    gives the same numbers whichever device the sampling runs on."""
    draw_device = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=draw_device, dtype=dtype).to(device)


class Sampler(ABC):
    """What the samplers share: the strided timesteps, the alpha_cumprod pair of each step, and adding noise.

    `clip_denoised`: optional (low, high); the predicted x0 is clamped to it at every step (e.g. the genotype
    encoding's smallest and largest value), and eps is re-derived from the clamped x0.
    """

    def __init__(self, clip_denoised: tuple[float, float] | None = None) -> None:
        if clip_denoised is not None and not (len(clip_denoised) == 2 and clip_denoised[0] < clip_denoised[1]):
            raise ConfigError(f"clip_denoised={clip_denoised!r} must be a pair (low, high) with low < high, or None")
        self.clip_denoised = None if clip_denoised is None else (float(clip_denoised[0]), float(clip_denoised[1]))
        self.diffusion: GaussianDiffusion | None = None
        self.timesteps = torch.empty(0, dtype=torch.long)
        self._alpha_cumprod_pairs: dict[int, tuple[float, float]] = {}

    def set_timesteps(self, diffusion: GaussianDiffusion, num_steps: int) -> None:
        """Step on `diffusion`'s schedule, visiting `num_steps` of its timesteps (sets `.timesteps`, descending).
        Raises ConfigError naming `diffusion.sampling_steps` unless 1 <= num_steps <= diffusion.timesteps."""
        problems = check_sampling_steps(num_steps, diffusion.timesteps)
        if problems:
            raise ConfigError(problems[0])
        self.diffusion = diffusion
        self.timesteps = trailing_timesteps(num_steps, diffusion.timesteps)
        # float64 values: with strided steps 1 - a_t / a_prev is a small difference of numbers close to 1 at small t
        alphas_cumprod = diffusion.alphas_cumprod_float64.tolist()
        visited = self.timesteps.tolist()
        self._alpha_cumprod_pairs = {
            t: (alphas_cumprod[t], 1.0 if prev == CLEAN_TIMESTEP else alphas_cumprod[prev])
            for t, prev in zip(visited, visited[1:] + [CLEAN_TIMESTEP], strict=True)
        }

    def alpha_cumprod_pair(self, t: int | torch.Tensor) -> tuple[float, float]:
        """(alpha_cumprod at t, alpha_cumprod at the previous strided timestep, 1.0 after the last step)."""
        key = int(t)
        if key not in self._alpha_cumprod_pairs:
            raise ValueError(f"timestep {key} is not among this sampler's timesteps; call set_timesteps first")
        return self._alpha_cumprod_pairs[key]

    @abstractmethod
    def step_mean_std(
        self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        """Mean `[batch, ...]` and standard deviation of x_prev given x_t = `sample` and the model's output at t."""

    def step(
        self,
        model_output: torch.Tensor,
        t: int | torch.Tensor,
        sample: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One reverse step: x_t `[batch, ...]` -> x at the previous strided timestep (the clean x0 after the last)."""
        mean, std = self.step_mean_std(model_output, t, sample)
        if std == 0.0:
            return mean
        return mean + std * standard_normal(sample.shape, generator, sample.device, sample.dtype)

    def _predict(self, model_output: torch.Tensor, t: int, sample: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert self.diffusion is not None  # alpha_cumprod_pair(t) has already failed without set_timesteps
        return self.diffusion.predict_x0_and_eps(model_output, sample, t, clip_range=self.clip_denoised)


class DDPMSampler(Sampler):
    """Ancestral sampling (Ho et al. 2020) with the true posterior q(x_prev | x_t, x0) at the predicted x0.

    With num_steps == timesteps this is the original chain (prev = t - 1). With fewer steps it is the respaced chain
    of Nichol & Dhariwal (2021, sec. 4): alpha_step = a_t / a_prev, beta_step = 1 - alpha_step, and
    mean = sqrt(a_prev) beta_step / (1 - a_t) x0 + sqrt(alpha_step) (1 - a_prev) / (1 - a_t) x_t,
    variance = beta_step (1 - a_prev) / (1 - a_t), where a = alpha_cumprod.
    """

    def step_mean_std(
        self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        alpha_cumprod, alpha_cumprod_prev = self.alpha_cumprod_pair(t)
        pred_x0, _ = self._predict(model_output, int(t), sample)
        alpha_step = alpha_cumprod / alpha_cumprod_prev
        beta_step = 1.0 - alpha_step
        x0_coef = math.sqrt(alpha_cumprod_prev) * beta_step / (1.0 - alpha_cumprod)
        sample_coef = math.sqrt(alpha_step) * (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod)
        variance = beta_step * (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod)
        return x0_coef * pred_x0 + sample_coef * sample, math.sqrt(variance)


class DDIMSampler(Sampler):
    """DDIM (Song et al. 2021, eq. 12): x_prev = sqrt(a_prev) x0 + sqrt(1 - a_prev - sigma^2) eps + sigma z, with
    sigma = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev), a = alpha_cumprod at t and at the previous
    strided timestep. eta = 0 is deterministic; eta = 1 has DDPM's posterior variance."""

    def __init__(self, eta: float = 0.0, clip_denoised: tuple[float, float] | None = None) -> None:
        if not 0.0 <= eta <= 1.0:
            raise ConfigError(f"diffusion.ddim_eta={eta!r} must be in [0, 1]")
        super().__init__(clip_denoised)
        self.eta = float(eta)

    def step_mean_std(
        self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        alpha_cumprod, alpha_cumprod_prev = self.alpha_cumprod_pair(t)
        pred_x0, pred_eps = self._predict(model_output, int(t), sample)
        std = self.eta * math.sqrt(
            (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod) * (1.0 - alpha_cumprod / alpha_cumprod_prev)
        )
        # max(): rounding can push 1 - a_prev - sigma^2 a hair below 0 when eta = 1
        eps_coef = math.sqrt(max(1.0 - alpha_cumprod_prev - std**2, 0.0))
        return math.sqrt(alpha_cumprod_prev) * pred_x0 + eps_coef * pred_eps, std


class DPMSolverMultistepSampler(Sampler):
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", algorithm 2): the multistep second-order solver of the
    probability-flow ODE in its data-prediction form, as diffusers' `DPMSolverMultistepScheduler` with
    `algorithm_type="dpmsolver++"`, `solver_order=2`, `solver_type="midpoint"`, `lower_order_final=True`.
    Deterministic: `step` never draws noise.

    With alpha = sqrt(a), sigma = sqrt(1 - a), lambda = log(alpha / sigma) (a = alpha_cumprod), D0 the predicted x0
    at the current timestep s and h = lambda_p - lambda_s to the previous strided timestep p, the first-order step is
    DDIM at eta = 0:  x_p = sigma_p / sigma_s x_s + alpha_p (1 - e^-h) D0.
    The second-order step also uses D_q, the x0 predicted one step earlier at q (the noisier neighbour), with
    r = (lambda_s - lambda_q) / h:  x_p = sigma_p / sigma_s x_s + alpha_p (1 - e^-h) (D0 + (D0 - D_q) / (2 r)).
    The first step (no D_q yet) is first order, and so is the last one, to the clean data (lambda = +inf), where
    the step is x_p = D0.

    Stateful: each `step` (or `step_mean_std`) records its x0 prediction for the next one; `set_timesteps` clears
    it. A step whose timestep does not follow the recorded one (a loop started part-way) is first order.
    """

    def __init__(self, clip_denoised: tuple[float, float] | None = None) -> None:
        super().__init__(clip_denoised)
        self._coefficients: dict[int, tuple[int | None, float, float, float | None]] = {}
        self._previous: tuple[int, torch.Tensor] | None = None

    def set_timesteps(self, diffusion: GaussianDiffusion, num_steps: int) -> None:
        super().set_timesteps(diffusion, num_steps)
        self._previous = None
        # per visited t: (the noisier timestep q before it or None, sample coefficient, x0 coefficient, r or None)
        visited = self.timesteps.tolist()
        alphas_cumprod = diffusion.alphas_cumprod_float64.tolist()
        self._coefficients = {}
        for index, t in enumerate(visited):
            alpha_cumprod, alpha_cumprod_prev = self._alpha_cumprod_pairs[t]
            earlier = visited[index - 1] if index > 0 else None
            if index == len(visited) - 1:  # the last step, to the data (a_prev = 1): lambda_p = +inf, e^-h = 0
                self._coefficients[t] = (earlier, 0.0, 1.0, None)
                continue
            h = _log_snr(alpha_cumprod_prev) - _log_snr(alpha_cumprod)
            sample_coef = math.sqrt((1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod))
            x0_coef = -math.sqrt(alpha_cumprod_prev) * math.expm1(-h)  # alpha_p (1 - e^-h); expm1: exact for small h
            ratio = None if earlier is None else (_log_snr(alpha_cumprod) - _log_snr(alphas_cumprod[earlier])) / h
            self._coefficients[t] = (earlier, sample_coef, x0_coef, ratio)

    def step_mean_std(
        self, model_output: torch.Tensor, t: int | torch.Tensor, sample: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        key = int(t)
        self.alpha_cumprod_pair(key)  # the error for a timestep not visited, or before set_timesteps
        earlier, sample_coef, x0_coef, ratio = self._coefficients[key]
        pred_x0, _ = self._predict(model_output, key, sample)
        pred_x0 = pred_x0.to(sample.dtype)
        data_term = pred_x0
        if ratio is not None and self._previous is not None and self._previous[0] == earlier:
            data_term = pred_x0 + (pred_x0 - self._previous[1]) / (2.0 * ratio)
        self._previous = (key, pred_x0)
        return sample_coef * sample + x0_coef * data_term, 0.0


def _log_snr(alpha_cumprod: float) -> float:
    """lambda = log(alpha / sigma) = log(a / (1 - a)) / 2 for a = alpha_cumprod in (0, 1)."""
    return 0.5 * (math.log(alpha_cumprod) - math.log1p(-alpha_cumprod))


def sampler_from_config(
    diffusion: GaussianDiffusion, name: str | None = None, clip_denoised: tuple[float, float] | None = None
) -> Sampler:
    """The sampler the config names: `name` (one of SAMPLER_NAMES), by default `diffusion.sampler`, with
    `diffusion.ddim_eta` for DDIM. ConfigError naming `diffusion.sampler` and every allowed name for any other."""
    name = diffusion.sampler if name is None else name
    if name == "ddpm":
        return DDPMSampler(clip_denoised=clip_denoised)
    if name == "ddim":
        return DDIMSampler(eta=diffusion.ddim_eta, clip_denoised=clip_denoised)
    if name == "dpmpp_2m":
        return DPMSolverMultistepSampler(clip_denoised=clip_denoised)
    raise ConfigError(check_sampler(name)[0])
