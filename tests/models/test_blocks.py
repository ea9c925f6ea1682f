"""The UNet's building blocks: time features, resampling and attention shapes, FiLM versus shift, window MLP."""

import math

import torch

from snpdiff.models.blocks import (
    Attention1d,
    Downsample,
    LinearAttention1d,
    ResnetBlock1d,
    SinusoidalTimeEmbedding,
    Upsample,
    WindowMLP,
)


def test_sinusoidal_time_embedding_values():
    embedding = SinusoidalTimeEmbedding(8)(torch.tensor([0, 3]))
    assert embedding.shape == (2, 8)
    # Step 0: every sine is 0, every cosine 1.
    assert torch.equal(embedding[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    # The first frequency is 1 per step.
    assert math.isclose(embedding[1, 0].item(), math.sin(3.0), rel_tol=1e-6)
    assert math.isclose(embedding[1, 4].item(), math.cos(3.0), rel_tol=1e-6)


def test_resampling_halves_and_doubles_the_snp_axis():
    x = torch.randn(2, 8, 20)
    down = Downsample(8, 16)(x)
    assert down.shape == (2, 16, 10)
    assert Upsample(16, 8)(down).shape == (2, 8, 20)


def test_attention_blocks_keep_shape_and_are_residual():
    x = torch.randn(2, 8, 13)
    for block in (LinearAttention1d(8, heads=2, dim_head=4), Attention1d(8, heads=2, dim_head=4)):
        out = block(x)
        assert out.shape == x.shape
        # Residual: with a zeroed output projection the block is the identity.
        out_conv = block.to_out[0] if isinstance(block.to_out, torch.nn.Sequential) else block.to_out
        torch.nn.init.zeros_(out_conv.weight)
        torch.nn.init.zeros_(out_conv.bias)
        if isinstance(block, Attention1d):
            assert torch.equal(block(x), x)
        else:
            # The RMS norm after the output conv maps zeros to zeros.
            assert torch.allclose(block(x), x)


def test_resnet_block_time_conditioning_modes():
    common = {"kernel_size": 5, "dilation": 2, "norm_groups": 4, "time_dim": 12, "dropout": 0.0}
    film = ResnetBlock1d(8, 16, use_scale_shift_norm=True, **common)
    shift = ResnetBlock1d(8, 16, use_scale_shift_norm=False, **common)
    assert film.time_proj[1].out_features == 32 and shift.time_proj[1].out_features == 16
    x, time_emb = torch.randn(2, 8, 30), torch.randn(2, 12)
    assert film(x, time_emb).shape == (2, 16, 30)
    assert not torch.allclose(film(x, time_emb), film(x, torch.randn(2, 12)))
    assert film.block1.conv.dilation == (2,) and film.block1.conv.kernel_size == (5,)


def test_conv1d_is_nn_conv1d_on_both_layouts():
    """blocks.Conv1d keeps nn.Conv1d's state dict (checkpoints from before the channels-last layout load), and on
    [batch, channels, 1, snps] channels-last maps computes what nn.Conv1d computes on [batch, channels, snps]."""
    from torch import nn

    from snpdiff.models.blocks import Conv1d

    for options in ({"padding": "same", "dilation": 2}, {"padding": 1, "stride": 2}, {"padding": 0}):
        torch.manual_seed(0)
        ours, plain = Conv1d(4, 6, 3, **options), nn.Conv1d(4, 6, 3, **options)
        plain.load_state_dict(ours.state_dict())
        assert list(ours.state_dict()) == ["weight", "bias"] and ours.weight.shape == (6, 4, 3)
        x = torch.randn(2, 4, 16)
        expected = plain(x)
        assert torch.equal(ours(x), expected)
        wide = ours(x.unsqueeze(2).contiguous(memory_format=torch.channels_last))
        assert wide.shape == (2, 6, 1, expected.shape[-1])
        torch.testing.assert_close(wide.squeeze(2), expected, rtol=1e-5, atol=1e-5)


def test_window_mlp_sees_the_whole_window_on_both_layouts_and_is_residual():
    block = WindowMLP(8, 13, hidden=16, summary_dim=12, norm_groups=4)
    x = torch.randn(2, 8, 13, requires_grad=True)
    out, summary = block(x)
    assert out.shape == x.shape and summary.shape == (2, 12)
    # the first position's output depends on every channel at the last position (a conv of kernel 3 would not)
    out[:, :, 0].sum().backward()
    assert (x.grad[:, :, -1] != 0).all()
    # the UNet's [batch, channels, 1, snps] channels-last maps give the same values and keep their layout
    wide = x.detach().unsqueeze(2).contiguous(memory_format=torch.channels_last)
    wide_out, wide_summary = block(wide)
    assert wide_out.shape == (2, 8, 1, 13) and wide_out.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(wide_out.squeeze(2), out.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(wide_summary, summary.detach(), rtol=1e-5, atol=1e-5)
    # residual: with a zeroed output projection the features pass through unchanged
    torch.nn.init.zeros_(block.expand.weight)
    torch.nn.init.zeros_(block.expand.bias)
    assert torch.equal(block(x.detach())[0], x.detach())
