"""A 1-D UNet denoiser over the SNP axis, configured by explicit keywords (the `model=unet` config keys)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from snpdiff.errors import checked_by
from snpdiff.models.blocks import (
    Attention1d,
    Conv1d,
    Denoiser,
    Downsample,
    LabelEmbedding,
    LinearAttention1d,
    ResnetBlock1d,
    Upsample,
    WindowMLP,
    time_mlp,
)
from snpdiff.models.rules import check_unet_config, is_int


class UNet1D(Denoiser):
    """Denoiser for genotype windows: x [batch, in_channels, seq_length] float, t [batch] long -> same shape as x.

    Level i (one per entry of `dim_mults`) works at width `channels * dim_mults[i]` with two ResnetBlock1d (kernel
    `kernel_sizes[i]`, dilation `dilations[i]`) and, when `use_attention`, linear attention; each level after the
    first halves the SNP axis. The middle block (at the last level's width and resolution) holds two ResnetBlock1d
    and, when `use_attention`, full multi-head attention. The up path mirrors the down path with skip connections.

    With `global_context='mlp'` a WindowMLP (blocks.py) sees the whole window at the middle block's input, the
    bottleneck [batch, channels * dim_mults[-1], (1,) padded_length / 2**(len(dim_mults) - 1)]: its residual is
    added to those features (an MLP path beside the convolutions), and its summary [batch, time_dim] to the time
    embedding of every block after it (middle, up path, final block), as class embeddings are added in
    class-conditional diffusion: a per-person latent of the whole window (ancestry, heterozygosity, long
    homozygous stretches) that modulates every block it reaches. Without it (and without attention) an output
    SNP sees only the SNPs within the convolutions' receptive field and the window-wide GroupNorm statistics.

    Any `seq_length` works: after the first conv the SNP axis is padded on the right with zeros up to
    `padded_length`, the next multiple of 2**(len(dim_mults) - 1), and the output is cropped back to `seq_length`
    before the last residual block. Padded positions only act through conv borders, GroupNorm statistics,
    attention and the window MLP; they never appear in the output.

    Keys (all checked by `check_unet_config`; a bad combination raises ConfigError listing every problem):
        seq_length: SNPs per window.
        in_channels: features per SNP (1 for dosages).
        embedding_dim: width of the sinusoidal time embedding. Even.
        time_dim: width of the time MLP (the conditioning every residual block receives); None: 4 * embedding_dim.
        channels: base width; level i has channels * dim_mults[i] channels.
        dim_mults: one width multiplier per level.
        kernel_sizes, dilations: conv kernel (odd) and dilation per level, or one int for every level.
        norm_groups: GroupNorm groups; must divide every level width.
        dropout: dropout probability before the second conv of every residual block, in [0, 1).
        use_time_emb: condition on t; when false t is ignored and there is no time MLP (embedding_dim and
            use_scale_shift_norm then have no effect).
        use_pos_emb: add a learned per-SNP embedding [channels * dim_mults[0], seq_length] after the first conv.
        use_scale_shift_norm: time conditioning as FiLM (scale and shift) instead of an additive shift.
        use_attention: linear attention at every level and full attention in the middle block.
        level_attention: with use_attention, false keeps only the middle block's full attention (the lowest
            resolution: window-wide context at a quarter of the cost); no effect without use_attention.
        attention_heads, attention_dim_head: heads and width per head of both attentions.
        global_context: 'none' or 'mlp' (the window-wide MLP path above; without use_time_emb only its residual).
            Its flatten ties the network to `seq_length`, like the position embedding.
        global_dim: hidden width of the window MLP (no effect with global_context='none'). Its parameters are
            about (2 * 4 * bottleneck positions + global_dim + time_dim) * global_dim, 4 being the channels the
            bottleneck is squeezed to before the flatten: 0.31 M at the defaults and 1,024 SNPs (the UNet: 0.66 M).
        num_classes: population labels the model is conditioned on (set by the training from the data's labels;
            0: unconditioned). The label's embedding is added to the time embedding.
        label_dropout: share of training labels replaced by "no label", for classifier-free guidance.
    """

    @checked_by(check_unet_config)
    def __init__(
        self,
        seq_length: int,
        in_channels: int = 1,
        embedding_dim: int = 64,
        channels: int = 16,
        dim_mults: Sequence[int] = (1, 2, 4),
        kernel_sizes: int | Sequence[int] = 3,
        dilations: int | Sequence[int] = 1,
        norm_groups: int = 8,
        dropout: float = 0.0,
        use_time_emb: bool = True,
        use_pos_emb: bool = True,
        use_scale_shift_norm: bool = True,
        use_attention: bool = False,
        level_attention: bool = True,
        attention_heads: int = 4,
        attention_dim_head: int = 32,
        time_dim: int | None = None,
        global_context: str = "none",
        global_dim: int = 128,
        num_classes: int = 0,
        label_dropout: float = 0.1,
    ):
        super().__init__()
        keys = dict(locals())  # every keyword as given (before any other local exists)
        keys.pop("self")
        keys.pop("__class__", None)
        levels = len(dim_mults)
        self.seq_length = seq_length
        self.in_channels = in_channels
        downsample_factor = 2 ** (levels - 1)
        self.padded_length = math.ceil(seq_length / downsample_factor) * downsample_factor
        time_dim = (time_dim or 4 * embedding_dim) if use_time_emb else None
        self.layout = _Layout.of(keys, time_dim)
        # the modules are made in this order (it fixes the initial weights for a seed and the parameters' order)
        self.time_mlp = time_mlp(embedding_dim, time_dim) if use_time_emb else None
        # None without labels, so that an unconditioned model has the state-dict keys it always had
        self.label_emb = LabelEmbedding(num_classes, time_dim, label_dropout) if num_classes > 0 else None
        width = self.layout.widths[0]
        self.init_conv = Conv1d(in_channels, width, 7, padding=3)
        self.pos_emb = nn.Parameter(0.02 * torch.randn(1, width, seq_length)) if use_pos_emb else None
        self.downs = self._down_path()
        # None when off, so that a model without it has the state-dict keys it always had
        bottleneck = self.padded_length // downsample_factor
        self.window_mlp = self._window_mlp(bottleneck, global_dim) if global_context == "mlp" else None
        self.mid_block1 = self._resnet(self.layout.widths[-1], self.layout.widths[-1], levels - 1)
        self.mid_attention = self._mid_attention(use_attention)
        self.mid_block2 = self._resnet(self.layout.widths[-1], self.layout.widths[-1], levels - 1)
        self.ups = self._up_path()
        self.final_block = self._resnet(2 * width, width, 0)
        self.final_conv = Conv1d(width, in_channels, 1)

    def _resnet(self, dim_in: int, dim_out: int, level: int) -> ResnetBlock1d:
        layout = self.layout
        return ResnetBlock1d(
            dim_in,
            dim_out,
            kernel_size=layout.kernel_sizes[level],
            dilation=layout.dilations[level],
            norm_groups=layout.norm_groups,
            time_dim=layout.time_dim,
            use_scale_shift_norm=layout.use_scale_shift_norm,
            dropout=layout.dropout,
        )

    def _level_attention(self, level: int) -> nn.Module:
        layout = self.layout
        if not layout.level_attention:
            return nn.Identity()
        return LinearAttention1d(layout.widths[level], layout.attention_heads, layout.attention_dim_head)

    def _mid_attention(self, use_attention: bool) -> nn.Module:
        layout = self.layout
        if not use_attention:
            return nn.Identity()
        return Attention1d(layout.widths[-1], layout.attention_heads, layout.attention_dim_head)

    def _down_path(self) -> nn.ModuleList:
        """Per level: two residual blocks, attention (or Identity), and the halving of the SNP axis (Identity at the
        last level)."""
        widths, downs = self.layout.widths, nn.ModuleList()
        for level, width in enumerate(widths):
            is_last = level == len(widths) - 1
            block1, block2 = self._resnet(width, width, level), self._resnet(width, width, level)
            attention = self._level_attention(level)
            downsample = nn.Identity() if is_last else Downsample(width, widths[level + 1])
            downs.append(nn.ModuleList([block1, block2, attention, downsample]))
        return downs

    def _window_mlp(self, positions: int, global_dim: int) -> WindowMLP:
        """The window-wide MLP path at the bottleneck (``positions`` SNPs wide after the halvings)."""
        layout = self.layout
        return WindowMLP(
            layout.widths[-1], positions, hidden=global_dim, summary_dim=layout.time_dim, norm_groups=layout.norm_groups
        )

    def _up_path(self) -> nn.ModuleList:
        """The down path mirrored, deepest level first: residual blocks that also read the skip connections."""
        widths, ups = self.layout.widths, nn.ModuleList()
        for level in reversed(range(len(widths))):
            width = widths[level]
            block1, block2 = self._resnet(2 * width, width, level), self._resnet(2 * width, width, level)
            attention = self._level_attention(level)
            upsample = Upsample(width, widths[level - 1]) if level > 0 else nn.Identity()
            ups.append(nn.ModuleList([block1, block2, attention, upsample]))
        return ups

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x [batch, in_channels, seq_length] float, t [batch] long steps, labels [batch] long class indices (None:
        no label; only for a model built with ``num_classes``) -> [batch, in_channels, seq_length]."""
        time_emb = self.step_embedding(x, t, labels)

        # inside, feature maps are [batch, channels, 1, snps] in channels-last memory: the layout oneDNN's CPU
        # convolutions take without reordering (blocks.Conv1d); the same function, with no reorder copies
        x = self.init_conv(x.unsqueeze(2))
        if self.pos_emb is not None:
            x = x + self.pos_emb.unsqueeze(2)
        first = x = x.contiguous(memory_format=torch.channels_last)
        x = F.pad(x, (0, self.padded_length - self.seq_length)).contiguous(memory_format=torch.channels_last)

        skips = []
        for block1, block2, attention, downsample in self.downs:
            x = block1(x, time_emb)
            skips.append(x)
            x = attention(block2(x, time_emb))
            skips.append(x)
            x = downsample(x)

        if self.window_mlp is not None:
            x, summary = self.window_mlp(x)
            if summary is not None:
                time_emb = time_emb + summary
        x = self.mid_block1(x, time_emb)
        x = self.mid_attention(x)
        x = self.mid_block2(x, time_emb)

        for block1, block2, attention, upsample in self.ups:
            x = block1(torch.cat((x, skips.pop()), dim=1), time_emb)
            x = attention(block2(torch.cat((x, skips.pop()), dim=1), time_emb))
            x = upsample(x)

        x = x[..., : self.seq_length]
        x = self.final_block(torch.cat((x, first), dim=1), time_emb)
        return self.final_conv(x).squeeze(2).contiguous()


@dataclass(frozen=True)
class _Layout:
    """What UNet1D's blocks are built from: the width, kernel and dilation of every level, and the settings every
    residual block and attention shares (``level_attention``: linear attention at every level)."""

    widths: list[int]
    kernel_sizes: list[int]
    dilations: list[int]
    norm_groups: int
    time_dim: int | None
    use_scale_shift_norm: bool
    dropout: float
    level_attention: bool
    attention_heads: int
    attention_dim_head: int

    @classmethod
    def of(cls, keys: dict[str, Any], time_dim: int | None) -> _Layout:
        """The layout of UNet1D's keyword arguments ``keys`` (checked), with the time MLP's width ``time_dim``."""
        levels = len(keys["dim_mults"])
        shared = ("norm_groups", "use_scale_shift_norm", "dropout", "attention_heads", "attention_dim_head")
        return cls(
            widths=[keys["channels"] * mult for mult in keys["dim_mults"]],
            kernel_sizes=_per_level(keys["kernel_sizes"], levels),
            dilations=_per_level(keys["dilations"], levels),
            time_dim=time_dim,
            level_attention=keys["use_attention"] and keys["level_attention"],
            **{name: keys[name] for name in shared},
        )


def _per_level(value: int | Sequence[int], levels: int) -> list[int]:
    """One int for every level, or the per-level list as plain ints (it may arrive as an OmegaConf ListConfig)."""
    return [value] * levels if is_int(value) else [int(item) for item in value]
