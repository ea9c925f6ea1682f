"""The value rules of a ``data`` config, as small tables: one rule per key, then the rules that span keys.

``check_data_config`` takes the composed values (``cfg.data`` as a dict, or the data module's own arguments); it
has no defaults of its own (they live in ``GenotypeDataModule.__init__``) and checks only the keys it is given, so
a rule whose key is absent is skipped. Unknown keys and types are the schema's business (``snpdiff.config.schema``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from numbers import Integral, Real
from typing import Any

from snpdiff.data.encoding import ENCODING_MODES
from snpdiff.data.selection import FAM_POPULATIONS, IMPUTE_MODES
from snpdiff.data.sources import FILE_SOURCES, FORMAT_OPTIONS, HAPLOID_CALLS, SOURCES, Region
from snpdiff.errors import ConfigError

Check = Callable[[Any], bool]
# sources whose genotypes are phased, so data.haplotype=true can split them
PHASED_SOURCES = ("sim", "vcf", "npy")


def is_int(value: Any) -> bool:
    """True for an integer that is not a bool (YAML ``true`` must not pass as 1)."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """True for a real number that is not a bool."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _int_at_least(low: int) -> Check:
    return lambda value: is_int(value) and value >= low


def _real_in(low: float, high: float, *, high_open: bool = False) -> Check:
    return lambda value: is_real(value) and low <= value and (value < high if high_open else value <= high)


def _or_null(check: Check) -> Check:
    return lambda value: value is None or check(value)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


# key -> (the check its value must pass, what the message says after "data.<key>=<value> ")
KEY_RULES: dict[str, tuple[Check, str]] = {
    "snps_only": (_or_null(_is_bool), "must be true or false"),
    "haploid_calls": (
        _or_null(lambda value: value in HAPLOID_CALLS),
        f"is not allowed; allowed: {list(HAPLOID_CALLS)}",
    ),
    "missing_code": (_or_null(is_int), "must be an integer"),
    "n_individuals": (_or_null(_int_at_least(1)), "must be an integer >= 1 or null"),
    "region_length": (_or_null(_int_at_least(1)), "must be an integer >= 1 (base pairs) or null"),
    "sim_seed": (_or_null(is_int), "must be an integer or null"),
    "snp_offset": (_int_at_least(0), "must be an integer >= 0"),
    "seq_length": (_or_null(_int_at_least(1)), "must be an integer >= 1 or null (all SNPs left)"),
    "min_maf": (_real_in(0, 0.5), "must be a number in [0, 0.5]"),
    "max_missing": (_or_null(_real_in(0, 1)), "must be a number in [0, 1] or null (no filter)"),
    "samples": (
        lambda value: value is None or isinstance(value, (str, list, tuple)),
        "must be a list of sample ids, a file path or null",
    ),
    "impute": (lambda value: value in IMPUTE_MODES, f"is not allowed; allowed: {list(IMPUTE_MODES)}"),
    "encoding": (lambda value: value in ENCODING_MODES, f"is not an encoding; allowed: {sorted(ENCODING_MODES)}"),
    "scale": (lambda value: is_real(value) and value > 0, "must be a number > 0"),
    "haplotype": (_is_bool, "must be true or false"),
    "val_fraction": (_real_in(0, 1, high_open=True), "must be a number in [0, 1)"),
    "test_fraction": (_real_in(0, 1, high_open=True), "must be a number in [0, 1)"),
    "stratify": (_is_bool, "must be true or false"),
    "population_labels": (_is_bool, "must be true or false"),
    "seed": (is_int, "must be an integer"),
    "batch_size": (_int_at_least(1), "must be an integer >= 1"),
    "num_workers": (_int_at_least(0), "must be an integer >= 0"),
}


def _path_problems(values: Mapping[str, Any], source: str) -> list[str]:
    if "path" not in values:
        return []
    if source in FILE_SOURCES and values["path"] is None:
        return [f"data.path is required for data={source}: {FILE_SOURCES[source]}"]
    if source == "sim" and values["path"] is not None:
        return [f"data.path={values['path']!r} is not used by data=sim; set it to null or pick a file source"]
    return []


def _format_option_problems(values: Mapping[str, Any], source: str) -> list[str]:
    return [
        f"data.{key} only applies to data={'/'.join(sources)}, not data={source}"
        for key, sources in FORMAT_OPTIONS.items()
        if values.get(key) is not None and source not in sources
    ]


def _population_file_problems(values: Mapping[str, Any], source: str) -> list[str]:
    if values.get("population_file") == FAM_POPULATIONS and source != "plink":
        return [f"data.population_file=fam reads the PLINK .fam family column; data={source} has none"]
    return []


def _haplotype_problems(values: Mapping[str, Any], source: str) -> list[str]:
    if values.get("haplotype") is True and source not in PHASED_SOURCES:
        return [f"data.haplotype=true needs phased genotypes (data=vcf, sim or a haplotype npy), not {source}"]
    return []


# rules that depend on data.source (only run when the source is one of SOURCES)
SOURCE_RULES = (_path_problems, _format_option_problems, _population_file_problems, _haplotype_problems)


def _region_problems(values: Mapping[str, Any]) -> list[str]:
    if values.get("region") is None:
        return []
    try:
        Region.parse(values["region"])
    except ConfigError as error:
        return [str(error)]
    return []


def _fraction_sum_problems(values: Mapping[str, Any]) -> list[str]:
    fractions = [values.get(key) for key in ("val_fraction", "test_fraction")]
    check, _ = KEY_RULES["val_fraction"]
    if all(check(fraction) for fraction in fractions) and sum(fractions) >= 1:
        return [f"data.val_fraction + data.test_fraction = {sum(fractions)} must be < 1"]
    return []


def check_data_config(values: Mapping[str, Any]) -> list[str]:
    """Every value problem of a ``data`` config, without touching any file.

    Returns messages naming the key, the value and what is allowed; an empty list when the config is fine. An
    unknown ``data.source`` is the only problem reported (the other rules depend on it).
    """
    source = values.get("source")
    if "source" in values and source not in SOURCES:
        return [f"data.source={source!r} is not a source; allowed: {list(SOURCES)}"]
    problems = [rule(values, source) for rule in SOURCE_RULES] if "source" in values else []
    problems += [
        [f"data.{key}={values[key]!r} {allowed}"]
        for key, (check, allowed) in KEY_RULES.items()
        if key in values and not check(values[key])
    ]
    problems += [_region_problems(values), _fraction_sum_problems(values)]
    return [problem for group in problems for problem in group]
