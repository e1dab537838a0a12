"""Safety rules as data: YAML files validated on load, compiled to vectorised conditions.

A rule file holds ``rules:``, a list of mappings::

    - id: cpic-hlab5701-abacavir             # unique
      drugs: [abacavir]                      # drug names or classes (see vocabulary.yaml)
      when: {field: HLA-B*57:01, eq: positive}
      action: contraindicated                # masks the drug; "caution" keeps it, flagged
      reason: HLA-B*57:01 carrier - high risk of abacavir hypersensitivity
      dose_note: ...                         # optional, for cautions
      guideline: CPIC guideline for HLA-B genotype and abacavir dosing
      year: 2014                             # the guideline's year (as its title gives it)
      strength: strong                       # strong / moderate / optional (CPIC's classes), or
                                             # regulatory (a label or regulator's contraindication)
      indication: [ACS/PCI]                  # optional: the indication(s) the rule is for
      source: Martin MA et al., Clin Pharmacol Ther 2014 (citation)

Conditions: a leaf ``{field: F, OP: value}`` with OP one of ``eq, ne, in, not_in`` (category
fields), ``lt, le, gt, ge`` (number fields), ``is`` (boolean fields), ``missing``
(any field: true when the value is not recorded); or ``all: [...]``, ``any: [...]``, ``not: {...}``.
Missing values follow three-valued logic: a rule fires when its condition is known to hold,
and a rule that cannot be decided for a patient is *not evaluable* for that patient; a
contraindicating rule that is not evaluable masks its drugs (see :meth:`RuleSet.evaluate`).

How CPIC wording maps to actions: "avoid", "do not use", "use / select / choose an
alternative", "not recommended" and "avoid standard dose if possible" are
``contraindicated`` (the drug is masked, the reason says what to use instead); dose changes,
"consider", monitoring and testing advice are ``caution`` with a dose note.

Where a guideline splits by indication (clopidogrel: ACS/PCI, other cardiovascular,
neurovascular; thiopurines: malignant or non-malignant conditions; tricyclics: depression
doses), rules name their ``indication``. :meth:`RuleSet.evaluate` takes the indication of
each drug in the decision at hand; a drug whose indication is not given is held to the rules
of every indication, the strictest applying.

A file may extend the vocabulary with a top-level ``vocabulary:`` mapping in the form of
``rules/vocabulary.yaml`` (see :mod:`causalrx.safety.vocabulary` for what it may change).
Unknown keys, duplicate keys and thresholds that are not finite numbers are errors naming
the file and line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from causalrx.exceptions import ValidationError
from causalrx.safety.files import read_yaml
from causalrx.safety.vocabulary import Vocabulary, default_vocabulary

ACTIONS = ("contraindicated", "caution")
STRENGTHS = ("strong", "moderate", "optional", "regulatory")
NUMBER_OPS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}
CATEGORY_OPS = ("eq", "ne", "in", "not_in")
REQUIRED_KEYS = {"id", "drugs", "when", "action", "reason", "source", "guideline", "year", "strength"}
RULE_KEYS = REQUIRED_KEYS | {"dose_note", "indication"}
FILE_KEYS = {"rules", "vocabulary"}

__all__ = ["ACTIONS", "STRENGTHS", "Condition", "Rule", "Vocabulary", "default_vocabulary", "parse_rule", "read_rule_file"]


@dataclass(frozen=True)
class Condition:
    """A compiled condition: ``evaluate(columns) -> (holds, known)`` boolean arrays."""

    spec: Any

    def evaluate(self, columns: dict[str, np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
        return _evaluate(self.spec, columns, n)


def _evaluate(spec, columns, n):
    if "all" in spec or "any" in spec:
        parts = [_evaluate(s, columns, n) for s in spec.get("all", spec.get("any"))]
        holds = np.stack([h for h, _ in parts])
        known = np.stack([k for _, k in parts])
        if "all" in spec:
            false = (~holds & known).any(axis=0)
            return (holds & known).all(axis=0), known.all(axis=0) | false
        true = (holds & known).any(axis=0)
        return true, known.all(axis=0) | true
    if "not" in spec:
        holds, known = _evaluate(spec["not"], columns, n)
        return ~holds & known, known
    values, kind, categories = columns[spec["field"]]
    op = next(k for k in spec if k != "field")
    target = spec[op]
    if op == "missing":
        missing = (values < 0) if kind == "category" else np.isnan(values)
        return missing == bool(target), np.ones(n, dtype=bool)
    if kind == "category":
        known = values >= 0
        wanted = [categories.index(v) for v in (target if op in ("in", "not_in") else [target]) if v in categories]
        hit = np.isin(values, wanted)
        return (hit if op in ("eq", "in") else ~hit) & known, known
    known = ~np.isnan(values)
    if kind == "boolean":
        return (values == float(bool(target))) & known, known
    with np.errstate(invalid="ignore"):
        return NUMBER_OPS[op](values, float(target)) & known, known


def _compile(spec, vocab: Vocabulary, where: str):
    """Validate one condition mapping against the vocabulary (errors name file and line)."""
    line = getattr(spec, "line", None)
    loc = f"{where}:{line}" if line else where
    if not isinstance(spec, dict) or not spec:
        raise ValidationError(f"{loc}: a condition must be a mapping such as {{field: egfr, lt: 30}}, got {spec!r}")
    for combinator in ("all", "any"):
        if combinator in spec:
            if len(spec) != 1 or not isinstance(spec[combinator], list) or not spec[combinator]:
                raise ValidationError(f"{loc}: '{combinator}' takes a non-empty list of conditions and nothing beside it")
            return {combinator: [_compile(s, vocab, where) for s in spec[combinator]]}
    if "not" in spec:
        if len(spec) != 1:
            raise ValidationError(f"{loc}: 'not' takes one condition and nothing beside it")
        return {"not": _compile(spec["not"], vocab, where)}
    if "field" not in spec:
        raise ValidationError(f"{loc}: malformed condition {dict(spec)}; expected 'field' with one operator, or all/any/not")
    name = spec["field"]
    if name not in vocab.fields:
        raise ValidationError(f"{loc}: unknown field {name!r}; known fields: {sorted(vocab.fields)}")
    ops = [k for k in spec if k != "field"]
    if len(ops) != 1:
        raise ValidationError(f"{loc}: condition on {name!r} needs exactly one operator, got {ops}")
    op, value = ops[0], spec[ops[0]]
    kind = vocab.fields[name]["type"]
    if op == "missing":
        if not isinstance(value, bool):
            raise ValidationError(f"{loc}: 'missing' takes true or false, got {value!r}")
    elif kind == "number":
        if op not in NUMBER_OPS or isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValidationError(f"{loc}: number field {name!r} takes lt/le/gt/ge with a finite number, got {op}: {value!r}")
    elif kind == "boolean":
        if op != "is" or not isinstance(value, bool):
            raise ValidationError(f"{loc}: boolean field {name!r} takes 'is: true' or 'is: false', got {op}: {value!r}")
    else:
        if op not in CATEGORY_OPS:
            raise ValidationError(f"{loc}: category field {name!r} takes {list(CATEGORY_OPS)}, got {op!r}")
        values = value if op in ("in", "not_in") else [value]
        if not isinstance(values, list):
            raise ValidationError(f"{loc}: '{op}' takes a list of values for {name!r}, got {value!r}")
        allowed = vocab.fields[name]["values"]
        unknown = [v for v in values if v not in allowed]
        if unknown:
            raise ValidationError(f"{loc}: value(s) {unknown} are not levels of {name!r}; levels: {allowed}")
    return {"field": name, op: value}


@dataclass(frozen=True)
class Rule:
    """One safety rule; ``drugs`` are expanded drug names, ``condition`` a compiled :class:`Condition`.

    ``guideline``, ``year`` and ``strength`` (the guideline's classification of the
    recommendation) say where the rule comes from and how firm it is; ``source`` is the
    citation; ``indication`` the indications it is for (empty: all).
    """

    id: str
    drugs: tuple[str, ...]
    condition: Condition
    action: str
    reason: str
    source: str
    guideline: str
    year: int
    strength: str
    dose_note: str | None = None
    indication: tuple[str, ...] = ()
    origin: str = ""

    @property
    def fields(self) -> tuple[str, ...]:
        """The patient fields the rule reads, in the order it names them."""
        return tuple(dict.fromkeys(_fields_in(self.condition.spec)))

    def to_dict(self) -> dict:
        out = {"id": self.id, "drugs": list(self.drugs), "when": _plain(self.condition.spec), "action": self.action,
               "reason": self.reason, "guideline": self.guideline, "year": self.year, "strength": self.strength}  # fmt: skip
        if self.indication:
            out["indication"] = list(self.indication)
        if self.dose_note:
            out["dose_note"] = self.dose_note
        out["source"] = self.source
        return out


def _fields_in(spec) -> list[str]:
    if "field" in spec:
        return [spec["field"]]
    if "not" in spec:
        return _fields_in(spec["not"])
    return [f for s in spec.get("all", spec.get("any", [])) for f in _fields_in(s)]


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse_rule(raw, vocab: Vocabulary, path: Path) -> Rule:
    loc = f"{path}:{getattr(raw, 'line', '?')}"
    if not isinstance(raw, dict):
        raise ValidationError(f"{loc}: each rule must be a mapping, got {raw!r}")
    unknown = sorted(set(raw) - RULE_KEYS)
    if unknown:
        raise ValidationError(f"{loc}: unknown key(s) {unknown} in rule; allowed: {sorted(RULE_KEYS)}")
    missing = sorted(REQUIRED_KEYS - set(raw))
    if missing:
        raise ValidationError(f"{loc}: rule {raw.get('id', '?')!r} is missing {missing}")
    if raw["action"] not in ACTIONS:
        raise ValidationError(f"{loc}: action must be one of {list(ACTIONS)}, got {raw['action']!r}")
    if raw["strength"] not in STRENGTHS:
        raise ValidationError(f"{loc}: strength must be one of {list(STRENGTHS)}, got {raw['strength']!r}")
    year = raw["year"]
    if isinstance(year, bool) or not isinstance(year, int) or not 1950 <= year <= 2100:
        raise ValidationError(f"{loc}: year must be the guideline's year as a whole number such as 2022, got {year!r}")
    indication = raw.get("indication", [])
    if not isinstance(indication, list) or not all(isinstance(i, str) and i for i in indication):
        raise ValidationError(f"{loc}: indication must be a list of indication names, got {indication!r}")
    for key in ("reason", "source", "guideline"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ValidationError(f"{loc}: {key} must be non-empty text, got {raw[key]!r}")
    if not isinstance(raw["drugs"], list) or not raw["drugs"]:
        raise ValidationError(f"{loc}: 'drugs' must be a non-empty list of drug names or classes")
    drugs = []
    for name in raw["drugs"]:
        if name in vocab.classes:
            drugs.extend(vocab.classes[name])
        elif name in vocab.drugs:
            drugs.append(name)
        else:
            raise ValidationError(f"{loc}: unknown drug {name!r}; known drugs: {vocab.drugs}; classes: {sorted(vocab.classes)}")
    unknown_ind = [i for d in drugs for i in indication if i not in vocab.indications.get(d, [])]
    if unknown_ind:
        raise ValidationError(f"{loc}: indication(s) {sorted(set(unknown_ind))} are not declared for drugs {raw['drugs']} "
                              f"in the vocabulary's 'indications' (known: {({d: vocab.indications.get(d, []) for d in drugs})})")  # fmt: skip
    spec = _compile(raw["when"], vocab, str(path))
    return Rule(
        id=str(raw["id"]), drugs=tuple(dict.fromkeys(drugs)), condition=Condition(spec), action=raw["action"],
        reason=str(raw["reason"]), source=str(raw["source"]), guideline=str(raw["guideline"]), year=int(year),
        strength=raw["strength"], dose_note=raw.get("dose_note"), indication=tuple(indication), origin=loc,
    )  # fmt: skip


def read_rule_file(path: str | Path, vocab: Vocabulary) -> list[Rule]:
    """Parse and validate one rule file (it may extend ``vocab``)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: rule file does not exist")
    data = read_yaml(path)
    if not isinstance(data, dict) or "rules" not in data:
        raise ValidationError(f"{path}:1: a rule file is a mapping with a 'rules:' list")
    unknown = sorted(set(data) - FILE_KEYS)
    if unknown:
        raise ValidationError(f"{path}:1: unknown top-level key(s) {unknown}; a rule file holds {sorted(FILE_KEYS)}")
    if "vocabulary" in data:
        vocab.extend(data["vocabulary"], f"{path}:{getattr(data['vocabulary'], 'line', 1)}")
    if not isinstance(data["rules"], list):
        raise ValidationError(f"{path}: 'rules' must be a list")
    return [parse_rule(raw, vocab, path) for raw in data["rules"]]
