"""On-disk cache of decoded genotype matrices: an int8 memory map plus a JSON sidecar per entry.

An entry is a folder ``<cache_dir>/<name>-<params hash>-<identity hash>/`` holding ``codes.npy`` (int8
``[rows, snps]``, opened with ``np.load(mmap_mode="r")``) and ``meta.json`` (SNP metadata, sample ids, populations,
what the build reported, e.g. how many calls were imputed, and ``codes_hash``, a content hash of the codes).
``params`` are the selection/encoding keys that shaped the matrix; ``identity`` is the source files' size and
modification time, so touching or rewriting a source misses the cache, and the stale entries of the same selection
are removed when the new one is written.

Safety for several processes (SLURM jobs) starting at once on a shared cache: a ``filelock.FileLock`` per
``<name>-<params hash>`` makes one process build while the others wait and then read its result; an entry is written
into a temporary folder and renamed into place, so a crash mid-write never leaves a folder a later run would trust.

Integrity: every read checks the entry against its sidecar (format, shape, dtype, ``codes_hash``). An entry that fails
(rows reordered or zeroed by hand, a truncated or empty ``codes.npy``, a sidecar that does not parse) is the cache's
fault, not the source's: it is rebuilt from the source with a warning naming the file and the reason. The hash is
xxHash XXH3-128 (xxhash, which wandb already installs), else BLAKE2b; the sidecar names the algorithm it used.
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

# bump when the entry layout or the meaning of cached codes changes (an entry of format 1 without ``codes_hash``
# fails the check and is rebuilt in place)
CACHE_FORMAT = 1
TEMP_PREFIX = ".tmp-"
LOCK_FOLDER = ".locks"
# bytes hashed per update: bounds the memory a hash of a memory map pulls in at once
HASH_CHUNK_BYTES = 64 << 20


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


def _hashers() -> dict[str, Callable]:
    """Hash constructors by the name a sidecar stores, fastest first."""
    hashers: dict[str, Callable] = {}
    try:
        import xxhash

        hashers["xxh3_128"] = xxhash.xxh3_128
    except ImportError:  # xxhash comes with wandb; BLAKE2b (standard library) is the fallback
        pass
    hashers["blake2b"] = lambda: hashlib.blake2b(digest_size=16)
    return hashers


HASHERS = _hashers()
HASH_ALGORITHM = next(iter(HASHERS))


def codes_hash(codes: np.ndarray, algorithm: str = HASH_ALGORITHM) -> str:
    """Hex digest of the bytes of ``codes`` (C order), read in chunks so a memory map is never read whole at once."""
    flat = np.ascontiguousarray(codes).reshape(-1).view(np.uint8)
    hasher = HASHERS[algorithm]()
    for start in range(0, len(flat), HASH_CHUNK_BYTES):
        hasher.update(flat[start : start + HASH_CHUNK_BYTES])
    return hasher.hexdigest()


class CacheEntryError(Exception):
    """A cache entry that cannot be trusted; the message names the file at fault and why."""


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
        codes = np.ascontiguousarray(genotypes.codes, dtype=np.int8)
        with open(temp / "codes.npy", "wb") as handle:
            np.save(handle, codes)
            handle.flush()
            os.fsync(handle.fileno())
        meta = {
            "format": CACHE_FORMAT,
            "shape": list(codes.shape),
            "codes_hash": {"algorithm": HASH_ALGORITHM, "hex": codes_hash(codes)},
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
    """Open an entry: codes as a read-only memory map, metadata from the sidecar.

    Raises ``CacheEntryError`` naming the file at fault when the entry does not pass the check against its sidecar.
    """
    meta_path, codes_path = entry / "meta.json", entry / "codes.npy"
    try:
        meta = json.loads(meta_path.read_text())
        expected_hash = meta["codes_hash"]
        shape = meta["shape"]
    except (OSError, ValueError, TypeError) as error:
        raise CacheEntryError(f"sidecar {meta_path} is unreadable ({error})") from error
    except KeyError as error:
        raise CacheEntryError(f"sidecar {meta_path} has no {error} (written by an older snpdiff?)") from error
    if meta.get("format") != CACHE_FORMAT:
        raise CacheEntryError(f"sidecar {meta_path} is of cache format {meta.get('format')}, not {CACHE_FORMAT}")
    try:
        codes = np.load(codes_path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:  # EOFError: an empty file
        raise CacheEntryError(f"{codes_path} is unreadable ({type(error).__name__}: {error})") from error
    if list(codes.shape) != shape or codes.dtype != np.int8:
        raise CacheEntryError(f"{codes_path} holds {codes.dtype} {list(codes.shape)}; {meta_path} says int8 {shape}")
    algorithm = expected_hash.get("algorithm") if isinstance(expected_hash, dict) else None
    if algorithm not in HASHERS:
        raise CacheEntryError(f"sidecar {meta_path}: codes_hash algorithm {algorithm!r} is not available")
    if codes_hash(codes, algorithm) != expected_hash.get("hex"):
        raise CacheEntryError(f"{codes_path} does not match the content hash in {meta_path} (changed after writing)")
    try:
        genotypes = GenotypeSet(
            codes=codes,
            snps=SnpInfo.from_dict(meta["snps"]),
            sample_ids=meta["sample_ids"],
            populations=meta["populations"],
            haplotype=meta["haplotype"],
            source=meta["source"],
        )
        return genotypes, meta["info"]
    except (KeyError, ValueError, TypeError) as error:
        raise CacheEntryError(f"sidecar {meta_path} does not describe {codes_path} ({error!r})") from error


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
        except CacheEntryError as error:
            log.warning("cache entry %s fails its check: %s; rebuilding it from the source", entry, error)
    (root / LOCK_FOLDER).mkdir(parents=True, exist_ok=True)
    with FileLock(root / LOCK_FOLDER / f"{stem}.lock"):
        # another process may have built it while this one waited for the lock
        if entry.is_dir():
            try:
                genotypes, info = read_entry(entry)
                return CacheResult(genotypes, info, built=False, path=entry)
            except CacheEntryError:
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
