"""generate.py refuses what it cannot do well, through the real CLI, before any work: bad values of its keys, a device
torch lacks, an output that is a folder or on a read-only file system, a `.partial` that is not its own or that
another run holds, a resume from a changed checkpoint. A disk that fills while it samples ends with one `error:` line
and a resumable partial run. Each case: exit status 2, one `error:` line, and what is (not) left on disk."""

import dataclasses
import errno
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import filelock
import pytest
import torch
from omegaconf import OmegaConf

from snpdiff.config import PROJECT_ROOT
from snpdiff.generation import partial_folder, stream, write_synthetic
from snpdiff.run_folder import lock_path
from snpdiff.training.run import run_training
from tests.helpers import one_error_line, run_generate, small_tmpfs
from tests.reliability.campaign import check_row

mark = pytest.mark  # mark.reliability_row(section, case): the docs/reliability.md row a case checks


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from snpdiff.config import compose_config

    output_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config(["debug=fast", "logger=none", "callbacks.progress_bar=null", f"paths.output_dir={output_dir}"])
    return Path(run_training(cfg)["checkpoints"]["last"])


@pytest.fixture
def disk(tmp_path):
    """A 2 MB tmpfs at ``tmp_path / "disk"`` (skipped where mounting is not allowed)."""
    yield from small_tmpfs(tmp_path / "disk", "2m")


@pytest.fixture
def read_only(tmp_path):
    """A tmpfs mounted read-only at ``tmp_path / "ro"`` (skipped where mounting is not allowed)."""
    for mount in small_tmpfs(tmp_path / "ro", "1m"):
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount


def left_beside(root: Path) -> list[str]:
    """What a run left in ``root`` besides generate.py's log folder (``outputs/``)."""
    return sorted(path.name for path in root.iterdir() if path.name != "outputs")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["n=abc"], "error: n='abc' has the wrong type for conf/generate.yaml; allowed: int",
                     marks=mark.reliability_row("generate.py and", "`generate.py n=abc`")),
        pytest.param(["n=0"], "error: n=0 must be an integer >= 1",
                     marks=mark.reliability_row("generate.py and", "`n=0`, `batch_size=-4`")),
        pytest.param(["batch_size=-4"], "error: batch_size=-4 must be an integer >= 1",
                     marks=mark.reliability_row("generate.py and", "`n=0`, `batch_size=-4`")),
        pytest.param(["guidance_scale=nan"], "error: guidance_scale=nan must be a finite number >= 0 (1: plain "
                     "conditional", marks=mark.reliability_row("generate.py and", "`guidance_scale=nan`")),
        pytest.param(["guidance_scale=inf"], "error: guidance_scale=inf must be a finite number >= 0",
                     marks=mark.reliability_row("generate.py and", "`guidance_scale=nan`")),
        pytest.param(["guidance_scale=-1"], "error: guidance_scale=-1 must be a finite number >= 0",
                     marks=mark.reliability_row("generate.py and", "`guidance_scale=nan`")),
        pytest.param(["out=dir/"], "error: out='dir/' must name a file (a path prefix such as results/synthetic), "
                     "not a folder", marks=mark.reliability_row("generate.py and", "`out=dir/`, `out=`")),
        pytest.param(["out="], "error: out='' must name a file",
                     marks=mark.reliability_row("generate.py and", "`out=dir/`, `out=`")),
        pytest.param(["sampler=euler"], "error: sampler='euler' is not a sampler; allowed: ddpm, ddim, dpmpp_2m",
                     marks=mark.reliability_row("generate.py outputs", "an unknown sampler")),
        pytest.param(["ckpt="], "error: ckpt='' must name a checkpoint file; give ckpt=<path>",
                     marks=mark.reliability_row("generate.py and", "no `ckpt=` / `ckpt=`")),
        pytest.param(["device=gpu"], "error: device='gpu' is not a device to sample on; allowed: cpu, cuda, "
                     "cuda:<index>", marks=mark.reliability_row("generate.py and", "`device=gpu`")),
    ],
)  # fmt: skip
def test_a_bad_value_is_one_error_line_and_nothing_is_written(args, expected, request, tmp_path):
    given = {arg.split("=")[0] for arg in args}
    defaults = [arg for arg in ("ckpt=model.ckpt", "n=8") if arg.split("=")[0] not in given]
    result = run_generate(*defaults, *args, root=tmp_path)
    line = one_error_line(result)
    assert line.startswith(expected), line
    check_row(result, *request.node.get_closest_marker("reliability_row").args)
    assert left_beside(tmp_path) == []


def test_no_checkpoint_given_is_named(tmp_path):
    result = run_generate("n=8", root=tmp_path)
    line = one_error_line(result)
    assert line == "error: ckpt is required (???); give ckpt=<value>"
    check_row(result, "generate.py and evaluate.py", "no `ckpt=` / `ckpt=`")
    assert left_beside(tmp_path) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a torch without a CUDA device")
def test_an_unavailable_device_is_named_before_the_checkpoint_is_read(tmp_path):
    result = run_generate("ckpt=model.ckpt", "device=cuda", root=tmp_path)
    line = one_error_line(result)
    assert line.startswith("error: device='cuda' is not available: "), line
    check_row(result, "generate.py and evaluate.py", "`device=cuda` on a torch without CUDA")
    assert line.endswith("; use device=cpu")
    assert left_beside(tmp_path) == []


def test_an_output_on_a_read_only_file_system_is_refused(read_only, tmp_path):
    out = read_only / "sub" / "syn"
    result = run_generate("ckpt=model.ckpt", f"out={out}", root=tmp_path)
    line = one_error_line(result)
    assert line == (f"error: out='{out}' is on a read-only file system ({read_only}); choose an out= on a writable one")
    check_row(result, "generate.py and evaluate.py", "`out=` on a read-only file system")
    assert list(read_only.iterdir()) == []


@pytest.mark.parametrize("planted", ["symlink", "foreign folder", "file"])
def test_a_partial_folder_that_is_not_generates_is_refused_and_left_alone(planted, ckpt, tmp_path):
    """A planted `<out>.partial` is neither written into nor deleted: a link's target keeps exactly its files."""
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    work = tmp_path / "syn.npy.partial"
    if planted == "symlink":
        work.symlink_to(target)
    elif planted == "foreign folder":
        work.mkdir()
        (work / "notes.txt").write_text("mine")
    else:
        work.write_text("mine")
    result = run_generate(f"ckpt={ckpt}", "n=8", "format=npy", "out=syn", root=tmp_path)
    line = one_error_line(result)
    check_row(result, "generate.py and evaluate.py", "a planted `<out>.partial`")
    problem = {"symlink": "is a symbolic link", "foreign folder": "holds notes.txt but no progress.json"}
    assert line.startswith(f"error: {work} {problem.get(planted, 'is not a folder')}, so it is not a partial run")
    assert sorted(path.name for path in target.iterdir()) == ["keep.txt"]
    assert left_beside(tmp_path) == ["syn.npy.partial", "target"]
    assert work.is_symlink() == (planted == "symlink")


def interrupted_run(ckpt: Path, out: Path, monkeypatch, **settings) -> Path:
    """A partial run of generate.py's settings that has written its first batch and stopped (as Ctrl-C would)."""
    real_sample_batches = stream.sample_batches

    def first_batch_only(pipeline, plan, writer, first_batch, after_batch):
        real_sample_batches(pipeline, dataclasses.replace(plan, n=plan.batch_size), writer, after_batch=after_batch)
        raise KeyboardInterrupt

    monkeypatch.setattr(stream, "sample_batches", first_batch_only)
    cfg = OmegaConf.load(PROJECT_ROOT / "conf" / "generate.yaml")
    del cfg["hydra"]
    with pytest.raises(KeyboardInterrupt):
        write_synthetic(OmegaConf.merge(cfg, {"ckpt": str(ckpt), "out": str(out), **settings}))
    monkeypatch.undo()
    return partial_folder(Path(f"{out}.npy"))


def test_a_partial_run_another_generate_holds_is_refused(ckpt, tmp_path, monkeypatch):
    """The lock is an OS lock on `<out>.partial/.snpdiff.lock`: while another process holds it, a second generate.py
    with the same out= stops at once, its partial run untouched."""
    settings = {"n": 16, "batch_size": 4, "format": "npy", "sampling_steps": 2}
    work = interrupted_run(ckpt, tmp_path / "syn", monkeypatch, **settings)
    progress = (work / "progress.json").read_bytes()
    args = [f"ckpt={ckpt}", "out=syn", *(f"{key}={value}" for key, value in settings.items())]
    holder = filelock.UnixFileLock(lock_path(work), timeout=0)
    with holder:
        result = run_generate(*args, root=tmp_path)
    line = one_error_line(result)
    check_row(result, "generate.py and evaluate.py", "a second generate.py with the same `out=`")
    assert line == (
        f"error: {work} is in use by another generate.py writing the same output; wait for it to end, or choose "
        "another out="
    )
    assert (work / "progress.json").read_bytes() == progress
    assert left_beside(tmp_path) == ["syn.npy.partial"]


def test_a_resume_from_a_replaced_checkpoint_of_the_same_size_and_time_is_refused(ckpt, tmp_path, monkeypatch):
    """The partial run records the checkpoint by content: another model under the same name, size and modification
    time is another run, not more of this one."""
    model = tmp_path / "model.ckpt"
    model.write_bytes(ckpt.read_bytes())
    settings = {"n": 16, "batch_size": 4, "format": "npy", "sampling_steps": 2}
    work = interrupted_run(model, tmp_path / "syn", monkeypatch, **settings)
    progress = (work / "progress.json").read_bytes()
    stat = model.stat()
    checkpoint = torch.load(model, weights_only=True)
    weights = checkpoint["state_dict"]
    name = next(key for key, value in weights.items() if value.is_floating_point())
    weights[name] += 0.5
    replaced = io.BytesIO()  # a file object, as the checkpoint was written: the same archive name inside
    torch.save(checkpoint, replaced)
    model.write_bytes(replaced.getvalue())
    os.utime(model, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert model.stat().st_size == stat.st_size and model.stat().st_mtime_ns == stat.st_mtime_ns

    args = [f"ckpt={model}", "out=syn", *(f"{key}={value}" for key, value in settings.items())]
    result = run_generate(*args, root=tmp_path)
    line = one_error_line(result)
    check_row(result, "generate.py and evaluate.py", "a resume after the checkpoint was replaced")
    assert line.startswith(f"error: {work} holds a partial run with ckpt_hash='xxh3_128:"), line
    assert "(the checkpoint file's content changed since); run generate.py with the same arguments" in line
    assert (work / "progress.json").read_bytes() == progress
    assert left_beside(tmp_path) == ["model.ckpt", "syn.npy.partial"]


def fill(folder: Path) -> Path:
    """Write a file into ``folder`` until its file system is full; the file."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


@pytest.mark.slow
def test_a_disk_that_fills_while_sampling_keeps_a_resumable_partial_run(ckpt, disk, tmp_path):
    """The disk fills after the first batch: `error: no space left on device ...`, exit 2; no final name and no
    temporary file; the counted batches stay, and once there is space the same command finishes them."""
    out, work = disk / "syn", disk / "syn.npy.partial"
    args = [f"ckpt={ckpt}", f"out={out}", "format=npy", "n=400", "batch_size=4", "sampling_steps=10"]
    run = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "generate.py"), *args], cwd=tmp_path,
                           env={**os.environ, "SNPDIFF_ROOT": str(tmp_path)}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while not ((work / "progress.json").is_file() and json.loads((work / "progress.json").read_text())["batches_done"]):
        assert run.poll() is None and time.monotonic() < deadline, "generate.py ended before its first batch"
        time.sleep(0.01)
    with pytest.raises(filelock.Timeout):  # the running generate.py holds its partial run
        filelock.UnixFileLock(lock_path(work), timeout=0).acquire()
    filler = fill(disk)
    stdout, stderr = run.communicate(timeout=240)
    result = subprocess.CompletedProcess(args, run.returncode, stdout, stderr)
    line = one_error_line(result)
    check_row(result, "generate.py and evaluate.py", "the disk fills while sampling")
    kept = json.loads((work / "progress.json").read_text())["batches_done"]
    assert line == (
        f"error: no space left on device writing {out}.npy; {work} keeps {kept} of 100 batches: run the same command "
        "again to resume once it can"
    )
    assert 1 <= kept < 100
    assert sorted(path.name for path in disk.iterdir()) == ["filler", "syn.npy.partial"]
    assert not [path for path in work.iterdir() if path.name.endswith(".tmp")]

    filler.unlink()
    resumed = run_generate(*args, root=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {work}: {kept} of 100 batches written" in resumed.stdout + resumed.stderr
    assert sorted(path.name for path in disk.iterdir()) == ["syn.json", "syn.npy"]
