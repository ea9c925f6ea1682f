"""DDPM, DDIM and DPM-Solver++(2M) samplers: trailing timesteps, strided coefficients, agreement with the true
posterior and with the DPM-Solver++ update, accuracy on Gaussian data whose exact denoiser is known, seeding,
clipping, the `diffusion.sampler` value from the command line, and the sampling loop
`sample(model, diffusion, sampler, shape)` end to end with small oracle models."""

import threading

import pytest
import torch

from snpdiff.diffusion import (
    PREDICTION_TYPES,
    SAMPLER_NAMES,
    DDIMSampler,
    DDPMSampler,
    DPMSolverMultistepSampler,
    GaussianDiffusion,
    sample,
    sampler_from_config,
)
from snpdiff.errors import ConfigError
from tests.helpers import run_dirs, run_train

TIMESTEPS = 1000


def _x0_oracle(diffusion: GaussianDiffusion, x0: torch.Tensor):
    """A perfect model for data that is always `x0`: it returns the true target (eps, x0 or v) at every (x_t, t)."""

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        signal_scale = diffusion.sqrt_alphas_cumprod[t].view(-1, 1, 1)
        noise_scale = diffusion.sqrt_one_minus_alphas_cumprod[t].view(-1, 1, 1)
        return diffusion.training_target(x0, (x_t - signal_scale * x0) / noise_scale, t)

    return model


def _zero_model(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(x)


def test_trailing_timesteps_start_at_the_noisiest_step():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    sampler = DDIMSampler()
    sampler.set_timesteps(diffusion, 10)
    assert sampler.timesteps.tolist() == [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]
    sampler.set_timesteps(diffusion, TIMESTEPS)
    assert sampler.timesteps.tolist() == list(range(TIMESTEPS - 1, -1, -1))
    sampler.set_timesteps(diffusion, 1)
    assert sampler.timesteps.tolist() == [999]
    sampler.set_timesteps(diffusion, 3)  # round(1000 - i * 1000 / 3) - 1
    assert sampler.timesteps.tolist() == [999, 666, 332]
    sampler.set_timesteps(diffusion, 7)
    assert sampler.timesteps[0].item() == 999
    assert bool((sampler.timesteps.diff() < 0).all())


@pytest.mark.parametrize("num_steps", [0, TIMESTEPS + 1])
def test_set_timesteps_rejects_step_counts_outside_the_process(num_steps):
    with pytest.raises(ConfigError, match=r"diffusion\.sampling_steps=.*\[1, diffusion\.timesteps=1000\]"):
        DDPMSampler().set_timesteps(GaussianDiffusion(timesteps=TIMESTEPS), num_steps)


def test_step_rejects_a_timestep_outside_the_schedule():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    sampler = DDIMSampler()
    sampler.set_timesteps(diffusion, 10)
    with pytest.raises(ValueError, match="timestep 998 is not among this sampler's timesteps"):
        sampler.step(torch.zeros(1, 1, 4), 998, torch.zeros(1, 1, 4))


def test_strided_steps_use_alpha_cumprod_of_the_previous_strided_timestep():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    sampler = DDIMSampler()
    sampler.set_timesteps(diffusion, 10)
    alphas_cumprod = diffusion.alphas_cumprod_float64.tolist()
    visited = sampler.timesteps.tolist()
    for t, prev in zip(visited[:-1], visited[1:], strict=True):
        assert sampler.alpha_cumprod_pair(t) == (alphas_cumprod[t], alphas_cumprod[prev])
        assert sampler.alpha_cumprod_pair(t)[1] != alphas_cumprod[t - 1]
    assert sampler.alpha_cumprod_pair(99) == (alphas_cumprod[99], 1.0)


def test_ddim_10_of_1000_steps_follows_the_forward_trajectory_and_recovers_x0():
    """eta = 0 with a perfect model keeps x on q_sample(x0, t, eps) at every strided t. The same loop with the
    wrong, unstrided coefficient alpha_cumprod[t - 1] leaves the trajectory and ends far from x0."""
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 1, 16, generator=generator)
    eps = torch.randn(4, 1, 16, generator=generator)
    model = _x0_oracle(diffusion, x0)
    sampler = DDIMSampler(eta=0.0)
    sampler.set_timesteps(diffusion, 10)
    visited = sampler.timesteps.tolist()

    x = diffusion.q_sample(x0, visited[0], eps)
    for t, prev in zip(visited, visited[1:] + [None], strict=True):
        x = sampler.step(model(x, torch.full((4,), t)), t, x)
        expected = x0 if prev is None else diffusion.q_sample(x0, prev, eps)
        torch.testing.assert_close(x, expected, atol=1e-3, rtol=0)
    assert (x - x0).abs().max().item() < 1e-5

    x = diffusion.q_sample(x0, visited[0], eps)
    for t in visited:
        model_output = model(x, torch.full((4,), t))
        pred_x0, pred_eps = diffusion.predict_x0_and_eps(model_output, x, t)
        wrong_prev = diffusion.alphas_cumprod_prev[t]  # alpha_cumprod[t - 1]
        x = wrong_prev.sqrt() * pred_x0 + (1 - wrong_prev).sqrt() * pred_eps
    assert (x - x0).abs().max().item() > 0.1


@pytest.mark.parametrize("sampler_name", SAMPLER_NAMES)
@pytest.mark.parametrize("prediction", PREDICTION_TYPES)
def test_sample_with_a_perfect_model_recovers_x0_for_every_prediction_type(prediction, sampler_name):
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, prediction=prediction, sampler=sampler_name, sampling_steps=10)
    x0 = torch.linspace(-1, 1, 24).view(2, 1, 12)
    sampler = sampler_from_config(diffusion)
    samples = sample(
        _x0_oracle(diffusion, x0), diffusion, sampler, x0.shape, generator=torch.Generator().manual_seed(1)
    )
    torch.testing.assert_close(samples, x0, atol=1e-4, rtol=0)


@pytest.mark.parametrize("num_steps", [TIMESTEPS, 10])
def test_ddim_with_eta_1_is_ddpm(num_steps):
    """Song et al. 2021: eta = 1 gives the DDPM posterior, for the full and the respaced chain alike."""
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    ddpm, ddim = DDPMSampler(), DDIMSampler(eta=1.0)
    ddpm.set_timesteps(diffusion, num_steps)
    ddim.set_timesteps(diffusion, num_steps)
    generator = torch.Generator().manual_seed(2)
    x_t = torch.randn(3, 1, 16, generator=generator)
    model_output = torch.randn(3, 1, 16, generator=generator)
    visited = ddpm.timesteps.tolist()
    for t in visited[:: max(1, num_steps // 10)] + [visited[-1]]:
        ddpm_mean, ddpm_std = ddpm.step_mean_std(model_output, t, x_t)
        ddim_mean, ddim_std = ddim.step_mean_std(model_output, t, x_t)
        assert ddim_std == pytest.approx(ddpm_std, rel=1e-9)
        assert (ddpm_std > 0) == (t != visited[-1])
        torch.testing.assert_close(ddim_mean, ddpm_mean, atol=1e-4, rtol=1e-4)
        seeded = [sampler.step(model_output, t, x_t, torch.Generator().manual_seed(3)) for sampler in (ddpm, ddim)]
        torch.testing.assert_close(seeded[0], seeded[1], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("t", [0, 1, 37, 500, TIMESTEPS - 1])
def test_full_ddpm_step_is_the_true_posterior_at_the_predicted_x0(t):
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, schedule_type="linear")
    sampler = DDPMSampler()
    sampler.set_timesteps(diffusion, TIMESTEPS)
    generator = torch.Generator().manual_seed(4)
    x_t = torch.randn(2, 1, 16, generator=generator)
    model_output = torch.randn(2, 1, 16, generator=generator)
    mean, std = sampler.step_mean_std(model_output, t, x_t)
    expected_mean, expected_variance = diffusion.q_posterior(diffusion.predict_x0(model_output, x_t, t), x_t, t)
    torch.testing.assert_close(mean, expected_mean, atol=1e-4, rtol=1e-4)
    assert std**2 == pytest.approx(expected_variance.item(), rel=1e-5, abs=1e-12)
    assert (std == 0.0) == (t == 0)


def test_ddpm_step_adds_noise_of_the_posterior_std():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    sampler = DDPMSampler()
    sampler.set_timesteps(diffusion, TIMESTEPS)
    x_t = torch.zeros(1, 1, 200_000)
    mean, std = sampler.step_mean_std(torch.zeros_like(x_t), 400, x_t)
    stepped = sampler.step(torch.zeros_like(x_t), 400, x_t, torch.Generator().manual_seed(5))
    assert (stepped - mean).std().item() == pytest.approx(std, rel=0.01)


def test_ddim_eta_0_is_deterministic():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    sampler = DDIMSampler(eta=0.0)
    sampler.set_timesteps(diffusion, 50)
    x_t = torch.randn(2, 1, 8, generator=torch.Generator().manual_seed(6))
    first = sampler.step(x_t, 979, x_t, torch.Generator().manual_seed(7))
    second = sampler.step(x_t, 979, x_t, torch.Generator().manual_seed(8))
    assert torch.equal(first, second)


@pytest.mark.parametrize("sampler_name, steps", [("ddpm", 100), ("ddpm", 10), ("ddim", 10)])
def test_sample_shape_dtype_and_model_calls(sampler_name, steps):
    diffusion = GaussianDiffusion(timesteps=100, schedule_type="linear", beta_end=0.2)
    calls = []

    def model(x, t):
        calls.append((tuple(x.shape), t.dtype, t.tolist()))
        return torch.zeros_like(x)

    samples = sample(model, diffusion, sampler_from_config(diffusion, sampler_name), (3, 1, 20), sampling_steps=steps)
    assert samples.shape == (3, 1, 20)
    assert samples.dtype == torch.float32
    assert bool(samples.isfinite().all())
    assert len(calls) == steps
    assert all(shape == (3, 1, 20) and dtype == torch.long for shape, dtype, _ in calls)
    first_timesteps = [timesteps[0] for _, _, timesteps in calls]
    assert first_timesteps[0] == 99
    assert first_timesteps == sorted(first_timesteps, reverse=True)
    assert all(len(set(timesteps)) == 1 for _, _, timesteps in calls)


@pytest.mark.parametrize("sampler_name", SAMPLER_NAMES)
def test_same_seed_same_samples_other_seed_other_samples(sampler_name):
    # eps prediction: the zero model then predicts x0 = x_t / sqrt(a_t), so the start noise reaches the samples
    diffusion = GaussianDiffusion(
        timesteps=100, prediction="eps", sampler=sampler_name, sampling_steps=20, ddim_eta=0.5
    )

    def draw(seed: int) -> torch.Tensor:
        sampler = sampler_from_config(diffusion)
        return sample(_zero_model, diffusion, sampler, (2, 1, 16), generator=torch.Generator().manual_seed(seed))

    assert torch.equal(draw(11), draw(11))
    assert not torch.allclose(draw(11), draw(12))


def test_clip_denoised_keeps_samples_in_the_encoding_range():
    diffusion = GaussianDiffusion(timesteps=100, prediction="x0", sampling_steps=10)

    def overshooting_model(x, t):
        return torch.full_like(x, 5.0)

    generator = torch.Generator().manual_seed(9)
    clipped = sample(
        overshooting_model, diffusion, DDIMSampler(clip_denoised=(-1.0, 1.0)), (2, 1, 8), generator=generator
    )
    unclipped = sample(overshooting_model, diffusion, DDIMSampler(), (2, 1, 8), generator=generator)
    assert torch.equal(clipped, torch.ones_like(clipped))
    torch.testing.assert_close(unclipped, torch.full_like(unclipped, 5.0))


def test_bad_sampler_settings_fail_before_the_model_runs():
    diffusion = GaussianDiffusion(timesteps=100, sampling_steps=10)
    calls = []

    def model(x, t):
        calls.append(t)
        return x

    with pytest.raises(
        ConfigError, match=r"^diffusion\.sampler='euler' is not a known sampler; allowed: ddpm, ddim, dpmpp_2m$"
    ):
        sampler_from_config(diffusion, "euler")
    with pytest.raises(
        ConfigError, match=r"clip_denoised=\(1\.0, -1\.0\) must be a pair \(low, high\) with low < high"
    ):
        DDPMSampler(clip_denoised=(1.0, -1.0))
    with pytest.raises(
        ConfigError, match=r"diffusion\.sampling_steps=101 must be an integer in \[1, .*timesteps=100\]"
    ):
        sample(model, diffusion, DDIMSampler(), (1, 1, 4), sampling_steps=101)
    assert calls == []


def test_sampler_from_config_follows_the_diffusion_settings():
    diffusion = GaussianDiffusion(sampler="ddim", ddim_eta=0.3)
    chosen = sampler_from_config(diffusion, clip_denoised=(-1.0, 1.0))
    assert isinstance(chosen, DDIMSampler) and chosen.eta == 0.3 and chosen.clip_denoised == (-1.0, 1.0)
    assert isinstance(sampler_from_config(diffusion, "ddpm"), DDPMSampler)
    fast = sampler_from_config(diffusion, "dpmpp_2m", clip_denoised=(-1.0, 1.0))
    assert isinstance(fast, DPMSolverMultistepSampler) and fast.clip_denoised == (-1.0, 1.0)
    assert SAMPLER_NAMES == ("ddpm", "ddim", "dpmpp_2m")


def test_step_before_set_timesteps_asks_for_it():
    with pytest.raises(ValueError, match="call set_timesteps first"):
        DDIMSampler().step(torch.zeros(1, 1, 4), 999, torch.zeros(1, 1, 4))


def test_ddim_sampler_rejects_eta_outside_unit_interval():
    with pytest.raises(ConfigError, match=r"diffusion\.ddim_eta=1\.5 must be in \[0, 1\]"):
        DDIMSampler(eta=1.5)


def test_samplers_are_swappable_on_one_model_and_process():
    """The same model and process serve DDPM, DDIM and a stochastic DDIM: only the sampler instance changes, and one
    instance can be reused for several runs."""
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, prediction="x0")
    x0 = torch.linspace(-1, 1, 16).view(2, 1, 8)
    model = _x0_oracle(diffusion, x0)
    reused = DDIMSampler(eta=0.5)
    for sampler in (DDPMSampler(), DDIMSampler(), reused, reused):
        samples = sample(model, diffusion, sampler, x0.shape, 10, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(samples, x0, atol=1e-4, rtol=0)


def test_on_step_reports_every_step_and_changes_nothing():
    diffusion = GaussianDiffusion(timesteps=100, sampling_steps=20)
    reported = []
    quiet = sample(_zero_model, diffusion, DDIMSampler(), (1, 1, 4), generator=torch.Generator().manual_seed(10))
    shown = sample(
        _zero_model,
        diffusion,
        DDIMSampler(),
        (1, 1, 4),
        generator=torch.Generator().manual_seed(10),
        on_step=lambda done, total: reported.append((done, total)),
    )
    assert reported == [(done, 20) for done in range(1, 21)]
    assert torch.equal(quiet, shown)


def test_sampling_runs_in_inference_mode():
    diffusion = GaussianDiffusion(timesteps=100, sampling_steps=5)
    modes = []

    def model(x, t):
        modes.append(torch.is_inference_mode_enabled())
        return torch.zeros_like(x)

    samples = sample(model, diffusion, DDIMSampler(), (1, 1, 4))
    assert modes == [True] * 5 and samples.is_inference()


def test_cpu_model_calls_run_in_slices_across_threads_and_give_the_whole_batch_samples():
    """With 2 torch threads a batch of 128 runs as 4 slices of 32 on 2 pool threads with 1 intra-op thread each
    (in inference mode there too); the samples equal the whole-batch call's and the thread count is restored."""
    from snpdiff.models import UNet1D

    torch.manual_seed(0)
    unet = UNet1D(seq_length=32, channels=8, dim_mults=(1, 2), norm_groups=4).eval()
    diffusion = GaussianDiffusion(timesteps=100, sampling_steps=5)
    seen = []

    def model(x, t):
        seen.append(
            (x.shape[0], threading.current_thread().name, torch.get_num_threads(), torch.is_inference_mode_enabled())
        )
        return unet(x, t)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        split = sample(model, diffusion, DDIMSampler(), (128, 1, 32), generator=torch.Generator().manual_seed(3))
        assert torch.get_num_threads() == 2
        calls, seen[:] = list(seen), []
        whole = sample(
            model, diffusion, DDIMSampler(), (128, 1, 32), generator=torch.Generator().manual_seed(3), cpu_slice=None
        )
    finally:
        torch.set_num_threads(before)
    assert len(calls) == 20 and {size for size, *_ in calls} == {32}
    assert all(
        name.startswith("snpdiff-sample") and threads == 1 and inference for _, name, threads, inference in calls
    )
    assert len({name for _, name, *_ in calls}) == 2
    assert seen == [(128, threading.current_thread().name, 2, True)] * 5
    torch.testing.assert_close(split, whole, rtol=1e-5, atol=1e-5)


def test_batches_under_two_slices_per_thread_run_whole():
    """With 2 threads a batch under 2 x 2 slices of `cpu_slice` (32) individuals is one call with the usual
    threads (at 64 slicing was slower end to end); 130 is 4 x 32 + 2."""
    diffusion = GaussianDiffusion(timesteps=100, sampling_steps=3)
    sizes = []

    def model(x, t):
        sizes.append(x.shape[0])
        return torch.zeros_like(x)

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        sample(model, diffusion, DDIMSampler(), (127, 1, 8))
        assert sizes == [127, 127, 127]
        sizes.clear()
        sample(model, diffusion, DDIMSampler(), (130, 1, 8))
    finally:
        torch.set_num_threads(before)
    assert sorted(sizes) == [2] * 3 + [32] * 12


# --- DPM-Solver++(2M) --------------------------------------------------------------------------------------------


def _gaussian_oracle(diffusion: GaussianDiffusion, mu: float, s: float):
    """The exact model for data x0 ~ N(mu, s^2) in every coordinate: x_t = sqrt(a) x0 + sqrt(1 - a) eps is jointly
    Gaussian with x0, so E[x0 | x_t] = mu + sqrt(a) s^2 / (a s^2 + 1 - a) (x_t - sqrt(a) mu), a = alpha_cumprod at t.
    Returns that x0 (or the eps or v it implies), computed in float64."""

    def model(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = diffusion.alphas_cumprod_float64[t.cpu()].view(-1, 1, 1)
        x = x_t.double()
        x0 = mu + a.sqrt() * s**2 / (a * s**2 + 1 - a) * (x - a.sqrt() * mu)
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        output = {"x0": x0, "eps": eps, "v": a.sqrt() * eps - (1 - a).sqrt() * x0}[diffusion.prediction]
        return output.float()

    return model


def _output_mean_std(name: str, steps: int, mu: float, s: float, prediction: str = "x0") -> tuple[float, float]:
    """Mean and standard deviation of what `sample` draws with the exact Gaussian model, to float rounding.

    A deterministic sampler with a linear model is an affine map x0 = std z + mean of its start noise z ~ N(0, I),
    the same in every coordinate; the regression of the samples on z (redrawn from the same seed) reads both off
    without Monte Carlo error, and the residual shows the map is affine (to the float32 rounding that eps
    prediction magnifies by 1 / sqrt(a) ~ 2e4 at the first step)."""
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, prediction=prediction)
    shape = (2, 1, 500)
    samples = sample(
        _gaussian_oracle(diffusion, mu, s),
        diffusion,
        sampler_from_config(diffusion, name),
        shape,
        sampling_steps=steps,
        generator=torch.Generator().manual_seed(0),
    ).double()
    z = torch.randn(shape, generator=torch.Generator().manual_seed(0)).double()
    slope = ((samples - samples.mean()) * (z - z.mean())).sum() / ((z - z.mean()) ** 2).sum()
    intercept = samples.mean() - slope * z.mean()
    assert (samples - slope * z - intercept).abs().max().item() < 1e-3
    return intercept.item(), slope.item()


MU, S = 0.5, 0.5  # the spread of centred genotype codes


@pytest.mark.parametrize("steps, ratio", [(10, 0.5), (15, 0.2), (20, 0.1)])
def test_dpmpp_2m_reaches_the_data_distribution_much_closer_than_ddim_at_few_steps(steps, ratio):
    """Both keep the mean (the exact ODE moves it linearly); DDIM's first-order steps shrink the spread, while
    DPM-Solver++(2M)'s error is a fraction of DDIM's at the same steps (0.34, 0.14, 0.04 at 10, 15, 20)."""
    ddim_mean, ddim_std = _output_mean_std("ddim", steps, MU, S)
    fast_mean, fast_std = _output_mean_std("dpmpp_2m", steps, MU, S)
    assert abs(ddim_mean - MU) < 1e-4 and abs(fast_mean - MU) < 1e-4
    assert abs(ddim_std - S) > 0.03
    assert abs(fast_std - S) < ratio * abs(ddim_std - S)


def test_dpmpp_2m_converges_as_steps_grow_and_beats_ddim_at_eight_times_the_steps():
    errors = {steps: abs(_output_mean_std("dpmpp_2m", steps, MU, S)[1] - S) for steps in (10, 20, 40, 80, 160)}
    assert list(errors.values()) == sorted(errors.values(), reverse=True)
    assert errors[160] < 2e-4
    assert errors[20] < abs(_output_mean_std("ddim", 160, MU, S)[1] - S)


@pytest.mark.parametrize("prediction", PREDICTION_TYPES)
def test_dpmpp_2m_is_as_accurate_for_every_prediction_type(prediction):
    """The solver steps on the x0 the process derives from eps, x0 or v alike: the same spread at 20 steps."""
    mean, std = _output_mean_std("dpmpp_2m", 20, MU, S, prediction)
    reference = _output_mean_std("dpmpp_2m", 20, MU, S, "x0")[1]
    assert abs(mean - MU) < 1e-3
    assert std == pytest.approx(reference, abs=1e-3)
    assert abs(std - S) < 3e-3


def _reference_dpmpp_2m(diffusion: GaussianDiffusion, timesteps: list[int], x: torch.Tensor, x0s: list[torch.Tensor]):
    """The DPM-Solver++(2M) update as Lu et al. (2022) and diffusers write it, in log-SNR, float64: after every step,
    with D_i the x0 given at step i, h = lambda_next - lambda_i, r = (lambda_i - lambda_{i-1}) / h,
    x_next = sigma_next / sigma_i x - alpha_next (e^-h - 1) (D_i + (D_i - D_{i-1}) / (2 r)); first order at the first
    step (no D_{i-1}) and the last, which lands on the data (sigma = 0): x = D_last."""
    alphas_cumprod = diffusion.alphas_cumprod_float64
    alpha = [alphas_cumprod[t].sqrt() for t in timesteps]
    sigma = [(1 - alphas_cumprod[t]).sqrt() for t in timesteps]
    lam = [torch.log(a) - torch.log(sd) for a, sd in zip(alpha, sigma, strict=True)]
    out = []
    for i, d0 in enumerate(x0s):
        if i == len(timesteps) - 1:
            x = d0
        else:
            h = lam[i + 1] - lam[i]
            data = d0 if i == 0 else d0 + (d0 - x0s[i - 1]) / (2 * ((lam[i] - lam[i - 1]) / h))
            x = sigma[i + 1] / sigma[i] * x - alpha[i + 1] * (torch.exp(-h) - 1) * data
        out.append(x)
    return out


def test_dpmpp_2m_steps_are_the_reference_update_on_a_fixed_example():
    """Five steps on fixed x0 outputs (x0 prediction, so D is the model output itself) agree with the reference
    written independently above, step by step; the first equals DDIM's step and the last is the x0 given."""
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, prediction="x0")
    sampler = DPMSolverMultistepSampler()
    sampler.set_timesteps(diffusion, 5)
    visited = sampler.timesteps.tolist()
    generator = torch.Generator().manual_seed(12)
    x_start = torch.randn(2, 1, 6, generator=generator, dtype=torch.float64)
    x0s = [torch.randn(2, 1, 6, generator=generator, dtype=torch.float64) for _ in visited]
    expected = _reference_dpmpp_2m(diffusion, visited, x_start, x0s)

    ddim = DDIMSampler()
    ddim.set_timesteps(diffusion, 5)
    x = x_start
    for i, (t, x0) in enumerate(zip(visited, x0s, strict=True)):
        if i == 0:
            torch.testing.assert_close(sampler.step(x0, t, x), ddim.step(x0, t, x), rtol=0, atol=1e-6)
            sampler.set_timesteps(diffusion, 5)
        x = sampler.step(x0, t, x)
        torch.testing.assert_close(x, expected[i], rtol=0, atol=1e-9)
    assert torch.equal(x, x0s[-1])
    # the second-order term matters: the same steps without it (DDIM) end elsewhere before the last step
    assert not torch.allclose(expected[-2], _ddim_path(diffusion, visited, x_start, x0s)[-2], atol=1e-3)


def _ddim_path(diffusion, visited, x, x0s):
    sampler, path = DDIMSampler(), []
    sampler.set_timesteps(diffusion, len(visited))
    for t, x0 in zip(visited, x0s, strict=True):
        x = sampler.step(x0, t, x)
        path.append(x)
    return path


def test_dpmpp_2m_reused_gives_the_same_samples_and_a_lone_step_is_first_order():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, prediction="eps", sampling_steps=10)
    reused = DPMSolverMultistepSampler()
    first, again = (
        sample(_zero_model, diffusion, reused, (2, 1, 8), generator=torch.Generator().manual_seed(13)) for _ in "ab"
    )
    fresh = sample(
        _zero_model, diffusion, DPMSolverMultistepSampler(), (2, 1, 8), generator=torch.Generator().manual_seed(13)
    )
    assert torch.equal(first, again) and torch.equal(first, fresh)

    # a step without the x0 of the step before it (a loop started part-way) is DDIM's first-order step
    ddim = DDIMSampler()
    for sampler in (reused, ddim):
        sampler.set_timesteps(diffusion, 10)
    x_t = torch.randn(2, 1, 8, generator=torch.Generator().manual_seed(14))
    model_output = torch.randn(2, 1, 8, generator=torch.Generator().manual_seed(15))
    t = reused.timesteps[3].item()
    torch.testing.assert_close(reused.step(model_output, t, x_t), ddim.step(model_output, t, x_t))


def test_dpmpp_2m_draws_no_noise_and_clips_every_x0():
    diffusion = GaussianDiffusion(timesteps=100, prediction="x0", sampling_steps=10)
    sampler = DPMSolverMultistepSampler()
    sampler.set_timesteps(diffusion, 10)
    x_t = torch.randn(2, 1, 8, generator=torch.Generator().manual_seed(16))
    steps = [sampler.step(x_t, 99, x_t, torch.Generator().manual_seed(seed)) for seed in (17, 18)]
    assert torch.equal(steps[0], steps[1])
    assert sampler.step_mean_std(x_t, 89, x_t)[1] == 0.0

    def overshooting_model(x, t):
        return torch.full_like(x, 5.0)

    clipped = sample(overshooting_model, diffusion, DPMSolverMultistepSampler(clip_denoised=(-1.0, 1.0)), (2, 1, 8))
    assert torch.equal(clipped, torch.ones_like(clipped))


def test_train_cli_accepts_dpmpp_2m_and_refuses_an_unknown_sampler_before_training(tmp_path, fast_cfg):
    """`python train.py diffusion.sampler=...`: a bad name stops with the allowed names and leaves no run folder;
    dpmpp_2m composes, passes validation and builds its sampler from the instantiated process."""
    from hydra.utils import instantiate

    from snpdiff.config.rules import validate_config

    result = run_train("diffusion.sampler=dpm", root=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ")
    assert "diffusion.sampler='dpm' is not a known sampler; allowed: ddpm, ddim, dpmpp_2m\n" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_dirs(tmp_path) == []

    cfg = fast_cfg("diffusion.sampler=dpmpp_2m", "diffusion.sampling_steps=15")
    validate_config(cfg)
    diffusion = instantiate(cfg.diffusion)
    assert isinstance(sampler_from_config(diffusion), DPMSolverMultistepSampler)
    assert diffusion.sampling_steps == 15
