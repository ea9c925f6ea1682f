"""``snpdiff.models.MODELS`` is the one table of denoisers: ``conf/model/``, the schema, config validation and the
checkpoint allow-list agree with it."""

import pytest

from snpdiff.config import CONF_DIR, compose_config
from snpdiff.config.schema import OWN_COMPONENTS
from snpdiff.generation.checkpoint import SAFE_TARGETS
from snpdiff.models import MODELS, MLPDenoiser, ModelInputs, UNet1D, model_kind


def conf_model_options() -> list[str]:
    return sorted(path.stem for path in (CONF_DIR / "model").glob("*.yaml"))


@pytest.mark.parametrize("option", conf_model_options())
def test_every_conf_model_option_builds_a_registered_model(option):
    target = compose_config([f"model={option}"]).model._target_
    assert model_kind(target) is not None, f"conf/model/{option}.yaml names {target}, which MODELS lacks"


@pytest.mark.parametrize("kind", MODELS, ids=[kind.name for kind in MODELS])
def test_every_registered_model_has_its_conf_option_schema_and_allow_list_entry(kind):
    assert (CONF_DIR / "model" / f"{kind.name}.yaml").is_file()
    assert compose_config([f"model={kind.name}"]).model._target_ == kind.target
    assert kind.target in OWN_COMPONENTS
    assert all(SAFE_TARGETS["model"][target] is kind.load() for target in kind.targets)


def test_the_table_names_the_classes_the_package_exports():
    assert {kind.load() for kind in MODELS} == {UNet1D, MLPDenoiser}
    assert model_kind("snpdiff.models.unet.UNet1D").check(channels=0) != []
    assert model_kind("os.system") is None


def test_model_inputs_give_the_constructor_arguments_the_data_decide():
    plain = ModelInputs(seq_length=64, channels=1)
    assert plain.keywords() == {"seq_length": 64, "in_channels": 1} and plain.num_classes == 0
    labelled = ModelInputs(seq_length=64, channels=3, population_names=("CEU", "CHB", "YRI"))
    assert labelled.keywords() == {"seq_length": 64, "in_channels": 3, "num_classes": 3}
    assert UNet1D(**labelled.keywords(), channels=8).label_emb is not None
