"""Model inputs of one modality, prepared with statistics of the training patients only.

Each modality becomes arrays in the cohort's clinical order: standardised numbers (missing
values set to 0 with a missing-indicator column), integer codes of categorical columns
(0 = missing or unseen in training), the raw ECG waveform, and a presence flag. Only
baseline, pre-treatment tables are read: ``clinical``, ``genomics``, ``proteomics`` and
``ecg``; treatments and outcomes never are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from causalrx.data.schema import MODALITIES, PATIENT_ID, Cohort
from causalrx.exceptions import ValidationError

NON_FEATURES = (PATIENT_ID, "batch")


@dataclass(frozen=True)
class ModalityArrays:
    """Arrays of one modality for a set of patients (rows in the order requested)."""

    numeric: np.ndarray  # float32 (n, p)
    categorical: np.ndarray  # int64 (n, c), 0 = missing / unseen
    present: np.ndarray  # bool (n,)
    signal: np.ndarray | None = None  # float32 (n, leads, samples), ECG only


def row_positions(cohort: Cohort, patients) -> np.ndarray:
    """Positions in clinical order of ``patients`` (all patients when None); unknown ids are an error."""
    ids = pd.Index(cohort.clinical[PATIENT_ID])
    if patients is None:
        return np.arange(len(ids))
    pos = ids.get_indexer(pd.Index(np.asarray(patients)))
    if (pos < 0).any():
        unknown = np.asarray(patients)[pos < 0][:3].tolist()
        raise ValidationError(f"patients: {int((pos < 0).sum())} id(s) are not in the cohort (e.g. {unknown})")
    return pos


class ModalityInputs:
    """Fit input statistics of one modality on training patients; give arrays for any patients.

    Parameters
    ----------
    modality : {"clinical", "genomics", "proteomics", "ecg"}
    log_proteins : bool
        Proteomics only: take log2 of intensities (non-positive readings become missing).
    combat : bool
        Proteomics only: remove batch effects with :class:`causalrx.prep.ComBat` fitted on
        the training patients, when the table has a ``batch`` column.
    """

    def __init__(self, modality: str, *, log_proteins: bool = True, combat: bool = True) -> None:
        if modality not in MODALITIES:
            raise ValidationError(f"modality: expected one of {MODALITIES}, got {modality!r}")
        self.modality = modality
        self.log_proteins = log_proteins
        self.combat = combat

    # ------------------------------------------------------------------ tables
    def _table(self, cohort: Cohort, pos: np.ndarray) -> tuple[pd.DataFrame, np.ndarray]:
        table = getattr(cohort, self.modality)
        ids = pd.Index(cohort.clinical[PATIENT_ID]).take(pos)
        if table is None:
            return pd.DataFrame(index=ids), np.zeros(len(pos), bool)
        frame = table.set_index(PATIENT_ID).reindex(ids)
        return frame, ids.isin(table[PATIENT_ID]).astype(bool) if self.modality != "clinical" else np.ones(len(pos), bool)

    def _numeric_block(self, frame: pd.DataFrame, present: np.ndarray) -> np.ndarray:
        values = np.full((len(frame), len(self.numeric_columns_)), np.nan)
        for j, c in enumerate(self.numeric_columns_):
            if c in frame.columns:
                values[:, j] = _as_float(frame[c])
        if self.modality == "proteomics":
            if self.log_proteins:
                with np.errstate(invalid="ignore", divide="ignore"):
                    values = np.where(values > 0, np.log2(values), np.nan)
            if self.combat_ is not None:
                rows = present & ~np.isnan(values).all(axis=1)
                batch = frame["batch"].astype(str).to_numpy()
                known = np.isin(batch, self.combat_.batches_)
                fix = rows & known
                if fix.any():
                    values[fix] = self.combat_.transform(values[fix], batch[fix])
        return values

    def fit(self, cohort: Cohort, patients) -> ModalityInputs:
        pos = row_positions(cohort, patients)
        self.fitted_on_ = pos.copy()
        if self.modality == "ecg":
            return self._fit_ecg(cohort, pos)
        frame, present = self._table(cohort, pos)
        frame = frame.loc[present]
        feature_cols = [c for c in frame.columns if c not in NON_FEATURES]
        categorical = [c for c in feature_cols if _is_text(frame[c])]
        self.numeric_columns_ = [c for c in feature_cols if c not in categorical]
        self.categories_ = {c: sorted(frame[c].dropna().astype(str).unique()) for c in categorical}
        self.combat_ = None
        if self.modality == "proteomics" and self.combat and "batch" in frame.columns and len(frame):
            from causalrx.prep.proteomics import ComBat

            raw = self._numeric_block(frame, np.ones(len(frame), bool))
            ok = ~np.isnan(raw).all(axis=1)
            self.combat_ = ComBat().fit(raw[ok], frame["batch"].astype(str).to_numpy()[ok])
        values = self._numeric_block(frame, np.ones(len(frame), bool))
        with np.errstate(invalid="ignore"):
            self.mean_ = np.nan_to_num(np.nanmean(values, axis=0)) if len(values) else np.zeros(values.shape[1])
            sd = np.nanstd(values, axis=0) if len(values) else np.ones(values.shape[1])
        self.scale_ = np.where(np.isfinite(sd) & (sd > 1e-8), sd, 1.0)
        self.indicator_columns_ = np.flatnonzero(np.isnan(values).any(axis=0))
        return self

    def _fit_ecg(self, cohort: Cohort, pos: np.ndarray) -> ModalityInputs:
        if cohort.ecg is None:
            raise ValidationError("ecg: the cohort has no ECG waveforms to fit an ECG encoder on")
        signals, present = self._signals(cohort, pos)
        if not present.any():
            raise ValidationError("ecg: none of the training patients has an ECG record")
        train = signals[present]
        self.leads_ = cohort.ecg.leads
        self.fs_ = cohort.ecg.fs
        self.n_samples_ = signals.shape[2]
        self.mean_ = train.mean(axis=(0, 2))
        self.scale_ = np.maximum(train.std(axis=(0, 2)), 1e-6)
        self.numeric_columns_, self.categories_, self.indicator_columns_ = [], {}, np.array([], int)
        return self

    @staticmethod
    def _signals(cohort: Cohort, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ecg = cohort.ecg
        ids = pd.Index(cohort.clinical[PATIENT_ID]).take(pos)
        where = pd.Index(ecg.patient_id).get_indexer(ids)
        present = where >= 0
        signals = np.zeros((len(pos), ecg.signals.shape[1], ecg.signals.shape[2]), dtype=np.float32)
        signals[present] = ecg.signals[where[present]]
        return signals, present

    def transform(self, cohort: Cohort, patients=None) -> ModalityArrays:
        if not hasattr(self, "mean_"):
            raise ValidationError(f"{self.modality} inputs: call fit before transform")
        pos = row_positions(cohort, patients)
        if self.modality == "ecg":
            if cohort.ecg is None:
                return ModalityArrays(np.zeros((len(pos), 0), np.float32), np.zeros((len(pos), 0), np.int64), np.zeros(len(pos), bool),
                                      np.zeros((len(pos), len(self.leads_), self.n_samples_), np.float32))  # fmt: skip
            if cohort.ecg.leads != self.leads_ or cohort.ecg.signals.shape[2] != self.n_samples_ or cohort.ecg.fs != self.fs_:
                raise ValidationError(
                    f"ecg: records have leads {cohort.ecg.leads}, {cohort.ecg.signals.shape[2]} samples at {cohort.ecg.fs} Hz; "
                    f"the encoder was fitted on {self.leads_}, {self.n_samples_} samples at {self.fs_} Hz"
                )
            signals, present = self._signals(cohort, pos)
            signals = (signals - self.mean_[None, :, None]) / self.scale_[None, :, None]
            signals[~present] = 0.0
            empty = np.zeros((len(pos), 0))
            return ModalityArrays(empty.astype(np.float32), empty.astype(np.int64), present, signals.astype(np.float32))
        frame, present = self._table(cohort, pos)
        values = self._numeric_block(frame, present) if len(frame.columns) else np.full((len(pos), len(self.numeric_columns_)), np.nan)
        missing = np.isnan(values)
        z = np.where(missing, 0.0, (values - self.mean_) / self.scale_)
        numeric = np.hstack([z, missing[:, self.indicator_columns_]]).astype(np.float32)
        numeric[~present] = 0.0
        codes = np.zeros((len(pos), len(self.categories_)), dtype=np.int64)
        for j, (c, levels) in enumerate(self.categories_.items()):
            if c in frame.columns:
                lookup = {v: i + 1 for i, v in enumerate(levels)}
                codes[:, j] = [lookup.get(str(v), 0) if pd.notna(v) else 0 for v in frame[c].to_numpy()]
        codes[~present] = 0
        return ModalityArrays(numeric, codes, present)

    @property
    def n_numeric(self) -> int:
        return len(self.numeric_columns_) + len(self.indicator_columns_)

    @property
    def cardinalities(self) -> list[int]:
        return [len(v) + 1 for v in self.categories_.values()]

    @property
    def feature_names(self) -> list[str]:
        return list(self.numeric_columns_) + [f"{self.numeric_columns_[j]}_missing" for j in self.indicator_columns_]


def _is_text(col: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col) or pd.api.types.is_datetime64_any_dtype(col))


def _as_float(col: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(col):
        ts = col.dt.year + (col.dt.day_of_year - 1) / 365.25
        return ts.to_numpy(dtype=float, na_value=np.nan)
    return pd.to_numeric(col, errors="raise").to_numpy(dtype=float, na_value=np.nan)
