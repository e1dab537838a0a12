import numpy as np
import pandas as pd
import pytest

from causalrx.data.schema import PATIENT_ID
from causalrx.exceptions import ValidationError
from causalrx.prep import GenotypeQC, Preprocessor


def _poisoned(cohort, rows):
    """The cohort with wildly different proteomics and clinical values for ``rows`` only."""
    prot = cohort.proteomics.copy()
    hit = prot[PATIENT_ID].isin(rows)
    cols = [c for c in prot.columns if c not in (PATIENT_ID, "batch")]
    prot.loc[hit, cols] = prot.loc[hit, cols] * 1e6
    clin = cohort.clinical.copy()
    clin.loc[clin[PATIENT_ID].isin(rows), "age"] = 1e4
    from dataclasses import replace

    return replace(cohort, proteomics=prot, clinical=clin)


@pytest.mark.parametrize("imputer", ["lowrank", "knn"])
def test_fitted_on_train_only(small_sim, imputer):
    cohort = small_sim.cohort
    ids = cohort.patient_ids
    train, test = ids[:300], ids[300:]
    clean = Preprocessor(genotype_qc=GenotypeQC(), imputer=imputer, random_state=0).fit(cohort, patients=train)
    dirty = Preprocessor(genotype_qc=GenotypeQC(), imputer=imputer, random_state=0).fit(_poisoned(cohort, test), patients=train)
    # If any fitted step saw a test row, the poisoned test values would move these.
    pd.testing.assert_frame_equal(clean.transform(cohort, train), dirty.transform(cohort, train))
    np.testing.assert_array_equal(clean.combat_.gamma_star_, dirty.combat_.gamma_star_)
    assert clean.medians_["age"] == dirty.medians_["age"]


def test_output_complete_with_presence_flags(small_sim):
    cohort = small_sim.cohort
    pre = Preprocessor(random_state=0).fit(cohort, patients=cohort.patient_ids[:300])
    X = pre.transform(cohort)
    assert not X.isna().any().any()
    presence = cohort.modality_presence()
    np.testing.assert_array_equal(X["has_proteomics"].to_numpy(), presence["proteomics"].to_numpy().astype(float))
    absent = ~presence["proteomics"].to_numpy()
    prot_cols = [c for c in X.columns if c.startswith("proteomics.")]
    np.testing.assert_allclose(X.loc[absent, prot_cols].to_numpy(), np.tile(pre.protein_means_, (absent.sum(), 1)))
    ind = [c for c in X.columns if c.startswith("missing.proteomics.")]
    assert ind and X.loc[absent, ind].to_numpy().sum() == 0  # an absent modality is not "missing values"
    assert list(pre.transform(cohort, cohort.patient_ids[:7]).columns) == list(X.columns)  # same columns for new patients


def test_errors(small_sim):
    with pytest.raises(ValidationError, match="imputer"):
        Preprocessor(imputer="mice").fit(small_sim.cohort)
    with pytest.raises(ValidationError, match="not in the cohort"):
        Preprocessor().fit(small_sim.cohort, patients=["nobody"])
    with pytest.raises(ValidationError, match="call fit"):
        Preprocessor().transform(small_sim.cohort)
