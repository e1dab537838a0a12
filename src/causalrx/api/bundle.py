"""A model bundle: everything serving recommendations needs, and nothing of the patients.

``export_bundle(cohort, out)`` fits, on the fields a clinical record carries (the safety
vocabulary's clinical and pharmacogenomic fields, which FHIR resources map onto), a feature
schema, doubly robust learners of each drug's effect on efficacy and on adverse events, and
a linear surrogate of the estimated net benefit for the drivers. It writes them with the rule
set and a manifest (drugs, reference arm, harm weight, fields, library versions, SHA-256 of
every file). :func:`load_bundle` refuses a bundle whose files or library versions differ
from the manifest, naming what differs. The bundle holds fitted parameters (medians,
category levels, tree splits, coefficients), never a patient row.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from causalrx.data.storage import atomic_folder, check_target, sha256_file
from causalrx.exceptions import ValidationError

FORMAT = 2  # 2: the feature schema reads fields through the rules' vocabulary
FILES = ("manifest.json", "model.joblib", "rules.yaml")
CHECKED_LIBRARIES = ("causalrx", "numpy", "scikit-learn", "econml")
# Record fields the bundle's effect models read: what an EHR record maps onto (no omics panels, no waveforms).
SERVING_FIELDS = (
    "age", "sex", "weight_kg", "egfr", "qtc_ms", "pregnant", "diabetes", "heart_failure", "hypertension", "atrial_fibrillation",
    "allergy_penicillin", "allergy_sulfonamide", "on_nsaid", "on_clarithromycin", "on_omeprazole", "CYP2C19", "CYP2D6", "CYP2C9",
    "SLCO1B1", "VKORC1", "TPMT", "NUDT15", "DPYD", "G6PD", "HLA-B*57:01", "HLA-B*58:01", "HLA-B*15:02",
)  # fmt: skip


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in CHECKED_LIBRARIES} | {"python": platform.python_version()}


def bundle_files(folder: Path) -> set[str] | None:
    """The entries of a bundle folder (None when ``folder`` is not one)."""
    return set(FILES) if (folder / "manifest.json").is_file() and (folder / "model.joblib").is_file() else None


@dataclass
class FeatureSchema:
    """Record fields -> numeric covariates, each field read through the safety vocabulary
    (:meth:`~causalrx.safety.vocabulary.Vocabulary.read`, the reading the rules use: synonyms
    become the canonical level, a value it does not accept is refused by name). Numbers and
    booleans get a missing indicator (numbers imputed by the training median, booleans by 0);
    categories are one-hot over the levels seen in training (a missing or unseen level sets
    ``missing.<field>``)."""

    kinds: dict[str, str] = field(default_factory=dict)
    medians: dict[str, float] = field(default_factory=dict)
    levels: dict[str, list[str]] = field(default_factory=dict)

    def fit(self, fields: pd.DataFrame, vocabulary) -> FeatureSchema:
        for name in SERVING_FIELDS:
            if name not in fields:
                continue
            values, kind, levels = vocabulary.read(name, fields[name], len(fields))
            self.kinds[name] = kind
            if kind == "number":
                known = values[~np.isnan(values)]
                self.medians[name] = float(np.median(known)) if known.size else 0.0
            elif kind == "category":
                self.levels[name] = [levels[code] for code in sorted(set(values[values >= 0].tolist()))]
        if not self.kinds:
            raise ValidationError(f"fields: none of the serving fields {list(SERVING_FIELDS)} is present")
        return self

    @property
    def columns(self) -> list[str]:
        out = []
        for name, kind in self.kinds.items():
            out += [f"{name}={v}" for v in self.levels[name]] if kind == "category" else [name]
            out.append(f"missing.{name}")
        return out

    def transform(self, fields: pd.DataFrame, vocabulary) -> pd.DataFrame:
        parts = {}
        for name, kind in self.kinds.items():
            values, _, levels = vocabulary.read(name, fields[name] if name in fields else None, len(fields))
            if kind == "category":
                level = pd.Series([levels[code] if code >= 0 else None for code in values], dtype=object)
                for seen in self.levels[name]:
                    parts[f"{name}={seen}"] = (level == seen).to_numpy(dtype=float)
                parts[f"missing.{name}"] = (~level.isin(self.levels[name])).to_numpy(dtype=float)
            else:
                missing = np.isnan(values)
                parts[name] = np.where(missing, self.medians.get(name, 0.0), values)
                parts[f"missing.{name}"] = missing.astype(float)
        return pd.DataFrame(parts, index=fields.index)[self.columns]


@dataclass
class DriverModel:
    """Per drug, a ridge surrogate of the estimated net benefit on the standardised covariates:
    a patient's drivers are the covariates with the largest |coefficient x standardised value|."""

    columns: list[str]
    mean: np.ndarray
    scale: np.ndarray
    coef: dict[str, np.ndarray]

    @classmethod
    def fit(cls, X: pd.DataFrame, net: np.ndarray, drugs, reference: str) -> DriverModel:
        from sklearn.linear_model import RidgeCV

        values = X.to_numpy(dtype=float)
        mean, scale = values.mean(axis=0), values.std(axis=0)
        scale[scale == 0] = 1.0
        Z = (values - mean) / scale
        coef = {d: RidgeCV(alphas=np.logspace(-2, 3, 11)).fit(Z, net[:, j]).coef_ for j, d in enumerate(drugs) if d != reference}
        return cls(columns=list(X.columns), mean=mean, scale=scale, coef=coef)

    def drivers(self, X: pd.DataFrame, drug: str, n: int = 3) -> list[str]:
        if drug not in self.coef:
            return ["" for _ in range(len(X))]
        contrib = (X[self.columns].to_numpy(dtype=float) - self.mean) / self.scale * self.coef[drug]
        out = []
        for row in contrib:
            top = np.argsort(-np.abs(row))[:n]
            out.append(", ".join(f"{self.columns[i]} ({row[i]:+.2f})" for i in top if abs(row[i]) > 1e-9))
        return out


@dataclass
class ModelBundle:
    """A loaded bundle: :meth:`recommend` tiers every drug for patients given as record fields."""

    manifest: dict
    schema: FeatureSchema
    efficacy: object
    adverse: object
    drivers: DriverModel
    rules: object
    path: Path | None = None

    @property
    def drugs(self) -> tuple[str, ...]:
        return tuple(self.manifest["drugs"])

    @property
    def reference(self) -> str:
        return self.manifest["reference"]

    @property
    def version(self) -> str:
        return f"{self.manifest['created']} ({self.manifest['model_sha256'][:12]})"

    def recommend(self, fields: pd.DataFrame, *, require_benefit: bool = False):
        """:class:`~causalrx.recommend.Recommendations` for the patients of ``fields`` (a
        ``patient_id`` column and any of :data:`SERVING_FIELDS`), and the safety mask with
        its reasons. A rule that cannot be decided (a field missing) masks its drug."""
        from causalrx.data.utility import Utility
        from causalrx.effects import net_benefit
        from causalrx.recommend import recommend

        if "patient_id" not in fields:
            raise ValidationError("fields: expected a patient_id column")
        ids = fields["patient_id"].astype(str).to_numpy()
        X = self.schema.transform(fields.set_index(pd.Index(ids, name="patient_id")), self.rules.vocabulary)
        frame = X.copy()
        effects = [model.effect(frame) for model in (self.efficacy, self.adverse)]
        net = net_benefit(*effects, Utility(self.manifest["harm_weight"]))
        mask = self.rules.evaluate(fields.assign(patient_id=ids), drugs=list(self.drugs), reference=self.reference)
        rec = recommend(net, mask, require_benefit=require_benefit, n_drivers=0)
        table = rec.table
        for drug in self.drugs:
            rows = (table["drug"] == drug).to_numpy()
            order = table.loc[rows, "patient_id"].astype(str).to_numpy()
            table.loc[rows, "drivers"] = self.drivers.drivers(X.loc[order], drug)
        return rec, mask


def export_bundle(cohort, out: str | Path, *, harm_weight: float = 2.0, rules=None, n_estimators: int = 200, n_folds: int = 3,
                  random_state: int = 0, overwrite: bool = False) -> Path:  # fmt: skip
    """Fit the serving models on ``cohort`` (its first visit) and write the bundle to ``out``.

    ``rules`` is the :class:`~causalrx.safety.RuleSet` served (default: the library's rules).
    The effect models are DR-learners (``n_estimators`` trees, ``n_folds`` folds) of efficacy
    and adverse events on the record fields, combined as ``efficacy - harm_weight x adverse``.
    """
    from causalrx.effects import DRLearner
    from causalrx.safety import RuleSet
    from causalrx.safety.mask import patient_fields

    check_target(out, overwrite=overwrite, owned=bundle_files, what="model bundle")  # refuse before any fitting
    rules = RuleSet.default() if rules is None else rules
    fields = patient_fields(cohort).set_index("patient_id").reindex(cohort.patient_ids)
    schema = FeatureSchema().fit(fields, rules.vocabulary)
    X = schema.transform(fields, rules.vocabulary)
    action = np.asarray(cohort.action_names, dtype=object)[cohort.logged_actions(0)]
    models = []
    for outcome in ("efficacy", "adverse_event"):
        learner = DRLearner(n_folds=n_folds, n_estimators=n_estimators, random_state=random_state, n_jobs=1)
        models.append(learner.fit(X, action, cohort.outcome(outcome, 0), action_names=cohort.action_names, reference=cohort.reference))
    drugs = list(cohort.action_names)
    net = models[0].point_effect(X) - harm_weight * models[1].point_effect(X)
    drivers = DriverModel.fit(X, net, drugs, cohort.reference)
    with atomic_folder(out, overwrite=overwrite, owned=bundle_files, what="model bundle") as tmp:
        joblib.dump({"schema": schema, "efficacy": models[0], "adverse": models[1], "drivers": drivers}, tmp / "model.joblib")
        rules.to_yaml(tmp / "rules.yaml")
        manifest = {
            "format": FORMAT, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "drugs": drugs,
            "reference": cohort.reference, "harm_weight": float(harm_weight), "fields": list(schema.kinds), "features": schema.columns,
            "versions": library_versions(), "model_sha256": sha256_file(tmp / "model.joblib"),
            "sha256": {name: sha256_file(tmp / name) for name in ("model.joblib", "rules.yaml")},
        }  # fmt: skip
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return Path(out)


def load_bundle(path: str | Path) -> ModelBundle:
    """Load and check a bundle: every file's SHA-256 and the library versions must match its manifest."""
    from causalrx.safety import RuleSet

    folder = Path(path)
    if not (folder / "manifest.json").is_file():
        raise ValidationError(f"{folder}: no manifest.json; not a bundle written by causalrx export")
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise ValidationError(f"{folder}: bundle format {manifest.get('format')!r}, this causalrx reads format {FORMAT}")
    for name, digest in manifest["sha256"].items():
        if not (folder / name).is_file():
            raise ValidationError(f"{folder / name}: missing from the bundle")
        if sha256_file(folder / name) != digest:
            raise ValidationError(f"{folder / name}: checksum differs from manifest.json (the file changed after export)")
    here = library_versions()
    for lib in CHECKED_LIBRARIES:
        if manifest["versions"].get(lib) != here[lib]:
            raise ValidationError(f"{folder}: exported with {lib} {manifest['versions'].get(lib)}, this environment has {lib} "
                                  f"{here[lib]}; install that version or export the bundle again")  # fmt: skip
    parts = joblib.load(folder / "model.joblib")
    rules = RuleSet.load(folder / "rules.yaml", include_defaults=False)
    return ModelBundle(manifest=manifest, schema=parts["schema"], efficacy=parts["efficacy"], adverse=parts["adverse"],
                       drivers=parts["drivers"], rules=rules, path=folder)  # fmt: skip
