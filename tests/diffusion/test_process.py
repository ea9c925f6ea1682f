"""GaussianDiffusion: schedule buffers, forward process, training targets, conversions between eps / x0 / v, the
true posterior, one ConfigError per cross-key rule, and the package's one-way imports."""

import ast
from pathlib import Path

import pytest
import torch

import snpdiff.diffusion
from snpdiff.diffusion import PREDICTION_TYPES, GaussianDiffusion, check_diffusion_config, make_betas
from snpdiff.errors import ConfigError

TIMESTEPS = 1000
# every regime from almost clean to almost pure noise; t = T - 1 under cosine (alpha_cumprod = 2e-9) is left out
# because recovering x0 there amplifies float32 rounding of x_t by 1 / sqrt(alpha_cumprod) = 2e4
ROUND_TRIP_TIMESTEPS = [0, 1, 100, 500, 900, TIMESTEPS - 2]


def _batch(generator_seed: int, batch: int = len(ROUND_TRIP_TIMESTEPS)) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(generator_seed)
    x0 = torch.randn(batch, 1, 32, generator=generator)
    noise = torch.randn(batch, 1, 32, generator=generator)
    return x0, noise


def test_schedule_buffers_are_float32_copies_of_the_float64_schedule_and_not_saved():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, schedule_type="linear")
    alphas_cumprod = torch.cumprod(1 - make_betas("linear", TIMESTEPS, 1e-4, 0.02), dim=0)
    assert diffusion.alphas_cumprod.dtype == torch.float32
    assert torch.equal(diffusion.alphas_cumprod, alphas_cumprod.float())
    assert torch.equal(diffusion.alphas_cumprod_float64, alphas_cumprod)
    assert diffusion.alphas_cumprod_prev[0].item() == 1.0
    assert torch.equal(diffusion.alphas_cumprod_prev[1:], diffusion.alphas_cumprod[:-1])
    assert "betas" in dict(diffusion.named_buffers())
    assert diffusion.state_dict() == {}


def test_q_sample_marginal_mean_and_std():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    generator = torch.Generator().manual_seed(0)
    x0 = torch.full((2, 1, 100_000), 0.7)
    t = torch.tensor([100, 700])
    x_t = diffusion.q_sample(x0, t, torch.randn(x0.shape, generator=generator))
    for row, timestep in enumerate(t.tolist()):
        alpha_cumprod = diffusion.alphas_cumprod_float64[timestep].item()
        std = (1 - alpha_cumprod) ** 0.5
        standard_error = std / 100_000**0.5
        assert abs(x_t[row].mean().item() - alpha_cumprod**0.5 * 0.7) < 4 * standard_error
        assert x_t[row].std().item() == pytest.approx(std, rel=0.02)


def test_q_sample_with_an_int_timestep_matches_a_per_row_timestep():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS)
    x0, noise = _batch(1, batch=3)
    assert torch.equal(diffusion.q_sample(x0, 321, noise), diffusion.q_sample(x0, torch.full((3,), 321), noise))


@pytest.mark.parametrize("schedule_type", ["linear", "cosine", "sigmoid"])
@pytest.mark.parametrize("prediction", PREDICTION_TYPES)
def test_true_target_round_trips_to_x0_and_eps(prediction, schedule_type):
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, schedule_type=schedule_type, prediction=prediction)
    x0, noise = _batch(2)
    t = torch.tensor(ROUND_TRIP_TIMESTEPS)
    x_t = diffusion.q_sample(x0, t, noise)
    target = diffusion.training_target(x0, noise, t)
    torch.testing.assert_close(diffusion.predict_x0(target, x_t, t), x0, atol=1e-4, rtol=0)
    torch.testing.assert_close(diffusion.predict_eps(target, x_t, t), noise, atol=1e-4, rtol=0)


def test_training_targets_are_eps_x0_and_v():
    x0, noise = _batch(3, batch=2)
    t = torch.tensor([10, 600])
    targets = {p: GaussianDiffusion(prediction=p).training_target(x0, noise, t) for p in PREDICTION_TYPES}
    assert torch.equal(targets["eps"], noise)
    assert torch.equal(targets["x0"], x0)
    alphas_cumprod = GaussianDiffusion().alphas_cumprod_float64[t].view(-1, 1, 1)
    expected_v = alphas_cumprod.sqrt() * noise - (1 - alphas_cumprod).sqrt() * x0
    torch.testing.assert_close(targets["v"], expected_v.float(), atol=1e-6, rtol=0)


def test_clipped_x0_is_clamped_and_eps_rederived_from_it():
    diffusion = GaussianDiffusion(prediction="x0")
    x_t = torch.randn(2, 1, 16, generator=torch.Generator().manual_seed(4))
    model_output = torch.linspace(-3, 3, 32).view(2, 1, 16)
    t = torch.tensor([200, 50])
    pred_x0, pred_eps = diffusion.predict_x0_and_eps(model_output, x_t, t, clip_range=(-1.0, 1.0))
    assert torch.equal(pred_x0, model_output.clamp(-1, 1))
    # (x0, eps) still explain x_t, so the sampler's next x_t is consistent with the clamped x0
    torch.testing.assert_close(diffusion.q_sample(pred_x0, t, pred_eps), x_t, atol=1e-5, rtol=0)
    _, unclipped_eps = diffusion.predict_x0_and_eps(model_output, x_t, t)
    assert not torch.allclose(pred_eps, unclipped_eps)


def test_q_posterior_matches_ho_et_al_formula():
    diffusion = GaussianDiffusion(timesteps=TIMESTEPS, schedule_type="linear")
    x0, x_t = _batch(5, batch=3)
    t = torch.tensor([0, 1, 500])
    mean, variance = diffusion.q_posterior(x0, x_t, t)
    alphas_cumprod = diffusion.alphas_cumprod_float64
    for row, timestep in enumerate(t.tolist()):
        a_t = alphas_cumprod[timestep].item()
        a_prev = alphas_cumprod[timestep - 1].item() if timestep > 0 else 1.0
        beta = 1 - a_t / a_prev
        x0_coef, x_t_coef = a_prev**0.5 * beta / (1 - a_t), (1 - beta) ** 0.5 * (1 - a_prev) / (1 - a_t)
        expected_mean = x0_coef * x0[row] + x_t_coef * x_t[row]
        torch.testing.assert_close(mean[row], expected_mean, atol=1e-5, rtol=0)
        assert variance[row].item() == pytest.approx(beta * (1 - a_prev) / (1 - a_t), rel=1e-5, abs=1e-12)
    assert variance[0].item() == 0.0


def test_defaults_are_valid():
    assert check_diffusion_config() == []
    diffusion = GaussianDiffusion()
    assert (diffusion.timesteps, diffusion.schedule_type, diffusion.prediction) == (1000, "cosine", "x0")
    assert (diffusion.sampler, diffusion.sampling_steps, diffusion.ddim_eta) == ("dpmpp_2m", 10, 0.0)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"schedule_type": "quadratic"}, r"diffusion\.schedule_type='quadratic' is not one of \('linear', 'cosine'"),
        ({"timesteps": 0}, r"diffusion\.timesteps=0 must be a positive integer"),
        ({"beta_start": 0.05, "beta_end": 0.02}, r"diffusion\.beta_start=0\.05 must be below diffusion\.beta_end"),
        ({"beta_end": 1.5}, r"diffusion\.beta_end=1\.5 must be a number in \(0, 1\)"),
        ({"prediction": "score"}, r"diffusion\.prediction='score' is not one of \('eps', 'x0', 'v'\)"),
        ({"sampler": "euler"}, r"diffusion\.sampler='euler' is not a known sampler; allowed: ddpm, ddim, dpmpp_2m$"),
        ({"sampling_steps": 0}, r"diffusion\.sampling_steps=0 must be an integer in \[1, diffusion\.timesteps=1000\]"),
        ({"timesteps": 100, "sampling_steps": 101}, r"diffusion\.sampling_steps=101 .*\[1, diffusion\.timesteps=100\]"),
        ({"sampling_steps": 2.5}, r"diffusion\.sampling_steps=2\.5 must be an integer"),
        ({"ddim_eta": -0.1}, r"diffusion\.ddim_eta=-0\.1 must be a number in \[0, 1\]"),
        ({"ddim_eta": 1.5}, r"diffusion\.ddim_eta=1\.5 must be a number in \[0, 1\]"),
    ],
)
def test_each_bad_setting_raises_config_error_naming_the_key(settings, message):
    assert len(check_diffusion_config(**settings)) == 1
    with pytest.raises(ConfigError, match=message):
        GaussianDiffusion(**settings)


def test_constructor_lists_every_problem_at_once():
    with pytest.raises(ConfigError) as error:
        GaussianDiffusion(prediction="score", sampler="euler", ddim_eta=2.0)
    for key in ("diffusion.prediction", "diffusion.sampler", "diffusion.ddim_eta"):
        assert key in str(error.value)


def _imported_modules(module_file: str) -> set[str]:
    """Every module `snpdiff/diffusion/<module_file>` imports, TYPE_CHECKING blocks included."""
    tree = ast.parse((Path(snpdiff.diffusion.__file__).parent / module_file).read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def test_imports_run_one_way_and_the_maths_shows_no_progress():
    """schedules <- process <- samplers <- sampling: the process never reaches up to the samplers or the loop, and
    only the loop may report progress (the maths imports no rich)."""
    assert not {"snpdiff.diffusion.samplers", "snpdiff.diffusion.sampling"} & _imported_modules("process.py")
    assert "snpdiff.diffusion.sampling" not in _imported_modules("samplers.py")
    for maths in ("schedules.py", "process.py", "samplers.py"):
        assert not any(name.split(".")[0] == "rich" for name in _imported_modules(maths)), maths
