"""docs/notebooks/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel), in a temporary
working folder, and shows what it promises: a PCA picture, the sampled population, a finite metric table."""

from __future__ import annotations

import json
import math
import os

import nbclient
import nbformat
import pytest

from snpdiff.config import PROJECT_ROOT
from snpdiff.metrics.goals import METRICS

NOTEBOOK = PROJECT_ROOT / "docs" / "notebooks" / "quickstart.ipynb"
# run after the notebook's own cells, in its kernel: what it left behind, for the assertions
PROBE = """import json
print(json.dumps({
    "labels": sorted(set(samples.labels)), "population": population, "names": list(table.index),
    "values": [float(value) for value in table["value"]], "written": sorted(p.name for p in Path().iterdir()),
}))"""


@pytest.mark.slow  # trains through train.py and starts a kernel: about half a minute on 2 cores
def test_the_quickstart_notebook_runs_top_to_bottom_and_shows_its_results(tmp_path, monkeypatch):
    # the kernel imports snpdiff from this checkout whatever the installed copy points at
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = nbclient.NotebookClient(
        notebook, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # a cell that raises fails here, naming it

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no picture shown"
    assert any("text/html" in output.get("data", {}) for output in outputs), "no table shown"
    probe = json.loads("".join(output.get("text", "") for output in notebook.cells[-1].outputs))
    assert probe["labels"] == [probe["population"]]
    assert {"af_r2", "ld_corr", "pca_w1", "aats", "privacy_loss", "recovery_rate"} <= set(probe["names"])
    assert set(probe["names"]) <= set(METRICS)
    finite = dict(zip(probe["names"], probe["values"], strict=True))
    assert all(math.isfinite(finite[name]) for name in ("af_r2", "ld_corr", "pca_w1", "aats", "privacy_loss"))
    assert {"quickstart_run", "quickstart_eval", "quickstart_yri.bed"} <= set(probe["written"])
