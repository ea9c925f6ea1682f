"""The bridge: parameter dicts -> Hydra overrides that compose to exactly those values (real Hydra composition)."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf import OmegaConf

from snpdiff.config import compose_config
from snpdiff.sweep.analysis import group_choices
from snpdiff.sweep.bridge import config_groups, format_value, params_to_overrides

_ABSENT = object()


def composed_value(cfg, key):
    node = OmegaConf.select(cfg, key.lstrip("+"), default=_ABSENT)
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def same(a, b):
    """Equal values of equal types (1 and 1.0 and True differ), recursively; NaN equals NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_values_are_rendered_in_hydras_grammar_from_their_types():
    assert format_value(None) == "null"
    assert format_value(True) == "true"
    assert format_value(3) == "3"
    assert format_value(2.0) == "2.0"  # stays a float
    assert format_value(1e-05) == "1e-05"
    assert format_value("1e-3") == "'1e-3'"  # stays a string
    assert format_value("None") == "'None'"
    assert format_value([[1, 2], [3]]) == "[[1,2],[3]]"
    assert format_value({"a": None, "b": "x y"}) == "{a:null,b:'x y'}"
    assert format_value("it's a=b, c") == r"'it\'s a=b, c'"


def test_group_choices_and_new_keys_get_the_right_override_form():
    overrides = params_to_overrides({"scheduler": "reduce", "scheduler.min_lr": 1e-7, "trainer.detect_anomaly": None,
                                     "+tags2": ["a"], "model": "unet_attn"})
    assert overrides == ["scheduler=reduce", "model=unet_attn", "scheduler.min_lr=1e-07",
                         "+trainer.detect_anomaly=null", "+tags2=['a']"]
    cfg = compose_config(overrides)
    assert group_choices(overrides)["scheduler"] == "reduce"
    assert cfg.scheduler.min_lr == 1e-7 and cfg.model.use_attention is True
    assert "detect_anomaly" in cfg.trainer and cfg.trainer.detect_anomaly is None


def test_wandbs_own_rendering_would_be_wrong_and_ours_is_not():
    """W&B's ${args_no_hyphens} writes str(value): None becomes the string 'None', a dict Python syntax."""
    params = {"data.path": None, "+extra.options": {"a": 1, "b": [1, 2]}}
    wandb_style = [f"{'+' if k.startswith('+') else ''}{k.lstrip('+')}={v}" for k, v in params.items()]
    assert wandb_style[0] == "data.path=None"
    assert compose_config(wandb_style[:1]).data.path == "None"  # silently a string
    cfg = compose_config(params_to_overrides(params))
    assert cfg.data.path is None
    assert OmegaConf.to_container(cfg.extra.options) == {"a": 1, "b": [1, 2]}


_TEXT = st.text(alphabet=st.sampled_from(list("ab Z09_-./'\"\\,=:[]{}()$%@#~éß\t")), max_size=10)
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=True), _TEXT)
_IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,5}", fullmatch=True)
_VALUE = st.recursive(_SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(_IDENT, inner, max_size=3)), max_leaves=6)
# keys of the config (leaves) and keys it lacks (the bridge adds them with '+')
_KEYS = st.sampled_from(["seed", "optimizer.lr", "model.dim_mults", "data.path", "tags", "trainer.max_epochs",
                         "diffusion.schedule_type", "extra.alpha", "extra.beta", "trainer.max_time", "+added.key"])


@st.composite
def parameter_dicts(draw):
    groups = config_groups()
    params = {}
    for group in draw(st.lists(st.sampled_from(["model", "scheduler", "optimizer", "loss"]), unique=True,
                               max_size=2)):
        params[group] = draw(st.sampled_from(groups[group]))
    for key in draw(st.lists(_KEYS, unique=True, max_size=4)):
        params[key] = draw(_VALUE)
    return params


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parameter_dicts())
@pytest.mark.slow
def test_composing_the_overrides_yields_exactly_the_parameters(params):
    overrides = params_to_overrides(params)
    cfg = compose_config(overrides)
    choices = {g: v for g, v in params.items() if g in config_groups()}
    if choices:
        chosen = group_choices(overrides)
        assert {g: chosen[g] for g in choices} == choices
    for key, value in params.items():
        if key in choices:
            continue
        assert same(composed_value(cfg, key), value), (key, value, overrides)
