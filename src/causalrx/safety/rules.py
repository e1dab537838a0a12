"""Safety rules as data: YAML files validated on load, compiled to vectorised conditions.

A rule file holds ``rules:``, a list of mappings::

    - id: cpic-hlab5701-abacavir             # unique
      drugs: [abacavir]                      # drug names or classes (see vocabulary.yaml)
      when: {field: HLA-B*57:01, eq: positive}
      action: contraindicated                # masks the drug; "caution" keeps it, flagged
      reason: HLA-B*57:01 carrier - high risk of abacavir hypersensitivity
      dose_note: ...                         # optional, for cautions
      source: CPIC guideline ... (citation)

Conditions: a leaf ``{field: F, OP: value}`` with OP one of ``eq, ne, in, not_in`` (category
fields), ``lt, le, gt, ge`` (number fields), ``is`` (boolean fields), ``missing``
(any field: true when the value is unknown); or ``all: [...]``, ``any: [...]``, ``not: {...}``.
Missing values follow three-valued logic: a rule fires only when its condition is known to
hold, and patients for whom it cannot be decided are counted, never silently passed.

A file may extend the vocabulary with a top-level ``vocabulary:`` mapping holding
``fields``, ``drugs`` and ``classes`` in the form of ``rules/vocabulary.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from causalrx.exceptions import ValidationError

ACTIONS = ("contraindicated", "caution")
NUMBER_OPS = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal}
CATEGORY_OPS = ("eq", "ne", "in", "not_in")
RULE_KEYS = {"id", "drugs", "when", "action", "reason", "source", "dose_note"}


class _Located(dict):
    line: int = 0


class _LineLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader, node):
    mapping = _Located(loader.construct_mapping(node, deep=True))
    mapping.line = node.start_mark.line + 1
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(), Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ValidationError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from err


@dataclass
class Vocabulary:
    """Known patient fields (with types), drugs and drug classes."""

    fields: dict[str, dict] = field(default_factory=dict)
    drugs: list[str] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)

    def extend(self, data: dict, where: str) -> None:
        for name, spec in (data.get("fields") or {}).items():
            if not isinstance(spec, dict) or spec.get("type") not in ("number", "category", "boolean"):
                raise ValidationError(f"{where}: field {name!r} needs a type of number, category or boolean")
            self.fields[str(name)] = dict(spec)
        self.drugs.extend(str(d) for d in data.get("drugs") or [] if str(d) not in self.drugs)
        for name, members in (data.get("classes") or {}).items():
            unknown = [m for m in members if m not in self.drugs]
            if unknown:
                raise ValidationError(f"{where}: drug class {name!r} lists unknown drug(s) {unknown}")
            self.classes[str(name)] = list(members)


def default_vocabulary() -> Vocabulary:
    vocab = Vocabulary()
    path = resources.files("causalrx.safety") / "rules" / "vocabulary.yaml"
    vocab.extend(yaml.safe_load(path.read_text()), str(path))
    return vocab


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
        if op not in NUMBER_OPS or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"{loc}: number field {name!r} takes lt/le/gt/ge with a number, got {op}: {value!r}")
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
    """One safety rule; ``drugs`` are expanded drug names, ``condition`` a compiled :class:`Condition`."""

    id: str
    drugs: tuple[str, ...]
    condition: Condition
    action: str
    reason: str
    source: str
    dose_note: str | None = None
    origin: str = ""

    def to_dict(self) -> dict:
        out = {"id": self.id, "drugs": list(self.drugs), "when": _plain(self.condition.spec), "action": self.action,
               "reason": self.reason, "source": self.source}  # fmt: skip
        if self.dose_note:
            out["dose_note"] = self.dose_note
        return out


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
    missing = sorted({"id", "drugs", "when", "action", "reason", "source"} - set(raw))
    if missing:
        raise ValidationError(f"{loc}: rule {raw.get('id', '?')!r} is missing {missing}")
    if raw["action"] not in ACTIONS:
        raise ValidationError(f"{loc}: action must be one of {list(ACTIONS)}, got {raw['action']!r}")
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
    spec = _compile(raw["when"], vocab, str(path))
    return Rule(
        id=str(raw["id"]), drugs=tuple(dict.fromkeys(drugs)), condition=Condition(spec), action=raw["action"],
        reason=str(raw["reason"]), source=str(raw["source"]), dose_note=raw.get("dose_note"), origin=loc,
    )  # fmt: skip


def read_rule_file(path: str | Path, vocab: Vocabulary) -> list[Rule]:
    """Parse and validate one rule file (it may extend ``vocab``)."""
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: rule file does not exist")
    data = _read_yaml(path)
    if not isinstance(data, dict) or "rules" not in data:
        raise ValidationError(f"{path}:1: a rule file is a mapping with a 'rules:' list")
    if "vocabulary" in data:
        vocab.extend(data["vocabulary"], f"{path}:{getattr(data['vocabulary'], 'line', 1)}")
    if not isinstance(data["rules"], list):
        raise ValidationError(f"{path}: 'rules' must be a list")
    return [parse_rule(raw, vocab, path) for raw in data["rules"]]
