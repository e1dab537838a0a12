"""Settings of ``causalrx run``: two presets, every key documented, every value checked before any work starts."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from causalrx.exceptions import ValidationError

#: Settings that a preset fills in when the configuration leaves them out.
PRESETS: dict[str, dict] = {
    # A first look in minutes on 2 CPUs: fewer patients, shorter encoder training, lighter forests.
    "quick": {"n": 1500, "encoder_epochs": 15, "effect_folds": 3, "effect_trees": 200, "bootstrap": 100},
    # The thorough run: the library's defaults on 5,000 patients.
    "full": {"n": 5000, "encoder_epochs": 40, "effect_folds": 5, "effect_trees": 400, "bootstrap": 200},
}

#: One line per key, shown by ``causalrx run --help`` and in the documentation.
KEYS: dict[str, str] = {
    "preset": "quick (default: a first look in a few minutes) or full (5,000 patients, the library defaults); fills the keys left out",
    "n": "patients to simulate (quick 1500, full 5000); at least 200",
    "n_drugs": "drugs, the reference arm included (2-16)",
    "random_state": "seed of every random step",
    "confounding": "strength of observed confounding of the clinicians' choices (0 = randomised)",
    "overlap": "temperature of the clinicians' choices (below 1: less overlap); above 0",
    "hidden_confounding": "strength of unobserved confounding (0 = none)",
    "horizon": "visits per patient; the policy and recommendation stages need 1",
    "harm_weight": "weight of an adverse event in the net benefit (efficacy - harm_weight x adverse event)",
    "ecg": "synthesise ECG waveforms (true/false)",
    "encoder": "registered encoder (fusion, fusion_attention, ecg, passthrough, ...) or none to skip the encoder stage",
    "encoder_folds": "folds of the out-of-fold embeddings (at least 3 for a neural encoder, 2 for passthrough)",
    "encoder_epochs": "largest number of training epochs of a neural encoder (quick 15, full 40)",
    "effect_folds": "cross-fitting folds of the DR-learners' nuisance models (quick 3, full 5)",
    "effect_trees": "trees of the DR-learners' final forests (quick 200, full 400)",
    "bootstrap": "bootstrap resamples of the risk-model intervals (quick 100, full 200)",
    "explain": "per-patient drivers of each drug's effect by SHAP, with the fidelity check against the simulator (true/false)",
    "policies": "learn and compare policies and tier every patient's drugs (true/false; needs horizon 1)",
    "save_cohort": "also write the simulated cohort and its truth under OUT/data (true/false)",
}


@dataclass(frozen=True)
class RunConfig:
    """Settings of ``causalrx run``; read from YAML or TOML, saved as ``config.yaml``.

    ``preset`` (``"quick"`` or ``"full"``) fills every key of :data:`PRESETS` left as
    ``None``; :data:`KEYS` says what each key means. Simulation parameters mirror
    :func:`causalrx.data.simulate.simulate_cohort`. Every value is checked when the
    configuration is made, so a bad setting fails before the simulation starts.
    """

    preset: str = "quick"
    n: int | None = None
    n_drugs: int = 6
    random_state: int = 0
    confounding: float = 1.0
    overlap: float = 1.0
    hidden_confounding: float = 0.0
    horizon: int = 1
    harm_weight: float = 2.0
    ecg: bool = True
    encoder: str = "fusion"
    encoder_folds: int = 3
    encoder_epochs: int | None = None
    effect_folds: int | None = None
    effect_trees: int | None = None
    bootstrap: int | None = None
    explain: bool = True
    policies: bool = True
    save_cohort: bool = False

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValidationError(f"config: preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        for f in fields(self):
            self._check_type(f.name, str(f.type).replace(" | None", ""), getattr(self, f.name))
        self._check_values()

    def _check_type(self, name: str, kind: str, value) -> None:
        """Every setting has its type exactly: ``"false"`` or ``"no"`` in quotes is text, not a boolean."""
        if kind == "bool" and not isinstance(value, bool):
            raise ValidationError(f"config: {name} must be true or false (unquoted), got {value!r}")
        if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValidationError(f"config: {name} must be a whole number, got {value!r}")
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValidationError(f"config: {name} must be a number, got {value!r}")
            object.__setattr__(self, name, float(value))
        if kind == "str" and not isinstance(value, str):
            raise ValidationError(f"config: {name} must be text, got {value!r}")

    def _check_values(self) -> None:
        def need(ok: bool, name: str, expected: str) -> None:
            if not ok:
                raise ValidationError(f"config: {name} must be {expected}, got {getattr(self, name)!r}")

        need(self.n >= 200, "n", "at least 200 patients")
        need(2 <= self.n_drugs <= 16, "n_drugs", "between 2 and 16 (the reference arm included)")
        need(self.horizon >= 1, "horizon", "at least 1 visit")
        need(self.overlap > 0, "overlap", "above 0")
        for name in ("confounding", "hidden_confounding", "harm_weight"):
            need(getattr(self, name) >= 0, name, "0 or more")
        need(self.encoder_epochs >= 1, "encoder_epochs", "at least 1")
        need(self.effect_folds >= 2, "effect_folds", "at least 2")
        need(self.effect_trees >= 4 and self.effect_trees % 4 == 0, "effect_trees", "a multiple of 4, at least 4 (EconML's forests grow trees in groups of 4)")
        need(self.bootstrap >= 50, "bootstrap", "at least 50 resamples")
        if self.encoder != "none":
            from causalrx.encoders import available_encoders

            known = available_encoders()
            need(self.encoder in known, "encoder", f"'none' or one of {sorted(known)}")
            least = 2 if self.encoder == "passthrough" else 3
            need(self.encoder_folds >= least, "encoder_folds", f"at least {least} for encoder {self.encoder!r} "
                 "(a neural encoder's fold models are aligned on patients shared by two of them)")  # fmt: skip
        if self.policies and self.horizon != 1:
            raise ValidationError(
                f"config: policies needs horizon 1 (the policy and recommendation stages are one-step), got horizon {self.horizon}; "
                "set policies: false for a multi-visit cohort (multi-visit policies: causalrx.policy.OfflineRLPolicy)"
            )

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> RunConfig:
        path = Path(path)
        if not path.is_file():
            raise ValidationError(f"config: file {path} does not exist")
        text = path.read_text()
        try:
            data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text) or {}
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as err:
            raise ValidationError(f"config {path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'} ({err})") from err
        if not isinstance(data, dict):
            raise ValidationError(f"config {path}: expected a mapping of settings, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError(f"config {path}: unknown setting(s) {unknown}; known: {sorted(known)}")
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def keys_help() -> str:
    """The configuration keys, one per line, for ``causalrx run --help``."""
    return "\n".join(f"{name}: {text}" for name, text in KEYS.items())
