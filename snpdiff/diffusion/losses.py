"""Training losses for genotype diffusion."""

from __future__ import annotations

import torch
from torch import nn


def discrete_penalty(x0_pred: torch.Tensor, valid_values: torch.Tensor) -> torch.Tensor:
    """Squared distance from each predicted clean value to its nearest valid genotype value, per element.

    ``min_k (x0_pred[b,c,s] - v_k)^2`` where ``v_k`` are the encoded genotype codes (``GenotypeEncoding.entry_values``):
    0 exactly on a valid code, > 0 otherwise, and its gradient pulls each prediction towards its nearest code.

    x0_pred: ``[batch, channels, snps]``; valid_values: ``[n_codes]``. Returns ``[batch, channels, snps]``.
    """
    squared_distance = (x0_pred.unsqueeze(-1) - valid_values.to(x0_pred)) ** 2
    return squared_distance.min(dim=-1).values


def weighted_discrete_penalty(
    x0_pred: torch.Tensor, valid_values: torch.Tensor, signal_fraction: torch.Tensor
) -> torch.Tensor:
    """``P = mean_b a_t[b] * mean_{c,s} d(clamp(x0_pred[b,c,s], v_min, v_max))``, ``d`` = :func:`discrete_penalty`.

    Two things keep P bounded at every timestep, so no step dominates the mean over t:
    - the clamp to the codes' range ``[v_min, v_max]`` is what the samplers do to x0 before using it, so the penalty
      scores the x0 that sampling sees, and ``d`` after it is at most (half the gap between codes)^2;
    - ``a_t = alphas_cumprod[t]`` (the signal fraction of x_t) fades the penalty out where x_t holds little signal:
      there the best possible x0 estimate is a posterior mean between codes, which no model should be pushed off.
    For eps prediction ``a_t |x0_pred - x0|^2 = (1 - a_t) |eps_pred - eps|^2``, so for a model whose output is off the
    target by ``sigma`` the penalty is at most ``sigma^2``, the MSE itself (x0: ``a_t sigma^2``, v: ``a_t (1 - a_t)
    sigma^2``).

    x0_pred: ``[batch, channels, snps]``; valid_values: ``[n_codes]``; signal_fraction: ``a_t`` ``[batch]``.
    Returns a scalar.
    """
    values = valid_values.to(x0_pred)
    clamped = x0_pred.clamp(values.min(), values.max())
    per_sample = discrete_penalty(clamped, values).flatten(1).mean(dim=1)
    return (signal_fraction.to(per_sample) * per_sample).mean()


class DiffusionLoss(nn.Module):
    """``loss = MSE(model_output, target) + w * P`` where ``P`` is :func:`weighted_discrete_penalty`.

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
        signal_fraction: torch.Tensor,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss and its parts: ``mse`` always, ``discrete_penalty`` when used.

        model_output, target, x0_pred: ``[batch, channels, snps]``; valid_values: ``[n_codes]``; signal_fraction:
        ``alphas_cumprod[t]`` ``[batch]``.
        """
        mse = nn.functional.mse_loss(model_output, target)
        parts = {"mse": mse}
        if not self.use_discrete_loss:
            return mse, parts
        penalty = weighted_discrete_penalty(x0_pred, valid_values, signal_fraction)
        parts["discrete_penalty"] = penalty
        return mse + self.discrete_penalty_weight * penalty, parts
