"""One scikit-learn transformer from a :class:`~causalrx.data.schema.Cohort` to a complete,
numeric patient-by-feature table, fitted on training patients only.

``fit(cohort, patients=train_ids)`` learns everything from the training patients: which
variants pass genotype QC, ComBat's batch effects, imputation models, medians, one-hot
levels and which columns get missing-indicator columns. ``transform(cohort, patients)``
applies exactly that to any patients (validation, test, new ones). Nothing fitted ever sees
a non-training row.

Output columns: clinical features (one-hot text, medians imputed, ``missing.<col>``
indicators); ``has_<modality>`` presence flags; genotype dosages that passed QC (missing
calls -> 2 x training allele frequency) and the other genomics columns; proteins
(log2 -> ComBat -> imputed, with ``missing.<protein>`` indicators); the ECG's rhythm
(``ecg.heart_rate_bpm``, ``ecg.rr_sd_ms`` from detected R peaks,
:func:`~causalrx.prep.ecg.ecg_rhythm_features`). A patient without a
modality gets the training means for that modality's columns and ``has_<modality> = 0``:
absence is explicit, not a silent zero.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.impute import KNNImputer

from causalrx.data.io.vcf import x_nonpar
from causalrx.data.schema import PATIENT_ID, Cohort, numeric_features
from causalrx.exceptions import ValidationError
from causalrx.prep.ecg import RHYTHM_COLUMNS, ecg_rhythm_features
from causalrx.prep.genotype import GenotypeQC
from causalrx.prep.impute import LowRankImputer
from causalrx.prep.proteomics import ComBat, log_intensities

IMPUTERS = ("lowrank", "knn", "median")


class Preprocessor(TransformerMixin, BaseEstimator):
    """Cohort -> complete numeric feature table; fitted on the training split only.

    Parameters
    ----------
    genotype_qc : GenotypeQC or None
        Variant filters (None keeps every variant).
    combat : bool
        Batch-correct proteins on the proteomics table's ``batch`` column.
    imputer : {'lowrank', 'knn', 'median'}
        How missing proteins are filled (clinical columns always use training medians).
    rank : int
        Rank of the low-rank imputer.
    missing_indicators : bool
        Add ``missing.<col>`` for every column that had missing values in training.
    ecg_rhythm : bool
        Add heart rate and RR variability measured on the ECG records (patients without a
        record, or whose rhythm could not be determined, get the training medians; the
        latter are flagged by ``missing.ecg.<col>`` when training had any).
    random_state : int, optional
    """

    def __init__(self, genotype_qc: GenotypeQC | None = None, combat: bool = True, imputer: str = "lowrank", rank: int = 10,
                 missing_indicators: bool = True, ecg_rhythm: bool = True, random_state=None):  # fmt: skip
        self.genotype_qc = genotype_qc
        self.combat = combat
        self.imputer = imputer
        self.rank = rank
        self.missing_indicators = missing_indicators
        self.ecg_rhythm = ecg_rhythm
        self.random_state = random_state

    # ----------------------------------------------------------------- helpers
    @staticmethod
    def _rows(cohort: Cohort, patients) -> pd.Index:
        ids = pd.Index(cohort.patient_ids if patients is None else [str(p) for p in patients], name=PATIENT_ID)
        unknown = ids[~ids.isin(cohort.patient_ids)]
        if len(unknown):
            raise ValidationError(f"patients: {len(unknown)} id(s) are not in the cohort (e.g. {list(unknown[:3])})")
        return ids

    @staticmethod
    def _modality(cohort: Cohort, name: str, ids: pd.Index) -> pd.DataFrame | None:
        table = getattr(cohort, name)
        return None if table is None else table.set_index(PATIENT_ID).reindex(ids)

    def _genomic_split(self, cohort: Cohort) -> tuple[list[str], list[str]]:
        g = cohort.genomics.drop(columns=[PATIENT_ID])
        dosage = [v for v in (cohort.variants["variant_id"] if cohort.variants is not None else []) if v in g.columns]
        return dosage, [c for c in g.columns if c not in dosage]

    def _proteins(self, table: pd.DataFrame) -> list[str]:
        return [c for c in table.columns if c != "batch" and pd.api.types.is_numeric_dtype(table[c])]

    # ---------------------------------------------------------------- fit
    def fit(self, cohort: Cohort, y=None, *, patients=None) -> Preprocessor:
        if self.imputer not in IMPUTERS:
            raise ValidationError(f"imputer: expected one of {IMPUTERS}, got {self.imputer!r}")
        ids = self._rows(cohort, patients)
        self.modalities_ = [m for m in ("genomics", "proteomics") if getattr(cohort, m) is not None]
        self.has_ecg_ = cohort.ecg is not None
        clinical, self.levels_ = numeric_features(self._modality(cohort, "clinical", ids))
        self.medians_ = clinical.median()
        self.clinical_missing_ = [c for c in clinical.columns if clinical[c].isna().any()]
        if "genomics" in self.modalities_:
            self._fit_genomics(cohort, ids)
        if "proteomics" in self.modalities_:
            self._fit_proteomics(cohort, ids)
        self.rhythm_medians_ = None
        if self.has_ecg_ and self.ecg_rhythm:
            rhythm = self._rhythm(cohort, ids)
            self.rhythm_medians_ = rhythm.median().fillna(0.0)  # NaN only if no training record was readable
            self.rhythm_missing_ = [c for c in rhythm.columns if rhythm[c].isna().any()]
        self.n_train_ = len(ids)
        return self

    def _fit_genomics(self, cohort: Cohort, ids: pd.Index) -> None:
        present = ids[ids.isin(cohort.genomics[PATIENT_ID])]
        g = self._modality(cohort, "genomics", present)
        dosage_cols, other = self._genomic_split(cohort)
        D = g[dosage_cols].to_numpy(dtype=np.float32)
        variants = cohort.variants.set_index("variant_id").loc[dosage_cols]
        xs = x_nonpar(variants["chrom"].astype(str).to_numpy(), variants["pos"].to_numpy())
        male = (cohort.clinical.set_index(PATIENT_ID).loc[present, "sex"].astype(str).str.upper().str[:1] == "M").to_numpy() \
            if "sex" in cohort.clinical.columns else np.zeros(len(present), bool)  # fmt: skip
        if self.genotype_qc is not None and dosage_cols:
            qc = self.genotype_qc.fit(D, dosage_cols, x_nonpar=xs, male=male, sample_ids=present.to_numpy())
            self.genotype_qc_result_ = qc.result_
            self.variants_kept_ = [v for v, k in zip(dosage_cols, qc.keep_) if k]
        else:
            self.genotype_qc_result_ = None
            self.variants_kept_ = dosage_cols
        kept = g[self.variants_kept_].to_numpy(dtype=np.float64)
        self.dosage_means_ = pd.Series(np.nan_to_num(np.nanmean(kept, axis=0)) if kept.size else [], index=self.variants_kept_)
        self.genomic_other_ = other
        other_num, self.genomic_levels_ = numeric_features(g[other])
        self.genomic_medians_ = other_num.median()

    def _fit_proteomics(self, cohort: Cohort, ids: pd.Index) -> None:
        present = ids[ids.isin(cohort.proteomics[PATIENT_ID])]
        p = self._modality(cohort, "proteomics", present)
        self.proteins_ = self._proteins(p)
        Y, self.nonpositive_train_ = log_intensities(p[self.proteins_].to_numpy())
        self.protein_missing_ = [c for c, m in zip(self.proteins_, np.isnan(Y).any(axis=0)) if m]
        if self.combat:
            if "batch" not in p.columns:
                raise ValidationError("proteomics: combat=True needs a 'batch' column")
            self.combat_ = ComBat().fit(Y, p["batch"].astype(str))
            Y = self.combat_.transform(Y, p["batch"].astype(str))
        if self.imputer == "lowrank":
            self.protein_imputer_ = LowRankImputer(rank=self.rank, random_state=self.random_state).fit(Y)
        elif self.imputer == "knn":
            self.protein_imputer_ = KNNImputer(n_neighbors=10).fit(Y)
        else:
            self.protein_imputer_ = None
        self.protein_means_ = np.nanmean(Y, axis=0)

    # ----------------------------------------------------------- transform
    def transform(self, cohort: Cohort, patients=None) -> pd.DataFrame:
        if not hasattr(self, "medians_"):
            raise ValidationError("Preprocessor: call fit before transform")
        ids = self._rows(cohort, patients)
        clinical, _ = numeric_features(self._modality(cohort, "clinical", ids), self.levels_)
        clinical = clinical.reindex(columns=self.medians_.index)
        parts = [clinical.fillna(self.medians_)]
        if self.missing_indicators and self.clinical_missing_:
            parts.append(clinical[self.clinical_missing_].isna().astype(float).add_prefix("missing."))
        presence = cohort.modality_presence().reindex(ids)
        for name in self.modalities_ + (["ecg"] if self.has_ecg_ else []):
            parts.append(pd.DataFrame({f"has_{name}": presence[name].astype(float).to_numpy()}, index=ids))
        if "genomics" in self.modalities_:
            parts.append(self._transform_genomics(cohort, ids))
        if "proteomics" in self.modalities_:
            parts += self._transform_proteomics(cohort, ids)
        if self.rhythm_medians_ is not None:
            rhythm = self._rhythm(cohort, ids)
            undetermined = rhythm.isna().reindex(ids, fill_value=False)  # a record whose rhythm was unreadable
            parts.append(rhythm.reindex(ids).fillna(self.rhythm_medians_).add_prefix("ecg."))
            if self.missing_indicators and self.rhythm_missing_:
                parts.append(undetermined[self.rhythm_missing_].astype(float).add_prefix("missing.ecg."))
        return pd.concat(parts, axis=1)

    @staticmethod
    def _rhythm(cohort: Cohort, ids: pd.Index) -> pd.DataFrame:
        """Rhythm features of the patients ``ids`` who have an ECG record (others: absent rows, not NaN)."""
        ecg = cohort.ecg
        has = pd.Index(np.asarray(ecg.patient_id).astype(str))
        keep = np.flatnonzero(has.isin(ids))
        if not len(keep):
            return pd.DataFrame(columns=list(RHYTHM_COLUMNS), index=pd.Index([], name=PATIENT_ID), dtype=float)
        sub = type(ecg)(patient_id=np.asarray(ecg.patient_id)[keep], signals=ecg.signals[keep], fs=ecg.fs, leads=ecg.leads)
        return ecg_rhythm_features(sub)

    def _transform_genomics(self, cohort: Cohort, ids: pd.Index) -> pd.DataFrame:
        g = self._modality(cohort, "genomics", ids)
        dos = g[self.variants_kept_].astype(float).fillna(self.dosage_means_)
        other, _ = numeric_features(g[self.genomic_other_], self.genomic_levels_)
        other = other.reindex(columns=self.genomic_medians_.index).fillna(self.genomic_medians_)
        return pd.concat([dos, other.add_prefix("genomics.")], axis=1)

    def _transform_proteomics(self, cohort: Cohort, ids: pd.Index) -> list[pd.DataFrame]:
        p = self._modality(cohort, "proteomics", ids)
        present = p.index.isin(cohort.proteomics[PATIENT_ID])
        Y, _ = log_intensities(p[self.proteins_].to_numpy())
        miss = np.isnan(Y)
        filled = np.tile(self.protein_means_, (len(Y), 1))
        if present.any():
            Yp = Y[present]
            if self.combat:
                Yp = self.combat_.transform(Yp, p.loc[present, "batch"].astype(str))
            if self.protein_imputer_ is not None:
                Yp = self.protein_imputer_.transform(Yp)
            filled[present] = np.where(np.isnan(Yp), self.protein_means_, Yp)
        out = [pd.DataFrame(filled, index=ids, columns=[f"proteomics.{c}" for c in self.proteins_])]
        if self.missing_indicators and self.protein_missing_:
            cols = [self.proteins_.index(c) for c in self.protein_missing_]
            ind = np.where(present[:, None], miss[:, cols], 0.0).astype(float)
            out.append(pd.DataFrame(ind, index=ids, columns=[f"missing.proteomics.{c}" for c in self.protein_missing_]))
        return out
