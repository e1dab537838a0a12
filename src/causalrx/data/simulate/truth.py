"""Ground truth of a simulated cohort, and the true value of any policy."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from causalrx.data.feedback import BanditFeedback, Trajectories
from causalrx.data.schema import Cohort
from causalrx.data.simulate import world
from causalrx.data.storage import atomic_folder, cohort_files, recovered, sha256_file, write_cohort
from causalrx.exceptions import ValidationError

TRUTH_FILES = ("truth.npz", "truth_traits.parquet")


def simulation_files(folder: Path) -> set[str] | None:
    """The entries of a simulated-cohort store; None when ``folder`` is not one."""
    if not (folder / "simulation.json").is_file() or cohort_files(folder / "cohort") is None:
        return None
    return {"cohort", "simulation.json", *TRUTH_FILES}

OUTCOMES = ("net", "efficacy", "adverse")


@dataclass(frozen=True, eq=False)
class GroundTruth:
    """What the simulator knows and an analyst never sees.

    Arrays of shape (n, k) are indexed by patient (clinical order) and drug, at the
    baseline visit. ``ate_*`` are the *stated* population ATEs versus the reference arm,
    computed in closed form from the simulator's distributions (not from this sample).

    Attributes
    ----------
    efficacy_mean, adverse_prob : (n, k)
        E[efficacy | x, a] and P(adverse event | x, a).
    efficacy, adverse_event, event_time : (n, k)
        Realised potential outcomes (shared noise across arms).
    propensity : (n, k)
        The logging (clinician) policy at baseline.
    contraindicated : bool (n, k)
        True where the drug is truly contraindicated for the patient (the harm a safety
        rule should prevent), whether or not the clinician could know it.
    visit_propensity : (n, horizon)
        Logging probability of the logged drug at every visit.
    disease_prob : (n,)
        Probability of the drug-independent ``disease`` event (the risk-model label in
        ``cohort.outcomes``; see :func:`.world.disease_risk`).
    traits : DataFrame
        Latent traits, the hidden confounder ``u`` included.
    """

    action_names: tuple[str, ...]
    harm_weight: float
    efficacy_mean: np.ndarray
    adverse_prob: np.ndarray
    efficacy: np.ndarray
    adverse_event: np.ndarray
    event_time: np.ndarray
    propensity: np.ndarray
    contraindicated: np.ndarray
    visit_propensity: np.ndarray
    ate_efficacy: np.ndarray
    ate_adverse: np.ndarray
    mu0: np.ndarray
    drift: np.ndarray
    static_logits: np.ndarray
    disease_prob: np.ndarray
    confounding: float
    overlap: float
    traits: pd.DataFrame

    @property
    def expected_reward(self) -> np.ndarray:
        """E[reward | x, a] = efficacy_mean - harm_weight * adverse_prob, shape (n, k)."""
        return self.efficacy_mean - self.harm_weight * self.adverse_prob

    @property
    def ite_efficacy(self) -> np.ndarray:
        return self.efficacy_mean - self.efficacy_mean[:, :1]

    @property
    def ite_adverse(self) -> np.ndarray:
        return self.adverse_prob - self.adverse_prob[:, :1]

    @property
    def ite_net(self) -> np.ndarray:
        return self.expected_reward - self.expected_reward[:, :1]

    @property
    def ate_net(self) -> np.ndarray:
        return self.ate_efficacy - self.harm_weight * self.ate_adverse

    def to_frame(self) -> pd.DataFrame:
        """Per-drug table: stated population ATEs and this sample's mean ITEs."""
        return pd.DataFrame(
            {
                "drug": self.action_names,
                "ate_efficacy": self.ate_efficacy,
                "ate_adverse": self.ate_adverse,
                "ate_net": self.ate_net,
                "sample_ate_efficacy": self.ite_efficacy.mean(axis=0),
                "sample_ate_adverse": self.ite_adverse.mean(axis=0),
                "sample_ate_net": self.ite_net.mean(axis=0),
                "share_contraindicated": self.contraindicated.mean(axis=0),
            }
        )


def _as_distribution(policy, n: int, k: int, features: Callable[[], pd.DataFrame]) -> np.ndarray:
    if callable(policy):
        policy = policy(features())
    arr = np.asarray(policy)
    if arr.ndim == 1:
        if arr.shape != (n,) or arr.dtype.kind not in "iu" or arr.min() < 0 or arr.max() >= k:
            raise ValidationError(f"policy: expected {n} drug indices in 0..{k - 1} or an (n, k) distribution")
        dist = np.zeros((n, k))
        dist[np.arange(n), arr] = 1.0
        return dist
    if arr.shape != (n, k):
        raise ValidationError(f"policy: expected an action distribution of shape ({n}, {k}), got {arr.shape}")
    if (arr < 0).any() or not np.allclose(arr.sum(axis=1), 1.0, atol=1e-6):
        raise ValidationError("policy: every row of the action distribution must be >= 0 and sum to 1")
    return arr.astype(float)


@dataclass(frozen=True, eq=False)
class SimulatedCohort:
    """A simulated :class:`~causalrx.data.schema.Cohort` with its ground truth.

    Attributes
    ----------
    cohort : Cohort
        What an analyst would observe.
    truth : GroundTruth
        Potential outcomes, true effects, logging propensities, contraindications.
    config : dict
        The arguments of :func:`simulate_cohort` that produced it.
    """

    cohort: Cohort
    truth: GroundTruth
    config: dict[str, Any]

    @property
    def horizon(self) -> int:
        return int(self.config["horizon"])

    # --------------------------------------------------------------- policies
    def policy_features(self) -> pd.DataFrame:
        """The observed static feature table a policy callable receives (see :meth:`Cohort.feature_table`)."""
        return self.cohort.feature_table()

    def oracle_policy(self, mask: np.ndarray | None = None, outcome: str = "net") -> np.ndarray:
        """One-hot (n, k) distribution of the best drug per patient by true expected outcome (baseline visit)."""
        value = self._per_drug(outcome)
        if mask is not None:
            value = np.where(mask, value, -np.inf)
        best = value.argmax(axis=1)
        return np.eye(value.shape[1])[best]

    def _per_drug(self, outcome: str) -> np.ndarray:
        if outcome not in OUTCOMES:
            raise ValidationError(f"outcome: expected one of {OUTCOMES}, got {outcome!r}")
        t = self.truth
        return {"net": t.expected_reward, "efficacy": t.efficacy_mean, "adverse": -t.adverse_prob}[outcome]

    def true_policy_value(
        self,
        policy,
        *,
        outcome: str = "net",
        gamma: float = 1.0,
        n_rollouts: int = 10,
        random_state: int | None = 0,
    ) -> float:
        """True value of ``policy``: the mean (discounted) expected outcome per patient.

        For one-step cohorts (``horizon == 1``) the value is exact given the patients:
        ``mean_i sum_a pi(a | x_i) E[Y_i(a)]``, with ``Y`` the net reward (``outcome="net"``),
        the efficacy score, or minus the adverse-event probability (``"adverse"``, so higher
        is still better). ``policy`` is an (n, k) distribution, an (n,) array of drug indices,
        or a callable taking :meth:`policy_features` and returning an (n, k) distribution.

        For ``horizon > 1`` the value is the expected discounted return
        ``E[sum_t gamma^t r_t]`` by Monte Carlo rollout of the true dynamics from the same
        patients (``n_rollouts`` each), with per-visit expected rewards. ``policy`` must then
        be a callable taking a DataFrame of the static features plus ``visit``, ``severity``
        (as clinicians observe it) and ``previous_drug`` (-1 at the first visit).
        """
        n, k = self.truth.efficacy_mean.shape
        if self.horizon == 1:
            dist = _as_distribution(policy, n, k, self.policy_features)
            return float((dist * self._per_drug(outcome)).sum(axis=1).mean())
        if not callable(policy):
            raise ValidationError("policy: for horizon > 1 the policy must be a callable (see true_policy_value)")
        if outcome != "net":
            raise ValidationError("outcome: multi-visit values are defined for the net reward only")
        static = self.policy_features()

        def choose(t, severity_obs, previous):
            frame = static.copy()
            frame["visit"] = t
            frame["severity"] = severity_obs
            frame["previous_drug"] = -1 if previous is None else previous
            return _as_distribution(policy, n, k, lambda: frame)

        return self._rollout_value(choose, gamma, n_rollouts, random_state)

    def observation_policy(self, policy, context: np.ndarray | None = None, mask=None) -> Callable[[pd.DataFrame], np.ndarray]:
        """Wrap a policy over :meth:`trajectories` observations as the callable :meth:`true_policy_value` rolls out.

        The callable rebuilds each visit's observation exactly as :meth:`trajectories` does
        (static ``context``, visit, observed severity, previous drug one-hot) and returns
        ``policy.action_dist(observations, mask)``; ``mask`` is the (n, k) mask of the
        patients, the same at every visit.
        """
        static = self.default_context() if context is None else np.asarray(context, dtype=float)
        k = self.cohort.n_actions

        def call(frame: pd.DataFrame) -> np.ndarray:
            previous = frame["previous_drug"].to_numpy()
            onehot = np.zeros((len(frame), k))
            has = previous >= 0
            onehot[np.flatnonzero(has), previous[has]] = 1.0
            obs = np.hstack([static, frame[["visit", "severity"]].to_numpy(dtype=float), onehot])
            return policy.action_dist(obs, mask)

        return call

    def logging_policy_value(self, *, gamma: float = 1.0, n_rollouts: int = 10, random_state: int | None = 0) -> float:
        """True value of the clinicians' own (logging) policy, as :meth:`true_policy_value`."""
        t = self.truth
        if self.horizon == 1:
            return float((t.propensity * t.expected_reward).sum(axis=1).mean())
        clinicians = world.ClinicianPolicy(t.static_logits, t.confounding, t.overlap)
        return self._rollout_value(lambda _, sev, prev: clinicians.distribution(sev, prev), gamma, n_rollouts, random_state)

    def _rollout_value(self, choose, gamma, n_rollouts, random_state) -> float:
        rng = np.random.default_rng(random_state)
        t = self.truth
        benefit = t.efficacy_mean - t.efficacy_mean[:, :1]
        values = [
            world.run_episodes(choose, t.mu0, benefit, t.adverse_prob, t.drift, self.horizon, t.harm_weight, rng, gamma)[
                "expected_return"
            ].mean()
            for _ in range(n_rollouts)
        ]
        return float(np.mean(values))

    # --------------------------------------------------------- logged data
    def default_context(self) -> np.ndarray:
        """A crude finite context: the feature table plus the baseline severity the clinicians
        recorded, with NaN replaced by column means.

        The ``has_<modality>`` flags keep modality absence visible. Real analyses should
        prepare features with :mod:`causalrx.prep` and encoders instead.
        """
        table = self.cohort.feature_table()
        ts = self.cohort.timeseries
        baseline = ts[ts["visit"] == 0].set_index("patient_id")["severity"]
        table["baseline_severity"] = baseline.reindex(table.index).to_numpy()
        return table.fillna(table.mean()).fillna(0.0).to_numpy(dtype=float)

    def bandit_feedback(self, context: np.ndarray | None = None, *, with_pscore: bool = True, mask=None) -> BanditFeedback:
        """Baseline-visit logged decisions as :class:`BanditFeedback` (reward = net utility)."""
        cohort = self.cohort
        action = cohort.logged_actions(0)
        reward = cohort.outcome("efficacy", 0) - self.truth.harm_weight * cohort.outcome("adverse_event", 0)
        return BanditFeedback(
            context=self.default_context() if context is None else context,
            action=action,
            reward=reward,
            action_names=cohort.action_names,
            pscore=self.truth.visit_propensity[:, 0] if with_pscore else None,
            mask=mask,
        )

    def trajectories(self, context: np.ndarray | None = None, *, with_pscore: bool = True) -> Trajectories:
        """Logged episodes: observation = static context + visit, observed severity, previous drug one-hot."""
        cohort = self.cohort
        static = self.default_context() if context is None else np.asarray(context, dtype=float)
        n, horizon, k = cohort.n_patients, self.horizon, cohort.n_actions
        ts = cohort.timeseries.set_index(["patient_id", "visit"])
        order = pd.MultiIndex.from_product([cohort.patient_ids, range(horizon)])
        severity = ts["severity"].reindex(order).to_numpy()
        actions = np.stack([cohort.logged_actions(v) for v in range(horizon)], axis=1)
        previous = np.full((n, horizon), -1)
        previous[:, 1:] = actions[:, :-1]
        prev_onehot = np.zeros((n * horizon, k))
        has_prev = previous.ravel() >= 0
        prev_onehot[np.flatnonzero(has_prev), previous.ravel()[has_prev]] = 1.0
        obs = np.hstack(
            [np.repeat(static, horizon, axis=0), np.tile(np.arange(horizon), n)[:, None], severity[:, None], prev_onehot]
        )
        reward = np.stack(
            [cohort.outcome("efficacy", v) - self.truth.harm_weight * cohort.outcome("adverse_event", v) for v in range(horizon)],
            axis=1,
        )
        return Trajectories(
            observations=obs,
            action=actions.ravel(),
            reward=reward.ravel(),
            episode_id=np.repeat(np.arange(n), horizon),
            step=np.tile(np.arange(horizon), n),
            action_names=cohort.action_names,
            pscore=self.truth.visit_propensity.ravel() if with_pscore else None,
        )

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``cohort/`` (Parquet + manifest), ``truth.npz``, ``truth_traits.parquet`` and
        ``simulation.json`` (with the truth files' SHA-256), atomically as :meth:`Cohort.save`."""
        folder = Path(path)
        with atomic_folder(folder, overwrite=overwrite, owned=simulation_files, what="simulated cohort") as tmp:
            (tmp / "cohort").mkdir()
            write_cohort(self.cohort, tmp / "cohort")
            arrays = {f.name: getattr(self.truth, f.name) for f in fields(GroundTruth) if isinstance(getattr(self.truth, f.name), np.ndarray)}
            np.savez_compressed(tmp / "truth.npz", **arrays)
            self.truth.traits.to_parquet(tmp / "truth_traits.parquet", index=False)
            scalars = {
                "action_names": list(self.truth.action_names),
                "harm_weight": self.truth.harm_weight,
                "confounding": self.truth.confounding,
                "overlap": self.truth.overlap,
            }
            digests = {name: sha256_file(tmp / name) for name in TRUTH_FILES}
            (tmp / "simulation.json").write_text(json.dumps({"config": self.config, "truth": scalars, "sha256": digests}, indent=2))
        return folder

    @classmethod
    def load(cls, path: str | Path) -> SimulatedCohort:
        folder = recovered(Path(path), "simulation.json")
        if not (folder / "simulation.json").is_file():
            raise ValidationError(f"{folder}: no simulation.json; not a folder written by SimulatedCohort.save")
        meta = json.loads((folder / "simulation.json").read_text())
        for name, digest in meta.get("sha256", {}).items():
            if name not in TRUTH_FILES or sha256_file(folder / name) != digest:
                raise ValidationError(f"{folder / name}: checksum differs from simulation.json (file changed after saving)")
        with np.load(folder / "truth.npz") as npz:
            arrays = {name: npz[name] for name in npz.files}
        scalars = meta["truth"]
        truth = GroundTruth(
            action_names=tuple(scalars["action_names"]),
            harm_weight=scalars["harm_weight"],
            confounding=scalars["confounding"],
            overlap=scalars["overlap"],
            traits=pd.read_parquet(folder / "truth_traits.parquet"),
            **arrays,
        )
        return cls(cohort=Cohort.load(folder / "cohort"), truth=truth, config=meta["config"])
