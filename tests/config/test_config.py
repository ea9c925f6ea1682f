"""Config composition of every group option, and the clear errors for bad configs."""

import inspect
from pathlib import Path

import pytest
import torch
from hydra.errors import ConfigCompositionException, MissingConfigException
from hydra.utils import instantiate

from snpdiff.cli.exit import unknown_override_message
from snpdiff.config import CONF_DIR, compose_config, validate_config
from snpdiff.config.schema import check_target_node
from snpdiff.data import GenotypeDataModule, simulate_genotypes, write_npy, write_parquet, write_plink, write_vcf
from snpdiff.errors import ConfigError
from snpdiff.models import UNet1D
from tests.helpers import run_train

GROUPS = [
    "model",
    "diffusion",
    "loss",
    "optimizer",
    "scheduler",
    "data",
    "trainer",
    "logger",
    "callbacks",
    "quality",
    "paths",
    "debug",
    "experiment",
]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


# small sizes that keep building every option fast; they do not change which option is built
TINY = ["data.n_individuals=40", "data.region_length=200000", "data.seq_length=32", "data.batch_size=8"]
FILE_WRITERS = {"plink": write_plink, "vcf": write_vcf, "parquet": write_parquet, "npy": write_npy}
FILE_NAMES = {"plink": "cohort", "vcf": "cohort.vcf.gz", "parquet": "cohort.parquet", "npy": "cohort.npy"}


def _build(cfg, group: str, tmp_path: Path) -> None:
    """Instantiate what ``group`` configures the way training does, and check it works."""
    if group == "data":
        datamodule = instantiate(cfg.data)
        datamodule.setup()
        batch = next(iter(datamodule.train_dataloader()))
        values = batch[0] if isinstance(batch, tuple) else batch  # labelled data: (values, population labels)
        assert isinstance(datamodule, GenotypeDataModule) and values.shape[1:] == (1, 32)
        return
    model = instantiate(cfg.model, seq_length=32, in_channels=1)
    x, t = torch.randn(2, 1, 32), torch.tensor([0, 5])
    assert model(x, t).shape == (2, 1, 32)
    diffusion = instantiate(cfg.diffusion)
    assert diffusion.timesteps == cfg.diffusion.timesteps
    codes, signal_fraction = torch.tensor([-1.0, 0.0, 1.0]), torch.tensor([1.0, 0.5])
    loss, _ = instantiate(cfg.loss)(x, x, torch.zeros_like(x), codes, signal_fraction)  # x0 0: a valid code
    assert loss.item() == pytest.approx(0.0)
    optimizer = instantiate(cfg.optimizer)(model.parameters())
    assert optimizer.param_groups[0]["lr"] == cfg.optimizer.lr
    from snpdiff.training.lr_schedulers import lr_scheduler_factory

    factory = lr_scheduler_factory(cfg.scheduler, cfg.optimizer.lr)
    if factory is not None:
        assert factory(optimizer, total_steps=100)["scheduler"] is not None
    for key in ("callbacks", "logger"):
        for name, node in (cfg.get(key) or {}).items():
            if node is not None and "_target_" in node:
                assert instantiate(node) is not None, f"{key}.{name}"
    if cfg.trainer.accelerator == "gpu" and not torch.cuda.is_available():
        pytest.skip("trainer=gpu builds a Trainer only on a machine with a GPU (validated above)")
    assert instantiate(cfg.trainer).max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize(("group", "option"), [(g, o) for g in GROUPS for o in options(g)])
def test_every_group_option_composes_validates_and_builds(group, option, tmp_path):
    overrides = [f"{group}={option}", f"paths.output_dir={tmp_path}", *TINY]
    if group != "logger":
        overrides.append("logger=csv")  # the wandb logger is built in its own case, offline
    else:
        overrides.append(f"+logger.{option}.mode=disabled" if option == "wandb" else "logger=" + option)
    if group == "data" and option != "sim":
        path = tmp_path / FILE_NAMES[option]
        FILE_WRITERS[option](path, simulate_genotypes(n_individuals=40, region_length=200000))
        overrides.append(f"data.path={path.with_suffix('') if option == 'plink' else path}")
    cfg = compose_config(overrides)
    if group not in ("debug", "experiment", "logger", "trainer"):
        assert group in cfg and cfg[group] is not None
    validate_config(cfg)
    _build(cfg, group, tmp_path)


def test_one_default_per_key_the_constructors(tmp_path):
    """conf/model/unet.yaml takes UNet1D's defaults (channels 16, the shipped value), nothing restated."""
    cfg = compose_config([f"paths.output_dir={tmp_path}"])
    defaults = {n: p.default for n, p in inspect.signature(UNet1D.__init__).parameters.items() if n != "self"}
    assert cfg.model.channels == defaults["channels"] == 16
    assert list(cfg.model.dim_mults) == list(defaults["dim_mults"])
    assert cfg.data.seq_length == 1024 and cfg.data.batch_size == 16


def test_target_node_check_names_the_key_and_the_allowed_keys():
    node = {"_target_": "torch.optim.lr_scheduler.LinearLR", "_partial_": True, "start_factr": 0.1}
    assert check_target_node(node, "scheduler.schedulers[0]", frozenset({"optimizer"})) == [
        "unknown key 'scheduler.schedulers[0].start_factr' for torch.optim.lr_scheduler.LinearLR; "
        "allowed: end_factor, last_epoch, start_factor, total_iters; "
        "did you mean 'scheduler.schedulers[0].start_factor'?"
    ]


def test_defaults_are_the_documented_ones(tmp_path):
    cfg = compose_config([f"paths.output_dir={tmp_path}"])
    assert cfg.model._target_.endswith("UNet1D") and cfg.model.use_attention is False
    assert cfg.diffusion.schedule_type == "cosine"
    assert cfg.loss.use_discrete_loss is False
    assert cfg.optimizer._target_ == "torch.optim.AdamW"
    assert cfg.scheduler._target_ == "torch.optim.lr_scheduler.CosineAnnealingLR"
    assert cfg.data.source == "sim" and cfg.data.n_individuals == 1250
    assert cfg.trainer.max_time == "00:00:10:00" and cfg.diffusion.prediction == "x0" and "ema" in cfg.callbacks
    assert cfg.trainer.accelerator == "cpu"
    assert "wandb" in cfg.logger
    assert cfg.optimized_metric == "val_loss" and cfg.ckpt_path is None


@pytest.mark.parametrize(
    "overrides, fused",
    [([], True), (["optimizer=adam"], True), (["trainer=gpu"], False), (["optimizer.fused=false"], False)],
)
def test_adam_optimizers_are_fused_except_under_mixed_precision(overrides, fused, tmp_path):
    """Fused Adam(W) by default; off under trainer=gpu's bf16-mixed (Lightning refuses clipping with it there)."""
    cfg = compose_config([*overrides, f"paths.output_dir={tmp_path}"])
    validate_config(cfg)
    optimizer = instantiate(cfg.optimizer)(torch.nn.Linear(2, 2).parameters())
    assert optimizer.defaults["fused"] is fused


def test_a_fused_optimizer_with_mixed_precision_clipping_fails_before_training(tmp_path):
    cfg = compose_config(["trainer=gpu", "optimizer.fused=true", f"paths.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"optimizer.fused=true cannot go with trainer.precision=bf16-mixed"):
        validate_config(cfg)
    validate_config(compose_config(["trainer=gpu", "optimizer.fused=true", "trainer.gradient_clip_val=null"]))


def test_unet_attn_is_unet_with_attention_on(tmp_path):
    unet = compose_config(["model=unet", f"paths.output_dir={tmp_path}"]).model
    attn = compose_config(["model=unet_attn", f"paths.output_dir={tmp_path}"]).model
    assert attn.use_attention is True
    assert {k: v for k, v in attn.items() if k != "use_attention"} == {
        k: v for k, v in unet.items() if k != "use_attention"
    }


BAD_CONFIGS = [
    (["+model.kernel_size=3"], r"unknown key 'model.kernel_size'.*allowed:.*kernel_sizes"),
    (["model=mlp", "+model.channels=8"], r"unknown key 'model.channels' for snpdiff.models.MLPDenoiser; allowed: "),
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
    (["+scheduler.eta_minn=1"], r"unknown key 'scheduler.eta_minn' for .*CosineAnnealingLR; allowed: T_max, eta_min,"),
    (["scheduler=reduce", "scheduler.patience=soon"], r"scheduler.patience='soon' has the wrong type.*allowed: int"),
    (["+callbacks.model_checkpoint.save_topk=2"], r"unknown key 'callbacks.model_checkpoint.save_topk'.*save_top_k"),
    (["logger=csv", "+logger.csv.nam=x"], r"unknown key 'logger.csv.nam' for .*CSVLogger; allowed: .*name"),
    (["trainer.max_epochs=ten"], r"trainer.max_epochs='ten' has the wrong type .*allowed: int"),
    # Trainer values Lightning refuses only once the Trainer is built, after the data has loaded
    (["trainer.max_time=garbage"], r"trainer.max_time='garbage' must be a duration \"DD:HH:MM:SS\""),
    (["trainer.max_time={hours: -1}"], r"trainer.max_time=\{'hours': -1\} must be a duration"),
    (["trainer.max_epochs=-5"], r"trainer.max_epochs=-5 must be an integer >= 0, or -1 for no limit"),
    (["trainer.limit_train_batches=1.5"], r"trainer.limit_train_batches=1.5 must be a share in \[0, 1\]"),
    (["trainer.precision=half"], r"trainer.precision='half' must be 64-true, 32-true"),
    (["trainer.gradient_clip_algorithm=max"], r"trainer.gradient_clip_algorithm='max' must be norm or value"),
    (["quality.eval_samples=many"], r"quality.eval_samples='many' has the wrong type .*allowed: int"),
    (["+model.seq_length=64"], r"unknown key 'model.seq_length'"),  # the data module's window sets it
    (["+data.bogus=1"], r"unknown key 'data.bogus' for snpdiff.data.GenotypeDataModule; allowed: batch_size"),
    (["data.batch_size=big"], r"data.batch_size='big' has the wrong type .*allowed: int"),
    # text that OmegaConf would convert is still text when the constructor gets it (config nodes are plain)
    (["model.use_attention=yes"], r"model.use_attention='yes' has the wrong type .*allowed: bool"),
    (["data.batch_size='8'"], r"data.batch_size='8' has the wrong type .*allowed: int"),
    (["+unknown_top=1"], r"unknown key 'unknown_top' for conf/train.yaml; allowed: callbacks, ckpt_path"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_CONFIGS, ids=[" ".join(o) for o, _ in BAD_CONFIGS])
def test_bad_config_gives_one_clear_error(overrides, message, tmp_path):
    cfg = compose_config([*overrides, f"paths.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)


@pytest.mark.parametrize(
    "override",
    ["trainer.max_time={days: 1, hours: 2}", "trainer.max_time=null", "trainer.max_epochs=-1", "trainer.max_steps=-1",
     "trainer.precision=bf16-mixed", "trainer.limit_val_batches=0.25", "trainer.val_check_interval=50"],
)  # fmt: skip
def test_trainer_values_lightning_takes_pass(override, tmp_path):
    validate_config(compose_config([override, f"paths.output_dir={tmp_path}"]))


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
        compose_config(["model.kernel_size=3"])  # without +, Hydra itself refuses a key the config lacks
    with pytest.raises(MissingConfigException, match="(?s)model/transformer.*unet_attn"):
        compose_config(["model=transformer"])


def test_unknown_key_without_plus_is_a_user_error_naming_the_allowed_keys(tmp_path):
    result = run_train("model.chanels=8", root=tmp_path, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown key 'model.chanels' for snpdiff.models.UNet1D")
    assert "allowed: " in lines[0] and " channels," in lines[0]
    assert lines[0].endswith("did you mean 'model.channels'?")
    assert not (tmp_path / "outputs").exists()  # raised while composing, before any run folder


def test_unknown_override_message_is_none_for_other_composition_errors():
    with pytest.raises(MissingConfigException) as missing:
        compose_config(["model=transformer"])
    assert unknown_override_message(missing.value, "train") is None
    with pytest.raises(ConfigCompositionException) as unknown:
        compose_config(["trainer.max_epoch=3"])
    message = unknown_override_message(unknown.value, "train")
    assert message.startswith("unknown key 'trainer.max_epoch' for lightning.pytorch.Trainer; allowed: ")
    assert message.endswith("did you mean 'trainer.max_epochs'?")


def test_conf_dir_is_the_repository_conf():
    assert (Path(CONF_DIR) / "train.yaml").is_file()
