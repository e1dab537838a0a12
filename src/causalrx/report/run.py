"""The end-to-end ``causalrx run`` job, driven by one configuration saved beside its outputs."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from causalrx.exceptions import ValidationError


@dataclass(frozen=True)
class RunConfig:
    """Settings of ``causalrx run``; read from YAML or TOML, saved as ``config.yaml``.

    Simulation parameters mirror :func:`causalrx.data.simulate.simulate_cohort`;
    ``encoder`` is a registered encoder name (see :func:`causalrx.encoders.get_encoder`,
    e.g. ``fusion``, ``fusion_attention``, ``ecg``, ``passthrough``, or a plugged-in one)
    or ``none`` to skip the encoder stage; ``encoder_folds`` folds give the out-of-fold
    embeddings; ``policies`` learns and compares recommendation policies on them (or on the
    raw features without an encoder) and tiers every patient's drugs (recommended /
    alternative / contraindicated, :func:`causalrx.recommend.recommend`); ``save_cohort`` also writes the simulated cohort and its truth under
    ``<out>/data``.
    """

    n: int = 5000
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
    policies: bool = True
    save_cohort: bool = False

    def __post_init__(self) -> None:
        """Every setting has its type exactly: ``"false"`` or ``"no"`` in quotes is text, not a boolean."""
        for f in fields(self):
            value, kind = getattr(self, f.name), f.type
            if kind == "bool" and not isinstance(value, bool):
                raise ValidationError(f"config: {f.name} must be true or false (unquoted), got {value!r}")
            if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValidationError(f"config: {f.name} must be a whole number, got {value!r}")
            if kind == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ValidationError(f"config: {f.name} must be a number, got {value!r}")
                object.__setattr__(self, f.name, float(value))
            if kind == "str" and not isinstance(value, str):
                raise ValidationError(f"config: {f.name} must be text, got {value!r}")

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


def run_files(folder: Path) -> set[str] | None:
    """The entries of a finished ``causalrx run`` output folder (listed in its summary); None if it is not one."""
    try:
        return {"summary.json", *json.loads((folder / "summary.json").read_text())["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_job(config: RunConfig, out: str | Path, *, progress: bool = False, overwrite: bool = False) -> dict:
    """Simulate a cohort, summarise it, and write the report into folder ``out``.

    Writes ``config.yaml``, ``summary.json``, ``report.md``, ``effects.csv``,
    ``treatments.csv``, ``missingness.csv`` and ``effects.png``; with an encoder also
    ``risk.csv``, ``calibration.png`` and ``effects_by_covariates.csv``; with policies (one-step
    cohorts) ``policies.csv``, ``policies.png`` and ``recommendations.csv`` (tiers per patient
    and drug). Returns the paths written.

    Everything is written into a temporary folder ``.<out>.partial-*`` beside ``out`` and
    moved into place only when the run has finished: an interrupted run never looks
    complete, and the outputs of an earlier run at ``out`` stay whole until then. An
    earlier run's folder is replaced; any other non-empty folder is refused unless
    ``overwrite=True``.
    """
    from causalrx.data.storage import atomic_folder

    folder = Path(out)
    with atomic_folder(folder, overwrite=overwrite, owned=run_files, what="causalrx run output folder") as tmp:
        written = _run_into(config, tmp, progress)
    return {name: folder / path.relative_to(tmp) for name, path in written.items()}


def _run_into(config: RunConfig, folder: Path, progress: bool) -> dict:
    from causalrx.data.simulate import simulate_cohort
    from causalrx.report.cohort_summary import plot_effects, summarise_cohort, to_markdown

    settings = asdict(config)
    (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    sim_args = {k: v for k, v in settings.items() if k not in ("save_cohort", "encoder", "encoder_folds", "policies")}
    sim = simulate_cohort(**sim_args, progress=progress)
    summary = summarise_cohort(sim)
    written = {"config": folder / "config.yaml"}
    for name, frame in (("effects", summary.effects), ("treatments", summary.treatments), ("missingness", summary.missingness)):
        frame.to_csv(folder / f"{name}.csv", index=False)
        written[name] = folder / f"{name}.csv"
    fig = plot_effects(summary)
    fig.savefig(folder / "effects.png", dpi=120)
    written["plot"] = folder / "effects.png"
    markdown = to_markdown(summary, settings)
    if config.encoder != "none":
        from causalrx.report import representation

        rep, figure = representation.encode_and_estimate(sim, config.encoder, folds=config.encoder_folds,
                                                         random_state=config.random_state, progress=progress)  # fmt: skip
        written.update(representation.save(rep, figure, folder))
        markdown = markdown.replace("## Configuration", representation.to_markdown(rep) + "\n## Configuration")
    if config.policies and config.horizon == 1:
        from causalrx.report import policies
        from causalrx.report.representation import raw_covariates

        Z = rep.embedding if config.encoder != "none" else raw_covariates(sim.cohort)
        table = policies.compare_on_cohort(sim, Z, folder, random_state=config.random_state, progress=progress)
        written.update(policies=folder / "policies.csv", policies_plot=folder / "policies.png")
        markdown = markdown.replace("## Configuration", policies.to_markdown(table) + "\n## Configuration")
        from causalrx.report import recommendations

        result, checks = recommendations.recommend_on_cohort(sim, Z, folder, random_state=config.random_state, progress=progress)
        written["recommendations"] = folder / "recommendations.csv"
        markdown = markdown.replace("## Configuration", recommendations.to_markdown(result, checks) + "\n## Configuration")
    (folder / "report.md").write_text(markdown)
    written["report"] = folder / "report.md"
    from causalrx.disclaimer import DISCLAIMER

    payload = {"disclaimer": DISCLAIMER, "counts": summary.counts, "effects": summary.effects.to_dict(orient="records")}
    if "recommendations" in written:
        payload["recommendations"] = checks.to_dict(orient="records")
    if config.save_cohort:
        written["data"] = sim.save(folder / "data")
    payload["files"] = sorted({p.name for p in folder.iterdir()})
    (folder / "summary.json").write_text(json.dumps(payload, indent=2, default=float))
    written["summary"] = folder / "summary.json"
    return written
