import numpy as np
import pandas as pd
import pytest

from causalrx.data.io import link_samples, read_long_timeseries, read_table, read_vcf, read_wfdb, write_wfdb
from causalrx.exceptions import ValidationError

HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1>\n##contig=<ID=X>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tF1\tM1\tM2\tF2\n"
)
RECORDS = [
    "1\t100\trs1\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t1|1\t./.",  # autosomal, one missing call
    "1\t200\trs2\tC\tT,G\t.\tPASS\t.\tGT\t0/2\t1/1\t1/2\t0/0",  # multi-allelic: split per ALT
    "X\t5000000\trs3\tG\tA\t.\tPASS\t.\tGT\t0/1\t1\t1/1\t1/1",  # non-PAR X: men haploid or 1/1
    "X\t6000000\trs4\tG\tA\t.\tPASS\t.\tGT\t1/1\t0/1\t0\t.",  # a heterozygous man: impossible
    "X\t100000\trs5\tC\tT\t.\tPASS\t.\tGT\t0/1\t0/1\t1/1\t0/0",  # PAR1 (GRCh38): diploid in men
]
SEX = {"F1": "F", "M1": "M", "M2": "M", "F2": "F"}


@pytest.fixture()
def vcf(tmp_path):
    path = tmp_path / "cohort.vcf"
    path.write_text(HEADER + "\n".join(RECORDS) + "\n")
    return path


def test_vcf_dosages_with_sex_aware_x(vcf):
    g = read_vcf(vcf, sex=SEX)
    assert list(g.samples) == ["F1", "M1", "M2", "F2"]
    assert list(g.variants["variant_id"]) == ["rs1", "rs2_T", "rs2_G", "rs3", "rs4", "rs5"]
    assert list(g.variants["x_nonpar"]) == [False, False, False, True, True, False]
    expected = np.array([
        [0, 1, 2, np.nan],  # rs1
        [0, 2, 1, 0],  # rs2 T copies
        [1, 0, 1, 0],  # rs2 G copies
        [1, 1, 1, 2],  # rs3: men hemizygous (haploid 1, diploid 1/1 -> 1), women 0/1/2
        [2, np.nan, 0, np.nan],  # rs4: the heterozygous man is set missing, '.' is missing
        [1, 1, 2, 0],  # rs5 in PAR1: diploid for everyone
    ]).T  # fmt: skip
    np.testing.assert_array_equal(g.dosage, expected)
    assert any("1 heterozygous chrX" in line for line in g.log)


def test_vcf_without_sex_codes_x_as_called(vcf):
    g = read_vcf(vcf)
    assert g.dosage[2, 3] == 2  # M2's diploid 1/1 kept as 2
    assert any("no sex given" in line for line in g.log)


def test_vcf_malformed_line_named(tmp_path):
    path = tmp_path / "bad.vcf"
    path.write_text(HEADER + RECORDS[0] + "\n1\tabc\trs9\tA\tG\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\t0/0\n")
    with pytest.raises(ValidationError, match=r"bad.vcf: line 7 .*abc.* is malformed"):
        read_vcf(path)
    short = tmp_path / "short.vcf"
    short.write_text(HEADER + RECORDS[0] + "\n" + RECORDS[1] + "\n1\t300\trs9\tA\tG\t.\tPASS\t.\tGT\t0/1\n")
    with pytest.raises(ValidationError, match=r"short.vcf: line 8 "):
        read_vcf(short)


def test_vcf_incomplete_sex_and_missing_file(vcf, tmp_path):
    with pytest.raises(ValidationError, match="no sex given"):
        read_vcf(vcf, sex={"F1": "F"})
    with pytest.raises(ValidationError, match="no such VCF"):
        read_vcf(tmp_path / "absent.vcf")


def test_table_mapping_and_errors(tmp_path):
    path = tmp_path / "clin.csv"
    pd.DataFrame({"PatID": ["007", "008"], "Age": [50, 60]}).to_csv(path, index=False)
    t = read_table(path, {"PatID": "patient_id", "Age": "age"})
    assert list(t.columns) == ["patient_id", "age"] and list(t["patient_id"]) == ["007", "008"]  # ids stay text
    with pytest.raises(ValidationError, match=r"clin.csv: column mapping names column\(s\) \['Patient'\]"):
        read_table(path, {"Patient": "patient_id"})
    with pytest.raises(ValidationError, match=r"clin.csv: required column\(s\) \['patient_id'\] not found"):
        read_table(path)
    pq = tmp_path / "clin.parquet"
    pd.DataFrame({"patient_id": ["a"], "x": [1.0]}).to_parquet(pq)
    assert read_table(pq)["x"].iloc[0] == 1.0
    with pytest.raises(ValidationError, match="unknown table format"):
        (tmp_path / "clin.xlsx").write_text("x")
        read_table(tmp_path / "clin.xlsx")


def test_long_timeseries_bad_value_names_line(tmp_path):
    path = tmp_path / "labs.csv"
    pd.DataFrame({"patient_id": ["a", "a", "b"], "visit": [0, 1, 0], "variable": ["hb"] * 3, "value": ["12.1", "oops", "13"]}).to_csv(path, index=False)
    with pytest.raises(ValidationError, match=r"column 'value' must be numeric; line 3 has 'oops'"):
        read_long_timeseries(path)


def test_link_samples_reports_and_refuses_no_match():
    link = link_samples("proteomics", ["S1", "S2", "QC1"], ["p1", "p2", "p3"], {"S1": "p1", "S2": "p2"})
    assert link.matched == {"S1": "p1", "S2": "p2"}
    assert link.unmatched == ("QC1",) and link.patients_missing == ("p3",)
    with pytest.raises(ValidationError, match="none of the 2 sample id"):
        link_samples("ecg", ["x", "y"], ["p1", "p2"])


def test_wfdb_round_trip_and_errors(small_sim, tmp_path):
    ecg = small_sim.cohort.ecg
    paths = write_wfdb(ecg, tmp_path / "ecg")
    back = read_wfdb(paths[:5], duration_s=ecg.duration_s)
    np.testing.assert_allclose(back.signals, ecg.signals[:5], atol=1e-3)  # 16-bit storage
    assert list(back.patient_id) == list(ecg.patient_id[:5])
    with pytest.raises(ValidationError, match=r"lead\(s\) \['V1'\] not in the record"):
        read_wfdb(paths[:1], leads=("V1",))
    with pytest.raises(ValidationError, match="shorter than duration_s"):
        read_wfdb(paths[:1], duration_s=ecg.duration_s + 1)


def test_iso_dates_in_text_files_are_read_as_dates(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("patient_id,enrol_date,visit_time,code\n1,2016-01-16,2016-01-16 08:30,2016-01\n2,,2017-02-01T10:00,x\n")
    table = read_table(path)
    assert str(table["enrol_date"].dtype).startswith("datetime64") and table["enrol_date"].isna().tolist() == [False, True]
    assert str(table["visit_time"].dtype).startswith("datetime64") and table["visit_time"][0].hour == 8
    assert not str(table["code"].dtype).startswith("datetime64")  # not every value is a date: left as text
