"""UNet1D: shapes for any seq_length, every config key reaches the network, time conditioning, gradients, checks,
the window-wide MLP path (global_context) and its receptive field."""

import inspect

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from snpdiff.errors import ConfigError
from snpdiff.models import UNet1D, check_unet_config

# Tiny but complete: two levels, attention small enough to build in milliseconds.
TINY = {
    "embedding_dim": 16,
    "channels": 8,
    "dim_mults": (1, 2),
    "norm_groups": 4,
    "attention_heads": 2,
    "attention_dim_head": 8,
}
SEQ_LENGTH = 32


def build(seed: int = 0, **overrides) -> UNet1D:
    torch.manual_seed(seed)
    return UNet1D(**{"seq_length": SEQ_LENGTH, **TINY, **overrides})


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def output(model: UNet1D, train: bool = False) -> torch.Tensor:
    """The model's output for one fixed input, fixed steps and a fixed dropout seed."""
    generator = torch.Generator().manual_seed(123)
    x = torch.randn(3, model.in_channels, model.seq_length, generator=generator)
    t = torch.tensor([0, 17, 900])
    model.train(train)
    torch.manual_seed(7)
    with torch.no_grad():
        return model(x, t)


@pytest.mark.parametrize("global_context", ["none", "mlp"])
@pytest.mark.parametrize("seq_length", [50, 64, 100, 127])
@pytest.mark.parametrize("dim_mults", [(1, 2, 4), (1, 1, 2, 2)])
def test_output_shape_for_any_seq_length(seq_length, dim_mults, global_context):
    model = build(seq_length=seq_length, dim_mults=dim_mults, use_attention=True, global_context=global_context)
    factor = 2 ** (len(dim_mults) - 1)
    assert model.padded_length % factor == 0
    assert seq_length <= model.padded_length < seq_length + factor
    out = output(model)
    assert out.shape == (3, 1, seq_length)
    assert torch.isfinite(out).all()


def test_output_shape_with_several_input_channels():
    model = build(in_channels=2, seq_length=50)
    assert output(model).shape == (3, 2, 50)


def test_wrong_input_shape_is_rejected_with_the_expected_shape():
    model = build()
    with pytest.raises(ValueError, match=r"\[batch, 1, 32\], got \[2, 1, 31\]"):
        model(torch.randn(2, 1, 31), torch.zeros(2, dtype=torch.long))


# key -> (value A, value B, how the difference shows). "params": the parameter counts differ.
# "output": same parameter count and same initial weights, but a different output for the same input
# (dropout is compared in train mode with the same dropout seed).
KEY_CHANGES = {
    "seq_length": (32, 48, "params"),  # the position embedding has one column per SNP
    "in_channels": (1, 2, "params"),
    "embedding_dim": (16, 32, "params"),
    "channels": (8, 16, "params"),
    "dim_mults": ((1, 2), (1, 2, 2), "params"),
    "kernel_sizes": (3, 5, "params"),
    "kernel_sizes_per_level": ([3, 3], [3, 5], "params"),
    "dilations": (1, 2, "output"),
    "dilations_per_level": ([1, 1], [1, 3], "output"),
    "norm_groups": (4, 8, "output"),  # GroupNorm has one weight per channel whatever the groups
    "dropout": (0.0, 0.5, "output"),
    "use_time_emb": (True, False, "params"),
    "use_pos_emb": (True, False, "params"),
    "use_scale_shift_norm": (True, False, "params"),
    "use_attention": (False, True, "params"),
    "level_attention": (True, False, "params"),
    "attention_heads": (2, 4, "params"),
    "attention_dim_head": (8, 16, "params"),
    "time_dim": (None, 32, "params"),  # None: 4 * embedding_dim
    "global_context": ("none", "mlp", "params"),
    "global_dim": (16, 32, "params"),
    "num_classes": (0, 3, "params"),
}
# acts only on labelled batches in training: tests/models/test_conditioning.py
TESTED_APART = {"label_dropout"}


def test_key_table_covers_every_unet_argument():
    arguments = set(inspect.signature(UNet1D.__init__).parameters) - {"self"}
    covered = {name.removesuffix("_per_level") for name in KEY_CHANGES} | TESTED_APART
    assert covered == arguments


@pytest.mark.parametrize("case", sorted(KEY_CHANGES))
def test_every_key_changes_the_network(case):
    key = case.removesuffix("_per_level")
    value_a, value_b, shows_in = KEY_CHANGES[case]
    # The attention sizes only exist when attention is on.
    extra = {"use_attention": True} if key.startswith("attention_") or key == "level_attention" else {}
    if key == "global_dim":  # the window MLP's width only exists when it is on
        extra = {"global_context": "mlp"}
    model_a = build(**extra, **{key: value_a})
    model_b = build(**extra, **{key: value_b})
    if shows_in == "params":
        assert n_params(model_a) != n_params(model_b)
    else:
        assert n_params(model_a) == n_params(model_b)
        train = key == "dropout"
        assert not torch.allclose(output(model_a, train), output(model_b, train), atol=1e-6)


def test_level_attention_false_keeps_only_the_middle_attention():
    from snpdiff.models.blocks import Attention1d, LinearAttention1d

    def count(model, kind):
        return sum(isinstance(module, kind) for module in model.modules())

    every_level = build(use_attention=True, seq_length=64)
    middle_only = build(use_attention=True, level_attention=False, seq_length=64)
    assert count(every_level, LinearAttention1d) == 2 * len(every_level.downs) and count(every_level, Attention1d) == 1
    assert count(middle_only, LinearAttention1d) == 0 and count(middle_only, Attention1d) == 1
    assert count(build(level_attention=False, seq_length=64), Attention1d) == 0  # no effect without use_attention


def without_group_norm(model: UNet1D) -> UNet1D:
    """The model with every GroupNorm replaced by the identity: GroupNorm statistics span the whole window, so
    without this every output would depend a little on every input, whatever the architecture."""
    for module in list(model.modules()):
        for name, child in module.named_children():
            if isinstance(child, nn.GroupNorm):
                setattr(module, name, nn.Identity())
    return model


def far_gradient(model: UNet1D) -> torch.Tensor:
    """d(output at SNP 0) / d(input at the last SNP), per sample in a batch of 2: [2]."""
    x = torch.randn(2, 1, model.seq_length, requires_grad=True)
    model.eval()
    model(x, torch.tensor([5, 500]))[:, 0, 0].sum().backward()
    return x.grad[:, 0, -1]


def test_only_the_window_mlp_reaches_across_the_window():
    """Receptive field: in a 64-SNP window the tiny conv UNet's output at SNP 0 sees SNPs 0-39 only, so (GroupNorm
    statistics aside) its gradient w.r.t. the last SNP is exactly zero; the window MLP makes it non-zero."""
    plain = far_gradient(without_group_norm(build(seq_length=64)))
    assert torch.equal(plain, torch.zeros(2))
    window_wide = far_gradient(without_group_norm(build(seq_length=64, global_context="mlp")))
    assert (window_wide != 0).all()
    # as built (with GroupNorm), the MLP path still carries the far SNP's influence
    assert (far_gradient(build(seq_length=64, global_context="mlp")) != 0).all()


@pytest.mark.parametrize("global_context", ["none", "mlp"])
def test_each_person_is_denoised_on_its_own_in_eval_mode(global_context):
    """The sampler slices batches freely: a person's output must not depend on who else is in the batch."""
    model = build(global_context=global_context).eval()
    x = torch.randn(4, 1, SEQ_LENGTH)
    t = torch.tensor([3, 50, 400, 999])
    with torch.no_grad():
        together = model(x, t)
        alone = torch.cat([model(x[i : i + 1], t[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-5)


def test_default_network_is_unchanged_so_old_checkpoints_load():
    """global_context defaults to 'none', which adds nothing: the default UNet at 1,024 SNPs has the parameter count
    it had before the option existed and no window-MLP keys, so checkpoints written before it load strictly."""
    default = UNet1D(seq_length=1024)
    assert n_params(default) == 659_857
    assert not any(key.startswith("window_mlp") for key in default.state_dict())
    UNet1D(seq_length=1024, global_context="none").load_state_dict(default.state_dict(), strict=True)
    with_mlp = UNet1D(seq_length=1024, global_context="mlp")
    assert set(with_mlp.state_dict()) - set(default.state_dict()) == {
        key for key in with_mlp.state_dict() if key.startswith("window_mlp.")
    }


def test_unet_global_preset_turns_the_window_mlp_on():
    from hydra.utils import instantiate

    from snpdiff.config import compose_config

    cfg = compose_config(["model=unet_global"])
    assert cfg.model.global_context == "mlp"
    model = instantiate(cfg.model, seq_length=SEQ_LENGTH, _convert_="all")
    assert model.window_mlp is not None and model.window_mlp.positions == SEQ_LENGTH // 4


def test_dropout_acts_only_in_train_mode():
    model = build(dropout=0.5)
    assert torch.equal(output(model), output(model))
    assert not torch.allclose(output(model, train=True), output(model))


def test_output_depends_on_the_diffusion_step():
    model = build()
    x = torch.randn(2, 1, SEQ_LENGTH)
    with torch.no_grad():
        early = model(x, torch.tensor([1, 1]))
        late = model(x, torch.tensor([500, 500]))
    assert (early - late).abs().max() > 1e-3


def test_without_time_embedding_the_step_is_ignored():
    model = build(use_time_emb=False)
    x = torch.randn(2, 1, SEQ_LENGTH)
    with torch.no_grad():
        assert torch.equal(model(x, torch.tensor([1, 1])), model(x, torch.tensor([500, 500])))


@pytest.mark.parametrize("global_context", ["none", "mlp"])
@pytest.mark.parametrize("use_scale_shift_norm", [True, False])
def test_gradients_reach_every_parameter(use_scale_shift_norm, global_context):
    model = build(
        use_attention=True, use_scale_shift_norm=use_scale_shift_norm, global_context=global_context, seq_length=50
    )
    x = torch.randn(4, 1, 50)
    model(x, torch.tensor([0, 10, 100, 999])).pow(2).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


@pytest.mark.parametrize(
    ("seq_length", "dim_mults", "padded_length"),
    [(50, (1, 2, 4), 52), (64, (1, 2, 4), 64), (100, (1, 2, 4, 8), 104), (127, (1,), 127)],
)
def test_snp_axis_is_padded_to_a_multiple_of_the_downsampling_factor(seq_length, dim_mults, padded_length):
    model = build(seq_length=seq_length, dim_mults=dim_mults)
    assert model.padded_length == padded_length
    assert output(model).shape == (3, 1, seq_length)


def test_accepts_omegaconf_lists_as_hydra_passes_them():
    keys = OmegaConf.create({"dim_mults": [1, 2], "kernel_sizes": [3, 5], "dilations": [1, 2]})
    assert check_unet_config(**keys) == []
    model = build(dim_mults=keys.dim_mults, kernel_sizes=keys.kernel_sizes, dilations=keys.dilations)
    assert model.downs[1][0].block1.conv.kernel_size == (5,)
    assert model.downs[1][0].block1.conv.dilation == (2,)
    assert output(model).shape == (3, 1, SEQ_LENGTH)


def test_default_config_is_valid():
    defaults = {name: p.default for name, p in inspect.signature(UNet1D).parameters.items() if name != "seq_length"}
    assert check_unet_config(seq_length=1000, **defaults) == []
    assert check_unet_config(seq_length=1000, **TINY) == []


def test_check_unet_config_has_no_defaults_and_checks_only_the_keys_given():
    assert check_unet_config() == []
    assert check_unet_config(norm_groups=8) == []  # needs channels and dim_mults to check divisibility
    assert check_unet_config(dilations=[1, 2, 4]) == []  # the number of levels comes from dim_mults
    assert check_unet_config(channels=12, norm_groups=8, dim_mults=[1, 2, 4]) != []


# One bad input per rule: (keys, a fragment every message for that rule must contain).
BAD_CONFIGS = {
    "norm_groups_divides_widths": (
        {"channels": 12, "dim_mults": [1, 2, 4], "norm_groups": 8},
        "model.norm_groups=8 must divide every level width model.channels * model.dim_mults = [12, 24, 48]; "
        "allowed: one of [1, 2, 3, 4, 6, 12]",
    ),
    "kernel_sizes_length": (
        {"dim_mults": [1, 2, 4], "kernel_sizes": [3, 5]},
        "model.kernel_sizes has 2 entries but model.dim_mults has 3 levels",
    ),
    "dilations_length": (
        {"dim_mults": [1, 2], "dilations": [1, 2, 4]},
        "model.dilations has 3 entries but model.dim_mults has 2 levels",
    ),
    "kernel_size_even": ({"kernel_sizes": 4}, "model.kernel_sizes must be odd integers >= 1"),
    "kernel_size_even_in_list": ({"kernel_sizes": [3, 4, 5]}, "model.kernel_sizes entries must be odd integers >= 1"),
    "kernel_size_zero": ({"kernel_sizes": 0}, "model.kernel_sizes must be odd integers >= 1"),
    "kernel_sizes_type": ({"kernel_sizes": "3"}, "model.kernel_sizes must be one integer or a list of integers"),
    "dilation_zero": ({"dilations": [1, 0, 1]}, "model.dilations entries must be integers >= 1"),
    "attention_heads": ({"attention_heads": 0}, "model.attention_heads must be a positive integer"),
    "attention_dim_head": ({"attention_dim_head": -8}, "model.attention_dim_head must be a positive integer"),
    "channels": ({"channels": 0}, "model.channels must be a positive integer"),
    "embedding_dim_positive": ({"embedding_dim": 0}, "model.embedding_dim must be a positive even integer"),
    "embedding_dim_even": ({"embedding_dim": 33}, "model.embedding_dim must be a positive even integer"),
    "dim_mults_empty": ({"dim_mults": []}, "model.dim_mults must be a non-empty list of positive integers"),
    "dim_mults_positive": ({"dim_mults": [1, 0]}, "model.dim_mults must be a non-empty list of positive integers"),
    "dim_mults_not_ints": ({"dim_mults": [1.5, 2]}, "model.dim_mults must be a non-empty list of positive integers"),
    "dropout_one": ({"dropout": 1.0}, "model.dropout must be a number in [0, 1)"),
    "dropout_negative": ({"dropout": -0.1}, "model.dropout must be a number in [0, 1)"),
    "flag": ({"use_attention": "yes"}, "model.use_attention must be true or false"),
    "in_channels": ({"in_channels": 0}, "model.in_channels must be a positive integer"),
    "time_dim": ({"time_dim": 0}, "model.time_dim must be a positive integer"),
    "seq_length": ({"seq_length": 0}, "model.seq_length must be a positive integer"),
    "bool_is_not_int": ({"channels": True}, "model.channels must be a positive integer"),
    "global_context": ({"global_context": "attn"}, "model.global_context must be one of 'none', 'mlp', got 'attn'"),
    "global_context_null": ({"global_context": None}, "model.global_context must be one of 'none', 'mlp', got None"),
    "global_dim": ({"global_dim": 0}, "model.global_dim must be a positive integer"),
}


def test_the_window_mlp_without_a_time_embedding_adds_only_its_residual():
    """With use_time_emb=false there is no time embedding to carry the window summary: the path is the residual
    beside the convolutions alone, and the output still reaches across the window."""
    model = UNet1D(seq_length=64, channels=8, dim_mults=(1, 2), global_context="mlp", use_time_emb=False)
    assert model.window_mlp.to_summary is None
    x = torch.randn(2, 1, 64, requires_grad=True)
    model(x, torch.tensor([0, 1]))[0, 0, 0].backward()
    assert x.grad[0, 0, -1] != 0


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_check_unet_config_names_the_key_and_the_allowed_values(case):
    keys, fragment = BAD_CONFIGS[case]
    problems = check_unet_config(**keys)
    assert len(problems) == 1, problems
    assert fragment in problems[0]


def test_check_unet_config_reports_every_problem_at_once():
    problems = check_unet_config(
        channels=12, norm_groups=8, dim_mults=[1, 2, 4], kernel_sizes=[3, 4], attention_heads=0, dropout=2
    )
    joined = "\n".join(problems)
    for key in ("norm_groups", "kernel_sizes entries", "kernel_sizes has 2 entries", "attention_heads", "dropout"):
        assert f"model.{key}" in joined
    assert len(problems) == 5


def test_unet_raises_config_error_listing_every_problem():
    with pytest.raises(ConfigError) as raised:
        UNet1D(seq_length=64, channels=12, norm_groups=8, dilations=[1, 2])
    message = str(raised.value)
    assert "model.norm_groups=8" in message
    assert "model.dilations has 2 entries but model.dim_mults has 3 levels" in message


def test_unet_rejects_an_unknown_global_context_naming_the_key():
    with pytest.raises(ConfigError, match=r"model\.global_context must be one of 'none', 'mlp', got 'MLP'"):
        UNet1D(seq_length=64, global_context="MLP")
