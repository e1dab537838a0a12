"""Data preparation: files -> validated Cohort (with a QC report) -> complete feature table.

- :func:`prepare_cohort` reads a spec of files (tables, VCF, WFDB, long time series), links
  sample ids, removes exact duplicates, harmonises lab units and reports all of it;
- :class:`GenotypeQC`, :func:`hwe_exact`: call rates, MAF, exact Hardy-Weinberg, sex-aware X;
- :func:`diplotype_phenotype`, :func:`polygenic_score`: CPIC phenotypes and PRS;
- :class:`ComBat`, :func:`log_intensities`, :class:`LowRankImputer`: proteomics;
- :func:`ecg_rhythm_features`: heart rate and RR variability of ECG records;
- :class:`Preprocessor`: fitted on the training split, applied unchanged to new patients.
"""

from causalrx.prep.assemble import prepare_cohort
from causalrx.prep.ecg import ecg_rhythm_features
from causalrx.prep.genotype import GenotypeQC, genotype_counts, hwe_exact
from causalrx.prep.impute import LowRankImputer
from causalrx.prep.pharmacogenes import diplotype_activity, diplotype_phenotype, polygenic_score
from causalrx.prep.preprocessor import Preprocessor
from causalrx.prep.proteomics import ComBat, log_intensities
from causalrx.prep.report import QCReport, baseline_table, deduplicate, missingness
from causalrx.prep.units import harmonise_units

__all__ = [
    "ComBat", "GenotypeQC", "LowRankImputer", "Preprocessor", "QCReport", "baseline_table", "deduplicate",
    "diplotype_activity", "diplotype_phenotype", "ecg_rhythm_features", "genotype_counts", "harmonise_units", "hwe_exact", "log_intensities", "missingness",
    "polygenic_score", "prepare_cohort",
]  # fmt: skip
