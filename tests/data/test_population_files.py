"""Population files (``data.population_file``): the tab-separated table and PLINK cluster files as users and other
tools write them, every malformed case as one DataError naming the id or label and the line, and a stratified split
that never silently has 0 rows."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from snpdiff.data import GenotypeDataModule, read_genotypes, write_plink
from snpdiff.data.split import split_rows
from snpdiff.errors import DataError
from tests.helpers import run_train
from tests.reliability.campaign import check_row

PLINK2 = shutil.which("plink2")


@pytest.fixture
def ids(with_missing) -> list[str]:
    """The fixture cohort's 60 sample ids, in file order."""
    return with_missing.sample_ids.tolist()


def _families(files) -> list[str]:
    """The family ids of the fixture's .fam, as written (the population labels)."""
    return [line.split()[0] for line in (files["plink"].parent / "cohort.fam").read_text().splitlines()]


def _labels(path, files) -> list[str]:
    return read_genotypes(files["plink"], population_file=str(path)).populations.tolist()


def _refused(path, files) -> str:
    with pytest.raises(DataError) as raised:
        read_genotypes(files["plink"], population_file=str(path))
    return str(raised.value)


def _write(path, text: str, newline: str = "\n"):
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def _three_labels(ids: list[str]) -> list[str]:
    return [("Han Chinese", "Han Southern", "Han, Chinese")[i % 3] for i in range(len(ids))]


@pytest.mark.reliability_row("Population files and labels", "labels with spaces or commas")
@pytest.mark.reliability_row("Population files and labels", "CRLF line ends")
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_labels_keep_their_spaces_and_commas_with_a_header_and_comments(files, ids, tmp_path, newline):
    labels = _three_labels(ids)
    lines = "".join(f"{sample}\t{label}\n" for sample, label in zip(ids, labels, strict=True))
    table = _write(tmp_path / "pops.tsv", "# from the panel\nsample\tpopulation\n\n" + lines, newline)
    assert _labels(table, files) == labels
    assert len(set(labels)) == 3  # "Han Chinese" and "Han Southern" stay apart, "Han, Chinese" is whole


@pytest.mark.reliability_row("Population files and labels", "CRLF line ends")
def test_a_spreadsheet_export_with_a_byte_order_mark_and_padded_fields(files, ids, tmp_path):
    table = tmp_path / "pops.tsv"
    table.write_bytes(("\ufeffid\tpopulation\r\n" + "".join(f"{s} \t YRI \r\n" for s in ids)).encode())
    assert _labels(table, files) == ["YRI"] * len(ids)


def test_percent_escapes_in_a_label_are_decoded(files, ids, tmp_path):
    table = _write(tmp_path / "pops.tsv", "".join(f"{s}\tHan%09Chinese 100%25 50%\n" for s in ids))
    assert set(_labels(table, files)) == {"Han\tChinese 100% 50%"}


@pytest.mark.reliability_row("Population files and labels", "a `FID IID POP` file")
@pytest.mark.parametrize("separator", [" ", "\t", "  \t "])
def test_a_plink_cluster_file_is_read_by_its_iid_and_fid(files, ids, tmp_path, separator):
    families = _families(files)
    clusters = [f"C{i % 2}" for i in range(len(ids))]
    rows = zip(families, ids, clusters, strict=True)
    path = _write(tmp_path / "clusters.txt", "".join(separator.join(row) + "\n" for row in rows))
    assert _labels(path, files) == clusters


@pytest.mark.skipif(PLINK2 is None, reason="plink2 is not installed (.ci/run installs Debian's plink2)")
def test_the_cluster_file_is_one_plink2_reads_with_within(files, ids, tmp_path):
    families = _families(files)
    clusters = [f"C{i % 2}" for i in range(len(ids))]
    path = _write(
        tmp_path / "clusters.txt", "".join(f"{f} {s} {c}\n" for f, s, c in zip(families, ids, clusters, strict=True))
    )
    out = tmp_path / "within"
    command = [PLINK2, "--bfile", str(files["plink"]), "--within", str(path), "--make-just-psam", "--out", str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    psam = [line.split("\t") for line in out.with_suffix(".psam").read_text().splitlines()]
    column = psam[0].index("CATPHENO")
    assert {row[1]: row[column] for row in psam[1:]} == dict(zip(ids, clusters, strict=True))
    assert _labels(path, files) == clusters


def test_a_cluster_line_whose_fid_is_not_the_samples_is_refused(files, ids, tmp_path):
    path = _write(tmp_path / "clusters.txt", "".join(f"FAM{i} {s} C\n" for i, s in enumerate(ids)))
    message = _refused(path, files)
    assert message.startswith(f"population file {path} line 1: 'FID IID' FAM0 {ids[0]} is not a sample of ")
    assert f"whose .fam gives {ids[0]} the family id" in message


@pytest.mark.reliability_row("Population files and labels", "a `FID IID POP` file")
def test_an_fid_iid_pop_file_is_never_read_with_the_iid_as_the_label(files, ids, tmp_path):
    """The campaign's case: ``FID IID POP`` with a header was read as id FID, label IID (40 one-person labels)."""
    families = _families(files)
    text = "FID IID POP\n" + "".join(f"{f} {s} P{i % 3}\n" for i, (f, s) in enumerate(zip(families, ids, strict=True)))
    assert _labels(_write(tmp_path / "fid_iid_pop.txt", text), files) == [f"P{i % 3}" for i in range(len(ids))]


@pytest.mark.reliability_row("Population files and labels", "`id Han Chinese`")
def test_space_separated_id_and_label_with_a_space_is_not_misread(files, ids, tmp_path):
    path = _write(tmp_path / "pops.txt", "".join(f"{s} Han Chinese\n" for s in ids))
    message = _refused(path, files)
    assert message.startswith(f"population file {path}: none of its 1 ids match the 60 samples")  # every IID is "Han"
    assert "read as a PLINK cluster file 'FID IID CLUSTER': separate id and label by one tab" in message


@pytest.mark.reliability_row("Population files and labels", "`NA1 YRI`")
@pytest.mark.parametrize(
    "text, expected",
    [
        ("{0} YRI\n", r"line 1: '{0} YRI' is neither 'id<TAB>population' \(one tab"),
        ("{0},YRI\n", r"line 1: '{0},YRI' is neither 'id<TAB>population'"),
        ("{0}\n", r"line 1: '{0}' is neither"),
        ("# header\n{0}\tYRI\n{1}\tCEU\tx\n", r"line 3: 3 tab-separated fields in '{1}\\tCEU\\tx'"),
        ("{0}\tYRI\n{1} CEU\n", r"line 2: 1 tab-separated fields in '{1} CEU'"),
        ("{0} F YRI\n{1}\tCEU\n", r"line 2: 2 fields in '{1}\\tCEU'; each line of a PLINK cluster file"),
    ],
)
def test_a_line_of_neither_layout_is_refused_naming_it(files, ids, tmp_path, text, expected):
    path = _write(tmp_path / "pops.txt", text.format(*ids))
    assert re.search(expected.format(*ids), _refused(path, files))


@pytest.mark.reliability_row("Population files and labels", "an id listed twice")
def test_an_id_given_two_labels_is_refused_naming_both_lines(files, ids, tmp_path):
    text = "".join(f"{s}\tYRI\n" for s in ids) + f"{ids[0]}\tYRI\n{ids[4]}\tCEU\n"
    message = _refused(_write(tmp_path / "pops.tsv", text), files)
    expected = f"line 62: id {ids[4]!r} is labelled 'CEU', but line 5 labels it 'YRI'; give each id one population"
    assert message.endswith(expected)


@pytest.mark.reliability_row("Population files and labels", "ids that are not samples")
def test_ids_that_are_not_samples_are_refused_naming_the_first_and_its_line(files, ids, tmp_path):
    text = "".join(f"{s}\tYRI\n" for s in ids[:10]) + "NA12878\tCEU\n" + f"{ids[10]}\tYRI\nHG00096\tGBR\n"
    path = _write(tmp_path / "pops.tsv", text)
    message = _refused(path, files)
    assert message.startswith(f"population file {path} line 11: id 'NA12878' is not a sample of ")
    assert "(2 of its 13 ids are not: 'NA12878' (line 11), 'HG00096' (line 13))" in message


@pytest.mark.reliability_row("Population files and labels", "an empty label or id")
@pytest.mark.parametrize(
    "line, expected",
    [
        ("{0}\t\n", "line 3: id '{0}' has an empty population label"),
        ("{0}\t   \n", "line 3: id '{0}' has an empty population label"),
        ("\tYRI\n", "line 3: the id is empty in '\\tYRI'"),
        ("{0}\tY\x0bRI\n", "line 3: id '{0}': 'Y\\x0bRI' holds the control character '\\x0b'"),
        ("{0}\tYRI\x00\n", "line 3: id '{0}': 'YRI\\x00' holds the control character '\\x00'"),
        ("{0}\tY\u2028RI\n", "line 3: id '{0}': 'Y\\u2028RI' holds the control character '\\u2028'"),
        ("{0}\tYRI\rCEU\n", "line 3: id '{0}': 'YRI\\rCEU' holds the control character '\\r'"),
    ],
)
def test_empty_and_control_characters_are_refused_naming_the_line(files, ids, tmp_path, line, expected):
    text = f"{ids[1]}\tYRI\n\n" + line.format(ids[0])
    message = _refused(_write(tmp_path / "pops.tsv", text), files)
    assert expected.format(ids[0]) in message


@pytest.mark.reliability_row("Population files and labels", "an empty label or id")
def test_a_file_that_is_not_utf8_is_named(files, tmp_path):
    path = tmp_path / "pops.tsv"
    path.write_bytes(b"YRI_0\tHan\xe9\n")
    expected = f"population file {path} is not UTF-8 text (byte 0xe9 at offset 9); save it as UTF-8"
    assert _refused(path, files) == expected


def _datamodule(files, cache_dir, table, **keys) -> GenotypeDataModule:
    datamodule = GenotypeDataModule(
        source="plink",
        path=str(files["plink"]),
        population_file=str(table),
        seq_length=32,
        cache_dir=str(cache_dir),
        **keys,
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


@pytest.mark.reliability_row("Population files and labels", "one person per label")
def test_one_person_populations_are_refused_by_the_stratified_split_naming_label_and_line(files, ids, tmp_path):
    """The campaign's case: one person per label was accepted and the test split silently had 0 rows."""
    table = _write(tmp_path / "pops.tsv", "id\tpopulation\n" + "".join(f"{s}\tperson {s}\n" for s in ids))
    with pytest.raises(DataError) as raised:
        _datamodule(files, tmp_path / "cache", table)
    first = min(ids)  # the populations are named in sorted order
    assert str(raised.value).startswith(
        f"{files['plink']}: population 'person {first}' (line {ids.index(first) + 2} of {table}) has 1 individual(s); "
        "a split stratified "
        "by population with data.val_fraction=0.1 and data.test_fraction=0.1 needs at least 3 in each population; "
        "60 populations have fewer: "
    )
    split = _datamodule(files, tmp_path / "cache", table, stratify=False)  # the way out the message names
    assert (len(split.train_codes), len(split.val_codes), len(split.test_codes)) == (48, 6, 6)


def test_samples_without_a_line_form_the_unknown_population_that_the_split_names(files, ids, tmp_path):
    table = _write(tmp_path / "pops.tsv", "".join(f"{s}\tP{i % 2}\n" for i, s in enumerate(ids[:-2])))
    with pytest.raises(DataError, match=rf"population 'unknown' \(the samples without a line in {table}\) has 2"):
        _datamodule(files, tmp_path / "cache", table)


def test_labels_from_the_fam_are_decoded_and_named_by_their_fam_line(with_missing, tmp_path):
    cohort = with_missing.select_samples(slice(0, 22))
    cohort.populations = np.array(["Han Chinese"] * 2 + ["YRI"] * 20)
    prefix = write_plink(tmp_path / "cohort", cohort)
    assert (tmp_path / "cohort.fam").read_text().startswith(f"Han%20Chinese {cohort.sample_ids[0]} 0 0 0 0\n")
    datamodule = GenotypeDataModule(source="plink", path=str(prefix), population_file="fam", seq_length=32)
    with pytest.raises(DataError, match=rf"population 'Han Chinese' \(line 1 of {prefix}.fam\) has 2 individual"):
        datamodule.setup("fit")


@pytest.mark.parametrize("sizes", [[3] * 20, [3, 3, 50], [1000, 3, 4, 5], [7, 7, 7, 7, 7, 7], [4] * 10])
@pytest.mark.parametrize("fractions", [(0.1, 0.1), (0.3, 0.3), (0.05, 0.2), (0.2, 0.0)])
def test_a_stratified_split_never_has_0_rows_and_keeps_every_population_in_training(sizes, fractions):
    populations = np.repeat([f"P{i}" for i in range(len(sizes))], sizes)
    try:
        splits = split_rows(np.arange(len(populations)), populations, *fractions, seed=1)
    except DataError as error:  # only when the populations cannot give the fractions and keep one each in training
        assert "too small to give" in str(error)
        return
    for name, fraction in zip(("val", "test"), fractions, strict=True):
        assert (len(splits[name]) > 0) == (fraction > 0)
        assert len(splits[name]) == max(1, round(fraction * len(populations))) or fraction == 0
    assert set(populations[splits["train"]]) == set(populations)


def test_a_split_too_large_for_the_populations_is_refused():
    populations = np.repeat([f"P{i}" for i in range(10)], 3)
    with pytest.raises(DataError, match=r"the 10 populations are too small to give data.test_fraction=0.45 its 14"):
        split_rows(np.arange(30), populations, 0.45, 0.45, seed=0)


@pytest.mark.slow
def test_train_py_refuses_a_bad_population_file_with_one_error_line(files, ids, tmp_path):
    cases = {
        "duplicate": (
            "".join(f"{s}\tYRI\n" for s in ids) + f"{ids[4]}\tCEU\n",
            f"line 61: id {ids[4]!r} is labelled 'CEU', but line 5 labels it 'YRI'",
        ),
        "singletons": (
            "".join(f"{s}\t{s}\n" for s in ids),
            f"population {min(ids)!r} (line {ids.index(min(ids)) + 1} of ",
        ),
    }
    results = {}
    for name, (text, expected) in cases.items():
        table = _write(tmp_path / f"{name}.tsv", text)
        args = ("data=plink", f"data.path={files['plink']}", f"data.population_file={table}", "debug=fast")
        result = results[name] = run_train(*args, "logger=none", root=tmp_path / name)
        assert result.returncode == 2, result.stderr[-3000:]
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and expected in errors[0], result.stderr[-3000:]
        assert "Traceback" not in result.stderr
    check_row(results["duplicate"], "Population files and labels", "an id listed twice")
    check_row(results["singletons"], "Population files and labels", "one person per label")
