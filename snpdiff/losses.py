"""Training losses for genotype diffusion."""

from __future__ import annotations

import torch
from torch import nn


def discrete_penalty(x0_pred: torch.Tensor, valid_values: torch.Tensor) -> torch.Tensor:
    """Mean squared distance from each predicted clean value to its nearest valid genotype value.

    ``P = mean_{b,c,s} min_k (x0_pred[b,c,s] - v_k)^2`` where ``v_k`` are the encoded genotype codes
    (``GenotypeEncoding.values``). P is 0 exactly when every prediction is a valid code, > 0 otherwise, and its
    gradient pulls each prediction towards its nearest code.

    x0_pred: ``[batch, channels, snps]``; valid_values: ``[n_codes]``. Returns a scalar.
    """
    squared_distance = (x0_pred.unsqueeze(-1) - valid_values.to(x0_pred)) ** 2
    return squared_distance.min(dim=-1).values.mean()


class DiffusionLoss(nn.Module):
    """``loss = MSE(model_output, target) + w * P(x0_pred)`` where ``P`` is :func:`discrete_penalty`.

    The penalty term is added only when ``use_discrete_loss``; ``w = discrete_penalty_weight``.
    """

    def __init__(self, use_discrete_loss: bool = False, discrete_penalty_weight: float = 0.0):
        super().__init__()
        self.use_discrete_loss = bool(use_discrete_loss)
        self.discrete_penalty_weight = float(discrete_penalty_weight)

    def forward(
        self,
        model_output: torch.Tensor,
        target: torch.Tensor,
        x0_pred: torch.Tensor,
        valid_values: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Returns the total loss and its parts (``mse``, ``discrete_penalty`` when used)."""
        mse = nn.functional.mse_loss(model_output, target)
        parts = {"mse": mse}
        if not self.use_discrete_loss:
            return mse, parts
        penalty = discrete_penalty(x0_pred, valid_values)
        parts["discrete_penalty"] = penalty
        return mse + self.discrete_penalty_weight * penalty, parts
