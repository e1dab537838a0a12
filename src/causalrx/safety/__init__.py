"""Safety constraint layer: rules as data, masks with reasons, masked policies.

Rules (YAML, each citing its source) are evaluated to a boolean mask (True = allowed) with
the rule and reason behind every masked or flagged cell. Policies choose through
:func:`masked_argmax` / :func:`masked_softmax`; off-policy evaluation refuses target
policies that put mass on masked drugs.
"""

from causalrx.safety.mask import Firing, Mask, NotEvaluableWarning, RuleSet, patient_fields
from causalrx.safety.rules import Rule
from causalrx.safety.vocabulary import Vocabulary, VocabularyOverrideWarning
from causalrx.safety.scores import masked_argmax, masked_greedy, masked_softmax, restrict

__all__ = [
    "Firing", "Mask", "NotEvaluableWarning", "Rule", "RuleSet", "Vocabulary", "VocabularyOverrideWarning", "masked_argmax",
    "masked_greedy", "masked_softmax", "patient_fields", "restrict",
]  # fmt: skip
