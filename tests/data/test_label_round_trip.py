"""Population labels written in every format come back the same, through our readers and through plink2: a label
with a space, tab, newline or ``%`` is percent-encoded in a ``.fam`` family id and in ``<out>.populations.tsv``;
ids a format cannot hold are refused before anything is written."""

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from snpdiff.data import GenotypeSet, read_genotypes, write_npy, write_plink, write_vcf
from snpdiff.data.writers import VcfWriter
from snpdiff.errors import DataError

PLINK2 = shutil.which("plink2")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 is not installed (.ci/run installs Debian's plink2)")
# the campaign's labels: a space wrote a 7-field .fam line, a tab or newline 11 .fam lines for 8 people
# a leading '#' made plink2 read the .fam line as a comment
LABELS = ["Han Chinese", "Han\tChinese", "Han\nChinese", "50% Han", "Yoruba", "Ibadan\r\n", "né à Lyon", "#Han%20"]


@pytest.fixture
def labelled(simulated) -> GenotypeSet:
    """8 people of the fixture, each with one of ``LABELS``."""
    people = simulated.select_samples(slice(0, 8))
    people.populations = np.array(LABELS)
    return people


def _plink2(*args: str) -> None:
    subprocess.run([PLINK2, "--silent", *args], check=True, capture_output=True, timeout=120)


def _same_people(again: GenotypeSet, original: GenotypeSet) -> None:
    assert again.sample_ids.tolist() == original.sample_ids.tolist()
    assert again.populations.tolist() == original.populations.tolist()
    assert np.array_equal(again.codes, original.codes)


@pytest.mark.reliability_row("Population files and labels", "a label with a space, tab, newline or `%`")
def test_a_fam_holds_one_six_field_line_per_person_and_reads_back(labelled, tmp_path):
    prefix = write_plink(tmp_path / "cohort", labelled)
    lines = Path(f"{prefix}.fam").read_text().split("\n")[:-1]
    assert [len(line.split()) for line in lines] == [6] * 8
    assert [line.split()[0] for line in lines] == [
        "Han%20Chinese", "Han%09Chinese", "Han%0AChinese", "50%25%20Han", "Yoruba", "Ibadan%0D%0A",
        "né%20à%20Lyon", "%23Han%2520",
    ]  # fmt: skip
    _same_people(read_genotypes(prefix, population_file="fam"), labelled)


@pytest.mark.reliability_row("Population files and labels", "a label with a space, tab, newline or `%`")
@needs_plink2
def test_plink2_carries_the_labels_through_bed_and_pgen(labelled, tmp_path):
    prefix = write_plink(tmp_path / "ours", labelled)
    _plink2("--bfile", str(prefix), "--make-bed", "--out", str(tmp_path / "bed"))
    _same_people(read_genotypes(tmp_path / "bed", population_file="fam"), labelled)
    _plink2("--bfile", str(prefix), "--make-pgen", "--out", str(tmp_path / "pgen"))
    _plink2("--pfile", str(tmp_path / "pgen"), "--make-bed", "--out", str(tmp_path / "from_pgen"))
    _same_people(read_genotypes(tmp_path / "from_pgen", population_file="fam"), labelled)


@pytest.mark.reliability_row("Population files and labels", "a label with a space, tab, newline or `%`")
@needs_plink2
def test_plink2_selects_a_population_by_its_encoded_family_id(labelled, tmp_path):
    prefix = write_plink(tmp_path / "ours", labelled)
    (tmp_path / "families.txt").write_text("Han%20Chinese\n50%25%20Han\n")
    _plink2(
        "--bfile",
        str(prefix),
        "--keep-fam",
        str(tmp_path / "families.txt"),
        "--make-bed",
        "--out",
        str(tmp_path / "kept"),
    )
    kept = read_genotypes(tmp_path / "kept", population_file="fam")
    assert kept.populations.tolist() == ["Han Chinese", "50% Han"]
    assert kept.sample_ids.tolist() == labelled.sample_ids[[0, 3]].tolist()


def _write_vcf_with_table(path: Path, genotypes: GenotypeSet) -> list[Path]:
    """A VCF and its ``.populations.tsv``, written the way generate.py writes a labelled cohort."""
    writer = VcfWriter(
        path,
        path.parent / "work",
        genotypes.snps,
        genotypes.n_rows,
        sample_ids=lambda start, stop: genotypes.sample_ids[start:stop],
        populations=lambda start, stop: genotypes.populations[start:stop],
    )
    writer.open()
    writer.write_rows(0, np.asarray(genotypes.codes, dtype=np.int8))
    return writer.finish()


@pytest.mark.reliability_row("Population files and labels", "the same labels in `<out>.populations.tsv`")
def test_a_vcf_and_its_population_table_read_back(labelled, tmp_path):
    table, vcf = _write_vcf_with_table(tmp_path / "cohort.vcf.gz", labelled)
    assert table == tmp_path / "cohort.populations.tsv"
    lines = table.read_text().split("\n")[:-1]
    assert [line.count("\t") for line in lines] == [1] * 8
    assert lines[1] == f"{labelled.sample_ids[1]}\tHan%09Chinese"
    _same_people(read_genotypes(vcf, population_file=str(table)), labelled)


@pytest.mark.reliability_row("Population files and labels", "the same labels in `<out>.populations.tsv`")
@needs_plink2
def test_plink2_reads_our_vcf_with_the_same_people(labelled, tmp_path):
    table, vcf = _write_vcf_with_table(tmp_path / "cohort.vcf.gz", labelled)
    _plink2("--vcf", str(vcf), "--make-bed", "--out", str(tmp_path / "from_vcf"))
    again = read_genotypes(tmp_path / "from_vcf", population_file=str(table))
    _same_people(again, labelled)


def test_the_npy_sidecar_holds_any_label(labelled, tmp_path):
    _same_people(read_genotypes(write_npy(tmp_path / "cohort.npy", labelled)), labelled)


@pytest.mark.reliability_row("Population files and labels", "a sample id with whitespace")
@pytest.mark.parametrize(
    "write, sample_id, expected",
    [
        (write_plink, "NA 1", "{}.fam: sample id 'NA 1' (row 2) holds ' ', which {}.fam cannot hold in a sample id"),
        (write_plink, "NA\t1", "{}.fam: sample id 'NA\\t1' (row 2) holds '\\t'"),
        (write_vcf, "NA\n1", "{}: sample id 'NA\\n1' (row 2) holds '\\n', which {} cannot hold in a sample id"),
        (write_vcf, "", "{}: the sample id of row 2 is empty, which {} cannot hold"),
    ],
)
def test_ids_a_format_cannot_hold_are_refused_before_writing(labelled, tmp_path, write, sample_id, expected):
    ids = labelled.sample_ids.astype(object)
    ids[2] = sample_id
    people = GenotypeSet(labelled.codes, labelled.snps, ids.tolist(), labelled.populations)
    out = tmp_path / ("cohort" if write is write_plink else "cohort.vcf")
    with pytest.raises(DataError) as raised:
        write(out, people)
    assert str(raised.value).startswith(expected.format(out, out))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.reliability_row("Population files and labels", "a sample id with whitespace")
def test_an_empty_label_is_refused_for_a_fam(labelled, tmp_path):
    labelled.populations = np.array(["YRI"] * 5 + ["", "YRI", "YRI"])
    with pytest.raises(DataError, match=r"cohort.fam: the population label of row 5 is empty, which .* cannot hold"):
        write_plink(tmp_path / "cohort", labelled)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.reliability_row("Population files and labels", "a 7-field `.fam` line")
def test_a_fam_line_an_older_writer_split_is_refused(labelled, tmp_path):
    prefix = write_plink(tmp_path / "old", labelled.select_samples(slice(4, 8)))
    fam = Path(f"{prefix}.fam")
    fam.write_text(fam.read_text().replace("Yoruba ", "Han Chinese ", 1))  # what the old writer made of "Han Chinese"
    with pytest.raises(DataError, match=rf"{fam} line 1 has 7 fields, not the 6 of a .fam line"):
        read_genotypes(prefix, population_file="fam")
