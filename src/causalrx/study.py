"""Simulation studies: ATE estimators x cohort settings x seeds, scored against the simulator's truth.

``simulation_study(estimators, settings, seeds)`` simulates one cohort per (setting, seed),
fits every estimator on it (the task: one cohort, every estimator) through
:func:`causalrx.execution.run_tasks`, so it runs serially, on local processes or on a Ray
cluster with identical numbers, and returns the tidy rows: one per (setting, seed, estimator,
drug) with the estimate, its 95% interval and the truth (the stated population ATE and this
cohort's mean ITE). :func:`summarise_study` gives bias, RMSE, interval coverage and width per
(setting, estimator, drug). ``causalrx study`` runs it from the command line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from causalrx.exceptions import ValidationError
from causalrx.execution import run_tasks, task_seed

ESTIMATORS = ("ipw", "aipw", "dml")


def _estimator(name: str, seed: int, n_folds: int):
    from causalrx.effects import AIPW, DML, IPW

    return {"ipw": IPW, "aipw": AIPW, "dml": DML}[name](random_state=seed, n_folds=n_folds)


def one_cohort(setting: str, seed: int, simulate: dict, estimators: list[str], outcome: str, n_folds: int) -> list[dict]:
    """Every estimator on one simulated cohort: a row per estimator and drug."""
    import warnings

    from causalrx.data.simulate import simulate_cohort
    from causalrx.effects import cohort_inputs
    from causalrx.report.representation import raw_covariates

    sim = simulate_cohort(**simulate, random_state=seed, ecg=False)
    _, action, y, names = cohort_inputs(sim.cohort, outcome)
    X = raw_covariates(sim.cohort)
    truth = {"efficacy": (sim.truth.ate_efficacy, sim.truth.ite_efficacy), "adverse_event": (sim.truth.ate_adverse, sim.truth.ite_adverse)}
    stated, ite = truth[outcome]
    rows = []
    for name in estimators:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = _estimator(name, seed, n_folds).fit(X, action, y, action_names=names, reference=sim.cohort.reference).effect(X)
        for j, drug in enumerate(est.action_names):
            if drug == est.reference:
                continue
            k = names.index(drug)
            rows.append({"setting": setting, "seed": seed, "estimator": name, "drug": drug, "estimate": float(est.ate[j]),
                         "lower": float(est.ate_lower[j]), "upper": float(est.ate_upper[j]), "true_ate": float(stated[k]),
                         "sample_ate": float(ite[:, k].mean())})  # fmt: skip
    return rows


def simulation_study(settings: dict[str, dict], seeds, *, estimators=ESTIMATORS, outcome: str = "efficacy", n_folds: int = 3,
                     base_seed: int = 0, backend: str | None = None, address: str | None = None, n_jobs: int | None = None,
                     progress: bool = False) -> pd.DataFrame:  # fmt: skip
    """Tidy rows of the study. ``settings``: name -> keyword arguments of ``simulate_cohort``
    (e.g. ``{"confounded": {"n": 2000, "n_drugs": 4, "confounding": 1.0}}``); ``seeds``: the
    replication labels. Each task's seed is :func:`task_seed` of ``base_seed`` and its key."""
    unknown = sorted(set(estimators) - set(ESTIMATORS))
    if unknown or not estimators:
        raise ValidationError(f"estimators: expected some of {list(ESTIMATORS)}, got {list(estimators)}")
    if outcome not in ("efficacy", "adverse_event"):
        raise ValidationError(f"outcome: expected 'efficacy' or 'adverse_event', got {outcome!r}")
    if not settings:
        raise ValidationError("settings: expected at least one {name: simulate_cohort arguments}")
    tasks = [((name, int(s)), {"setting": name, "seed": task_seed(base_seed, (name, int(s))), "simulate": dict(kwargs),
                                "estimators": list(estimators), "outcome": outcome, "n_folds": n_folds})
             for name, kwargs in settings.items() for s in seeds]  # fmt: skip
    results = run_tasks(one_cohort, tasks, backend=backend, address=address, n_jobs=n_jobs, progress=progress, desc="cohorts")
    rows = [row | {"replication": key[1]} for (key, _), part in zip(tasks, results) for row in part]
    return pd.DataFrame(rows)


def summarise_study(rows: pd.DataFrame, truth: str = "true_ate") -> pd.DataFrame:
    """Bias, RMSE, 95% coverage and mean interval width per (setting, estimator, drug) against ``truth``."""
    err = rows.assign(error=rows["estimate"] - rows[truth], covered=(rows["lower"] <= rows[truth]) & (rows[truth] <= rows["upper"]),
                      width=rows["upper"] - rows["lower"])  # fmt: skip
    out = err.groupby(["setting", "estimator", "drug"], sort=False).agg(
        replications=("error", "size"), truth=(truth, "mean"), bias=("error", "mean"), rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))),
        coverage=("covered", "mean"), mean_width=("width", "mean"))  # fmt: skip
    return out.reset_index()
