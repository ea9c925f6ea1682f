"""The Gaussian diffusion process: forward noising, training targets, and the conversions between what a model
predicts (eps, x0 or v) and the clean data. Works with any model called as `model(x, t)`; knows nothing of its
architecture, of the samplers that stand on it (`samplers.py`) or of the sampling loop (`sampling.py`)."""

import torch
from torch import nn

from snpdiff.diffusion.rules import (  # noqa: F401 (re-exported)
    PREDICTION_TYPES,
    SAMPLER_NAMES,
    check_diffusion_config,
    check_sampler,
    check_sampling_steps,
)
from snpdiff.diffusion.schedules import make_betas
from snpdiff.errors import checked_by

Timestep = int | torch.Tensor  # one timestep for the whole batch, or a long tensor [batch]


class GaussianDiffusion(nn.Module):
    """Forward process q(x_t | x0) = N(sqrt(a_t) x0, (1 - a_t) I), a = alphas_cumprod, t = 0 .. timesteps - 1, and
    sampling from the reverse process.

    `prediction` says what the model is trained to output: `eps` (the noise), `x0` (the clean data, the default:
    ahead of `eps` and `v` on every learning curve of docs/metrics.md) or `v`
    (= sqrt(a_t) eps - sqrt(1 - a_t) x0, Salimans & Ho 2022). `sampler`, `sampling_steps` and `ddim_eta` are only
    stored here: they are the sampling defaults a checkpoint carries, read by `samplers.sampler_from_config` and
    `sampling.sample`; this class never samples. The default, DPM-Solver++(2M) at 10 steps, matched DDIM-50 within
    one standard error on every quality metric at a fifth of the time (docs/performance.md#samplers).

    The schedule tensors `[timesteps]` are computed in float64 and kept as float32 buffers that follow the module's
    device. They are not saved in state dicts: they are a pure function of the settings, which the config keeps.
    `alphas_cumprod_float64` (CPU) keeps full precision for the samplers' strided coefficients.
    """

    betas: torch.Tensor
    alphas_cumprod: torch.Tensor
    alphas_cumprod_prev: torch.Tensor
    sqrt_alphas_cumprod: torch.Tensor
    sqrt_one_minus_alphas_cumprod: torch.Tensor
    sqrt_recip_alphas_cumprod: torch.Tensor
    sqrt_recipm1_alphas_cumprod: torch.Tensor
    posterior_variance: torch.Tensor
    posterior_mean_coef1: torch.Tensor
    posterior_mean_coef2: torch.Tensor

    @checked_by(check_diffusion_config)
    def __init__(
        self,
        timesteps: int = 1000,
        schedule_type: str = "cosine",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        prediction: str = "x0",
        sampler: str = "dpmpp_2m",
        sampling_steps: int = 10,
        ddim_eta: float = 0.0,
        min_snr_gamma: float | None = None,
    ) -> None:
        super().__init__()
        self.timesteps = int(timesteps)
        self.schedule_type = schedule_type
        self.prediction = prediction
        self.sampler = sampler
        self.sampling_steps = int(sampling_steps)
        self.ddim_eta = float(ddim_eta)
        self.min_snr_gamma = None if min_snr_gamma is None else float(min_snr_gamma)

        betas = make_betas(schedule_type, timesteps, beta_start, beta_end)
        alphas_cumprod = torch.cumprod(1.0 - betas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        self.alphas_cumprod_float64 = alphas_cumprod
        schedule = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1.0 - alphas_cumprod).sqrt(),
            "sqrt_recip_alphas_cumprod": alphas_cumprod.rsqrt(),
            "sqrt_recipm1_alphas_cumprod": (1.0 / alphas_cumprod - 1.0).sqrt(),
            # q(x_{t-1} | x_t, x0) = N(coef1 x0 + coef2 x_t, variance), Ho et al. (2020) eq. 7
            "posterior_variance": betas * (1.0 - alphas_cumprod_prev) / (1.0 - alphas_cumprod),
            "posterior_mean_coef1": betas * alphas_cumprod_prev.sqrt() / (1.0 - alphas_cumprod),
            "posterior_mean_coef2": (1.0 - alphas_cumprod_prev) * (1.0 - betas).sqrt() / (1.0 - alphas_cumprod),
        }
        for name, values in schedule.items():
            self.register_buffer(name, values.to(torch.float32), persistent=False)

    def extra_repr(self) -> str:
        return (
            f"timesteps={self.timesteps}, schedule_type={self.schedule_type!r}, prediction={self.prediction!r}, "
            f"sampler={self.sampler!r}, sampling_steps={self.sampling_steps}, ddim_eta={self.ddim_eta}, "
            f"min_snr_gamma={self.min_snr_gamma}"
        )

    @staticmethod
    def _at(values: torch.Tensor, t: Timestep, like: torch.Tensor) -> torch.Tensor:
        """values[t] shaped to broadcast against `like` `[batch, ...]`."""
        if not isinstance(t, torch.Tensor):
            return values[int(t)].to(like.dtype)
        picked = values[t.to(values.device)].to(device=like.device, dtype=like.dtype)
        return picked.view(-1, *([1] * (like.ndim - 1)))

    def _signal_noise_scales(self, t: Timestep, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(sqrt(a_t), sqrt(1 - a_t)) shaped to broadcast against `like`."""
        return self._at(self.sqrt_alphas_cumprod, t, like), self._at(self.sqrt_one_minus_alphas_cumprod, t, like)

    def q_sample(self, x0: torch.Tensor, t: Timestep, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(a_t) x0 + sqrt(1 - a_t) noise; x0, noise `[batch, ...]`, t int or long `[batch]`."""
        signal_scale, noise_scale = self._signal_noise_scales(t, x0)
        return signal_scale * x0 + noise_scale * noise

    def training_target(self, x0: torch.Tensor, noise: torch.Tensor, t: Timestep) -> torch.Tensor:
        """What the model should output for x_t = q_sample(x0, t, noise): noise, x0 or v, per `prediction`."""
        if self.prediction == "eps":
            return noise
        if self.prediction == "x0":
            return x0
        signal_scale, noise_scale = self._signal_noise_scales(t, x0)
        return signal_scale * noise - noise_scale * x0

    def loss_weight(self, t: torch.Tensor) -> torch.Tensor:
        """Per-sample weight `[batch]` of the squared error on the prediction target at timesteps t (long `[batch]`).

        Min-SNR-gamma (Hang et al. 2023): the error on x0 is weighted by min(SNR_t, gamma), SNR_t = a_t / (1 - a_t),
        so the nearly noise-free steps, easy and many, stop dominating. In the prediction's own units that is
        min(SNR, gamma) / SNR for eps, min(SNR, gamma) for x0 and min(SNR, gamma) / (SNR + 1) for v. All ones when
        `min_snr_gamma` is None.
        """
        if self.min_snr_gamma is None:
            return torch.ones(t.shape, device=t.device)
        alphas = self.alphas_cumprod_float64[t.cpu()]
        snr = alphas / (1.0 - alphas)
        clipped = snr.clamp(max=self.min_snr_gamma)
        weight = {"eps": clipped / snr, "x0": clipped, "v": clipped / (snr + 1.0)}[self.prediction]
        return weight.to(device=t.device, dtype=torch.float32)

    def predict_x0(self, model_output: torch.Tensor, x_t: torch.Tensor, t: Timestep) -> torch.Tensor:
        """The clean data implied by the model's output at x_t `[batch, ...]`."""
        if self.prediction == "eps":
            recip_scale = self._at(self.sqrt_recip_alphas_cumprod, t, x_t)
            return recip_scale * x_t - self._at(self.sqrt_recipm1_alphas_cumprod, t, x_t) * model_output
        if self.prediction == "x0":
            return model_output
        signal_scale, noise_scale = self._signal_noise_scales(t, x_t)
        return signal_scale * x_t - noise_scale * model_output

    def predict_eps(self, model_output: torch.Tensor, x_t: torch.Tensor, t: Timestep) -> torch.Tensor:
        """The noise implied by the model's output at x_t `[batch, ...]`."""
        if self.prediction == "eps":
            return model_output
        if self.prediction == "x0":
            return self._eps_from_x0(model_output, x_t, t)
        signal_scale, noise_scale = self._signal_noise_scales(t, x_t)
        return noise_scale * x_t + signal_scale * model_output

    def _eps_from_x0(self, x0: torch.Tensor, x_t: torch.Tensor, t: Timestep) -> torch.Tensor:
        recip_scale = self._at(self.sqrt_recip_alphas_cumprod, t, x_t)
        return (recip_scale * x_t - x0) / self._at(self.sqrt_recipm1_alphas_cumprod, t, x_t)

    def predict_x0_and_eps(
        self,
        model_output: torch.Tensor,
        x_t: torch.Tensor,
        t: Timestep,
        clip_range: tuple[float, float] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, eps) implied by the model's output. With `clip_range` = (low, high), x0 is clamped to it and eps is
        re-derived from the clamped x0, so the sampler's next x_t stays consistent with the x0 it used."""
        pred_x0 = self.predict_x0(model_output, x_t, t)
        if clip_range is None:
            return pred_x0, self.predict_eps(model_output, x_t, t)
        pred_x0 = pred_x0.clamp(*clip_range)
        return pred_x0, self._eps_from_x0(pred_x0, x_t, t)

    def q_posterior(self, x0: torch.Tensor, x_t: torch.Tensor, t: Timestep) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean `[batch, ...]` and variance (broadcastable) of q(x_{t-1} | x_t, x0) in the full chain."""
        mean = self._at(self.posterior_mean_coef1, t, x_t) * x0 + self._at(self.posterior_mean_coef2, t, x_t) * x_t
        return mean, self._at(self.posterior_variance, t, x_t)
