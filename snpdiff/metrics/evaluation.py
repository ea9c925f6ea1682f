"""Evaluate genotype files: resolve paths (files or run folders), read them, compute metrics, plot, report.

This is the work behind ``evaluate.py`` and ``snpdiff.evaluate``: ``gather_inputs`` (sets, arrays or paths ->
matched sets) then ``evaluate_sets`` (metrics, and with an output folder the report and plots). A PATH is anything
``snpdiff.data.read_genotypes`` reads (a PLINK prefix or ``.bed``, ``.vcf``/``.vcf.gz``/``.bcf``, ``.parquet``,
``.npy``), or a folder (a training or generation run) holding ``<role>.<ext>`` for the role asked:
``synthetic.bed`` (+ ``.bim``/``.fam``), ``synthetic.vcf.gz``, ``real.npy``, ``holdout.parquet``, ...
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from snpdiff.data import GenotypeSet, read_genotypes
from snpdiff.data.encoding import ploidy_of
from snpdiff.errors import ConfigError, DataError
from snpdiff.metrics.genotype import check_codes, evaluate_genotypes
from snpdiff.metrics.names import headline
from snpdiff.metrics.plots import make_plots
from snpdiff.metrics.report import write_report
from snpdiff.metrics.settings import EvaluationSettings, MetricSettings

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
    """What ``evaluate_sets`` computed and where it wrote it (paths None, plots empty, when it wrote nothing)."""

    metrics: dict[str, float]
    metrics_path: Path | None
    report_path: Path | None
    plots: dict[str, Path]


# an input set: read from a path (a file or a run folder), or given as a set or a bare code matrix [rows, snps]
GenotypeInput = GenotypeSet | np.ndarray | str | os.PathLike


def as_genotype_set(
    value: GenotypeInput, role: str, haplotype: bool = False, options: Mapping[str, Any] | None = None
) -> GenotypeSet:
    """``value`` as the ``role`` set: a ``GenotypeSet`` as it is; an integer array ``[rows, snps]`` checked
    (``check_codes``: codes 0..ploidy) and given placeholder SNPs and ids (compared column by column, so its width
    must be real's); a path read with ``options`` (``read_for_evaluation``). DataError naming the role otherwise."""
    if isinstance(value, GenotypeSet):
        return value
    if isinstance(value, np.ndarray):
        codes = check_codes(value, ploidy_of(haplotype), role)
        genotypes = GenotypeSet.from_codes(codes, haplotype=haplotype)
        genotypes.source = f"{role} array"
        return genotypes
    if isinstance(value, str | os.PathLike):
        return read_for_evaluation(value, role, haplotype, dict(options or {}))
    raise DataError(
        f"{role}: a {type(value).__name__} is not a genotype input; give a GenotypeSet, an integer array "
        "[rows, snps] or a genotype file (PLINK, VCF, Parquet, npy) or run folder"
    )


def gather_inputs(
    real: GenotypeInput,
    synthetic: GenotypeInput,
    holdout: GenotypeInput | None = None,
    *,
    haplotype: bool = False,
    select: Mapping[str, Any] | None = None,
    populations: Mapping[str, str | None] | None = None,
    min_snp_overlap: float = 0.9,
) -> dict[str, GenotypeSet]:
    """``{"real", "synthetic"[, "holdout"]}`` as sets (``as_genotype_set``), checked and cut to the SNPs they share
    (``match_snps``): every input is read before any metric is computed.

    ``select``: ``read_genotypes`` keywords for a real file (e.g. ``min_maf``, ``snp_offset`` and ``seq_length`` to
    cut the training window out of a larger cohort; ``population_file``). Synthetic and held-out files are read
    whole (with the selection's ``impute``) and matched to real's SNPs by chromosome:position; ``populations``
    (``{"synthetic": ..., "holdout": ...}``, a TSV of id and population, or ``fam``) labels their rows (an npy
    sidecar's labels are read without it). Sets and arrays are used as given.
    """
    if not (isinstance(min_snp_overlap, int | float) and not isinstance(min_snp_overlap, bool)) or not (
        0 < min_snp_overlap <= 1
    ):
        raise ConfigError(f"min_snp_overlap={min_snp_overlap!r} must be a share in (0, 1] of real's SNPs")
    selection, labelled = dict(select or {}), dict(populations or {})
    whole = {"impute": selection["impute"]} if "impute" in selection else {}
    sets = {"real": as_genotype_set(real, "real", haplotype, selection)}
    for role, value in (("synthetic", synthetic), ("holdout", holdout)):
        if value is None:
            continue
        options = {**whole, **({"population_file": labelled[role]} if labelled.get(role) else {})}
        sets[role] = as_genotype_set(value, role, haplotype, options)
    return match_snps(sets, min_snp_overlap)


def read_inputs(settings: EvaluationSettings) -> dict[str, GenotypeSet]:
    """evaluate.py's inputs (``gather_inputs`` of the settings' paths, selection and label files)."""
    return gather_inputs(
        settings.real,
        settings.synthetic,
        settings.holdout,
        haplotype=settings.haplotype,
        select=settings.select,
        populations={"synthetic": settings.synthetic_populations, "holdout": settings.holdout_populations},
        min_snp_overlap=settings.min_snp_overlap,
    )


def evaluate_files(settings: EvaluationSettings) -> EvaluationResult:
    """evaluate.py's work on its settings: ``read_inputs`` then ``evaluate_sets`` into ``settings.out``."""
    return evaluate_sets(read_inputs(settings), settings, settings.out, settings.plots)


def evaluate_sets(
    sets: dict[str, GenotypeSet],
    settings: MetricSettings = MetricSettings(),
    out: str | os.PathLike | None = None,
    plots: bool = True,
) -> EvaluationResult:
    """Compute ``evaluate_genotypes`` of the matched ``sets`` (``gather_inputs``) and log the headline; with ``out``,
    write ``metrics.json``, ``report.md`` and (``plots``) ``plots/*.png`` there and log where. Labels on S and H
    add the utility metric ``recovery_rate``."""
    real, synthetic, holdout = sets["real"], sets["synthetic"], sets.get("holdout")
    metrics = evaluate_genotypes(real, synthetic, holdout, settings)
    log.info("synthetic vs real: %s", headline(metrics))  # metrics.json and report.md have them all
    if out is None:
        return EvaluationResult(metrics, None, None, {})
    out = Path(out)
    plot_paths = make_plots(real, synthetic, holdout, out / PLOTS_DIR, settings) if plots else {}
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
