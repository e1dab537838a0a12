"""The encoder stage of ``causalrx run``: risk model on held-out patients and out-of-fold
embeddings; the covariate tables the effect estimators read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer

from causalrx.data.simulate import SimulatedCohort
from causalrx.encoders import get_encoder, out_of_fold_embeddings, train_test_ids
from causalrx.encoders.inputs import row_positions
from causalrx.risk import evaluate_risk, plot_calibration


@dataclass(frozen=True)
class RepresentationResult:
    """Risk metrics of the encoder's head on held-out patients, and the out-of-fold embedding."""

    encoder: str
    risk: pd.DataFrame
    strata: pd.DataFrame
    embedding_shape: tuple[int, int]
    baseline_brier: float = float("nan")
    risk_drivers: pd.DataFrame = field(default_factory=pd.DataFrame)
    risk_driver_share: float = float("nan")
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        return self.risk


def raw_feature_table(cohort) -> pd.DataFrame:
    """The cohort's feature table without raw SNP dosages, median-imputed (a label-free step),
    indexed by patient id."""
    X = cohort.feature_table()
    X = X.loc[:, ~X.columns.str.startswith("genomics.snp")]
    filled = SimpleImputer(strategy="median", keep_empty_features=True).fit_transform(X)
    return pd.DataFrame(filled, index=X.index, columns=X.columns)


def raw_covariates(cohort) -> np.ndarray:
    """:func:`raw_feature_table` as an array."""
    return raw_feature_table(cohort).to_numpy()


def prepared_feature_table(cohort, random_state=0, *, named_variants: bool = False) -> pd.DataFrame:
    """The effect estimators' covariates: the cohort through :class:`~causalrx.prep.Preprocessor`
    (proteins log2 -> ComBat -> imputed, the ECG's heart rate and RR variability, presence
    flags and missing-value indicators), without the raw SNP dosages (PRS and pharmacogene
    phenotypes stay). ``named_variants=True`` keeps the dosages of the variants annotated
    with a gene in ``cohort.variants`` (e.g. TLR7 rs179008, X-coded 0/1 in men and 0/1/2 in
    women), dropping only the anonymous panel. Every step is label-free, so it is fitted on
    all the patients. Indexed by patient id."""
    from causalrx.prep import Preprocessor

    prep = Preprocessor(random_state=random_state).fit(cohort)
    dropped = list(getattr(prep, "variants_kept_", []))
    if named_variants and cohort.variants is not None and "gene" in cohort.variants:
        genes = cohort.variants.set_index("variant_id")["gene"].fillna("").astype(str)
        dropped = [v for v in dropped if not genes.get(v, "")]
    return prep.transform(cohort).drop(columns=dropped)


def encode(sim: SimulatedCohort, encoder: str, *, folds: int = 3, epochs: int | None = None, n_bootstrap: int = 200,
           target: str = "disease", random_state: int = 0, progress: bool = False) -> tuple[RepresentationResult, object]:  # fmt: skip
    """Fit ``encoder`` (a registered name) on 70% of the patients and score its risk head on the
    other 30% (with the training prevalence's Brier score as the trivial baseline), then embed
    every patient out of fold. ``epochs`` caps a neural encoder's training. Returns the result
    and the calibration figure (None without a risk head)."""
    cohort = sim.cohort
    train, test = train_test_ids(cohort, 0.3, random_state)

    def make(show: bool):
        model = get_encoder(encoder, **({"random_state": random_state, "target": target} if encoder != "passthrough" else {}))
        if hasattr(model, "train") and epochs is not None:  # a neural encoder: its TrainConfig
            model.train = {**(model.train or {}), "epochs": epochs, "progress": show}
        return model

    model = make(progress).fit(cohort, train)
    figure, risk, strata, baseline = None, pd.DataFrame(), pd.DataFrame(), float("nan")
    drivers, share = pd.DataFrame(), float("nan")
    if hasattr(model, "predict_risk"):
        labels = cohort.outcome(target)
        y_test, prevalence = labels[row_positions(cohort, test)], float(np.mean(labels[row_positions(cohort, train)]))
        report = evaluate_risk(y_test, model.predict_risk(cohort, test)[0], name=encoder, threshold=0.3, n_bootstrap=n_bootstrap,
                               random_state=random_state)  # fmt: skip
        risk, strata, figure = report.to_frame(), report.strata, plot_calibration(report)
        baseline = float(np.mean((prevalence - y_test) ** 2))
        if hasattr(model, "members_"):  # a neural risk head: integrated gradients on up to 300 held-out patients
            from causalrx.explain import risk_attributions, risk_driver_recall

            drivers, share = risk_driver_recall(risk_attributions(model, cohort, test[:300], n_steps=24), k=5)
    oof = out_of_fold_embeddings(make(False), cohort, n_folds=folds, align=encoder != "passthrough", random_state=random_state,
                                 progress=progress)  # fmt: skip
    result = RepresentationResult(encoder=encoder, risk=risk, strata=strata, embedding_shape=oof.Z.shape, baseline_brier=baseline,
                                  risk_drivers=drivers, risk_driver_share=share, embedding=oof.Z)  # fmt: skip
    return result, figure


def save(result: RepresentationResult, figure, folder: Path) -> dict:
    written = {}
    if not result.risk.empty:
        result.risk.to_csv(folder / "risk.csv", index=False)
        figure.savefig(folder / "calibration.png", dpi=120)
        written.update(risk=folder / "risk.csv", calibration=folder / "calibration.png")
    return written
