"""The rule language's vocabulary: patient fields, their levels and synonyms, drugs and classes.

Patient values are read through an explicit, documented table (``rules/vocabulary.yaml``):

- a *category* field accepts its levels and the synonyms listed for them (matching ignores
  case, surrounding spaces, and runs of spaces or underscores), e.g. ``Positive``, ``pos``,
  ``+`` and ``carrier`` for an HLA carrier;
- a *boolean* field accepts true/false, yes/no, y/n, t/f, 1/0, present/absent;
- a *number* field accepts numbers and text that is a plain number (``"25"``);
- the tokens under ``missing:`` (``unknown``, ``not tested``, ``indeterminate``, ``NA``, ...)
  and empty cells mean "not recorded".

Anything else is refused with an error that names the field, the offending values with their
counts and the accepted levels: an odd value never becomes an "unknown" that passes. A value
that is not recorded leaves the rules that need it *not evaluable* (see :class:`~causalrx.safety.Mask`).

A user rule file may add fields, drugs, classes, levels and synonyms. It may not change a
known field's type or drop its levels, nor point a synonym at another level, unless the
field's spec says ``override: true``, which is logged as a warning.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import pandas as pd

from causalrx.exceptions import ValidationError
from causalrx.safety.files import read_yaml

FIELD_TYPES = ("number", "category", "boolean")
FIELD_KEYS = {"type", "values", "synonyms", "unit", "description", "override"}
_SPACES = re.compile(r"[\s_]+")


class VocabularyOverrideWarning(UserWarning):
    """A rule file redefined a known field with ``override: true``."""


def normalise_token(value) -> str:
    """The key a patient value is matched by: lower case, trimmed, spaces and underscores collapsed.

    Numbers are written without a trailing ``.0`` and booleans as ``true``/``false``, so that
    ``1``, ``1.0`` and ``"1"`` match alike.
    """
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return _SPACES.sub(" ", str(value).strip().lower())


def _is_missing(value) -> bool:
    try:
        return value is None or value is pd.NA or value is pd.NaT or bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


@dataclass
class Vocabulary:
    """Known patient fields (with types, levels and synonyms), drugs and drug classes."""

    fields: dict[str, dict] = field(default_factory=dict)
    drugs: list[str] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)
    missing_tokens: set[str] = field(default_factory=set)
    boolean_tokens: dict[str, bool] = field(default_factory=dict)
    synonym_sets: dict[str, dict[str, list]] = field(default_factory=dict)
    indications: dict[str, list[str]] = field(default_factory=dict)
    _lookup: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def extend(self, data: dict, where: str) -> None:
        """Add the ``fields``, ``drugs``, ``classes``, ``missing``, ``boolean`` and
        ``synonym_sets`` of one vocabulary mapping (``where`` names it in errors)."""
        if not isinstance(data, dict):
            raise ValidationError(f"{where}: a vocabulary is a mapping with fields, drugs and classes")
        keys = ["fields", "drugs", "classes", "missing", "boolean", "synonym_sets", "indications"]
        unknown = sorted(set(data) - set(keys))
        if unknown:
            raise ValidationError(f"{where}: unknown vocabulary key(s) {unknown}; allowed: {keys}")
        self.missing_tokens |= {normalise_token(t) for t in data.get("missing") or []}
        for truth, tokens in (data.get("boolean") or {}).items():
            for token in tokens:
                self.boolean_tokens[normalise_token(token)] = normalise_token(truth) == "true"
        for name, spec in (data.get("synonym_sets") or {}).items():
            self.synonym_sets[str(name)] = {str(level): list(values) for level, values in spec.items()}
        for name, spec in (data.get("fields") or {}).items():
            self._add_field(str(name), spec, where)
        self.drugs.extend(str(d) for d in data.get("drugs") or [] if str(d) not in self.drugs)
        for name, members in (data.get("classes") or {}).items():
            unknown = [m for m in members if m not in self.drugs]
            if unknown:
                raise ValidationError(f"{where}: drug class {name!r} lists unknown drug(s) {unknown}")
            self.classes[str(name)] = list(members)
        for name, values in (data.get("indications") or {}).items():
            members = self.expand(name)
            if any(m not in self.drugs for m in members) or not isinstance(values, list):
                raise ValidationError(f"{where}: indications name {name!r}, which is no known drug or class, or do not give a list")
            for m in members:
                self.indications.setdefault(m, [])
                self.indications[m].extend(str(v) for v in values if str(v) not in self.indications[m])

    def _add_field(self, name: str, spec, where: str) -> None:
        line = getattr(spec, "line", None)
        loc = f"{where.rsplit(':', 1)[0]}:{line}" if line else where
        if not isinstance(spec, dict) or spec.get("type") not in FIELD_TYPES:
            raise ValidationError(f"{loc}: field {name!r} needs a type of number, category or boolean")
        bad = sorted(set(spec) - FIELD_KEYS)
        if bad:
            raise ValidationError(f"{loc}: field {name!r} has unknown key(s) {bad}; allowed: {sorted(FIELD_KEYS)}")
        spec = dict(spec)
        if spec["type"] == "category":
            values = spec.get("values")
            if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
                raise ValidationError(f"{loc}: category field {name!r} needs 'values', a non-empty list of text levels")
        synonyms = spec.get("synonyms") or {}
        if isinstance(synonyms, str):
            if synonyms not in self.synonym_sets:
                raise ValidationError(f"{loc}: field {name!r} names unknown synonym set {synonyms!r}; known: {sorted(self.synonym_sets)}")
            synonyms = {lv: t for lv, t in self.synonym_sets[synonyms].items() if lv in spec.get("values", [])}
        old = self.fields.get(name)
        if old is not None and not spec.get("override"):
            if old["type"] != spec["type"]:
                raise ValidationError(f"{loc}: field {name!r} is already a {old['type']} field; a rule file may not change "
                                      "its type (add 'override: true' to the field to replace it, which is logged)")  # fmt: skip
            dropped = [v for v in old.get("values", []) if v not in spec.get("values", [])]
            if dropped:
                raise ValidationError(f"{loc}: field {name!r} would lose level(s) {dropped}; a rule file may add levels "
                                      "but not drop them (add 'override: true' to the field to replace it, which is logged)")  # fmt: skip
            spec["values"] = old.get("values", []) + [v for v in spec.get("values", []) if v not in old.get("values", [])]
        elif old is not None:
            warnings.warn(f"{loc}: field {name!r} redefined with override: true (levels {old.get('values')} -> "
                          f"{spec.get('values')}); rules on it now read the new definition", VocabularyOverrideWarning, stacklevel=3)  # fmt: skip
        lookup = {} if old is None or spec.get("override") else dict(self._lookup.get(name, {}))
        if spec["type"] == "category":
            for level in spec["values"]:
                lookup.setdefault(normalise_token(level), level)
            for level, tokens in synonyms.items():
                if level not in spec["values"]:
                    raise ValidationError(f"{loc}: synonyms of {name!r} name {level!r}, which is not one of its levels {spec['values']}")
                for token in tokens:
                    key = normalise_token(token)
                    if lookup.get(key, level) != level:
                        raise ValidationError(f"{loc}: synonym {token!r} of {name!r} already means {lookup[key]!r}, not {level!r}")
                    lookup[key] = level
        spec.pop("override", None)
        spec["synonyms"] = {lv: [t for t, v in lookup.items() if v == lv and t != normalise_token(lv)] for lv in spec.get("values", [])}
        self.fields[name] = spec
        self._lookup[name] = lookup

    def expand(self, name: str) -> list[str]:
        """The drugs a name stands for: a class's members, or the drug itself."""
        return list(self.classes.get(name, [name]))

    def columns(self, table: pd.DataFrame, names) -> dict:
        """:meth:`read` of each field in ``names`` from ``table`` (absent columns: not recorded)."""
        return {name: self.read(name, table[name] if name in table.columns else None, len(table)) for name in names}

    def levels(self, name: str) -> list[str]:
        return list(self.fields[name].get("values", []))

    def read(self, name: str, column: pd.Series | None, n: int):
        """One field of ``n`` patients as ``(values, kind, levels)`` for the rule engine.

        Category fields become integer codes into ``levels`` (-1 = not recorded); boolean
        and number fields become floats (NaN = not recorded). A column that is absent is
        not recorded for anybody. Raises a :class:`ValidationError` naming the field, the
        offending values (with counts) and what is accepted.
        """
        kind = self.fields[name]["type"]
        levels = self.levels(name) if kind == "category" else None
        if column is None:
            return (np.full(n, -1) if kind == "category" else np.full(n, np.nan)), kind, levels
        if kind == "number" and pd.api.types.is_bool_dtype(column.dtype):
            raise ValidationError(f"{name}: expected numbers ({self.fields[name].get('unit', 'no unit')}), got booleans")
        if kind == "number" and pd.api.types.is_numeric_dtype(column.dtype):
            values = column.astype("float64").to_numpy()
            self._check_finite(name, values)
            return values, kind, None
        codes, uniques = pd.factorize(column, use_na_sentinel=True)
        mapped = np.array([self._map(name, kind, u, levels) for u in uniques], dtype=object)
        bad = [u for u, m in zip(uniques, mapped) if m is _REFUSED]
        if bad:
            counts = pd.Series(codes).value_counts()
            shown = ", ".join(f"{u!r} ({int(counts.get(i, 0))} patients)" for i, u in enumerate(uniques) if mapped[i] is _REFUSED)
            raise ValidationError(f"{name}: value(s) {shown} are not accepted; {self.accepted(name)}")
        if kind == "category":
            lut = np.array([levels.index(m) if m is not None else -1 for m in mapped] + [-1], dtype=np.int64)
            return lut[codes], kind, levels
        lut = np.array([np.nan if m is None else float(m) for m in mapped] + [np.nan], dtype=float)
        values = lut[codes]
        if kind == "number":
            self._check_finite(name, values)
        return values, kind, None

    def _map(self, name, kind, value, levels):
        if _is_missing(value):
            return None
        key = normalise_token(value)
        if key in self.missing_tokens:
            return None
        if kind == "category":
            return self._lookup[name].get(key, _REFUSED)
        if kind == "boolean":
            return self.boolean_tokens.get(key, _REFUSED)
        if isinstance(value, (bool, np.bool_)):
            return _REFUSED
        try:
            return float(value)
        except (TypeError, ValueError):
            return _REFUSED

    @staticmethod
    def _check_finite(name: str, values: np.ndarray) -> None:
        if np.isinf(values).any():
            raise ValidationError(f"{name}: {int(np.isinf(values).sum())} infinite value(s); a number field takes finite numbers "
                                  "(leave a value empty when it is not recorded)")  # fmt: skip

    def accepted(self, name: str) -> str:
        """What the field accepts, in words (for error messages and documentation)."""
        spec = self.fields[name]
        missing = ", ".join(sorted(t for t in self.missing_tokens if t)) + " or an empty cell"
        if spec["type"] == "number":
            unit = f" in {spec['unit']}" if spec.get("unit") else ""
            return f"{name} takes a number{unit} (not recorded: {missing})"
        if spec["type"] == "boolean":
            return f"{name} takes true/false ({', '.join(sorted(self.boolean_tokens))}; not recorded: {missing})"
        parts = [f"{lv!r}" + (f" (also {', '.join(spec['synonyms'][lv])})" if spec["synonyms"].get(lv) else "") for lv in spec["values"]]
        return f"{name} takes the levels {'; '.join(parts)} (case ignored; not recorded: {missing})"

    def table(self) -> pd.DataFrame:
        """The synonym table: one row per field and level with its accepted spellings."""
        rows = []
        for name, spec in self.fields.items():
            for level in spec.get("values", []):
                rows.append({"field": name, "type": spec["type"], "level": level, "synonyms": ", ".join(spec["synonyms"].get(level, []))})
            if spec["type"] != "category":
                rows.append({"field": name, "type": spec["type"], "level": "", "synonyms": spec.get("unit", "")})
        return pd.DataFrame(rows)


_REFUSED = object()


def default_vocabulary() -> Vocabulary:
    """The shipped vocabulary (``rules/vocabulary.yaml``)."""
    vocab = Vocabulary()
    path = resources.files("causalrx.safety") / "rules" / "vocabulary.yaml"
    vocab.extend(read_yaml(path), str(path))
    return vocab


__all__ = ["Vocabulary", "VocabularyOverrideWarning", "default_vocabulary", "normalise_token"]
