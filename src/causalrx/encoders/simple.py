"""Encoders without a network: standardised raw features, and a stack of per-modality encoders."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone

from causalrx.data.schema import MODALITIES, Cohort
from causalrx.encoders.base import EncoderIO, get_encoder, resolve_split
from causalrx.encoders.inputs import ModalityInputs, row_positions
from causalrx.exceptions import ValidationError


class PassthroughEncoder(EncoderIO, BaseEstimator):
    """The baseline "embedding": standardised raw tabular features.

    Numbers are standardised with training means and SDs (missing set to 0 plus a
    missing-indicator column), categorical columns one-hot encoded with the training
    levels, and a presence flag added per optional modality. Proteins are log2 and
    ComBat-corrected first, as in :class:`NeuralEncoder`. Reads pre-treatment tables only
    and learns every statistic from the training patients.
    """

    def __init__(self, modalities=("clinical", "genomics", "proteomics")) -> None:
        self.modalities = modalities

    def fit(self, cohort: Cohort, split) -> PassthroughEncoder:
        split = resolve_split(cohort, split, 0.2, 0)
        ids = np.concatenate([split.train, split.validation])
        chosen = tuple(m for m in self.modalities if m == "clinical" or getattr(cohort, m) is not None)
        bad = [m for m in chosen if m not in MODALITIES or m == "ecg"]
        if bad:
            raise ValidationError(f"modalities: passthrough encodes tabular modalities only, got {bad}")
        self.inputs_ = {m: ModalityInputs(m).fit(cohort, ids) for m in chosen}
        self.n_features_out_ = self.transform(cohort, ids[:1]).shape[1]
        return self

    def transform(self, cohort: Cohort, patients=None) -> np.ndarray:
        if not hasattr(self, "inputs_"):
            raise ValidationError("PassthroughEncoder: call fit before transform")
        parts = []
        for m, prep in self.inputs_.items():
            arr = prep.transform(cohort, patients)
            parts.append(arr.numeric)
            for j, card in enumerate(prep.cardinalities):
                parts.append(np.eye(card, dtype=np.float32)[arr.categorical[:, j]][:, 1:])
            if m != "clinical":
                parts.append(arr.present[:, None].astype(np.float32))
        return np.hstack(parts)

    def get_feature_names_out(self) -> list[str]:
        names = []
        for m, prep in self.inputs_.items():
            prefix = "" if m == "clinical" else f"{m}."
            names += [prefix + c for c in prep.feature_names]
            for c, levels in prep.categories_.items():
                names += [f"{prefix}{c}={v}" for v in levels]
            if m != "clinical":
                names.append(f"has_{m}")
        return names


class ModalityStack(EncoderIO, BaseEstimator):
    """One encoder per modality, chosen by registered name, concatenated with presence flags.

    Parameters
    ----------
    encoders : dict
        Modality -> registered encoder name, or -> ``{"name": ..., **params}``, or an
        unfitted encoder object.

    Examples
    --------
    ``ModalityStack({"clinical": "tabular", "ecg": {"name": "ecg", "embed_dim": 8}})``
    """

    def __init__(self, encoders: dict | None = None) -> None:
        self.encoders = encoders

    def _build(self, spec):
        if isinstance(spec, str):
            return get_encoder(spec)
        if isinstance(spec, dict):
            params = dict(spec)
            if "name" not in params:
                raise ValidationError(f"encoders: a dict spec needs a 'name', got {sorted(params)}")
            return get_encoder(params.pop("name"), **params)
        return clone(spec) if isinstance(spec, BaseEstimator) else spec

    def fit(self, cohort: Cohort, split) -> ModalityStack:
        if not self.encoders:
            raise ValidationError("encoders: expected a mapping of modality -> encoder, got none")
        unknown = [m for m in self.encoders if m not in MODALITIES]
        if unknown:
            raise ValidationError(f"encoders: unknown modality {unknown}; expected some of {MODALITIES}")
        self.fitted_ = {m: self._build(spec).fit(cohort, split) for m, spec in self.encoders.items()}
        return self

    def transform(self, cohort: Cohort, patients=None) -> np.ndarray:
        if not hasattr(self, "fitted_"):
            raise ValidationError("ModalityStack: call fit before transform")
        pos = row_positions(cohort, patients)
        presence = cohort.modality_presence().to_numpy(dtype=np.float32)[pos]
        return np.hstack([enc.transform(cohort, patients) for enc in self.fitted_.values()] + [presence])
