"""Logged decisions as arrays: one-step bandit feedback and multi-visit trajectories.

These are what policies learn from and what off-policy estimators evaluate. Construction
validates everything once; downstream code trusts the arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from causalrx.exceptions import ValidationError


def _actions_as_index(name: str, action, action_names: tuple[str, ...]) -> np.ndarray:
    action = np.asarray(action)
    if action.ndim != 1:
        raise ValidationError(f"{name}: expected a 1-d array of drug indices or names, got shape {action.shape}")
    if action.dtype.kind in "OUS":
        lookup = {a: i for i, a in enumerate(action_names)}
        as_text = action.astype(str)
        missing = np.array([a is None or (isinstance(a, float) and np.isnan(a)) for a in action]) if action.dtype.kind == "O" else np.zeros(len(action), bool)
        if missing.any():
            raise ValidationError(f"{name}: {int(missing.sum())} missing (NaN) action(s)")
        unknown = sorted({str(a) for a in as_text if a not in lookup})
        if unknown:
            raise ValidationError(f"{name}: unknown drug name(s) {unknown[:5]}; known: {list(action_names)}")
        return np.fromiter((lookup[a] for a in as_text), dtype=np.int64, count=len(as_text))
    if action.dtype.kind == "f":
        nan = np.isnan(action)
        if nan.any():
            raise ValidationError(f"{name}: {int(nan.sum())} missing (NaN) action(s)")
        if not np.all(action == np.round(action)):
            raise ValidationError(f"{name}: actions must be integer drug indices")
    if action.dtype.kind not in "iuf":
        raise ValidationError(f"{name}: expected integer drug indices or drug names, got dtype {action.dtype}")
    action = action.astype(np.int64)
    bad = (action < 0) | (action >= len(action_names))
    if bad.any():
        raise ValidationError(
            f"{name}: {int(bad.sum())} action(s) outside 0..{len(action_names) - 1} (the {len(action_names)} drugs)"
        )
    return action


def check_finite_vector(name: str, values, n: int, what: str = "value") -> np.ndarray:
    """A float vector of length ``n`` (one entry per logged decision or patient) with no NaN or infinity."""
    values = np.asarray(values, dtype=float)
    if values.shape != (n,):
        raise ValidationError(f"{name}: expected shape ({n},) to match the {n} rows, got {values.shape}")
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValidationError(f"{name}: {int(bad.sum())} {what}(s) are NaN or infinite")
    return values


def _check_pscore(name: str, pscore, n: int) -> np.ndarray | None:
    if pscore is None:
        return None
    pscore = check_finite_vector(name, pscore, n)
    bad = (pscore <= 0) | (pscore > 1)
    if bad.any():
        raise ValidationError(
            f"{name}: {int(bad.sum())} propensity value(s) outside (0, 1] (min {pscore.min():.3g}, max {pscore.max():.3g})"
        )
    return pscore


def check_mask(name: str, mask, n: int, k: int) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.shape != (n, k):
        raise ValidationError(f"{name}: expected a boolean array of shape ({n}, {k}), got {mask.shape}")
    if mask.dtype != bool:
        raise ValidationError(f"{name}: expected dtype bool (True = drug allowed), got {mask.dtype}")
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ValidationError(
            f"{name}: {int(empty.sum())} row(s) allow no drug at all; keep the reference arm allowed "
            "(e.g. 'refer to specialist') so every patient has an option"
        )
    return mask


def check_context(name: str, context, n: int | None = None) -> np.ndarray:
    """Covariates as a finite float (n, d) array; errors name the columns holding NaN or infinity."""
    context = np.asarray(context, dtype=float)
    if context.ndim != 2:
        raise ValidationError(f"{name}: expected a 2-d array (n_decisions, n_features), got shape {context.shape}")
    if n is not None and len(context) != n:
        raise ValidationError(f"{name}: has {len(context)} row(s) but there are {n} logged decisions")
    bad_cols = np.flatnonzero(~np.isfinite(context).all(axis=0))
    if len(bad_cols):
        raise ValidationError(
            f"{name}: NaN or infinite values in {len(bad_cols)} column(s) (indices {bad_cols[:10].tolist()}); "
            "impute them in preparation first"
        )
    return context


@dataclass(frozen=True, eq=False)
class BanditFeedback:
    """One-step logged decisions: context, drug chosen, reward, and what is known of the logger.

    Parameters
    ----------
    context : float array (n, d)
        Pre-treatment covariates or embeddings; finite.
    action : array (n,)
        Logged drug, as an index into ``action_names`` or as a drug name.
    reward : float array (n,)
        Observed reward (higher is better; see :class:`~causalrx.data.utility.Utility`).
    action_names : sequence of str
        The k drugs.
    pscore : float array (n,), optional
        Logging probability of the logged drug, if known; in (0, 1].
    mask : bool array (n, k), optional
        Safety mask, True = drug allowed; every row allows at least one drug.
    """

    context: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    action_names: tuple[str, ...]
    pscore: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        names = tuple(str(a) for a in self.action_names)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValidationError(f"action_names: expected at least 2 unique drug names, got {names}")
        action = _actions_as_index("action", self.action, names)
        n = len(action)
        if n == 0:
            raise ValidationError(f"action: no logged {'round' if type(self).__name__ == 'BanditFeedback' else 'step'}; "
                                  "there is nothing to learn from or evaluate")  # fmt: skip
        set_ = object.__setattr__
        set_(self, "action_names", names)
        set_(self, "action", action)
        set_(self, "context", check_context("context", self.context, n))
        set_(self, "reward", check_finite_vector("reward", self.reward, n))
        set_(self, "pscore", _check_pscore("pscore", self.pscore, n))
        set_(self, "mask", check_mask("mask", self.mask, n, len(names)))

    @property
    def n_rounds(self) -> int:
        return len(self.action)

    @property
    def n_actions(self) -> int:
        return len(self.action_names)

    def subset(self, index) -> BanditFeedback:
        """The feedback restricted to rows ``index`` (boolean mask or integer indices)."""
        take = lambda a: None if a is None else a[index]  # noqa: E731
        return BanditFeedback(
            context=self.context[index],
            action=self.action[index],
            reward=self.reward[index],
            action_names=self.action_names,
            pscore=take(self.pscore),
            mask=take(self.mask),
        )


@dataclass(frozen=True, eq=False)
class Trajectories:
    """Multi-visit episodes: one row per (episode, step), sorted, steps 0..T-1 without gaps.

    Parameters
    ----------
    observations : float array (N, d)
        Observation at each step (pre-decision covariates, embeddings, current labs).
    action, reward : arrays (N,)
        Logged drug (index or name) and reward at each step.
    episode_id : int array (N,)
        Episode (patient) of each step; rows of one episode are contiguous.
    step : int array (N,)
        Visit number within the episode, 0, 1, ..., T_e - 1.
    action_names : sequence of str
    pscore : float array (N,), optional
        Logging probability of each logged action, if known.
    mask : bool array (N, k), optional
        Safety mask at each step.
    """

    observations: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    episode_id: np.ndarray
    step: np.ndarray
    action_names: tuple[str, ...]
    pscore: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        names = tuple(str(a) for a in self.action_names)
        if len(names) < 2 or len(set(names)) != len(names):
            raise ValidationError(f"action_names: expected at least 2 unique drug names, got {names}")
        action = _actions_as_index("action", self.action, names)
        n = len(action)
        if n == 0:
            raise ValidationError(f"action: no logged {'round' if type(self).__name__ == 'BanditFeedback' else 'step'}; "
                                  "there is nothing to learn from or evaluate")  # fmt: skip
        set_ = object.__setattr__
        set_(self, "action_names", names)
        set_(self, "action", action)
        set_(self, "observations", check_context("observations", self.observations, n))
        set_(self, "reward", check_finite_vector("reward", self.reward, n))
        episode = np.asarray(self.episode_id)
        step = np.asarray(self.step)
        for name, arr in (("episode_id", episode), ("step", step)):
            if arr.shape != (n,) or arr.dtype.kind not in "iu":
                raise ValidationError(f"{name}: expected an integer array of shape ({n},), got {arr.dtype} {arr.shape}")
        starts = np.r_[True, episode[1:] != episode[:-1]]
        if len(np.unique(episode[starts])) != int(starts.sum()):
            raise ValidationError("episode_id: the rows of each episode must be contiguous (sort by episode, then step)")
        expected = np.arange(n) - np.maximum.accumulate(np.where(starts, np.arange(n), 0))
        bad = step != expected
        if bad.any():
            raise ValidationError(
                f"step: {int(bad.sum())} row(s) break the sequence 0, 1, ..., T-1 within their episode"
            )
        set_(self, "episode_id", episode)
        set_(self, "step", step.astype(np.int64))
        set_(self, "pscore", _check_pscore("pscore", self.pscore, n))
        set_(self, "mask", check_mask("mask", self.mask, n, len(names)))

    @property
    def n_steps(self) -> int:
        return len(self.action)

    @property
    def n_actions(self) -> int:
        return len(self.action_names)

    @property
    def episode_starts(self) -> np.ndarray:
        """Row index of the first step of each episode."""
        return np.flatnonzero(self.step == 0)

    @property
    def n_episodes(self) -> int:
        return len(self.episode_starts)

    @property
    def episode_index(self) -> np.ndarray:
        """Int array (N,): the position (0, 1, ...) of each row's episode."""
        return np.cumsum(self.step == 0) - 1

    @property
    def terminals(self) -> np.ndarray:
        """Float array (N,): 1.0 on the last step of each episode."""
        last = np.r_[self.step[1:] == 0, True]
        return last.astype(float)

    def subset(self, rows, episode_id=None) -> Trajectories:
        """The given rows (whole episodes, in order: a boolean mask or integer indices) as Trajectories;
        ``episode_id`` relabels them (e.g. a bootstrap's repeated episodes)."""
        return Trajectories(observations=self.observations[rows], action=self.action[rows], reward=self.reward[rows],
                            episode_id=self.episode_id[rows] if episode_id is None else episode_id, step=self.step[rows],
                            action_names=self.action_names, mask=None if self.mask is None else self.mask[rows])  # fmt: skip

    def returns(self, gamma: float = 1.0) -> np.ndarray:
        """Discounted return of each episode, ``sum_t gamma**t * r_t``."""
        return np.bincount(self.episode_index, weights=self.reward * gamma ** self.step.astype(float), minlength=self.n_episodes)
