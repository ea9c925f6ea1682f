"""Population conditioning of both denoisers: labels enter through the time embedding, "no label" is one more
class, label dropout trains the unconditional prediction that classifier-free guidance needs."""

import pytest
import torch

from snpdiff.diffusion.guidance import GuidedModel
from snpdiff.errors import ConfigError
from snpdiff.models import MLPDenoiser, UNet1D

BUILDERS = {
    "unet": lambda **keys: UNet1D(seq_length=40, channels=8, dim_mults=(1, 2), embedding_dim=16, **keys),
    "mlp": lambda **keys: MLPDenoiser(seq_length=40, hidden_dim=32, num_layers=2, embedding_dim=16, **keys),
}


def inputs(batch: int = 6):
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, 1, 40, generator=generator), torch.full((batch,), 500)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_the_label_changes_the_prediction_and_none_means_no_label(kind):
    torch.manual_seed(0)
    model = BUILDERS[kind](num_classes=3).eval()
    x, t = inputs()
    with torch.no_grad():
        by_label = [model(x, t, torch.full((6,), label)) for label in range(3)]
        unlabelled = model(x, t)
        null = model(x, t, torch.full((6,), model.null_label))
    assert model.null_label == 3
    assert not torch.allclose(by_label[0], by_label[1]) and not torch.allclose(by_label[1], by_label[2])
    assert torch.equal(unlabelled, null)


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_label_dropout_replaces_that_share_of_labels_in_training_only(kind):
    torch.manual_seed(0)
    model = BUILDERS[kind](num_classes=3, label_dropout=0.5)
    x, t = inputs(400)
    labels = torch.zeros(400, dtype=torch.long)
    with torch.no_grad():
        unconditional = model.eval()(x, t)
        dropped = (model.train()(x, t, labels) == unconditional).flatten(1).all(dim=1)
        assert not (model.eval()(x, t, labels) == unconditional).flatten(1).all(dim=1).any()
    assert 0.4 < dropped.float().mean() < 0.6


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_unconditioned_models_keep_their_weights_and_refuse_labels(kind):
    model = BUILDERS[kind]()
    assert model.null_label is None and not any("label_emb" in name for name in model.state_dict())
    x, t = inputs()
    with pytest.raises(ValueError, match="num_classes"):
        model(x, t, torch.zeros(6, dtype=torch.long))


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_bad_conditioning_keys_are_named(kind):
    with pytest.raises(ConfigError, match="model.num_classes must be an integer >= 0"):
        BUILDERS[kind](num_classes=-1)
    with pytest.raises(ConfigError, match="model.label_dropout"):
        BUILDERS[kind](num_classes=2, label_dropout=1.5)
    with pytest.raises(ConfigError, match="use_time_emb=true"):
        BUILDERS[kind](num_classes=2, use_time_emb=False)


def test_guidance_combines_conditional_and_unconditional_linearly():
    torch.manual_seed(0)
    model = BUILDERS["unet"](num_classes=3).eval()
    x, t = inputs()
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    with torch.no_grad():
        conditional, unconditional = model(x, t, labels), model(x, t)
        assert torch.equal(GuidedModel(model, model.null_label, 1.0)(x, t, labels), conditional)
        assert torch.equal(GuidedModel(model, model.null_label, 0.0)(x, t, labels), unconditional)
        guided = GuidedModel(model, model.null_label, 3.0)(x, t, labels)
    assert torch.allclose(guided, unconditional + 3.0 * (conditional - unconditional), atol=1e-5)
