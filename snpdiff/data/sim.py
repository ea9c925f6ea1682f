"""The embedded default dataset: realistic human genotypes simulated offline with stdpopsim + msprime.

HomSap ``OutOfAfrica_3G09`` (YRI, CEU, CHB; Gutenkunst et al. 2009), msprime engine, a generic contig of
``region_length`` bp with the species' mean recombination rate (uniform: genetic maps need a download) and the
demographic model's own mutation rate. Sites with exactly one mutation (biallelic SNPs) and minor allele frequency
>= 1% are kept. The result is cached on disk keyed by its parameters and the simulator versions.
"""

from __future__ import annotations

import logging
import os
from importlib.metadata import version
from pathlib import Path

import numpy as np

from snpdiff.data.cache import cached, default_cache_dir
from snpdiff.data.types import GenotypeSet, SnpInfo, haplotype_row_ids
from snpdiff.errors import ConfigError

log = logging.getLogger(__name__)

SPECIES = "HomSap"
DEMOGRAPHIC_MODEL = "OutOfAfrica_3G09"
SIM_CHROM = "1"
SIM_MIN_MAF = 0.01


def _population_sizes(n_individuals: int, populations: list[str]) -> dict[str, int]:
    """Split individuals evenly; the first populations take the remainder."""
    base, remainder = divmod(n_individuals, len(populations))
    return {name: base + (index < remainder) for index, name in enumerate(populations)}


def _simulate(n_individuals: int, region_length: int, seed: int, haplotype: bool) -> GenotypeSet:
    # imported here, not at the top: importing them slows every training process, and a cached simulation never
    # needs them
    import stdpopsim

    species = stdpopsim.get_species(SPECIES)
    model = species.get_demographic_model(DEMOGRAPHIC_MODEL)
    # no chromosome/genetic map: a generic contig with the genome-wide mean recombination rate
    contig = species.get_contig(length=region_length, mutation_rate=model.mutation_rate)
    samples = _population_sizes(n_individuals, [population.name for population in model.populations])
    engine = stdpopsim.get_engine("msprime")
    ts = engine.simulate(model, contig, {name: size for name, size in samples.items() if size}, seed=seed)

    # biallelic SNPs: sites carrying exactly one mutation
    mutations_per_site = np.bincount(ts.tables.mutations.site, minlength=ts.num_sites)
    biallelic = np.flatnonzero(mutations_per_site == 1)
    haplotypes = ts.genotype_matrix()[biallelic].T.astype(np.int8)  # [sample nodes, snps], alt allele = 1
    # individuals own consecutive sample nodes (ts.individuals_nodes is [individuals, 2])
    nodes = ts.individuals_nodes
    node_row = np.empty(ts.num_nodes, dtype=np.int64)
    node_row[ts.samples()] = np.arange(ts.num_samples)
    alt_frequency = haplotypes.mean(axis=0)
    keep = np.minimum(alt_frequency, 1 - alt_frequency) >= SIM_MIN_MAF
    haplotypes = haplotypes[:, keep]
    sites = biallelic[keep]

    population_names = [ts.population(ts.individual(i).population).metadata["name"] for i in range(ts.num_individuals)]
    individual_ids = [f"{name}_{i}" for i, name in enumerate(population_names)]
    site_position = ts.tables.sites.position[sites].astype(np.int64) + 1  # tskit is 0-based, VCF/PLINK 1-based
    mutation_of_site = np.full(ts.num_sites, -1)
    mutation_of_site[ts.tables.mutations.site] = np.arange(ts.num_mutations)
    ancestral = [ts.site(int(site)).ancestral_state for site in sites]
    derived = [ts.mutation(int(mutation_of_site[site])).derived_state for site in sites]
    snps = SnpInfo(
        chrom=[SIM_CHROM] * len(sites),
        position=site_position,
        snp_id=[f"{SIM_CHROM}:{position}" for position in site_position],
        ref=ancestral,
        alt=derived,
    )
    rows_a, rows_b = node_row[nodes[:, 0]], node_row[nodes[:, 1]]
    source = f"sim:{DEMOGRAPHIC_MODEL}(n_individuals={n_individuals}, region_length={region_length}, seed={seed})"
    if haplotype:
        order = np.stack([rows_a, rows_b], axis=1).reshape(-1)
        return GenotypeSet(
            codes=np.ascontiguousarray(haplotypes[order]),
            snps=snps,
            sample_ids=haplotype_row_ids(individual_ids),
            populations=np.repeat(population_names, 2),
            haplotype=True,
            source=source,
        )
    dosages = haplotypes[rows_a] + haplotypes[rows_b]
    return GenotypeSet(codes=dosages, snps=snps, sample_ids=individual_ids, populations=population_names, source=source)


def simulate_genotypes(
    n_individuals: int = 1000,
    region_length: int = 3_000_000,
    seed: int = 1,
    cache_dir: str | os.PathLike | None = None,
    haplotype: bool = False,
) -> GenotypeSet:
    """Simulated diploid genotypes ``[n_individuals, snps]`` (codes 0/1/2), populations YRI/CEU/CHB split evenly.

    ``region_length`` is in base pairs; ``seed`` seeds msprime. With ``haplotype=True`` rows are the ``2 *
    n_individuals`` phased haplotypes (codes 0/1). Cached in ``cache_dir`` (default: ``$SNPDIFF_CACHE`` or
    ``~/.cache/snpdiff``), so a second call with the same arguments reads the cache instead of simulating.
    1000 individuals x 3 Mb (about 40,000 SNPs) take about a second.
    """
    if int(n_individuals) < 1:
        raise ConfigError(f"data.n_individuals={n_individuals!r} must be >= 1")
    if int(region_length) < 1:
        raise ConfigError(f"data.region_length={region_length!r} must be >= 1 (base pairs)")
    params = {
        "n_individuals": int(n_individuals),
        "region_length": int(region_length),
        "seed": int(seed),
        "haplotype": bool(haplotype),
        "model": f"{SPECIES}/{DEMOGRAPHIC_MODEL}",
        "min_maf": SIM_MIN_MAF,
        "versions": {"msprime": version("msprime"), "stdpopsim": version("stdpopsim")},
    }

    def build() -> tuple[GenotypeSet, dict]:
        log.info(
            "simulating %d individuals x %d bp (%s, seed %d)", n_individuals, region_length, DEMOGRAPHIC_MODEL, seed
        )
        return _simulate(int(n_individuals), int(region_length), int(seed), bool(haplotype)), {}

    result = cached(Path(cache_dir) if cache_dir is not None else default_cache_dir(), "sim", params, {}, build)
    return result.genotypes
