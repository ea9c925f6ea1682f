"""Individual-level diagnostics: heterozygosity spread and nearest-neighbour distance medians."""

import numpy as np
import pytest

from snpdiff.metrics.genotype import het_spread, individual_heterozygosity
from snpdiff.metrics.goals import metric_info
from snpdiff.metrics.privacy import privacy_metrics


def test_heterozygosity_spread_of_a_known_matrix():
    real = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 2, 2], [1, 0, 0, 2]])
    synthetic = np.array([[1, 0, 2, 0], [0, 1, 0, 2]])
    assert individual_heterozygosity(real).tolist() == [1.0, 0.5, 0.0, 0.25]
    spread = het_spread(real, synthetic)
    assert spread["het_sd_t"] == pytest.approx(np.std([1.0, 0.5, 0.0, 0.25]))
    assert spread["het_sd_s"] == 0.0
    assert spread["het_sd_ratio"] == 0.0


def test_nearest_neighbour_medians_of_known_sets():
    real = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [2, 2, 2, 2]])
    synthetic = np.array([[0, 0, 1, 1], [2, 2, 2, 0]])
    holdout = np.array([[0, 0, 0, 2], [2, 2, 1, 2]])
    metrics = privacy_metrics(real, synthetic, holdout)
    assert metrics["nn_st_median"] == 1.5  # distances 1 (to row 1) and 2 (to row 2)
    assert metrics["nn_ss_median"] == 6.0
    assert metrics["nn_tt_median"] == 1.0  # 1, 1, 7
    assert metrics["nn_ht_median"] == 1.0  # 1 and 1
    assert metrics["nn_distance_ratio"] == 1.5
    for name in ("nn_st_median", "nn_ht_median", "het_sd_t", "het_sd_ratio"):
        assert metric_info(f"val/{name}").meaning
