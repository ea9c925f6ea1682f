"""A fully connected denoiser over the flattened SNP window (a baseline for short windows; `model=mlp`)."""

import torch
from torch import nn

from snpdiff.errors import checked_by
from snpdiff.models.blocks import Denoiser, LabelEmbedding, time_mlp
from snpdiff.models.rules import check_mlp_config


class ResidualMLPBlock(nn.Module):
    """h + Linear(Dropout(SiLU(LayerNorm(h) + time_emb))): [batch, hidden_dim] -> [batch, hidden_dim]."""

    def __init__(self, hidden_dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden_dim, hidden_dim)

    def forward(self, h: torch.Tensor, time_emb: torch.Tensor | None) -> torch.Tensor:
        update = self.norm(h)
        if time_emb is not None:
            update = update + time_emb
        return h + self.linear(self.dropout(nn.functional.silu(update)))


class MLPDenoiser(Denoiser):
    """Denoiser: x [batch, in_channels, seq_length] float, t [batch] long -> same shape as x.

    The window is flattened to in_channels * seq_length features, projected to `hidden_dim`, passed through
    `num_layers` residual blocks (each adds the time embedding after its LayerNorm) and projected back.
    Parameters grow with seq_length * hidden_dim, so use it for short windows.

    Keys (checked by `check_mlp_config`; a bad combination raises ConfigError listing every problem):
        seq_length: SNPs per window. in_channels: features per SNP.
        hidden_dim: width of the hidden layers. num_layers: number of residual hidden blocks (>= 1).
        embedding_dim: width of the sinusoidal time embedding (even); its MLP outputs hidden_dim.
        dropout: in [0, 1), inside every residual block.
        use_time_emb: condition on t; when false t is ignored and there is no time MLP.
        num_classes, label_dropout: population conditioning, as in UNet1D.
    """

    @checked_by(check_mlp_config)
    def __init__(
        self,
        seq_length: int,
        in_channels: int = 1,
        hidden_dim: int = 512,
        num_layers: int = 3,
        embedding_dim: int = 64,
        dropout: float = 0.0,
        use_time_emb: bool = True,
        num_classes: int = 0,
        label_dropout: float = 0.1,
    ):
        super().__init__()
        self.seq_length = seq_length
        self.in_channels = in_channels
        features = in_channels * seq_length
        self.input_proj = nn.Linear(features, hidden_dim)
        self.time_mlp = time_mlp(embedding_dim, hidden_dim) if use_time_emb else None
        self.label_emb = LabelEmbedding(num_classes, hidden_dim, label_dropout) if num_classes > 0 else None
        self.blocks = nn.ModuleList(ResidualMLPBlock(hidden_dim, dropout) for _ in range(num_layers))
        self.output_proj = nn.Sequential(nn.LayerNorm(hidden_dim), nn.SiLU(), nn.Linear(hidden_dim, features))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x [batch, in_channels, seq_length] float, t [batch] long steps, labels [batch] long class indices (None:
        no label; only for a model built with ``num_classes``) -> [batch, in_channels, seq_length]."""
        time_emb = self.step_embedding(x, t, labels)
        h = self.input_proj(x.flatten(1))
        for block in self.blocks:
            h = block(h, time_emb)
        return self.output_proj(h).reshape(x.shape)
