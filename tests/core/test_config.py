"""Config composition of every group option, and the clear errors for bad configs."""

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException

from snpdiff.config import CONF_DIR, compose_config, fix_min_lr, validate_config
from snpdiff.errors import ConfigError

GROUPS = ["model", "diffusion", "loss", "optimizer", "scheduler", "data", "trainer", "logger", "debug", "experiment"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes_and_validates(group, option, tmp_path):
    overrides = [f"{group}={option}", f"paths.output_dir={tmp_path}"]
    if group == "data" and option != "sim":
        overrides.append(f"data.path={tmp_path / 'file'}")  # path checks happen when data is loaded
    cfg = compose_config(overrides)
    if group not in ("debug", "experiment", "logger", "trainer"):
        assert group in cfg and cfg[group] is not None
    validate_config(cfg)


def test_defaults_are_the_documented_ones(tmp_path):
    cfg = compose_config([f"paths.output_dir={tmp_path}"])
    assert cfg.model._target_.endswith("UNet1D") and cfg.model.use_attention is False
    assert cfg.diffusion.schedule_type == "cosine"
    assert cfg.loss.use_discrete_loss is False
    assert cfg.optimizer._target_ == "torch.optim.AdamW"
    assert cfg.scheduler.name == "cosine"
    assert cfg.data.source == "sim" and cfg.data.n_individuals == 1000
    assert cfg.trainer.accelerator == "cpu"
    assert "wandb" in cfg.logger
    assert cfg.optimized_metric == "val_loss" and cfg.ckpt_path is None


def test_unet_attn_is_unet_with_attention_on(tmp_path):
    unet = compose_config([f"paths.output_dir={tmp_path}"]).model
    attn = compose_config(["model=unet_attn", f"paths.output_dir={tmp_path}"]).model
    assert attn.use_attention is True
    assert {k: v for k, v in attn.items() if k != "use_attention"} == {
        k: v for k, v in unet.items() if k != "use_attention"
    }


BAD_CONFIGS = [
    (["+model.kernel_size=3"], r"unknown key 'model.kernel_size'.*allowed:.*kernel_sizes"),
    (["model.norm_groups=5"], r"model.norm_groups"),
    (["model.kernel_sizes=[3,5]"], r"model.kernel_sizes"),
    (["model.dilations=[1,2,1,1]"], r"model.dilations"),
    (["model=unet_attn", "model.attention_heads=0"], r"model.attention_heads"),
    (["diffusion.prediction=score"], r"diffusion.prediction.*eps"),
    (["diffusion.sampling_steps=5000"], r"diffusion.sampling_steps"),
    (["diffusion.schedule_type=quadratic"], r"diffusion.schedule_type.*cosine"),
    (["optimizer.lr=-0.1"], r"optimizer.lr=-0.1 must be a number > 0"),
    (["optimizer.betas=[0.9]"], r"optimizer.betas"),
    (["optimized_metric=val/nonsense"], r"optimized_metric='val/nonsense'"),
    (["ckpt_path=/nonexistent/model.ckpt"], r"ckpt_path='/nonexistent/model.ckpt' is not a file"),
    (["data.batch_size=0"], r"data.batch_size"),
    (["data.encoding=binary"], r"data.encoding"),
    (["loss.use_discrete_loss=true", "loss.discrete_penalty_weight=0"], r"discrete_penalty_weight > 0"),
    (["scheduler=reduce", "scheduler.factor=1.5"], r"scheduler.factor=1.5 must be in \(0, 1\)"),
    (["callbacks.progress_bar.kind=fancy"], r"callbacks.progress_bar.kind='fancy'.*rich"),
    (["+unknown_top=1"], r"unknown top-level key 'unknown_top'"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_CONFIGS, ids=[" ".join(o) for o, _ in BAD_CONFIGS])
def test_bad_config_gives_one_clear_error(overrides, message, tmp_path):
    cfg = compose_config([*overrides, f"paths.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


def test_every_problem_is_reported_at_once(tmp_path):
    cfg = compose_config(
        ["optimizer.lr=0", "model.norm_groups=5", "diffusion.prediction=score", f"paths.output_dir={tmp_path}"]
    )
    with pytest.raises(ConfigError) as error:
        validate_config(cfg)
    text = str(error.value)
    assert "optimizer.lr" in text and "model.norm_groups" in text and "diffusion.prediction" in text


def test_unknown_key_without_plus_and_unknown_option_are_rejected_by_hydra(tmp_path):
    with pytest.raises(ConfigCompositionException, match="model.kernel_size"):
        compose_config(["model.kernel_size=3"])
    with pytest.raises(MissingConfigException, match="(?s)model/transformer.*unet_attn"):
        compose_config(["model=transformer"])


@pytest.mark.parametrize(
    ("scheduler", "key"), [("cosine", "eta_min"), ("warmup_cosine", "eta_min"), ("reduce", "min_lr")]
)
def test_min_lr_not_below_lr_is_fixed_to_one_percent(scheduler, key, tmp_path):
    cfg = compose_config(
        [f"scheduler={scheduler}", "optimizer.lr=0.001", f"scheduler.{key}=0.01", f"paths.output_dir={tmp_path}"]
    )
    warnings = fix_min_lr(cfg)
    assert len(warnings) == 1 and f"scheduler.{key}=0.01" in warnings[0]
    assert cfg.scheduler[key] == pytest.approx(1e-5)
    assert fix_min_lr(cfg) == []  # fixed once, then valid


def test_conf_dir_is_the_repository_conf():
    assert (Path(CONF_DIR) / "train.yaml").is_file()
