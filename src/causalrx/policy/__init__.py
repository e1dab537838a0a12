"""Recommendation policies, learned and baseline, all under the safety mask.

Every policy has ``action_dist(Z, mask) -> (n, k)`` (zero on masked drugs),
``predict(Z, mask) -> (n,)`` and ``save/load``. One-step learners (effect-greedy, policy
tree/forest, DR bandit learner) are fitted with ``fit(Z, action, reward, mask=...)`` on
out-of-fold embeddings; offline RL (:class:`OfflineRLPolicy`) on multi-visit
:class:`~causalrx.data.Trajectories`.
"""

from causalrx.policy.bandit import DRPolicyLearner
from causalrx.policy.base import Policy, PolicyBase, as_mask, dr_scores
from causalrx.policy.baselines import GuidelinePolicy, LoggedPolicy, ReferencePolicy, UniformPolicy
from causalrx.policy.constant import BestSingleDrugPolicy
from causalrx.policy.greedy import EffectGreedyPolicy
from causalrx.policy.offline_rl import ALGORITHMS, OfflineRLPolicy
from causalrx.policy.tree import PolicyTreeLearner

__all__ = [
    "ALGORITHMS", "BestSingleDrugPolicy", "DRPolicyLearner", "EffectGreedyPolicy", "GuidelinePolicy", "LoggedPolicy", "OfflineRLPolicy", "Policy",
    "PolicyBase", "PolicyTreeLearner", "ReferencePolicy", "UniformPolicy", "as_mask", "dr_scores",
]  # fmt: skip
