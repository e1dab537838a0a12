"""Readers that turn users' files into the pieces of a :class:`~causalrx.data.schema.Cohort`.

- tables (CSV/TSV/Parquet) with a column mapping: :func:`read_table`;
- long-format time series: :func:`read_long_timeseries`;
- VCF/BCF genotypes (cyvcf2): :func:`read_vcf` -> :class:`GenotypeMatrix`;
- WFDB ECG records (wfdb): :func:`read_wfdb`;
- sample-id linkage across modalities: :func:`link_samples` -> :class:`Linkage`.
"""

from causalrx.data.io.ecg import read_wfdb, write_wfdb
from causalrx.data.io.tables import Linkage, apply_mapping, link_samples, read_long_timeseries, read_table
from causalrx.data.io.vcf import GenotypeMatrix, normalise_chrom, read_vcf, vcf_samples, write_vcf, x_nonpar

__all__ = [
    "GenotypeMatrix", "Linkage", "apply_mapping", "link_samples", "normalise_chrom", "read_long_timeseries",
    "read_table", "read_vcf", "read_wfdb", "vcf_samples", "write_vcf", "write_wfdb", "x_nonpar",
]  # fmt: skip
