"""Training runs in-process on the tiny debug=fast config."""

import itertools
import json
import math
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml
from hydra.errors import InstantiationException

from snpdiff.cluster import LAUNCHERS_DIR
from snpdiff.config import CONF_DIR
from snpdiff.errors import ConfigError, DataError
from snpdiff.run_folder import config_path
from snpdiff.training.run import run_training
from tests.helpers import StopAfterEpoch

REQUIRED_METRICS = {
    "train_loss",
    "train_loss_epoch",
    "val_loss",
    "val_loss_epoch",
    "final/val_loss",
    "model/total_params",
    "model/trainable_params",
    "model/size_mb",
}


def _options(group):
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def pairwise_combos() -> list[tuple[str, str, str, str]]:
    """Runs in which every pair of options of (model, loss, scheduler, schedule) appears at least once.

    15 runs instead of the 90 of the full product: row i takes scheduler i % 5 and model i // 5; schedule
    (i % 5 + i // 5) % 3 and loss (i % 5 + i // 5) % 2 then meet every scheduler, every model and each other.
    """
    models, losses = _options("model"), _options("loss")
    schedulers, schedules = _options("scheduler"), _options("diffusion")
    rows = []
    for i in range(len(schedulers) * len(models)):
        s, m = i % len(schedulers), i // len(schedulers)
        rows.append((models[m], losses[(s + m) % len(losses)], schedulers[s], schedules[(s + m) % len(schedules)]))
    return rows


COMBOS = pairwise_combos()


def test_combos_cover_every_pair_of_options():
    groups = ["model", "loss", "scheduler", "diffusion"]
    for a, b in itertools.combinations(range(4), 2):
        wanted = set(itertools.product(_options(groups[a]), _options(groups[b])))
        assert wanted == {(row[a], row[b]) for row in COMBOS}, (groups[a], groups[b])


@pytest.mark.parametrize(("model", "loss", "scheduler", "schedule"), COMBOS, ids=["-".join(c) for c in COMBOS])
def test_short_training_for_each_pair_of_model_loss_scheduler_schedule(model, loss, scheduler, schedule, fast_cfg):
    cfg = fast_cfg(
        f"model={model}",
        f"loss={loss}",
        f"scheduler={scheduler}",
        f"diffusion={schedule}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "callbacks.model_checkpoint.save_top_k=0",
    )
    metrics = run_training(cfg)
    assert math.isfinite(metrics["val_loss"]) and metrics["final/val_loss"] == pytest.approx(metrics["val_loss"])
    assert metrics["model/total_params"] > 0
    assert Path(metrics["checkpoints"]["last"]).is_file()


def test_metrics_json_has_the_documented_names_and_best_val_loss(fast_cfg):
    cfg = fast_cfg("trainer.max_epochs=3")
    metrics = run_training(cfg)
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert REQUIRED_METRICS <= written.keys()
    assert any(k.startswith("lr-") for k in written)
    assert [row["epoch"] for row in written["history"]] == [0, 1, 2]
    assert written["final/val_loss"] == pytest.approx(min(row["val_loss"] for row in written["history"]))
    model_bytes = sum(
        p.numel() * p.element_size()
        for p in torch.load(metrics["checkpoints"]["last"], weights_only=True)["state_dict"].values()
        if p.dtype.is_floating_point
    )
    assert written["model/size_mb"] == pytest.approx(model_bytes / 2**20, rel=0.05)


def test_same_seed_and_config_give_the_same_val_loss(tmp_path, fast_cfg):
    first = run_training(fast_cfg(output_dir=tmp_path / "a"))
    second = run_training(fast_cfg(output_dir=tmp_path / "b"))
    assert first["val_loss"] == second["val_loss"]
    third = run_training(fast_cfg("seed=3", output_dir=tmp_path / "c"))
    assert third["val_loss"] != first["val_loss"]


def test_val_loss_is_deterministic_for_the_same_weights(fast_cfg):
    from hydra.utils import instantiate

    from snpdiff.training.components import build_module

    cfg = fast_cfg()
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = build_module(cfg, datamodule)
    trainer = pl.Trainer(
        logger=False, enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False
    )
    torch.manual_seed(0)  # a different global RNG state before each evaluation must not matter
    first = trainer.validate(module, datamodule=datamodule, verbose=False)[0]["val_loss"]
    torch.manual_seed(99)
    second = trainer.validate(module, datamodule=datamodule, verbose=False)[0]["val_loss"]
    assert first == second


def test_resume_from_last_continues_epochs_optimizer_and_scheduler(tmp_path, fast_cfg):
    straight = run_training(fast_cfg("trainer.max_epochs=4", output_dir=tmp_path / "straight"))
    run_dir = tmp_path / "resumed"
    interrupted = run_training(
        fast_cfg("trainer.max_epochs=4", output_dir=run_dir), extra_callbacks=[StopAfterEpoch(1)]
    )
    assert [row["epoch"] for row in interrupted["history"]] == [0, 1]
    resumed = run_training(fast_cfg("trainer.max_epochs=4", "ckpt_path=last", output_dir=run_dir))
    assert [row["epoch"] for row in resumed["history"]] == [0, 1, 2, 3]
    # same optimizer steps and the same learning rate every epoch: the cosine schedule went on, not restarted
    assert [row["step"] for row in resumed["history"]] == [row["step"] for row in straight["history"]]
    lrs = [row["lr-AdamW"] for row in resumed["history"]]
    assert lrs == pytest.approx([row["lr-AdamW"] for row in straight["history"]])
    assert lrs[0] > lrs[1] > lrs[2] > lrs[3]
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    straight_last = torch.load(tmp_path / "straight" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["optimizer_states"][0]["state"][0]["step"] == straight_last["optimizer_states"][0]["state"][0]["step"]
    assert last["epoch"] == straight_last["epoch"] == 3


def test_learning_rate_floor_is_a_ratio_of_lr_recorded_in_metrics_and_config(fast_cfg):
    cfg = fast_cfg("optimizer.lr=0.002", "scheduler.eta_min_ratio=0.05", "trainer.max_epochs=2")
    metrics = run_training(cfg)
    assert metrics["lr_floor"] == pytest.approx(1e-4)
    # cosine over 2 epochs: epoch 0 at lr, epoch 1 halfway to the floor
    assert [row["lr-AdamW"] for row in metrics["history"]] == pytest.approx([0.002, (0.002 + 1e-4) / 2])
    saved = yaml.safe_load((Path(cfg.paths.output_dir) / "config.yaml").read_text())["scheduler"]
    assert saved["eta_min"] is None and saved["eta_min_ratio"] == 0.05


class EpochMarker(pl.Callback):
    """Writes one line per finished training epoch to ``path``: a callback that only a config node installs."""

    def __init__(self, path: str, label: str = "epoch"):
        self.path = Path(path)
        self.label = label

    def on_train_epoch_end(self, trainer, pl_module):
        with self.path.open("a") as handle:
            handle.write(f"{self.label} {trainer.current_epoch}\n")


def test_a_callback_added_on_the_command_line_is_instantiated_and_runs(fast_cfg, tmp_path):
    marks = tmp_path / "marks.txt"
    node = f"{{_target_: {EpochMarker.__module__}.EpochMarker, path: '{marks}', label: cli}}"
    run_training(fast_cfg(f"+callbacks.marker={node}", "trainer.max_epochs=2"))
    assert marks.read_text().splitlines() == ["cli 0", "cli 1"]


class RefusingCallback(pl.Callback):
    """A callback whose constructor rejects its input, as the sweep reporter does outside an agent's trial."""

    def __init__(self, setting: str):
        raise ConfigError(f"RefusingCallback: setting={setting!r} is not allowed")


def test_a_callback_constructors_error_comes_before_the_data_loads_and_leaves_no_run_files(fast_cfg, tmp_path):
    """The data here is a missing file: the callback's error is raised first, so nothing was read or written."""
    node = f"{{_target_: {RefusingCallback.__module__}.RefusingCallback, setting: bad}}"
    missing = tmp_path / "missing.npy"
    cfg = fast_cfg(f"+callbacks.refusing={node}", "data=npy", f"data.path={missing}")
    with pytest.raises(InstantiationException) as error:
        run_training(cfg)
    assert isinstance(error.value.__cause__, ConfigError) and "setting='bad'" in str(error.value.__cause__)
    assert not config_path(Path(cfg.paths.output_dir)).exists()
    with pytest.raises(DataError, match="missing.npy"):  # the same config without the callback fails on the data
        run_training(fast_cfg("data=npy", f"data.path={missing}"))


def test_a_callback_added_as_one_yaml_file_is_instantiated_and_runs(fast_cfg, tmp_path):
    marks = tmp_path / "marks.txt"
    extra_conf = tmp_path / "conf"
    (extra_conf / "callbacks").mkdir(parents=True)
    (extra_conf / "callbacks" / "marked.yaml").write_text(
        f"defaults:\n  - default\n  - _self_\n\nmarker:\n  _target_: {EpochMarker.__module__}.EpochMarker\n"
        f"  path: {marks}\n"
    )
    cfg = fast_cfg(
        f"hydra.searchpath=[file://{LAUNCHERS_DIR},file://{extra_conf}]", "callbacks=marked", "trainer.max_epochs=1"
    )
    assert cfg.callbacks.model_checkpoint.monitor == "val_loss"  # the defaults came along
    metrics = run_training(cfg)
    assert marks.read_text().splitlines() == ["epoch 0"]
    assert Path(metrics["checkpoints"]["last"]).is_file()


class InjectOutOfMemory(pl.Callback):
    """Raises the out-of-memory error a GPU would, while the batches are larger than ``max_batch``."""

    def __init__(self, max_batch: int):
        self.max_batch = max_batch
        self.seen_batch_sizes: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        size = len(batch[0]) if isinstance(batch, tuple) else batch.shape[0]  # labelled: (values, labels)
        self.seen_batch_sizes.append(size)
        if size > self.max_batch:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")


def test_out_of_memory_halves_batch_and_keeps_effective_batch(fast_cfg):
    cfg = fast_cfg("data.batch_size=16", "trainer.max_epochs=2")
    injector = InjectOutOfMemory(max_batch=4)
    metrics = run_training(cfg, extra_callbacks=[injector])
    assert metrics["oom/retries"] == 2 and metrics["oom/batch_size"] == 4
    assert set(injector.seen_batch_sizes) >= {16, 8, 4}
    saved = (Path(cfg.paths.output_dir) / "config.yaml").read_text()
    assert "batch_size: 4" in saved and "accumulate_grad_batches: 4" in saved
    assert [row["epoch"] for row in metrics["history"]] == [0, 1]


def test_out_of_memory_at_batch_size_one_gives_up_clearly(fast_cfg):
    from snpdiff.errors import ConfigError

    cfg = fast_cfg("data.batch_size=2", "trainer.max_epochs=1")
    with pytest.raises(ConfigError, match="out of memory at data.batch_size=1 after 1 back-offs"):
        run_training(cfg, extra_callbacks=[InjectOutOfMemory(max_batch=0)])
