"""Shared selection pipeline: samples -> populations -> region -> MAF / missingness filters -> window -> imputation.

Every source goes through ``select_genotypes``, so ``data.region``, ``data.snp_offset`` + ``data.seq_length``,
``data.min_maf``, ``data.max_missing``, ``data.samples``, ``data.population_file`` and ``data.impute`` mean the same
for PLINK, VCF, Parquet, ``.npy`` and the simulation. The window counts SNPs that pass the filters: SNP ``snp_offset``
of the filtered list is the window's first column. Decoding stops as soon as the window is full, so a 1,024-SNP window
of a 160,000-SNP file reads a few thousand SNPs, not the file.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snpdiff.data.cache import CacheResult, cached, file_identity
from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.labels import decode_label, decode_labels, first_control_character
from snpdiff.data.sources.base import MAX_CHUNK_SNPS, GenotypeSource, Region, require_file
from snpdiff.data.types import GenotypeSet, SnpInfo, haplotype_row_ids
from snpdiff.errors import ConfigError, DataError

log = logging.getLogger(__name__)

IMPUTE_MODES = ("mode", "mean", "none")
# read_genotypes only: leave missing calls as MISSING_CODE (training needs a matrix without them)
KEEP_MISSING = "keep"
# population_file value that takes labels from the PLINK .fam family column
FAM_POPULATIONS = "fam"
UNKNOWN_POPULATION = "unknown"
# the two layouts of a population file (see PopulationFile), and the first fields that make a first line a header
POPULATION_TABLE, PLINK_CLUSTERS = "table", "cluster"
_HEADERS = {POPULATION_TABLE: {"id", "sample", "sample_id", "iid", "individual"}, PLINK_CLUSTERS: {"fid"}}
# PLINK splits its text files on spaces and tabs only
_PLINK_FIELDS = re.compile("[ \t]+")
# part of the cache key of a selection with population labels from a file: how that file is read (version 1 split
# lines on any whitespace or comma and kept the last of an id's labels; version 2 is PopulationFile's format and
# decodes the percent-encoded .fam family ids of snpdiff.data.labels)
POPULATION_FILE_FORMAT = 2


@dataclass(frozen=True)
class PopulationFile:
    """A population file (``data.population_file``), in one of two layouts decided by its first line:

    - ``table``: ``id<TAB>population``, one tab a line; the label may hold spaces (``Han Chinese``) and ``%XX``
      escapes (``%09`` a tab: ``snpdiff.data.labels``); spaces around either field are dropped. An optional first
      line whose id is ``id``, ``sample``, ``sample_id``, ``iid`` or ``individual`` is a header.
    - ``cluster``: a PLINK cluster file, ``FID IID CLUSTER`` separated by spaces or tabs (what ``plink --within``
      reads); the id is the IID, and with a PLINK source the FID must be that sample's family id.

    Both: ``#`` starts a comment line, blank lines are skipped, CRLF line ends are read, UTF-8. An id with two
    different labels, an empty id or label, a control character, and (when matched to a source) an id that is not
    a sample of it are errors naming the line. ``labels``: id -> label; ``lines``: id -> its first line;
    ``families``: id -> FID (cluster files only).
    """

    path: Path
    labels: dict[str, str]
    lines: dict[str, int]
    families: dict[str, str] | None = None


@dataclass(frozen=True)
class Selection:
    """The selection keys of ``conf/data/*.yaml`` (see the module docstring for their order).

    ``samples``: a list of sample ids, or a path to a file with one id per line (PLINK ``--keep`` files with
    ``FID IID`` columns work too: the second column is used). ``population_file``: a TSV of ``id<TAB>population``
    or a PLINK cluster file (``PopulationFile``), or ``"fam"`` for the PLINK family column (percent-decoded).
    ``n_individuals``: keep only the first n selected individuals (a quick slice; null keeps all). ``impute``:
    ``mode`` (most frequent code of the SNP), ``mean`` (rounded mean code), ``none`` (any missing call is an error)
    or ``keep`` (``read_genotypes``: missing calls stay ``MISSING_CODE``).
    """

    region: str | None = None
    snp_offset: int = 0
    seq_length: int | None = None
    min_maf: float = 0.0
    max_missing: float | None = None
    samples: tuple[str, ...] | str | None = None
    population_file: str | None = None
    n_individuals: int | None = None
    impute: str = "mode"

    def __post_init__(self) -> None:
        if isinstance(self.samples, Sequence) and not isinstance(self.samples, str):
            object.__setattr__(self, "samples", tuple(str(sample) for sample in self.samples))
        if self.impute not in (*IMPUTE_MODES, KEEP_MISSING):
            raise ConfigError(f"data.impute={self.impute!r} is not allowed; allowed: {list(IMPUTE_MODES)}")
        if self.region is not None:
            Region.parse(self.region)

    def side_files(self) -> list[Path]:
        """Files besides the genotype source whose content shapes the result (samples and population files)."""
        files = []
        if isinstance(self.samples, str):
            files.append(require_file(self.samples, "samples file (data.samples)"))
        if self.population_file is not None and self.population_file != FAM_POPULATIONS:
            files.append(require_file(self.population_file, "population file (data.population_file)"))
        return files


def split_selection(keys: Mapping[str, Any]) -> tuple[Selection, dict[str, Any]]:
    """The ``Selection`` named by the selection keys among ``keys``, and the other keys.

    The one way a ``Selection`` is built from config keys: the flat ``data.*`` keys of a training config, the
    ``select:`` keys of ``conf/evaluate.yaml`` and ``read_genotypes``' keywords all come through here.
    """
    names = {field.name for field in fields(Selection)}
    selection = Selection(**{key: value for key, value in keys.items() if key in names})
    return selection, {key: value for key, value in keys.items() if key not in names}


@dataclass
class _Scan:
    """Filtered SNP chunks collected while streaming a source."""

    snps: list[SnpInfo]
    codes: list[np.ndarray]
    scanned: int = 0
    passing: int = 0
    complete: bool = True


def maf_and_missing(codes: np.ndarray, ploidy: int) -> tuple[np.ndarray, np.ndarray]:
    """Minor allele frequency and missing fraction per SNP of int8 codes ``[rows, snps]`` with ``ploidy`` alleles
    per row.

    MAF is NaN for a SNP with no called genotype.
    """
    called = np.count_nonzero(codes != MISSING_CODE, axis=0)
    alt_copies = np.where(codes == MISSING_CODE, 0, codes).sum(axis=0, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        alt_frequency = alt_copies / (ploidy * called)
    maf = np.minimum(alt_frequency, 1 - alt_frequency)
    missing = 1 - called / codes.shape[0] if codes.shape[0] else np.zeros(codes.shape[1])
    return maf, missing


def _read_id_file(path: Path) -> list[str]:
    ids = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        ids.append(fields[1] if len(fields) >= 2 else fields[0])
    return ids


def _select_individuals(source: GenotypeSource, selection: Selection) -> np.ndarray:
    """Indices into ``source.sample_ids`` of the selected individuals, in file order."""
    sample_ids = source.sample_ids
    if selection.samples is None:
        individuals = np.arange(len(sample_ids))
    else:
        if isinstance(selection.samples, str):
            path = require_file(selection.samples, "samples file (data.samples)")
            wanted, where = _read_id_file(path), f"samples file {path}"
        else:
            wanted, where = list(selection.samples), "data.samples"
        known = set(sample_ids.tolist())
        unknown = [sample for sample in wanted if sample not in known]
        if unknown:
            raise DataError(
                f"{where}: {len(unknown)} of {len(wanted)} ids are not samples of {source.path} "
                f"(e.g. {', '.join(unknown[:5])}; the source's ids look like {', '.join(sample_ids[:3])})"
            )
        if not wanted:
            raise DataError(f"{where} selects no samples")
        individuals = np.flatnonzero(np.isin(sample_ids, wanted))
    if selection.n_individuals is not None:
        if len(individuals) < selection.n_individuals:
            log.info(
                "data.n_individuals=%d: %s has %d, using all", selection.n_individuals, source.path, len(individuals)
            )
        individuals = individuals[: selection.n_individuals]
    return individuals


def _population_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a population file's lines that carry data: blank lines and ``#`` comments skipped,
    CRLF line ends accepted. Lines end at newlines only (``str.splitlines`` would also break on form feeds and the
    Unicode line separators, which are control characters here)."""
    try:  # bytes, not text mode: a lone CR is a control character here, not a line end
        text = path.read_bytes().decode("utf-8-sig")  # -sig: a spreadsheet's byte order mark is not part of an id
    except UnicodeDecodeError as error:
        raise DataError(
            f"population file {path} is not UTF-8 text (byte {error.object[error.start]:#04x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip(" \t") and not line.startswith("#"):
            yield number, line


def _population_layout(path: Path, number: int, line: str) -> str:
    """``table`` (``id<TAB>population``) or ``cluster`` (PLINK ``FID IID CLUSTER``), from a file's first line."""
    if line.count("\t") == 1:
        return POPULATION_TABLE
    if len(_PLINK_FIELDS.split(line.strip(" \t"))) == 3:
        return PLINK_CLUSTERS
    raise DataError(
        f"population file {path} line {number}: {line!r} is neither 'id<TAB>population' (one tab; the label may "
        "hold spaces) nor a PLINK cluster file line 'FID IID CLUSTER' (three fields, as plink --within reads)"
    )


def _parse_population_line(path: Path, number: int, line: str, layout: str) -> tuple[str, str, str | None]:
    """(id, label, family id or None) of one line of a population file of ``layout``."""
    where = f"population file {path} line {number}"
    if layout == POPULATION_TABLE:
        fields = [field.strip(" ") for field in line.split("\t")]
        if len(fields) != 2:
            raise DataError(
                f"{where}: {len(fields)} tab-separated fields in {line!r}; each line is 'id<TAB>population' "
                "(as the file's first line is)"
            )
        (sample, label), family = fields, None
    else:
        fields = _PLINK_FIELDS.split(line.strip(" \t"))
        if len(fields) != 3:
            raise DataError(
                f"{where}: {len(fields)} fields in {line!r}; each line of a PLINK cluster file is 'FID IID CLUSTER' "
                "(as the file's first line is); a population table is 'id<TAB>population'"
            )
        family, sample, label = fields
    if not sample:
        raise DataError(f"{where}: the id is empty in {line!r}")
    if not label:
        raise DataError(f"{where}: id {sample!r} has an empty population label")
    for field in (sample, label, family or ""):
        character = first_control_character(field)
        if character is not None:
            raise DataError(
                f"{where}: id {sample!r}: {field!r} holds the control character {character!r}; ids and labels are "
                "printable text (write a tab or newline inside a label as %09 or %0A)"
            )
    return sample, decode_label(label), family


def _read_population_file(path: Path) -> PopulationFile:
    """The ids, labels and line numbers of a population file (see ``PopulationFile``); DataError naming the line
    of a malformed line, an empty id or label, a control character or an id given two labels."""
    labels: dict[str, str] = {}
    lines: dict[str, int] = {}
    families: dict[str, str] = {}
    layout = None
    for number, line in _population_lines(path):
        first = layout is None
        layout = layout or _population_layout(path, number, line)
        sample, label, family = _parse_population_line(path, number, line, layout)
        if first and (family or sample).lower() in _HEADERS[layout]:
            continue
        if sample in labels and labels[sample] != label:
            raise DataError(
                f"population file {path} line {number}: id {sample!r} is labelled {label!r}, but line "
                f"{lines[sample]} labels it {labels[sample]!r}; give each id one population"
            )
        labels.setdefault(sample, label)
        lines.setdefault(sample, number)
        if family is not None:
            families.setdefault(sample, family)
    if not labels:
        raise DataError(
            f"population file {path} is empty (or only comments and a header); expected one "
            "'id<TAB>population' line per sample"
        )
    return PopulationFile(path, labels, lines, families if layout == PLINK_CLUSTERS else None)


def _check_population_ids(table: PopulationFile, source: GenotypeSource) -> None:
    """DataError naming the first id of ``table`` that is not a sample of ``source`` (or, in a cluster file of a
    PLINK source, whose family id is not the sample's)."""
    sample_ids = source.sample_ids.tolist()
    known = set(sample_ids)
    missing = [sample for sample in table.labels if sample not in known]
    hint = (
        "; its lines have three fields, so it was read as a PLINK cluster file 'FID IID CLUSTER': separate id and "
        "label by one tab for 'id<TAB>population'"
        if table.families is not None
        else ""
    )
    if len(missing) == len(table.labels):
        raise DataError(
            f"population file {table.path}: none of its {len(table.labels)} ids match the {len(sample_ids)} samples "
            f"of {source.path} (file ids look like {', '.join(list(table.labels)[:3])}; sample ids look like "
            f"{', '.join(sample_ids[:3])}){hint}"
        )
    if missing:
        listed = ", ".join(f"{sample!r} (line {table.lines[sample]})" for sample in missing[:5])
        raise DataError(
            f"population file {table.path} line {table.lines[missing[0]]}: id {missing[0]!r} is not a sample of "
            f"{source.path} ({len(missing)} of its {len(table.labels)} ids are not: {listed}); remove those lines "
            f"or give the population file of this data{hint}"
        )
    if table.families is not None and source.family_ids is not None:
        family_of = dict(zip(sample_ids, source.family_ids.tolist(), strict=True))
        for sample, family in table.families.items():
            if family_of[sample] != family:
                raise DataError(
                    f"population file {table.path} line {table.lines[sample]}: 'FID IID' {family} {sample} is not a "
                    f"sample of {source.path}, whose .fam gives {sample} the family id {family_of[sample]!r}"
                )


def _file_populations(source: GenotypeSource, path: Path, individuals: np.ndarray) -> tuple[np.ndarray, dict]:
    """The selected individuals' labels from the population file ``path`` and where each label comes from."""
    table = _read_population_file(path)
    _check_population_ids(table, source)
    sample_ids = source.sample_ids[individuals].tolist()
    unlabelled = sum(sample not in table.labels for sample in sample_ids)
    if unlabelled:
        log.warning(
            "population file %s has no label for %d of %d samples; they are labelled %r",
            path,
            unlabelled,
            len(sample_ids),
            UNKNOWN_POPULATION,
        )
    labels = [table.labels.get(sample, UNKNOWN_POPULATION) for sample in sample_ids]
    origins = {UNKNOWN_POPULATION: f"the samples without a line in {path}"} if unlabelled else {}
    for sample in sample_ids:
        if sample in table.lines:
            origins.setdefault(table.labels[sample], f"line {table.lines[sample]} of {path}")
    return np.array(labels, dtype=np.str_), origins


def _population_labels(
    source: GenotypeSource, selection: Selection, individuals: np.ndarray
) -> tuple[np.ndarray | None, dict[str, str]]:
    """One population label per selected individual (None when there are no labels), and for labels read from a
    file the line each comes from (``{label: "line 7 of F"}``, for messages about a label)."""
    if selection.population_file is None:
        labels = source.populations
        return (None if labels is None else labels[individuals]), {}
    if selection.population_file == FAM_POPULATIONS:
        if source.family_ids is None:
            raise ConfigError(f"data.population_file=fam needs a PLINK source; {source.path} is {source.format}")
        labels = decode_labels(source.family_ids[individuals])
        origins: dict[str, str] = {}
        for label, row in zip(labels.tolist(), individuals.tolist(), strict=True):
            origins.setdefault(label, f"line {row + 1} of {source.path}.fam")
        return labels, origins
    path = require_file(selection.population_file, "population file (data.population_file)")
    return _file_populations(source, path, individuals)


@contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on an interactive terminal (stderr); silent otherwise. Yields ``advance(n_snps)``."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda n_snps: None
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n_snps: progress.advance(task, n_snps)


def _scan(source: GenotypeSource, individuals: np.ndarray, selection: Selection) -> _Scan:
    """Stream SNP chunks through the filters until the window is full (or the source ends)."""
    region = Region.parse(selection.region) if selection.region else None
    needed = None if selection.seq_length is None else selection.snp_offset + selection.seq_length
    scan = _Scan(snps=[], codes=[])
    first_chunk = int(np.clip(needed or 4096, 256, MAX_CHUNK_SNPS))
    total = source.snp_count if region is None else None
    max_code = source.ploidy
    with _progress(f"decoding {source.path}", total) as advance:
        for snps, codes in source.iter_chunks(individuals, region, first_chunk):
            if codes.size and (codes.min() < MISSING_CODE or codes.max() > max_code):
                raise DataError(
                    f"{source.path}: genotype codes {codes.min()}..{codes.max()} found near SNP {snps.snp_id[0]}; "
                    f"allowed 0..{max_code} and {MISSING_CODE} (missing)"
                )
            maf, missing = maf_and_missing(codes, source.ploidy)
            keep = np.ones(len(snps), dtype=bool)
            if selection.min_maf > 0:
                keep &= maf >= selection.min_maf  # NaN (no called genotype) fails
            if selection.max_missing is not None:
                keep &= missing <= selection.max_missing
            scan.scanned += len(snps)
            if keep.any():
                scan.snps.append(snps.select(keep))
                scan.codes.append(codes[:, keep])
                scan.passing += int(keep.sum())
            advance(len(snps))
            if needed is not None and scan.passing >= needed:
                scan.complete = False
                break
    return scan


def _impute(codes: np.ndarray, snps: SnpInfo, mode: str, ploidy: int, path: str) -> tuple[int, int]:
    """Fill missing calls of ``codes`` (``ploidy`` alleles per row) in place; returns (imputed calls, SNPs with
    imputed calls)."""
    if mode == KEEP_MISSING:
        return 0, 0
    missing = codes == MISSING_CODE
    missing_per_snp = missing.sum(axis=0)
    columns = np.flatnonzero(missing_per_snp)
    if len(columns) == 0:
        return 0, 0
    all_missing = columns[missing_per_snp[columns] == codes.shape[0]]
    if len(all_missing):
        first = all_missing[0]
        raise DataError(
            f"{path}: SNP {snps.snp_id[first]} ({snps.chrom[first]}:{snps.position[first]}) has no called genotype "
            f"in the {codes.shape[0]} selected rows ({len(all_missing)} such SNPs in the window) and data.impute="
            f"{mode} cannot fill it; drop such SNPs with data.min_maf > 0 or data.max_missing < 1"
        )
    if mode == "none":
        first = columns[0]
        raise DataError(
            f"{path}: {int(missing_per_snp.sum())} missing calls in {len(columns)} SNPs of the window (first: "
            f"{snps.snp_id[first]}) and data.impute=none; set data.impute=mode or data.max_missing=0"
        )
    block = codes[:, columns]
    max_code = ploidy
    if mode == "mode":
        counts = np.stack([(block == code).sum(axis=0) for code in range(max_code + 1)])
        fill = counts.argmax(axis=0).astype(np.int8)  # ties go to the lower code
    else:
        called = block != MISSING_CODE
        mean = np.where(called, block, 0).sum(axis=0) / called.sum(axis=0)
        fill = np.rint(mean).astype(np.int8)
    codes[:, columns] = np.where(block == MISSING_CODE, fill[None, :], block)
    return int(missing_per_snp.sum()), len(columns)


def _describe_filters(selection: Selection) -> str:
    parts = [f"min_maf={selection.min_maf}"]
    if selection.region:
        parts.insert(0, f"region={selection.region}")
    if selection.max_missing is not None:
        parts.append(f"max_missing={selection.max_missing}")
    return ", ".join(parts)


def select_genotypes(source: GenotypeSource, selection: Selection) -> tuple[GenotypeSet, dict]:
    """Apply ``selection`` to ``source``: genotypes ``[rows, window snps]`` without missing calls (unless
    ``impute=none`` and there are none) and an ``info`` dict (counts of imputed calls, scanned and skipped SNPs)."""
    started = time.perf_counter()
    individuals = _select_individuals(source, selection)
    populations, population_origins = _population_labels(source, selection, individuals)
    scan = _scan(source, individuals, selection)
    filters = _describe_filters(selection)
    if scan.passing <= selection.snp_offset:
        raise DataError(
            f"{source.path}: {scan.passing} SNPs are left after filtering ({filters}, {scan.scanned} SNPs read), "
            f"none from data.snp_offset={selection.snp_offset} on"
        )
    if selection.seq_length is not None and scan.passing < selection.snp_offset + selection.seq_length:
        available = scan.passing - selection.snp_offset
        raise DataError(
            f"{source.path}: data.seq_length={selection.seq_length} is larger than the {available} SNPs left after "
            f"filtering ({scan.passing} pass {filters}; data.snp_offset={selection.snp_offset}); "
            f"set data.seq_length <= {available}"
        )
    end = None if selection.seq_length is None else selection.snp_offset + selection.seq_length
    codes = np.concatenate(scan.codes, axis=1)[:, selection.snp_offset : end]
    snps = SnpInfo.concat(scan.snps).select(slice(selection.snp_offset, end))
    codes = np.ascontiguousarray(codes)
    imputed_calls, imputed_snps = _impute(codes, snps, selection.impute, source.ploidy, source.path)
    sample_ids = source.sample_ids[individuals]
    if source.haplotype:
        sample_ids = haplotype_row_ids(sample_ids)
        populations = None if populations is None else np.repeat(populations, 2)
    genotypes = GenotypeSet(codes, snps, sample_ids, populations, haplotype=source.haplotype, source=source.path)
    info = {
        "imputed_calls": imputed_calls,
        "imputed_snps": imputed_snps,
        "scanned_snps": scan.scanned,
        "passing_snps": scan.passing,
        "scan_complete": scan.complete,
        "source_snps": source.snp_count,
        "skipped": dict(source.skipped),
        "population_origins": population_origins,
        "decode_seconds": round(time.perf_counter() - started, 3),
    }
    return genotypes, info


def load_genotypes(
    source: GenotypeSource, selection: Selection, cache_dir: str | os.PathLike | None = None
) -> CacheResult:
    """``select_genotypes`` through the cache in ``cache_dir`` (None: no cache). Logs what was selected."""
    side_files = selection.side_files()
    params = {
        "source": {
            "format": source.format,
            "files": [str(path.resolve()) for path in source.files()],
            **source.options(),
        },
        "haplotype": source.haplotype,
        "selection": asdict(selection),
        "side_files": [str(path.resolve()) for path in side_files],
    }
    if selection.population_file is not None:
        params["population_file_format"] = POPULATION_FILE_FORMAT
    identity = {"source": source.identity(), "side_files": [file_identity(path) for path in side_files]}

    def build() -> tuple[GenotypeSet, dict]:
        return select_genotypes(source, selection)

    if cache_dir is None:
        result = CacheResult(*build(), built=True)
    else:
        result = cached(cache_dir, source.format, params, identity, build)
    info = result.info
    log.info(
        "data: %s (%s): %d rows x %d SNPs; %d SNPs read, %d passed the filters; "
        "imputed %d missing calls in %d SNPs%s%s",
        source.path,
        "decoded" if result.built else f"cache {result.path}",
        result.genotypes.n_rows,
        result.genotypes.n_snps,
        info["scanned_snps"],
        info["passing_snps"],
        info["imputed_calls"],
        info["imputed_snps"],
        f"; skipped sites: {info['skipped']}" if info["skipped"] else "",
        f" ({info['decode_seconds']} s)" if result.built else "",
    )
    return result
