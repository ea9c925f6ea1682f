"""``python train.py data=<file source> data.path=... debug=fast`` as a user would type it (subprocesses)."""

import json
import re

import pytest

from tests.helpers import run_dirs, run_train


@pytest.mark.slow
def test_train_on_a_plink_fileset_end_to_end(files, tmp_path):
    result = run_train("data=plink", f"data.path={files['plink']}", "debug=fast", "logger=none", root=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["final/val_loss"] > 0
    config = (run_dir / ".hydra" / "config.yaml").read_text()
    assert f"path: {files['plink']}" in config and "source: plink" in config
    log = (run_dir / "debug.log").read_text()
    assert re.search(r"cohort \(decoded\): 60 rows x 64 SNPs; .* imputed [1-9]\d* missing calls", log)


@pytest.mark.slow
def test_missing_plink_path_fails_before_training_naming_the_file(tmp_path):
    missing = tmp_path / "nowhere"
    result = run_train("data=plink", f"data.path={missing}", "debug=fast", "logger=none", root=tmp_path)
    assert result.returncode == 2
    assert f"PLINK .bed file {missing}.bed does not exist" in result.stderr
    assert "Traceback" not in result.stderr
