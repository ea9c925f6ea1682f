"""A checkpoint is input, not code: its stored config may only name snpdiff's classes with plain keyword values."""

import copy
from pathlib import Path

import pytest
import torch

from snpdiff.errors import ConfigError
from snpdiff.generation import load_trained_model
from snpdiff.training.run import run_training


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> dict:
    from snpdiff.config import compose_config

    output_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config(
        [
            "debug=fast",
            "logger=none",
            "callbacks.progress_bar=null",
            "trainer.max_epochs=1",
            f"paths.output_dir={output_dir}",
        ]
    )
    return torch.load(run_training(cfg)["checkpoints"]["last"], weights_only=True)


def _plant(checkpoint: dict, path: Path, key: str, value: object) -> Path:
    """A copy of ``checkpoint`` whose stored config has ``value`` at the dotted ``key``, saved to ``path``."""
    planted = copy.deepcopy(checkpoint)
    *parents, last = key.split(".")
    node = planted["snpdiff"]
    for part in parents:
        node = node[part]
    node[last] = value
    torch.save(planted, path)
    return path


@pytest.mark.parametrize(
    ("key", "named"),
    [
        ("config.model.channels", "model.channels"),
        ("config.diffusion.timesteps", "diffusion.timesteps"),
        ("encoding.mode", "encoding.mode"),
    ],
)
def test_a_planted_target_node_is_refused_naming_the_key_and_runs_nothing(checkpoint, tmp_path, key, named):
    touched = tmp_path / "pwned"
    hostile = {"_target_": "pathlib.Path.touch", "_args_": [str(touched)]}
    bad = _plant(checkpoint, tmp_path / "hostile.ckpt", key, hostile)
    with pytest.raises(Exception) as refused:  # noqa: PT011 - the file is checked first, then the error
        load_trained_model(bad)
    assert not touched.exists()
    assert isinstance(refused.value, ConfigError)
    assert str(refused.value).startswith(f"ckpt={str(bad)!r}: {named} in the checkpoint is a dict; only int, float")


@pytest.mark.reliability_row("Checkpoints given to generate.py", "a `_target_` outside the allow-list")
@pytest.mark.parametrize("node", ["model", "diffusion"])
def test_a_foreign_class_is_refused_before_anything_is_built(checkpoint, tmp_path, node):
    bad = _plant(checkpoint, tmp_path / "hostile.ckpt", f"config.{node}._target_", "os.system")
    with pytest.raises(ConfigError, match=rf"{node}._target_='os.system' in the checkpoint is not one of snpdiff's"):
        load_trained_model(bad)


def test_hydra_special_keys_are_refused(checkpoint, tmp_path):
    touched = tmp_path / "pwned"
    bad = _plant(checkpoint, tmp_path / "hostile.ckpt", "config.model._args_", [str(touched)])
    with pytest.raises(ConfigError, match="model._args_ in the checkpoint is not a keyword of the class"):
        load_trained_model(bad)


def test_plain_values_still_load_and_unknown_keywords_name_the_node(checkpoint, tmp_path):
    good = _plant(checkpoint, tmp_path / "good.ckpt", "config.diffusion.sampling_steps", 7)
    assert load_trained_model(good).diffusion.sampling_steps == 7
    bad = _plant(checkpoint, tmp_path / "bad.ckpt", "config.diffusion.surprise", 1)
    with pytest.raises(ConfigError, match="diffusion in the checkpoint does not fit GaussianDiffusion"):
        load_trained_model(bad)


def test_an_experiment_written_from_sweep_storage_may_not_name_a_class_by_value(tmp_path):
    """``sweep.py analyze`` writes the best trial's overrides (read from the shared storage) as an experiment that
    the user then runs: a planted ``_target_`` is refused; choosing config options stays allowed."""
    from snpdiff.config import compose_config
    from snpdiff.errors import SweepError
    from snpdiff.sweep.analysis import experiment_text

    planted = f"+callbacks.planted={{_target_: pathlib.Path.touch, _args_: [{tmp_path / 'pwned'}]}}"
    with pytest.raises(SweepError, match=r"set callbacks.planted._target_='pathlib.Path.touch'"):
        experiment_text(["optimizer.lr=0.002", planted], "best trial", compose_config)
    text = experiment_text(["optimizer=adam", "optimizer.lr=0.002"], "best trial", compose_config)
    assert "override /optimizer: adam" in text and "lr: 0.002" in text
