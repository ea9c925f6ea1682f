"""What a log file shows of a training run (snpdiff/training/progress.py): epoch lines, quality evaluations, a summary;
and which of them a terminal shows (snpdiff/cli/console.py)."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from lightning.pytorch.callbacks import EarlyStopping, Timer
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason

from snpdiff.cli.console import SHOWN_BY_PROGRESS_BAR, keep_progress_lines_off_terminals
from snpdiff.training import progress
from snpdiff.training.progress import ProgressLog, stop_reason
from tests.helpers import REPO, run_dirs

LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+\]\[(?P<logger>[\w.]+)\]\[\w+\] - (?P<message>.*)$")
NUMBER = r"(-?\d[\d.e+-]*|nan|inf)"
EPOCH_LINE = re.compile(
    rf"^epoch (\d+)/2  step (\d+)  \d\d:\d\d:\d\d  train_loss {NUMBER}  val_loss {NUMBER}  lr {NUMBER}$"
)
# a tiny UNet, 3 epochs of 3 batches, the sample-quality evaluation after the first and the last epoch
OVERRIDES = [
    "debug=fast", "logger=none", "trainer.max_epochs=3", "callbacks.progress_log.every_s=0",
    "model.channels=8", "model.dim_mults=[1,2]", "model.norm_groups=4", "model.embedding_dim=16",
    "quality.enabled=true", "quality.eval_every_n_epochs=5", "quality.eval_samples=24", "quality.sampling_steps=3",
    "quality.ld_window=10", "quality.log_plots=false",
]


def progress_records(text: str) -> list[str]:
    """The messages that ``snpdiff.training.progress`` logged in ``text``, continuation lines included."""
    records: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if match := LOG_LINE.match(line):
            current = [match["message"]] if match["logger"] == progress.__name__ else None
            if current is not None:
                records.append(current)
        elif current is not None and line.startswith("  "):
            current.append(line)
        else:
            current = None
    return ["\n".join(lines) for lines in records]


@pytest.fixture(scope="module")
def train_output(tmp_path_factory) -> dict:
    """``train.py`` with stdout and stderr redirected to a file (a batch job's log), with the default progress bar."""
    root = tmp_path_factory.mktemp("progress")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update({"SNPDIFF_ROOT": str(root), "OMP_NUM_THREADS": "1"})
    with open(root / "run.log", "w") as out:
        result = subprocess.run([sys.executable, str(REPO / "train.py"), *OVERRIDES], cwd=root, env=env,
                                stdout=out, stderr=subprocess.STDOUT, timeout=300)
    console = (root / "run.log").read_text()
    assert result.returncode == 0, console[-3000:]
    (run_dir,) = run_dirs(root)
    return {"console": console, "log": (run_dir / "debug.log").read_text(), "run_dir": run_dir,
            "metrics": json.loads((run_dir / "metrics.json").read_text())}


@pytest.mark.slow
def test_a_batch_log_shows_every_epoch_each_quality_evaluation_and_a_closing_summary(train_output):
    records = progress_records(train_output["console"])
    epochs = [match.groups() for record in records if (match := EPOCH_LINE.match(record))]
    assert [(int(epoch), int(step)) for epoch, step, *_ in epochs] == [(0, 3), (1, 6), (2, 9)]
    losses = [float(value) for _, _, train_loss, val_loss, _ in epochs for value in (train_loss, val_loss)]
    assert all(math.isfinite(loss) for loss in losses)
    assert [float(lr) for *_, lr in epochs] == sorted((float(lr) for *_, lr in epochs), reverse=True)  # cosine decay

    quality = [re.match(r"quality epoch (\d+): af_r2 \S+  ld_corr (-?\d\.\d{4})", r) for r in records]
    assert [int(match[1]) for match in quality if match] == [0, 2]  # the first evaluation and the run's last
    # numbered as metrics.json's history (and the progress bar, checkpoints, quality/epoch_<n>/) number them
    history = train_output["metrics"]["history"]
    assert [row["epoch"] for row in history if "val/ld_corr" in row] == [0, 2]

    (summary,) = [record for record in records if record.startswith("training stopped: ")]
    lines = summary.splitlines()
    assert lines[0] == "training stopped: max_epochs=3 reached"
    assert re.fullmatch(r"  epochs 3, steps 9, time \d\d:\d\d:\d\d", lines[1])
    best = train_output["run_dir"] / "checkpoints" / "best.ckpt"
    assert re.fullmatch(rf"  best checkpoint: {re.escape(str(best))} \(val_loss {NUMBER}\)", lines[2])
    final = re.fullmatch(rf"  final: train_loss {NUMBER}  val_loss {NUMBER}", lines[3])
    assert final and float(final[2]) == pytest.approx(train_output["metrics"]["val_loss"], rel=1e-3)
    assert float(final[2]) == float(epochs[-1][3])  # the last epoch's val_loss
    assert re.match(r"  last quality evaluation \(epoch 2\): af_r2 \S+  ld_corr -?\d\.\d{4}  aa_t ", lines[4])


@pytest.mark.slow
def test_the_run_folders_log_file_has_the_same_progress_lines(train_output):
    console = progress_records(train_output["console"])
    assert len(console) == 3 + 2 + 1  # epochs, quality evaluations, summary
    assert progress_records(train_output["log"]) == console


class FakeTrainer(SimpleNamespace):
    """What ProgressLog reads of a Trainer, with a progress bar on."""

    def __init__(self, **facts):
        defaults = dict(is_global_zero=True, sanity_checking=False, current_epoch=0, global_step=0, max_epochs=10,
                        callback_metrics={}, optimizers=[], progress_bar_callback=object(), default_root_dir="run")
        super().__init__(**{**defaults, **facts})


def test_epoch_lines_come_at_most_every_every_s_seconds_with_the_first_and_the_last(monkeypatch, caplog):
    now = [0.0]
    monkeypatch.setattr(progress, "monotonic", lambda: now[0])
    callback, trainer = ProgressLog(every_s=30), FakeTrainer()
    callback.on_fit_start(trainer, None)
    with caplog.at_level(logging.INFO, logger=progress.__name__):
        for epoch, ends_at in enumerate([10, 20, 45, 50, 60]):  # seconds
            now[0] = ends_at
            trainer.current_epoch, trainer.global_step = epoch, 3 * (epoch + 1)
            trainer.callback_metrics = {"train_loss_epoch": 1.0 / (epoch + 1), "val_loss": 0.5, "lr-AdamW": 1e-3}
            callback.on_train_epoch_end(trainer, None)
        callback.on_train_end(trainer, None)
    assert [record.getMessage() for record in caplog.records] == [
        "epoch 0/9  step 3  00:00:10  train_loss 1  val_loss 0.5  lr 1.00e-03",
        "epoch 2/9  step 9  00:00:45  train_loss 0.3333  val_loss 0.5  lr 1.00e-03",  # 35 s after the first
        "epoch 4/9  step 15  00:01:00  train_loss 0.2  val_loss 0.5  lr 1.00e-03",  # the last, 15 s after
    ]
    assert all(getattr(record, SHOWN_BY_PROGRESS_BAR) for record in caplog.records)


def test_an_interrupted_run_logs_its_last_epoch_and_why_it_stopped(monkeypatch, caplog):
    monkeypatch.setattr(progress, "monotonic", lambda: 5.0)
    callback = ProgressLog(every_s=30)
    trainer = FakeTrainer(progress_bar_callback=None, checkpoint_callback=None, current_epoch=1, global_step=6,
                          callback_metrics={"train_loss_epoch": float("nan"), "val_loss": 0.5})
    callback.last_line = 4.0  # an epoch line a second ago: the rate holds the next one back
    callback.on_train_epoch_end(trainer, None)
    with caplog.at_level(logging.INFO, logger=progress.__name__):
        callback.on_exception(trainer, None, KeyboardInterrupt())
    epoch_line, summary = caplog.records
    assert epoch_line.getMessage().startswith("epoch 1/9  step 6") and not getattr(epoch_line, SHOWN_BY_PROGRESS_BAR)
    assert summary.getMessage().splitlines()[:2] == [
        "training stopped: interrupted (Ctrl-C); train_loss not finite", "  epochs 1, steps 6, time 00:00:05"
    ]
    resume = "  to resume: run the same command with ckpt_path=last hydra.run.dir=run"
    assert summary.getMessage().splitlines()[-1] == resume


def stopped_by(callback) -> FakeTrainer:
    return FakeTrainer(should_stop=True, callbacks=[callback], max_steps=-1, current_epoch=4)


def test_the_stop_reason_names_what_stopped_the_run(monkeypatch):
    early = EarlyStopping(monitor="val/af_r2", mode="max")
    early.stopping_reason, early.stopped_epoch = EarlyStoppingReason.PATIENCE_EXHAUSTED, 6
    assert stop_reason(stopped_by(early)) == "early stopping on val/af_r2 at epoch 6 (patience exhausted)"
    timer = Timer(duration="00:00:10:00")
    monkeypatch.setattr(timer, "time_remaining", lambda: -0.5)
    monkeypatch.setattr(timer, "time_elapsed", lambda: 600.5)
    assert stop_reason(stopped_by(timer)) == "trainer.max_time reached after 00:10:00"
    assert stop_reason(FakeTrainer(should_stop=False, max_steps=40, global_step=40)) == "max_steps=40 reached"
    assert stop_reason(FakeTrainer(should_stop=False, max_steps=-1, current_epoch=10)) == "max_epochs=10 reached"
    assert stop_reason(stopped_by(EarlyStopping(monitor="val_loss"))) == "a callback set trainer.should_stop"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def root_handlers():
    """The root logger's handlers, restored after the test."""
    saved = logging.getLogger().handlers[:]
    yield logging.getLogger().handlers
    logging.getLogger().handlers[:] = saved


def test_a_terminal_does_not_get_the_lines_a_progress_bar_shows_and_the_log_file_does(root_handlers, tmp_path):
    terminal, redirected = Terminal(), io.StringIO()
    log_file = logging.FileHandler(tmp_path / "train.log")
    root_handlers[:] = [logging.StreamHandler(terminal), logging.StreamHandler(redirected), log_file]
    keep_progress_lines_off_terminals()
    keep_progress_lines_off_terminals()  # idempotent: setup_console may run twice in a process
    assert [len(handler.filters) for handler in root_handlers] == [1, 0, 0]
    logger, level = logging.getLogger(progress.__name__), logging.getLogger(progress.__name__).level
    logger.setLevel(logging.INFO)
    try:
        logger.info("epoch 0/2", extra={SHOWN_BY_PROGRESS_BAR: True})
        logger.info("training stopped: max_epochs=3 reached")
    finally:
        logger.setLevel(level)
        log_file.close()
    assert terminal.getvalue() == "training stopped: max_epochs=3 reached\n"
    for text in (redirected.getvalue(), (tmp_path / "train.log").read_text()):
        assert text == "epoch 0/2\ntraining stopped: max_epochs=3 reached\n"


def test_a_negative_interval_is_refused_before_any_work(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "train.py"), "debug=fast", "callbacks.progress_log.every_s=-5",
                             f"hydra.run.dir={tmp_path / 'run'}"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "error: callbacks.progress_log.every_s=-5 must be a number of seconds >= 0" in result.stderr
    assert not (tmp_path / "run" / "config.yaml").exists()
