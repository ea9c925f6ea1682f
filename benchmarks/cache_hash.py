"""Cost of the cache's content-hash check (``snpdiff.data.cache``) against reading the cached codes.

For each size (individuals x SNPs of random int8 codes), writes one cache entry with ``write_entry`` into a temporary
folder, then times, interleaved over ``--repeats`` rounds (medians): ``read_s``, opening ``codes.npy`` as a memory
map and copying it into memory (what training does with a cache hit); ``hash_s`` per available algorithm
(``codes_hash`` over the memory map, in chunks); ``read_entry_s``, the checked open of the entry (sidecar parse,
memory map, hash check; no copy). Ratios: ``hash_over_read`` and ``hash_share_of_read_entry`` (the rest is mostly
parsing the sidecar's SNP and sample metadata). The page cache is warm (the entry was just written), so reads run at
memory speed, not disk speed: the ratios are the hash's worst case. Prints JSON.

    python benchmarks/cache_hash.py [--sizes 1000x1024 5000x160858] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from snpdiff.data.cache import HASH_ALGORITHM, HASHERS, codes_hash, read_entry, write_entry
from snpdiff.data.types import GenotypeSet, SnpInfo


def _entry(folder: Path, individuals: int, snps: int) -> Path:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, size=(individuals, snps), dtype=np.int8)
    genotypes = GenotypeSet(codes, SnpInfo.placeholder(snps), [f"sample{i}" for i in range(individuals)], None)
    entry = folder / f"bench-{individuals}x{snps}"
    write_entry(entry, genotypes, params={}, info={})
    return entry


def _seconds(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def measure(folder: Path, individuals: int, snps: int, repeats: int) -> dict:
    entry = _entry(folder, individuals, snps)
    codes_path = entry / "codes.npy"
    steps = {
        "read_s": lambda: np.array(np.load(codes_path, mmap_mode="r")),
        **{
            f"hash_{name}_s": (lambda name=name: codes_hash(np.load(codes_path, mmap_mode="r"), name))
            for name in HASHERS
        },
        "read_entry_s": lambda: read_entry(entry),
    }
    times: dict[str, list[float]] = {name: [] for name in steps}
    for work in steps.values():
        work()  # warm-up: imports, first page faults
    for _ in range(repeats):
        for name, work in steps.items():
            times[name].append(_seconds(work))
    medians = {name: round(statistics.median(values), 5) for name, values in times.items()}
    hash_s = medians[f"hash_{HASH_ALGORITHM}_s"]
    return {
        "individuals": individuals,
        "snps": snps,
        "megabytes": round(individuals * snps / 1e6, 1),
        **medians,
        "hash_over_read": round(hash_s / medians["read_s"], 3),
        "hash_gb_per_s": round(individuals * snps / hash_s / 1e9, 2),
        "hash_share_of_read_entry": round(hash_s / medians["read_entry_s"], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["1000x1024", "5000x160858"], help="INDIVIDUALSxSNPS")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="cache-hash-") as folder:
        for size in args.sizes:
            individuals, snps = (int(part) for part in size.lower().split("x"))
            results.append(measure(Path(folder), individuals, snps, args.repeats))
    print(
        json.dumps(
            {"algorithm": HASH_ALGORITHM, "load_average": os.getloadavg()[0], "sizes": results},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
