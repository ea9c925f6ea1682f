"""v-prediction round trip and min-SNR-gamma loss weights."""

import pytest
import torch

from snpdiff.diffusion import GaussianDiffusion
from snpdiff.errors import ConfigError


def test_v_prediction_round_trip_is_exact():
    diffusion = GaussianDiffusion(timesteps=100, prediction="v")
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 1, 16, generator=generator, dtype=torch.float64)
    noise = torch.randn(4, 1, 16, generator=generator, dtype=torch.float64)
    t = torch.tensor([0, 10, 50, 99])
    x_t = diffusion.q_sample(x0, t, noise)
    v = diffusion.training_target(x0, noise, t)
    torch.testing.assert_close(diffusion.predict_x0(v, x_t, t), x0, atol=1e-6, rtol=0)
    torch.testing.assert_close(diffusion.predict_eps(v, x_t, t), noise, atol=1e-6, rtol=0)


@pytest.mark.parametrize("prediction", ["eps", "x0", "v"])
def test_min_snr_weights_at_known_snrs(prediction):
    diffusion = GaussianDiffusion(timesteps=1000, prediction=prediction, min_snr_gamma=5.0)
    t = torch.arange(1000)
    alphas = diffusion.alphas_cumprod_float64
    snr = alphas / (1 - alphas)
    low, high = int((snr < 1).nonzero()[0]), int((snr > 20).nonzero()[-1])  # SNR < 5 and SNR > 5 examples
    weights = diffusion.loss_weight(t)
    expected_high = {"eps": 5.0 / snr[high], "x0": 5.0, "v": 5.0 / (snr[high] + 1)}[prediction]
    expected_low = {"eps": 1.0, "x0": snr[low], "v": snr[low] / (snr[low] + 1)}[prediction]
    assert float(weights[high]) == pytest.approx(float(expected_high), rel=1e-5)
    assert float(weights[low]) == pytest.approx(float(expected_low), rel=1e-5)


def test_no_gamma_weights_every_timestep_alike_and_bad_gamma_is_refused():
    assert torch.equal(GaussianDiffusion(timesteps=10, sampling_steps=5).loss_weight(torch.arange(10)), torch.ones(10))
    with pytest.raises(ConfigError, match="min_snr_gamma"):
        GaussianDiffusion(min_snr_gamma=0)
