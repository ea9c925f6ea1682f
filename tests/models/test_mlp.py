"""MLPDenoiser: shapes, every key reaches the network, time conditioning, gradients, config checks."""

import inspect

import pytest
import torch

from snpdiff.errors import ConfigError
from snpdiff.models import MLPDenoiser, check_mlp_config

TINY = {"seq_length": 50, "hidden_dim": 32, "num_layers": 2, "embedding_dim": 16}


def build(seed: int = 0, **overrides) -> MLPDenoiser:
    torch.manual_seed(seed)
    return MLPDenoiser(**{**TINY, **overrides})


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("seq_length", [50, 64, 100])
@pytest.mark.parametrize("in_channels", [1, 2])
def test_output_shape(seq_length, in_channels):
    model = build(seq_length=seq_length, in_channels=in_channels)
    out = model(torch.randn(3, in_channels, seq_length), torch.tensor([0, 5, 999]))
    assert out.shape == (3, in_channels, seq_length)


def test_wrong_input_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\[batch, 1, 50\], got \[2, 1, 49\]"):
        build()(torch.randn(2, 1, 49), torch.zeros(2, dtype=torch.long))


KEY_CHANGES = {
    "seq_length": (50, 60, "params"),
    "in_channels": (1, 2, "params"),
    "hidden_dim": (32, 48, "params"),
    "num_layers": (2, 3, "params"),
    "embedding_dim": (16, 32, "params"),
    "use_time_emb": (True, False, "params"),
    "dropout": (0.0, 0.5, "output"),
    "num_classes": (0, 3, "params"),
}


def test_key_table_covers_every_mlp_argument():
    # label_dropout acts only on labelled batches in training: tests/models/test_conditioning.py
    assert set(KEY_CHANGES) | {"label_dropout"} == set(inspect.signature(MLPDenoiser.__init__).parameters) - {"self"}


@pytest.mark.parametrize("key", sorted(KEY_CHANGES))
def test_every_key_changes_the_network(key):
    value_a, value_b, shows_in = KEY_CHANGES[key]
    model_a, model_b = build(**{key: value_a}), build(**{key: value_b})
    if shows_in == "params":
        assert n_params(model_a) != n_params(model_b)
        return
    assert n_params(model_a) == n_params(model_b)
    x, t = torch.randn(4, 1, 50), torch.tensor([0, 1, 2, 3])
    outputs = []
    for model in (model_a, model_b):
        torch.manual_seed(7)
        outputs.append(model.train()(x, t))
    assert not torch.allclose(*outputs)


def test_output_depends_on_the_diffusion_step_only_with_time_embedding():
    x = torch.randn(2, 1, 50)
    early, late = torch.tensor([1, 1]), torch.tensor([500, 500])
    with torch.no_grad():
        model = build().eval()
        assert (model(x, early) - model(x, late)).abs().max() > 1e-3
        untimed = build(use_time_emb=False).eval()
        assert torch.equal(untimed(x, early), untimed(x, late))


def test_gradients_reach_every_parameter():
    model = build()
    model(torch.randn(4, 1, 50), torch.tensor([0, 10, 100, 999])).pow(2).mean().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


BAD_CONFIGS = {
    "hidden_dim": ({"hidden_dim": 0}, "model.hidden_dim must be a positive integer"),
    "num_layers": ({"num_layers": -1}, "model.num_layers must be a positive integer"),
    "embedding_dim": ({"embedding_dim": 15}, "model.embedding_dim must be a positive even integer"),
    "dropout": ({"dropout": 1}, "model.dropout must be a number in [0, 1)"),
    "flag": ({"use_time_emb": 1}, "model.use_time_emb must be true or false"),
    "seq_length": ({"seq_length": 2.5}, "model.seq_length must be a positive integer"),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_check_mlp_config_names_the_key_and_the_allowed_values(case):
    keys, fragment = BAD_CONFIGS[case]
    problems = check_mlp_config(**keys)
    assert len(problems) == 1, problems
    assert fragment in problems[0]


def test_default_config_is_valid_and_bad_config_raises():
    assert check_mlp_config() == []
    with pytest.raises(ConfigError, match="model.hidden_dim.*\n.*model.dropout"):
        MLPDenoiser(seq_length=10, hidden_dim=0, dropout=1.5)
