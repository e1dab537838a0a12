"""The encoder contract, training/validation splits, persistence and the registry.

Rules every encoder follows (built-in or plugged in):

1. It reads pre-treatment inputs only: the baseline ``clinical``, ``genomics``,
   ``proteomics`` and ``ecg`` data of a :class:`~causalrx.data.Cohort`; never the logged
   treatments, and outcomes only as training labels.
2. ``fit(cohort, split)`` learns from the training patients of ``split`` only
   (standardisation, batch correction, vocabularies, weights, early stopping).
3. Embeddings used as covariates of effect estimation are produced out of fold
   (:func:`causalrx.encoders.out_of_fold_embeddings`), so a patient's embedding never
   comes from a model that saw that patient's label.

Plug in an encoder by name with :func:`register_encoder`, or from another package with an
entry point in the group ``causalrx.encoders``::

    [project.entry-points."causalrx.encoders"]
    my_ecg = "my_package.ecg:MyEcgEncoder"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from causalrx.data.schema import PATIENT_ID, Cohort
from causalrx.data.storage import load_object, save_object
from causalrx.exceptions import ValidationError

ENTRY_POINT_GROUP = "causalrx.encoders"


@runtime_checkable
class Encoder(Protocol):
    """What :mod:`causalrx` needs from an encoder."""

    def fit(self, cohort: Cohort, split) -> Encoder: ...

    def transform(self, cohort: Cohort, patients=None) -> np.ndarray: ...

    def save(self, path: str | Path) -> Path: ...


@dataclass(frozen=True)
class Split:
    """Patient ids used to fit (``train``) and to stop early (``validation``); both are training data."""

    train: np.ndarray
    validation: np.ndarray

    def __post_init__(self) -> None:
        overlap = np.intersect1d(self.train, self.validation)
        if len(overlap):
            raise ValidationError(f"split: {len(overlap)} patient(s) are in both train and validation (e.g. {overlap[:3].tolist()})")


def resolve_split(cohort: Cohort, split, validation_fraction: float, random_state) -> Split:
    """A :class:`Split` from a Split or from training ids (validation drawn from them)."""
    known = pd.Index(cohort.clinical[PATIENT_ID])
    if isinstance(split, Split):
        result = split
    else:
        ids = np.asarray(split)
        if ids.ndim != 1 or len(ids) < 10:
            raise ValidationError(f"split: expected at least 10 training patient ids, got {ids.shape}")
        if len(np.unique(ids)) != len(ids):
            raise ValidationError("split: training patient ids repeat")
        rng = np.random.default_rng(random_state)
        order = rng.permutation(len(ids))
        n_val = max(int(round(validation_fraction * len(ids))), 2)
        result = Split(train=ids[np.sort(order[n_val:])], validation=ids[np.sort(order[:n_val])])
    unknown = ~pd.Index(np.concatenate([result.train, result.validation])).isin(known)
    if unknown.any():
        raise ValidationError(f"split: {int(unknown.sum())} patient id(s) are not in the cohort")
    return result


def train_test_ids(cohort: Cohort, test_fraction: float = 0.3, random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, test) patient ids of a cohort."""
    ids = cohort.patient_ids
    order = np.random.default_rng(random_state).permutation(len(ids))
    n_test = int(round(test_fraction * len(ids)))
    return ids[np.sort(order[n_test:])], ids[np.sort(order[:n_test])]


class EncoderIO:
    """``save`` / ``load`` by pickling the whole fitted encoder with :func:`torch.save`.

    Loading unpickles Python objects: load only files you trust.
    """

    def save(self, path: str | Path) -> Path:
        return save_object(self, path)

    @classmethod
    def load(cls, path: str | Path):
        return load_object(path, cls, "encoder")


_REGISTRY: dict[str, Callable[..., Encoder]] = {}


def register_encoder(name: str, factory: Callable[..., Encoder], *, overwrite: bool = False) -> None:
    """Make ``factory(**params)`` available as ``get_encoder(name, **params)`` and in configs."""
    if not isinstance(name, str) or not name:
        raise ValidationError(f"name: expected a non-empty string, got {name!r}")
    if not callable(factory):
        raise ValidationError(f"factory for {name!r}: expected a class or callable, got {type(factory).__name__}")
    if name in _REGISTRY and not overwrite:
        raise ValidationError(f"encoder {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = factory


def available_encoders() -> list[str]:
    """Registered names plus those offered by installed packages' entry points."""
    return sorted(set(_REGISTRY) | {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def get_encoder(name: str, **params) -> Encoder:
    """A new, unfitted encoder by registered or entry-point name."""
    if name not in _REGISTRY:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name == name:
                _REGISTRY[name] = ep.load()
                break
    if name not in _REGISTRY:
        raise ValidationError(f"encoder {name!r} is not registered; available: {available_encoders()}")
    encoder = _REGISTRY[name](**params)
    missing = [m for m in ("fit", "transform") if not callable(getattr(encoder, m, None))]
    if missing:
        raise ValidationError(f"encoder {name!r}: {type(encoder).__name__} lacks {missing} of the Encoder protocol")
    return encoder
