"""Evaluate genotype files: resolve paths (files or run folders), read them, compute metrics, plot, report.

This is the work behind ``evaluate.py``: ``evaluate_files(EvaluationSettings)``. A PATH is anything
``snpdiff.data.read_genotypes`` reads (a PLINK prefix or ``.bed``, ``.vcf``/``.vcf.gz``/``.bcf``, ``.parquet``,
``.npy``), or a folder (a training or generation run) holding ``<role>.<ext>`` for the role asked:
``synthetic.bed`` (+ ``.bim``/``.fam``), ``synthetic.vcf.gz``, ``real.npy``, ``holdout.parquet``, ...
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snpdiff.data import GenotypeSet, read_genotypes
from snpdiff.errors import DataError
from snpdiff.metrics.genotype import evaluate_genotypes
from snpdiff.metrics.names import headline
from snpdiff.metrics.plots import make_plots
from snpdiff.metrics.report import write_report
from snpdiff.metrics.settings import EvaluationSettings

log = logging.getLogger(__name__)

# file endings a run folder is searched for, as <role><ending>; ".bed" stands for a PLINK fileset
RUN_FOLDER_ENDINGS = (".bed", ".vcf.gz", ".vcf", ".bcf", ".parquet", ".npy")
PLOTS_DIR = "plots"


def resolve_genotype_path(path: str | os.PathLike, role: str) -> str:
    """The genotype file (or PLINK prefix) that ``path`` names for ``role`` (``real``, ``synthetic``, ``holdout``).

    A folder must hold exactly one ``<role><ending>`` for the endings in ``RUN_FOLDER_ENDINGS``; a PLINK fileset
    is returned as its prefix. Anything else is returned unchanged for ``read_genotypes`` to open (and reject).
    """
    folder = Path(path)
    if not folder.is_dir():
        return str(path)
    found = [folder / f"{role}{ending}" for ending in RUN_FOLDER_ENDINGS if (folder / f"{role}{ending}").is_file()]
    if len(found) != 1:
        wanted = ", ".join(f"{role}{ending}" for ending in RUN_FOLDER_ENDINGS)
        problem = "none of" if not found else f"more than one of ({', '.join(p.name for p in found)})"
        raise DataError(f"{role}={path}: the folder holds {problem} the files evaluate looks for: {wanted}")
    return str(found[0].with_suffix("")) if found[0].suffix == ".bed" else str(found[0])


def read_for_evaluation(
    path: str | os.PathLike, role: str, haplotype: bool = False, selection: dict | None = None
) -> GenotypeSet:
    """Resolve and read one input set (``haplotype``: rows are phased haplotypes, codes 0/1); log its shape.
    A DataError names the role's key (``real=PATH: ...``) so the user sees which argument is at fault."""
    resolved = resolve_genotype_path(path, role)
    try:
        genotypes = read_genotypes(resolved, haplotype=haplotype, **(selection or {}))
    except DataError as error:
        raise DataError(f"{role}={path}: {error}") from None
    log.info("%s: %s (%d rows x %d SNPs)", role, resolved, genotypes.n_rows, genotypes.n_snps)
    return genotypes


def _snp_keys(genotypes: GenotypeSet) -> np.ndarray:
    return np.char.add(np.char.add(genotypes.snps.chrom, ":"), genotypes.snps.position.astype(str))


def align_to_real(genotypes: GenotypeSet, real: GenotypeSet, role: str) -> GenotypeSet:
    """``genotypes`` with real's SNP columns: as is when the SNP counts agree (a warning when positions differ),
    else the columns whose chromosome and position match real's, in real's order. Raises DataError when some
    of real's SNPs are missing."""
    if genotypes.n_snps == real.n_snps:
        differ = np.flatnonzero(genotypes.snps.position != real.snps.position)
        if differ.size:
            log.warning(
                "%s and real differ in SNP positions at %d columns (first: column %d, %s vs %s); comparing columns "
                "in order",
                role,
                differ.size,
                int(differ[0]),
                genotypes.snps.position[differ[0]],
                real.snps.position[differ[0]],
            )
        return genotypes
    column_of_key = {key: column for column, key in enumerate(_snp_keys(genotypes))}
    wanted = _snp_keys(real)
    missing = [key for key in wanted if key not in column_of_key]
    if missing:
        raise DataError(
            f"{role} ({genotypes.source}) has {genotypes.n_snps} SNPs but real ({real.source}) has {real.n_snps}, "
            f"and {len(missing)} of real's SNPs (chrom:position) are not in {role}, first {missing[0]}; give sets "
            "with the same SNPs (select.* cuts real; see conf/evaluate.yaml)"
        )
    log.info("%s: using the %d of its %d SNPs that real has", role, real.n_snps, genotypes.n_snps)
    return genotypes.select_snps(np.array([column_of_key[key] for key in wanted]))


@dataclass
class EvaluationResult:
    """What ``evaluate_files`` computed and where it wrote it."""

    metrics: dict[str, float]
    metrics_path: Path
    report_path: Path
    plots: dict[str, Path]


def read_inputs(settings: EvaluationSettings) -> dict[str, GenotypeSet]:
    """``{"real", "synthetic"[, "holdout"]}`` read and checked, synthetic and holdout cut to real's SNPs.

    ``settings.select``: ``read_genotypes`` keywords for the real set (e.g. ``min_maf``, ``snp_offset`` and
    ``seq_length`` to cut the training window out of a larger cohort; ``population_file``). The synthetic and
    held-out sets are read whole (with the selection's ``impute``) and matched to real's SNPs by ``align_to_real``;
    ``synthetic_populations``/``holdout_populations`` (a TSV of id and population, or ``fam``) label their rows (an
    npy sidecar's labels are read without it).
    """
    selection = dict(settings.select)
    whole = {"impute": selection["impute"]} if "impute" in selection else {}
    sets = {"real": read_for_evaluation(settings.real, "real", settings.haplotype, selection)}
    labelled = {"synthetic": settings.synthetic_populations, "holdout": settings.holdout_populations}
    for role, path in (("synthetic", settings.synthetic), ("holdout", settings.holdout)):
        if path is None:
            continue
        options = {**whole, **({"population_file": labelled[role]} if labelled[role] else {})}
        read = read_for_evaluation(path, role, settings.haplotype, options)
        sets[role] = align_to_real(read, sets["real"], role)
    return sets


def evaluate_files(settings: EvaluationSettings) -> EvaluationResult:
    """Read T, S (and H) (``read_inputs``), compute ``evaluate_genotypes``, write ``metrics.json``, ``report.md``
    and ``plots/*.png`` into ``settings.out``, and log where. Labels on S and H add the utility metric
    ``recovery_rate``. Every input is read and checked before any metric is computed."""
    sets = read_inputs(settings)
    real, synthetic, holdout = sets["real"], sets["synthetic"], sets.get("holdout")
    metrics = evaluate_genotypes(real, synthetic, holdout, settings)
    log.info("synthetic vs real: %s", headline(metrics))  # metrics.json and report.md have them all
    out = Path(settings.out)
    plot_paths = make_plots(real, synthetic, holdout, out / PLOTS_DIR, settings) if settings.plots else {}
    kind = "haplotypes" if real.haplotype else "individuals"
    inputs = {
        role: f"`{genotypes.source}`: {genotypes.n_rows} {kind} x {genotypes.n_snps} SNPs"
        for role, genotypes in sets.items()
    }
    written = write_report(metrics, plot_paths, out, inputs=inputs)
    # on the console and in <out>/evaluate.log
    log.info("metrics: %s", written["json"])
    log.info("report: %s", written["report"])
    if plot_paths:
        log.info("plots: %s (%d PNG files)", next(iter(plot_paths.values())).parent, len(plot_paths))
    return EvaluationResult(metrics, written["json"], written["report"], plot_paths)
