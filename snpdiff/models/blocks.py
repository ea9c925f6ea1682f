"""Building blocks of the denoisers: time embedding, residual conv block, attention, window-wide MLP, resampling.

Feature maps are shaped [batch, channels, snps], or [batch, channels, 1, snps] (the UNet's inner layout, see
`Conv1d`); time embeddings [batch, time_dim]. Every block is a plain `torch.nn.Module` that knows nothing of
training or configuration files.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class SinusoidalTimeEmbedding(nn.Module):
    """Fixed sin/cos features of the diffusion step (Vaswani et al. 2017, as in Ho et al. 2020).

    Input: timesteps [batch] (integer steps). Output: [batch, dim]; the first dim/2 features are sines, the rest
    cosines, at frequencies spaced geometrically from 1 down to 1/10000 per step. `dim` must be even.
    """

    def __init__(self, dim: int):
        super().__init__()
        half = dim // 2
        frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
        # Not persistent: derived from `dim`, so checkpoints need not carry it.
        self.register_buffer("frequencies", frequencies, persistent=False)

    def forward(self, timesteps: torch.Tensor) -> torch.Tensor:
        angles = timesteps.float()[:, None] * self.frequencies[None, :]
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


def time_mlp(embedding_dim: int, time_dim: int) -> nn.Sequential:
    """Timesteps [batch] -> sinusoidal features [batch, embedding_dim] -> MLP -> [batch, time_dim]."""
    return nn.Sequential(
        SinusoidalTimeEmbedding(embedding_dim),
        nn.Linear(embedding_dim, time_dim),
        nn.GELU(),
        nn.Linear(time_dim, time_dim),
    )


class LabelEmbedding(nn.Module):
    """Class labels long ``[batch]`` -> ``[batch, dim]``, added to the time embedding (class-conditional diffusion).

    Index ``num_classes`` is "no label" (``null_label``): what ``labels=None`` means, and what each label becomes
    with probability ``label_dropout`` in training, so one network learns the conditional and the unconditional
    prediction that classifier-free guidance combines (Ho & Salimans 2022).
    """

    def __init__(self, num_classes: int, dim: int, label_dropout: float):
        super().__init__()
        self.null_label = num_classes
        self.label_dropout = label_dropout
        self.embedding = nn.Embedding(num_classes + 1, dim)

    def forward(self, labels: torch.Tensor | None, batch: int, device: torch.device) -> torch.Tensor:
        if labels is None:
            labels = torch.full((batch,), self.null_label, dtype=torch.long, device=device)
        elif self.training and self.label_dropout > 0:
            dropped = torch.rand(labels.shape, device=labels.device) < self.label_dropout
            labels = labels.masked_fill(dropped, self.null_label)
        return self.embedding(labels)


class Denoiser(nn.Module):
    """What every snpdiff denoiser shares: inputs ``[batch, in_channels, seq_length]``, a diffusion-step embedding
    (``time_mlp``, None when off) and, for a population-conditioned model, a label embedding (``label_emb``)."""

    seq_length: int
    in_channels: int
    time_mlp: nn.Module | None
    label_emb: LabelEmbedding | None

    @property
    def null_label(self) -> int | None:
        """The "no label" index of a label-conditioned model (``num_classes``); None for an unconditioned one."""
        return None if self.label_emb is None else self.label_emb.null_label

    def step_embedding(
        self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None
    ) -> torch.Tensor | None:
        """Check ``x``'s shape; the time embedding of steps ``t`` plus the labels' embedding for a conditioned model
        (labels must be None for an unconditioned one): ``[batch, time_dim]``, or None without a time embedding."""
        if tuple(x.shape[1:]) != (self.in_channels, self.seq_length):
            raise ValueError(
                f"{type(self).__name__} expects x of shape [batch, {self.in_channels}, {self.seq_length}], "
                f"got {list(x.shape)}"
            )
        time_emb = self.time_mlp(t) if self.time_mlp is not None else None
        if self.label_emb is None:
            if labels is not None:
                raise ValueError("labels given to a model built without num_classes (not population-conditioned)")
            return time_emb
        return time_emb + self.label_emb(labels, x.shape[0], x.device)


class Conv1d(nn.Conv1d):
    """`nn.Conv1d` (the same parameters and state-dict keys) that also takes feature maps [batch, channels, 1, snps].

    Those run as the equivalent 2-D convolution over a height of 1. Kept in channels-last memory (torch's
    `channels_last`: channels innermost), such maps reach oneDNN's CPU convolutions in a layout they use as they are;
    [batch, channels, snps] maps are always reordered to a blocked layout and back around every convolution: copies
    of every feature map that do no arithmetic (oneDNN's own timings are in docs/performance.md).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return super().forward(x)
        padding = self.padding if isinstance(self.padding, str) else (0, *self.padding)
        return F.conv2d(
            x, self.weight.unsqueeze(2), self.bias, (1, *self.stride), padding, (1, *self.dilation), self.groups
        )


def _per_channel(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[batch or 1, channels, ...] -> the same values broadcastable over feature maps shaped like `like`."""
    return values.reshape(*values.shape[:2], *([1] * (like.dim() - 2)))


class ConvBlock(nn.Module):
    """Dropout -> Conv1d ('same' padding) -> GroupNorm -> optional time scale/shift -> SiLU.

    [batch, dim_in, snps] -> [batch, dim_out, snps]; the receptive field is dilation * (kernel_size - 1) + 1 SNPs.
    """

    def __init__(
        self, dim_in: int, dim_out: int, *, kernel_size: int, dilation: int, norm_groups: int, dropout: float = 0.0
    ):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.conv = Conv1d(dim_in, dim_out, kernel_size, dilation=dilation, padding="same")
        self.norm = nn.GroupNorm(norm_groups, dim_out)

    def forward(
        self, x: torch.Tensor, scale: torch.Tensor | None = None, shift: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x [batch, dim_in, (1,) snps]; scale and shift [batch, dim_out] plus a 1 for each axis after it, or None."""
        x = self.norm(self.conv(self.dropout(x)))
        if scale is not None:
            # x * (1 + scale) + shift in one pass over x (FiLM is the block's largest elementwise cost)
            x = torch.addcmul(shift, x, 1 + scale) if shift is not None else x * (1 + scale)
        elif shift is not None:
            x = x + shift
        return F.silu(x)


class ResnetBlock1d(nn.Module):
    """Two ConvBlocks with a residual connection, conditioned on the time embedding.

    x [batch, dim_in, snps], time_emb [batch, time_dim] -> [batch, dim_out, snps]. The time embedding enters
    after the first GroupNorm, as FiLM (x * (1 + scale) + shift) when `use_scale_shift_norm`, else as an
    additive shift. With `time_dim=None` the block has no time input. Dropout acts before the second conv.
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        *,
        kernel_size: int,
        dilation: int,
        norm_groups: int,
        time_dim: int | None,
        use_scale_shift_norm: bool,
        dropout: float,
    ):
        super().__init__()
        self.use_scale_shift_norm = use_scale_shift_norm
        conditioning_width = dim_out * (2 if use_scale_shift_norm else 1)
        self.time_proj = None if time_dim is None else nn.Sequential(nn.SiLU(), nn.Linear(time_dim, conditioning_width))
        conv = {"kernel_size": kernel_size, "dilation": dilation, "norm_groups": norm_groups}
        self.block1 = ConvBlock(dim_in, dim_out, **conv)
        self.block2 = ConvBlock(dim_out, dim_out, **conv, dropout=dropout)
        self.skip = Conv1d(dim_in, dim_out, 1) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, time_emb: torch.Tensor | None = None) -> torch.Tensor:
        scale = shift = None
        if self.time_proj is not None:
            conditioning = _per_channel(self.time_proj(time_emb), x)
            if self.use_scale_shift_norm:
                scale, shift = conditioning.chunk(2, dim=1)
            else:
                shift = conditioning
        return self.block2(self.block1(x, scale, shift)) + self.skip(x)


class ChannelRMSNorm(nn.Module):
    """RMS normalisation over channels at every SNP, with a learned gain. [batch, dim, snps] -> same."""

    def __init__(self, dim: int):
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1, dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) * _per_channel(self.gain, x) * x.shape[1] ** 0.5


class LinearAttention1d(nn.Module):
    """Residual linear attention over SNPs (Shen et al. 2021): x + attention(norm(x)).

    [batch, dim, snps] -> same. Cost grows linearly with snps, so it fits every level of the UNet. Queries are
    softmaxed over features and keys over SNPs; `heads` x `dim_head` is the inner width.
    """

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.scale = dim_head**-0.5
        inner = heads * dim_head
        self.norm = ChannelRMSNorm(dim)
        self.to_qkv = Conv1d(dim, 3 * inner, 1, bias=False)
        self.to_out = nn.Sequential(Conv1d(inner, dim, 1), ChannelRMSNorm(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, snps = x.shape[0], x.shape[-1]
        q, k, v = (part.reshape(batch, self.heads, -1, snps) for part in self.to_qkv(self.norm(x)).chunk(3, dim=1))
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        context = torch.einsum("bhdn,bhen->bhde", k, v)  # [batch, heads, dim_head, dim_head]
        out = torch.einsum("bhde,bhdn->bhen", context, q)
        return x + self.to_out(_as_feature_map(out, x))


class Attention1d(nn.Module):
    """Residual multi-head softmax attention over SNPs: x + attention(norm(x)).

    [batch, dim, snps] -> same. Memory grows with snps**2, so the UNet uses it only in its middle block, at the
    coarsest resolution. `heads` x `dim_head` is the inner width.
    """

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.norm = ChannelRMSNorm(dim)
        self.to_qkv = Conv1d(dim, 3 * inner, 1, bias=False)
        self.to_out = Conv1d(inner, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, snps = x.shape[0], x.shape[-1]
        # [batch, heads, snps, dim_head] each, the layout scaled_dot_product_attention expects.
        q, k, v = (
            part.reshape(batch, self.heads, -1, snps).transpose(-1, -2)
            for part in self.to_qkv(self.norm(x)).chunk(3, dim=1)
        )
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.to_out(_as_feature_map(out.transpose(-1, -2), x))


class WindowMLP(nn.Module):
    """An MLP over the whole window beside the convolutions (the MLP path of Kenneweg et al. 2025): every output
    depends on every position, where a convolution sees a few.

    x [batch, dim, (1,) positions] -> (x + residual, summary [batch, summary_dim]):
        GroupNorm -> Conv1d 1x1 to `squeeze` channels -> flatten [batch, squeeze * positions] -> Linear -> SiLU
        -> Linear -> SiLU = latent [batch, hidden];
        summary = Linear(latent); residual = Linear(latent) -> [batch, squeeze, (1,) positions] -> Conv1d 1x1 to dim.
    The squeeze to a few channels keeps the flattened width, and so the parameter count, near `squeeze * positions *
    hidden`. The flatten fixes `positions`: the module fits one window length. Each sample is its own (GroupNorm
    statistics per sample, no batch statistics), so individuals in a batch stay independent.
    """

    def __init__(
        self, dim: int, positions: int, *, hidden: int, summary_dim: int | None, norm_groups: int, squeeze: int = 4
    ):
        super().__init__()
        self.positions = positions
        self.norm = nn.GroupNorm(norm_groups, dim)
        self.squeeze = Conv1d(dim, squeeze, 1)
        self.mlp = nn.Sequential(
            nn.Linear(squeeze * positions, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU()
        )
        # no summary without a time embedding to carry it (summary_dim None): the residual path alone
        self.to_summary = nn.Linear(hidden, summary_dim) if summary_dim is not None else None
        self.to_residual = nn.Linear(hidden, squeeze * positions)
        self.expand = Conv1d(squeeze, dim, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        latent = self.mlp(self.squeeze(self.norm(x)).flatten(1))
        residual = self.to_residual(latent).reshape(x.shape[0], -1, *x.shape[2:])
        if x.dim() == 4:  # the UNet's channels-last maps (see Conv1d)
            residual = residual.contiguous(memory_format=torch.channels_last)
        summary = self.to_summary(latent) if self.to_summary is not None else None
        return x + self.expand(residual), summary


def _as_feature_map(heads: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Attention output [batch, heads, dim_head, snps] as a feature map shaped and laid out like `like`."""
    out = heads.reshape(like.shape[0], -1, *like.shape[2:])
    return out.contiguous(memory_format=torch.channels_last) if like.dim() == 4 else out


class Downsample(Conv1d):
    """Strided conv that halves the SNP axis: [batch, dim_in, snps] -> [batch, dim_out, snps // 2] (snps even)."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__(dim_in, dim_out, kernel_size=4, stride=2, padding=1)


class NearestDoubling(nn.Module):
    """Every SNP position twice: [batch, channels, (1,) snps] -> [batch, channels, (1,) 2 * snps]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=(1, 2) if x.dim() == 4 else 2, mode="nearest")


class Upsample(nn.Sequential):
    """Nearest-neighbour doubling then a conv: [batch, dim_in, snps] -> [batch, dim_out, 2 * snps]."""

    def __init__(self, dim_in: int, dim_out: int):
        super().__init__(NearestDoubling(), Conv1d(dim_in, dim_out, 3, padding=1))
