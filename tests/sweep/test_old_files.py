"""The old tool's sweep files, written here as a user brings them: every old name at least once, conditional scheduler
parameters, ``1e-4`` read by YAML as text, a top-level ``count``, ``program: train_sweep.py``, value-like
``log_uniform`` and retired names. Each mapped name is followed to the object the training builds from it."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from hydra.utils import instantiate

from snpdiff.config import compose_config
from snpdiff.sweep.bridge import params_to_overrides
from snpdiff.sweep.legacy.aliases import ALIASES, Retired, parse_with_old_names
from snpdiff.training.lr_schedulers import lr_scheduler_factory
from tests.helpers import checked

# the old tool's 41 flat names, and the 8 more its guide names
OLD_NAMES = (
    "accumulate_grad_batches amsgrad attention_dim_head attention_heads attention_type attention_window batch_size "
    "beta1 beta2 dim_mults dropout edge_pad embedding_dim epochs eps eta_min learning_rate min_lr norm_groups "
    "num_global_tokens pos_dim scheduler_anneal_strategy scheduler_div_factor scheduler_factor "
    "scheduler_final_div_factor scheduler_max_lr scheduler_min_lr scheduler_mode scheduler_patience "
    "scheduler_pct_start scheduler_threshold scheduler_type seq_length time_dim use_attention use_scale_shift_norm "
    "warmup_epochs weight_decay window_size with_pos_emb with_time_emb"
).split()
GUIDE_NAMES = ("discrete_penalty_weight use_discrete_loss timesteps beta_start beta_end schedule_type kernel_sizes "
               "dilations").split()
RETIRED = ("edge_pad", "pos_dim", "attention_type", "attention_window", "window_size", "num_global_tokens")

# An old file as the old tool kept them (values as YAML reads them: '1e-4' is text).
OLD_SWEEP = {
    "program": "train_sweep.py",
    "method": "bayes",
    "metric": {"name": "val_loss_epoch", "goal": "minimize"},
    "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
    "count": 20,
    "run_cap": 40,
    "parameters": {
        "learning_rate": {"distribution": "log_uniform", "min": "1e-4", "max": "1e-2"},
        "weight_decay": {"values": ["1e-5", "1e-4"]},
        "beta1": {"values": [0.85, 0.9]},
        "beta2": {"value": 0.995},
        "eps": {"value": "1e-8"},
        "amsgrad": {"values": [False, True]},
        "batch_size": {"values": [16, 32]},
        "epochs": {"value": 8},
        "accumulate_grad_batches": {"values": [1, 2]},
        "seq_length": {"value": 64},
        "embedding_dim": {"values": [16, 32]},
        "time_dim": {"values": [32, 64]},
        "dim_mults": {"values": [[1, 2], [1, 2, 4]]},
        "norm_groups": {"value": 4},
        "dropout": {"values": [0.0, 0.1]},
        "with_time_emb": {"value": True},
        "with_pos_emb": {"values": [True, False]},
        "use_scale_shift_norm": {"values": [True, False]},
        "use_attention": {"values": [False, True]},
        "attention_heads": {"values": [2, 4]},
        "attention_dim_head": {"values": [8, 16]},
        "edge_pad": {"values": [0, 8]},
        "pos_dim": {"value": 16},
        "attention_type": {"value": "sparse"},
        "attention_window": {"value": 128},
        "window_size": {"value": 64},
        "num_global_tokens": {"value": 4},
        "scheduler_type": {"values": ["cosine", "reduce", "onecycle", "warmup_cosine"]},
        "eta_min": {"value": "1e-6"},
        "warmup_epochs": {"values": [1, 2]},
        "scheduler_factor": {"values": [0.5, 0.2]},
        "scheduler_patience": {"values": [2, 4]},
        "scheduler_threshold": {"value": "1e-4"},
        "scheduler_mode": {"value": "min"},
        "scheduler_min_lr": {"value": "1e-7"},
        "scheduler_max_lr": {"values": [0.001, 0.003]},
        "scheduler_pct_start": {"values": [0.2, 0.3]},
        "scheduler_div_factor": {"value": 25.0},
        "scheduler_final_div_factor": {"value": "1e4"},
        "scheduler_anneal_strategy": {"values": ["cos", "linear"]},
        "discrete_penalty_weight": {"value": 0.1},
        "use_discrete_loss": {"value": True},
        "timesteps": {"values": [100, 200]},
        "beta_start": {"value": "1e-4"},
        "beta_end": {"value": 0.02},
        "schedule_type": {"values": ["linear", "cosine"]},
        "kernel_sizes": {"value": 3},
        "dilations": {"value": 1},
    },
}
# min_lr and scheduler_min_lr both meant ReduceLROnPlateau's min_lr: an old file swept one of them
OLD_REDUCE_SWEEP = {
    "program": "train_sweep.py", "method": "random", "metric": {"name": "val_loss_epoch", "goal": "minimize"},
    "parameters": {"scheduler_type": {"values": ["cosine", "reduce"]}, "eta_min": {"values": ["1e-6", "1e-5"]},
                   "min_lr": {"values": ["1e-7", "1e-6"]}, "learning_rate": {"value": 0.001}},
}


def fixed(sweep: dict) -> dict:
    """The old file with its log_uniform written as the author meant it (what `migrate` does)."""
    sweep = copy.deepcopy(sweep)
    sweep["parameters"]["learning_rate"]["distribution"] = "log_uniform_values"
    return sweep


def test_every_old_name_is_in_the_one_alias_table_and_in_a_fixture():
    written = set(OLD_SWEEP["parameters"]) | set(OLD_REDUCE_SWEEP["parameters"])
    assert len(OLD_NAMES) == 41 and len(GUIDE_NAMES) == 8
    for name in (*OLD_NAMES, *GUIDE_NAMES):
        assert name in ALIASES, name
        assert name in written, name
    assert {n for n in ALIASES if isinstance(ALIASES[n], Retired)} == set(RETIRED)
    assert "use_time_emb" not in ALIASES and "use_pos_emb" not in ALIASES  # the old tool never had them


def test_value_like_log_uniform_is_one_problem_with_the_real_range_and_both_fixes():
    _, problems, _ = checked(OLD_SWEEP)
    assert len(problems) == 1, problems
    assert "log_uniform takes natural-log exponents" in problems[0]
    assert "samples values in [1.0001, 1.01005]" in problems[0]
    assert "log_uniform_values" in problems[0] and "sweep.py migrate" in problems[0]


def test_an_old_file_inits_with_one_warning_per_change_and_notes_for_conditional_parameters():
    spec, problems, messages = checked(fixed(OLD_SWEEP))
    assert problems == []
    warnings = [m for m in messages if m.startswith("warning: ")]
    for name in RETIRED:
        assert sum(f"'{name}' is dropped" in w for w in warnings) == 1, name
    assert sum("train_sweep.py" in w for w in warnings) == 1
    assert sum("count: 20" in w and "--count" in w for w in warnings) == 1
    [numbers] = [w for w in warnings if "read as numbers" in w]
    for text in ("learning_rate.min='1e-4'", "weight_decay values '1e-5', '1e-4'", "eps='1e-8'", "beta_start='1e-4'"):
        assert text in numbers
    assert len(warnings) == len(RETIRED) + 3
    assert spec.program == "train.py" and spec.count == 20 and spec.metric == "val_loss_epoch"
    assert spec.parameters["optimizer.lr"].sample_range() == (1e-4, 1e-2, True)
    assert spec.parameters["optimizer.weight_decay"].values == (1e-5, 1e-4)
    assert spec.conditions["scheduler.eta_min"] == {"scheduler": ("cosine", "warmup_cosine")}
    assert spec.conditions["scheduler.factor"] == {"scheduler": ("reduce",)}
    assert spec.conditions["scheduler.anneal_strategy"] == {"scheduler": ("onecycle",)}
    assert "model.time_dim" not in spec.conditions
    assert ("note: parameter 'eta_min' (scheduler.eta_min) applies only with scheduler=cosine, warmup_cosine; "
            "trials with reduce, onecycle do not receive it") in messages


def test_a_misspelt_name_gets_did_you_mean_for_flat_and_dotted_names():
    _, problems, _ = checked({"method": "random", "parameters": {
        "learnin_rate": {"value": 0.001}, "model.chanels": {"value": 8}, "sheduler_patience": {"value": 3}}})
    assert len(problems) == 3, problems
    assert "did you mean learning_rate (optimizer.lr)" in problems[0]
    assert "did you mean model.channels" in problems[1]
    assert "did you mean scheduler_patience (scheduler.patience)" in problems[2]
    assert not any("prefix it with '+'" in p for p in problems)


def test_a_key_no_swept_option_has_is_still_an_error():
    _, problems, _ = checked({"method": "random", "parameters": {
        "scheduler": {"values": ["cosine", "reduce"]}, "scheduler_max_lr": {"value": 0.01}}})
    assert len(problems) == 1
    assert "unknown key scheduler.max_lr (not in the composed config with any of scheduler=cosine, reduce)" in \
        problems[0]


def built(params: dict, spec) -> dict:
    """The objects the training builds from a trial's parameters (through its Hydra overrides, as a trial)."""
    cfg = compose_config(params_to_overrides(spec.applicable(params)))
    model = instantiate(cfg.model, seq_length=int(cfg.data.seq_length), in_channels=1)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    factory = lr_scheduler_factory(cfg.scheduler, lr=float(cfg.optimizer.lr))
    scheduler = factory(optimizer, total_steps=100)["scheduler"] if factory else None
    return {"cfg": cfg, "model": model, "optimizer": optimizer, "scheduler": scheduler,
            "trainer": instantiate(cfg.trainer, logger=False, enable_checkpointing=False),
            "diffusion": instantiate(cfg.diffusion), "loss": instantiate(cfg.loss)}


@pytest.fixture(scope="module")
def old_spec():
    spec, problems, _ = checked(fixed(OLD_SWEEP))
    assert problems == []
    return spec


def test_optimizer_trainer_data_loss_and_diffusion_names_reach_the_built_objects(old_spec):
    params = {**old_spec.fixed_params(), "scheduler": "cosine", "optimizer.lr": 3e-3, "optimizer.weight_decay": 1e-5,
              "optimizer.betas.0": 0.85, "optimizer.amsgrad": True, "data.batch_size": 16,
              "trainer.accumulate_grad_batches": 2, "diffusion.timesteps": 100, "diffusion.schedule_type": "linear"}
    objects = built(params, old_spec)
    group = objects["optimizer"].param_groups[0]
    assert group["lr"] == pytest.approx(3e-3) and group["weight_decay"] == 1e-5
    assert tuple(group["betas"]) == (0.85, 0.995) and group["eps"] == 1e-8 and group["amsgrad"] is True
    trainer = objects["trainer"]
    assert trainer.max_epochs == 8 and trainer.accumulate_grad_batches == 2
    assert objects["cfg"].data.batch_size == 16 and objects["cfg"].data.seq_length == 64
    assert objects["loss"].use_discrete_loss is True and objects["loss"].discrete_penalty_weight == 0.1
    diffusion = objects["diffusion"]
    assert diffusion.timesteps == 100
    assert diffusion.betas[0].item() == pytest.approx(1e-4) and diffusion.betas[-1].item() == pytest.approx(0.02)
    assert objects["scheduler"].eta_min == 1e-6  # cosine: eta_min applies


def test_model_names_reach_the_network(old_spec):
    params = {**old_spec.fixed_params(), "scheduler": "cosine", "model.embedding_dim": 16, "model.time_dim": 32,
              "model.dim_mults": [1, 2], "model.dropout": 0.1, "model.use_pos_emb": False,
              "model.use_scale_shift_norm": False, "model.use_attention": True, "model.attention_heads": 2,
              "model.attention_dim_head": 8}
    model = built(params, old_spec)["model"]
    linears = [m for m in model.time_mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert linears[0].in_features == 16 and linears[-1].out_features == 32  # embedding_dim -> time_dim
    assert model.pos_emb is None and len(model.downs) == 2
    first = model.downs[0][0]
    # time_dim wide conditioning; use_scale_shift_norm=false: one shift per channel (16), not scale and shift (32)
    assert first.time_proj[-1].in_features == 32 and first.time_proj[-1].out_features == 16
    assert any(isinstance(m, torch.nn.Dropout) and m.p == 0.1 for m in model.modules())
    attention = model.downs[0][2]
    assert type(attention).__name__ == "LinearAttention1d" and attention.heads == 2
    without = built({**params, "model.use_time_emb": False, "model.use_attention": False}, old_spec)["model"]
    assert without.time_mlp is None and isinstance(without.downs[0][2], torch.nn.Identity)


def test_reduce_on_plateau_names_reach_the_scheduler(old_spec):
    params = {**old_spec.fixed_params(), "scheduler": "reduce", "scheduler.factor": 0.2, "scheduler.patience": 4}
    scheduler = built(params, old_spec)["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert scheduler.factor == 0.2 and scheduler.patience == 4 and scheduler.threshold == 1e-4
    assert scheduler.mode == "min" and scheduler.min_lrs == [1e-7]


def test_one_cycle_names_reach_the_scheduler(old_spec):
    params = {**old_spec.fixed_params(), "scheduler": "onecycle", "scheduler.max_lr": 0.003,
              "scheduler.pct_start": 0.2, "scheduler.anneal_strategy": "linear"}
    assert "scheduler.eta_min" not in old_spec.applicable(params)  # fixed, but not a OneCycleLR key
    scheduler = built(params, old_spec)["scheduler"]
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    group = scheduler.optimizer.param_groups[0]
    assert group["max_lr"] == 0.003 and group["initial_lr"] == pytest.approx(0.003 / 25.0)
    assert group["min_lr"] == pytest.approx(0.003 / 25.0 / 1e4)
    assert scheduler._schedule_phases[0]["end_step"] == pytest.approx(0.2 * 100 - 1)
    assert scheduler._anneal_func_type == "linear"


def test_warmup_epochs_is_the_warm_up_of_warmup_cosine_in_epochs(old_spec):
    params = {**old_spec.fixed_params(), "scheduler": "warmup_cosine", "scheduler.warmup_epochs": 2}
    scheduler = built(params, old_spec)["scheduler"]
    # 100 optimizer steps over 8 epochs: 2 epochs of warm-up are 25 steps, then the cosine decay starts
    assert scheduler._milestones == [25]
    assert scheduler._schedulers[1].eta_min == 1e-6


def test_min_lr_and_eta_min_apply_to_their_own_scheduler_only():
    spec, problems, _ = checked(OLD_REDUCE_SWEEP)
    assert problems == []
    assert spec.applicable({"scheduler": "cosine", "scheduler.eta_min": 1e-6, "scheduler.min_lr": 1e-7}) == {
        "scheduler": "cosine", "scheduler.eta_min": 1e-6}
    assert spec.applicable({"scheduler": "reduce", "scheduler.eta_min": 1e-6, "scheduler.min_lr": 1e-7}) == {
        "scheduler": "reduce", "scheduler.min_lr": 1e-7}


def test_the_retired_names_are_dropped_at_parse_time_too():
    spec, problems = parse_with_old_names({"method": "random", "parameters": {"edge_pad": {"value": 4},
                                                                              "learning_rate": {"value": 0.001}}})
    assert problems == [] and list(spec.parameters) == ["optimizer.lr"]
    assert spec.warnings == ("parameter 'edge_pad' is dropped: " + ALIASES["edge_pad"].reason,)
    assert math.isclose(spec.parameters["optimizer.lr"].value, 0.001)


def test_local_trials_receive_a_conditional_parameter_only_where_it_applies_and_target_stops_the_sweep(tmp_path):
    """Real Optuna storage; trials are claimed and finished by hand (no training needed to hand out parameters)."""
    from snpdiff.sweep.backends.local import LocalBackend
    from snpdiff.sweep.store import sweeps_root

    sweep = {**OLD_REDUCE_SWEEP, "program": "train.py", "metric": {"name": "val_loss", "goal": "minimize",
                                                                   "target": 0.5}}
    spec, problems, _ = checked(sweep)
    assert problems == []
    info = LocalBackend.create(spec, sweeps_root())
    info.save(spec, sweeps_root())
    backend = LocalBackend(info)
    for value in (0.9, 0.8, 0.7, 0.6):
        trial = backend.claim(10.0)
        scheduler = trial.params["scheduler"]
        expected = {"cosine": "scheduler.eta_min", "reduce": "scheduler.min_lr"}
        assert set(trial.params) == {"scheduler", "optimizer.lr", expected[scheduler]}, trial.params
        backend.finish(trial, "finished", value=value)
    records = backend.trials()
    assert all(set(r.params) - {"scheduler", "optimizer.lr"} for r in records)
    trial = backend.claim(10.0)
    backend.finish(trial, "finished", value=0.4)  # reaches metric.target
    assert backend.claim(10.0) is None
