"""Utility a user can act on: train on synthetic, test on real (TSTR).

``recovery_rate``: an ancestry classifier trained on labelled synthetic people S and tested on held-out real people
H, as a fraction of the same classifier trained on the real training people T (Esteban et al. 2017's TSTR, the
"recovery rate" of Genome-AC-GAN). 1.0: the synthetic cohort teaches ancestry as well as the real one; well below:
its labelled members do not look like the real members of their population. It needs labels on S, which a
population-conditioned model gives (``generate.py population=...``) and the model-free anchors carry.

The classifier: PCA on the training side's own codes (at most ``ANCESTRY_PCS`` components), then multinomial logistic
regression; everything fitted on the training side only, so T's structure never leaks into the TSTR score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

ANCESTRY_PCS = 10


def ancestry_accuracy(
    train: np.ndarray, train_labels: Sequence, test: np.ndarray, test_labels: Sequence, seed: int = 0
) -> float:
    """Accuracy on ``test`` [rows, snps] of a PCA + logistic-regression ancestry classifier fitted on ``train``.

    With a single label in ``train`` the classifier can only answer that label: its accuracy is that label's share
    of ``test``."""
    train_labels = np.asarray(train_labels).astype(str)
    test_labels = np.asarray(test_labels).astype(str)
    classes = np.unique(train_labels)
    if classes.size == 1:
        return float(np.mean(test_labels == classes[0]))
    components = max(1, min(ANCESTRY_PCS, train.shape[0] - 1, train.shape[1]))
    classifier = make_pipeline(
        PCA(n_components=components, random_state=seed), LogisticRegression(max_iter=2000, random_state=seed)
    )
    classifier.fit(train.astype(np.float32), train_labels)
    return float(np.mean(classifier.predict(test.astype(np.float32)) == test_labels))


def recovery_rate(
    real: np.ndarray,
    real_labels: Sequence,
    synthetic: np.ndarray,
    synthetic_labels: Sequence,
    holdout: np.ndarray,
    holdout_labels: Sequence,
    seed: int = 0,
) -> dict[str, float]:
    """``tstr_accuracy`` (trained on S), ``trtr_accuracy`` (trained on T), both tested on H, and
    ``recovery_rate`` = their ratio (NaN when the real classifier scores 0)."""
    on_synthetic = ancestry_accuracy(synthetic, synthetic_labels, holdout, holdout_labels, seed)
    on_real = ancestry_accuracy(real, real_labels, holdout, holdout_labels, seed)
    ratio = on_synthetic / on_real if on_real > 0 else float("nan")
    return {"tstr_accuracy": on_synthetic, "trtr_accuracy": on_real, "recovery_rate": ratio}
