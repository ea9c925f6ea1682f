"""The metric table: goals by name (with prefixes), target metrics refused with a pointer, unknown names rejected."""

import pytest

from snpdiff.errors import ConfigError
from snpdiff.metrics import METRICS, metric_goal, metric_info


@pytest.mark.parametrize(
    ("name", "goal"),
    [
        ("af_r2", "maximize"),
        ("val/af_r2", "maximize"),
        ("val/ld_corr", "maximize"),
        ("test/pca_w1", "minimize"),
        ("val/aats_gap", "minimize"),
        ("val/exact_copy_rate", "minimize"),
        ("privacy_loss", "minimize"),
        ("val_loss", "minimize"),
        ("val/loss", "minimize"),
        ("train_loss", "minimize"),
        ("train_loss_epoch", "minimize"),
        ("final/val_loss", "minimize"),
    ],
)
def test_metric_goal(name, goal):
    assert metric_goal(name) == goal


@pytest.mark.parametrize("name", ["val/aats", "aa_t", "val/aa_s", "aats_holdout"])
def test_adversarial_accuracies_point_to_their_gap(name):
    with pytest.raises(ConfigError, match="aims at 0.5.*'aats_gap'"):
        metric_goal(name)


def test_signed_metrics_have_no_direction():
    with pytest.raises(ConfigError, match="het_diff.*aims at 0.*no direction"):
        metric_goal("val/het_diff")


def test_unknown_metric_lists_the_allowed_names():
    with pytest.raises(ConfigError, match="val/af_rr.*allowed.*af_r2"):
        metric_goal("val/af_rr")


def test_target_metrics_carry_their_target():
    assert metric_info("val/aats").target == 0.5
    assert metric_info("val/aats").goal_text == "target 0.5"
    assert all((info.goal == "target") == (info.target is not None) for info in METRICS.values())
    assert all(info.goal in ("maximize", "minimize", "target", "diagnostic") for info in METRICS.values())


def test_training_metric_names_use_the_one_metric_goal():
    from snpdiff.metrics import names

    assert names.metric_goal is metric_goal
    assert all(names.is_metric_name(name) for name in names.LOSS_METRICS)
    assert names.is_metric_name("val/af_r2") and names.is_metric_name("final/val/ld_corr")
    assert names.is_logged("val/aats") and not names.is_metric_name("val/aats")
    assert not names.is_logged("test_loss") and not names.is_logged("val/af_rr")
    assert [names.metric_mode(n) for n in ("val_loss", "val/af_r2", "val/aats_gap")] == ["min", "max", "min"]
