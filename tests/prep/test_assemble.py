import pytest
import yaml

from causalrx.exceptions import ValidationError
from causalrx.prep import prepare_cohort
from causalrx.prep.example import write_example_files


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return write_example_files(tmp_path_factory.mktemp("raw"), n=300, random_state=1)


def test_example_files_prepared_with_report(example, tmp_path):
    cohort, report = prepare_cohort(example)
    assert cohort.n_patients == 300  # the 5 exact duplicate clinical rows removed ...
    dup = report.duplicates.set_index("table")
    assert dup.loc["clinical", "exact_duplicates_removed"] == 5 and dup.loc["clinical", "rows_read"] == 305  # ... and counted
    link = report.linkage.set_index("modality")
    assert link.loc["proteomics", "samples_unmatched"] == 3  # the QC samples of nobody, counted
    assert link.loc["genotypes", "samples_matched"] == len(cohort.genomics)
    assert any("read as umol/L" in line for line in report.units)
    assert cohort.clinical["creatinine"].max() < 25  # every creatinine now in mg/dL
    assert report.genotype_qc["variants_in"] == len(cohort.variants)
    assert "smd_" + cohort.action_names[1] in report.baseline.columns
    path = report.save(tmp_path)
    assert "## Unit harmonisation" in path.read_text()


def test_bad_mapping_and_unmatched_ids(example, tmp_path):
    spec = yaml.safe_load(example.read_text())
    base = example.parent
    bad = {**spec, "clinical": {"path": str(base / "clinical.csv"), "mapping": {"PatientNumber": "patient_id"}}}
    with pytest.raises(ValidationError, match=r"clinical.csv: column mapping names column\(s\) \['PatientNumber'\]"):
        prepare_cohort(bad)
    no_map = base / "no_map.yaml"  # proteomics sample ids without their id map
    no_map.write_text(yaml.safe_dump({**spec, "proteomics": {"path": "proteomics.csv"}}))
    with pytest.raises(ValidationError, match="proteomics.csv: none of the .* sample id"):
        prepare_cohort(no_map)
    with pytest.raises(ValidationError, match="unknown section"):
        prepare_cohort({**spec, "genome": {}})
