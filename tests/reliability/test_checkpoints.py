"""A bad checkpoint given to generate.py ends as one ``error: ckpt=... <what is wrong>; <what is expected>`` line and
exit status 2, never a traceback: not a checkpoint, truncated, not snpdiff's, weights that do not fit the stored
config, NaN/Inf weights, a run marked diverged, a directory. Each case is a real file written from a real
checkpoint that a tiny training run produced."""

import pickle
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from snpdiff.errors import ConfigError
from snpdiff.generation import load_trained_model
from snpdiff.training.run import run_training
from tests.conftest import FAST
from tests.helpers import run_generate
from tests.reliability.campaign import check_row


@pytest.fixture(scope="module")
def real_checkpoint(tmp_path_factory) -> Path:
    from snpdiff.config import compose_config

    output_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config([*FAST, "trainer.max_epochs=1", f"paths.output_dir={output_dir}"])
    return Path(run_training(cfg)["checkpoints"]["last"])


def _edited(edit: Callable[[dict], object]) -> Callable[[Path, Path], Path]:
    """A case: the real checkpoint loaded, changed by ``edit`` (which may return a whole new object to save)."""

    def write(real: Path, bad: Path) -> Path:
        checkpoint = torch.load(real, weights_only=True)
        replaced = edit(checkpoint)
        torch.save(checkpoint if replaced is None else replaced, bad)
        return bad

    return write


def _text(real: Path, bad: Path) -> Path:
    bad.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0123\n")  # an LFS pointer, not pulled
    return bad


def _truncated(real: Path, bad: Path) -> Path:
    data = real.read_bytes()
    bad.write_bytes(data[: len(data) // 2])  # an interrupted copy
    return bad


def _directory(real: Path, bad: Path) -> Path:
    return real.parent.parent  # the run folder itself


def _set_stored_channels(checkpoint: dict) -> None:
    checkpoint["snpdiff"]["config"]["model"]["channels"] *= 2


def _poison_weights(checkpoint: dict) -> None:
    checkpoint["state_dict"]["model.init_conv.weight"][0, 0, :3] = torch.tensor([float("nan"), float("inf"), 1.0])


def _drop_weight(checkpoint: dict) -> None:
    del checkpoint["state_dict"]["model.final_conv.bias"]


def _drop_state_dict(checkpoint: dict) -> None:
    del checkpoint["state_dict"]


def _mark_diverged(checkpoint: dict) -> None:
    checkpoint["snpdiff"]["diverged"] = {"step": 1234, "epoch": 7, "loss": float("nan"), "lr": 0.01}


def _missing(real: Path, bad: Path) -> Path:
    return bad  # never written


def _empty(real: Path, bad: Path) -> Path:
    bad.write_bytes(b"")
    return bad


def _binary(real: Path, bad: Path) -> Path:
    bad.write_bytes(bytes(range(256)))
    return bad


def _plain_pickle(real: Path, bad: Path) -> Path:
    bad.write_bytes(pickle.dumps({"state_dict": {}}, protocol=4))
    return bad


# case -> (how the bad file is made, what the error line says after "error: ckpt='<path>'", its docs row)
CASES = {
    "missing": (
        _missing,
        r" is not a file; give a training run's checkpoints/last.ckpt$",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "path does not exist"),
    ),
    "empty": (
        _empty,
        r" is empty \(0 bytes\), truncated or corrupt; give a checkpoint that snpdiff's train.py wrote",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "empty file"),
    ),
    "text file": (
        _text,
        r" is not a PyTorch checkpoint \(a text file starting 'version https://git-lfs.*'\); give a "
        r"checkpoint that snpdiff's train.py wrote",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "text file"),
    ),
    "binary": (
        _binary,
        r" is not a PyTorch checkpoint \(unknown binary data starting b'\\x00\\x01.*'\); give a checkpoint",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "other binary data"),
    ),
    "plain pickle": (
        _plain_pickle,
        r" is not a PyTorch checkpoint \(a Python pickle that torch.save did not write\); give a checkpoint",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "other binary data"),
    ),
    "pickled object": (
        _edited(lambda c: {**c, "planted": Path("/tmp")}),
        r" holds a pathlib.PosixPath object, not only tensors and plain containers; refusing to unpickle it",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "pickled objects beyond tensors"),
    ),
    "bare tensor": (
        _edited(lambda _: torch.zeros(3)),
        r" holds a Tensor, not a training checkpoint; give a checkpoint",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "a bare tensor"),
    ),
    "truncated": (
        _truncated,
        r" is truncated or corrupt \(.*central directory\); copy it again, or give a checkpoint",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "truncated"),
    ),
    "foreign dict": (
        _edited(lambda c: c["state_dict"]),
        r" was not written by snpdiff's train.py \(no 'snpdiff' entry; keys: model.pos_emb, .*\); give",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "a dict snpdiff did not write"),
    ),
    "no state_dict": (
        _edited(_drop_state_dict),
        r" has no 'state_dict' entry; expected the model weights that train.py saves",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "no weights"),
    ),
    "config does not fit weights": (
        _edited(_set_stored_channels),
        r": the weights do not fit the model its stored config builds: pos_emb is \[1, 16, 64\] in the checkpoint "
        r"but \[1, 32, 64\] in the model; expected the config the weights were trained with",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "its stored config edited"),
    ),
    "missing weight": (
        _edited(_drop_weight),
        r": the weights do not fit .*: they lack parameters final_conv.bias; ",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "missing or extra weights"),
    ),
    "non-finite weights": (
        _edited(_poison_weights),
        r" holds non-finite weights \(2 of 112 values in init_conv.weight\); the run diverged — use an earlier "
        r"checkpoint",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "NaN/Inf weights"),
    ),
    "marked diverged": (
        _edited(_mark_diverged),
        r" was saved after its run diverged at step 1234 \(epoch 7, loss "
        r"nan, lr 0.01\); use a checkpoint saved before step 1234",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "a checkpoint marked diverged"),
    ),
    "directory": (
        _directory,
        r" is a directory, not a checkpoint file; give a checkpoint file such as '.*last.ckpt'",
        pytest.mark.reliability_row("Checkpoints given to generate.py", "a directory"),
    ),
}


@pytest.fixture(params=[pytest.param(name, marks=row) for name, (_, _, row) in CASES.items()])
def bad_checkpoint(request, real_checkpoint, tmp_path) -> tuple[Path, str]:
    make, expected, _ = CASES[request.param]
    return make(real_checkpoint, tmp_path / "bad.ckpt"), expected


def test_the_loader_raises_a_config_error_naming_the_file_and_the_fault(bad_checkpoint):
    path, expected = bad_checkpoint
    with pytest.raises(ConfigError, match=rf"^ckpt={str(path)!r}{expected}"):
        load_trained_model(path)


@pytest.mark.slow  # a generate.py process per case
def test_generate_cli_ends_with_one_error_line_and_exit_2(bad_checkpoint, request, tmp_path):
    """Each case as its docs row says (``check_row``: the row's exit status and its quoted fragment)."""
    path, expected = bad_checkpoint
    out = tmp_path / "out" / "synthetic"
    result = run_generate(f"ckpt={path}", "n=2", f"out={out}", "format=npy", root=tmp_path)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert len(errors) == 1
    assert re.match(rf"error: ckpt={str(path)!r}{expected}", errors[0]), errors[0]
    assert not out.parent.exists()  # refused before any output was written
    check_row(result, *request.node.get_closest_marker("reliability_row").args)


def test_the_real_checkpoint_still_loads_and_a_finite_copy_is_not_refused(real_checkpoint, tmp_path):
    """The checks refuse only what is wrong: the run's own checkpoint, re-saved unchanged, loads."""
    copy_path = _edited(lambda _: None)(real_checkpoint, tmp_path / "copy.ckpt")
    trained = load_trained_model(copy_path)
    assert all(bool(torch.isfinite(p).all()) for p in trained.model.parameters())
    assert trained.seq_length == torch.load(real_checkpoint, weights_only=True)["snpdiff"]["seq_length"]
