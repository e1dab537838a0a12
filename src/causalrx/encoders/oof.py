"""Out-of-fold embeddings: every patient embedded by an encoder that never saw them."""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import KFold
from tqdm.auto import tqdm

from causalrx.data.schema import Cohort
from causalrx.exceptions import ValidationError


@dataclass(frozen=True)
class OutOfFoldEmbeddings:
    """``Z`` (n, d) in clinical order; ``fold`` of each patient; the fitted encoders per fold."""

    Z: np.ndarray
    fold: np.ndarray
    encoders: tuple
    aligned: bool


def out_of_fold_embeddings(encoder, cohort: Cohort, *, n_folds: int = 5, align: bool = True, random_state=0,
                           progress: bool = False) -> OutOfFoldEmbeddings:  # fmt: skip
    """Embed each patient with an encoder fitted on the other folds.

    Different fold models embed into different coordinate systems. With ``align=True``
    each fold model's space is mapped to fold 0's model by an affine least-squares map
    ``z -> [z, 1] W`` fitted on the patients that *both* models trained on (those outside
    fold 0 and fold k), so the map never uses fold k either: a patient's embedding depends
    on its own features but not on its own label. (An orthogonal Procrustes rotation was
    the first candidate; the affine map kept more signal across folds in our checks,
    because fold models also differ in scale.) Needs ``n_folds >= 3``. Encoders whose output is already comparable across fits (e.g.
    :class:`PassthroughEncoder`) can use ``align=False``.
    """
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 2:
        raise ValidationError(f"n_folds: expected an integer >= 2, got {n_folds!r}")
    if align and n_folds < 3:
        raise ValidationError("n_folds: alignment needs at least 3 folds (patients shared by two fold models)")
    ids = cohort.patient_ids
    fold = np.empty(len(ids), dtype=int)
    for k, (_, test) in enumerate(KFold(n_folds, shuffle=True, random_state=random_state).split(ids)):
        fold[test] = k
    fitted = []
    for k in tqdm(range(n_folds), desc="out-of-fold encoders", disable=not progress):
        model = clone(encoder) if isinstance(encoder, BaseEstimator) else copy.deepcopy(encoder)
        fitted.append(model.fit(cohort, ids[fold != k]))
    Z = None
    for k, model in enumerate(fitted):
        z_k = np.asarray(model.transform(cohort, ids[fold == k]), dtype=float)
        if align and k > 0:
            shared = ids[(fold != 0) & (fold != k)]
            a, b = np.asarray(model.transform(cohort, shared), float), np.asarray(fitted[0].transform(cohort, shared), float)
            W = np.linalg.lstsq(np.column_stack([a, np.ones(len(a))]), b, rcond=None)[0]
            z_k = np.column_stack([z_k, np.ones(len(z_k))]) @ W
        if Z is None:
            Z = np.empty((len(ids), z_k.shape[1]))
        if z_k.shape[1] != Z.shape[1]:
            raise ValidationError(
                f"fold {k}: the encoder gives {z_k.shape[1]} columns but fold 0's gives {Z.shape[1]}; out-of-fold embeddings "
                "need a fixed output width (e.g. categorical levels seen in some folds only change a passthrough encoder's width)"
            )
        Z[fold == k] = z_k
    return OutOfFoldEmbeddings(Z=Z, fold=fold, encoders=tuple(fitted), aligned=bool(align))
