"""Plots are valid PNGs of the expected layout; the report embeds them and its JSON holds the metric values."""

import json
import struct

import numpy as np
import pytest

from snpdiff.data import GenotypeSet
from snpdiff.metrics import evaluate_genotypes
from snpdiff.metrics.plots import make_plots, plot_pca
from snpdiff.metrics.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PLOT_NAMES = {"af_scatter", "ld_heatmap", "ld_decay", "pca", "distances"}


def png_size(path):
    """(width, height) from the PNG header (IHDR is the first chunk)."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def small_sets(real_split):
    return {
        "real": real_split.train[:150, :400],
        "synthetic": real_split.holdout[:150, :400],
        "holdout": real_split.holdout[150:300, :400],
    }


def as_sets(codes, populations=None):
    """The fixture's codes as genotype sets, real labelled with ``populations``."""
    real, synthetic, holdout = codes.values()
    return GenotypeSet.from_codes(real, populations), GenotypeSet.from_codes(synthetic), GenotypeSet.from_codes(holdout)


@pytest.fixture(scope="module")
def plots(small_sets, real_split, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation") / "plots"
    return make_plots(*as_sets(small_sets, real_split.train_populations[:150]), out)


def test_make_plots_writes_every_png(plots, small_sets, tmp_path):
    assert set(plots) == PLOT_NAMES
    for path in plots.values():
        assert path.parent.name == "plots"
        width, height = png_size(path)
        assert width > 300 and height > 300
    # with populations the PCA figure has a second panel (twice as wide)
    without = plot_pca(small_sets, tmp_path / "pca.png", populations=None, seed=0)
    assert png_size(plots["pca"])[0] > 1.8 * png_size(without)[0]


def test_report_embeds_plots_and_json_holds_values(plots, small_sets):
    metrics = evaluate_genotypes(*as_sets(small_sets))
    metrics["nn_distance_ratio"] = float("nan")  # an undefined value must stay valid JSON
    out = plots["pca"].parent.parent
    written = write_report(metrics, plots, out, inputs={"real": "T.bed: 150 individuals x 400 SNPs"})
    stored = json.loads(written["json"].read_text())
    assert stored["nn_distance_ratio"] is None
    assert stored["af_r2"] == pytest.approx(metrics["af_r2"])
    assert list(stored)[:2] == ["af_r2", "af_mae"]  # table order
    report = written["report"].read_text()
    for name in PLOT_NAMES:
        assert f"](plots/{name}.png)" in report
    assert f"| `af_r2` | {metrics['af_r2']:.4f} | maximize |" in report
    assert "| `aats` |" in report and "target 0.5" in report
    # table rows keep their 4 cells: the | inside a meaning is escaped
    rows = [line for line in report.splitlines() if line.startswith("| `")]
    assert len(rows) == len(metrics)
    assert all(line.replace("\\|", "").count("|") == 5 for line in rows)
    assert "T.bed: 150 individuals x 400 SNPs" in report
    assert np.isfinite(metrics["af_r2"])
