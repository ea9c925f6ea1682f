"""`sweep.py init` checks the whole sweep file against the composed config, reports every problem in one message,
and creates nothing when the file is invalid."""

import pytest

from snpdiff.errors import SweepError
from snpdiff.sweep.initialize import init_sweep
from snpdiff.sweep.spec import read_sweep_file
from snpdiff.sweep.store import CURRENT_SWEEP_FILE, resolve_sweep, sweeps_root
from tests.helpers import REPO, checked, sweep_cli, write_sweep

# One file with many kinds of mistakes; each entry: (what the message must contain, the kind of problem).
BROKEN_SWEEP = {
    "method": "random",
    "metric": {"name": "val_accuracy", "goal": "maximize"},  # 1. a metric the training never logs
    "program": "no_such_train.py",  # 2. a program that does not exist
    "run_cap": 0,  # 3. an invalid run cap
    "parameters": {
        "model.chanels": {"values": [8, 16]},  # 4. an unknown key (typo)
        "scheduler": {"values": ["cosine", "plateau"]},  # 5. a group option that does not exist
        "model.channels": {"distribution": "uniform", "min": 8.0, "max": 32.0},  # 6. floats for an int key
        "model.norm_groups": {"values": [8, 7]},  # 7. fails validate_config's cross-key rule (7 divides no width)
        "optimizer.lr": {"distribution": "log_uniform_values", "min": 0.0, "max": 0.01},  # 8. log scale from 0
        "optimizer.weight_decay": {"distribution": "lognormal", "mu": 0.0},  # 9. unknown distribution
        "learning_rate": {"value": 0.001},  # 10. alias of a key the file already sets
        "model.use_attention": {"values": ["yes", "no"]},  # 11. strings for a boolean key
    },
}
EXPECTED = [
    "metric.name='val_accuracy' is never logged",
    "program 'no_such_train.py' does not exist",
    "run_cap must be a positive integer",
    "unknown key model.chanels (not in the composed config); did you mean model.channels",
    "scheduler='plateau' does not exist; options: cosine, none, onecycle, reduce, warmup_cosine",
    "model.channels=8.0: the config holds an integer",
    "'model.norm_groups' = 7",
    "log_uniform_values needs min > 0",
    "unknown distribution 'lognormal'",
    "'learning_rate' and 'optimizer.lr' both set optimizer.lr",
    "model.use_attention='yes': the config holds a boolean",
]


def test_an_invalid_sweep_file_names_every_problem_and_creates_nothing(tmp_path):
    path = write_sweep(tmp_path, BROKEN_SWEEP)
    with pytest.raises(SweepError) as caught:
        init_sweep(path, backend="local")
    message = str(caught.value)
    for text in EXPECTED:
        assert text in message, f"{text!r} missing from:\n{message}"
    assert "nothing was created" in message
    root = sweeps_root()
    assert not root.exists() or list(root.iterdir()) == []


def test_cross_key_problems_of_value_combinations_are_found():
    """channels=8 alone and norm_groups=16 alone are fine; together 16 groups cannot split 8 channels."""
    spec, problems, _ = checked({
        "method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"model.channels": {"values": [8, 32]}, "model.norm_groups": {"values": [4, 16]}},
    })
    assert len(problems) == 1, problems
    assert problems[0].startswith("combination model.channels=8, model.norm_groups=16")


def test_a_key_that_only_some_swept_options_have_is_conditional():
    spec, problems, _ = checked({
        "method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"scheduler": {"values": ["cosine", "reduce"]},
                       "scheduler.min_lr": {"values": [1e-6, 1e-7]}},
    })
    assert problems == []
    assert spec.conditions == {"scheduler.min_lr": {"scheduler": ("reduce",)}}
    assert spec.to_dict()["snpdiff"] == {"conditions": {"scheduler.min_lr": {"scheduler": ["reduce"]}}}


def test_finite_ranges_are_enumerated_and_each_problem_is_one_message():
    """channels 8..16 with 8 norm groups: every value but 8 and 16 fails; one message names them all."""
    _, problems, _ = checked({
        "method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"model.channels": {"distribution": "int_uniform", "min": 8, "max": 16},
                       "model.norm_groups": {"value": 8}, "model.dim_mults": {"value": [1, 2]}},
    })
    assert len(problems) == 1, problems
    assert problems[0].startswith("parameter 'model.channels' = 9, 10, 11, 12, 13, 14 and 1 more: model.norm_groups=8 "
                                  "must divide every level width")
    assert "with scheduler" not in problems[0]


def test_hyperband_that_can_never_prune_is_a_warning_and_strict_is_not_applicable_locally():
    _, problems, messages = checked({
        "method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
        "early_terminate": {"type": "hyperband", "min_iter": 5, "strict": True},
        "parameters": {"trainer.max_epochs": {"value": 5}, "optimizer.lr": {"values": [0.001, 0.01]}},
    })
    assert problems == []
    assert messages == [
        "warning: early_terminate: the first hyperband rung is at epoch 5, not below trainer.max_epochs=5: no trial "
        "runs long enough to be pruned; lower min_iter",
        "warning: early_terminate.strict is not applicable to the local backend (Optuna's Hyperband pruner has no "
        "strict mode); it is kept for W&B",
    ]


def test_per_parameter_macros_in_command_name_the_supported_ones():
    _, problems, _ = checked({
        "method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
        "command": ["${env}", "${interpreter}", "${program}", "optimizer.lr=${learning_rate}", "${args_no_hyphens}"],
        "parameters": {"learning_rate": {"values": [0.001, 0.01]}},
    })
    assert len(problems) == 1, problems
    assert "'optimizer.lr=${learning_rate}' is not supported" in problems[0]
    assert "supported macros: ${env}, ${interpreter}, ${program}, ${args}, ${args_no_hyphens}" in problems[0]


def test_metric_goal_and_quality_logging_are_checked():
    _, problems, _ = checked({
        "method": "random", "metric": {"name": "val/af_r2", "goal": "minimize"},
        "parameters": {"debug": {"value": "fast"}},
    })
    assert any("use goal: maximize" in p for p in problems)
    assert any("only logged with quality.enabled=true" in p for p in problems)
    _, problems, _ = checked({"method": "random", "metric": {"name": "val/aats"}, "parameters": {}})
    assert any("aats_gap" in p for p in problems)


@pytest.mark.parametrize("name", ["cpu_smoke", "unet_arch", "optim_sched"])
def test_the_example_sweep_files_are_valid(name):
    _, problems, _ = checked(read_sweep_file(REPO / "conf" / "sweeps" / f"{name}.yaml"))
    assert problems == []


def test_wandb_backend_without_credentials_explains_both_ways_and_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NETRC", str(tmp_path / "no_netrc"))
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write_sweep(tmp_path, {"method": "random", "parameters": {"optimizer.lr": {"values": [0.001]}}})
    result = sweep_cli("init", str(path), "--backend", "wandb", check=False)
    assert result.returncode == 2
    for text in ("WANDB_API_KEY", "wandb login", "--backend local"):
        assert text in result.stderr
    assert not sweeps_root().exists()


def test_default_backend_without_credentials_is_local_with_a_notice(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write_sweep(tmp_path, {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
                                  "parameters": {"optimizer.lr": {"values": [0.001, 0.002]}}})
    result = sweep_cli("init", str(path))
    assert result.stdout.splitlines()[0].startswith("backend: local (Optuna; no W&B credentials")
    info = resolve_sweep(None)
    assert info.backend == "local" and info.storage.startswith("sqlite:///")
    assert (sweeps_root() / CURRENT_SWEEP_FILE).is_file() and info.sweep_file == str(path)


def test_a_short_id_without_current_sweep_is_a_clear_error():
    result = sweep_cli("agent", "abc123", check=False)
    assert result.returncode == 2
    assert "no sweep 'abc123'" in result.stderr and CURRENT_SWEEP_FILE in result.stderr
    assert "sweep.py init" in result.stderr
