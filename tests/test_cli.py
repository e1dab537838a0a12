"""The causalrx command end to end."""

import json

import pandas as pd
from typer.testing import CliRunner

from causalrx.cli import app
from causalrx.data.simulate import SimulatedCohort
from causalrx.disclaimer import DISCLAIMER

runner = CliRunner()


def test_run_writes_report(tmp_path):
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", "--out", str(out), "--n", "800", "--drugs", "5", "--seed", "1"])
    assert result.exit_code == 0, result.output
    for name in ("config.yaml", "report.md", "effects.csv", "treatments.csv", "missingness.csv", "effects.png", "summary.json",
                 "risk.csv", "calibration.png", "effects_by_covariates.csv", "policies.csv", "policies.png", "recommendations.csv"):  # fmt: skip
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert DISCLAIMER in report and "## Representation (encoders) and risk model" in report
    risk = pd.read_csv(out / "risk.csv").set_index("metric")
    assert 0.5 < risk.loc["auroc", "estimate"] <= 1 and risk.loc["auroc", "lower"] <= risk.loc["auroc", "estimate"]
    pehe = pd.read_csv(out / "effects_by_covariates.csv")
    assert set(pehe["covariates"]) == {"raw features", "fusion embedding (out of fold)"} and (pehe["sqrt_pehe"] > 0).all()
    assert "## Policies (off-policy comparison)" in report
    table = pd.read_csv(out / "policies.csv")
    learned = table[table["policy"].isin(["effect-greedy", "policy tree", "DR bandit"])]
    assert len(learned) and (learned["mask_violations"] == 0).all() and learned["true_value"].notna().all()
    assert "## Recommendations" in report
    tiers = pd.read_csv(out / "recommendations.csv", keep_default_na=False)
    assert len(tiers) == 800 * 5 and (tiers[tiers["tier"] == "recommended"].groupby("patient_id").size() == 1).all()
    assert tiers["patient_id"].nunique() == 800 and (tiers.loc[tiers["tier"] == "contraindicated", "reason"] != "").all()
    summary = json.loads((out / "summary.json").read_text())
    modes = {row["mode"]: row for row in summary["recommendations"]}
    assert modes["best point estimate (default)"]["masked_drugs_recommended"] == 0
    assert modes["require_benefit=True"]["masked_drugs_recommended"] == 0
    assert summary["counts"]["patients"] == 800 and summary["disclaimer"] == DISCLAIMER
    effects = pd.read_csv(out / "effects.csv")
    assert list(effects["drug"]) == ["clopidogrel", "simvastatin", "metformin", "sotalol"]


def test_run_from_config_file_and_bad_config(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("n = 500\nn_drugs = 3\necg = false\nsave_cohort = true\nencoder = \"none\"\npolicies = false\n")
    result = runner.invoke(app, ["run", "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    sim = SimulatedCohort.load(tmp_path / "o" / "data")
    assert sim.cohort.n_patients == 500 and sim.cohort.ecg is None
    bad = tmp_path / "bad.yaml"
    bad.write_text("n: 500\npatients: 3\n")
    result = runner.invoke(app, ["run", "--config", str(bad), "--out", str(tmp_path / "o2")])
    assert result.exit_code == 2
    assert "unknown setting(s) ['patients']" in result.output


def test_simulate_writes_loadable_cohort(tmp_path):
    result = runner.invoke(app, ["simulate", "--n", "300", "--drugs", "4", "--out", str(tmp_path / "sim")])
    assert result.exit_code == 0, result.output
    sim = SimulatedCohort.load(tmp_path / "sim")
    assert sim.cohort.n_patients == 300 and sim.cohort.action_names[0] == "standard_care"


def test_prep_example_writes_cohort_and_report(tmp_path):
    from typer.testing import CliRunner

    from causalrx.cli import app
    from causalrx.data.schema import Cohort

    result = CliRunner().invoke(app, ["prep", "--example", str(tmp_path / "raw"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "qc_report.md").is_file()
    assert Cohort.load(tmp_path / "out").n_patients == 500
    bad = CliRunner().invoke(app, ["prep", str(tmp_path / "missing.yaml")])
    assert bad.exit_code == 2 and "no such preparation spec" in bad.output
