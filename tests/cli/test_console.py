"""What a user sees on the console of ``train.py`` (snpdiff/cli/console.py), and the messages for empty input files."""

from __future__ import annotations

import io
import logging
import os
import re
import subprocess
import sys
import warnings
from collections import Counter

import pytest

from snpdiff.cli.console import (
    LIGHTNING_RANK_ZERO_LOGGER,
    DropAdvertisements,
    filter_dependency_warnings,
    route_lightning_logs,
)
from snpdiff.config import compose_config, validate_config
from snpdiff.data.selection import _read_population_file
from snpdiff.errors import ConfigError, DataError
from snpdiff.training.callbacks import summary_text
from tests.helpers import REPO, run_dirs

LOG_LINE = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+\]\[(?P<logger>[\w.]+)\]\[\w+\] - (?P<message>.*)$")


@pytest.fixture(scope="module")
def train_console(tmp_path_factory) -> tuple[str, str]:
    """Console (stdout and stderr together, redirected to a file) and run log of ``train.py debug=fast`` with the
    default logger, W&B offline."""
    root = tmp_path_factory.mktemp("console")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update({"SNPDIFF_ROOT": str(root), "WANDB_MODE": "offline", "OMP_NUM_THREADS": "1"})
    with open(root / "console.txt", "w") as out:
        result = subprocess.run([sys.executable, str(REPO / "train.py"), "debug=fast"], cwd=root, env=env,
                                stdout=out, stderr=subprocess.STDOUT, timeout=300)
    console = (root / "console.txt").read_text()
    assert result.returncode == 0, console[-3000:]
    (run_dir,) = run_dirs(root)
    return console, (run_dir / "debug.log").read_text()


@pytest.mark.slow
def test_train_console_has_each_event_once_and_no_noise(train_console):
    console, _ = train_console
    lines = [line for line in console.splitlines() if line.strip()]
    repeated = [line for line, n in Counter(lines).items() if n > 1 and not set(line) <= set("─━-| ")]
    assert repeated == []
    messages = [m["message"] for line in lines if (m := LOG_LINE.match(line))]
    assert len(messages) == len(set(messages)) and messages.count("`Trainer.fit` stopped: `max_epochs=2` reached.") == 1
    assert not any(line.startswith("INFO: ") for line in lines)  # Lightning's own handler's format
    for noise in ("litlogger", "Tip:", "Total FLOPs", "LeafSpec", "anonymous setting", "`srun` command"):
        assert noise not in console


def test_train_console_shows_a_model_summary_with_real_figures(train_console):
    console, _ = train_console
    assert re.search(r"^0 \| model +\| UNet1D +\| [\d.]+ K +\| train$", console, re.MULTILINE)
    total = re.search(r"^([\d.]+ K) +Total params$", console, re.MULTILINE)
    size = re.search(r"^([\d.]+) +Total estimated model params size \(MB\)$", console, re.MULTILINE)
    assert total and float(size.group(1)) > 0
    assert "FLOPs" not in console


def test_train_console_names_the_outputs_and_the_log_file_keeps_every_event_once(train_console):
    console, log = train_console
    assert re.search(r"\[snpdiff\]\[INFO\] - checkpoints: \S+/checkpoints/last\.ckpt$", console, re.MULTILINE)
    assert re.search(r"\[snpdiff\]\[INFO\] - metrics: \S+/metrics\.json$", console, re.MULTILINE)
    assert re.search(r"val_loss: \d\.\d+", console)  # the progress bar's metric values
    events = [m["message"] for line in log.splitlines() if (m := LOG_LINE.match(line))]
    assert "GPU available: False, used: False" in events and "model summary:" in events
    assert len(events) == len(set(events))


def test_summary_text_shows_flops_only_when_measured():
    data = [(" ", ["0", "1"]), ("Name", ["model", "loss"]), ("Type", ["UNet1D", "MSE"]),
            ("Params", ["644 K", "0"]), ("Mode", ["train", "train"]), ("FLOPs", ["0", "0"])]
    text = summary_text(data, 644_000, 644_000, 2.578, total_flops=0)
    assert text.splitlines()[:4] == ["  | Name  | Type   | Params | Mode", "-" * 35,
                                     "0 | model | UNet1D | 644 K  | train", "1 | loss  | MSE    | 0      | train"]
    assert "644 K      Total params" in text and "2.578      Total estimated model params size (MB)" in text
    assert "FLOPs" not in text
    measured = summary_text([(" ", ["0"]), ("Name", ["model"]), ("FLOPs", ["1.2 M"])], 10, 10, 0.1, 1_200_000)
    assert measured.splitlines()[0] == "  | Name  | FLOPs" and measured.endswith("1.2 M      Total FLOPs")


@pytest.fixture
def clean_loggers():
    """The root and Lightning loggers' handlers, filters and propagation, restored after the test."""
    names = ["", "lightning", "lightning.pytorch", LIGHTNING_RANK_ZERO_LOGGER]
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).filters[:], logging.getLogger(n).propagate)
             for n in names}
    yield
    for name, (handlers, filters, propagate) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:], logger.filters[:], logger.propagate = handlers, filters, propagate


def test_lightning_records_reach_the_root_handlers_once_without_advertisements(clean_loggers):
    root_out, own_out = io.StringIO(), io.StringIO()
    logging.getLogger().handlers[:] = [logging.StreamHandler(root_out)]
    for name in ("lightning", "lightning.pytorch"):  # what Lightning installs when imported before Hydra's setup
        logging.getLogger(name).handlers[:] = [logging.StreamHandler(own_out)]
        logging.getLogger(name).propagate = name == "lightning"
    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    route_lightning_logs()
    rank_zero.addFilter(DropAdvertisements())
    rank_zero.setLevel(logging.INFO)
    rank_zero.info("GPU available: False, used: False")
    rank_zero.info("💡 Tip: For seamless cloud logging, try installing [litlogger](https://pypi.org/project/litlogger/)")
    assert root_out.getvalue() == "GPU available: False, used: False\n" and own_out.getvalue() == ""


def test_dependency_warnings_are_filtered_only_at_their_source():
    message = "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec)` instead."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filter_dependency_warnings()
        for module in ("lightning.pytorch.utilities._pytree", "snpdiff.models.unet"):
            warnings.warn_explicit(message, FutureWarning, "x.py", 1, module=module)
        warnings.warn_explicit("another FutureWarning", FutureWarning, "x.py", 2,
                               module="lightning.pytorch.utilities._pytree")
    assert [(str(w.message), w.lineno) for w in caught] == [(message, 1), ("another FutureWarning", 2)]


def test_empty_override_files_get_a_message_naming_the_group(tmp_path, monkeypatch):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "local").mkdir()
    (tmp_path / "experiment" / "empty.yaml").write_text("")
    (tmp_path / "local" / "default.yaml").write_text("# nothing here yet\n")
    monkeypatch.setenv("SNPDIFF_LAUNCHERS", str(tmp_path))  # on conf/train.yaml's search path
    cfg = compose_config(["experiment=empty", f"paths.log_dir={tmp_path}"])
    with pytest.raises(ConfigError) as error:
        validate_config(cfg)
    assert str(error.value).splitlines()[1:] == [
        "  - the selected conf/experiment/ file is empty (or only comments); give it keys to set or remove it",
        "  - the selected conf/local/ file is empty (or only comments); give it keys to set or remove it",
    ]


def test_an_override_file_without_the_package_line_is_named(tmp_path, monkeypatch):
    (tmp_path / "experiment").mkdir()
    (tmp_path / "experiment" / "bare.yaml").write_text("seed: 3\n")
    monkeypatch.setenv("SNPDIFF_LAUNCHERS", str(tmp_path))
    with pytest.raises(ConfigError, match=r"conf/experiment/ file does not start with `# @package _global_`"):
        validate_config(compose_config(["experiment=bare", f"paths.log_dir={tmp_path}"]))


@pytest.mark.parametrize("text", ["", "# id\tpopulation\n", "sample\tpopulation\n\n"])
def test_an_empty_population_file_is_named(tmp_path, text):
    path = tmp_path / "populations.tsv"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"population file {path} is empty \(or only comments and a header\)"):
        _read_population_file(path)
