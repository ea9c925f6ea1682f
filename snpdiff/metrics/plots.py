"""Diagnostic PNG plots of synthetic (S) against real (T) and held-out real (H) genotypes.

Figures are built with ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state), so plotting never needs a display
and never touches the caller's matplotlib backend. ``make_plots`` takes genotype sets as ``evaluate_genotypes``
does; the plot functions take their checked int8 codes ``{"real", "synthetic"[, "holdout"]: [individuals, snps]}``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from snpdiff.data.types import GenotypeSet
from snpdiff.metrics.distances import cross_nearest, l1_block, self_nearest
from snpdiff.metrics.genotype import (
    af_r2,
    allele_frequencies,
    check_sets,
    fit_pca,
    ld_decay,
    ld_snp_window,
    pca_scores,
)
from snpdiff.metrics.settings import MetricSettings

SET_STYLE = {
    "real": {"label": "real (T)", "color": "tab:blue"},
    "synthetic": {"label": "synthetic (S)", "color": "tab:orange"},
    "holdout": {"label": "held-out real (H)", "color": "tab:green"},
}
PLOT_TITLES = {
    "af_scatter": "Allele frequencies: S and H against T",
    "ld_heatmap": "LD r² heatmap: T lower triangle, S upper",
    "ld_decay": "LD decay: mean r² by distance in SNPs",
    "pca": "PCA fitted on T",
    "distances": "L1 distances: all pairs and nearest neighbours",
}
# the LD heatmap shows at most this many consecutive SNPs (a readable picture, not the whole matrix)
HEATMAP_SNPS = 200
# distance plots use at most this many individuals per set (seeded subsample)
DISTANCE_ROWS = 1000
PAIRWISE_ROWS = 300


def _save(figure: Figure, path: Path) -> Path:
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def plot_af_scatter(sets: dict[str, np.ndarray], path: Path, ploidy: int = 2) -> Path:
    """Alternate-allele frequency per SNP: S (and H) against T, with the identity line."""
    figure = Figure(figsize=(5.5, 5.5))
    axes = figure.add_subplot()
    frequency_real = allele_frequencies(sets["real"], ploidy)
    for name in ("holdout", "synthetic"):
        if name in sets:
            r2 = af_r2(sets["real"], sets[name], ploidy)
            axes.scatter(
                frequency_real,
                allele_frequencies(sets[name], ploidy),
                s=4,
                alpha=0.5,
                color=SET_STYLE[name]["color"],
                label=f"{SET_STYLE[name]['label']}, r² = {r2:.4f}",
            )
    axes.plot([0, 1], [0, 1], color="black", linewidth=0.8, linestyle="--", label="identity")
    axes.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="alternate-allele frequency in real (T)",
        ylabel="alternate-allele frequency in other set",
        title="Allele frequencies per SNP",
    )
    axes.legend(loc="upper left", fontsize=8)
    return _save(figure, path)


def _r2_matrix(codes: np.ndarray) -> np.ndarray:
    """Full LD r^2 matrix [snps, snps] (0 for monomorphic SNPs); only for the heatmap's ``HEATMAP_SNPS`` columns."""
    values = codes.astype(np.float64)
    values -= values.mean(axis=0)
    spread = values.std(axis=0)
    np.divide(values, spread, out=values, where=spread > 0)
    return np.clip((values.T @ values / codes.shape[0]) ** 2, 0.0, 1.0)


def plot_ld_heatmap(sets: dict[str, np.ndarray], path: Path, columns: slice) -> Path:
    """r^2 between the SNPs in ``columns``: T in the lower triangle, S in the upper."""
    r2_real = _r2_matrix(sets["real"][:, columns])
    r2_synthetic = _r2_matrix(sets["synthetic"][:, columns])
    combined = np.tril(r2_real, k=-1) + np.triu(r2_synthetic, k=1)
    np.fill_diagonal(combined, np.nan)
    figure = Figure(figsize=(6.5, 5.5))
    axes = figure.add_subplot()
    image = axes.imshow(combined, cmap="Reds", vmin=0, vmax=1, interpolation="nearest")
    figure.colorbar(image, ax=axes, label="LD r²")
    corner = {"transform": axes.transAxes, "fontsize": 10, "bbox": {"facecolor": "white", "alpha": 0.8}}
    axes.text(0.03, 0.03, "real (T)", ha="left", va="bottom", **corner)
    axes.text(0.97, 0.97, "synthetic (S)", ha="right", va="top", **corner)
    snps = combined.shape[0]
    axes.set(
        xlabel=f"SNP index (from {columns.start})",
        ylabel=f"SNP index (from {columns.start})",
        title=f"LD r² of {snps} consecutive SNPs: T lower, S upper",
    )
    return _save(figure, path)


def plot_ld_decay(sets: dict[str, np.ndarray], path: Path, ld_window: int, columns: slice) -> Path:
    """Mean r^2 against distance in SNPs for each set."""
    figure = Figure(figsize=(6.5, 4.5))
    axes = figure.add_subplot()
    for name, codes in sets.items():
        decay = ld_decay(codes[:, columns], ld_window)
        axes.plot(np.arange(1, len(decay) + 1), decay, color=SET_STYLE[name]["color"], label=SET_STYLE[name]["label"])
    axes.set(xlabel="distance between SNPs (in SNPs)", ylabel="mean LD r²", title="LD decay", ylim=(0, None))
    axes.legend(fontsize=8)
    return _save(figure, path)


def plot_pca(sets: dict[str, np.ndarray], path: Path, populations: np.ndarray | None, seed: int) -> Path:
    """PC1 vs PC2 of a PCA fitted on T: all sets coloured by set; then T coloured by population when known."""
    real = sets["real"]
    components = min(2, real.shape[0] - 1, real.shape[1])
    pca = fit_pca(real, components, seed)

    def scores(codes: np.ndarray) -> np.ndarray:
        projected = pca_scores(pca, codes)
        # with a single component, draw it against a flat second axis
        return projected if components == 2 else np.column_stack([projected, np.zeros(len(projected))])

    panels = 1 if populations is None else 2
    figure = Figure(figsize=(6 * panels, 5.2))
    axes = figure.add_subplot(1, panels, 1)
    for name, codes in sets.items():
        points = scores(codes)
        axes.scatter(
            points[:, 0], points[:, 1], s=6, alpha=0.5, color=SET_STYLE[name]["color"], label=SET_STYLE[name]["label"]
        )
    explained = pca.explained_variance_ratio_ * 100
    labels = {
        "xlabel": f"PC1 of T ({explained[0]:.1f}% var.)",
        "ylabel": f"PC2 of T ({explained[1]:.1f}% var.)" if components == 2 else "(T has one PC)",
    }
    axes.set(title="PCA fitted on real (T), by set", **labels)
    axes.legend(fontsize=8, markerscale=2)
    if populations is not None:
        axes = figure.add_subplot(1, panels, 2)
        points = scores(sets["synthetic"])
        axes.scatter(points[:, 0], points[:, 1], s=6, color="lightgrey", label=SET_STYLE["synthetic"]["label"])
        points = scores(real)
        for population in np.unique(populations):
            chosen = populations == population
            axes.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.6, label=f"T: {population}")
        axes.set(title="real (T) by population, synthetic (S) in grey", **labels)
        axes.legend(fontsize=8, markerscale=2)
    return _save(figure, path)


def plot_distances(sets: dict[str, np.ndarray], path: Path, ploidy: int, seed: int) -> Path:
    """Histograms of L1 distances: all pairs within and between sets, and nearest-neighbour distances to T."""
    rng = np.random.default_rng(seed)

    def subsample(codes: np.ndarray, rows: int) -> np.ndarray:
        return codes if len(codes) <= rows else codes[np.sort(rng.choice(len(codes), rows, replace=False))]

    figure = Figure(figsize=(12, 4.5))
    axes = figure.add_subplot(1, 2, 1)
    real, synthetic = subsample(sets["real"], PAIRWISE_ROWS), subsample(sets["synthetic"], PAIRWISE_ROWS)
    within_real = l1_block(real, real, ploidy)[np.triu_indices(len(real), k=1)]
    within_synthetic = l1_block(synthetic, synthetic, ploidy)[np.triu_indices(len(synthetic), k=1)]
    between = l1_block(synthetic, real, ploidy).ravel()
    groups = {"T-T": (within_real, "tab:blue"), "S-S": (within_synthetic, "tab:orange"), "S-T": (between, "tab:red")}
    title = f"All pairwise distances (≤ {PAIRWISE_ROWS} individuals per set)"
    _step_histograms(axes, groups, 60, "L1 distance (alleles that differ)", title)

    axes = figure.add_subplot(1, 2, 2)
    real = subsample(sets["real"], DISTANCE_ROWS)
    nearest = {"T→T (self left out)": (self_nearest(real, ploidy), "tab:blue")}
    _, nearest_synthetic = cross_nearest(real, subsample(sets["synthetic"], DISTANCE_ROWS), ploidy)
    nearest["S→T"] = (nearest_synthetic, "tab:orange")
    if "holdout" in sets:
        nearest["H→T"] = (cross_nearest(subsample(sets["holdout"], DISTANCE_ROWS), real, ploidy)[0], "tab:green")
    title = f"Nearest-neighbour distances (≤ {DISTANCE_ROWS} individuals per set)"
    _step_histograms(axes, nearest, 40, "L1 distance to nearest real (T) individual", title)
    return _save(figure, path)


def _step_histograms(axes: Axes, groups: dict[str, tuple[np.ndarray, str]], bins: int, xlabel: str, title: str) -> None:
    """One density step histogram per group (``label -> (values, colour)``) on ``bins`` shared bins, with a legend."""
    edges = np.histogram_bin_edges(np.concatenate([values for values, _ in groups.values()]), bins=bins)
    for label, (values, color) in groups.items():
        axes.hist(values, bins=edges, density=True, histtype="step", linewidth=1.5, color=color, label=label)
    axes.set(xlabel=xlabel, ylabel="density", title=title)
    axes.legend(fontsize=8)


def make_plots(
    real: GenotypeSet,
    synthetic: GenotypeSet,
    holdout: GenotypeSet | None,
    out_dir: str | os.PathLike,
    settings: MetricSettings = MetricSettings(),
) -> dict[str, Path]:
    """Write every plot as PNG into ``out_dir`` (created if needed); return ``{plot name: png path}``.

    ``real``, ``synthetic``, ``holdout``: codes [individuals, snps] of one ploidy (holdout may be None); real's
    population labels colour the PCA. The LD plots use the same SNP window as ``evaluate_genotypes`` for the same
    ``settings`` (``max_snps_ld``, ``seed``); the heatmap shows its first ``HEATMAP_SNPS`` SNPs.
    """
    sets = check_sets(real, synthetic, holdout)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ld_columns = ld_snp_window(sets["real"].shape[1], settings.max_snps_ld, settings.seed)
    heatmap_columns = slice(ld_columns.start, min(ld_columns.stop, ld_columns.start + HEATMAP_SNPS))
    return {
        "af_scatter": plot_af_scatter(sets, out / "af_scatter.png", real.ploidy),
        "ld_heatmap": plot_ld_heatmap(sets, out / "ld_heatmap.png", heatmap_columns),
        "ld_decay": plot_ld_decay(sets, out / "ld_decay.png", settings.ld_window, ld_columns),
        "pca": plot_pca(sets, out / "pca.png", real.populations, settings.seed),
        "distances": plot_distances(sets, out / "distances.png", real.ploidy, settings.seed),
    }
