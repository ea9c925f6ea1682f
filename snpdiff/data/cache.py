"""On-disk cache of decoded genotype matrices: an int8 memory map plus a JSON sidecar per entry.

An entry is a folder ``<cache_dir>/<name>-<params hash>-<identity hash>/`` holding ``codes.npy`` (int8
``[rows, snps]``, opened with ``np.load(mmap_mode="r")``) and ``meta.json`` (SNP metadata, sample ids, populations and
what the build reported, e.g. how many calls were imputed). ``params`` are the selection/encoding keys that shaped the
matrix; ``identity`` is the source files' size and modification time, so touching or rewriting a source misses the
cache, and the stale entries of the same selection are removed when the new one is written.

Safety for several processes (SLURM jobs) starting at once on a shared cache: a ``filelock.FileLock`` per
``<name>-<params hash>`` makes one process build while the others wait and then read its result; an entry is written
into a temporary folder and renamed into place, so a crash mid-write never leaves a folder a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from filelock import FileLock

from snpdiff.data.types import GenotypeSet, SnpInfo

log = logging.getLogger(__name__)

# bump when the entry layout or the meaning of cached codes changes
CACHE_FORMAT = 1
TEMP_PREFIX = ".tmp-"
LOCK_FOLDER = ".locks"


def default_cache_dir() -> Path:
    """``$SNPDIFF_CACHE``, else ``~/.cache/snpdiff``."""
    return Path(os.environ.get("SNPDIFF_CACHE") or Path.home() / ".cache" / "snpdiff")


def file_identity(path: str | os.PathLike) -> dict:
    """What identifies one version of a source file: absolute path, size in bytes, modification time in ns."""
    stat = os.stat(path)
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _digest(data: dict) -> str:
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class CacheResult:
    """A loaded or freshly built entry; ``built`` is True when this call ran the build."""

    genotypes: GenotypeSet
    info: dict = field(default_factory=dict)
    built: bool = False
    path: Path | None = None


def list_entries(cache_dir: str | os.PathLike) -> list[Path]:
    """Complete entries and leftover temporary folders (the latter should never outlive a build)."""
    root = Path(cache_dir)
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if path.is_dir() and path.name != LOCK_FOLDER)


def write_entry(entry: Path, genotypes: GenotypeSet, params: dict, info: dict) -> None:
    """Write ``genotypes`` to the entry folder ``entry`` atomically (temporary folder, fsync, rename)."""
    entry.parent.mkdir(parents=True, exist_ok=True)
    temp = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{entry.name}-", dir=entry.parent))
    try:
        # mkdtemp makes the folder private (0700); a cache shared by a group's jobs follows the umask instead
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o777 & ~umask)
        with open(temp / "codes.npy", "wb") as handle:
            np.save(handle, np.ascontiguousarray(genotypes.codes, dtype=np.int8))
            handle.flush()
            os.fsync(handle.fileno())
        meta = {
            "format": CACHE_FORMAT,
            "shape": list(genotypes.codes.shape),
            "params": params,
            "snps": genotypes.snps.to_dict(),
            "sample_ids": genotypes.sample_ids.tolist(),
            "populations": None if genotypes.populations is None else genotypes.populations.tolist(),
            "haplotype": genotypes.haplotype,
            "source": genotypes.source,
            "info": info,
            "created": time.time(),
        }
        with open(temp / "meta.json", "w") as handle:
            json.dump(meta, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, entry)
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)


def read_entry(entry: Path) -> tuple[GenotypeSet, dict]:
    """Open an entry: codes as a read-only memory map, metadata from the sidecar."""
    with open(entry / "meta.json") as handle:
        meta = json.load(handle)
    codes = np.load(entry / "codes.npy", mmap_mode="r")
    if meta.get("format") != CACHE_FORMAT or list(codes.shape) != meta["shape"] or codes.dtype != np.int8:
        raise ValueError(f"cache entry {entry} does not match its sidecar")
    genotypes = GenotypeSet(
        codes=codes,
        snps=SnpInfo.from_dict(meta["snps"]),
        sample_ids=meta["sample_ids"],
        populations=meta["populations"],
        haplotype=meta["haplotype"],
        source=meta["source"],
    )
    return genotypes, meta["info"]


def cached(
    cache_dir: str | os.PathLike,
    name: str,
    params: dict,
    identity: dict,
    build: Callable[[], tuple[GenotypeSet, dict]],
) -> CacheResult:
    """Return the entry for (``name``, ``params``, ``identity``), building it with ``build()`` on a miss.

    ``build`` returns the genotypes and a JSON-ready ``info`` dict stored with them. If it raises, nothing is written.
    """
    root = Path(cache_dir)
    stem = f"{name}-{_digest({'format': CACHE_FORMAT, **params})}"
    entry = root / f"{stem}-{_digest(identity)}"
    if entry.is_dir():
        try:
            genotypes, info = read_entry(entry)
            return CacheResult(genotypes, info, built=False, path=entry)
        except (OSError, ValueError, KeyError) as error:
            log.warning("cache entry %s is unreadable (%s); rebuilding it", entry, error)
    (root / LOCK_FOLDER).mkdir(parents=True, exist_ok=True)
    with FileLock(root / LOCK_FOLDER / f"{stem}.lock"):
        # another process may have built it while this one waited for the lock
        if entry.is_dir():
            try:
                genotypes, info = read_entry(entry)
                return CacheResult(genotypes, info, built=False, path=entry)
            except (OSError, ValueError, KeyError):
                shutil.rmtree(entry, ignore_errors=True)
        genotypes, info = build()
        for stale in root.glob(f"{stem}-*"):
            # the same selection of an older version of the source file (memory maps of it stay valid)
            if stale.is_dir() and stale != entry:
                shutil.rmtree(stale, ignore_errors=True)
        write_entry(entry, genotypes, params, info)
    log.info("cached %s in %s", genotypes, entry)
    genotypes, info = read_entry(entry)
    return CacheResult(genotypes, info, built=True, path=entry)
