import dataclasses

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from causalrx.encoders import (
    ModalityStack,
    NeuralEncoder,
    PassthroughEncoder,
    available_encoders,
    get_encoder,
    out_of_fold_embeddings,
    register_encoder,
    train_test_ids,
)
from causalrx.encoders.inputs import row_positions
from causalrx.exceptions import ValidationError
from causalrx.risk import auroc


class AgeEncoder:
    """A user encoder: standardised age only."""

    def fit(self, cohort, split):
        age = cohort.clinical.set_index("patient_id").loc[np.asarray(split), "age"]
        self.mu_, self.sd_ = age.mean(), age.std()
        return self

    def transform(self, cohort, patients=None):
        age = cohort.clinical["age"].to_numpy()[row_positions(cohort, patients)]
        return ((age - self.mu_) / self.sd_)[:, None]

    def save(self, path):
        return path


def test_registry_plugs_in_a_user_encoder(small_cohort):
    register_encoder("age_only", AgeEncoder, overwrite=True)
    assert {"age_only", "tabular", "ecg", "fusion", "passthrough"} <= set(available_encoders())
    with pytest.raises(ValidationError, match="already registered"):
        register_encoder("age_only", AgeEncoder)
    with pytest.raises(ValidationError, match="not registered"):
        get_encoder("no_such_encoder")
    train, _ = train_test_ids(small_cohort, 0.3, 0)
    stack = ModalityStack({"clinical": "age_only", "proteomics": {"name": "proteomics", "train": {"epochs": 2}}}).fit(small_cohort, train)
    z = stack.transform(small_cohort)
    assert z.shape == (small_cohort.n_patients, 1 + 16 + 4)  # age, proteomics embedding, 4 presence flags
    np.testing.assert_allclose(z[:, 0].mean(), 0, atol=0.1)


def test_passthrough_uses_training_statistics_only(small_cohort):
    train, test = train_test_ids(small_cohort, 0.3, 0)
    enc = PassthroughEncoder().fit(small_cohort, train)
    z = enc.transform(small_cohort)
    names = enc.get_feature_names_out()
    assert z.shape[1] == len(names) and np.isfinite(z).all()
    age = z[:, names.index("age")][row_positions(small_cohort, train)]
    assert abs(age.mean()) < 0.05 and abs(age.std() - 1) < 0.05
    assert "genomics.CYP2C19=poor" in names and "has_proteomics" in names


def test_out_of_fold_embeddings_never_use_a_patients_own_label(small_cohort):
    enc = NeuralEncoder(modalities=("clinical", "proteomics"), train={"epochs": 4}, random_state=0)
    oof = out_of_fold_embeddings(enc, small_cohort, n_folds=3, random_state=0)
    fold0 = oof.fold == 0
    out = small_cohort.outcomes.copy()
    flip = out["patient_id"].isin(small_cohort.patient_ids[fold0])
    out.loc[flip, "disease"] = 1 - out.loc[flip, "disease"]
    again = out_of_fold_embeddings(enc, dataclasses.replace(small_cohort, outcomes=out), n_folds=3, random_state=0)
    np.testing.assert_array_equal(oof.Z[fold0], again.Z[fold0])
    assert not np.allclose(oof.Z[~fold0], again.Z[~fold0])


def test_alignment_maps_fold_models_onto_one_space(small_cohort):
    enc = NeuralEncoder(modalities=("clinical", "proteomics"), train={"epochs": 8}, random_state=0)
    y = small_cohort.outcome("disease")
    oof = {align: out_of_fold_embeddings(enc, small_cohort, n_folds=3, align=align, random_state=0) for align in (True, False)}
    # fold 2's embedding of fold-2 patients vs fold 0's model on the same patients (fold 0 never saw them either)
    rows = small_cohort.patient_ids[oof[True].fold == 2]
    reference = oof[True].encoders[0].transform(small_cohort, rows)
    gap = {a: np.mean((oof[a].Z[oof[a].fold == 2] - reference) ** 2) for a in (True, False)}
    assert gap[True] < 0.7 * gap[False]
    scores = {}
    for align, res in oof.items():
        fit = res.fold != 2  # one model across folds 0 and 1, scored on fold 2
        model = LogisticRegression(max_iter=1000).fit(res.Z[fit], y[fit])
        scores[align] = auroc(y[~fit], model.predict_proba(res.Z[~fit])[:, 1])
    assert scores[True] > 0.6 and scores[True] > scores[False] - 0.01
    with pytest.raises(ValidationError, match="at least 3 folds"):
        out_of_fold_embeddings(enc, small_cohort, n_folds=2)
