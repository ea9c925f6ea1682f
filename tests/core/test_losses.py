import pytest
import torch

from snpdiff.data.encoding import GenotypeEncoding
from snpdiff.losses import DiffusionLoss, discrete_penalty


@pytest.mark.parametrize("mode", ["unit", "centered", "dosage"])
def test_penalty_is_zero_on_valid_codes_and_positive_off_them(mode):
    values = GenotypeEncoding(mode).values_tensor()
    on_codes = values[torch.tensor([[[0, 1, 2, 2, 0]]])]
    assert discrete_penalty(on_codes, values).item() == 0.0
    step = float(values[1] - values[0])
    off_codes = on_codes + 0.25 * step
    # every entry is a quarter step from its nearest code: penalty = (step / 4) ** 2
    assert discrete_penalty(off_codes, values).item() == pytest.approx((0.25 * step) ** 2, rel=1e-5)


def test_penalty_gradient_pulls_towards_nearest_code():
    values = GenotypeEncoding("centered").values_tensor()  # -1, 0, 1
    x0_pred = torch.tensor([[[0.2, -0.9, 0.6]]], requires_grad=True)
    discrete_penalty(x0_pred, values).backward()
    # d/dx mean((x - nearest)^2) = 2 (x - nearest) / n
    expected = 2 * torch.tensor([[[0.2 - 0.0, -0.9 + 1.0, 0.6 - 1.0]]]) / 3
    torch.testing.assert_close(x0_pred.grad, expected)


def test_diffusion_loss_adds_weighted_penalty_only_when_switched_on():
    values = GenotypeEncoding("centered").values_tensor()
    output, target = torch.zeros(2, 1, 4), torch.ones(2, 1, 4)
    x0_pred = torch.full((2, 1, 4), 0.5)  # penalty 0.25
    plain, parts = DiffusionLoss(False, 3.0)(output, target, x0_pred, values)
    assert plain.item() == pytest.approx(1.0) and "discrete_penalty" not in parts
    total, parts = DiffusionLoss(True, 3.0)(output, target, x0_pred, values)
    assert parts["discrete_penalty"].item() == pytest.approx(0.25)
    assert total.item() == pytest.approx(1.0 + 3.0 * 0.25)
