"""Why a patient's estimated effect is what it is: per-patient attributions of each drug's
estimated effect to the covariates a clinician can read.

Effects are often estimated on an embedding, whose columns mean nothing to a clinician, so
the attributions explain the estimate through a *surrogate* fitted on readable covariates:

- ``method="shap"`` (default): a gradient-boosted tree surrogate of each drug's estimated
  effect, explained by exact TreeSHAP (the ``shap`` package's ``TreeExplainer``). It follows
  interactions and thresholds (a genotype class, an eGFR cut-off) that a linear fit smears out.
- ``method="linear"``: a least-squares surrogate on standardised covariates; the
  contribution of covariate ``f`` is ``beta_f * z_f``.

Both report the surrogate's *fidelity* to the estimate: the out-of-fold R^2 of the surrogate
against the estimated effect (``fidelity_r2``; 5-fold for the trees, in-sample for the linear
fit, whose 1 + d parameters hardly overfit n patients). Attributions explain the estimate,
not the truth; :func:`modifier_recall` checks them against the simulator's known effect
modifiers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from causalrx.exceptions import ValidationError

METHODS = ("shap", "linear")


@dataclass(frozen=True, eq=False)
class Attribution:
    """Per-patient contributions to each drug's estimated effect.

    Attributes
    ----------
    values : dict
        ``{drug: array (n, d)}``; a patient's contributions plus ``base[drug]`` give the
        surrogate's prediction of the estimated effect. Drugs whose effect does not vary (the
        reference arm) are absent.
    base : dict
        ``{drug: float}``, the surrogate's average prediction.
    features : list of str
    fidelity_r2 : Series
        Per drug, the share of the estimated effect's variance the surrogate explains.
    method : str
    n_patients : int
    """

    values: dict
    base: dict
    features: list
    fidelity_r2: pd.Series
    method: str
    n_patients: int

    def drivers(self, drugs, n_drivers: int = 3) -> np.ndarray:
        """Object array (n, len(drugs)) of ``"feature (+0.12), ..."``: the ``n_drivers`` largest
        contributions by size, with their sign; empty for a drug without attributions.
        A contribution below 5% of the patient's largest one is not listed (a tree surrogate
        gives every covariate it ever split on a small share), nor a numerical zero."""
        out = np.full((self.n_patients, len(drugs)), "", dtype=object)
        labels = np.asarray(self.features, dtype=object)
        for j, drug in enumerate(drugs):
            contrib = self.values.get(drug)
            if contrib is None or n_drivers == 0:
                continue
            top = min(n_drivers, contrib.shape[1])
            idx = np.argsort(-np.abs(contrib), axis=1, kind="stable")[:, :top]
            picked = np.take_along_axis(contrib, idx, axis=1)
            tiny = 1e-6 * max(float(np.abs(contrib).max()), 1e-12)
            floor = np.maximum(0.05 * np.abs(picked[:, 0]), tiny)
            out[:, j] = [", ".join(f"{lab} ({v:+.2g})" for lab, v in zip(labels[i], p) if abs(v) >= f)
                         for i, p, f in zip(idx, picked, floor)]  # fmt: skip
        return out

    def importance(self, group: bool = True) -> pd.DataFrame:
        """Mean absolute contribution per (variable, drug); with ``group`` the one-hot columns of a
        variable (``"genomics.CYP2C19=poor"``, ``"genomics.CYP2C19=normal"``) are summed per patient first."""
        frames = {}
        for drug, contrib in self.values.items():
            frame = pd.DataFrame(np.abs(contrib) if not group else contrib, columns=self.features)
            if group:
                frame = frame.T.groupby(variable_of).sum().T.abs()
            frames[drug] = frame.mean(axis=0)
        return pd.DataFrame(frames)


def variable_of(feature: str) -> str:
    """The variable a one-hot column belongs to: ``"genomics.CYP2C19=poor"`` -> ``"genomics.CYP2C19"``."""
    return feature.split("=", 1)[0]


def explain_effects(ite: np.ndarray, X: pd.DataFrame, drugs, *, method: str = "shap", random_state: int | None = 0,
                    n_estimators: int = 150, max_depth: int = 3) -> Attribution:  # fmt: skip
    """Attributions of each drug's estimated effect ``ite[:, j]`` to the columns of ``X``.

    Parameters
    ----------
    ite : array (n, k)
        Estimated effects versus the reference arm, one column per drug of ``drugs``.
    X : DataFrame (n, d)
        Readable covariates of the same patients, in the same order (finite values).
    method : {"shap", "linear"}
    n_estimators, max_depth : int
        The tree surrogate's boosting rounds and depth (``method="shap"``).
    """
    if method not in METHODS:
        raise ValidationError(f"method: expected one of {METHODS}, got {method!r}")
    if not isinstance(X, pd.DataFrame):
        raise ValidationError(f"X: expected a DataFrame of named covariates, got {type(X).__name__}")
    ite = np.asarray(ite, dtype=float)
    if ite.ndim != 2 or ite.shape != (len(X), len(drugs)):
        raise ValidationError(f"ite: expected shape ({len(X)}, {len(drugs)}) to match X and drugs, got {ite.shape}")
    values = X.to_numpy(dtype=float)
    bad = [c for c, ok in zip(X.columns, np.isfinite(values).all(axis=0)) if not ok]
    if bad:
        raise ValidationError(f"X: column(s) {bad[:5]} have missing or infinite values; impute them first")
    out, base, r2 = {}, {}, {}
    for j, drug in enumerate(drugs):
        y = ite[:, j]
        if not np.isfinite(y).all():
            raise ValidationError(f"ite: drug {drug!r} has missing or infinite effects")
        if y.var() <= 1e-12:
            r2[drug] = np.nan
            continue
        fit = _shap_surrogate if method == "shap" else _linear_surrogate
        out[drug], base[drug], r2[drug] = fit(values, y, random_state, n_estimators, max_depth)
    return Attribution(values=out, base=base, features=list(map(str, X.columns)), fidelity_r2=pd.Series(r2, name="fidelity_r2"),
                       method=method, n_patients=len(X))  # fmt: skip


def _linear_surrogate(X, y, random_state, n_estimators, max_depth):
    sd = X.std(axis=0)
    Z = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    design = np.column_stack([np.ones(len(y)), Z])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    r2 = 1 - np.mean((y - design @ coef) ** 2) / y.var()
    return Z * coef[1:], float(coef[0]), float(r2)


def _trees(random_state, n_estimators, max_depth):
    from sklearn.ensemble import HistGradientBoostingRegressor

    return HistGradientBoostingRegressor(max_iter=n_estimators, max_depth=max_depth, learning_rate=0.1, early_stopping=False,
                                         random_state=random_state)  # fmt: skip


def _shap_surrogate(X, y, random_state, n_estimators, max_depth):
    import shap
    from sklearn.model_selection import KFold, cross_val_predict

    folds = KFold(5, shuffle=True, random_state=random_state)
    predicted = cross_val_predict(_trees(random_state, n_estimators, max_depth), X, y, cv=folds)
    r2 = 1 - np.mean((y - predicted) ** 2) / y.var()
    model = _trees(random_state, n_estimators, max_depth).fit(X, y)
    explainer = shap.TreeExplainer(model)
    contrib = np.asarray(explainer.shap_values(X, check_additivity=False), dtype=float)
    return contrib, float(np.ravel(explainer.expected_value)[0]), float(r2)


# ---------------------------------------------------------------- fidelity against known modifiers
#: Which readable variables carry each of the simulator's effect-modifier terms
#: (regular expressions on variable names, see :func:`variable_of`).
TERM_VARIABLES = {
    "age_z": r"^age$", "age_gt75": r"^age$", "egfr_lt30": r"^egfr$", "egfr_lt40": r"^egfr$", "pregnant": r"^pregnant$",
    "long_qt": r"^qtc_ms$", "hr_z": r"^ecg\.(heart_rate|hr)", "gdf15_z": r"^proteomics\.GDF15$", "prs": r"^genomics\.prs$",
    "tlr7_c": r"^(sex|genomics\.rs179008)$", "warfarin_sensitive": r"^genomics\.(CYP2C9|VKORC1|rs9923231)$",
    "slco1b1_poor": r"^genomics\.(SLCO1B1|rs4149056)$", "slco1b1_decreased": r"^genomics\.(SLCO1B1|rs4149056)$",
    "cyp2c19_poor": r"^genomics\.CYP2C19", "cyp2c19_intermediate": r"^genomics\.CYP2C19", "cyp2c19_rapid": r"^genomics\.CYP2C19",
    "cyp2c19_ultrarapid": r"^genomics\.CYP2C19", "diabetes": r"^diabetes$", "atrial_fibrillation": r"^atrial_fibrillation$",
    "on_nsaid": r"^on_nsaid$", "on_clarithromycin": r"^on_clarithromycin$",
}  # fmt: skip


def true_modifiers(drug_spec, harm_weight: float = 2.0) -> dict[str, float]:
    """The terms that move a simulated drug's net benefit, with the size of their coefficient
    (benefit minus ``harm_weight`` x harm), the constant term left out."""
    terms: dict[str, float] = {}
    for term, coef in drug_spec.benefit.items():
        terms[term] = terms.get(term, 0.0) + coef
    for term, coef in drug_spec.harm.items():
        terms[term] = terms.get(term, 0.0) - harm_weight * coef
    return {t: abs(c) for t, c in terms.items() if t != "one" and c != 0}


def modifier_recall(attribution: Attribution, specs, *, k: int = 3, harm_weight: float = 2.0) -> pd.DataFrame:
    """Recall@k of each drug's true effect modifiers among its top-k variables by mean |attribution|.

    A term counts as found when a variable that carries it (:data:`TERM_VARIABLES`) ranks in
    the drug's top ``k``; recall is the share found of the drug's ``min(k, m)`` largest terms
    (``m`` modifiers that the covariates carry). ``specs`` are the simulator's drug specs
    (:func:`causalrx.data.simulate.drugs.drug_specs`), matched by name.
    """
    importance = attribution.importance(group=True)
    variables = list(importance.index)
    rows = []
    for spec in specs:
        if spec.name not in importance.columns:
            continue
        modifiers = {t: c for t, c in true_modifiers(spec, harm_weight).items() if t in TERM_VARIABLES}
        carried = {t: c for t, c in modifiers.items() if any(re.search(TERM_VARIABLES[t], v) for v in variables)}
        if not carried:
            continue
        top = list(importance[spec.name].sort_values(ascending=False).index[:k])
        # terms carried by the same variable count once (cyp2c19_poor and cyp2c19_intermediate are one genotype)
        groups: dict[str, float] = {}
        for t, c in carried.items():
            groups[TERM_VARIABLES[t]] = max(groups.get(TERM_VARIABLES[t], 0.0), c)
        wanted = sorted(groups, key=groups.get, reverse=True)[: min(k, len(groups))]
        found = [p for p in wanted if any(re.search(p, v) for v in top)]
        rows.append({"drug": spec.name, "method": attribution.method, "modifiers": ", ".join(sorted(carried)),
                     f"top_{k}": ", ".join(top), f"recall_at_{k}": len(found) / len(wanted),
                     "fidelity_r2": float(attribution.fidelity_r2.get(spec.name, np.nan))})  # fmt: skip
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- neural risk heads
#: The inputs that carry the simulator's ``disease`` risk factors (:func:`causalrx.data.simulate.world.disease_risk`:
#: age, diabetes, PRS, TLR7 dosage, NT-proBNP, GDF-15, long QT, heart rate), as named by :func:`risk_attributions`.
SIMULATED_RISK_INPUTS = r"^(clinical:age|clinical:diabetes|clinical:qtc_ms|genomics:prs|genomics:rs179008|proteomics:NTPROBNP|proteomics:GDF15|ecg:lead .*)$"


def risk_driver_recall(attributions: pd.DataFrame, pattern: str = SIMULATED_RISK_INPUTS, k: int = 5) -> tuple[pd.DataFrame, float]:
    """The ``k`` inputs with the largest mean |attribution| and the share of them that carry a known
    risk factor (``pattern``: a regular expression on input names); returns (table, share)."""
    importance = attributions.abs().mean().sort_values(ascending=False)
    top = importance.head(k)
    known = top.index.str.match(pattern)
    table = pd.DataFrame({"input": top.index, "mean_abs_attribution": top.to_numpy(), "known_risk_factor": known})
    return table, float(known.mean()) if len(top) else float("nan")


def risk_attributions(encoder, cohort, patients=None, *, n_steps: int = 32, batch_size: int = 256) -> pd.DataFrame:
    """Integrated gradients (Captum) of a fitted :class:`~causalrx.encoders.NeuralEncoder`'s risk
    logit for each patient, attributed to its numeric inputs.

    Inputs are the encoder's own: standardised numeric columns and missing-value indicators of
    every modality, and the ECG waveform (attributions summed over time, one column per lead).
    The baseline is all zeros, the training mean of every standardised column (an ECG of zeros is
    a flat line). Categorical inputs (genotype classes, centres) enter through embeddings and are
    not attributed; presence flags neither. Columns are ``"<modality>:<column>"``. The
    attributions of a patient add up to its logit minus the baseline's (Captum's completeness
    check; ``attrs["delta"]`` in the result is what they miss, small when ``n_steps`` is enough).
    The first ensemble member is explained.
    """
    import torch
    from captum.attr import IntegratedGradients

    from causalrx.encoders.inputs import row_positions

    if not hasattr(encoder, "members_") or not hasattr(encoder, "inputs_"):
        raise ValidationError(f"encoder: expected a fitted NeuralEncoder, got {type(encoder).__name__}")
    net = encoder.members_[0].cpu().eval()
    pos = row_positions(cohort, patients if patients is not None else cohort.patient_ids)
    ids = cohort.patient_ids[pos]
    modalities = list(encoder.inputs_)
    names, keys = [], []
    for m, prep in encoder.inputs_.items():
        cols = list(prep.numeric_columns_) + [f"missing.{prep.numeric_columns_[i]}" for i in prep.indicator_columns_]
        names += [f"{m}:{c}" for c in cols]
        keys.append((m, "numeric"))
        if getattr(prep, "leads_", None):
            keys.append((m, "signal"))
            names += [f"{m}:lead {lead}" for lead in prep.leads_]
    frames, deltas = [], []  # Captum interpolates 4 steps at a time: memory ~ 4 x batch_size patients' inputs
    for start in range(0, len(ids), batch_size):
        batch = encoder._tensors(cohort, ids[start : start + batch_size])
        inputs = tuple(batch[m][k].float() for m, k in keys)

        def logit(*values, batch=batch):
            rebuilt = {m: dict(batch[m]) for m in modalities}
            for (m, k), v in zip(keys, values):
                rebuilt[m][k] = v
            n = values[0].shape[0]  # Captum stacks the interpolation steps along the batch
            for m in modalities:
                for k, v in rebuilt[m].items():
                    if (m, k) not in keys and v.shape[0] != n:
                        rebuilt[m][k] = v.repeat((n // v.shape[0],) + (1,) * (v.dim() - 1))
            return net(rebuilt)[1]

        attrs, delta = IntegratedGradients(logit).attribute(inputs, baselines=tuple(torch.zeros_like(x) for x in inputs), n_steps=n_steps,
                                                            internal_batch_size=len(inputs[0]) * 4,
                                                            return_convergence_delta=True)  # fmt: skip
        parts = [a.sum(dim=2) if a.dim() == 3 else a for a in attrs]  # ECG: one column per lead
        frames.append(torch.cat(parts, dim=1).detach().numpy())
        deltas.append(delta.detach().numpy())
    out = pd.DataFrame(np.concatenate(frames), index=pd.Index(ids, name="patient_id"), columns=names)
    out.attrs["delta"] = np.concatenate(deltas)
    return out
