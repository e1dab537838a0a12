"""The encoder stage of ``causalrx run``: risk model on held-out patients, out-of-fold
embeddings, and effect estimation on embeddings versus the prepared feature table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer

from causalrx.data.simulate import SimulatedCohort
from causalrx.effects import DRLearner, cohort_inputs
from causalrx.encoders import get_encoder, out_of_fold_embeddings, train_test_ids
from causalrx.encoders.inputs import row_positions
from causalrx.risk import evaluate_risk, plot_calibration


@dataclass(frozen=True)
class RepresentationResult:
    """Risk metrics of the encoder's head, and sqrt(PEHE) of effects by covariate set."""

    encoder: str
    risk: pd.DataFrame
    strata: pd.DataFrame
    effects: pd.DataFrame
    embedding_shape: tuple[int, int]
    embedding: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_frame(self) -> pd.DataFrame:
        return self.effects


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


def prepared_feature_table(cohort, random_state=0) -> pd.DataFrame:
    """The effect estimators' covariates: the cohort through :class:`~causalrx.prep.Preprocessor`
    (proteins log2 -> ComBat -> imputed, the ECG's heart rate and RR variability, presence
    flags and missing-value indicators), without the raw SNP dosages (PRS and pharmacogene
    phenotypes stay). Every step is label-free, so it is fitted on all the patients.
    Indexed by patient id."""
    from causalrx.prep import Preprocessor

    prep = Preprocessor(random_state=random_state).fit(cohort)
    return prep.transform(cohort).drop(columns=getattr(prep, "variants_kept_", []))


def encode_and_estimate(sim: SimulatedCohort, encoder: str, *, folds: int = 3, target: str = "disease", random_state: int = 0,
                        progress: bool = False) -> tuple[RepresentationResult, object]:  # fmt: skip
    """Fit ``encoder`` (a registered name) on 70% of the patients, score its risk head on the
    other 30%, then compare the efficacy effects of a DR-learner on out-of-fold embeddings
    and on the prepared features against the simulator's true effects. Returns the result and the
    calibration figure."""
    cohort = sim.cohort
    train, test = train_test_ids(cohort, 0.3, random_state)
    params = {"random_state": random_state, "target": target} if encoder != "passthrough" else {}
    model = get_encoder(encoder, **params).fit(cohort, train)
    figure, risk, strata = None, pd.DataFrame(), pd.DataFrame()
    if hasattr(model, "predict_risk"):
        pos = row_positions(cohort, test)
        report = evaluate_risk(cohort.outcome(target)[pos], model.predict_risk(cohort, test)[0], name=encoder, threshold=0.3,
                               n_bootstrap=200, random_state=random_state)  # fmt: skip
        risk, strata, figure = report.to_frame(), report.strata, plot_calibration(report)
    oof = out_of_fold_embeddings(get_encoder(encoder, **params), cohort, n_folds=folds, align=encoder != "passthrough",
                                 random_state=random_state, progress=progress)  # fmt: skip
    _, action, y, names = cohort_inputs(cohort, "efficacy")
    ref = cohort.reference_index
    truth = sim.truth.ite_efficacy - sim.truth.ite_efficacy[:, [ref]]  # vs the reference arm, the cohort's drug order
    rows = []
    prepared = prepared_feature_table(cohort, random_state).to_numpy()
    for label, X in (("prepared features", prepared), (f"{encoder} embedding (out of fold)", oof.Z)):
        est = DRLearner(random_state=random_state).fit(X, action, y, action_names=names, reference=cohort.reference).effect(X)
        for a in (j for j in range(len(names)) if j != ref):
            rows.append({"covariates": label, "drug": names[a], "columns": X.shape[1],
                         "sqrt_pehe": float(np.sqrt(np.mean((est.ite[:, a] - truth[:, a]) ** 2)))})  # fmt: skip
    result = RepresentationResult(encoder=encoder, risk=risk, strata=strata, effects=pd.DataFrame(rows), embedding_shape=oof.Z.shape,
                                  embedding=oof.Z)
    return result, figure


def to_markdown(result: RepresentationResult) -> str:
    pehe = result.effects.pivot_table(index="drug", columns="covariates", values="sqrt_pehe", sort=False)
    lines = [
        "## Representation (encoders) and risk model",
        "",
        f"Encoder `{result.encoder}`, trained on 70% of the patients; its risk head is scored on the other 30%",
        "(95% stratified-bootstrap intervals). Embeddings for effect estimation are out of fold",
        f"({result.embedding_shape[1]} columns).",
        "",
    ]
    if not result.risk.empty:
        lines += [result.risk.to_markdown(index=False, floatfmt=".3f"), "", result.strata.to_markdown(index=False, floatfmt=".3f"),
                  "", "![calibration](calibration.png)", ""]  # fmt: skip
    lines += ["Efficacy effects (DR-learner) against the true effects, sqrt(PEHE) by covariates:", "",
              pehe.reset_index().to_markdown(index=False, floatfmt=".3f"), ""]  # fmt: skip
    return "\n".join(lines)


def save(result: RepresentationResult, figure, folder: Path) -> dict:
    written = {}
    if not result.risk.empty:
        result.risk.to_csv(folder / "risk.csv", index=False)
        figure.savefig(folder / "calibration.png", dpi=120)
        written.update(risk=folder / "risk.csv", calibration=folder / "calibration.png")
    result.effects.to_csv(folder / "effects_by_covariates.csv", index=False)
    written["effects_by_covariates"] = folder / "effects_by_covariates.csv"
    return written
