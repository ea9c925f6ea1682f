"""The decoded-genotype cache: hits, misses, invalidation, atomic writes and concurrent builds by two processes."""

import multiprocessing
import os
import time

import numpy as np
import pytest

import snpdiff.data.sim as sim_module
from snpdiff.data import simulate_genotypes, write_vcf
from snpdiff.data.cache import TEMP_PREFIX, list_entries
from snpdiff.data.selection import Selection, load_genotypes
from snpdiff.data.sources import open_source
from snpdiff.data.sources.plink import PlinkSource


def _load(path, cache_dir, **selection):
    source = open_source("vcf" if str(path).endswith((".gz", ".vcf")) else "plink", path)
    return load_genotypes(source, Selection(**selection), cache_dir=cache_dir)


def test_second_load_is_a_hit_served_from_a_memory_map(files, cache_dir):
    first = _load(files["plink"], cache_dir, seq_length=50)
    second = _load(files["plink"], cache_dir, seq_length=50)
    assert first.built and not second.built
    assert isinstance(second.genotypes.codes, np.memmap)
    assert np.array_equal(first.genotypes.codes, second.genotypes.codes)
    assert second.genotypes.snps.equals(first.genotypes.snps)
    assert second.info["imputed_calls"] == first.info["imputed_calls"] > 0
    assert len(list_entries(cache_dir)) == 1


def test_each_selection_gets_its_own_entry(files, cache_dir):
    assert _load(files["plink"], cache_dir, seq_length=50).built
    assert _load(files["plink"], cache_dir, seq_length=60).built
    assert _load(files["plink"], cache_dir, seq_length=50, min_maf=0.05).built
    assert not _load(files["plink"], cache_dir, seq_length=60).built
    assert len(list_entries(cache_dir)) == 3


def test_touching_the_source_invalidates_and_replaces_its_entry(files, cache_dir, tmp_path):
    vcf = tmp_path / "copy.vcf.gz"
    vcf.write_bytes(files["vcf.gz"].read_bytes())
    first = _load(vcf, cache_dir)
    stat = vcf.stat()
    os.utime(vcf, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    touched = _load(vcf, cache_dir)
    assert touched.built
    assert np.array_equal(first.genotypes.codes, touched.genotypes.codes)
    assert list_entries(cache_dir) == [touched.path]  # the stale entry is gone


def test_rewritten_source_gives_the_new_data(with_missing, cache_dir, tmp_path):
    vcf = write_vcf(tmp_path / "cohort.vcf.gz", with_missing.select_snps(slice(0, 100)))
    assert _load(vcf, cache_dir).genotypes.n_snps == 100
    write_vcf(vcf, with_missing.select_snps(slice(100, 180)))
    rewritten = _load(vcf, cache_dir)
    assert rewritten.built and rewritten.genotypes.n_snps == 80
    assert rewritten.genotypes.snps.snp_id[0] == with_missing.snps.snp_id[100]


def test_failed_write_leaves_no_entry_and_no_temporary_folder(files, cache_dir, monkeypatch):
    import snpdiff.data.cache as cache_module

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(cache_module.json, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        _load(files["plink"], cache_dir)
    assert list_entries(cache_dir) == []


def test_half_written_leftover_is_never_trusted(files, cache_dir):
    """A temporary folder left by a killed writer (same name prefix as the entry) is ignored and rebuilt over."""
    reference = _load(files["plink"], cache_dir, seq_length=30)
    entry = reference.path
    leftover = entry.parent / f"{TEMP_PREFIX}{entry.name}-killed"
    leftover.mkdir()
    (leftover / "codes.npy").write_bytes(b"\x93NUMPY half")
    os.rename(entry, entry.parent / "moved-away")
    rebuilt = _load(files["plink"], cache_dir, seq_length=30)
    assert rebuilt.built and np.array_equal(rebuilt.genotypes.codes, reference.genotypes.codes)


def test_corrupt_entry_is_rebuilt(files, cache_dir):
    first = _load(files["plink"], cache_dir, seq_length=30)
    expected = np.array(first.genotypes.codes)
    (first.path / "codes.npy").unlink()  # (writing in place would also change the memory map held by ``first``)
    np.save(first.path / "codes.npy", np.zeros((2, 2), np.int8))  # shape no longer matches the sidecar
    again = _load(files["plink"], cache_dir, seq_length=30)
    assert again.built and np.array_equal(again.genotypes.codes, expected)


def test_simulation_is_cached_by_its_parameters(tmp_path, monkeypatch):
    calls = []
    simulate = sim_module._simulate
    monkeypatch.setattr(sim_module, "_simulate", lambda *args: calls.append(args) or simulate(*args))
    first = simulate_genotypes(30, 50_000, seed=2, cache_dir=tmp_path)
    second = simulate_genotypes(30, 50_000, seed=2, cache_dir=tmp_path)
    assert len(calls) == 1
    assert np.array_equal(first.codes, second.codes) and second.snps.equals(first.snps)
    simulate_genotypes(30, 50_000, seed=3, cache_dir=tmp_path)
    assert len(calls) == 2


class SlowPlinkSource(PlinkSource):
    """A real PLINK source whose decoding takes at least 0.5 s, so two processes surely overlap."""

    def iter_chunks(self, individuals, region, chunk_snps):
        time.sleep(0.5)
        yield from super().iter_chunks(individuals, region, chunk_snps)


def _build_in_process(prefix, cache_dir, barrier, results):
    barrier.wait()
    result = load_genotypes(SlowPlinkSource(prefix), Selection(seq_length=64), cache_dir=cache_dir)
    results.put((result.built, np.asarray(result.genotypes.codes).tobytes()))


def test_two_processes_starting_at_once_build_the_entry_once(files, cache_dir):
    # fork: separate processes with their own lock file handles, without re-importing torch in each (spawn: ~25 s)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [
        context.Process(target=_build_in_process, args=(files["plink"], cache_dir, barrier, results)) for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sorted(built for built, _ in outcomes) == [False, True]
    assert outcomes[0][1] == outcomes[1][1]
    assert len(list_entries(cache_dir)) == 1
