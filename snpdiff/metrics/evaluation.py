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


def has_snp_metadata(genotypes: GenotypeSet) -> bool:
    """False for a set whose SNPs carry placeholders only (``SnpInfo.placeholder``: a bare ``.npy`` without its
    sidecar, a Parquet file without metadata columns, or files written from one): ids ``snp<j>`` and every allele
    ``N``, so chromosome and positions mean nothing."""
    snps = genotypes.snps
    placeholder = np.all(np.char.startswith(snps.snp_id, "snp")) and np.all(snps.ref == "N") and np.all(snps.alt == "N")
    return not placeholder


def _chromosomes(genotypes: GenotypeSet) -> str:
    names = list(dict.fromkeys(genotypes.snps.chrom.tolist()))
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def columns_of_real_snps(genotypes: GenotypeSet, real: GenotypeSet, role: str, min_overlap: float) -> np.ndarray:
    """For each of real's SNPs, the column of ``genotypes`` at the same chromosome:position, or -1 (int64
    ``[real SNPs]``). DataError with the counts when none match or fewer than ``min_overlap`` of real's."""
    column_of_key = {key: column for column, key in enumerate(_snp_keys(genotypes).tolist())}
    wanted = _snp_keys(real).tolist()
    columns = np.array([column_of_key.get(key, -1) for key in wanted], dtype=np.int64)
    matched = int(np.count_nonzero(columns >= 0))
    if matched and matched >= min_overlap * real.n_snps:
        return columns
    counts = (
        f"has {genotypes.n_snps:,} SNPs but real ({real.source}) has {real.n_snps:,}"
        if genotypes.n_snps != real.n_snps
        else f"and real ({real.source}) have {real.n_snps:,} SNPs each"
    )
    first = wanted[int(np.argmax(columns < 0))]
    raise DataError(
        f"{role} ({genotypes.source}) {counts}, and {real.n_snps - matched:,} of real's SNPs (chrom:position) are "
        f"not in {role}, first {first}: {matched:,} match ({matched / real.n_snps:.1%}), min_snp_overlap is "
        f"{min_overlap:g}; real is on chromosome {_chromosomes(real)}, {role} on {_chromosomes(genotypes)}. Give "
        "sets with the same SNPs (select.* cuts real; see conf/evaluate.yaml), or lower min_snp_overlap"
    )


def _columns(genotypes: GenotypeSet, real: GenotypeSet, role: str, min_overlap: float) -> np.ndarray | None:
    """``columns_of_real_snps``, or None where ``genotypes`` or real has no SNP metadata (``has_snp_metadata``):
    then the columns are compared in order, which needs real's width."""
    if has_snp_metadata(genotypes) and has_snp_metadata(real):
        return columns_of_real_snps(genotypes, real, role, min_overlap)
    if genotypes.n_snps != real.n_snps:
        raise DataError(
            f"{role} ({genotypes.source}) has {genotypes.n_snps:,} SNPs but real ({real.source}) has {real.n_snps:,}, "
            "and without SNP metadata (chromosome, positions) they cannot be matched; give sets with the same SNPs "
            "(select.* cuts real; see conf/evaluate.yaml)"
        )
    bare = role if not has_snp_metadata(genotypes) else "real"
    log.info(
        "%s has no SNP metadata (chromosome:position): comparing %s's %s SNPs with real's column by column",
        bare,
        role,
        f"{real.n_snps:,}",
    )
    return None


def match_snps(sets: dict[str, GenotypeSet], min_overlap: float) -> dict[str, GenotypeSet]:
    """``sets`` (``real`` among them) cut to the SNPs every one has at the same chromosome:position, in real's order
    (``_columns``); a set is kept as it is where its columns already are those. Logs what is compared."""
    real = sets["real"]
    found = {role: _columns(genotypes, real, role, min_overlap) for role, genotypes in sets.items() if role != "real"}
    by_position = [columns for columns in found.values() if columns is not None]
    shared = np.arange(real.n_snps)
    if by_position:
        shared = np.flatnonzero(np.all([columns >= 0 for columns in by_position], axis=0))
    widths = ", ".join(f"{genotypes.n_snps:,} {role}" for role, genotypes in sets.items())
    how = " matched by chromosome:position" if by_position else ""
    log.info("comparing %s SNPs%s (of %s)", f"{len(shared):,}", how, widths)
    matched = {}
    for role, genotypes in sets.items():
        columns = shared if found.get(role) is None else found[role][shared]
        whole = len(columns) == genotypes.n_snps and np.array_equal(columns, np.arange(genotypes.n_snps))
        matched[role] = genotypes if whole else genotypes.select_snps(columns)
    return matched


@dataclass
class EvaluationResult:
    """What ``evaluate_files`` computed and where it wrote it."""

    metrics: dict[str, float]
    metrics_path: Path
    report_path: Path
    plots: dict[str, Path]


def read_inputs(settings: EvaluationSettings) -> dict[str, GenotypeSet]:
    """``{"real", "synthetic"[, "holdout"]}`` read, checked and cut to the SNPs they share (``match_snps``).

    ``settings.select``: ``read_genotypes`` keywords for the real set (e.g. ``min_maf``, ``snp_offset`` and
    ``seq_length`` to cut the training window out of a larger cohort; ``population_file``). The synthetic and
    held-out sets are read whole (with the selection's ``impute``) and matched to real's SNPs by chromosome:position;
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
        sets[role] = read_for_evaluation(path, role, settings.haplotype, options)
    return match_snps(sets, settings.min_snp_overlap)


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
