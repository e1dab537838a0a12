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
    assert set(pehe["covariates"]) == {"prepared features", "fusion embedding (out of fold)"} and (pehe["sqrt_pehe"] > 0).all()
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


FAST = "n = 300\nn_drugs = 3\necg = false\nencoder = \"none\"\npolicies = false\n"


def _one_error_line(result):
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.output, result.output
    return lines[0]


def test_user_errors_print_one_error_line_and_exit_2(tmp_path):
    assert "n must be an integer >= 10, got -5" in _one_error_line(runner.invoke(app, ["simulate", "--n", "-5", "--out", str(tmp_path / "s")]))
    (tmp_path / "file").write_text("x")
    assert "exists and is not a folder" in _one_error_line(runner.invoke(app, ["simulate", "--n", "50", "--out", str(tmp_path / "file")]))
    for text, message in [("ecg = \"false\"\n", "ecg must be true or false (unquoted), got 'false'"),
                          ("policies: \"no\"\n", "policies must be true or false (unquoted), got 'no'"),
                          ("n: 10.5\n", "n must be a whole number"), ("n: [\n", "not valid YAML")]:  # fmt: skip
        cfg = tmp_path / ("c.toml" if "=" in text else "c.yaml")
        cfg.write_text(text)
        assert message in _one_error_line(runner.invoke(app, ["run", "--config", str(cfg), "--out", str(tmp_path / "o")]))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep")
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST)
    line = _one_error_line(runner.invoke(app, ["run", "--config", str(cfg), "--out", str(mine)]))
    assert "not empty" in line and (mine / "thesis.tex").read_text() == "keep"


def test_an_interrupted_rerun_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST)
    out = tmp_path / "out"
    assert runner.invoke(app, ["run", "--config", str(cfg), "--out", str(out)]).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"report.md", "summary.json", "config.yaml"} <= set(before)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("causalrx.report.cohort_summary.plot_effects", interrupted)
    result = runner.invoke(app, ["run", "--config", str(cfg), "--out", str(out), "--seed", "5"])
    assert result.exit_code == 130 and "interrupted" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old config, CSVs and report, nothing mixed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.toml", "out"]  # no partial folder left
    monkeypatch.undo()
    assert runner.invoke(app, ["run", "--config", str(cfg), "--out", str(out), "--seed", "5"]).exit_code == 0
    assert "random_state: 5" in (out / "config.yaml").read_text()  # a finished rerun replaces the earlier run whole
