"""The sweep file itself: W&B semantics, flattening, the alias table, distributions, grid order, hyperband."""

import itertools
import math

import pytest

from snpdiff.errors import SweepError
from snpdiff.sweep.legacy.aliases import ALIASES, parse_with_old_names
from snpdiff.sweep.spec import load_sweep, parse_sweep, quantize


def parse(parameters, **top):
    spec, problems = parse_with_old_names({"method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
                                  "parameters": parameters, **top})
    return spec, problems


def test_old_flat_names_reach_their_hydra_keys_through_the_alias_table():
    spec, problems = parse({
        "learning_rate": {"values": [1e-4, 1e-3]},
        "batch_size": {"value": 32},
        "scheduler_type": {"values": ["cosine", "reduce"]},
        "schedule_type": {"value": "linear"},
        "use_discrete_loss": {"value": True},
    })
    assert problems == []
    assert list(spec.parameters) == ["optimizer.lr", "data.batch_size", "scheduler", "diffusion.schedule_type",
                                     "loss.use_discrete_loss"]
    assert spec.parameters["optimizer.lr"].written_as == "learning_rate"
    # every alias named in the issue is in the one table
    for old in ("learning_rate", "batch_size", "weight_decay", "use_attention", "attention_heads",
                "attention_dim_head", "discrete_penalty_weight", "use_discrete_loss", "scheduler_type", "eta_min",
                "min_lr", "embedding_dim", "dim_mults", "norm_groups", "timesteps", "beta_start", "beta_end",
                "schedule_type"):
        assert old in ALIASES


def test_nested_parameter_blocks_flatten_to_dotted_keys():
    spec, problems = parse({"model": {"parameters": {"channels": {"values": [8, 16]},
                                                     "attn": {"parameters": {"heads": {"value": 2}}}}},
                            "optimizer.lr": {"value": 0.1}})
    assert problems == []
    assert list(spec.parameters) == ["model.channels", "model.attn.heads", "optimizer.lr"]


def test_an_alias_and_its_key_together_are_one_problem():
    spec, problems = parse({"learning_rate": {"value": 0.1}, "optimizer.lr": {"value": 0.2}})
    assert len(problems) == 1 and "both set optimizer.lr" in problems[0]


def test_distribution_is_inferred_like_wandb_and_ints_stay_ints():
    spec, problems = parse({"a": {"min": 1, "max": 4}, "b": {"min": 0.5, "max": 2}, "c": {"value": 3},
                            "d": {"values": [1, 2.5]}, "e": {"mu": 1.0, "sigma": 0.5}})
    assert problems == []
    kinds = {name: p.distribution for name, p in spec.parameters.items()}
    assert kinds == {"a": "int_uniform", "b": "uniform", "c": "constant", "d": "categorical", "e": "normal"}
    assert spec.parameters["a"].finite_values() == [1, 2, 3, 4]
    assert all(isinstance(v, int) for v in spec.parameters["a"].finite_values())


@pytest.mark.parametrize(
    ("entry", "low", "high"),
    [
        ({"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2}, 1e-4, 1e-2),
        ({"distribution": "log_uniform", "min": -4.0, "max": 0.0}, math.exp(-4), 1.0),
        ({"distribution": "inv_log_uniform", "min": 0.0, "max": 2.0}, math.exp(-2), 1.0),
        ({"distribution": "inv_log_uniform_values", "min": 0.1, "max": 10.0}, 0.1, 10.0),
        ({"distribution": "uniform", "min": -1.0, "max": 3.0}, -1.0, 3.0),
    ],
)
def test_each_distribution_spans_wandbs_range(entry, low, high):
    spec, problems = parse({"x": entry})
    assert problems == []
    ends = spec.parameters["x"].from_unit(0.0), spec.parameters["x"].from_unit(1.0)
    assert ends[0] == pytest.approx(low) and ends[1] == pytest.approx(high)
    middle = spec.parameters["x"].from_unit(0.5)
    if spec.parameters["x"].sample_range()[2]:  # log scale: the middle is the geometric mean
        assert middle == pytest.approx(math.sqrt(low * high))
    else:
        assert middle == pytest.approx((low + high) / 2)


def test_q_distributions_round_to_q_and_an_int_q_gives_ints():
    spec, _ = parse({"n": {"distribution": "q_uniform", "min": 8, "max": 64, "q": 8},
                     "f": {"distribution": "q_log_uniform_values", "min": 0.01, "max": 1.0, "q": 0.05}})
    values = [spec.parameters["n"].from_unit(u) for u in (0.0, 0.3, 0.77, 1.0)]
    assert values == [8, 24, 48, 64] and all(isinstance(v, int) for v in values)
    assert spec.parameters["f"].from_unit(0.5) == pytest.approx(0.1)
    assert quantize(0.123, 0.05) == pytest.approx(0.1)


def test_checks_use_every_value_of_a_short_range_the_extremes_of_a_long_one_and_mu_and_three_sigma():
    spec, _ = parse({"x": {"distribution": "normal", "mu": 1.0, "sigma": 0.5},
                     "y": {"distribution": "log_normal", "mu": 0.0, "sigma": 1.0},
                     "u": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                     "n": {"distribution": "int_uniform", "min": 1, "max": 100},
                     "q": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25}})
    values, complete = spec.parameters["x"].check_values(64)
    assert values == pytest.approx([-0.5, 1.0, 2.5]) and complete
    assert spec.parameters["y"].check_values(64)[0] == pytest.approx([math.exp(-3), 1.0, math.exp(3)])
    assert spec.parameters["u"].check_values(64) == (pytest.approx([1e-4, 1e-2]), True)
    assert spec.parameters["q"].check_values(64) == ([0.0, 0.25, 0.5, 0.75, 1.0], True)
    assert spec.parameters["n"].check_values(100) == (list(range(1, 101)), True)
    values, complete = spec.parameters["n"].check_values(64)  # 64 evenly spread values, both ends among them
    assert len(values) == 64 and values[0] == 1 and values[-1] == 100 and not complete
    assert all(isinstance(v, int) for v in values)


def test_grid_points_follow_wandb_order_and_include_fixed_values():
    spec, problems = parse({"a": {"values": [1, 2]}, "b": {"value": "x"}, "c": {"distribution": "int_uniform",
                                                                             "min": 0, "max": 1}},
                           method="grid")
    assert problems == []
    assert spec.grid_size() == 4
    assert [spec.grid_point(n) for n in range(4)] == [{"a": 1, "b": "x", "c": 0}, {"a": 1, "b": "x", "c": 1},
                                                      {"a": 2, "b": "x", "c": 0}, {"a": 2, "b": "x", "c": 1}]


def test_grid_point_n_is_itertools_product_order_without_listing_the_grid():
    columns = {"a": [1, 2, 3], "b": ["x", "y"], "c": list(range(5)), "d": [[1, 2], {"k": 1}]}
    spec, problems = parse({name: {"values": values} for name, values in columns.items()}, method="grid")
    assert problems == []
    product = [dict(zip(columns, combo, strict=True)) for combo in itertools.product(*columns.values())]
    assert spec.grid_size() == len(product) == 60
    assert [spec.grid_point(n) for n in range(60)] == product
    # a grid of 10^6 points: its size and its last point, without a list of 10^6 points
    big, problems = parse({f"p{i}": {"distribution": "int_uniform", "min": 0, "max": 9} for i in range(6)},
                          method="grid")
    assert problems == [] and big.grid_size() == 10**6
    assert big.grid_point(10**6 - 1) == {f"p{i}": 9 for i in range(6)}
    assert big.grid_point(123456) == {"p0": 1, "p1": 2, "p2": 3, "p3": 4, "p4": 5, "p5": 6}


def test_structural_problems_are_all_reported():
    _, problems = parse_sweep({
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "lowest"},
        "parameters": {"a": {"distribution": "uniform", "min": 0.0, "max": 1.0},
                       "b": {"vaules": [1]}, "c": {"distribution": "lognormal"}, "d": [1, 2],
                       "e": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}},
        "early_terminate": {"type": "median"},
        "run_cap": -1,
        "command": ["${env}", "${interpreter}", "${program}", "${args_json}"],
        "colour": "blue",
    })
    expected = ["metric.goal='lowest'", "'b': unknown keys ['vaules']", "unknown distribution 'lognormal'",
                "'d': must be a mapping", "q must be > 0", "only type 'hyperband'", "run_cap must be a positive",
                "'${args_json}' is not supported", "must contain ${args_no_hyphens}",
                "unknown top-level keys ['colour']",
                "'a': grid search needs values"]
    for text in expected:
        assert any(text in p for p in problems), (text, problems)
    assert len(problems) == len(expected)


def test_hyperband_brackets_in_epochs():
    spec, _ = parse({"x": {"value": 1}}, early_terminate={"type": "hyperband", "min_iter": 3, "eta": 3, "s": 2})
    assert spec.early_terminate.resource_bounds() == (3, 27)
    spec, _ = parse({"x": {"value": 1}}, early_terminate={"type": "hyperband", "max_iter": 27, "s": 2})
    assert spec.early_terminate.resource_bounds() == (3, 27)
    spec, _ = parse({"x": {"value": 1}}, early_terminate={"type": "hyperband", "min_iter": 2})
    assert spec.early_terminate.resource_bounds() == (2, "auto")


def test_stored_form_round_trips():
    spec, _ = parse({"learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                     "model": {"parameters": {"dim_mults": {"values": [[1, 2], [1, 2, 4]]}}}},
                    run_cap=5, command=["${env}", "${interpreter}", "${program}", "debug=fast", "${args_no_hyphens}"])
    again = load_sweep(spec.to_dict())
    assert again.parameters.keys() == spec.parameters.keys()
    assert again.parameters["optimizer.lr"].min == 1e-4 and again.run_cap == 5
    assert again.command_overrides() == ["debug=fast"]
    with pytest.raises(SweepError, match="method"):
        load_sweep({**spec.to_dict(), "method": "hyper"})
    for damaged in (None, [], "method: grid"):  # a stored sweep.yaml emptied or overwritten
        with pytest.raises(SweepError, match="stored sweep is a mapping"):
            load_sweep(damaged)


# W&B's own documented constructs (docs.wandb.ai, "Define a sweep configuration"): nested parameters, the controller,
# metric.target, early_terminate.strict, probabilities and ${args_no_hyphens} in the command.
WANDB_DOCUMENTED = {
    "name": "documented", "description": "W&B's examples", "project": "snpdiff", "entity": "someone",
    "program": "train.py", "method": "bayes",
    "metric": {"name": "val_loss", "goal": "minimize", "target": 0.1},
    "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 2, "strict": True},
    "controller": {"type": "local"},
    "command": ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"],
    "parameters": {
        "optimizer": {"parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                                     "weight_decay": {"values": [0.0, 0.01], "probabilities": [0.3, 0.7]}}},
        "scheduler": {"values": ["cosine", "reduce"]},
        "scheduler.min_lr": {"value": 1e-7},
    },
    "run_cap": 10,
}


def test_wandbs_documented_keys_reach_wandb_sweep_unchanged(monkeypatch, tmp_path):
    """W&B's server is stood in for: ``wandb.sweep`` records the config it is given."""
    import wandb

    from snpdiff.sweep.backends import wandb as wandb_backend
    from snpdiff.sweep.rules import check_sweep

    spec, problems = parse_sweep(WANDB_DOCUMENTED)
    check = check_sweep(spec, "wandb")
    assert problems == [] and check.problems == []
    spec = check.spec
    sent = {}
    monkeypatch.setattr(wandb_backend, "require_credentials", lambda: None)
    monkeypatch.setattr(wandb, "sweep", lambda config, project, entity: sent.update(config) or "abc123")
    info = wandb_backend.WandbBackend.create(spec, tmp_path, project=None, entity="someone")
    assert info.sweep_id == "abc123" and info.project == "snpdiff"
    expected = {key: value for key, value in WANDB_DOCUMENTED.items() if key != "parameters"}
    expected["command"] = wandb_backend.TRIAL_COMMAND  # the bridge renders the overrides (see the module)
    assert {key: sent[key] for key in expected} == expected
    assert sent["parameters"] == {
        "optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
        "optimizer.weight_decay": {"values": [0.0, 0.01], "probabilities": [0.3, 0.7]},
        "scheduler": {"values": ["cosine", "reduce"]},
        "scheduler.min_lr": {"value": 1e-7},
    }
    assert "snpdiff" not in sent  # the stored form's own key (conditions) stays with the sweep
    assert spec.to_dict()["snpdiff"] == {"conditions": {"scheduler.min_lr": {"scheduler": ["reduce"]}}}
    # a W&B run gets every parameter; its trial sets a conditional one only where it applies
    assert spec.applicable({"scheduler": "cosine", "scheduler.min_lr": 1e-7}) == {"scheduler": "cosine"}


def test_top_level_count_and_the_old_program_are_accepted_with_a_warning_each():
    spec, problems = parse({"x": {"value": 1}}, count=7, program="train_sweep.py")
    assert problems == [] and spec.count == 7 and spec.program == "train.py"
    assert len(spec.warnings) == 2
    assert "count" not in spec.to_wandb() and spec.to_dict()["snpdiff"] == {"count": 7}
    assert load_sweep(spec.to_dict()).count == 7
