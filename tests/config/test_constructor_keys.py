"""The committed constructor signatures (``snpdiff/config/constructor_keys.yaml``) are the installed libraries' own,
and the schema nodes built from them make every constructor argument settable without ``+``."""

import inspect

import pytest
from hydra.utils import get_object

from snpdiff.config import compose_config
from snpdiff.config.constructor_keys import CONSTRUCTOR_KEYS, committed_signatures
from snpdiff.config.generate_schemas import conf_targets, generated_text, main
from snpdiff.config.schema import OWN_COMPONENTS, PASSED_BY_CODE, schema_node


def test_the_committed_file_is_what_the_generator_writes_from_the_installed_libraries():
    """Regenerated here: a torch or Lightning upgrade that changes a constructor fails this test (run
    ``python -m snpdiff.config.generate_schemas`` and commit the file)."""
    assert CONSTRUCTOR_KEYS.read_text() == generated_text()
    assert main(["--check"]) == 0


def test_every_target_of_conf_is_in_the_file_with_the_group_it_is_used_in():
    committed = committed_signatures()
    assert set(committed) == set(conf_targets()) and OWN_COMPONENTS <= set(committed)
    assert committed["lightning.pytorch.Trainer"]["group"] == "trainer"
    assert committed["torch.optim.lr_scheduler.OneCycleLR"]["group"] == "scheduler"


@pytest.mark.parametrize("target", sorted(OWN_COMPONENTS))
def test_schema_defaults_are_the_constructors(target):
    obj = get_object(target)
    parameters = inspect.signature(obj.__init__).parameters
    passed = PASSED_BY_CODE.get(committed_signatures()[target]["group"], frozenset())
    expected = {"_target_": target}
    for name, parameter in parameters.items():
        if name != "self" and name not in passed and parameter.default is not inspect.Parameter.empty:
            expected[name] = list(parameter.default) if isinstance(parameter.default, tuple) else parameter.default
    assert schema_node(target) == expected


def test_a_librarys_arguments_are_listed_unset_and_those_the_code_passes_left_out():
    node = schema_node("lightning.pytorch.Trainer")
    assert node["max_steps"] == "???" and "callbacks" not in node and "logger" not in node


def test_unset_arguments_are_dropped_and_plus_still_adds_one():
    """Nobody set ``trainer.max_steps``: Lightning's default applies. Commands written with ``+`` keep working."""
    assert "max_steps" not in compose_config([]).trainer
    assert compose_config(["+trainer.max_steps=3"]).trainer.max_steps == 3


def test_only_unset_keys_of_target_nodes_are_dropped_also_inside_lists():
    from omegaconf import OmegaConf

    from snpdiff.config.compose import drop_unset_arguments

    cfg = OmegaConf.create(
        {"node": {"_target_": "x.Y", "unset": "???", "items": [{"_target_": "x.Z", "unset": "???", "n": 1}, "???"]},
         "required": "???", "link": "${node.items}"}
    )
    drop_unset_arguments(cfg)
    assert OmegaConf.to_container(cfg) == {
        "node": {"_target_": "x.Y", "items": [{"_target_": "x.Z", "n": 1}, "???"]}, "required": "???",
        "link": "${node.items}",
    }
