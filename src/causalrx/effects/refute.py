"""Refutation of effect estimates with DoWhy's refuters.

``refute(estimator, X, action, y)`` takes a causalrx effect estimator and its data and, for each drug versus
the reference arm, re-runs that same estimator (a fresh copy) under DoWhy's perturbations:

============================  ===============================================  ====================================
check                         what DoWhy does                                  passes when
============================  ===============================================  ====================================
placebo treatment             permutes the treatment column and re-estimates   the real estimate is significantly
                                                                               different from the placebo estimates
random common cause           adds an independent random covariate             the estimate does not move
                                                                               significantly
data subset                   re-estimates on random 80% subsets               the estimate does not move
                                                                               significantly
unobserved confounder         simulates a confounder that flips treatment      the estimate keeps its sign
                              with probability ``kappa_t`` and shifts the
                              outcome by ``kappa_y`` standard deviations
============================  ===============================================  ====================================

A failed placebo check means the data cannot tell the drug's effect from no effect at
all (a true placebo, or too little data); a failed subset or common-cause check means the
estimate is fragile. Passing does not prove the absence of unmeasured confounding.

References
----------
Sharma A, Kiciman E. DoWhy: An end-to-end library for causal inference. arXiv:2011.04216.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from sklearn.base import clone

from causalrx.data.problem import label_positions
from causalrx.effects.estimate import check_effect_inputs
from causalrx.exceptions import ValidationError

CHECKS = ("placebo_treatment", "random_common_cause", "data_subset", "unobserved_confounder")


def _adapter_class(record: list):
    """A DoWhy estimator class; every estimate it makes is appended to ``record``."""
    from dowhy.causal_estimator import CausalEstimate, CausalEstimator

    class CausalrxEstimator(CausalEstimator):
        """A DoWhy estimator that re-fits a copy of a causalrx estimator on a binary contrast."""

        def __init__(self, identified_estimand, prototype, **kwargs):
            super().__init__(identified_estimand=identified_estimand, **kwargs)
            self.prototype = prototype

        def fit(self, data: pd.DataFrame, effect_modifier_names=None, **_):
            self._set_effect_modifiers(data, effect_modifier_names or [])
            covariates = list(self._target_estimand.get_adjustment_set())
            treatment = self._target_estimand.treatment_variable[0]
            outcome = self._target_estimand.outcome_variable[0]
            X = data[covariates].to_numpy(dtype=float)
            self.fitted_ = clone(self.prototype).fit(X, data[treatment].to_numpy().astype(int), data[outcome].to_numpy(dtype=float))
            self.effect_ = self.fitted_.effect(X)  # on the patients of this contrast
            self.symbolic_estimator = f"causalrx {self.effect_.method}"
            return self

        def estimate_effect(self, data, treatment_value=1, control_value=0, target_units=None, **_):
            self._target_units, self._treatment_value, self._control_value = target_units, treatment_value, control_value
            value = float(self.effect_.ate[1])
            record.append(value)
            estimate = CausalEstimate(
                data=data, treatment_name=self._target_estimand.treatment_variable,
                outcome_name=self._target_estimand.outcome_variable, estimate=value, control_value=control_value,
                treatment_value=treatment_value, target_estimand=self._target_estimand,
                realized_estimand_expr=self.symbolic_estimator,
            )  # fmt: skip
            estimate.add_estimator(self)
            return estimate

        def construct_symbolic_estimator(self, estimand):
            return "causalrx estimator"

    return CausalrxEstimator


def _outside(value: float, simulations: np.ndarray, level: float) -> bool:
    """Two-sided normal test: is ``value`` outside the distribution of ``simulations``?"""
    from scipy.stats import norm

    sd = simulations.std(ddof=1)
    if sd == 0:
        return bool(value != simulations[0])
    return bool(2 * norm.sf(abs(value - simulations.mean()) / sd) <= level)


def refute(
    estimator,
    X,
    action=None,
    y=None,
    *,
    action_names=None,
    reference=None,
    drugs=None,
    checks=CHECKS,
    n_simulations: int = 20,
    subset_fraction: float = 0.8,
    kappa_t: float = 0.1,
    kappa_y: float = 0.25,
    significance_level: float = 0.05,
    random_state: int | None = None,
) -> pd.DataFrame:
    """Run DoWhy refuters on an estimator and data, one binary contrast (drug vs reference) at a time.

    Parameters
    ----------
    estimator : causalrx effect estimator
        Any estimator of :mod:`causalrx.effects`, fitted or not: only its settings are used
        (it keeps no training rows); a fresh clone is fitted for every simulation, so cost
        grows with ``n_simulations``.
    X, action, y, action_names, reference
        The data, as for the estimator's ``fit``: arrays, a DecisionProblem or a Cohort.
    drugs : list of drug names, optional
        Default: every drug except the reference arm.
    checks : tuple
        Any of ``"placebo_treatment"``, ``"random_common_cause"``, ``"data_subset"``,
        ``"unobserved_confounder"``.
    kappa_t, kappa_y : float
        Strength of the simulated unobserved confounder: the probability that it flips the
        treatment, and its effect on the outcome in outcome standard deviations.
    random_state : int, optional

    Returns
    -------
    DataFrame with one row per (drug, check): the original estimate, the refuted estimate,
    DoWhy's p-value where it gives one, ``passed`` and a one-line ``interpretation``.
    """
    from dowhy import CausalModel
    from dowhy.causal_refuters.add_unobserved_common_cause import sensitivity_simulation
    from dowhy.causal_refuters.data_subset_refuter import refute_data_subset
    from dowhy.causal_refuters.placebo_treatment_refuter import PlaceboType, refute_placebo_treatment
    from dowhy.causal_refuters.random_common_cause import refute_random_common_cause

    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        raise ValidationError(f"checks: unknown check(s) {unknown}; expected some of {list(CHECKS)}")
    data = check_effect_inputs(X, action, y, action_names, reference=reference)
    names = data.action_names  # working order: the reference arm first
    if drugs is None:
        arms = range(1, data.n_actions)
    else:
        arms = label_positions("drugs", names, [d if isinstance(d, str) else data.drugs[int(d)] for d in drugs], "drug")
    prototype = clone(estimator)  # same settings, unfitted
    record: list[float] = []
    adapter = _adapter_class(record)
    rows = []
    logging.getLogger("dowhy").setLevel(logging.ERROR)
    for arm in arms:
        if arm == 0:
            raise ValidationError(f"drugs: {data.reference!r} is the reference arm; name drugs to contrast with it")
        keep = np.isin(data.action, (0, arm))
        cols = [f"x{j}" for j in range(data.X.shape[1])]
        frame = pd.DataFrame(data.X[keep], columns=cols).assign(treatment=(data.action[keep] == arm).astype(int), y=data.y[keep])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = CausalModel(data=frame, treatment="treatment", outcome="y", common_causes=cols)
            # every covariate is a common cause here, so the maximal adjustment set is the answer; DoWhy's
            # default search over adjustment sets grows combinatorially with the covariates (minutes at 150)
            estimand = model.identify_effect(method_name="maximal-adjustment", proceed_when_unidentifiable=True)
            estimand.set_identifier_method("backdoor")
            est = adapter(estimand, prototype).fit(frame)
            estimate = est.estimate_effect(frame)
            base = float(estimate.value)
            rng = np.random.RandomState(random_state)
            for check in checks:
                record.clear()
                if check == "placebo_treatment":
                    r = refute_placebo_treatment(frame, estimand, estimate, ["treatment"], num_simulations=n_simulations,
                                                 placebo_type=PlaceboType.PERMUTE, random_state=rng)  # fmt: skip
                    p = r.refutation_result["p_value"]  # DoWhy: are the placebo estimates centred at zero?
                    centred = bool(p > significance_level)
                    distinct = _outside(base, np.asarray(record), significance_level)
                    passed = centred and distinct
                    why = ("real estimate stands apart from placebo estimates, which centre on zero" if passed
                           else "placebo estimates do not centre on zero: the estimator finds effects where none exist"
                           if not centred else "estimate indistinguishable from a placebo treatment")  # fmt: skip
                elif check == "random_common_cause":
                    r = refute_random_common_cause(frame, estimand, estimate, num_simulations=n_simulations, random_state=rng)
                    p = r.refutation_result["p_value"]
                    passed = bool(p > significance_level)
                    why = "stable when a random covariate is added" if passed else "moves when a random covariate is added"
                elif check == "data_subset":
                    r = refute_data_subset(frame, estimand, estimate, subset_fraction=subset_fraction,
                                           num_simulations=n_simulations, random_state=rng)  # fmt: skip
                    p = r.refutation_result["p_value"]
                    passed = bool(p > significance_level)
                    why = f"stable on {subset_fraction:.0%} subsets" if passed else f"moves on {subset_fraction:.0%} subsets"
                else:
                    np.random.seed(rng.randint(2**31 - 1))  # DoWhy draws the simulated confounder from numpy's global state
                    r = sensitivity_simulation(frame, estimand, estimate, ["treatment"], ["y"], kappa_t=kappa_t,
                                               kappa_y=kappa_y * float(frame["y"].std()),
                                               confounders_effect_on_treatment="binary_flip",
                                               confounders_effect_on_outcome="linear")  # fmt: skip
                    p = np.nan
                    passed = bool(np.sign(r.new_effect) == np.sign(base))
                    why = (f"keeps its sign under a confounder flipping {kappa_t:.0%} of treatments and shifting y by "
                           f"{kappa_y} SD") if passed else "changes sign under a plausible unobserved confounder"  # fmt: skip
                new = np.asarray(r.new_effect, dtype=float)
                rows.append({"drug": names[arm], "check": check, "estimate": base, "refuted_estimate": float(new.mean()),
                             "p_value": float(p), "passed": passed, "interpretation": why})  # fmt: skip
    return pd.DataFrame(rows)
