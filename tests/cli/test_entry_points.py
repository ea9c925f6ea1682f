"""generate.py and evaluate.py are checked like train.py: compose, check against a typed schema, one call. A
misspelt key is the same one-line ``error:`` with its did-you-mean, a wrong type is refused before any work, and
``--help`` lists the app's own keys."""

import pytest
import yaml
from hydra import compose, initialize_config_dir

from snpdiff.cli import USER_ERROR_EXIT_CODE
from snpdiff.config import CONF_DIR, check_composed
from snpdiff.config.schema import ENTRY_SCHEMAS
from snpdiff.errors import ConfigError
from tests.helpers import run_entry


def composed(config_name: str, overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name=config_name):
        return compose(config_name=config_name, overrides=overrides)


@pytest.mark.parametrize("config_name", sorted(ENTRY_SCHEMAS))
def test_each_schema_has_exactly_the_keys_of_its_config_file(config_name):
    written = yaml.safe_load((CONF_DIR / f"{config_name}.yaml").read_text())
    assert set(ENTRY_SCHEMAS[config_name].keys) == set(written) - {"defaults", "hydra"}


@pytest.mark.parametrize(
    ("config_name", "overrides", "message"),
    [
        ("generate", ["ckpt=x.ckpt", "n=many"], r"n='many' has the wrong type for conf/generate.yaml; allowed: int"),
        ("generate", ["n=5"], r"ckpt is required"),
        ("evaluate", ["real=a", "synthetic=b", "plots=maybe"], r"plots='maybe' has the wrong type .*allowed: bool"),
    ],
)
def test_a_wrong_type_or_a_missing_key_is_refused_before_any_work(config_name, overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_composed(composed(config_name, overrides), config_name)


def test_a_good_config_passes():
    check_composed(composed("generate", ["ckpt=x.ckpt", "population=3"]), "generate")
    check_composed(composed("evaluate", ["real=a", "synthetic=b", "out=o", "max_snps_ld=100"]), "evaluate")


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        ("generate.py", ["ckpt=x.ckpt", "nn=3"], "error: unknown key 'nn' for conf/generate.yaml; allowed: "),
        ("evaluate.py", ["real=a", "synthetic=b", "plot=false"], "error: unknown key 'plot' for conf/evaluate.yaml"),
    ],
)
def test_a_misspelt_key_is_one_error_line_with_its_did_you_mean(script, args, expected, tmp_path):
    result = run_entry(script, *args, root=tmp_path, timeout=120)
    assert result.returncode == USER_ERROR_EXIT_CODE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected) and lines[0].endswith("?")


@pytest.mark.parametrize(("script", "key"), [("generate.py", "guidance_scale:"), ("evaluate.py", "synthetic:")])
def test_help_lists_the_apps_own_keys_not_trainings_groups(script, key, tmp_path):
    result = run_entry(script, "--help", root=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert key in result.stdout and "seed:" in result.stdout
    assert "model:" not in result.stdout and "Configuration groups" not in result.stdout
