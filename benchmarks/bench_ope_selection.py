"""Off-policy selection on the simulator: does the chosen policy beat the clinicians, and is it ever unsafe?

For each seed a one-step cohort is simulated (6 drugs, ``--n`` patients, the default safety
rules as the mask) and split in half. Learners are fitted on the first half and act on the
second; every candidate is evaluated off-policy on the second half only (logged
propensities, a reward model cross-fitted there), and one policy is selected by each rule:

* ``value``: the largest DR estimate;
* ``lower bound (t)`` / ``lower bound (bootstrap)``: the largest one-sided 95 % DR bound;
* the same two with ``baseline="clinicians"``: another policy only when its bound exceeds
  the clinicians' estimated value (safe policy improvement).

Candidates: the clinicians (the logging policy itself), uniform over allowed drugs,
standard care for everyone, a guideline, and three learned policies (effect-greedy, a
depth-3 policy tree, a DR bandit), all masked, plus the effect-greedy policy *without*
the mask (an unsafe candidate that must never be chosen). The empirical Bernstein bound is
not used: the simulator's net reward (a continuous efficacy score) has no known range.

Per seed and rule: the chosen policy, its true value on the selection half, its regret
against the best safe candidate, whether it is worse than the clinicians or unsafe, and the
Spearman correlation between the rule's scores and the true values of the candidates.
Saved to ``benchmarks/results/ope_selection.csv``.

    .venv/bin/python benchmarks/bench_ope_selection.py [--seeds 20] [--n 4000] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from causalrx.data import BanditFeedback
from causalrx.data.simulate import simulate_cohort
from causalrx.effects import DRLearner
from causalrx.ope import DR, RewardModel, select_policy
from causalrx.parallel import resolve_n_jobs
from causalrx.policy import DRPolicyLearner, EffectGreedyPolicy, GuidelinePolicy, PolicyTreeLearner
from causalrx.report.representation import raw_covariates
from causalrx.safety import RuleSet

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).resolve().parent / "results"
GUIDELINE = [
    {"id": "diabetes", "when": {"field": "diabetes", "is": True}, "prefer": ["metformin"]},
    {"id": "af", "when": {"field": "atrial_fibrillation", "is": True}, "prefer": ["warfarin", "sotalol"]},
    {"id": "cv-risk", "when": {"field": "hypertension", "is": True}, "prefer": ["simvastatin", "clopidogrel"]},
]
RULES = {  # name: (criterion, method, baseline)
    "value": ("value", "t", None),
    "lower bound (t)": ("lower_bound", "t", None),
    "lower bound (bootstrap)": ("lower_bound", "bootstrap", None),
    "lower bound (t), keep clinicians without evidence": ("lower_bound", "t", "clinicians"),
    "lower bound (bootstrap), keep clinicians without evidence": ("lower_bound", "bootstrap", "clinicians"),
}


def subset(fb: BanditFeedback, rows: np.ndarray) -> BanditFeedback:
    return BanditFeedback(context=fb.context[rows], action=fb.action[rows], reward=fb.reward[rows], action_names=fb.action_names,
                          pscore=fb.pscore[rows], mask=fb.mask[rows])  # fmt: skip


def one_seed(seed: int, n: int) -> list[dict]:
    warnings.filterwarnings("ignore")
    start = time.process_time()
    sim = simulate_cohort(n=n, n_drugs=6, random_state=seed, ecg=False)
    cohort, names, k = sim.cohort, sim.cohort.action_names, sim.cohort.n_actions
    mask = RuleSet.default().evaluate(cohort).allowed
    X = raw_covariates(cohort)
    fb = sim.bandit_feedback(X, mask=mask)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    learn, select = np.sort(order[: n // 2]), np.sort(order[n // 2 :])
    fb_sel, X_sel, m_sel = subset(fb, select), X[select], mask[select]
    fit = dict(n_actions=k, mask=mask[learn])
    named = dict(action_names=names, reference=cohort.reference)
    ref = cohort.reference_index
    greedy = EffectGreedyPolicy(estimator=DRLearner(n_jobs=1, random_state=seed), random_state=seed).fit(
        X[learn], fb.action[learn], fb.reward[learn], **fit, **named)
    tree = PolicyTreeLearner(max_depth=3, random_state=seed).fit(X[learn], fb.action[learn], fb.reward[learn], **fit, **named)
    bandit = DRPolicyLearner(random_state=seed).fit(X[learn], fb.action[learn], fb.reward[learn], **fit)
    allowed = m_sel / m_sel.sum(axis=1, keepdims=True)
    policies = {
        "clinicians": sim.truth.propensity[select],
        "uniform (allowed drugs)": allowed,
        "standard care": np.eye(k)[np.full(len(select), ref)],
        "guideline": GuidelinePolicy(GUIDELINE, action_names=names).action_dist(cohort, mask)[select],
        "effect-greedy": greedy.action_dist(X_sel, m_sel),
        "policy tree (depth 3)": tree.action_dist(X_sel, m_sel),
        "DR bandit": bandit.action_dist(X_sel, m_sel),
        "effect-greedy, no mask (unsafe)": greedy.action_dist(X_sel, "unmasked"),  # stated explicitly, as the library asks
    }
    expected = sim.truth.expected_reward[select]
    truth = {name: float((dist * expected).sum(axis=1).mean()) for name, dist in policies.items()}
    unsafe = {name: bool(((dist * ~m_sel).sum(axis=1) > 1e-12).any()) for name, dist in policies.items()}
    best_safe = max(v for name, v in truth.items() if not unsafe[name])
    rewards = RewardModel(random_state=seed).fit_predict(fb_sel)
    rows = []
    for rule, (criterion, method, baseline) in RULES.items():
        sel = select_policy(fb_sel, policies, rewards, criterion=criterion, method=method, estimator=DR(), baseline=baseline,
                            random_state=seed)  # fmt: skip
        table = sel.table.assign(true=lambda t: t.policy.map(truth))
        ok = ~table.masked
        rho = spearmanr(table.loc[ok, "score"], table.loc[ok, "true"]).statistic
        chosen = sel.chosen
        rows.append({"seed": seed, "rule": rule, "chosen": chosen, "chosen_true_value": truth[chosen],
                     "clinicians_true_value": truth["clinicians"], "best_safe_true_value": best_safe,
                     "regret": best_safe - truth[chosen], "worse_than_clinicians": truth[chosen] < truth["clinicians"],
                     "chosen_unsafe": unsafe[chosen] and chosen != "clinicians", "spearman_safe_candidates": rho,
                     "cpu_seconds_seed": time.process_time() - start})  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--n", type=int, default=4000)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "ope_selection.csv")
    args = parser.parse_args()
    work = Parallel(n_jobs=resolve_n_jobs(args.jobs), return_as="generator_unordered")(
        delayed(one_seed)(s, args.n) for s in range(1, args.seeds + 1))
    rows = []
    for result in tqdm(work, total=args.seeds, desc="seeds"):
        rows += result
    raw = pd.DataFrame(rows).sort_values(["rule", "seed"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    raw.to_csv(args.out, index=False)
    summary = raw.groupby("rule", sort=False).agg(
        seeds=("seed", "nunique"), mean_regret=("regret", "mean"), max_regret=("regret", "max"),
        worse_than_clinicians=("worse_than_clinicians", "mean"), unsafe_chosen=("chosen_unsafe", "sum"),
        spearman=("spearman_safe_candidates", "mean"),
    )  # fmt: skip
    chosen = raw.pivot_table(index="rule", columns="chosen", values="seed", aggfunc="count", fill_value=0, sort=False)
    pd.set_option("display.width", 220)
    print(f"{args.seeds} seeds, n = {args.n} (half to learn, half to select), candidates evaluated by DR on the selection half")
    print(summary.to_markdown(floatfmt=".3f"))
    print("\nHow often each candidate was chosen:\n" + chosen.to_markdown())
    print(f"\nsaved {args.out}")


if __name__ == "__main__":
    main()
