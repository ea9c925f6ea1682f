"""The training loss: MSE on the prediction target plus the discrete penalty, bounded at every timestep."""

import pytest
import torch

from snpdiff.data.encoding import GenotypeEncoding
from snpdiff.diffusion import PREDICTION_TYPES, SCHEDULE_TYPES, GaussianDiffusion
from snpdiff.diffusion.losses import DiffusionLoss, discrete_penalty, weighted_discrete_penalty


@pytest.mark.parametrize("mode", ["unit", "centered", "dosage"])
def test_penalty_is_zero_on_valid_codes_and_positive_off_them(mode):
    values = GenotypeEncoding(mode).values_tensor()
    on_codes = values[torch.tensor([[[0, 1, 2, 2, 0]]])]
    assert discrete_penalty(on_codes, values).max().item() == 0.0
    step = float(values[1] - values[0])
    off_codes = on_codes + 0.25 * step
    # every entry is a quarter step from its nearest code: penalty = (step / 4) ** 2
    torch.testing.assert_close(discrete_penalty(off_codes, values), torch.full((1, 1, 5), (0.25 * step) ** 2))


def test_penalty_gradient_pulls_towards_nearest_code():
    values = GenotypeEncoding("centered").values_tensor()  # -1, 0, 1
    x0_pred = torch.tensor([[[0.2, -0.9, 0.6]]], requires_grad=True)
    discrete_penalty(x0_pred, values).mean().backward()
    # d/dx mean((x - nearest)^2) = 2 (x - nearest) / n
    expected = 2 * torch.tensor([[[0.2 - 0.0, -0.9 + 1.0, 0.6 - 1.0]]]) / 3
    torch.testing.assert_close(x0_pred.grad, expected)


def test_diffusion_loss_adds_weighted_penalty_only_when_switched_on():
    values = GenotypeEncoding("centered").values_tensor()
    output, target = torch.zeros(2, 1, 4), torch.ones(2, 1, 4)
    x0_pred = torch.full((2, 1, 4), 0.5)  # distance 0.25 to the nearest code
    signal_fraction = torch.tensor([1.0, 0.5])  # penalty (0.25 + 0.5 * 0.25) / 2
    plain, parts = DiffusionLoss(False, 3.0)(output, target, x0_pred, values, signal_fraction)
    assert plain.item() == pytest.approx(1.0) and parts.keys() == {"mse"}
    total, parts = DiffusionLoss(True, 3.0)(output, target, x0_pred, values, signal_fraction)
    assert parts["mse"].item() == pytest.approx(1.0)
    assert parts["discrete_penalty"].item() == pytest.approx(0.1875)
    assert total.item() == pytest.approx(1.0 + 3.0 * 0.1875)


def test_penalty_scores_the_x0_the_sampler_uses_clamped_to_the_code_range():
    values = GenotypeEncoding("centered").values_tensor()  # -1, 0, 1
    far_out = torch.tensor([[[-40.0, 1e6, 0.5]]])  # clamped: -1, 1 (on codes), 0.5 (0.25 from a code)
    assert weighted_discrete_penalty(far_out, values, torch.ones(1)).item() == pytest.approx(0.25 / 3)


@pytest.mark.parametrize("schedule_type", SCHEDULE_TYPES)
@pytest.mark.parametrize("prediction", PREDICTION_TYPES)
def test_penalty_of_a_near_perfect_model_is_bounded_at_every_timestep(schedule_type, prediction):
    """Output = exact target + noise of std 0.01 (MSE 1e-4): the penalty at each t is at most that MSE, so its mean
    over t is of the MSE's order and no step dominates. Unweighted and unclamped, as before, the same model scored
    ~4e6 at t=999 (cosine, eps): 1/sqrt(alpha_bar) amplifies the output error there."""
    torch.manual_seed(0)
    diffusion = GaussianDiffusion(timesteps=1000, schedule_type=schedule_type, prediction=prediction)
    values = GenotypeEncoding("centered").values_tensor()
    loss = DiffusionLoss(use_discrete_loss=True, discrete_penalty_weight=1.0)
    t = torch.arange(diffusion.timesteps)
    x0 = values[torch.randint(0, len(values), (len(t), 1, 64))]
    noise = torch.randn_like(x0)
    x_t = diffusion.q_sample(x0, t, noise)
    target = diffusion.training_target(x0, noise, t)
    output = target + 0.01 * torch.randn_like(target)
    x0_pred = diffusion.predict_x0(output, x_t, t)
    per_step = [
        loss(output[i : i + 1], target[i : i + 1], x0_pred[i : i + 1], values, diffusion.alphas_cumprod[t[i : i + 1]])
        for i in range(len(t))
    ]
    penalties = torch.stack([parts["discrete_penalty"] for _, parts in per_step])
    mse = torch.stack([parts["mse"] for _, parts in per_step]).mean()
    assert torch.isfinite(penalties).all()
    assert penalties.max() <= 2 * mse  # every step: at most the MSE (x2 for the noise of 64 draws per step)
    assert penalties.mean() <= mse
