"""`sweep.py migrate OLD -o NEW`: the old tool's file rewritten as the modern one, which inits without a warning,
samples what the old author meant, and runs a trial end to end."""

from __future__ import annotations

import copy

import pytest
import yaml

from snpdiff.sweep.backends import open_sweep
from snpdiff.sweep.legacy.migrate import migrate_sweep
from tests.helpers import checked, sweep_cli, write_sweep
from tests.sweep.test_old_files import OLD_REDUCE_SWEEP, OLD_SWEEP, RETIRED


def test_migrate_writes_dotted_keys_numbers_and_a_comment_for_each_change():
    text = migrate_sweep(OLD_SWEEP, "sweep_unet.yaml")
    new = yaml.safe_load(text)
    assert new["program"] == "train.py" and "count" not in new
    assert new["metric"] == OLD_SWEEP["metric"] and new["early_terminate"] == OLD_SWEEP["early_terminate"]
    assert new["parameters"]["optimizer.lr"] == {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2}
    assert new["parameters"]["optimizer.weight_decay"] == {"values": [1e-5, 1e-4]}
    assert new["parameters"]["optimizer.betas.0"] == {"values": [0.85, 0.9]}
    assert new["parameters"]["scheduler"] == {"values": ["cosine", "reduce", "onecycle", "warmup_cosine"]}
    assert not any(name in new["parameters"] for name in RETIRED)
    assert "# count: 20 removed (W&B refuses it): run agents with `python sweep.py agent --count 20`" in text
    assert "# program: train_sweep.py was the old tool's script" in text
    assert "# was log_uniform, which takes natural-log exponents (it sampled [1.0001, 1.01005])" in text
    for name in RETIRED:
        assert f"# {name}: removed; " in text


@pytest.mark.parametrize("old", [OLD_SWEEP, OLD_REDUCE_SWEEP])
def test_the_migrated_file_inits_without_a_warning_and_samples_what_the_old_author_meant(old):
    new = yaml.safe_load(migrate_sweep(old))
    spec, problems, messages = checked(new)
    assert problems == []
    assert [m for m in messages if m.startswith("warning:")] == []
    meant = copy.deepcopy(old)
    if meant["parameters"]["learning_rate"].get("distribution") == "log_uniform":
        meant["parameters"]["learning_rate"]["distribution"] = "log_uniform_values"
    old_spec, old_problems, _ = checked(meant)
    assert old_problems == []
    assert {n: p.to_wandb() for n, p in spec.parameters.items()} == {
        n: p.to_wandb() for n, p in old_spec.parameters.items()}
    assert spec.conditions == old_spec.conditions


@pytest.mark.slow
def test_a_migrated_old_file_runs_one_trial_end_to_end(tmp_path):
    old = {
        "program": "train_sweep.py", "method": "random", "count": 1,
        "metric": {"name": "val_loss_epoch", "goal": "minimize"},
        "parameters": {
            "learning_rate": {"distribution": "log_uniform", "min": "1e-4", "max": "1e-2"},
            "scheduler_type": {"values": ["cosine", "reduce"]}, "scheduler_factor": {"value": 0.5},
            "eta_min": {"value": "1e-6"}, "epochs": {"value": 1}, "seq_length": {"value": 64},
            "n_individuals": {"value": 60}, "batch_size": {"value": 16}, "channels": {"value": 8},
            "dim_mults": {"value": [1, 2]}, "norm_groups": {"value": 4}, "embedding_dim": {"value": 16},
            "time_dim": {"value": 32}, "edge_pad": {"value": 0},
            "logger": {"value": "none"}, "callbacks.progress_bar": {"value": None},
        },
    }
    old_file = write_sweep(tmp_path, old, "old.yaml")
    new_file = tmp_path / "new.yaml"
    out = sweep_cli("migrate", str(old_file), "-o", str(new_file)).stdout
    assert f"wrote {new_file}" in out
    init = sweep_cli("init", str(new_file), "--backend", "local")
    assert "warning:" not in init.stdout + init.stderr
    assert ("note: parameter 'scheduler.eta_min' (scheduler.eta_min) applies only with scheduler=cosine; trials with "
            "reduce do not receive it") in init.stdout
    sweep_id = init.stdout.split("created local sweep ")[1].split()[0]
    sweep_cli("agent", sweep_id, "--count", "1", timeout=600)
    [record] = open_sweep(sweep_id).trials()
    assert record.state == "finished", record.error
    assert 1e-4 <= record.params["optimizer.lr"] <= 1e-2
    ran = yaml.safe_load((open_sweep(sweep_id).info.trial_dir(0) / "config.yaml").read_text())
    assert ran["optimizer"]["lr"] == pytest.approx(record.params["optimizer.lr"])
    assert ran["trainer"]["max_epochs"] == 1 and ran["data"]["n_individuals"] == 60
    assert ran["model"]["time_dim"] == 32
    if record.params["scheduler"] == "reduce":  # each trial receives only its scheduler's keys
        assert ran["scheduler"]["factor"] == 0.5 and "scheduler.eta_min" not in record.params
    else:
        assert ran["scheduler"]["eta_min"] == 1e-6 and "scheduler.factor" not in record.params
