"""The end-to-end ``causalrx run`` job, driven by one configuration saved beside its outputs.

Stages (each announced with its expected duration, timed, and listed in the report, a
skipped one with the reason): simulate, safety audit, encoder and risk model, effects,
policies, recommendations (with SHAP drivers). The report is written twice from the same
content: ``report.md`` and a self-contained ``report.html``; ``summary.json`` carries
every stage's results.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from causalrx.report.config import KEYS, PRESETS, RunConfig, keys_help  # noqa: F401  (re-exported)

#: Seconds per 1,000 patients of each stage with the quick preset's settings on 2 idle CPUs
#: (``benchmarks/bench_run.py``); the full preset's heavier settings multiply them by ``FULL_FACTOR``.
STAGE_SECONDS_PER_1000 = {"simulate": 0.5, "safety audit": 0.2, "encoder and risk model": 19.0, "effects": 21.5,
                          "policies": 12.0, "recommendations": 18.5}  # fmt: skip
FULL_FACTOR = {"encoder and risk model": 1.6, "effects": 1.5, "policies": 1.5, "recommendations": 1.5}
STAGE_TITLES = {
    "simulate": "simulate the cohort", "safety audit": "evaluate the safety rules on every patient and drug",
    "encoder and risk model": "fit the encoder, score its risk head, out-of-fold embeddings",
    "effects": "per-patient effects (DR-learner) against the truth and a constant-effect baseline",
    "policies": "learn policies, compare them off-policy against baselines",
    "recommendations": "tier every patient's drugs, with drivers",
}  # fmt: skip


def run_files(folder: Path) -> set[str] | None:
    """The entries of a finished ``causalrx run`` output folder (listed in its summary); None if it is not one."""
    try:
        return {"summary.json", *json.loads((folder / "summary.json").read_text())["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_job(config: RunConfig, out: str | Path, *, progress: bool = False, overwrite: bool = False) -> dict:
    """Simulate a cohort, run every configured stage and write the report into folder ``out``.

    Writes ``config.yaml``, ``summary.json``, ``report.md``, ``report.html``,
    ``effects.csv``, ``treatments.csv``, ``missingness.csv``, ``safety_rules.csv`` and
    ``effects.png``; ``effects_vs_truth.csv`` (per-patient effects against the truth and the
    constant-effect baseline); with an encoder also ``risk.csv`` and ``calibration.png``; with
    policies ``policies.csv``, ``policies.png`` and ``recommendations.csv`` (tiers per
    patient and drug), with ``explain`` also ``drivers_fidelity.csv``. Returns the paths written.

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


# ---------------------------------------------------------------- stages
def planned_stages(config: RunConfig) -> list[tuple[str, str | None]]:
    """(stage, reason it is skipped or None) in running order."""
    return [
        ("simulate", None), ("safety audit", None),
        ("encoder and risk model", None if config.encoder != "none" else "encoder: none"),
        ("effects", None),
        ("policies", None if config.policies else "policies: false"),
        ("recommendations", None if config.policies else "policies: false"),
    ]  # fmt: skip


def expected_seconds(config: RunConfig, stage: str) -> float:
    """A rough duration of ``stage`` on this machine's CPUs (quiet machine)."""
    from causalrx.parallel import available_cpus

    seconds = STAGE_SECONDS_PER_1000[stage] * config.n / 1000 * 2 / min(available_cpus(), 4)
    if config.preset == "full":
        seconds *= FULL_FACTOR.get(stage, 1.0)
    return seconds


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


@dataclass
class Stages:
    """Announces, times and records the stages of a run."""

    config: RunConfig
    progress: bool
    rows: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.plan = planned_stages(self.config)
        running = [s for s, skip in self.plan if skip is None]
        total = sum(expected_seconds(self.config, s) for s in running)
        self._say(f"causalrx run: preset {self.config.preset}, {self.config.n} patients, {len(running)} stages, "
                  f"expected about {_duration(total)} on this machine when it is otherwise idle")  # fmt: skip
        for stage, reason in self.plan:
            if reason is not None:
                self.rows.append({"stage": stage, "status": "skipped", "reason": reason, "seconds": np.nan, "expected_seconds": np.nan,
                                  "cpus": np.nan})  # fmt: skip
                self._say(f"  skipped: {stage} ({reason})")

    def _say(self, text: str) -> None:
        if self.progress:
            print(text, file=sys.stderr, flush=True)

    @contextmanager
    def __call__(self, stage: str):
        """Run a stage within the CPUs other processes leave free now (:func:`causalrx.parallel.free_cpus`)."""
        from causalrx.parallel import available_cpus, cpu_budget, free_cpus

        running = [s for s, skip in self.plan if skip is None]
        expected = expected_seconds(self.config, stage)
        cpus = free_cpus()
        shared = f", {cpus} of {available_cpus()} CPUs: the others are busy" if cpus < available_cpus() else ""
        self._say(f"[{running.index(stage) + 1}/{len(running)}] {stage}: {STAGE_TITLES[stage]} (expected about {_duration(expected)}{shared})")
        start = time.perf_counter()
        with cpu_budget(cpus):
            yield
        seconds = time.perf_counter() - start
        self.rows.append({"stage": stage, "status": "ran", "reason": "", "seconds": seconds, "expected_seconds": expected, "cpus": cpus})
        self._say(f"      {stage} done in {_duration(seconds)}")

    def table(self) -> pd.DataFrame:
        order = {s: i for i, (s, _) in enumerate(self.plan)}
        return pd.DataFrame(self.rows).sort_values("stage", key=lambda s: s.map(order)).reset_index(drop=True)


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for name in ("causalrx", "numpy", "pandas", "scikit-learn", "torch", "econml", "dowhy", "d3rlpy", "shap"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


# ---------------------------------------------------------------- the job
def _run_into(config: RunConfig, folder: Path, progress: bool) -> dict:
    from causalrx.data.simulate import simulate_cohort
    from causalrx.disclaimer import DISCLAIMER
    from causalrx.report import sections
    from causalrx.report.cohort_summary import summarise_cohort
    from causalrx.report.document import Document, to_html, to_markdown

    settings = config.to_dict()
    (folder / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    stages = Stages(config, progress)
    doc = Document("causalrx run report", DISCLAIMER)
    written = {"config": folder / "config.yaml"}
    payload: dict = {"disclaimer": DISCLAIMER}
    parts: dict = {}

    with stages("simulate"):
        sim_args = {k: settings[k] for k in ("n", "n_drugs", "random_state", "confounding", "overlap", "hidden_confounding", "horizon",
                                              "harm_weight", "ecg")}  # fmt: skip
        sim = simulate_cohort(**sim_args, progress=progress)
        summary = summarise_cohort(sim)
        parts["cohort"] = sections.cohort(summary, folder, written)
        payload.update(counts=summary.counts, effects=summary.effects.to_dict(orient="records"))
    with stages("safety audit"):
        mask, parts["safety"], payload["safety"] = sections.safety_audit(sim, folder, written)
    Z = None
    if config.encoder != "none":
        with stages("encoder and risk model"):
            Z, parts["risk"], payload["risk"] = sections.encoder_and_risk(sim, config, folder, written, progress)
    with stages("effects"):
        parts["effects"], payload["effects_vs_truth"] = sections.effects(sim, config, Z, folder, written)
    if config.policies:
        from causalrx.report.representation import raw_covariates

        context = Z if Z is not None else raw_covariates(sim.cohort)
        with stages("policies"):
            scores = sections.reward_scores(sim, context, config)
            parts["policies"], payload["policies"] = sections.policies(sim, config, context, mask, scores, folder, written, progress)
        with stages("recommendations"):
            parts["recommendations"], payload["recommendations"] = sections.recommendations(sim, config, context, mask, scores[1], folder,
                                                                                            written, progress)  # fmt: skip
    for key in ("cohort", "risk", "effects", "policies", "recommendations", "safety"):
        for section in parts.get(key, []):
            doc.add(section)
    stage_table = stages.table()
    doc.add(sections.configuration(settings, stage_table, versions()))
    payload.update(stages=stage_table.to_dict(orient="records"), versions=versions(), config=settings)
    (folder / "report.md").write_text(to_markdown(doc))
    (folder / "report.html").write_text(to_html(doc))
    written.update(report=folder / "report.md", report_html=folder / "report.html")
    if config.save_cohort:
        written["data"] = sim.save(folder / "data")
    payload["files"] = sorted({p.name for p in folder.iterdir()} | {"summary.json"})
    (folder / "summary.json").write_text(json.dumps(_plain(payload), indent=2))
    written["summary"] = folder / "summary.json"
    return written


def _plain(value):
    """JSON-ready: NaN and infinities as null, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value
