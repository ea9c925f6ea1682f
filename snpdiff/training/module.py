"""The LightningModule: wiring of network, diffusion process, loss, optimiser and LR scheduler."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from snpdiff.diffusion import GaussianDiffusion
from snpdiff.diffusion.losses import DiffusionLoss

# a batch of encoded rows [batch, channels, snps] (GenotypeEncoding.to_model), or (rows, population labels long
# [batch]) from labelled data
Batch = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


def _values_and_labels(batch: Batch) -> tuple[torch.Tensor, torch.Tensor | None]:
    return (batch[0], batch[1]) if isinstance(batch, tuple | list) else (batch, None)


# validation evaluates every sample at this many evenly spaced timesteps, with noise from a fixed seed
VAL_TIMESTEPS = 4
VAL_NOISE_SEED = 1234


class SNPDiffusionModule(pl.LightningModule):
    """Trains ``model`` to denoise genotype windows ``[batch, channels, snps]`` under ``diffusion``.

    ``optimizer_factory`` is a partial taking the parameters (Hydra ``_partial_``); ``lr_scheduler_factory`` takes
    the optimizer and the run's total optimizer steps and returns Lightning's lr-scheduler dict (``None``: constant
    learning rate); ``valid_values`` are the encoded genotype codes ``[n_codes]``.
    """

    def __init__(
        self,
        model: nn.Module,
        diffusion: GaussianDiffusion,
        loss: DiffusionLoss,
        optimizer_factory: Callable[..., torch.optim.Optimizer],
        lr_scheduler_factory: Callable[[torch.optim.Optimizer, int], dict[str, Any]] | None,
        valid_values: torch.Tensor,
    ):
        super().__init__()
        self.model = model
        self.diffusion = diffusion
        self.loss = loss
        self.optimizer_factory = optimizer_factory
        self.lr_scheduler_factory = lr_scheduler_factory
        self.register_buffer("valid_values", valid_values.float(), persistent=False)
        self.best_val_loss = math.inf
        # what generate.py needs to rebuild model, diffusion and encoding from the checkpoint alone (plain types)
        self.run_info: dict[str, Any] = {}

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.model(x, t) if labels is None else self.model(x, t, labels)

    def _loss(
        self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, labels: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict]:
        x_t = self.diffusion.q_sample(x0, t, noise)
        output = self(x_t, t, labels)
        target = self.diffusion.training_target(x0, noise, t)
        x0_pred = self.diffusion.predict_x0(output, x_t, t)
        # per-sample loss weights (min-SNR-gamma, or ones) enter the MSE as sqrt(w) on both sides
        scale = self.diffusion.loss_weight(t).sqrt().view(-1, *([1] * (output.ndim - 1)))
        output, target = scale * output, scale * target
        signal_fraction = self.diffusion.alphas_cumprod[t]
        return self.loss(output, target, x0_pred, self.valid_values, signal_fraction)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        batch, labels = _values_and_labels(batch)
        t = torch.randint(0, self.diffusion.timesteps, (batch.shape[0],), device=batch.device)
        loss, parts = self._loss(batch, t, torch.randn_like(batch), labels)
        self.log("train_loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch.shape[0])
        self.log("train_loss_epoch", loss, on_step=False, on_epoch=True, batch_size=batch.shape[0], sync_dist=True)
        self._log_parts("train", parts, batch.shape[0])
        return loss

    def _log_parts(self, stage: str, parts: dict[str, torch.Tensor], batch_size: int) -> None:
        """``<stage>_mse`` and, with the discrete loss, ``<stage>_discrete_penalty`` (unweighted), per epoch."""
        for name, value in parts.items():
            self.log(f"{stage}_{name}", value, on_step=False, on_epoch=True, batch_size=batch_size, sync_dist=True)

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        """Deterministic: each sample at ``VAL_TIMESTEPS`` fixed timesteps with noise seeded by the batch index
        (labelled batches: with their labels, none dropped, since the model is in eval mode)."""
        batch, labels = _values_and_labels(batch)
        generator = torch.Generator(device="cpu").manual_seed(VAL_NOISE_SEED + batch_idx)
        grid = torch.linspace(0, self.diffusion.timesteps - 1, VAL_TIMESTEPS).round().long()
        x0 = batch.repeat(VAL_TIMESTEPS, 1, 1)
        t = grid.repeat_interleave(batch.shape[0]).to(batch.device)
        noise = torch.randn(x0.shape, generator=generator).to(batch)
        loss, parts = self._loss(x0, t, noise, None if labels is None else labels.repeat(VAL_TIMESTEPS))
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=batch.shape[0], sync_dist=True)
        self.log("val_loss_epoch", loss, on_epoch=True, batch_size=batch.shape[0], sync_dist=True)
        self._log_parts("val", parts, batch.shape[0])

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        value = self.trainer.callback_metrics.get("val_loss")
        if value is not None:
            self.best_val_loss = min(self.best_val_loss, float(value))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["best_val_loss"] = self.best_val_loss
        checkpoint["snpdiff"] = self.run_info

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.best_val_loss = float(checkpoint.get("best_val_loss", math.inf))

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.lr_scheduler_factory is None:
            return {"optimizer": optimizer}
        total_steps = int(self.trainer.estimated_stepping_batches)
        return {"optimizer": optimizer, "lr_scheduler": self.lr_scheduler_factory(optimizer, total_steps)}
