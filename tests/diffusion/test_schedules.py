"""Noise schedules: valid betas, the shape each type promises, and clear errors for bad settings."""

import math

import pytest
import torch

from snpdiff.diffusion.schedules import SCHEDULE_TYPES, check_schedule_config, make_betas
from snpdiff.errors import ConfigError

TIMESTEPS = 1000
BETA_START, BETA_END = 1e-4, 0.02


@pytest.mark.parametrize("schedule_type", SCHEDULE_TYPES)
def test_betas_are_valid_and_noise_reaches_almost_pure_noise(schedule_type):
    betas = make_betas(schedule_type, TIMESTEPS, BETA_START, BETA_END)
    assert betas.dtype == torch.float64
    assert betas.shape == (TIMESTEPS,)
    assert bool(((betas > 0) & (betas < 1)).all())
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    assert bool((alphas_cumprod[1:] < alphas_cumprod[:-1]).all())
    assert alphas_cumprod[0] > 0.999
    assert alphas_cumprod[-1] < 1e-4


@pytest.mark.parametrize("schedule_type", ["linear", "sigmoid"])
def test_beta_schedules_start_and_end_at_the_configured_values(schedule_type):
    betas = make_betas(schedule_type, TIMESTEPS, BETA_START, BETA_END)
    assert betas[0].item() == pytest.approx(BETA_START, rel=1e-12)
    assert betas[-1].item() == pytest.approx(BETA_END, rel=1e-12)
    assert bool((betas[1:] > betas[:-1]).all())


def test_linear_betas_are_evenly_spaced():
    steps = make_betas("linear", TIMESTEPS, BETA_START, BETA_END).diff()
    assert torch.allclose(steps, torch.full_like(steps, (BETA_END - BETA_START) / (TIMESTEPS - 1)), rtol=1e-9)


def test_sigmoid_betas_change_fastest_in_the_middle():
    steps = make_betas("sigmoid", TIMESTEPS, BETA_START, BETA_END).diff()
    assert abs(int(steps.argmax()) - TIMESTEPS // 2) <= 1
    assert steps[0] < steps.max() / 100
    assert steps[-1] < steps.max() / 100


def test_cosine_follows_nichol_dhariwal_and_clips_the_last_beta():
    betas = make_betas("cosine", TIMESTEPS, BETA_START, BETA_END)
    alphas_cumprod = torch.cumprod(1 - betas, dim=0)
    s = 0.008

    def f(t: float) -> float:
        return math.cos((t / TIMESTEPS + s) / (1 + s) * math.pi / 2) ** 2

    for t in (0, 1, 250, 500, 900, TIMESTEPS - 2):  # the last step is clipped, so it leaves the closed form
        assert alphas_cumprod[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert betas.max().item() == 0.999
    assert betas[-1].item() == 0.999
    # cosine is defined without beta_start/beta_end
    assert torch.equal(betas, make_betas("cosine", TIMESTEPS, 1e-3, 0.5))


@pytest.mark.parametrize("schedule_type", SCHEDULE_TYPES)
def test_single_timestep_schedule(schedule_type):
    betas = make_betas(schedule_type, 1, BETA_START, BETA_END)
    assert betas.shape == (1,)
    assert 0 < betas.item() < 1


def test_unknown_schedule_type_names_key_and_allowed_values():
    with pytest.raises(ConfigError, match=r"diffusion\.schedule_type='quadratic'.*'linear', 'cosine', 'sigmoid'"):
        make_betas("quadratic", TIMESTEPS, BETA_START, BETA_END)


@pytest.mark.parametrize("timesteps", [0, -5, 2.5, True])
def test_non_positive_or_non_integer_timesteps(timesteps):
    with pytest.raises(ConfigError, match=r"diffusion\.timesteps=.* must be a positive integer"):
        make_betas("linear", timesteps, BETA_START, BETA_END)


@pytest.mark.parametrize("beta_start, beta_end", [(0.02, 0.02), (0.02, 0.01)])
def test_beta_start_not_below_beta_end(beta_start, beta_end):
    with pytest.raises(ConfigError, match=r"diffusion\.beta_start=.* must be below diffusion\.beta_end"):
        make_betas("linear", TIMESTEPS, beta_start, beta_end)


@pytest.mark.parametrize("key, beta_start, beta_end", [("beta_start", 0.0, 0.02), ("beta_end", 1e-4, 1.0)])
def test_beta_outside_unit_interval(key, beta_start, beta_end):
    with pytest.raises(ConfigError, match=rf"diffusion\.{key}=.* must be a number in \(0, 1\)"):
        make_betas("sigmoid", TIMESTEPS, beta_start, beta_end)


def test_check_schedule_config_has_no_defaults_and_checks_only_the_keys_given():
    assert check_schedule_config({}) == []
    assert check_schedule_config({"beta_start": 0.05}) == []  # the order needs beta_end too
    assert check_schedule_config({"beta_start": 0.05, "beta_end": 0.02}) == [
        "diffusion.beta_start=0.05 must be below diffusion.beta_end=0.02"
    ]
    assert check_schedule_config({"schedule_type": "quadratic", "timesteps": True}) == [
        "diffusion.schedule_type='quadratic' is not one of ('linear', 'cosine', 'sigmoid')",
        "diffusion.timesteps=True must be a positive integer",
    ]
