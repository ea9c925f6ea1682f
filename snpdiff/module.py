"""The LightningModule: wiring of network, diffusion process, loss, optimiser and scheduler. No logic of its own."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn

from snpdiff.diffusion import GaussianDiffusion
from snpdiff.losses import DiffusionLoss

# validation evaluates every sample at this many evenly spaced timesteps, with noise from a fixed seed
VAL_TIMESTEPS = 4
VAL_NOISE_SEED = 1234


class SNPDiffusionModule(pl.LightningModule):
    """Trains ``model`` to denoise genotype windows ``[batch, 1, snps]`` under ``diffusion``.

    ``optimizer_factory`` is a partial taking the parameters (Hydra ``_partial_``); ``scheduler_cfg`` is the
    ``scheduler`` config group as a dict; ``valid_values`` are the encoded genotype codes ``[n_codes]``.
    """

    def __init__(
        self,
        model: nn.Module,
        diffusion: GaussianDiffusion,
        loss: DiffusionLoss,
        optimizer_factory: Callable[..., torch.optim.Optimizer],
        scheduler_cfg: dict[str, Any],
        valid_values: torch.Tensor,
        monitor: str = "val_loss",
        monitor_mode: str = "min",
    ):
        super().__init__()
        self.model = model
        self.diffusion = diffusion
        self.loss = loss
        self.optimizer_factory = optimizer_factory
        self.scheduler_cfg = dict(scheduler_cfg)
        self.monitor = monitor
        self.monitor_mode = monitor_mode
        self.register_buffer("valid_values", valid_values.float(), persistent=False)
        self.best_val_loss = math.inf
        # what generate.py needs to rebuild model, diffusion and encoding from the checkpoint alone (plain types)
        self.run_info: dict[str, Any] = {}

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return self.model(x, t)

    def _loss(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, dict]:
        x_t = self.diffusion.q_sample(x0, t, noise)
        output = self.model(x_t, t)
        target = self.diffusion.training_target(x0, noise, t)
        x0_pred = self.diffusion.predict_x0(output, x_t, t)
        return self.loss(output, target, x0_pred, self.valid_values)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        t = torch.randint(0, self.diffusion.timesteps, (batch.shape[0],), device=batch.device)
        loss, parts = self._loss(batch, t, torch.randn_like(batch))
        self.log("train_loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=batch.shape[0])
        self.log("train_loss_epoch", loss, on_step=False, on_epoch=True, batch_size=batch.shape[0], sync_dist=True)
        if "discrete_penalty" in parts:
            self.log("train_discrete_penalty", parts["discrete_penalty"], on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        """Deterministic: each sample at ``VAL_TIMESTEPS`` fixed timesteps with noise seeded by the batch index."""
        generator = torch.Generator(device="cpu").manual_seed(VAL_NOISE_SEED + batch_idx)
        grid = torch.linspace(0, self.diffusion.timesteps - 1, VAL_TIMESTEPS).round().long()
        x0 = batch.repeat(VAL_TIMESTEPS, 1, 1)
        t = grid.repeat_interleave(batch.shape[0]).to(batch.device)
        noise = torch.randn(x0.shape, generator=generator).to(batch)
        loss, _ = self._loss(x0, t, noise)
        self.log("val_loss", loss, on_epoch=True, prog_bar=True, batch_size=batch.shape[0], sync_dist=True)
        self.log("val_loss_epoch", loss, on_epoch=True, batch_size=batch.shape[0], sync_dist=True)

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
        name = self.scheduler_cfg.get("name", "none")
        if name == "none":
            return {"optimizer": optimizer}
        lr = optimizer.defaults["lr"]
        cfg = self.scheduler_cfg
        interval = "epoch"
        if name == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
                optimizer, T_max=max(1, self.trainer.max_epochs or 1), eta_min=cfg["eta_min"]
            )
        elif name == "reduce":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer,
                mode=self.monitor_mode,
                factor=cfg["factor"],
                patience=cfg["patience"],
                threshold=cfg["threshold"],
                min_lr=cfg["min_lr"],
            )
        elif name == "onecycle":
            interval = "step"
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=lr,
                total_steps=max(2, int(self.trainer.estimated_stepping_batches)),
                pct_start=cfg["pct_start"],
                div_factor=cfg["div_factor"],
                final_div_factor=cfg["final_div_factor"],
            )
        elif name == "warmup_cosine":
            interval = "step"
            scheduler = warmup_cosine(
                optimizer, int(self.trainer.estimated_stepping_batches), cfg["warmup_fraction"], cfg["eta_min"]
            )
        else:
            raise ValueError(f"scheduler.name={name!r}")
        config = {"scheduler": scheduler, "interval": interval, "monitor": self.monitor}
        return {"optimizer": optimizer, "lr_scheduler": config}


def warmup_cosine(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup_fraction: float, eta_min: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up from 0 to lr over ``warmup_fraction`` of the steps, then cosine decay to ``eta_min``."""
    lr = optimizer.defaults["lr"]
    warmup_steps = max(1, round(warmup_fraction * total_steps))
    floor = eta_min / lr

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
